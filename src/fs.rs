//! The directory walk: a file system object on disk as a stream of [`Event`]s.
//!
//! This is the source side of Nix's `dumpPath` (what `nix hash path`, `nix store add` and
//! `nix-store --dump` read): [`dump`] visits a regular file, a symlink or a directory tree and
//! feeds it, in NAR order, to any [`Sink`] — a [git hasher](crate::git), a
//! [NAR writer](crate::nar::NarWriter), a [flat hasher](crate::flat) or several at once through
//! [`Tee`](crate::event::Tee).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::event::{OwnedEvent, Recorder};
//! use nix_ingest::fs;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("b"), "hi")?;
//! std::os::unix::fs::symlink("b", dir.path().join("a"))?;
//!
//! let mut rec = Recorder::default();
//! fs::dump(dir.path(), &mut rec, &nix_ingest::Settings::default())?;
//! assert_eq!(rec.events, [
//!     OwnedEvent::DirectoryStart { name: None },
//!     OwnedEvent::Symlink { name: Some(b"a".to_vec()), target: b"b".to_vec() },
//!     OwnedEvent::FileStart { name: Some(b"b".to_vec()), executable: false, size: 2 },
//!     OwnedEvent::FileData(b"hi".to_vec()),
//!     OwnedEvent::FileEnd,
//!     OwnedEvent::DirectoryEnd,
//! ]);
//! # Ok(()) }
//! ```
//!
//! # One walk, four strategies
//!
//! Every route from a directory on disk to a hash goes through this module, and only it touches
//! the file system: one set of system calls (open relative to the directory, `getdents64`,
//! `statx`, `readlink`), one lister that checks names and entry counts against the [`Limits`],
//! one place that reads a file (announced size checked), one git object hasher. The strategies
//! differ only in the order they visit entries and on how many threads:
//!
//! - **in order** ([`dump`]): NAR order on the calling thread, events to any sink;
//! - **in order, read ahead** (feature `parallel`): the same events, while other threads open
//!   and read the next files (and hash them as git blobs when git ids are asked for);
//! - **by tree** (feature `parallel`): git ids only, every directory a task on a thread pool,
//!   a tree's id computed as soon as its entries' ids are known;
//! - **by levels**: every entry `statx`ed, one level of directories at a time (on several
//!   threads with `parallel`), consulting what a previous walk knew, so that directories and
//!   files whose stat data is unchanged are neither listed nor read again.
//!
//! `Options` chooses the strategy from its settings. The hash cache is a layer over the walks
//! in order and by levels: it only decides, from stat data, which ids need not be computed
//! again, and keeps them in its file.
//!
//! # What it reads, as Nix does
//!
//! - Symlinks are never followed (the root is `lstat`ed; entries are typed by `readdir`, or by
//!   `lstat` where the file system does not say). A symlink's target is read as raw bytes.
//! - Names are raw bytes, not UTF-8; the entries of each directory are sorted by bytes.
//! - A regular file is *executable* when its owner-execute bit (`0o100`) is set; group- and
//!   other-execute bits do not count (Nix's `S_IXUSR`, git's `ce_permissions`).
//! - Sockets, FIFOs and devices cannot be stored: [`WalkErrorKind::UnsupportedType`], naming the
//!   path and the type.
//!
//! # Where it differs from Nix
//!
//! - **A file that changes size while it is read is an error**
//!   ([`WalkErrorKind::FileChanged`]). The size is taken from `fstat` on the opened file and announced
//!   in [`Event::FileStart`]; if the file ends early, or yields even one byte more, the walk
//!   stops. Nix 2.26 also fails when a file ends early, but silently takes the first `st_size`
//!   bytes of a file that grew (seen with `nix-store --dump` of a file appended to while it was
//!   read: exit status 0, the NAR holding the old size). Here no digest of bytes that differ
//!   from the announced size is ever produced.
//! - A regular file found by `readdir` is opened and then `fstat`ed; if what was opened is not a
//!   regular file any more (the tree changed under the walk), the walk stops with
//!   [`WalkErrorKind::Changed`]. A root file must moreover be the very file (device and inode) that
//!   was `lstat`ed.
//!
//!   Files are opened with `O_NOFOLLOW | O_NONBLOCK`: an entry replaced by a symlink between
//!   listing and opening is refused ([`WalkErrorKind::Changed`], found `symlink`), never read through
//!   the link, and a FIFO swapped in opens without blocking and is refused by the `fstat`.
//!
//! The walk detects what is cheap to detect about a tree that changes under it, not everything
//! (a file rewritten in place with the same size is hashed as it is read): hash trees that nobody
//! is modifying. Paths longer than `PATH_MAX` (4096 bytes) fail with the operating system's
//! error, as in Nix.
//! - [`Limits`] are enforced: nesting depth, name and symlink-target length, entries per
//!   directory and total content size. Nix has no such limits, except that Nix 2.34.7 and later
//!   refuse to dump (`nar` method, `nix store add`, `nix-store --dump`) an object 64 levels below
//!   the root, naming its path; that rule binds the NAR sinks, not the walk, so here too the
//!   `nar` method refuses (the error names the path) while git hashing goes on (see
//!   [NAR nesting](crate::limits#nar-nesting)). Nix 2.26.3 dumps any depth.
//! - There is no recursion: an explicit stack of open directories, bounded by
//!   [`Limits::max_depth`], so a deep tree cannot overflow the call stack.
//!
//! # Cost per entry
//!
//! The walk is written with `std::fs` rather than the `walkdir` crate because per-entry overhead
//! dominates on trees of many small files: one reusable path buffer (no `PathBuf` per entry),
//! file types from `readdir` (no `lstat` per entry), and for each regular file just
//! `open`, `fstat`, one `read` when the file fits the buffer (the read asks for one byte more
//! than announced, so a short read doubles as the end-of-file check) and `close`. Symlinks cost
//! one `readlink`, directories one `opendir`/`getdents`. `walkdir` stays in the test suite as an
//! independent check that this walk visits the same entries in the same order.
//!
//! Memory is bounded by the [`Limits`]: the names of the entries not yet visited in each open
//! directory, plus one read buffer of [`Settings::buffer_size`] bytes.

