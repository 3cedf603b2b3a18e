//! The cache file: its layout, a bounded and checked reader, and the writer.
//!
//! All integers are little-endian. A file is a header, the records of the tree's nodes in NAR
//! order (a directory before its entries, entries by increasing name), and a SHA-256 checksum of
//! everything before it:
//!
//! ```text
//! header  := "nix-ingest-cache" version:u32 flags:u32 scan_sec:i64 scan_nsec:u32
//!            root_dev:u64 root_ino:u64 n_algorithms:u8 algorithm:u8{n}
//!            root_len:u32 root_path:[u8; root_len] node_count:u64
//! node    := kind:u8 name_len:u16 name:[u8; name_len] stat descendants ids
//! stat    := dev:u64 ino:u64 size:u64 mode:u32 mtime_sec:i64 mtime_nsec:u32 ctime_sec:i64 ctime_nsec:u32
//!            (all zero when unknown)
//! descendants := count:u64 (kind 4 directory only: the nodes of its subtree after it)
//! ids     := one id per algorithm, in the header's order, each as long as its digest
//! file    := header node{node_count} sha256(header node*)
//! ```
//!
//! The same record bytes are what a [`Table`] holds in memory while a scan builds the next
//! cache, so writing is a header, one buffer and a checksum.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::Digest as _;

use crate::hash::Algorithm;

/// The first bytes of every cache file.
pub(super) const MAGIC: &[u8; 16] = b"nix-ingest-cache";
/// The layout version this code reads and writes.
pub(super) const VERSION: u32 = 1;
/// Header flag: SHA-1 collision detection was on for every id in the file.
const FLAG_COLLISION_DETECTION: u32 = 1;
/// The length of the SHA-256 checksum at the end.
const CHECKSUM_LEN: usize = 32;
/// The encoded length of a [`Stat`].
const STAT_LEN: usize = 52;
/// The longest root path a header may hold (Linux's `PATH_MAX`).
const MAX_ROOT_LEN: usize = 4096;

/// Why a cache file was not trusted. See [`HashCache`](super::HashCache) for what happens then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCache {
    /// The path names something other than a regular file.
    #[error("not a regular file")]
    NotAFile,
    /// The file can be written by users other than its owner, who could then choose the
    /// answers for files whose stat data they know.
    #[error("writable by group or others (mode {mode:o})")]
    Permissions {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file is larger than the cache's size cap.
    #[error("{size} bytes, over the cache size cap of {max} bytes")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The file does not start with the cache's magic bytes.
    #[error("not a nix-ingest cache file")]
    Magic,
    /// The file was written in another layout version.
    #[error("layout version {found}, expected {}", VERSION)]
    Version {
        /// The version the file holds.
        found: u32,
    },
    /// The file is shorter than its header and checksum, or its checksum does not match its
    /// bytes (a truncated, torn or damaged file).
    #[error("checksum mismatch (truncated or damaged file)")]
    Checksum,
    /// The bytes under a valid checksum do not follow the layout.
    #[error("malformed at byte {offset}: {what}")]
    Malformed {
        /// The byte offset in the file.
        offset: usize,
        /// What is wrong there.
        what: &'static str,
    },
    /// The cache was written for another root path, or the root is another directory now.
    #[error("written for another root")]
    OtherRoot,
    /// The root is on another file system (device) than when the cache was written.
    #[error("written for another file system")]
    OtherFileSystem,
    /// The cache holds ids of other algorithms than the ones asked for.
    #[error("written for other hash algorithms")]
    OtherAlgorithms,
    /// The cache was written without SHA-1 collision detection and detection is on now.
    #[error("written without SHA-1 collision detection")]
    CollisionDetection,
}

/// A file system timestamp: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct Timestamp {
    pub(super) sec: i64,
    pub(super) nsec: u32,
}

/// The stat data an entry's id is reused on: git's index keeps the same (device, inode, size,
/// mode, mtime and ctime to the nanosecond).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Stat {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mode: u32,
    pub(super) mtime: Timestamp,
    pub(super) ctime: Timestamp,
}

