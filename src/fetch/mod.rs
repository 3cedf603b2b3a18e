//! What Nix's git fetcher records for a revision of a local repository — `narHash`, the store
//! path, `rev`, `lastModified`, `revCount` — computed from the repository's objects in one
//! streaming pass, without a checkout or temporary files; and the git-hashing content address
//! (`fixed:git:sha1:<tree id>`) and its store path straight from the tree id.
//!
//! [`Fetch`] holds the settings of a `git+file` flake input or a `builtins.fetchGit` call
//! (`submodules`, `exportIgnore`, `shallow`, the store path name); [`Fetch::fetch`] resolves a
//! revision — a full or abbreviated object id (commit, annotated tag or tree), a branch, a tag,
//! `HEAD`, any ref name — and returns a [`Fetched`], which [`Fetched::prefetch_json`] prints as
//! `nix flake prefetch --json` does. Every object read is checked against its id.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::process::Command;
//! # let dir = tempfile::tempdir()?;
//! # let git = |args: &[&str]| Command::new("git").current_dir(dir.path())
//! #     .env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1")
//! #     .env("GIT_AUTHOR_NAME", "a").env("GIT_AUTHOR_EMAIL", "a@b")
//! #     .env("GIT_COMMITTER_NAME", "a").env("GIT_COMMITTER_EMAIL", "a@b")
//! #     .env("GIT_COMMITTER_DATE", "1700000000 +0000").args(args).status();
//! # git(&["init", "-q", "-b", "main"])?;
//! # std::fs::write(dir.path().join("f"), "hi\n")?;
//! # git(&["add", "f"])?;
//! # git(&["commit", "-q", "-m", "one"])?;
//! use nix_ingest::git::fetcher::Fetch;
//! use nix_ingest::hash::Format;
//!
//! // A repository with one commit holding `f` = "hi\n", committed at 1700000000.
//! let fetched = Fetch::new().fetch(dir.path(), "main")?;
//! assert_eq!((fetched.last_modified, fetched.rev_count), (Some(1700000000), Some(1)));
//! // The narHash `nix flake prefetch git+file://…?ref=main` prints.
//! assert_eq!(
//!     fetched.nar_hash.encode(Format::Sri),
//!     "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o=" // nix hash path of that tree
//! );
//! assert!(fetched.store_path_string().ends_with("-source"));
//! # Ok(()) }
//! ```
//!
//! # What Nix sees, and where Nix versions differ
//!
//! - **Submodules** (gitlinks): with `submodules = false` (the default of flakes and
//!   `fetchGit`), Nix shows a submodule as an empty directory. With `submodules = true`, Nix
//!   fetches each submodule `.gitmodules` names from its URL; this module reads it from the
//!   repository's own `modules/<name>` directory (where `git submodule update` keeps it) and
//!   refuses, naming the submodule, when it is not there. A gitlink `.gitmodules` does not name
//!   stays an empty directory, as in Nix.
//! - **export-ignore**: applied only when asked ([`Fetch::export_ignore`]); `builtins.fetchGit`
//!   asks by default unless `submodules = true`, flakes never do. The `.gitattributes` files of
//!   the commit decide (git's precedence: deeper files and later lines win). Nix (libgit2) also
//!   consults the work tree's and `$GIT_DIR/info/attributes`; this module reads the commit only.
//!   `export-subst` is never applied, by Nix nor here.
//! - **Annotated tags**: given a ref naming an annotated tag, Nix 2.34 records the commit it
//!   points to as `rev`; Nix 2.26 recorded the tag object's id. This module follows 2.34. Given
//!   the tag's id as `rev`, both record that id.
//! - `revCount` is the number of commits reachable from the commit (itself included),
//!   `lastModified` its committer time. A shallow repository is refused unless
//!   [`Fetch::shallow`] is set, which, as in Nix, leaves `revCount` out.
//! - A **tree id** has no commit: only the NAR hash, store path and git content address.
//! - The git content address is the raw tree's: it is given only when the tree Nix sees is the
//!   raw tree (no submodule shown differently, nothing export-ignored).

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::content_address::ContentAddress;
use crate::event::{Event, Sink, SinkError};
use crate::git::events::{self, Filter, Hooks, Submodules};
use crate::git::objects_dir::{self, GitDirs, locate_dirs, read_small};
use crate::git::source::{self, ObjectSource, Repository, hex, read_verified};
use crate::git::{Mode, ObjectKind};
use crate::hash::{Algorithm, Format, Hash};
use crate::limits::Limits;
use crate::method::FileIngestionMethod;
use crate::nar::NarHasher;
use crate::store_path::{self, References, StoreDir, StorePath};

/// The largest commit or tag object read.
const MAX_COMMIT_SIZE: u64 = 64 << 20;
/// The largest `.gitattributes` or `.gitmodules` read.
const MAX_ATTRIBUTES_SIZE: u64 = 4 << 20;

