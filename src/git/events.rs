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
//!   any other mode give [`RestoreError::UnsupportedMode`] — any other octal number of at most six
//!   digits, that is: anything else is no mode at all (git's tree parser too takes octal digits
//!   only) and makes the tree malformed ([`RestoreError::BadTree`]);
//! - symlink targets must be ones a file system can hold — not empty, without NUL bytes, at most
//!   [`Limits::max_target_len`] bytes — else [`RestoreError::BadSymlinkTarget`];
//! - depth, names, targets, entry counts and total size are bounded by [`Limits`], the tree is
//!   walked with an explicit stack (no recursion), and blobs are streamed, never held whole.
//!
//! Trees are parsed as they stream, a buffer at a time, so a malformed tree fails at its first
//! bad byte, before the rest of it is read and before its hash can be checked (the error names
//! the tree's id either way); a tree whose header announces more bytes than
//! [`Limits::max_entries_per_directory`] canonical entries can take is refused unread. Of each
//! open tree only its parsed entries (name, kind, raw id) are kept, never its body.
//!
//! Git trees form a DAG: a handful of objects can describe an exponentially large tree (a tree
//! naming one subtree twice, nested). Memory stays bounded by the limits, and
//! [`Limits::max_entries_total`] bounds the entries of the expanded tree, hence the work:
//! [`Limits::max_total_size`] alone would not, as empty files and directories count nothing
//! towards it.
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
//! use nix_ingest::git::events;
//! use nix_ingest::{nar, Limits};
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
//! let restored = events::to_nar(&id, Mode::Directory, &mut objects, Vec::new(), &Limits::default())?;
//! assert_eq!(restored, nar_writer.finish()?);
//! # Ok(()) }
//! ```

use std::cmp::Ordering;
use std::io::{Read, Write};

use crate::buffer::ReadBuffer;
use crate::event::{Event, Sink, SinkError};
use crate::git::source::{self, ObjectSource, Verifier, hex, read_error};
use crate::git::{Mode, ObjectKind, tree_order};
use crate::hash::{Algorithm, Hash};
use crate::limits::Limits;
use crate::nar::NarWriter;

/// Why a git tree could not be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// An object could not be read, or its bytes do not match its id (the source error names
    /// the object).
    #[error("at '{path}'")]
    Object {
        /// Where in the tree the object sits (`/` for the root).
        path: String,
        /// The cause, naming the object (boxed to keep the error small).
        source: Box<source::ObjectError>,
    },
    /// A tree entry points to a blob where a tree is needed, or the other way round.
    #[error("at '{path}': git object {} is a {found}, expected a {expected}", hex(.id))]
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
    /// A symlink whose blob is no valid target: empty, holding a NUL byte, or longer than
    /// [`Limits::max_target_len`] (which is checked from the blob's header, before reading it).
    #[error("at '{path}': symlink blob {} {problem}", hex(.id))]
    BadSymlinkTarget {
        /// The symlink's path.
        path: String,
        /// The blob.
        id: Hash,
        /// What is wrong with it.
        problem: TargetProblem,
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
    #[error("at '{path}'")]
    Sink {
        /// Where.
        path: String,
        /// The sink's error.
        source: SinkError,
    },
}

/// Why a blob cannot be a symlink's target ([`RestoreError::BadSymlinkTarget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetProblem {
    /// The blob is empty: no file system stores an empty symlink target.
    Empty,
    /// The blob holds a NUL byte, which ends a path on every file system.
    Nul {
        /// Where the first NUL is in the blob.
        offset: u64,
    },
    /// The blob is longer than [`Limits::max_target_len`].
    TooLong {
        /// The blob's size, from its header.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl std::fmt::Display for TargetProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetProblem::Empty => f.write_str("is empty, which no symlink target may be"),
            TargetProblem::Nul { offset } => write!(
                f,
                "holds a NUL byte at {offset}, which no symlink target may hold"
            ),
            TargetProblem::TooLong { len, max } => write!(
                f,
                "has {len} bytes, more than the symlink target limit of {max}"
            ),
        }
    }
}

/// A tree entry's kind, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File {
        executable: bool,
    },
    Symlink,
    Directory,
    /// A gitlink (mode `160000`), taken only when [`Hooks::submodules`] is not `Refuse`.
    Submodule,
}