impl From<crate::fs::Stat> for Stat {
    fn from(x: crate::fs::Stat) -> Stat {
        Stat {
            dev: x.dev,
            ino: x.ino,
            size: x.size,
            mode: x.mode,
            mtime: Timestamp {
                sec: x.mtime.0,
                nsec: x.mtime.1,
            },
            ctime: Timestamp {
                sec: x.ctime.0,
                nsec: x.ctime.1,
            },
        }
    }
}

impl Stat {
    pub(super) fn of(m: &Metadata) -> Stat {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mode: m.mode(),
            mtime: Timestamp {
                sec: m.mtime(),
                nsec: nsec(m.mtime_nsec()),
            },
            ctime: Timestamp {
                sec: m.ctime(),
                nsec: nsec(m.ctime_nsec()),
            },
        }
    }

    /// Whether stat data recorded by a scan that started at `scan` may be trusted: both
    /// timestamps lie at least one whole second before the second the scan started in.
    ///
    /// Any change made after the scan started gets timestamps at or after the scan's start as
    /// the file system rounds it — at worst two seconds earlier, for FAT's two-second mtime — so
    /// it cannot reproduce timestamps this old. An entry changed later than that is *racily
    /// clean* and is read again (git's racy-git rule; see the module docs).
    pub(super) fn trusted(&self, scan: Timestamp) -> bool {
        scan.sec
            .checked_sub(2)
            .is_some_and(|limit| self.mtime.sec <= limit && self.ctime.sec <= limit)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mode.to_le_bytes());
        out.extend_from_slice(&self.mtime.sec.to_le_bytes());
        out.extend_from_slice(&self.mtime.nsec.to_le_bytes());
        out.extend_from_slice(&self.ctime.sec.to_le_bytes());
        out.extend_from_slice(&self.ctime.nsec.to_le_bytes());
    }

    /// Decodes the first [`STAT_LEN`] bytes of `b` (missing bytes read as zero; the reader
    /// checks lengths before).
    fn decode(b: &[u8]) -> Stat {
        let mut r = Cursor { bytes: b, pos: 0 };
        let mut next_u64 = || r.u64().unwrap_or(0);
        let (dev, ino, size) = (next_u64(), next_u64(), next_u64());
        let mode = r.u32().unwrap_or(0);
        let mtime = Timestamp {
            sec: r.i64().unwrap_or(0),
            nsec: r.u32().unwrap_or(0),
        };
        let ctime = Timestamp {
            sec: r.i64().unwrap_or(0),
            nsec: r.u32().unwrap_or(0),
        };
        Stat {
            dev,
            ino,
            size,
            mode,
            mtime,
            ctime,
        }
    }
}

fn nsec(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File = 1,
    Executable = 2,
    Symlink = 3,
    Directory = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::File,
            2 => Kind::Executable,
            3 => Kind::Symlink,
            4 => Kind::Directory,
            _ => return None,
        })
    }

    pub(super) fn is_file(self) -> bool {
        matches!(self, Kind::File | Kind::Executable)
    }

    pub(super) fn mode(self) -> crate::git::Mode {
        match self {
            Kind::File => crate::git::Mode::File,
            Kind::Executable => crate::git::Mode::Executable,
            Kind::Symlink => crate::git::Mode::Symlink,
            Kind::Directory => crate::git::Mode::Directory,
        }
    }
}

/// Where a node's parts lie in its table's bytes, and how it relates to the tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node {
    pub(super) kind: Kind,
    /// Offset of the record (its kind byte).
    record: usize,
    /// Offset of the name (the root's is empty).
    name: usize,
    name_len: usize,
    /// Offset of the stat data (a directory's descendant count follows it).
    body: usize,
    /// Offset of the ids.
    ids: usize,
    /// The index one past this node's subtree (`index + 1` for anything but a directory).
    pub(super) end: usize,
}