/// Why a revision could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository could not be opened.
    #[error(transparent)]
    Open(#[from] objects_dir::Error),
    /// An object could not be read or does not match its id.
    #[error(transparent)]
    Object(#[from] source::Error),
    /// Walking the tree failed.
    #[error(transparent)]
    Tree(#[from] events::Error),
    /// No object or ref of that name.
    #[error("revision {0:?} names no object or ref of the repository")]
    UnknownRevision(String),
    /// An abbreviated id that several objects share.
    #[error("abbreviated id {0:?} is ambiguous")]
    Ambiguous(String),
    /// A ref file or `packed-refs` line that names no object.
    #[error("ref {name:?} in '{}' is malformed", .path.display())]
    BadRef {
        /// The ref.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// A commit or tag object git would not parse.
    #[error("git {kind} {} is malformed: {reason}", hex(.id))]
    BadObject {
        /// Its kind.
        kind: ObjectKind,
        /// Its id.
        id: Hash,
        /// What is wrong.
        reason: String,
    },
    /// An object of a kind that does not lead to a tree (a blob, or a tag of one).
    #[error("git object {} is a {kind}, which has no tree", hex(.id))]
    NoTree {
        /// The object.
        id: Hash,
        /// Its kind.
        kind: ObjectKind,
    },
    /// A shallow repository, without [`Fetch::shallow`].
    #[error(
        "'{}' is a shallow git repository; its revCount is unknown (set shallow to fetch without it)",
        .0.display()
    )]
    Shallow(PathBuf),
    /// A submodule to include whose repository is not in the modules directory.
    #[error(
        "submodule {name:?} at '{path}' is not in '{}' (run `git submodule update --init`, or fetch without submodules)",
        .dir.display()
    )]
    MissingSubmodule {
        /// Its name in `.gitmodules`.
        name: String,
        /// Its path in the tree.
        path: String,
        /// Where its repository was looked for.
        dir: PathBuf,
    },
    /// The store path could not be made (e.g. an invalid name).
    #[error(transparent)]
    StorePath(#[from] store_path::Error),
    /// The NAR hasher failed.
    #[error("cannot hash the NAR")]
    Nar(#[source] SinkError),
}

/// How to fetch: the attributes of a `git+file` input or a `builtins.fetchGit` call. Defaults
/// are a flake input's: name `source`, no submodules, no export-ignore, not shallow.
#[derive(Debug, Clone)]
pub struct Fetch {
    name: String,
    submodules: bool,
    export_ignore: bool,
    shallow: bool,
    store_dir: StoreDir,
    limits: Limits,
    threads: usize,
    collision_detection: bool,
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            threads: 0,
            collision_detection: true,
            name: "source".to_owned(),
            submodules: false,
            export_ignore: false,
            shallow: false,
            store_dir: StoreDir::default(),
            limits: Limits::default(),
        }
    }
}

/// What Nix's git fetcher records for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// What Nix records as `rev`: the commit a ref resolves to, or the id given (a commit or an
    /// annotated tag); `None` for a tree id.
    pub rev: Option<Hash>,
    /// The commit, once tags are peeled; `None` for a tree id.
    pub commit: Option<Hash>,
    /// The commit's tree (or the tree id given).
    pub tree: Hash,
    /// The ref given, or the branch `HEAD` names (Nix's default ref) when a revision was given
    /// by id.
    pub git_ref: Option<String>,
    /// The commit's committer time (Nix's `lastModified`).
    pub last_modified: Option<i64>,
    /// The commits reachable from the commit, itself included (Nix's `revCount`); `None` for a
    /// tree id or a shallow fetch.
    pub rev_count: Option<u64>,
    /// SHA-256 of the NAR of the tree Nix sees (Nix's `narHash`).
    pub nar_hash: Hash,
    /// The NAR's size.
    pub nar_size: u64,
    /// The store path Nix adds the tree at (`fixed:r:sha256:<narHash>`).
    pub store_path: StorePath,
    /// `fixed:git:<algo>:<tree id>`, when the tree Nix sees is the raw tree.
    pub git_ca: Option<ContentAddress>,
    /// The store path of [`Fetched::git_ca`].
    pub git_store_path: Option<StorePath>,
    store_dir: StoreDir,
    /// How the revision was given: `true` for a ref name.
    by_ref: bool,
    /// The revision as given.
    given: String,
    submodules: bool,
    export_ignore: bool,
}

impl Fetch {
    /// The defaults of a flake input ([`Fetch`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults of `builtins.fetchGit`: export-ignore on.
    pub fn fetch_git() -> Self {
        Self::default().export_ignore(true)
    }

    /// The store path name (default `source`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Nix's `submodules` attribute (default off). When on, export-ignore's `fetchGit` default
    /// is off too: set [`Fetch::export_ignore`] after this to override.
    pub fn submodules(mut self, on: bool) -> Self {
        self.submodules = on;
        if on {
            self.export_ignore = false;
        }
        self
    }

    /// Nix's `exportIgnore` attribute (default off; on for `builtins.fetchGit`).
    pub fn export_ignore(mut self, on: bool) -> Self {
        self.export_ignore = on;
        self
    }

    /// Nix's `shallow` attribute: accept a shallow repository, leaving `revCount` out.
    pub fn shallow(mut self, on: bool) -> Self {
        self.shallow = on;
        self
    }

    /// The store directory (default `/nix/store`).
    pub fn store_dir(mut self, store_dir: StoreDir) -> Self {
        self.store_dir = store_dir;
        self
    }

    /// Threads: 1 reads, inflates and hashes on the calling thread; anything else (the default,
    /// 0) hashes the NAR and checks blob ids on a second thread while the calling thread reads
    /// and inflates objects, when the machine has more than one core.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Whether blob ids are checked with SHA-1 collision detection (default on; trees, commits
    /// and tags always are).
    pub fn collision_detection(mut self, on: bool) -> Self {
        self.collision_detection = on;
        self
    }

    /// Bounds on what the tree walk accepts.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Fetches `revision` of the repository at `repo` (a work tree or a bare repository).
    pub fn fetch(&self, repo: &Path, revision: &str) -> Result<Fetched, Error> {
        self.fetch_into(repo, revision, &mut Discard)
    }