fn parse_mode(mode: &[u8], gitlinks: bool) -> Option<EntryKind> {
    if gitlinks && mode == crate::git::SUBMODULE_MODE {
        return Some(EntryKind::Submodule);
    }
    Some(match Mode::from_bytes(mode)? {
        Mode::File => EntryKind::File { executable: false },
        Mode::Executable => EntryKind::File { executable: true },
        Mode::Symlink => EntryKind::Symlink,
        Mode::Directory => EntryKind::Directory,
    })
}

/// A parsed tree entry; its name and raw id are in its frame's arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: EntryKind,
    /// The name's length (at most `max_name_len`, and `u32::MAX`).
    name_len: u32,
    /// The name at `arena[start..start + name_len]`, the raw id right after it.
    start: usize,
    /// Where the name starts in the tree body, for errors.
    offset: usize,
}

/// A directory being emitted: its parsed entries in NAR order, and the next to emit.
#[derive(Debug)]
struct Frame {
    /// The tree's id.
    tree: Hash,
    /// Each entry's name followed by its raw id, in git order.
    arena: Vec<u8>,
    entries: Vec<Entry>,
    next: usize,
    /// Length of `path` before this directory's name was appended.
    path_len: usize,
}

impl Frame {
    fn name(&self, entry: &Entry) -> &[u8] {
        name_in(&self.arena, entry)
    }

    fn raw_id(&self, entry: &Entry, hash_len: usize) -> &[u8] {
        let start = entry.start.saturating_add(entry.name_len as usize);
        self.arena
            .get(start..start.saturating_add(hash_len))
            .unwrap_or_default()
    }
}

fn name_in<'a>(arena: &'a [u8], entry: &Entry) -> &'a [u8] {
    let end = entry.start.saturating_add(entry.name_len as usize);
    arena.get(entry.start..end).unwrap_or_default()
}

/// What is wrong with a tree, as [`TreeParser`] finds it; [`tree_error`] adds the path and id.
#[derive(Debug)]
enum Bad {
    Syntax { offset: usize, reason: &'static str },
    Mode { mode: Vec<u8>, name: Vec<u8> },
    NameTooLong,
    TooManyEntries,
    TooManyInTotal,
}

/// Where [`TreeParser`] is within an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Mode,
    Name,
    Id,
}

/// The longest mode git writes (`100644`). Git's own tree parser takes octal digits only.
const MAX_MODE_LEN: usize = 6;

/// Parses a tree body as it streams — `<mode> <name>\0<raw id>`, entry after entry — checking
/// each entry as soon as its bytes arrive and keeping only names, kinds and ids.
#[derive(Debug)]
struct TreeParser {
    hash_len: usize,
    max_name_len: usize,
    max_entries: u64,
    /// How many entries the whole restore may still take.
    budget: u64,
    /// Whether gitlinks are entries ([`EntryKind::Submodule`]) rather than unsupported modes.
    gitlinks: bool,
    field: Field,
    /// The body offset of the next byte.
    offset: usize,
    mode: [u8; MAX_MODE_LEN],
    mode_len: usize,
    /// The current entry: where its name starts in the body and in the arena, its name's
    /// length once complete, its kind, and how many id bytes arrived.
    name_offset: usize,
    start: usize,
    name_len: usize,
    kind: EntryKind,
    id_len: usize,
    arena: Vec<u8>,
    entries: Vec<Entry>,
}

impl TreeParser {
    fn new(hash_len: usize, limits: &Limits, budget: u64, gitlinks: bool) -> Self {
        TreeParser {
            hash_len,
            gitlinks,
            max_name_len: limits.max_name_len.min(u32::MAX as usize),
            max_entries: limits.max_entries_per_directory,
            budget,
            field: Field::Mode,
            offset: 0,
            mode: [0; MAX_MODE_LEN],
            mode_len: 0,
            name_offset: 0,
            start: 0,
            name_len: 0,
            kind: EntryKind::Directory,
            id_len: 0,
            arena: Vec::new(),
            entries: Vec::new(),
        }
    }

