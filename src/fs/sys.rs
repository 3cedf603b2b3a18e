//! The system calls of the walks, relative to open directories (crate-private).
//!
//! Every entry is opened with `openat` on its directory's descriptor, so the kernel resolves one
//! name rather than the whole path again; directories are listed with `getdents64` into one
//! reusable buffer, and a listing keeps all its names in one allocation. Paths are built only
//! for errors and for the visitors that need them.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as sys, AtFlags, FileType, OFlags, RawDir};

use super::{WalkError, WalkErrorKind};
use crate::limits::Limits;

/// The longest path the kernel resolves (`PATH_MAX`, with its NUL). Longer paths are opened by
/// their full path, so they fail with the operating system's error as they do in Nix, rather than
/// succeed here because they were reached relative to a directory.
pub(crate) const PATH_MAX: usize = 4096;

/// The kind of a listed directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Directory,
    File,
    Symlink,
    Other(&'static str),
}

impl Kind {
    fn of(ft: FileType) -> Option<Kind> {
        Some(match ft {
            FileType::Directory => Kind::Directory,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Other("FIFO"),
            FileType::Socket => Kind::Other("socket"),
            FileType::CharacterDevice => Kind::Other("character device"),
            FileType::BlockDevice => Kind::Other("block device"),
            FileType::Unknown => return None,
        })
    }

    /// The kind of a file of mode `mode` (`st_mode`).
    pub(crate) fn of_mode(mode: u32) -> Kind {
        Kind::of(FileType::from_raw_mode(mode)).unwrap_or(Kind::Other("unknown"))
    }

    /// A human name, for errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Directory => "directory",
            Kind::File => "regular file",
            Kind::Symlink => "symlink",
            Kind::Other(name) => name,
        }
    }
}

/// The entries of one directory, sorted by name (bytes), all names in one buffer.
#[derive(Default)]
pub(crate) struct Listing {
    names: Vec<u8>,
    entries: Vec<ListEntry>,
}

#[derive(Clone, Copy)]
struct ListEntry {
    start: u32,
    len: u32,
    kind: Kind,
}

#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
impl Listing {
    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The name and kind of entry `i`, if there is one.
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], Kind)> {
        let e = self.entries.get(i)?;
        let start = e.start as usize;
        let name = self.names.get(start..start + e.len as usize)?;
        Some((name, e.kind))
    }

    /// The entries in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Kind)> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Bytes held per entry besides its name, for the memory bounds the walks document.
    pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<ListEntry>();
}

/// `dir` joined with `name`, as bytes.
pub(crate) fn join_bytes(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// `dir` joined with `name`, as a path.
pub(crate) fn join(dir: &[u8], name: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(join_bytes(dir, name)))
}

pub(crate) fn as_path(buf: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(buf))
}

fn io_error(path: impl Into<PathBuf>, op: &'static str, e: rustix::io::Errno) -> WalkError {
    WalkError::new(
        path,
        WalkErrorKind::Io {
            op,
            source: io::Error::from(e),
        },
    )
}

/// Where an entry is: a name in an open directory, or a path (the root, and entries whose path
/// is too long to shorten safely).
#[derive(Clone, Copy)]
pub(crate) enum At<'a> {
    /// `name` in the directory open as `dir`, whose path is `dir_path`.
    Dir {
        dir: BorrowedFd<'a>,
        dir_path: &'a [u8],
        name: &'a [u8],
    },
    /// A path, relative to the working directory or absolute.
    Path(&'a [u8]),
}

impl At<'_> {
    /// The entry's path, for errors.
    pub(crate) fn path(&self) -> PathBuf {
        match *self {
            At::Dir { dir_path, name, .. } => join(dir_path, name),
            At::Path(p) => as_path(p).to_path_buf(),
        }
    }

    fn openat(&self, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let flags = flags | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match *self {
            At::Dir { dir, name, .. } => sys::openat(dir, name, flags, sys::Mode::empty()),
            At::Path(p) => sys::openat(sys::CWD, p, flags, sys::Mode::empty()),
        }
    }
}

/// Opens the directory at `at`, never through a symlink.
pub(crate) fn open_dir(at: At<'_>) -> Result<OwnedFd, WalkError> {
    at.openat(OFlags::DIRECTORY).map_err(|e| match e {
        rustix::io::Errno::LOOP => WalkError::new(
            at.path(),
            WalkErrorKind::Changed {
                expected: "directory",
                found: "symlink",
            },
        ),
        rustix::io::Errno::NOTDIR => WalkError::new(
            at.path(),
            WalkErrorKind::Changed {
                expected: "directory",
                found: "non-directory",
            },
        ),
        e => io_error(at.path(), "open directory", e),
    })
}

/// A reusable buffer for `getdents64`.
pub(crate) struct DirBuffer(Vec<u8>);

impl DirBuffer {
    pub(crate) fn new() -> Self {
        DirBuffer(Vec::with_capacity(32 * 1024))
    }
}