    /// [`Fetch::fetch`], also sending the events of the tree Nix sees to `sink` (e.g. a
    /// [`NarWriter`](crate::nar::NarWriter) to write the NAR).
    pub fn fetch_into(
        &self,
        repo: &Path,
        revision: &str,
        sink: &mut dyn Sink,
    ) -> Result<Fetched, Error> {
        let dirs = locate_dirs(repo)?;
        let mut source = Repository::from_objects_dir(dirs.objects.clone())?;
        let algorithm = source.algorithm();
        let (target, by_ref) = resolve(&dirs, &mut source, revision)?;
        let (commit, tree) = peel(&mut source, &target)?;
        let mut last_modified = None;
        let mut rev_count = None;
        if let Some(commit) = &commit {
            last_modified = Some(commit_time(&mut source, commit)?);
            if !self.shallow {
                let shallow = dirs.common.join("shallow");
                if read_small(&shallow)?.is_some_and(|s| !s.is_empty()) {
                    return Err(Error::Shallow(repo.to_owned()));
                }
                rev_count = Some(count_commits(&mut source, commit)?);
            }
        }
        let rev = commit.map(|c| if by_ref { c } else { target });
        let git_ref = if by_ref {
            Some(revision.to_owned())
        } else if commit.is_some() {
            Some(default_ref(&dirs))
        } else {
            None
        };

        // The tree Nix sees, in one pass.
        let mut changed = false;
        let two = match self.threads {
            1 => false,
            0 => std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            _ => true,
        };
        let (nar_hash, nar_size) = if two {
            let cell = Cell::new(None);
            let (tx, rx) = mpsc::sync_channel::<Batch>(4);
            let detect = self.collision_detection;
            std::thread::scope(|scope| {
                let hasher = scope.spawn(move || consume(rx, detect));
                let mut channel = ChannelSink {
                    tx: Some(tx),
                    batch: Batch::default(),
                    cell: &cell,
                };
                let walked = {
                    let mut tee = Tee2 {
                        a: &mut channel,
                        b: &mut *sink,
                    };
                    let mut walker = TreeWalker {
                        fetch: self,
                        deferred: Some(&cell),
                        changed: &mut changed,
                        top_commit: commit,
                    };
                    walker.walk(&dirs, &mut source, &tree, commit.as_ref(), &mut tee)
                };
                let flushed = if walked.is_ok() {
                    channel.close()
                } else {
                    channel.tx = None;
                    Ok(())
                };
                let hashed = hasher.join().unwrap_or_else(|_| {
                    Err(Error::Nar(SinkError::Protocol("the hashing thread failed")))
                });
                // The hashing thread's error (a blob that does not match its id) comes first:
                // the walk only saw its channel close.
                match (hashed, walked, flushed) {
                    (Err(e @ Error::Tree(_)), _, _) => Err(e),
                    (_, Err(e), _) => Err(e),
                    (Err(e), _, _) => Err(e),
                    (Ok(_), Ok(()), Err(e)) => Err(Error::Nar(e)),
                    (Ok(done), Ok(()), Ok(())) => Ok(done),
                }
            })?
        } else {
            let mut nar = Tee2 {
                a: NarHasher::new(Algorithm::Sha256),
                b: sink,
            };
            let mut walker = TreeWalker {
                fetch: self,
                deferred: None,
                changed: &mut changed,
                top_commit: commit,
            };
            walker.walk(&dirs, &mut source, &tree, commit.as_ref(), &mut nar)?;
            nar.a.finish_with_size().map_err(Error::Nar)?
        };
        let ca = ContentAddress::fixed(FileIngestionMethod::Nar, nar_hash);
        let store_path =
            self.store_dir
                .make_path_from_ca(&self.name, &ca, &References::default())?;
        let (git_ca, git_store_path) = if changed {
            (None, None)
        } else {
            let ca = ContentAddress::fixed(FileIngestionMethod::Git, tree);
            let path = match algorithm {
                Algorithm::Sha1 | Algorithm::Sha256 => Some(self.store_dir.make_path_from_ca(
                    &self.name,
                    &ca,
                    &References::default(),
                )?),
                _ => None,
            };
            (Some(ca), path)
        };
        Ok(Fetched {
            rev,
            commit,
            tree,
            git_ref,
            last_modified,
            rev_count,
            nar_hash,
            nar_size,
            store_path,
            git_ca,
            git_store_path,
            store_dir: self.store_dir.clone(),
            by_ref,
            given: revision.to_owned(),
            submodules: self.submodules,
            export_ignore: self.export_ignore,
        })
    }
}

impl Fetched {
    /// The store path, printed in full.
    pub fn store_path_string(&self) -> String {
        self.store_dir.display_path(&self.store_path)
    }