    fn push(&mut self, mut data: &[u8]) -> Result<(), Bad> {
        while let Some(&byte) = data.first() {
            let used = match self.field {
                Field::Mode => {
                    if byte == b' ' {
                        self.field = Field::Name;
                        self.name_offset = self.offset.saturating_add(1);
                        self.start = self.arena.len();
                    } else if byte.is_ascii_digit() && byte < b'8' && self.mode_len < MAX_MODE_LEN {
                        if let Some(slot) = self.mode.get_mut(self.mode_len) {
                            *slot = byte;
                        }
                        self.mode_len += 1;
                    } else {
                        return Err(Bad::Syntax {
                            offset: self.offset,
                            reason: "malformed mode (not an octal number of at most 6 digits)",
                        });
                    }
                    1
                }
                Field::Name => {
                    let len = data
                        .iter()
                        .position(|&b| b == 0 || b == b'/')
                        .unwrap_or(data.len());
                    let (name, rest) = data.split_at(len);
                    if self
                        .arena
                        .len()
                        .saturating_sub(self.start)
                        .saturating_add(len)
                        > self.max_name_len
                    {
                        return Err(Bad::NameTooLong);
                    }
                    self.arena.extend_from_slice(name);
                    match rest.first() {
                        None => len,
                        Some(0) => {
                            self.end_name()?;
                            len.saturating_add(1)
                        }
                        Some(_) => {
                            return Err(Bad::Syntax {
                                offset: self.name_offset,
                                reason: "invalid entry name",
                            });
                        }
                    }
                }
                Field::Id => {
                    let len = self.hash_len.saturating_sub(self.id_len).min(data.len());
                    self.arena
                        .extend_from_slice(data.get(..len).unwrap_or_default());
                    self.id_len = self.id_len.saturating_add(len);
                    if self.id_len == self.hash_len {
                        self.entries.push(Entry {
                            kind: self.kind,
                            name_len: u32::try_from(self.name_len).unwrap_or(u32::MAX),
                            start: self.start,
                            offset: self.name_offset,
                        });
                        self.field = Field::Mode;
                        self.mode_len = 0;
                    }
                    len
                }
            };
            self.offset = self.offset.saturating_add(used);
            data = data.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// Checks an entry whose name just ended: mode, name, git order and counts.
    fn end_name(&mut self) -> Result<(), Bad> {
        let name = self.arena.get(self.start..).unwrap_or_default();
        let mode = self.mode.get(..self.mode_len).unwrap_or_default();
        let kind = parse_mode(mode, self.gitlinks).ok_or_else(|| Bad::Mode {
            mode: mode.to_vec(),
            name: name.to_vec(),
        })?;
        if name.is_empty() || name == b"." || name == b".." {
            return Err(Bad::Syntax {
                offset: self.name_offset,
                reason: "invalid entry name",
            });
        }
        if let Some(prev) = self.entries.last() {
            let order = tree_order(
                name_in(&self.arena, prev),
                prev.kind == EntryKind::Directory,
                name,
                kind == EntryKind::Directory,
            );
            if order != Ordering::Less {
                return Err(Bad::Syntax {
                    // The entry starts at its mode, a space before its name.
                    offset: self.name_offset.saturating_sub(self.mode_len + 1),
                    reason: "entries not in strictly increasing git order",
                });
            }
        }
        let count = self.entries.len() as u64;
        if count >= self.max_entries {
            return Err(Bad::TooManyEntries);
        }
        if count >= self.budget {
            return Err(Bad::TooManyInTotal);
        }
        self.name_len = name.len();
        self.kind = kind;
        self.field = Field::Id;
        self.id_len = 0;
        Ok(())
    }

    /// Checks that the body ended between entries, and sorts the entries into NAR order.
    fn finish(self) -> Result<(Vec<u8>, Vec<Entry>), Bad> {
        let (offset, reason) = match self.field {
            Field::Mode if self.mode_len == 0 => (0, ""),
            Field::Mode => (
                self.offset.saturating_sub(self.mode_len),
                "truncated entry (no space after its mode)",
            ),
            Field::Name => (self.name_offset, "entry name not terminated"),
            Field::Id => (
                self.offset.saturating_sub(self.id_len),
                "truncated object id",
            ),
        };
        if !reason.is_empty() {
            return Err(Bad::Syntax { offset, reason });
        }
        let TreeParser {
            arena, mut entries, ..
        } = self;
        // NAR order: plain bytes. A file and a directory of the same name are distinct in git
        // order but collide here.
        entries.sort_by(|a, b| name_in(&arena, a).cmp(name_in(&arena, b)));
        for pair in entries.windows(2) {
            if let [a, b] = pair
                && name_in(&arena, a) == name_in(&arena, b)
            {
                return Err(Bad::Syntax {
                    offset: a.offset.max(b.offset),
                    reason: "duplicate entry name",
                });
            }
        }
        Ok((arena, entries))
    }
}

fn tree_error(path: &[u8], tree: &Hash, limits: &Limits, bad: Bad) -> RestoreError {
    match bad {
        Bad::Syntax { offset, reason } => RestoreError::BadTree {
            path: path_string(path),
            tree: *tree,
            offset,
            reason,
        },
        Bad::Mode { mode, name } => {
            let mut entry_path = path.to_vec();
            push_name(&mut entry_path, &name);
            RestoreError::UnsupportedMode {
                path: path_string(&entry_path),
                tree: *tree,
                mode: String::from_utf8_lossy(&mode).into_owned(),
            }
        }
        // The name is not kept whole, so the error names the directory holding it.
        Bad::NameTooLong => limit_err(path, "name length", limits.max_name_len as u64),
        Bad::TooManyEntries => limit_err(
            path,
            "entries per directory",
            limits.max_entries_per_directory,
        ),
        Bad::TooManyInTotal => limit_err(path, "total entries", limits.max_entries_total),
    }
}

/// What a walk does with a gitlink (mode `160000`, a submodule's commit).
pub(crate) enum Submodules<'h> {
    /// Refuse it: [`RestoreError::UnsupportedMode`].
    Refuse,
    /// Emit its tree: called with the entry's path (relative, `/`-separated), name and
    /// commit id, it sends the submodule's events (a directory of that name) to the sink.
    #[allow(clippy::type_complexity)]
    // Built by the fetcher (feature `gix`) only.
    #[cfg_attr(not(feature = "gix"), allow(dead_code))]
    Include(&'h mut dyn FnMut(&[u8], &[u8], &Hash, &mut dyn Sink) -> Result<(), RestoreError>),
}

/// Which entries a walk leaves out (Nix's `exportIgnore`).
pub(crate) trait Filter {
    /// A directory is entered (the root first, with an empty path); `attributes` is the id of
    /// its `.gitattributes` blob, if it has one.
    fn enter(
        &mut self,
        dir: &[u8],
        attributes: Option<&Hash>,
        source: &mut dyn ObjectSource,
    ) -> Result<(), RestoreError>;
    /// Whether the entry at `path` (relative, `/`-separated) stays.
    fn keep(&mut self, path: &[u8], is_dir: bool) -> bool;
    /// The directory last entered is left.
    fn leave(&mut self);
}

/// Hooks that make a walk show the tree Nix's git fetcher sees rather than the raw tree.
pub(crate) struct Hooks<'h> {
    pub(crate) submodules: Submodules<'h>,
    pub(crate) filter: Option<&'h mut dyn Filter>,
    /// When set, regular files' blobs are not checked here: the id of each is put in the cell
    /// just before its [`Event::FileStart`], and the sink must check the bytes it is sent.
    pub(crate) deferred_blob: Option<&'h std::cell::Cell<Option<Hash>>>,
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks {
            submodules: Submodules::Refuse,
            filter: None,
            deferred_blob: None,
        }
    }
}