/// The nodes of one tree, in NAR order, over the bytes that hold their records.
#[derive(Debug)]
pub(super) struct Table {
    bytes: Vec<u8>,
    /// Where the node records start in `bytes` (after the header of a file that was read).
    records: usize,
    pub(super) nodes: Vec<Node>,
    /// The length of one node's ids (the sum of the algorithms' digest lengths).
    ids_len: usize,
}

impl Table {
    /// An empty table for ids of `algorithms`.
    pub(super) fn new(algorithms: &[Algorithm]) -> Table {
        Table {
            bytes: Vec::new(),
            records: 0,
            nodes: Vec::new(),
            ids_len: algorithms.iter().map(|a| a.len()).sum(),
        }
    }

    /// Room for `nodes` more nodes and `bytes` more bytes of records, so that building a table
    /// as large as the last one does not copy it as it grows.
    pub(super) fn reserve(&mut self, nodes: usize, bytes: usize) {
        self.nodes.reserve(nodes);
        self.bytes.reserve(bytes);
    }

    /// The bytes of its node records.
    pub(super) fn records_len(&self) -> usize {
        self.bytes.len().saturating_sub(self.records)
    }

    pub(super) fn name(&self, node: &Node) -> &[u8] {
        self.bytes
            .get(node.name..node.name.saturating_add(node.name_len))
            .unwrap_or_default()
    }

    pub(super) fn ids(&self, node: &Node) -> &[u8] {
        self.bytes
            .get(node.ids..node.ids.saturating_add(self.ids_len))
            .unwrap_or_default()
    }

    pub(super) fn ids_mut(&mut self, index: usize) -> &mut [u8] {
        let Some(node) = self.nodes.get(index) else {
            return &mut [];
        };
        let range = node.ids..node.ids.saturating_add(self.ids_len);
        self.bytes.get_mut(range).unwrap_or_default()
    }

    /// The stat data recorded for a node, if any (a mode of zero means none was).
    pub(super) fn stat(&self, node: &Node) -> Option<Stat> {
        self.bytes
            .get(node.body..)
            .map(Stat::decode)
            .filter(|s| s.mode != 0)
    }

    /// Appends a node (its ids zeroed, a directory's subtree empty); returns its index.
    pub(super) fn push(&mut self, kind: Kind, name: &[u8], stat: Option<&Stat>) -> usize {
        let index = self.nodes.len();
        let record = self.bytes.len();
        self.bytes.push(kind as u8);
        // Names are at most `Limits::max_name_len` long, which the walk checks; a longer one
        // could not have been listed.
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&name_len.to_le_bytes());
        let name_at = self.bytes.len();
        self.bytes
            .extend_from_slice(name.get(..usize::from(name_len)).unwrap_or(name));
        let body = self.bytes.len();
        stat.copied().unwrap_or_default().encode(&mut self.bytes);
        if kind == Kind::Directory {
            self.bytes.extend_from_slice(&0u64.to_le_bytes());
        }
        let ids = self.bytes.len();
        self.bytes.resize(ids + self.ids_len, 0);
        self.nodes.push(Node {
            kind,
            record,
            name: name_at,
            name_len: usize::from(name_len),
            body,
            ids,
            end: index + 1,
        });
        index
    }

    /// Sets a file node's kind and stat data once its file has been read.
    pub(super) fn set_file(&mut self, index: usize, kind: Kind, stat: &Stat) {
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        if !node.kind.is_file() || !kind.is_file() {
            return;
        }
        node.kind = kind;
        let (at, body) = (node.record, node.body);
        if let Some(b) = self.bytes.get_mut(at) {
            *b = kind as u8;
        }
        let mut encoded = Vec::with_capacity(STAT_LEN);
        stat.encode(&mut encoded);
        if let Some(dst) = self.bytes.get_mut(body..body + STAT_LEN) {
            dst.copy_from_slice(&encoded);
        }
    }

    /// Closes the directory at `index`: its subtree is every node pushed since.
    pub(super) fn close_directory(&mut self, index: usize) {
        let end = self.nodes.len();
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        node.end = end;
        let descendants = (end - index - 1) as u64;
        let at = node.body + STAT_LEN;
        if let Some(dst) = self.bytes.get_mut(at..at + 8) {
            dst.copy_from_slice(&descendants.to_le_bytes());
        }
    }

    /// The node records.
    fn records(&self) -> &[u8] {
        let end = self
            .nodes
            .last()
            .map_or(self.records, |n| n.ids.saturating_add(self.ids_len));
        self.bytes.get(self.records..end).unwrap_or_default()
    }

    /// The size of the file [`write`] makes of this table.
    pub(super) fn file_size(&self, identity: &Identity) -> u64 {
        (header(identity, Timestamp::default(), 0).len() + self.records().len() + CHECKSUM_LEN)
            as u64
    }
}