    /// What `nix flake prefetch --json 'git+<url>?rev=…'` (or `?ref=…`) prints (Nix 2.34):
    /// `hash`, `locked`, `original` and `storePath`, keys sorted. `url` is the repository's URL
    /// as given to Nix, e.g. `file:///srv/repo`.
    pub fn prefetch_json(&self, url: &str) -> String {
        let mut locked: Vec<(&str, String)> = Vec::new();
        let mut original: Vec<(&str, String)> = Vec::new();
        let flags = |list: &mut Vec<(&str, String)>| {
            if self.export_ignore {
                list.push(("exportIgnore", "true".to_owned()));
            }
            if self.submodules {
                list.push(("submodules", "true".to_owned()));
            }
        };
        flags(&mut locked);
        flags(&mut original);
        if let Some(t) = self.last_modified {
            locked.push(("lastModified", t.to_string()));
        }
        if let Some(r) = &self.git_ref {
            locked.push(("ref", json_string(r)));
        }
        if let Some(rev) = &self.rev {
            locked.push(("rev", json_string(&hex(rev))));
        }
        if let Some(n) = self.rev_count {
            locked.push(("revCount", n.to_string()));
        }
        if self.by_ref {
            original.push(("ref", json_string(&self.given)));
        } else if let Some(rev) = &self.rev {
            original.push(("rev", json_string(&hex(rev))));
        }
        for list in [&mut locked, &mut original] {
            list.push(("type", json_string("git")));
            list.push(("url", json_string(url)));
            list.sort_by(|a, b| a.0.cmp(b.0));
        }
        let object = |list: &[(&str, String)]| {
            let fields: Vec<String> = list.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", fields.join(","))
        };
        format!(
            "{{\"hash\":{},\"locked\":{},\"original\":{},\"storePath\":{}}}",
            json_string(&self.nar_hash.encode(Format::Sri)),
            object(&locked),
            object(&original),
            json_string(&self.store_path_string())
        )
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A sink that takes every event and keeps nothing.
struct Discard;

impl Sink for Discard {
    fn event(&mut self, _: Event<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Two cores: the calling thread reads and inflates, a second one hashes

/// An event, its bytes in its batch's buffer.
enum Msg {
    DirStart(Option<(usize, usize)>),
    DirEnd,
    FileStart {
        name: Option<(usize, usize)>,
        executable: bool,
        size: u64,
        id: Option<Hash>,
    },
    Data(usize, usize),
    FileEnd,
    Symlink {
        name: Option<(usize, usize)>,
        target: (usize, usize),
    },
}

/// Events sent together.
#[derive(Default)]
struct Batch {
    events: Vec<Msg>,
    bytes: Vec<u8>,
}

impl Batch {
    /// Sent once it holds this many bytes or events.
    const BYTES: usize = 1 << 20;
    const EVENTS: usize = 4096;

    fn push_bytes(&mut self, data: &[u8]) -> (usize, usize) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        (start, self.bytes.len())
    }

    fn get(&self, (start, end): (usize, usize)) -> &[u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }
}

/// A sink that sends the events, in batches, to the hashing thread.
struct ChannelSink<'c> {
    tx: Option<mpsc::SyncSender<Batch>>,
    batch: Batch,
    cell: &'c Cell<Option<Hash>>,
}

impl ChannelSink<'_> {
    fn send(&mut self) -> Result<(), SinkError> {
        let batch = std::mem::take(&mut self.batch);
        match &self.tx {
            Some(tx) => tx
                .send(batch)
                .map_err(|_| SinkError::Protocol("the hashing thread stopped")),
            None => Err(SinkError::Protocol("events after the end")),
        }
    }

    /// Sends what is left and ends the stream.
    fn close(&mut self) -> Result<(), SinkError> {
        let sent = if self.batch.events.is_empty() {
            Ok(())
        } else {
            self.send()
        };
        self.tx = None;
        sent
    }
}

impl Sink for ChannelSink<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        let b = &mut self.batch;
        let msg = match event {
            Event::DirectoryStart { name } => Msg::DirStart(name.map(|n| b.push_bytes(n))),
            Event::DirectoryEnd => Msg::DirEnd,
            Event::FileStart {
                name,
                executable,
                size,
            } => Msg::FileStart {
                name: name.map(|n| b.push_bytes(n)),
                executable,
                size,
                id: self.cell.take(),
            },
            Event::FileData(data) => {
                let (start, end) = b.push_bytes(data);
                Msg::Data(start, end)
            }
            Event::FileEnd => Msg::FileEnd,
            Event::Symlink { name, target } => Msg::Symlink {
                name: name.map(|n| b.push_bytes(n)),
                target: b.push_bytes(target),
            },
        };
        b.events.push(msg);
        if b.bytes.len() >= Batch::BYTES || b.events.len() >= Batch::EVENTS {
            self.send()?;
        }
        Ok(())
    }
}

/// The hashing thread: the NAR hash of the events, and every blob checked against its id.
fn consume(rx: mpsc::Receiver<Batch>, detect: bool) -> Result<(Hash, u64), Error> {
    let mut nar = NarHasher::new(Algorithm::Sha256);
    // Names of the open directories and the current file, for errors.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut blob: Option<(Hash, crate::hash::Hasher, u64)> = None;
    let nar_err = Error::Nar;
    for batch in rx {
        for msg in &batch.events {
            match msg {
                Msg::DirStart(name) => {
                    let name = name.map(|r| batch.get(r));
                    nar.event(Event::DirectoryStart { name }).map_err(nar_err)?;
                    path.push(name.unwrap_or_default().to_vec());
                }
                Msg::DirEnd => {
                    path.pop();
                    nar.event(Event::DirectoryEnd).map_err(nar_err)?;
                }
                Msg::FileStart {
                    name,
                    executable,
                    size,
                    id,
                } => {
                    let name = name.map(|r| batch.get(r));
                    nar.event(Event::FileStart {
                        name,
                        executable: *executable,
                        size: *size,
                    })
                    .map_err(nar_err)?;
                    path.push(name.unwrap_or_default().to_vec());
                    blob = id.map(|id| {
                        let hasher = crate::git::object_hasher(
                            id.algorithm(),
                            ObjectKind::Blob,
                            *size,
                            detect,
                        );
                        (id, hasher, 0)
                    });
                }
                Msg::Data(start, end) => {
                    let data = batch.get((*start, *end));
                    if let Some((_, hasher, seen)) = blob.as_mut() {
                        hasher.update(data);
                        *seen = seen.saturating_add(data.len() as u64);
                    }
                    nar.event(Event::FileData(data)).map_err(nar_err)?;
                }
                Msg::FileEnd => {
                    if let Some((id, hasher, _)) = blob.take() {
                        let wrong = match hasher.finalize() {
                            Ok(actual) if actual == id => None,
                            Ok(actual) => Some(source::Error::HashMismatch {
                                id,
                                actual: Box::new(actual),
                            }),
                            Err(_) => Some(source::Error::Sha1Collision { id }),
                        };
                        if let Some(source) = wrong {
                            let joined: Vec<&[u8]> =
                                path.iter().skip(1).map(Vec::as_slice).collect();
                            let path = format!("/{}", String::from_utf8_lossy(&joined.join(&b'/')));
                            return Err(Error::Tree(events::Error::Object {
                                path,
                                source: Box::new(source),
                            }));
                        }
                    }
                    path.pop();
                    nar.event(Event::FileEnd).map_err(nar_err)?;
                }
                Msg::Symlink { name, target } => {
                    nar.event(Event::Symlink {
                        name: name.map(|r| batch.get(r)),
                        target: batch.get(*target),
                    })
                    .map_err(nar_err)?;
                }
            }
        }
    }
    nar.finish_with_size().map_err(Error::Nar)
}