/// `&mut S` for an unsized `S`, as a `dyn Sink`.
struct SinkRef<'a, S: ?Sized>(&'a mut S);

impl<S: Sink + ?Sized> Sink for SinkRef<'_, S> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.0.event(event)
    }
}

/// `&mut O` for an unsized `O`, as a `dyn ObjectSource`.
struct SourceRef<'a, O: ?Sized>(&'a mut O);

impl<O: ObjectSource + ?Sized> ObjectSource for SourceRef<'_, O> {
    fn read(&mut self, id: &Hash) -> Result<source::Object<'_>, source::ObjectError> {
        self.0.read(id)
    }
}

struct Walk<'s, 'h, O: ?Sized, S: ?Sized> {
    source: &'s mut O,
    sink: &'s mut S,
    hooks: Hooks<'h>,
    limits: Limits,
    algorithm: Algorithm,
    path: Vec<u8>,
    total: u64,
    /// Entries read so far, against [`Limits::max_entries_total`].
    entries: u64,
    buf: ReadBuffer,
}

impl<O: ObjectSource + ?Sized, S: Sink + ?Sized> Walk<'_, '_, O, S> {
    fn path(&self) -> String {
        path_string(&self.path)
    }

    fn emit(&mut self, event: Event<'_>) -> Result<(), RestoreError> {
        self.sink.event(event).map_err(|source| RestoreError::Sink {
            path: path_string(&self.path),
            source,
        })
    }