use std::fmt;
use std::fs::{self as stdfs, File, FileType};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::buffer::ReadBuffer;
use crate::event::{Event, Sink, SinkError};
use crate::limits::Limits;
use crate::settings::Settings;

/// Why a walk failed, and at which path.
///
/// Displays as `'<path>': <what>`; [`source`](std::error::Error::source) is the cause of the
/// [`kind`](WalkError::kind) (the operating system's or the sink's error), if any.
#[derive(Debug)]
pub struct WalkError {
    /// The path of the object the walk was at.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: WalkErrorKind,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}': {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for WalkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

impl WalkError {
    /// An error of `kind` at `path`.
    pub fn new(path: impl Into<PathBuf>, kind: WalkErrorKind) -> Self {
        WalkError {
            path: path.into(),
            kind,
        }
    }
}

/// What went wrong in a walk (see [`WalkError`] for where).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalkErrorKind {
    /// A system call failed (permission denied, vanished, I/O error…).
    #[error("cannot {op}")]
    Io {
        /// What was being done, e.g. `open file` or `read directory`.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The object is of a type no NAR or git tree can hold.
    #[error(
        "unsupported file type ({file_type}); only regular files, directories and symlinks can be ingested"
    )]
    UnsupportedType {
        /// `socket`, `FIFO`, `character device`, `block device` or `unknown`.
        file_type: &'static str,
    },
    /// A regular file's content did not match the size announced when it was opened: it grew or
    /// shrank while being read.
    #[error("file changed while being read: its size was {declared} bytes but {} were read", ActualSize(*.actual, *.declared))]
    FileChanged {
        /// The size `fstat` reported when the file was opened.
        declared: u64,
        /// The bytes actually read (when the file grew: the bytes read when that was noticed).
        actual: u64,
    },
    /// The tree changed under the walk: an entry is no longer what it was when it was listed.
    #[error("changed while being walked: was a {expected}, is now a {found}")]
    Changed {
        /// What the entry was when listed or `lstat`ed.
        expected: &'static str,
        /// What it was when opened.
        found: &'static str,
    },
    /// Directories nest deeper than [`Limits::max_depth`].
    #[error("directories nest deeper than the limit of {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An entry name is longer than [`Limits::max_name_len`].
    #[error("name is {len} bytes long, over the limit of {max}")]
    NameTooLong {
        /// The name's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A symlink target is longer than [`Limits::max_target_len`].
    #[error("symlink target is {len} bytes long, over the limit of {max}")]
    TargetTooLong {
        /// The target's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A directory holds more than [`Limits::max_entries_per_directory`] entries.
    #[error("directory has more than the limit of {max} entries")]
    TooManyEntries {
        /// The limit.
        max: u64,
    },
    /// The tree holds more than [`Limits::max_entries_total`] entries (checked by the parallel
    /// walks, which hold the listings of the directories they are working on).
    #[error("tree has more than the limit of {max} entries")]
    TooManyEntriesTotal {
        /// The limit.
        max: u64,
    },
    /// Files and symlink targets add up to more than [`Limits::max_total_size`] bytes.
    #[error("content exceeds the total size limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The sink refused an event.
    #[error("sink failed")]
    Sink(#[source] SinkError),
}

/// Prints "N" or "more than N" for [`WalkErrorKind::FileChanged`].
struct ActualSize(u64, u64);

impl fmt::Display for ActualSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > self.1 {
            write!(f, "at least {}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Feeds the file system object at `path` — a regular file, a symlink or a directory tree — to
/// `sink` as [`Event`]s in NAR order. See the [module docs](self) for what is read and how.
///
/// The root's name is `None`. Symlinks are never followed, not even at the root. Errors name the
/// path where they happened; when the sink refuses an event the error is
/// [`WalkErrorKind::Sink`] at the path of the object being emitted.
///
/// Of the [`Settings`], the walk uses the [limits](Settings::limits) and the
/// [read buffer size](Settings::buffer_size); the others are the sink's business (make it with
/// [`IngestionMethod::hash_sink`](crate::method::IngestionMethod::hash_sink)).
pub fn dump<S: Sink + ?Sized>(
    path: &Path,
    sink: &mut S,
    settings: &Settings,
) -> Result<(), WalkError> {
    let mut visitor = DumpVisitor {
        sink,
        buf: ReadBuffer::new(settings.buffer_size()),
        total: 0,
        max_total: settings.limits.max_total_size,
    };
    walk(path, &settings.limits, &mut visitor)
}

// ---------------------------------------------------------------------------------------------
// The walk, shared by `dump` and the parallel hashers.
// ---------------------------------------------------------------------------------------------

pub(crate) mod levels;
#[cfg(feature = "parallel")]
pub(crate) mod parallel;
mod sys;
pub(crate) use sys::{
    At, DirBuffer, Kind, Listing, OpenFile, PATH_MAX, Stat, as_path, list, open_dir, open_file,
    read_target, stat_at, stat_dir,
};
#[cfg(feature = "parallel")]
pub(crate) use sys::{join, join_bytes};

/// A regular file the walk found, not yet opened: where it is, and for the root the device and
/// inode `lstat` saw (what is opened must be that very file).
#[derive(Clone, Copy)]
pub(crate) struct FileRef<'a> {
    pub(crate) at: At<'a>,
    pub(crate) expect: Option<(u64, u64)>,
}

impl FileRef<'_> {
    /// Opens and `fstat`s the file.
    pub(crate) fn open(&self) -> Result<OpenFile, WalkError> {
        open_file(self.at, self.expect)
    }
}

/// Opens the regular file at `path` (never through a symlink) and `fstat`s it; `lstat`, if
/// given, is what the walk saw there: the file opened must be that very file.
pub(crate) fn open_path(
    path: &Path,
    lstat: Option<&stdfs::Metadata>,
) -> Result<OpenFile, WalkError> {
    open_file(
        At::Path(path.as_os_str().as_bytes()),
        lstat.map(|m| (m.dev(), m.ino())),
    )
}

/// Git blob hashers for a file of `size` bytes, one per algorithm: the one object hasher
/// ([`git::object_hasher`](crate::git::object_hasher)) of every walk.
pub(crate) fn blob_hashers(
    algorithms: &[crate::hash::Algorithm],
    detect: bool,
    size: u64,
) -> Vec<crate::hash::Hasher> {
    algorithms
        .iter()
        .map(|&a| crate::git::object_hasher(a, crate::git::ObjectKind::Blob, size, detect))
        .collect()
}

/// The blob ids `hashers` give, in order, or the walk's error at `path` for a detected SHA-1
/// collision.
pub(crate) fn blob_ids(
    hashers: Vec<crate::hash::Hasher>,
    path: &Path,
) -> Result<Vec<crate::hash::Hash>, WalkError> {
    hashers
        .into_iter()
        .map(|h| {
            crate::git::finish_object(h, crate::git::ObjectKind::Blob)
                .map_err(|e| WalkError::new(path, WalkErrorKind::Sink(e)))
        })
        .collect()
}

/// What the walk reports; `walk` guarantees NAR order and the limits on names, targets, depth and
/// entry counts. Regular files are handed over unopened.
pub(crate) trait Visitor {
    /// A directory begins.
    fn directory_start(&mut self, name: Option<&[u8]>, path: &Path) -> Result<(), WalkError>;
    /// The innermost directory ends (`path` is that directory).
    fn directory_end(&mut self, path: &Path) -> Result<(), WalkError>;
    /// A symlink (target length already checked).
    fn symlink(&mut self, name: Option<&[u8]>, target: &[u8], path: &Path)
    -> Result<(), WalkError>;
    /// A regular file at `path`, to be opened with `file`.
    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        file: FileRef<'_>,
    ) -> Result<(), WalkError>;
}

/// A human name for a file type, for errors.
pub(crate) fn type_name(ft: FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "regular file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else {
        "unknown"
    }
}

