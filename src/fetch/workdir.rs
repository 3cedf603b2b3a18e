//! A work tree, as Nix's git fetcher sees it when no revision is given: the files the index
//! tracks, with their bytes, executable bits and symlink targets as they are on disk now.
//!
//! The work tree is **dirty** when that differs from `HEAD`'s commit: a tracked file changed,
//! deleted, or of another type or mode, or the index adds or drops a path. With
//! `core.fileMode = false` an executable bit changed on disk does not count (git's status keeps
//! the index's), but the tree still takes the bit from disk, as Nix does. Untracked files do
//! not count and are not part of the tree (as `git status` and Nix say). A gitlink (submodule)
//! is compared by the commit the index records, and left out of the tree, as Nix leaves it out
//! (with the directories that held only it); directories come only from the files they hold.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::FetchError;
use super::refs::gix_kind;
use crate::event::{Event, Sink};
use crate::git::objects_dir::GitDirs;
use crate::git::source::{Repository, read_verified};
use crate::git::{Mode, ObjectKind, TreeRefIter, events, object_hasher};
use crate::hash::{Algorithm, Hash};
use crate::limits::Limits;

/// Bytes read at a time from a work tree file.
const CHUNK: usize = 128 * 1024;

/// What a tracked path is, as a tree entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Executable,
    Symlink,
    /// A submodule's commit.
    Gitlink,
}

/// What one tracked path is, as git records it: its kind and object id.
type Entry = (Kind, Hash);

/// A tracked path: as git's status sees it, and whether it is executable on disk (Nix takes the
/// bit from disk even where `core.fileMode = false` makes git ignore it).
#[derive(Debug, Clone, Copy)]
struct Tracked {
    entry: Entry,
    executable: bool,
}

/// The tracked paths of a work tree, as they are on disk now.
pub(super) struct WorkTree {
    root: PathBuf,
    entries: BTreeMap<Vec<u8>, Tracked>,
}

/// The work tree of `repo`, when `repo` is one (a directory holding `.git`), else `None`.
pub(super) fn work_tree_root(repo: &Path) -> Option<PathBuf> {
    let dot_git = repo.join(".git");
    dot_git.symlink_metadata().is_ok().then(|| repo.to_owned())
}

impl WorkTree {
    /// Reads the index of `dirs` and the files it tracks under `root`. Blob ids of files are
    /// computed from their bytes on disk (with SHA-1 collision detection as `detect` says),
    /// except where the index's stat data shows a file unchanged (git's own shortcut).
    pub(super) fn read(
        root: &Path,
        dirs: &GitDirs,
        algorithm: Algorithm,
        detect: bool,
        limits: &Limits,
    ) -> Result<Self, FetchError> {
        let path = dirs.git_dir.join("index");
        let index = gix_index::File::at(
            &path,
            gix_kind(algorithm),
            false,
            gix_index::decode::Options::default(),
        )
        .map_err(|source| FetchError::Index {
            path: path.clone(),
            source: Box::new(source),
        })?;
        let file_mode = file_mode(dirs)?;
        let mut entries = BTreeMap::new();
        for entry in index.entries() {
            if entry.stage_raw() != 0 {
                continue; // a conflict: git status shows it as changed, and so is the tree
            }
            if entries.len() as u64 >= limits.max_entries_total {
                return Err(FetchError::Tree(events::RestoreError::Limit {
                    path: "/".to_owned(),
                    what: "total entries",
                    limit: limits.max_entries_total,
                }));
            }
            let name = entry.path(&index).to_vec();
            let file = root.join(std::ffi::OsStr::from_bytes(&name));
            let on_disk = if entry.mode == gix_index::entry::Mode::COMMIT {
                let id = Hash::from_bytes(algorithm, entry.id.as_bytes())
                    .map_err(|_| FetchError::UnknownRevision(entry.id.to_string()))?;
                Some((Kind::Gitlink, id))
            } else {
                // git's shortcut: a file whose stat data the index recorded, unchanged since
                // and not racy, still has the index's id.
                let unchanged = || {
                    let meta = gix_index::fs::Metadata::from_path_no_follow(&file).ok()?;
                    let stat = gix_index::entry::Stat::from_fs(&meta).ok()?;
                    let options = gix_index::entry::stat::Options::default();
                    (entry.stat.matches(&stat, options)
                        && !entry.stat.is_racy(index.timestamp(), options))
                    .then(|| Hash::from_bytes(algorithm, entry.id.as_bytes()).ok())
                    .flatten()
                };
                disk_entry(&file, algorithm, detect, unchanged)?
            };
            if let Some((kind, id)) = on_disk {
                let executable = kind == Kind::Executable;
                // Without `core.fileMode`, git (and so Nix's status) keeps the index's bit.
                let kind = match kind {
                    Kind::File | Kind::Executable if !file_mode => {
                        if entry.mode == gix_index::entry::Mode::FILE_EXECUTABLE {
                            Kind::Executable
                        } else {
                            Kind::File
                        }
                    }
                    kind => kind,
                };
                entries.insert(
                    name,
                    Tracked {
                        entry: (kind, id),
                        executable,
                    },
                );
            }
        }
        Ok(WorkTree {
            root: root.to_owned(),
            entries,
        })
    }