    fn object_error(&self, source: source::ObjectError) -> RestoreError {
        object_err(&self.path, source)
    }

    fn limit(&self, what: &'static str, limit: u64) -> RestoreError {
        RestoreError::Limit {
            path: self.path(),
            what,
            limit,
        }
    }

    fn add_total(&mut self, size: u64) -> Result<(), RestoreError> {
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_size {
            return Err(self.limit("total size", self.limits.max_total_size));
        }
        Ok(())
    }

    /// Reads, verifies and parses the tree `id` into a frame (entries in NAR order), parsing
    /// as it streams so that a malformed body fails within a buffer of its first bad byte.
    /// Tells the source that the entries of `frame` are read next, in this order (unless a
    /// filter may skip some: then nothing is announced, so nothing is read ahead in vain).
    fn announce(&mut self, frame: &Frame) {
        if self.hooks.filter.is_some() {
            return;
        }
        let hash_len = self.algorithm.len();
        let files: Vec<Hash> = frame
            .entries
            .iter()
            .filter(|e| !matches!(e.kind, EntryKind::Submodule))
            .filter_map(|e| Hash::from_bytes(self.algorithm, frame.raw_id(e, hash_len)).ok())
            .collect();
        if !files.is_empty() {
            self.source.prefetch(&files);
        }
    }

    fn read_tree(&mut self, id: &Hash) -> Result<Frame, RestoreError> {
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
        let budget = self.limits.max_entries_total.saturating_sub(self.entries);
        let gitlinks = !matches!(self.hooks.submodules, Submodules::Refuse);
        let mut parser = TreeParser::new(hash_len, &self.limits, budget, gitlinks);
        let object = open_object(self.source, &self.path, id, ObjectKind::Tree)?;
        let size = object.size;
        if size > max_size {
            return Err(limit_err(&self.path, "tree size", max_size));
        }
        let mut verifier = Verifier::new(id, ObjectKind::Tree, size);
        let mut body = object.body;
        let mut seen: u64 = 0;
        loop {
            // Never ask for more than one byte past the announced size.
            let want = usize::try_from(size.saturating_sub(seen).saturating_add(1))
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let buf = self.buf.get_mut(..want).unwrap_or_default();
            let n = read_body(&mut body, buf, id, size, &mut seen, &self.path)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            verifier.update(chunk);
            parser
                .push(chunk)
                .map_err(|bad| tree_error(&self.path, id, &self.limits, bad))?;
        }
        drop(body);
        verifier
            .finish(seen)
            .map_err(|e| object_err(&self.path, e))?;
        let (arena, entries) = parser
            .finish()
            .map_err(|bad| tree_error(&self.path, id, &self.limits, bad))?;
        self.entries = self.entries.saturating_add(entries.len() as u64);
        Ok(Frame {
            tree: *id,
            arena,
            entries,
            next: 0,
            path_len: 0,
        })
    }