/// How deep the walk keeps directories open (deeper ones are reached by their full path), so a
/// deep tree cannot run out of file descriptors.
const OPEN_DEPTH: usize = 128;

/// A directory being walked: its listing, the next entry to visit, the length of the path buffer
/// for the directory and, near the root, the directory itself, open.
struct Frame {
    listing: Listing,
    next: usize,
    path_len: usize,
    fd: Option<OwnedFd>,
}

/// Where the entry at `path` (in the directory of `frame`, named `name`) is.
fn entry_at<'a>(frame: &'a Frame, path: &'a [u8], name: &'a [u8]) -> At<'a> {
    match &frame.fd {
        Some(fd) if path.len() < PATH_MAX => At::Dir {
            dir: fd.as_fd(),
            dir_path: path.get(..frame.path_len).unwrap_or(path),
            name,
        },
        _ => At::Path(path),
    }
}

/// Walks the object at `root`, reporting it to `visitor` in NAR order.
pub(crate) fn walk<V: Visitor + ?Sized>(
    root: &Path,
    limits: &Limits,
    visitor: &mut V,
) -> Result<(), WalkError> {
    let meta = stdfs::symlink_metadata(root)
        .map_err(|source| WalkError::new(root, WalkErrorKind::Io { op: "stat", source }))?;
    let root_bytes = root.as_os_str().as_bytes();
    let ft = meta.file_type();
    if ft.is_file() {
        let file = FileRef {
            at: At::Path(root_bytes),
            expect: Some((meta.dev(), meta.ino())),
        };
        return visitor.file(None, root, file);
    }
    if ft.is_symlink() {
        let target = read_target(At::Path(root_bytes), limits)?;
        return visitor.symlink(None, &target, root);
    }
    if !ft.is_dir() {
        return Err(WalkError::new(
            root,
            WalkErrorKind::UnsupportedType {
                file_type: type_name(ft),
            },
        ));
    }

    // A directory: walk it with an explicit stack. `path` always holds the path of the entry
    // being visited; each frame remembers the length of its directory's path.
    let mut path: Vec<u8> = root_bytes.to_vec();
    if limits.max_depth == 0 {
        return Err(WalkError::new(root, WalkErrorKind::TooDeep { max: 0 }));
    }
    let mut dirbuf = DirBuffer::new();
    visitor.directory_start(None, root)?;
    let fd = open_dir(At::Path(&path))?;
    let mut stack: Vec<Frame> = vec![Frame {
        listing: list(fd.as_fd(), &path, limits, &mut dirbuf)?,
        next: 0,
        path_len: path.len(),
        fd: Some(fd),
    }];
    loop {
        let depth = stack.len();
        let Some(frame) = stack.last_mut() else {
            break;
        };
        let dir_len = frame.path_len;
        path.truncate(dir_len);
        let Some((name, kind)) = frame.listing.get(frame.next) else {
            stack.pop();
            visitor.directory_end(as_path(&path))?;
            continue;
        };
        frame.next += 1;
        if path.last() != Some(&b'/') {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        let frame = &*frame;
        match kind {
            Kind::Directory => {
                if depth >= limits.max_depth {
                    return Err(WalkError::new(
                        as_path(&path),
                        WalkErrorKind::TooDeep {
                            max: limits.max_depth,
                        },
                    ));
                }
                visitor.directory_start(Some(name), as_path(&path))?;
                let fd = open_dir(entry_at(frame, &path, name))?;
                let listing = list(fd.as_fd(), &path, limits, &mut dirbuf)?;
                let keep = depth < OPEN_DEPTH;
                stack.push(Frame {
                    listing,
                    next: 0,
                    path_len: path.len(),
                    fd: keep.then_some(fd),
                });
            }
            Kind::File => {
                let file = FileRef {
                    at: entry_at(frame, &path, name),
                    expect: None,
                };
                visitor.file(Some(name), as_path(&path), file)?;
            }
            Kind::Symlink => {
                let target = read_target(entry_at(frame, &path, name), limits)?;
                visitor.symlink(Some(name), &target, as_path(&path))?;
            }
            Kind::Other(file_type) => {
                return Err(WalkError::new(
                    as_path(&path),
                    WalkErrorKind::UnsupportedType { file_type },
                ));
            }
        }
    }
    Ok(())
}

/// Reads exactly `size` bytes from `file` in chunks of at most `buf.len()` and hands each chunk
/// to `deliver`, or fails with [`WalkErrorKind::FileChanged`] if the file ends early or holds more.
///
/// Every read asks for up to one byte more than is left of the announced size, so for a file
/// that fits the buffer one `read` both fetches the content and (by coming up short) shows the
/// end of the file. No byte beyond the announced size is ever delivered.
pub(crate) fn read_file<F, P>(
    file: &mut File,
    size: u64,
    buf: &mut [u8],
    path: P,
    deliver: F,
) -> Result<(), WalkError>
where
    F: FnMut(&[u8]) -> Result<(), SinkError>,
    P: Fn() -> PathBuf,
{
    read_file_from(file, size, 0, buf, path, deliver)
}

/// [`read_file`] for a file of which the first `start` bytes have been read already.
pub(crate) fn read_file_from<F, P>(
    file: &mut File,
    size: u64,
    start: u64,
    buf: &mut [u8],
    path: P,
    mut deliver: F,
) -> Result<(), WalkError>
where
    F: FnMut(&[u8]) -> Result<(), SinkError>,
    P: Fn() -> PathBuf,
{
    let mut remaining = size.saturating_sub(start);
    loop {
        let want = usize::try_from(remaining.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let chunk = &mut buf[..want]; // `want <= buf.len()`
        let n = read_some(file, chunk, &path)?;
        let read = size - remaining;
        if n == 0 {
            if remaining == 0 {
                return Ok(());
            }
            return Err(WalkError::new(
                path(),
                WalkErrorKind::FileChanged {
                    declared: size,
                    actual: read,
                },
            ));
        }
        let n64 = n as u64;
        if n64 > remaining {
            return Err(WalkError::new(
                path(),
                WalkErrorKind::FileChanged {
                    declared: size,
                    actual: read.saturating_add(n64),
                },
            ));
        }
        // `Read::read` never reports more than the buffer it was given, so `n <= want`.
        let data = chunk.get(..n).unwrap_or(chunk);
        deliver(data).map_err(|e| WalkError::new(path(), WalkErrorKind::Sink(e)))?;
        remaining -= n64;
        if remaining == 0 && n < want {
            // A short read that ends exactly at the announced size: the end of the file.
            return Ok(());
        }
    }
}

/// One `read` into `chunk`, retried when interrupted: the one place a file's bytes are read.
fn read_some<P: Fn() -> PathBuf>(
    file: &mut File,
    chunk: &mut [u8],
    path: &P,
) -> Result<usize, WalkError> {
    loop {
        match file.read(chunk) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(WalkError::new(
                    path(),
                    WalkErrorKind::Io {
                        op: "read file",
                        source,
                    },
                ));
            }
        }
    }
}

