//! Turning a git tree (or blob) back into a file system object: the inverse of
//! [`GitHasher`](crate::git::GitHasher).
//!
//! [`to_events`] reads the objects reachable from a root id out of an
//! [`ObjectSource`] and emits them as [`Event`]s in NAR order,
//! so that [`NarWriter`] turns a git tree id into exactly the NAR that
//! `nix-store --dump` gives for the checked-out tree ([`to_nar`] does both). This is how a store
//! object added with `--mode git` is served from a git object store.
//!
//! Git and NAR order entries differently — git sorts a directory as if its name ended in `/`
//! (`a.txt` before `a/`), NAR by plain bytes (`a` before `a.txt`) — so each tree's entries are
//! re-sorted. Everything read is distrusted:
//!
//! - every object's header and body are hashed and compared to the id it was asked for (SHA-1
//!   with collision detection), so a corrupt or forged object fails with an error naming its id;
//! - trees must be canonical — entries in strict git order, modes spelled exactly `100644`,
//!   `100755`, `120000` or `40000`, names valid file names (not empty, `.`, `..`, nor containing
//!   `/`) and unique — so that hashing the restored object gives back the root id;
//! - submodules (gitlinks, mode `160000`), which Nix cannot put in a store object either, and
//!   any other mode give [`Error::UnsupportedMode`];
//! - depth, names, targets, entry counts and total size are bounded by [`Limits`], the tree is
//!   walked with an explicit stack (no recursion), and blobs are streamed, never held whole.
//!
//! Git trees form a DAG: a handful of objects can describe an exponentially large tree (a tree
//! naming one subtree twice, nested). Memory stays bounded by the limits, but output and time
//! grow with the expanded tree; [`Limits::max_total_size`] bounds file and symlink bytes, while
//! empty files and directories count nothing towards it, so a caller restoring an untrusted
//! object store should also bound what its sink accepts.
//!
//! File contents are streamed before their blob's hash can be checked: when [`to_events`] fails,
//! the sink may already have seen bytes of the corrupt blob, and its output must be discarded.
//!
//! Differences from Nix: Nix restores git trees through libgit2 and does not check ids as it
//! reads; it also accepts some non-canonical trees this module refuses.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::git::{GitHasher, Mode};
//! use nix_ingest::git::source::MemoryObjects;
//! use nix_ingest::hash::{Algorithm, Format};
//! use nix_ingest::{nar, restore, Limits};
//!
//! // Hash a tree with git, keeping its objects: `bla/`, `foo` = "Hello World!\n", `bar -> foo`.
//! let mut git = GitHasher::with_objects(Algorithm::Sha1, MemoryObjects::new());
//! let mut nar_writer = nar::NarWriter::new(Vec::new());
//! for event in [
//!     Event::DirectoryStart { name: None },
//!     Event::Symlink { name: Some(b"bar"), target: b"foo" },
//!     Event::DirectoryStart { name: Some(b"bla") },
//!     Event::DirectoryEnd,
//!     Event::FileStart { name: Some(b"foo"), executable: false, size: 13 },
//!     Event::FileData(b"Hello World!\n"),
//!     Event::FileEnd,
//!     Event::DirectoryEnd,
//! ] {
//!     git.event(event)?;
//!     nar_writer.event(event)?;
//! }
//! let (id, mut objects) = git.finish_with_objects()?;
//! assert_eq!(id.encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//!
//! // The tree id alone gives back the very same NAR.
//! let restored = restore::to_nar(&id, Mode::Directory, &mut objects, Vec::new(), &Limits::default())?;
//! assert_eq!(restored, nar_writer.finish()?);
//! # Ok(()) }
//! ```

use std::cmp::Ordering;
use std::io::{Read, Write};

use crate::event::{Event, Sink, SinkError};
use crate::git::ObjectKind;
use crate::git::source::{self, ObjectSource, Verifier, hex, read_error};
use crate::git::{Mode, tree_order};
use crate::hash::{Algorithm, Hash};
use crate::limits::Limits;
use crate::nar::NarWriter;