    /// Streams the blob `id` as a file.
    fn file(
        &mut self,
        name: Option<&[u8]>,
        id: &Hash,
        executable: bool,
    ) -> Result<(), RestoreError> {
        let object = open_object(self.source, &self.path, id, ObjectKind::Blob)?;
        let size = object.size;
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_size {
            return Err(RestoreError::Limit {
                path: path_string(&self.path),
                what: "total size",
                limit: self.limits.max_total_size,
            });
        }
        let at = |path: &[u8], source| RestoreError::Sink {
            path: path_string(path),
            source,
        };
        // A deferring sink checks the blob's id itself, from the bytes it is sent.
        let deferred = self.hooks.deferred_blob.map(|cell| cell.set(Some(*id)));
        self.sink
            .event(Event::FileStart {
                name,
                executable,
                size,
            })
            .map_err(|e| at(&self.path, e))?;
        let mut verifier = deferred
            .is_none()
            .then(|| Verifier::new(id, ObjectKind::Blob, size));
        let mut body = object.body;
        let mut seen: u64 = 0;
        loop {
            let n = read_body(&mut body, &mut self.buf, id, size, &mut seen, &self.path)?;
            if n == 0 {
                break;
            }
            let chunk = self.buf.get(..n).unwrap_or_default();
            if let Some(verifier) = verifier.as_mut() {
                verifier.update(chunk);
            }
            self.sink
                .event(Event::FileData(chunk))
                .map_err(|e| at(&self.path, e))?;
        }
        drop(body);
        match verifier {
            Some(verifier) => verifier
                .finish(seen)
                .map_err(|e| object_err(&self.path, e))?,
            None if seen != size => {
                return Err(object_err(
                    &self.path,
                    source::ObjectError::SizeMismatch {
                        id: *id,
                        declared: size,
                        actual: seen,
                    },
                ));
            }
            None => {}
        }
        self.sink
            .event(Event::FileEnd)
            .map_err(|e| at(&self.path, e))
    }

    /// Reads the blob `id` whole as a symlink target, which must be one a file system can hold.
    fn symlink(&mut self, name: Option<&[u8]>, id: &Hash) -> Result<(), RestoreError> {
        let max = self.limits.max_target_len as u64;
        let bad_target = |path: &[u8], problem| RestoreError::BadSymlinkTarget {
            path: path_string(path),
            id: *id,
            problem,
        };
        let (kind, target) = source::read_verified(self.source, id, max).map_err(|e| match e {
            source::ObjectError::TooLarge { size, .. } if size > max => {
                bad_target(&self.path, TargetProblem::TooLong { len: size, max })
            }
            e => self.object_error(e),
        })?;
        if kind != ObjectKind::Blob {
            return Err(RestoreError::WrongKind {
                path: self.path(),
                id: *id,
                expected: ObjectKind::Blob,
                found: kind,
            });
        }
        if target.is_empty() {
            return Err(bad_target(&self.path, TargetProblem::Empty));
        }
        if let Some(offset) = target.iter().position(|&b| b == 0) {
            let offset = offset as u64;
            return Err(bad_target(&self.path, TargetProblem::Nul { offset }));
        }
        self.add_total(target.len() as u64)?;
        self.emit(Event::Symlink {
            name,
            target: &target,
        })
    }

    /// Tells the filter, if any, that the directory of `frame` (at `self.path`) is entered.
    fn enter(&mut self, frame: &Frame) -> Result<(), RestoreError> {
        let Some(filter) = self.hooks.filter.as_mut() else {
            return Ok(());
        };
        let attributes = frame
            .entries
            .iter()
            .find(|e| {
                matches!(e.kind, EntryKind::File { .. }) && frame.name(e) == b".gitattributes"
            })
            .and_then(|e| {
                Hash::from_bytes(self.algorithm, frame.raw_id(e, self.algorithm.len())).ok()
            });
        let dir = self.path.get(1..).unwrap_or_default();
        filter.enter(dir, attributes.as_ref(), &mut SourceRef(&mut *self.source))
    }

    /// Emits the gitlink `id` named `name` (at `self.path`) as the hooks say.
    fn submodule(&mut self, name: &[u8], id: &Hash) -> Result<(), RestoreError> {
        match &mut self.hooks.submodules {
            Submodules::Refuse => Err(RestoreError::UnsupportedMode {
                path: self.path(),
                tree: *id,
                mode: "160000".to_owned(),
            }),
            Submodules::Include(include) => {
                let path = self.path.get(1..).unwrap_or_default();
                include(path, name, id, &mut SinkRef(&mut *self.sink))
            }
        }
    }