/// Reads the first `min(size, buf.len())` bytes of `file` into `buf` and returns how many; when
/// the whole file fits (`size < buf.len()`) also checks that it ends there, as [`read_file`]
/// does. Fails with [`WalkErrorKind::FileChanged`] if the file ends early or holds more.
#[cfg(feature = "parallel")]
pub(crate) fn read_prefix<P>(
    file: &mut File,
    size: u64,
    buf: &mut [u8],
    path: P,
) -> Result<usize, WalkError>
where
    P: Fn() -> PathBuf,
{
    let whole = size < buf.len() as u64;
    // `size < buf.len()` here, so it fits a usize.
    let target = if whole { size as usize } else { buf.len() };
    // Ask for one byte more than a whole file holds: a short read then shows its end.
    let ask = if whole { target + 1 } else { target };
    let mut filled = 0usize;
    while let Some(chunk) = buf.get_mut(filled..ask) {
        let want = chunk.len();
        let n = read_some(file, chunk, &path)?;
        filled += n;
        if filled > target {
            return Err(WalkError::new(
                path(),
                WalkErrorKind::FileChanged {
                    declared: size,
                    actual: filled as u64,
                },
            ));
        }
        if n == 0 || (filled == target && (!whole || n < want)) {
            break;
        }
    }
    if filled < target {
        return Err(WalkError::new(
            path(),
            WalkErrorKind::FileChanged {
                declared: size,
                actual: filled as u64,
            },
        ));
    }
    Ok(filled)
}