/// Two sinks fed the same events.
struct Tee2<'a, A> {
    a: A,
    b: &'a mut dyn Sink,
}

impl<A: Sink> Sink for Tee2<'_, A> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.a.event(event)?;
        self.b.event(event)
    }
}

// ---------------------------------------------------------------------------------------------
// Revisions and refs

/// Resolves `revision` to an object id; `true` when it was a ref name.
fn resolve(dirs: &GitDirs, source: &mut Repository, revision: &str) -> Result<(Hash, bool), Error> {
    let algorithm = source.algorithm();
    let is_hex = !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex && revision.len() == algorithm.len() * 2 {
        let id = Hash::parse_unprefixed(&revision.to_ascii_lowercase(), algorithm)
            .map_err(|_| Error::UnknownRevision(revision.to_owned()))?;
        if source.read(&id).is_ok() {
            return Ok((id, false));
        }
    }
    if let Some(id) = resolve_ref(dirs, algorithm, revision)? {
        return Ok((id, true));
    }
    if is_hex && revision.len() >= 4 && revision.len() < algorithm.len() * 2 {
        return match source.lookup_prefix(&revision.to_ascii_lowercase())? {
            Some(Ok(id)) => Ok((id, false)),
            Some(Err(())) => Err(Error::Ambiguous(revision.to_owned())),
            None => Err(Error::UnknownRevision(revision.to_owned())),
        };
    }
    Err(Error::UnknownRevision(revision.to_owned()))
}