    /// Whether the tracked paths differ from the files of `tree` (directories aside).
    pub(super) fn differs_from(
        &self,
        source: &mut Repository,
        tree: &Hash,
    ) -> Result<bool, FetchError> {
        let committed = flatten(source, tree, self.entries.len())?;
        Ok(committed.len() != self.entries.len()
            || self
                .entries
                .iter()
                .any(|(path, tracked)| committed.get(path) != Some(&tracked.entry)))
    }

    /// Whether the index holds a submodule, which the tree leaves out: it then differs from
    /// git's.
    pub(super) fn has_submodules(&self) -> bool {
        self.entries
            .values()
            .any(|tracked| tracked.entry.0 == Kind::Gitlink)
    }

    /// Sends the tree to `sink`, in NAR order, reading the files again.
    pub(super) fn send(&self, sink: &mut dyn Sink) -> Result<(), FetchError> {
        let mut root = Dir::default();
        for (path, tracked) in &self.entries {
            let kind = match tracked.entry.0 {
                Kind::Gitlink => continue, // Nix leaves submodules of a work tree out
                Kind::File | Kind::Executable if tracked.executable => Kind::Executable,
                Kind::File | Kind::Executable => Kind::File,
                Kind::Symlink => Kind::Symlink,
            };
            let mut dir = &mut root;
            let mut parts = path.split(|&b| b == b'/').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    dir.0.insert(part.to_vec(), Node::Leaf(path.clone(), kind));
                } else {
                    let next = dir
                        .0
                        .entry(part.to_vec())
                        .or_insert_with(|| Node::Dir(Dir::default()));
                    match next {
                        Node::Dir(d) => dir = d,
                        // A file and a directory of one name: the index cannot hold both.
                        Node::Leaf(..) => break,
                    }
                }
            }
        }
        self.send_dir(&root, None, b"", sink)
    }

    fn send_dir(
        &self,
        dir: &Dir,
        name: Option<&[u8]>,
        path: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        let err = |path: &[u8]| {
            let path = format!("/{}", String::from_utf8_lossy(path));
            move |source| FetchError::Tree(events::RestoreError::Sink { path, source })
        };
        sink.event(Event::DirectoryStart { name })
            .map_err(err(path))?;
        for (child, node) in &dir.0 {
            match node {
                Node::Dir(d) => {
                    let sub = if path.is_empty() {
                        child.clone()
                    } else {
                        [path, b"/", child].concat()
                    };
                    self.send_dir(d, Some(child), &sub, sink)?;
                }
                Node::Leaf(full, mode) => self.send_leaf(child, full, *mode, sink)?,
            }
        }
        sink.event(Event::DirectoryEnd).map_err(err(path))
    }

    fn send_leaf(
        &self,
        name: &[u8],
        path: &[u8],
        mode: Kind,
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        let file = self.root.join(std::ffi::OsStr::from_bytes(path));
        let io = |source| FetchError::WorkTree {
            path: file.clone(),
            source,
        };
        let err = |source| {
            FetchError::Tree(events::RestoreError::Sink {
                path: format!("/{}", String::from_utf8_lossy(path)),
                source,
            })
        };
        match mode {
            Kind::Gitlink => Ok(()),
            Kind::Symlink => {
                let target = std::fs::read_link(&file).map_err(io)?;
                sink.event(Event::Symlink {
                    name: Some(name),
                    target: target.as_os_str().as_bytes(),
                })
                .map_err(err)
            }
            _ => {
                let mut f = std::fs::File::open(&file).map_err(io)?;
                let size = f.metadata().map_err(io)?.len();
                sink.event(Event::FileStart {
                    name: Some(name),
                    executable: mode == Kind::Executable,
                    size,
                })
                .map_err(err)?;
                let mut left = size;
                let mut buf = vec![0; CHUNK];
                while left > 0 {
                    let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                    let n = f
                        .read(buf.get_mut(..want).unwrap_or_default())
                        .map_err(io)?;
                    if n == 0 {
                        return Err(io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file shrank while it was read",
                        )));
                    }
                    sink.event(Event::FileData(buf.get(..n).unwrap_or_default()))
                        .map_err(err)?;
                    left -= n as u64;
                }
                sink.event(Event::FileEnd).map_err(err)
            }
        }
    }
}