/// The visitor behind [`dump`]: events into a sink.
struct DumpVisitor<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    buf: ReadBuffer,
    total: u64,
    max_total: u64,
}

impl<S: Sink + ?Sized> DumpVisitor<'_, S> {
    fn emit(&mut self, event: Event<'_>, path: &Path) -> Result<(), WalkError> {
        self.sink
            .event(event)
            .map_err(|e| WalkError::new(path, WalkErrorKind::Sink(e)))
    }

    fn count(&mut self, bytes: u64, path: &Path) -> Result<(), WalkError> {
        match self.total.checked_add(bytes) {
            Some(t) if t <= self.max_total => {
                self.total = t;
                Ok(())
            }
            _ => Err(WalkError::new(
                path,
                WalkErrorKind::TooLarge {
                    max: self.max_total,
                },
            )),
        }
    }
}

impl<S: Sink + ?Sized> Visitor for DumpVisitor<'_, S> {
    fn directory_start(&mut self, name: Option<&[u8]>, path: &Path) -> Result<(), WalkError> {
        self.emit(Event::DirectoryStart { name }, path)
    }

    fn directory_end(&mut self, path: &Path) -> Result<(), WalkError> {
        self.emit(Event::DirectoryEnd, path)
    }

    fn symlink(
        &mut self,
        name: Option<&[u8]>,
        target: &[u8],
        path: &Path,
    ) -> Result<(), WalkError> {
        self.count(target.len() as u64, path)?;
        self.emit(Event::Symlink { name, target }, path)
    }

    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        file: FileRef<'_>,
    ) -> Result<(), WalkError> {
        let OpenFile {
            mut file,
            size,
            executable,
        } = file.open()?;
        self.count(size, path)?;
        self.emit(
            Event::FileStart {
                name,
                executable,
                size,
            },
            path,
        )?;
        let sink = &mut *self.sink;
        read_file(
            &mut file,
            size,
            &mut self.buf,
            || path.to_path_buf(),
            |data| sink.event(Event::FileData(data)),
        )?;
        self.emit(Event::FileEnd, path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Makes a FIFO at `path` with `mkfifo`.
    pub(crate) fn make_fifo(path: &Path) {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap()
                .success()
        );
    }

    /// Opening never follows a symlink and never blocks on a FIFO: what the walk listed as a
    /// regular file and finds swapped is refused as changed, naming what it found.
    #[test]
    fn open_file_neither_follows_links_nor_blocks() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let fifo = t.path().join("fifo");
        make_fifo(&fifo);
        for (path, found) in [(&link, "symlink"), (&fifo, "FIFO")] {
            let e = open_file(At::Path(path.as_os_str().as_bytes()), None)
                .err()
                .expect("refused");
            assert_eq!(&e.path, path);
            match e.kind {
                WalkErrorKind::Changed { expected, found: f } => {
                    assert_eq!((expected, f), ("regular file", found));
                }
                other => panic!("{found}: {other}"),
            }
        }
        assert_eq!(
            open_file(At::Path(target.as_os_str().as_bytes()), None)
                .map(|f| f.size)
                .ok(),
            Some(1)
        );
    }

    use super::*;
    use crate::event::{OwnedEvent, Recorder};

    #[test]
    fn read_file_chunks_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        // Sizes around the buffer size, to hit the exact-multiple path (extra 1-byte read).
        for len in [0usize, 1, 4095, 4096, 4097, 8192, 10000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&p, &data).unwrap();
            let mut f = File::open(&p).unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            read_file(
                &mut f,
                len as u64,
                &mut buf,
                || p.clone(),
                |d| {
                    got.extend_from_slice(d);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(got, data);
            // Announcing one byte less must fail (the file "grew"); one more must fail (shrank).
            for (declared, grew) in [
                (len as u64).checked_sub(1).map(|d| (d, true)),
                Some((len as u64 + 1, false)),
            ]
            .into_iter()
            .flatten()
            {
                let mut f = File::open(&p).unwrap();
                let mut delivered = 0u64;
                let e = read_file(
                    &mut f,
                    declared,
                    &mut buf,
                    || p.clone(),
                    |d| {
                        delivered += d.len() as u64;
                        Ok(())
                    },
                )
                .unwrap_err();
                assert!(delivered <= declared, "delivered beyond announced size");
                match e.kind {
                    WalkErrorKind::FileChanged {
                        declared: d,
                        actual,
                    } => {
                        assert_eq!(d, declared);
                        assert_eq!(actual > declared, grew);
                    }
                    other => panic!("{other}"),
                }
            }
        }
    }

    #[test]
    fn root_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let mut rec = Recorder::default();
        dump(&f, &mut rec, &Settings::default()).unwrap();
        assert_eq!(
            rec.events,
            [
                OwnedEvent::FileStart {
                    name: None,
                    executable: false,
                    size: 1
                },
                OwnedEvent::FileData(b"x".to_vec()),
                OwnedEvent::FileEnd
            ]
        );
        let l = dir.path().join("l");
        std::os::unix::fs::symlink("/nowhere", &l).unwrap();
        let mut rec = Recorder::default();
        dump(&l, &mut rec, &Settings::default()).unwrap();
        assert_eq!(
            rec.events,
            [OwnedEvent::Symlink {
                name: None,
                target: b"/nowhere".to_vec()
            }]
        );
    }
}