/// Lists the open directory `dir` (at `path`), checking names and the entry count, sorted by
/// name.
pub(crate) fn list(
    dir: BorrowedFd<'_>,
    path: &[u8],
    limits: &Limits,
    buf: &mut DirBuffer,
) -> Result<Listing, WalkError> {
    let mut listing = Listing::default();
    let mut raw = RawDir::new(dir, buf.0.spare_capacity_mut());
    while let Some(entry) = raw.next() {
        let entry = entry.map_err(|e| io_error(as_path(path), "read directory", e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if listing.entries.len() as u64 >= limits.max_entries_per_directory {
            return Err(WalkError::new(
                as_path(path),
                WalkErrorKind::TooManyEntries {
                    max: limits.max_entries_per_directory,
                },
            ));
        }
        if name.len() > limits.max_name_len {
            return Err(WalkError::new(
                join(path, name),
                WalkErrorKind::NameTooLong {
                    len: name.len(),
                    max: limits.max_name_len,
                },
            ));
        }
        let kind = match Kind::of(entry.file_type()) {
            Some(kind) => kind,
            // The file system does not say: ask.
            None => {
                let st = sys::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_error(join(path, name), "stat", e))?;
                Kind::of(FileType::from_raw_mode(st.st_mode)).unwrap_or(Kind::Other("unknown"))
            }
        };
        let (Ok(start), Ok(len)) = (
            u32::try_from(listing.names.len()),
            u32::try_from(name.len()),
        ) else {
            // Over 4 GiB of names in one directory: more than the entry limit allows by default.
            return Err(WalkError::new(
                as_path(path),
                WalkErrorKind::TooManyEntries {
                    max: listing.entries.len() as u64,
                },
            ));
        };
        listing.names.extend_from_slice(name);
        listing.entries.push(ListEntry { start, len, kind });
    }
    let names = &listing.names;
    let name = |e: &ListEntry| {
        let s = e.start as usize;
        names.get(s..s + e.len as usize).unwrap_or_default()
    };
    // Names in one directory are unique, so an unstable sort is deterministic.
    listing
        .entries
        .sort_unstable_by(|a, b| name(a).cmp(name(b)));
    Ok(listing)
}

/// Reads the target of the symlink at `at`, as bytes, and checks its length.
pub(crate) fn read_target(at: At<'_>, limits: &Limits) -> Result<Vec<u8>, WalkError> {
    let target = match at {
        At::Dir { dir, name, .. } => sys::readlinkat(dir, name, Vec::new()),
        At::Path(p) => sys::readlinkat(sys::CWD, p, Vec::new()),
    }
    .map_err(|e| io_error(at.path(), "read symlink", e))?
    .into_bytes();
    if target.len() > limits.max_target_len {
        return Err(WalkError::new(
            at.path(),
            WalkErrorKind::TargetTooLong {
                len: target.len(),
                max: limits.max_target_len,
            },
        ));
    }
    Ok(target)
}

/// The stat data of an entry (`statx`), as the hash cache compares it: device, inode, size,
/// full mode, and mtime and ctime as (seconds, nanoseconds).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stat {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mode: u32,
    pub(crate) mtime: (i64, u32),
    pub(crate) ctime: (i64, u32),
}

const STAT_WANTED: sys::StatxFlags = sys::StatxFlags::TYPE
    .union(sys::StatxFlags::MODE)
    .union(sys::StatxFlags::INO)
    .union(sys::StatxFlags::SIZE)
    .union(sys::StatxFlags::MTIME)
    .union(sys::StatxFlags::CTIME);

impl Stat {
    fn of(x: &sys::Statx) -> Stat {
        Stat {
            dev: sys::makedev(x.stx_dev_major, x.stx_dev_minor),
            ino: x.stx_ino,
            size: x.stx_size,
            mode: u32::from(x.stx_mode),
            mtime: (x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec),
            ctime: (x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec),
        }
    }
}

/// The stat data of the entry at `at`, never following a symlink.
pub(crate) fn stat_at(at: At<'_>) -> Result<Stat, WalkError> {
    match at {
        At::Dir { dir, name, .. } => sys::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, STAT_WANTED),
        At::Path(p) => sys::statx(sys::CWD, p, AtFlags::SYMLINK_NOFOLLOW, STAT_WANTED),
    }
    .map(|x| Stat::of(&x))
    .map_err(|e| io_error(at.path(), "stat", e))
}

/// The stat data of the directory open as `dir`, at `path`.
pub(crate) fn stat_dir(dir: BorrowedFd<'_>, path: &[u8]) -> Result<Stat, WalkError> {
    sys::statx(dir, "", AtFlags::EMPTY_PATH, STAT_WANTED)
        .map(|x| Stat::of(&x))
        .map_err(|e| io_error(as_path(path), "stat directory", e))
}

/// A regular file opened for reading, with the size and mode of what was actually opened.
pub(crate) struct OpenFile {
    pub(crate) file: File,
    pub(crate) size: u64,
    pub(crate) executable: bool,
}

/// Opens the regular file at `at` and `fstat`s it, never through a symlink and never blocking.
/// `expect` is the device and inode the walk saw, if any: what is opened must be that very file.
pub(crate) fn open_file(at: At<'_>, expect: Option<(u64, u64)>) -> Result<OpenFile, WalkError> {
    // An entry swapped for a symlink since it was listed fails with ELOOP; a FIFO swapped in
    // opens at once and is refused below.
    let fd = at.openat(OFlags::NONBLOCK).map_err(|e| match e {
        rustix::io::Errno::LOOP => WalkError::new(
            at.path(),
            WalkErrorKind::Changed {
                expected: "regular file",
                found: "symlink",
            },
        ),
        e => io_error(at.path(), "open file", e),
    })?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| io_error(at.path(), "stat file", e))?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::RegularFile {
        return Err(WalkError::new(
            at.path(),
            WalkErrorKind::Changed {
                expected: "regular file",
                found: Kind::of(ft).map_or("unknown", Kind::name),
            },
        ));
    }
    if expect.is_some_and(|(dev, ino)| (dev, ino) != (st.st_dev, st.st_ino)) {
        return Err(WalkError::new(
            at.path(),
            WalkErrorKind::Changed {
                expected: "regular file",
                found: "different file",
            },
        ));
    }
    Ok(OpenFile {
        file: File::from(fd),
        size: u64::try_from(st.st_size).unwrap_or(0),
        executable: st.st_mode & 0o100 != 0,
    })
}