    fn run(&mut self, root: &Hash, mode: Mode) -> Result<(), RestoreError> {
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
        self.announce(&frame);
        self.enter(&frame)?;
        self.emit(Event::DirectoryStart { name: None })?;
        let mut stack = vec![frame];
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.entries.get(top.next) else {
                let path_len = top.path_len;
                stack.pop();
                if let Some(filter) = self.hooks.filter.as_mut() {
                    filter.leave();
                }
                self.emit(Event::DirectoryEnd)?;
                self.path.truncate(path_len);
                continue;
            };
            top.next += 1;
            let entry = *entry;
            let name = top.name(&entry).to_vec();
            let id = Hash::from_bytes(self.algorithm, top.raw_id(&entry, self.algorithm.len()))
                .map_err(|_| RestoreError::BadTree {
                    path: self.path(),
                    tree: top.tree,
                    offset: entry.offset,
                    reason: "truncated object id",
                })?;
            let kind = entry.kind;
            let path_len = self.path.len();
            push_name(&mut self.path, &name);
            if let Some(filter) = self.hooks.filter.as_mut() {
                let is_dir = matches!(kind, EntryKind::Directory | EntryKind::Submodule);
                if !filter.keep(self.path.get(1..).unwrap_or_default(), is_dir) {
                    self.path.truncate(path_len);
                    continue;
                }
            }
            match kind {
                EntryKind::Submodule => {
                    self.submodule(&name, &id)?;
                    self.path.truncate(path_len);
                }
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
                    self.announce(&frame);
                    frame.path_len = path_len;
                    self.enter(&frame)?;
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

/// Opens the object `id` from `source`, which must be of `kind`; errors name `path`.
fn open_object<'s, O: ObjectSource + ?Sized>(
    source: &'s mut O,
    path: &[u8],
    id: &Hash,
    kind: ObjectKind,
) -> Result<source::Object<'s>, RestoreError> {
    let object = source.read(id).map_err(|e| object_err(path, e))?;
    if object.kind != kind {
        return Err(RestoreError::WrongKind {
            path: path_string(path),
            id: *id,
            expected: kind,
            found: object.kind,
        });
    }
    Ok(object)
}

/// One read of an object's body (retried when interrupted), counted into `seen`: more bytes
/// than the header announced is the object's error. `0` at the end of the body.
fn read_body(
    body: &mut dyn Read,
    buf: &mut [u8],
    id: &Hash,
    size: u64,
    seen: &mut u64,
    path: &[u8],
) -> Result<usize, RestoreError> {
    let n = loop {
        match body.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(object_err(path, read_error(id, e))),
        }
    };
    *seen = seen.saturating_add(n as u64);
    if *seen > size {
        return Err(object_err(
            path,
            source::ObjectError::SizeMismatch {
                id: *id,
                declared: size,
                actual: *seen,
            },
        ));
    }
    Ok(n)
}

fn object_err(path: &[u8], source: source::ObjectError) -> RestoreError {
    RestoreError::Object {
        path: path_string(path),
        source: Box::new(source),
    }
}

fn limit_err(path: &[u8], what: &'static str, limit: u64) -> RestoreError {
    RestoreError::Limit {
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
) -> Result<(), RestoreError>
where
    O: ObjectSource + ?Sized,
    S: Sink + ?Sized,
{
    to_events_with(root, mode, source, sink, limits, Hooks::default())
}

/// [`to_events`] with [`Hooks`].
pub(crate) fn to_events_with<O, S>(
    root: &Hash,
    mode: Mode,
    source: &mut O,
    sink: &mut S,
    limits: &Limits,
    hooks: Hooks<'_>,
) -> Result<(), RestoreError>
where
    O: ObjectSource + ?Sized,
    S: Sink + ?Sized,
{
    let mut walk = Walk {
        source,
        sink,
        hooks,
        limits: *limits,
        algorithm: root.algorithm(),
        path: Vec::new(),
        total: 0,
        entries: 0,
        buf: ReadBuffer::new(64 * 1024),
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
) -> Result<W, RestoreError>
where
    O: ObjectSource + ?Sized,
    W: Write,
{
    let mut nar = NarWriter::new(writer).max_depth(limits.max_nar_depth);
    to_events(root, mode, source, &mut nar, limits)?;
    nar.finish().map_err(|source| RestoreError::Sink {
        path: "/".to_owned(),
        source,
    })
}