/// Resolves a ref name as git's rev-parse does: `<name>`, `refs/<name>`, `refs/tags/<name>`,
/// `refs/heads/<name>`, `refs/remotes/<name>`, `refs/remotes/<name>/HEAD`.
fn resolve_ref(dirs: &GitDirs, algorithm: Algorithm, name: &str) -> Result<Option<Hash>, Error> {
    if name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || name.contains(['\0', '\\'])
    {
        return Ok(None);
    }
    for candidate in [
        name.to_owned(),
        format!("refs/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        format!("refs/remotes/{name}/HEAD"),
    ] {
        if let Some(id) = read_ref(dirs, algorithm, &candidate, 0)? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The target of ref `name`, following symbolic refs (at most 5 deep).
fn read_ref(
    dirs: &GitDirs,
    algorithm: Algorithm,
    name: &str,
    depth: u32,
) -> Result<Option<Hash>, Error> {
    if depth > 5 {
        return Ok(None);
    }
    // HEAD and other pseudo refs live in the git directory, the rest in the common one.
    let base = if name.starts_with("refs/") {
        &dirs.common
    } else {
        &dirs.git_dir
    };
    let path = base.join(name);
    if path.is_file()
        && let Some(bytes) = read_small(&path)?
    {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if let Some(target) = text.strip_prefix("ref:") {
            return read_ref(dirs, algorithm, target.trim(), depth + 1);
        }
        return Hash::parse_unprefixed(text, algorithm)
            .map(Some)
            .map_err(|_| Error::BadRef {
                name: name.to_owned(),
                path,
            });
    }
    if !name.starts_with("refs/") {
        return Ok(None);
    }
    packed_ref(dirs, algorithm, name)
}

/// Looks `name` up in `packed-refs`, a line at a time.
fn packed_ref(dirs: &GitDirs, algorithm: Algorithm, name: &str) -> Result<Option<Hash>, Error> {
    use std::io::BufRead;
    let path = dirs.common.join("packed-refs");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(objects_dir::Error::Io { path, source }.into()),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut reader, 64 * 1024)
            .read_until(b'\n', &mut line)
            .map_err(|source| objects_dir::Error::Io {
                path: path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.starts_with('#') || text.starts_with('^') {
            continue;
        }
        if let Some((id, refname)) = text.split_once(' ')
            && refname == name
        {
            return Hash::parse_unprefixed(id, algorithm)
                .map(Some)
                .map_err(|_| Error::BadRef {
                    name: name.to_owned(),
                    path,
                });
        }
    }
}

/// The branch `HEAD` names (`refs/heads/…`), or `master` when `HEAD` is detached, as Nix says.
fn default_ref(dirs: &GitDirs) -> String {
    let head = read_small(&dirs.git_dir.join("HEAD")).ok().flatten();
    head.and_then(|bytes| {
        let text = String::from_utf8_lossy(&bytes);
        text.trim()
            .strip_prefix("ref:")
            .map(|t| t.trim().to_owned())
    })
    .unwrap_or_else(|| "master".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Commits and tags

fn gix_kind(algorithm: Algorithm) -> gix_hash::Kind {
    match algorithm {
        Algorithm::Sha256 => gix_hash::Kind::Sha256,
        _ => gix_hash::Kind::Sha1,
    }
}

fn to_hash(algorithm: Algorithm, id: &gix_hash::oid) -> Result<Hash, Error> {
    Hash::from_bytes(algorithm, id.as_bytes()).map_err(|_| Error::UnknownRevision(id.to_string()))
}

/// Follows tags to a commit or a tree: the commit (if any) and the tree.
fn peel(source: &mut Repository, id: &Hash) -> Result<(Option<Hash>, Hash), Error> {
    let algorithm = source.algorithm();
    let mut id = *id;
    for _ in 0..32 {
        let (kind, body) = read_verified(source, &id, MAX_COMMIT_SIZE)?;
        let bad = |reason: String| Error::BadObject { kind, id, reason };
        match kind {
            ObjectKind::Tree => return Ok((None, id)),
            ObjectKind::Commit => {
                let commit = gix_object::CommitRef::from_bytes(&body, gix_kind(algorithm))
                    .map_err(|e| bad(e.to_string()))?;
                return Ok((Some(id), to_hash(algorithm, &commit.tree())?));
            }
            ObjectKind::Tag => {
                let tag = gix_object::TagRef::from_bytes(&body, gix_kind(algorithm))
                    .map_err(|e| bad(e.to_string()))?;
                id = to_hash(algorithm, &tag.target())?;
            }
            kind => return Err(Error::NoTree { id, kind }),
        }
    }
    Err(Error::BadObject {
        kind: ObjectKind::Tag,
        id,
        reason: "tags nested more than 32 deep".to_owned(),
    })
}

fn read_commit(source: &mut Repository, id: &Hash) -> Result<Vec<u8>, Error> {
    let (kind, body) = read_verified(source, id, MAX_COMMIT_SIZE)?;
    if kind != ObjectKind::Commit {
        return Err(Error::BadObject {
            kind,
            id: *id,
            reason: "expected a commit".to_owned(),
        });
    }
    Ok(body)
}

/// The committer time of commit `id` (libgit2's `git_commit_time`).
fn commit_time(source: &mut Repository, id: &Hash) -> Result<i64, Error> {
    let body = read_commit(source, id)?;
    let commit =
        gix_object::CommitRef::from_bytes(&body, gix_kind(source.algorithm())).map_err(|e| {
            Error::BadObject {
                kind: ObjectKind::Commit,
                id: *id,
                reason: e.to_string(),
            }
        })?;
    let time = commit.time().map_err(|e| Error::BadObject {
        kind: ObjectKind::Commit,
        id: *id,
        reason: e.to_string(),
    })?;
    Ok(time.seconds)
}

/// How many commits are reachable from `start`, itself included.
fn count_commits(source: &mut Repository, start: &Hash) -> Result<u64, Error> {
    let algorithm = source.algorithm();
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut queue = VecDeque::new();
    seen.insert(*start);
    queue.push_back(*start);
    while let Some(id) = queue.pop_front() {
        let body = read_commit(source, &id)?;
        for token in gix_object::CommitRefIter::from_bytes(&body, gix_kind(algorithm)) {
            let token = token.map_err(|e| Error::BadObject {
                kind: ObjectKind::Commit,
                id,
                reason: e.to_string(),
            })?;
            match token {
                gix_object::commit::ref_iter::Token::Tree { .. } => {}
                gix_object::commit::ref_iter::Token::Parent { id: parent } => {
                    let parent = to_hash(algorithm, &parent)?;
                    if seen.insert(parent) {
                        queue.push_back(parent);
                    }
                }
                _ => break,
            }
        }
    }
    Ok(seen.len() as u64)
}

// ---------------------------------------------------------------------------------------------
// The tree walk: submodules and export-ignore

struct TreeWalker<'f> {
    fetch: &'f Fetch,
    /// Set when the sink checks blob ids itself ([`Hooks::deferred_blob`]).
    deferred: Option<&'f Cell<Option<Hash>>>,
    /// Set once the tree Nix sees differs from the raw tree.
    changed: &'f mut bool,
    top_commit: Option<Hash>,
}

impl TreeWalker<'_> {
    fn walk(
        &mut self,
        dirs: &GitDirs,
        source: &mut Repository,
        tree: &Hash,
        commit: Option<&Hash>,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        let _ = self.top_commit;
        let modules = if self.fetch.submodules {
            match commit {
                Some(_) => gitmodules(source, tree)?,
                None => HashMap::new(),
            }
        } else {
            HashMap::new()
        };
        let mut filter = AttributeFilter::default();
        let mut failure: Option<Error> = None;
        let mut changed = false;
        let fetch = self.fetch;
        let deferred = self.deferred;
        let mut include = |path: &[u8], name: &[u8], id: &Hash, sink: &mut dyn Sink| {
            changed = true;
            let path_text = String::from_utf8_lossy(path).into_owned();
            let Some(module) = modules.get(&path_text).filter(|_| fetch.submodules) else {
                return empty_dir(sink, name, path);
            };
            let dir = dirs.common.join("modules").join(module);
            let result = (|| -> Result<(), Error> {
                if !dir.join("objects").is_dir() {
                    return Err(Error::MissingSubmodule {
                        name: module.clone(),
                        path: path_text.clone(),
                        dir: dir.clone(),
                    });
                }
                let sub_dirs = locate_dirs(&dir)?;
                let mut sub_source = Repository::from_objects_dir(sub_dirs.objects.clone())?;
                let (sub_commit, sub_tree) = peel(&mut sub_source, id)?;
                let mut renamed = Rename {
                    inner: sink,
                    name,
                    depth: 0,
                };
                let mut changed_inner = false;
                let mut inner = TreeWalker {
                    fetch,
                    deferred,
                    changed: &mut changed_inner,
                    top_commit: sub_commit,
                };
                inner.walk(
                    &sub_dirs,
                    &mut sub_source,
                    &sub_tree,
                    sub_commit.as_ref(),
                    &mut renamed,
                )
            })();
            result.map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                events::Error::Sink {
                    path: format!("/{path_text}"),
                    source: SinkError::Unsupported(message),
                }
            })
        };
        let hooks = Hooks {
            deferred_blob: self.deferred,
            submodules: Submodules::Include(&mut include),
            filter: if self.fetch.export_ignore {
                Some(&mut filter)
            } else {
                None
            },
        };
        let result = events::to_events_with(
            tree,
            Mode::Directory,
            source,
            sink,
            &self.fetch.limits,
            hooks,
        );
        if changed || filter.ignored {
            *self.changed = true;
        }
        match (result, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }
}

fn empty_dir(sink: &mut dyn Sink, name: &[u8], path: &[u8]) -> Result<(), events::Error> {
    let err = |source| events::Error::Sink {
        path: format!("/{}", String::from_utf8_lossy(path)),
        source,
    };
    sink.event(Event::DirectoryStart { name: Some(name) })
        .map_err(err)?;
    sink.event(Event::DirectoryEnd).map_err(err)
}

/// Renames the root directory of a stream (a submodule's tree becomes an entry).
struct Rename<'a> {
    inner: &'a mut dyn Sink,
    name: &'a [u8],
    depth: u64,
}

impl Sink for Rename<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { name: None } if self.depth == 0 => {
                self.depth = 1;
                self.inner.event(Event::DirectoryStart {
                    name: Some(self.name),
                })
            }
            Event::DirectoryStart { .. } => {
                self.depth += 1;
                self.inner.event(event)
            }
            Event::DirectoryEnd => {
                self.depth = self.depth.saturating_sub(1);
                self.inner.event(event)
            }
            other => self.inner.event(other),
        }
    }
}