/// What a cache is for: it is used only when all of this matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    /// The root's absolute path, as bytes.
    pub(super) root: Vec<u8>,
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) collision_detection: bool,
}

fn algorithm_code(a: Algorithm) -> u8 {
    match a {
        Algorithm::Md5 => 1,
        Algorithm::Sha1 => 2,
        Algorithm::Sha256 => 3,
        Algorithm::Sha512 => 4,
        Algorithm::Blake3 => 5,
    }
}

fn algorithm_of(code: u8) -> Option<Algorithm> {
    Algorithm::ALL
        .into_iter()
        .chain([Algorithm::Blake3])
        .find(|&a| algorithm_code(a) == code)
}

fn header(identity: &Identity, scan: Timestamp, count: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(80 + identity.root.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    let flags = if identity.collision_detection {
        FLAG_COLLISION_DETECTION
    } else {
        0
    };
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&scan.sec.to_le_bytes());
    h.extend_from_slice(&scan.nsec.to_le_bytes());
    h.extend_from_slice(&identity.dev.to_le_bytes());
    h.extend_from_slice(&identity.ino.to_le_bytes());
    // At most a handful of algorithms; the identity is built from a deduplicated list.
    h.push(u8::try_from(identity.algorithms.len()).unwrap_or(u8::MAX));
    h.extend(identity.algorithms.iter().map(|&a| algorithm_code(a)));
    h.extend_from_slice(&(identity.root.len() as u32).to_le_bytes());
    h.extend_from_slice(&identity.root);
    h.extend_from_slice(&(count as u64).to_le_bytes());
    h
}

/// Writes `table` as a cache file for `identity` scanned at `scan` to `out`.
pub(super) fn write<W: Write>(
    out: &mut W,
    identity: &Identity,
    scan: Timestamp,
    table: &Table,
) -> io::Result<()> {
    let header = header(identity, scan, table.nodes.len());
    let mut sum = sha2::Sha256::new();
    sum.update(&header);
    sum.update(table.records());
    out.write_all(&header)?;
    out.write_all(table.records())?;
    out.write_all(&sum.finalize())?;
    Ok(())
}

/// A cache file read and checked: the tree it describes and when it was scanned.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) scan: Timestamp,
    pub(super) table: Table,
}

/// Why a cache file could not be used: it is missing or unreadable, or not to be trusted.
#[derive(Debug)]
pub(super) enum LoadError {
    Missing,
    Io(io::Error),
    Invalid(InvalidCache),
}

/// Reads the cache file at `path` for `identity`, reading at most `max_size` bytes and checking
/// everything: type, permissions, size, checksum, layout, identity and tree structure (names
/// valid and in order, subtrees nested, depth at most `max_depth`).
pub(super) fn load(
    path: &Path,
    identity: &Identity,
    max_size: u64,
    max_depth: usize,
    parallel: bool,
) -> Result<Loaded, LoadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LoadError::Missing,
            _ => LoadError::Io(e),
        })?;
    let meta = file.metadata().map_err(LoadError::Io)?;
    if !meta.is_file() {
        return Err(LoadError::Invalid(InvalidCache::NotAFile));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(LoadError::Invalid(InvalidCache::Permissions {
            mode: meta.mode() & 0o7777,
        }));
    }
    if meta.len() > max_size {
        return Err(LoadError::Invalid(InvalidCache::TooLarge {
            size: meta.len(),
            max: max_size,
        }));
    }
    let bytes = read_bounded(file, meta.len(), max_size).map_err(LoadError::Io)?;
    parse(bytes, identity, max_depth, parallel).map_err(LoadError::Invalid)
}