/// Why a git tree could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object could not be read, or its bytes do not match its id (the source error names
    /// the object).
    #[error("at '{path}': {source}")]
    Object {
        /// Where in the tree the object sits (`/` for the root).
        path: String,
        /// The cause, naming the object (boxed to keep the error small).
        source: Box<source::Error>,
    },
    /// A tree entry points to a blob where a tree is needed, or the other way round.
    #[error("at '{path}': git object {} is a {found:?}, expected a {expected:?}", hex(.id))]
    WrongKind {
        /// Where in the tree.
        path: String,
        /// The object.
        id: Hash,
        /// What the entry's mode calls for.
        expected: ObjectKind,
        /// What the object is.
        found: ObjectKind,
    },
    /// A tree entry with a mode that has no file system counterpart (`160000`, a submodule) or
    /// that git itself does not write.
    #[error("at '{path}': tree {} has an entry with unsupported mode '{mode}'{}", hex(.tree), if .mode == "160000" { " (a git submodule)" } else { "" })]
    UnsupportedMode {
        /// The entry's path.
        path: String,
        /// The tree holding it.
        tree: Hash,
        /// The mode as written.
        mode: String,
    },
    /// A tree body that is not a well-formed, canonical list of entries.
    #[error("at '{path}': tree {} is malformed at byte {offset}: {reason}", hex(.tree))]
    BadTree {
        /// The tree's path.
        path: String,
        /// The tree.
        tree: Hash,
        /// Where in its body.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bound of [`Limits`] was crossed.
    #[error("at '{path}': {what} exceeds the limit of {limit}")]
    Limit {
        /// Where.
        path: String,
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The sink refused an event.
    #[error("at '{path}': {source}")]
    Sink {
        /// Where.
        path: String,
        /// The sink's error.
        source: SinkError,
    },
}

/// A tree entry's kind, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File { executable: bool },
    Symlink,
    Directory,
}

fn parse_mode(mode: &[u8]) -> Option<EntryKind> {
    match mode {
        b"100644" => Some(EntryKind::File { executable: false }),
        b"100755" => Some(EntryKind::File { executable: true }),
        b"120000" => Some(EntryKind::Symlink),
        b"40000" => Some(EntryKind::Directory),
        _ => None,
    }
}

#[derive(Debug)]
struct Entry {
    kind: EntryKind,
    name: std::ops::Range<usize>,
    id: Hash,
}

/// A directory being emitted: its tree body, entries in NAR order, and the next to emit.
#[derive(Debug)]
struct Frame {
    body: Vec<u8>,
    entries: Vec<Entry>,
    next: usize,
    /// Length of `path` before this directory's name was appended.
    path_len: usize,
}

struct Walk<'s, O: ?Sized, S: ?Sized> {
    source: &'s mut O,
    sink: &'s mut S,
    limits: Limits,
    algorithm: Algorithm,
    path: Vec<u8>,
    total: u64,
    buf: Vec<u8>,
}