/// The submodules `.gitmodules` of `tree` names: path → name.
fn gitmodules(source: &mut Repository, tree: &Hash) -> Result<HashMap<String, String>, Error> {
    let algorithm = source.algorithm();
    let (_, body) = read_verified(source, tree, u64::MAX >> 1)?;
    let mut id = None;
    for entry in crate::git::TreeRefIter::new(&body, algorithm) {
        let entry = entry.map_err(|e| Error::BadObject {
            kind: ObjectKind::Tree,
            id: *tree,
            reason: e.to_string(),
        })?;
        if entry.name == b".gitmodules" && entry.known_mode() == Some(Mode::File) {
            id = Hash::from_bytes(algorithm, entry.id).ok();
        }
    }
    let Some(id) = id else {
        return Ok(HashMap::new());
    };
    let (_, text) = read_verified(source, &id, MAX_ATTRIBUTES_SIZE)?;
    let text = String::from_utf8_lossy(&text);
    let mut map = HashMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            section = rest
                .strip_prefix("submodule")
                .and_then(|r| r.trim().strip_prefix('"'))
                .and_then(|r| r.split_once('"'))
                .map(|(name, _)| name.to_owned());
            continue;
        }
        let Some(name) = &section else { continue };
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("path")
        {
            let value = value.trim().trim_matches('"').trim_end_matches('/');
            map.insert(value.to_owned(), name.clone());
        }
    }
    Ok(map)
}

/// export-ignore from the `.gitattributes` files of the tree, as `git archive` reads them.
#[derive(Default)]
struct AttributeFilter {
    /// One frame per directory entered: its path and its export-ignore lines.
    frames: Vec<(Vec<u8>, Vec<AttrLine>)>,
    ignored: bool,
}

#[derive(Debug)]
struct AttrLine {
    pattern: Vec<u8>,
    /// The pattern holds a `/` (other than at its end): matched against the path relative to
    /// the attributes file's directory; else against the base name.
    anchored: bool,
    must_be_dir: bool,
    /// `true`: set; `false`: unset, unspecified or given a value.
    set: bool,
}

fn parse_attributes(text: &[u8]) -> Vec<AttrLine> {
    let mut lines = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let Some(pattern) = fields.next() else {
            continue;
        };
        if pattern.starts_with(b"#") || pattern.starts_with(b"!") || pattern.starts_with(b"[attr]")
        {
            continue;
        }
        let mut state = None;
        for attr in fields {
            match attr {
                b"export-ignore" => state = Some(true),
                b"-export-ignore" | b"!export-ignore" => state = Some(false),
                a if a.starts_with(b"export-ignore=") => state = Some(false),
                _ => {}
            }
        }
        let Some(set) = state else { continue };
        let mut pattern = pattern.to_vec();
        let must_be_dir = pattern.len() > 1 && pattern.ends_with(b"/");
        if must_be_dir {
            pattern.pop();
        }
        let anchored = pattern.contains(&b'/');
        if pattern.starts_with(b"/") {
            pattern.remove(0);
        }
        lines.push(AttrLine {
            pattern,
            anchored,
            must_be_dir,
            set,
        });
    }
    lines
}