/// Reads the whole file, but never more than `max` bytes (the file may grow after `fstat`).
fn read_bounded(file: File, expected: u64, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(expected.min(max)).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses and checks the bytes of a cache file.
pub(super) fn parse(
    bytes: Vec<u8>,
    identity: &Identity,
    max_depth: usize,
    parallel: bool,
) -> Result<Loaded, InvalidCache> {
    if bytes.len() < MAGIC.len() + 4 || bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(InvalidCache::Magic);
    }
    let version = u32::from_le_bytes(
        bytes
            .get(MAGIC.len()..MAGIC.len() + 4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
    );
    if version != VERSION {
        return Err(InvalidCache::Version { found: version });
    }
    let Some(body_len) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err(InvalidCache::Checksum);
    };
    let (body, sum) = bytes.split_at(body_len);
    // The checksum and the structure are checked at once (on two threads when `parallel`); a
    // checksum mismatch is the answer whatever the structure holds.
    let checksum = || sha2::Sha256::digest(body).as_slice() == sum;
    let structure = || parse_body(body, identity, max_depth);
    #[cfg(feature = "parallel")]
    let (sound, parsed) = if parallel {
        rayon::join(checksum, structure)
    } else {
        (checksum(), structure())
    };
    #[cfg(not(feature = "parallel"))]
    let (sound, parsed) = {
        let _ = parallel;
        (checksum(), structure())
    };
    if !sound {
        return Err(InvalidCache::Checksum);
    }
    let (scan, records, nodes, ids_len) = parsed?;
    Ok(Loaded {
        scan,
        table: Table {
            bytes,
            records,
            nodes,
            ids_len,
        },
    })
}