impl<O: ObjectSource + ?Sized, S: Sink + ?Sized> Walk<'_, O, S> {
    fn path(&self) -> String {
        path_string(&self.path)
    }

    fn emit(&mut self, event: Event<'_>) -> Result<(), Error> {
        self.sink.event(event).map_err(|source| Error::Sink {
            path: path_string(&self.path),
            source,
        })
    }

    fn object_error(&self, source: source::Error) -> Error {
        object_err(&self.path, source)
    }

    fn limit(&self, what: &'static str, limit: u64) -> Error {
        Error::Limit {
            path: self.path(),
            what,
            limit,
        }
    }

    fn add_total(&mut self, size: u64) -> Result<(), Error> {
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_size {
            return Err(self.limit("total size", self.limits.max_total_size));
        }
        Ok(())
    }

    /// Reads, verifies and parses the tree `id` into a frame (entries in NAR order).
    fn read_tree(&mut self, id: &Hash) -> Result<Frame, Error> {
        let hash_len = self.algorithm.len();
        // The largest canonical tree the limits allow: each entry is at most
        // "100755 " + name + NUL + digest.
        let max_entry = 8usize
            .saturating_add(self.limits.max_name_len)
            .saturating_add(hash_len) as u64;
        let max_size = self
            .limits
            .max_entries_per_directory
            .saturating_mul(max_entry);
        let mut body = Vec::new();
        let (kind, size, read) = {
            let object = self
                .source
                .read(id)
                .map_err(|e| object_err(&self.path, e))?;
            let (kind, size) = (object.kind, object.size);
            let read = if kind == ObjectKind::Tree && size <= max_size {
                object
                    .body
                    .take(size.saturating_add(1))
                    .read_to_end(&mut body)
            } else {
                Ok(0)
            };
            (kind, size, read)
        };
        if kind != ObjectKind::Tree {
            return Err(Error::WrongKind {
                path: path_string(&self.path),
                id: *id,
                expected: ObjectKind::Tree,
                found: kind,
            });
        }
        if size > max_size {
            return Err(limit_err(&self.path, "tree size", max_size));
        }
        read.map_err(|e| object_err(&self.path, read_error(id, e)))?;
        let mut verifier = Verifier::new(id, ObjectKind::Tree, size);
        verifier.update(&body);
        verifier
            .finish(body.len() as u64)
            .map_err(|e| self.object_error(e))?;
        let entries = self.parse_tree(id, &body)?;
        Ok(Frame {
            body,
            entries,
            next: 0,
            path_len: 0,
        })
    }

    fn parse_tree(&self, id: &Hash, body: &[u8]) -> Result<Vec<Entry>, Error> {
        let bad = |offset: usize, reason: &'static str| Error::BadTree {
            path: self.path(),
            tree: *id,
            offset,
            reason,
        };
        let hash_len = self.algorithm.len();
        let mut entries: Vec<Entry> = Vec::new();
        let mut pos = 0usize;
        while pos < body.len() {
            let rest = body.get(pos..).unwrap_or_default();
            let space = rest
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| bad(pos, "entry without a mode"))?;
            let mode = rest.get(..space).unwrap_or_default();
            let name_start = pos + space + 1;
            let nul = body
                .get(name_start..)
                .unwrap_or_default()
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad(name_start, "entry name not terminated"))?;
            let name = name_start..name_start + nul;
            let id_start = name.end + 1;
            let id_bytes = body
                .get(id_start..id_start.saturating_add(hash_len))
                .ok_or_else(|| bad(id_start, "truncated object id"))?;
            let entry_id = Hash::from_bytes(self.algorithm, id_bytes)
                .map_err(|_| bad(id_start, "truncated object id"))?;
            let name_bytes = body.get(name.clone()).unwrap_or_default();
            let mut entry_path = self.path.clone();
            push_name(&mut entry_path, name_bytes);
            let kind = parse_mode(mode).ok_or_else(|| Error::UnsupportedMode {
                path: String::from_utf8_lossy(&entry_path).into_owned(),
                tree: *id,
                mode: String::from_utf8_lossy(mode).into_owned(),
            })?;
            if name_bytes.is_empty()
                || name_bytes == b"."
                || name_bytes == b".."
                || name_bytes.contains(&b'/')
            {
                return Err(bad(name_start, "invalid entry name"));
            }
            if name_bytes.len() > self.limits.max_name_len {
                return Err(Error::Limit {
                    path: String::from_utf8_lossy(&entry_path).into_owned(),
                    what: "name length",
                    limit: self.limits.max_name_len as u64,
                });
            }
            if let Some(prev) = entries.last() {
                let prev_name = body.get(prev.name.clone()).unwrap_or_default();
                let order = tree_order(
                    prev_name,
                    prev.kind == EntryKind::Directory,
                    name_bytes,
                    kind == EntryKind::Directory,
                );
                if order != Ordering::Less {
                    return Err(bad(pos, "entries not in strictly increasing git order"));
                }
            }
            if entries.len() as u64 >= self.limits.max_entries_per_directory {
                return Err(self.limit(
                    "entries per directory",
                    self.limits.max_entries_per_directory,
                ));
            }
            entries.push(Entry {
                kind,
                name,
                id: entry_id,
            });
            pos = id_start + hash_len;
        }
        // NAR order: plain bytes. A file and a directory of the same name are distinct in git
        // order but collide here.
        entries.sort_by(|a, b| body.get(a.name.clone()).cmp(&body.get(b.name.clone())));
        for pair in entries.windows(2) {
            if let [a, b] = pair
                && body.get(a.name.clone()) == body.get(b.name.clone())
            {
                return Err(bad(b.name.start, "duplicate entry name"));
            }
        }
        Ok(entries)
    }

    /// Streams the blob `id` as a file.
    fn file(&mut self, name: Option<&[u8]>, id: &Hash, executable: bool) -> Result<(), Error> {
        let object = self
            .source
            .read(id)
            .map_err(|e| object_err(&self.path, e))?;
        if object.kind != ObjectKind::Blob {
            return Err(Error::WrongKind {
                path: path_string(&self.path),
                id: *id,
                expected: ObjectKind::Blob,
                found: object.kind,
            });
        }
        let size = object.size;
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_size {
            return Err(Error::Limit {
                path: path_string(&self.path),
                what: "total size",
                limit: self.limits.max_total_size,
            });
        }
        let at = |path: &[u8], source| Error::Sink {
            path: path_string(path),
            source,
        };
        self.sink
            .event(Event::FileStart {
                name,
                executable,
                size,
            })
            .map_err(|e| at(&self.path, e))?;
        let mut verifier = Verifier::new(id, ObjectKind::Blob, size);
        let mut body = object.body;
        let mut seen: u64 = 0;
        loop {
            let n = match body.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(object_err(&self.path, read_error(id, e)));
                }
            };
            let chunk = self.buf.get(..n).unwrap_or_default();
            seen = seen.saturating_add(n as u64);
            if seen > size {
                return Err(object_err(
                    &self.path,
                    source::Error::SizeMismatch {
                        id: *id,
                        declared: size,
                        actual: seen,
                    },
                ));
            }
            verifier.update(chunk);
            self.sink
                .event(Event::FileData(chunk))
                .map_err(|e| at(&self.path, e))?;
        }
        drop(body);
        verifier
            .finish(seen)
            .map_err(|e| object_err(&self.path, e))?;
        self.sink
            .event(Event::FileEnd)
            .map_err(|e| at(&self.path, e))
    }

    /// Reads the blob `id` whole as a symlink target.
    fn symlink(&mut self, name: Option<&[u8]>, id: &Hash) -> Result<(), Error> {
        let max = self.limits.max_target_len as u64;
        let (kind, target) = source::read_verified(self.source, id, max).map_err(|e| match e {
            source::Error::TooLarge { .. } => self.limit("symlink target length", max),
            e => self.object_error(e),
        })?;
        if kind != ObjectKind::Blob {
            return Err(Error::WrongKind {
                path: self.path(),
                id: *id,
                expected: ObjectKind::Blob,
                found: kind,
            });
        }
        self.add_total(target.len() as u64)?;
        self.emit(Event::Symlink {
            name,
            target: &target,
        })
    }

    fn run(&mut self, root: &Hash, mode: Mode) -> Result<(), Error> {
        match mode {
            Mode::File => return self.file(None, root, false),
            Mode::Executable => return self.file(None, root, true),
            Mode::Symlink => return self.symlink(None, root),
            Mode::Directory => {}
        }
        if self.limits.max_depth == 0 {
            return Err(self.limit("directory depth", 0));
        }
        let frame = self.read_tree(root)?;
        self.emit(Event::DirectoryStart { name: None })?;
        let mut stack = vec![frame];
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.entries.get(top.next) else {
                let path_len = top.path_len;
                stack.pop();
                self.emit(Event::DirectoryEnd)?;
                self.path.truncate(path_len);
                continue;
            };
            top.next += 1;
            let (kind, id) = (entry.kind, entry.id);
            let name = top
                .body
                .get(entry.name.clone())
                .unwrap_or_default()
                .to_vec();
            let path_len = self.path.len();
            push_name(&mut self.path, &name);
            match kind {
                EntryKind::File { executable } => {
                    self.file(Some(&name), &id, executable)?;
                    self.path.truncate(path_len);
                }
                EntryKind::Symlink => {
                    self.symlink(Some(&name), &id)?;
                    self.path.truncate(path_len);
                }
                EntryKind::Directory => {
                    if stack.len() >= self.limits.max_depth {
                        return Err(self.limit("directory depth", self.limits.max_depth as u64));
                    }
                    let mut frame = self.read_tree(&id)?;
                    frame.path_len = path_len;
                    self.emit(Event::DirectoryStart { name: Some(&name) })?;
                    stack.push(frame);
                }
            }
        }
        Ok(())
    }
}