impl Filter for AttributeFilter {
    fn enter(
        &mut self,
        dir: &[u8],
        attributes: Option<&Hash>,
        source: &mut dyn ObjectSource,
    ) -> Result<(), events::Error> {
        let lines = match attributes {
            Some(id) => {
                let (_, text) = read_verified(source, id, MAX_ATTRIBUTES_SIZE).map_err(|e| {
                    events::Error::Object {
                        path: format!("/{}/.gitattributes", String::from_utf8_lossy(dir)),
                        source: Box::new(e),
                    }
                })?;
                parse_attributes(&text)
            }
            None => Vec::new(),
        };
        self.frames.push((dir.to_vec(), lines));
        Ok(())
    }

    fn keep(&mut self, path: &[u8], is_dir: bool) -> bool {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        for (dir, lines) in self.frames.iter().rev() {
            let relative = if dir.is_empty() {
                path
            } else {
                path.get(dir.len() + 1..).unwrap_or_default()
            };
            for line in lines.iter().rev() {
                if line.must_be_dir && !is_dir {
                    continue;
                }
                let subject = if line.anchored { relative } else { base };
                if wildmatch(&line.pattern, subject) {
                    if line.set {
                        self.ignored = true;
                    }
                    return !line.set;
                }
            }
        }
        true
    }

    fn leave(&mut self) {
        self.frames.pop();
    }
}

/// git's wildmatch with `WM_PATHNAME`: `*` and `?` do not match `/`, `**` between slashes
/// matches any number of directories, `[…]` classes (with `!`/`^` negation and ranges),
/// `\` escapes.
fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            if let Some(after) = rest.strip_prefix(b"*") {
                // `**`: at the start or after `/`, and followed by `/` or the end.
                let after = after.strip_prefix(b"*").unwrap_or(after);
                if let Some(tail) = after.strip_prefix(b"/") {
                    // `**/`: zero or more leading directories.
                    if wildmatch(tail, text) {
                        return true;
                    }
                    return text
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'/')
                        .any(|(i, _)| wildmatch(tail, text.get(i + 1..).unwrap_or_default()));
                }
                if after.is_empty() {
                    return true;
                }
                // `**` elsewhere acts like `*` across slashes.
                return (0..=text.len())
                    .any(|i| wildmatch(after, text.get(i..).unwrap_or_default()));
            }
            for i in 0..=text.len() {
                if wildmatch(rest, text.get(i..).unwrap_or_default()) {
                    return true;
                }
                if text.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        Some((b'?', rest)) => match text.split_first() {
            Some((&c, t)) if c != b'/' => wildmatch(rest, t),
            _ => false,
        },
        Some((b'[', rest)) => {
            let Some((&c, t)) = text.split_first() else {
                return false;
            };
            if c == b'/' {
                return false;
            }
            let (negate, mut class) = match rest.first() {
                Some(b'!' | b'^') => (true, rest.get(1..).unwrap_or_default()),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                let Some((&p, more)) = class.split_first() else {
                    return false; // unterminated class matches nothing
                };
                if p == b']' && !first {
                    class = more;
                    break;
                }
                first = false;
                if let (Some(b'-'), Some(&hi)) = (more.first(), more.get(1))
                    && hi != b']'
                {
                    if (p..=hi).contains(&c) {
                        matched = true;
                    }
                    class = more.get(2..).unwrap_or_default();
                } else {
                    if p == c {
                        matched = true;
                    }
                    class = more;
                }
            }
            matched != negate && wildmatch(class, t)
        }
        Some((b'\\', rest)) if !rest.is_empty() => match (rest.split_first(), text.split_first()) {
            (Some((p, prest)), Some((c, t))) if p == c => wildmatch(prest, t),
            _ => false,
        },
        Some((&p, rest)) => match text.split_first() {
            Some((&c, t)) if c == p => wildmatch(rest, t),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildmatch_follows_git() {
        // Cases from git's t/t3070-wildmatch.sh (with WM_PATHNAME, "pathmatch" column).
        let yes = |p: &str, t: &str| assert!(wildmatch(p.as_bytes(), t.as_bytes()), "{p} {t}");
        let no = |p: &str, t: &str| assert!(!wildmatch(p.as_bytes(), t.as_bytes()), "{p} {t}");
        yes("foo", "foo");
        no("foo", "bar");
        yes("???", "foo");
        yes("*", "foo");
        yes("f*", "foo");
        no("*f", "foo");
        yes("*foo*", "foo");
        yes("foo/*", "foo/bar");
        no("foo/*", "foo/bar/baz");
        yes("**/foo", "foo");
        yes("**/foo", "a/b/foo");
        yes("foo/**", "foo/bar/baz");
        yes("foo/**/bar", "foo/bar");
        yes("foo/**/bar", "foo/a/b/bar");
        no("foo*bar", "foo/baz/bar");
        yes("[a-c]x", "bx");
        no("[!a-c]x", "bx");
        yes("[]]", "]");
        yes("\\*", "*");
        no("\\*", "a");
        no("a?b", "a/b");
    }

    #[test]
    fn attribute_lines() {
        let lines = parse_attributes(
            b"# comment\n/ignored export-ignore\n*.log export-ignore\nkeep.log -export-ignore\n\
              dir/ export-ignore\nv export-ignore=1\n!neg export-ignore\n",
        );
        let summary: Vec<_> = lines
            .iter()
            .map(|l| (l.pattern.as_slice(), l.anchored, l.must_be_dir, l.set))
            .collect();
        assert_eq!(
            summary,
            [
                (&b"ignored"[..], true, false, true),
                (b"*.log", false, false, true),
                (b"keep.log", false, false, false),
                (b"dir", false, true, true),
                (b"v", false, false, false),
            ]
        );
    }
}