/// The nodes of a cache file's body, and its scan time, record offset and id length; the
/// identity the file was written for must be `identity`.
fn parse_body(
    body: &[u8],
    identity: &Identity,
    max_depth: usize,
) -> Result<(Timestamp, usize, Vec<Node>, usize), InvalidCache> {
    let mut r = Cursor {
        bytes: body,
        pos: MAGIC.len() + 4,
    };
    let flags = r.u32()?;
    let scan = Timestamp {
        sec: r.i64()?,
        nsec: r.u32()?,
    };
    let (dev, ino) = (r.u64()?, r.u64()?);
    let n = r.u8()?;
    let mut algorithms = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let at = r.pos;
        let a = algorithm_of(r.u8()?).ok_or(InvalidCache::Malformed {
            offset: at,
            what: "unknown algorithm",
        })?;
        algorithms.push(a);
    }
    let root_len = r.u32()? as usize;
    if root_len > MAX_ROOT_LEN {
        return Err(r.malformed("root path too long"));
    }
    let root = r.take(root_len)?;
    if dev != identity.dev {
        return Err(InvalidCache::OtherFileSystem);
    }
    if root != identity.root.as_slice() || ino != identity.ino {
        return Err(InvalidCache::OtherRoot);
    }
    if algorithms != identity.algorithms {
        return Err(InvalidCache::OtherAlgorithms);
    }
    if identity.collision_detection && flags & FLAG_COLLISION_DETECTION == 0 {
        return Err(InvalidCache::CollisionDetection);
    }
    if flags & !FLAG_COLLISION_DETECTION != 0 {
        return Err(r.malformed("unknown flags"));
    }
    let count = r.u64()?;
    let records = r.pos;

    let ids_len: usize = algorithms.iter().map(|a| a.len()).sum();
    // Every record takes at least a kind, a name length, stat data and its ids: a count the bytes cannot
    // hold is refused before anything is allocated for it.
    let min_record = 3 + STAT_LEN + ids_len;
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c.saturating_mul(min_record) <= body.len().saturating_sub(r.pos))
        .ok_or(r.malformed("node count larger than the file"))?;
    if count == 0 {
        return Err(r.malformed("no root node"));
    }

    let mut nodes = Vec::with_capacity(count);
    // The open directories: (index one past the subtree, last child's name range).
    let mut open: Vec<(usize, Option<(usize, usize)>)> = Vec::new();
    for index in 0..count {
        while open.last().is_some_and(|&(end, _)| end == index) {
            open.pop();
        }
        let at = r.pos;
        let kind = Kind::from_byte(r.u8()?).ok_or(InvalidCache::Malformed {
            offset: at,
            what: "unknown node kind",
        })?;
        let name_len = usize::from(r.u16()?);
        let name = r.pos;
        let name_bytes = r.take(name_len)?;
        match open.last_mut() {
            None if index == 0 => {
                if name_len != 0 {
                    return Err(InvalidCache::Malformed {
                        offset: at,
                        what: "the root has a name",
                    });
                }
            }
            None => {
                return Err(InvalidCache::Malformed {
                    offset: at,
                    what: "a node outside the root",
                });
            }
            Some((_, last)) => {
                if !valid_name(name_bytes) {
                    return Err(InvalidCache::Malformed {
                        offset: at,
                        what: "invalid entry name",
                    });
                }
                if let Some((s, l)) = *last
                    && body.get(s..s + l).unwrap_or_default() >= name_bytes
                {
                    return Err(InvalidCache::Malformed {
                        offset: at,
                        what: "entry names not in increasing order",
                    });
                }
                *last = Some((name, name_len));
            }
        }
        let node_body = r.pos;
        r.take(STAT_LEN)?;
        let mut end = index + 1;
        match kind {
            Kind::File | Kind::Executable | Kind::Symlink => {}
            Kind::Directory => {
                let at = r.pos;
                let descendants = r.u64()?;
                let parent_end = open.last().map_or(count, |&(e, _)| e);
                end = usize::try_from(descendants)
                    .ok()
                    .and_then(|d| d.checked_add(index + 1))
                    .filter(|&e| e <= parent_end)
                    .ok_or(InvalidCache::Malformed {
                        offset: at,
                        what: "subtree larger than its parent",
                    })?;
                if open.len() >= max_depth {
                    return Err(InvalidCache::Malformed {
                        offset: at,
                        what: "directories nest deeper than the limit",
                    });
                }
            }
        }
        let ids = r.pos;
        r.take(ids_len)?;
        if index == 0 && end != count {
            return Err(InvalidCache::Malformed {
                offset: at,
                what: "the root's subtree does not span every node",
            });
        }
        nodes.push(Node {
            kind,
            record: at,
            name,
            name_len,
            body: node_body,
            ids,
            end,
        });
        if kind == Kind::Directory && end > index + 1 {
            open.push((end, None));
        }
    }
    if r.pos != body.len() {
        return Err(r.malformed("bytes after the last node"));
    }
    Ok((scan, records, nodes, ids_len))
}

/// Names a tree can hold: git's fsck and the walk refuse the others.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// A bounds-checked reader over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn malformed(&self, what: &'static str) -> InvalidCache {
        InvalidCache::Malformed {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], InvalidCache> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(self.malformed("length overflows"))?;
        let b = self
            .bytes
            .get(self.pos..end)
            .ok_or(self.malformed("record runs past the end of the file"))?;
        self.pos = end;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], InvalidCache> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| self.malformed("short field"))
    }

    fn u8(&mut self) -> Result<u8, InvalidCache> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, InvalidCache> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, InvalidCache> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, InvalidCache> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, InvalidCache> {
        Ok(i64::from_le_bytes(self.array()?))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.sec, self.nsec)
    }
}