fn push_name(path: &mut Vec<u8>, name: &[u8]) {
    path.push(b'/');
    path.extend_from_slice(name);
}

fn object_err(path: &[u8], source: source::Error) -> Error {
    Error::Object {
        path: path_string(path),
        source: Box::new(source),
    }
}

fn limit_err(path: &[u8], what: &'static str, limit: u64) -> Error {
    Error::Limit {
        path: path_string(path),
        what,
        limit,
    }
}

fn path_string(path: &[u8]) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

/// Emits the file system object whose git id is `root` into `sink`, reading its objects from
/// `source`. See the [module docs](self) for what is checked.
///
/// `mode` says what the root is: [`Mode::Directory`] for a tree id; [`Mode::File`],
/// [`Mode::Executable`] or [`Mode::Symlink`] for a blob id (a git blob does not know which of
/// these it is; Nix gives all three the same hash). Object ids inside trees are read with the
/// root's algorithm.
pub fn to_events<O, S>(
    root: &Hash,
    mode: Mode,
    source: &mut O,
    sink: &mut S,
    limits: &Limits,
) -> Result<(), Error>
where
    O: ObjectSource + ?Sized,
    S: Sink + ?Sized,
{
    let mut walk = Walk {
        source,
        sink,
        limits: *limits,
        algorithm: root.algorithm(),
        path: Vec::new(),
        total: 0,
        buf: vec![0u8; 64 * 1024],
    };
    walk.run(root, mode)
}

/// Writes the NAR of the file system object whose git id is `root` to `writer`, returning the
/// writer: [`to_events`] into a [`NarWriter`]. On error, discard what was written.
pub fn to_nar<O, W>(
    root: &Hash,
    mode: Mode,
    source: &mut O,
    writer: W,
    limits: &Limits,
) -> Result<W, Error>
where
    O: ObjectSource + ?Sized,
    W: Write,
{
    let mut nar = NarWriter::new(writer);
    to_events(root, mode, source, &mut nar, limits)?;
    nar.finish().map_err(|source| Error::Sink {
        path: "/".to_owned(),
        source,
    })
}