/// `core.fileMode` of the repository's config (default true): whether git compares executable
/// bits.
fn file_mode(dirs: &GitDirs) -> Result<bool, FetchError> {
    let path = dirs.common.join("config");
    let Some(text) = crate::git::objects_dir::read_small(&path)? else {
        return Ok(true);
    };
    let bad = |source| FetchError::Config {
        path: path.clone(),
        source: Box::new(source),
    };
    let config = gix_config::File::from_bytes_no_includes(
        &text,
        gix_config::file::Metadata::api(),
        gix_config::file::init::Options::default(),
    )
    .map_err(bad)?;
    Ok(config
        .boolean("core.fileMode")
        .map_err(bad)?
        .unwrap_or(true))
}

#[derive(Default)]
struct Dir(BTreeMap<Vec<u8>, Node>);

enum Node {
    Dir(Dir),
    /// Its full path and kind.
    Leaf(Vec<u8>, Kind),
}

/// A tracked path as it is on disk: `None` when it is gone (or is now a directory).
/// `unchanged` gives the id the index holds when the file is known unchanged since.
fn disk_entry(
    file: &Path,
    algorithm: Algorithm,
    detect: bool,
    unchanged: impl FnOnce() -> Option<Hash>,
) -> Result<Option<Entry>, FetchError> {
    let io = |source| FetchError::WorkTree {
        path: file.to_owned(),
        source,
    };
    let meta = match file.symlink_metadata() {
        Ok(meta) => meta,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    if meta.file_type().is_symlink() {
        if let Some(id) = unchanged() {
            return Ok(Some((Kind::Symlink, id)));
        }
        let target = std::fs::read_link(file).map_err(io)?;
        let bytes = target.as_os_str().as_bytes();
        let mut hasher = object_hasher(algorithm, ObjectKind::Blob, bytes.len() as u64, detect);
        hasher.update(bytes);
        return Ok(Some((Kind::Symlink, finish(hasher, file)?)));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    // git's rule: executable when the owner may execute it.
    let mode = if meta.permissions().mode() & 0o100 != 0 {
        Kind::Executable
    } else {
        Kind::File
    };
    if let Some(id) = unchanged() {
        return Ok(Some((mode, id)));
    }
    let mut f = std::fs::File::open(file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut hasher = object_hasher(algorithm, ObjectKind::Blob, size, detect);
    let mut buf = vec![0; CHUNK];
    let mut seen = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        seen += n as u64;
    }
    if seen != size {
        return Err(io(std::io::Error::other(
            "the file changed size while it was read",
        )));
    }
    Ok(Some((mode, finish(hasher, file)?)))
}

fn finish(hasher: crate::hash::Hasher, file: &Path) -> Result<Hash, FetchError> {
    hasher.finalize().map_err(|_| FetchError::WorkTree {
        path: file.to_owned(),
        source: std::io::Error::other("a SHA-1 collision attack"),
    })
}

/// The files, symlinks and gitlinks of `tree` with their paths, at most `bound + 1` of them.
fn flatten(
    source: &mut Repository,
    tree: &Hash,
    bound: usize,
) -> Result<HashMap<Vec<u8>, Entry>, FetchError> {
    let algorithm = source.algorithm();
    let mut out = HashMap::new();
    let mut stack = vec![(Vec::new(), *tree)];
    while let Some((prefix, id)) = stack.pop() {
        let (kind, body) = read_verified(source, &id, u64::MAX >> 1)?;
        if kind != ObjectKind::Tree {
            return Err(FetchError::NoTree { id, kind });
        }
        for entry in TreeRefIter::new(&body, algorithm) {
            let entry = entry.map_err(|e| FetchError::BadObject {
                kind: ObjectKind::Tree,
                id,
                reason: e.to_string(),
            })?;
            let path = if prefix.is_empty() {
                entry.name.to_vec()
            } else {
                [&prefix[..], b"/", entry.name].concat()
            };
            let child =
                Hash::from_bytes(algorithm, entry.id).map_err(|_| FetchError::BadObject {
                    kind: ObjectKind::Tree,
                    id,
                    reason: "an entry's id has the wrong length".to_owned(),
                })?;
            let kind = match entry.known_mode() {
                Some(Mode::Directory) => {
                    stack.push((path, child));
                    continue;
                }
                Some(Mode::File) => Some(Kind::File),
                Some(Mode::Executable) => Some(Kind::Executable),
                Some(Mode::Symlink) => Some(Kind::Symlink),
                None if entry.is_submodule() => Some(Kind::Gitlink),
                None => None,
            };
            match kind {
                Some(kind) => {
                    out.insert(path, (kind, child));
                    if out.len() > bound {
                        return Ok(out);
                    }
                }
                None => {
                    return Err(FetchError::BadObject {
                        kind: ObjectKind::Tree,
                        id,
                        reason: "an entry of unknown mode".to_owned(),
                    });
                }
            }
        }
    }
    Ok(out)
}
