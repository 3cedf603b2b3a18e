//! The Nix Archive (NAR) format: Nix's canonical serialisation of a file system object, the
//! bytes behind the `nar` (a.k.a. "recursive", `r:`) ingestion method, `nix-store --dump` and
//! `nix-store --restore`, and the `.nar` files of binary caches.
//!
//! # Format
//!
//! Every token is a *string*: a 64-bit little-endian length, the bytes, then zero bytes up to a
//! multiple of 8. File contents are one such string, however long.
//!
//! ```text
//! nar       := str("nix-archive-1") node
//! node      := "(" "type" ( regular | symlink | directory ) ")"
//! regular   := "regular" [ "executable" "" ] "contents" str(contents)
//! symlink   := "symlink" "target" str(target)
//! directory := "directory" { "entry" "(" "name" str(name) "node" node ")" }
//! ```
//!
//! Entry names are strictly increasing in byte order (so unique), and never empty, `.`, `..`,
//! nor contain `/` or NUL.
//!
//! # What is here
//!
//! - [`Parser`]: a push-based (sans-IO) parser that validates as it streams and emits
//!   [`Event`](crate::event::Event)s. It never recurses, never allocates by a length read from the
//!   input (file contents pass through to the sink as slices of the input) and gives the same
//!   events however the input is split.
//! - [`read`]: the parser over a [`std::io::Read`], refusing bytes after the archive;
//!   `tokio::read` does the same over tokio's `AsyncRead` (feature `tokio`).
//! - [`NarWriter`]: a [`Sink`](crate::event::Sink) that writes NAR bytes exactly as `nix-store --dump` does;
//!   [`NarHasher`] hashes them instead (the NAR hash Nix records for every store path).
//!
//! ```
//! use nix_ingest::event::{Event, Recorder, Sink};
//! use nix_ingest::nar::{self, NarWriter};
//! use nix_ingest::Limits;
//!
//! // Write a tree as NAR…
//! let mut w = NarWriter::new(Vec::new());
//! w.event(Event::DirectoryStart { name: None })?;
//! w.event(Event::Symlink { name: Some(b"bar"), target: b"foo" })?;
//! w.event(Event::FileStart { name: Some(b"foo"), executable: false, size: 13 })?;
//! w.event(Event::FileData(b"Hello World!\n"))?;
//! w.event(Event::FileEnd)?;
//! w.event(Event::DirectoryEnd)?;
//! let bytes = w.finish()?;
//!
//! // …and read it back.
//! let mut rec = Recorder::default();
//! let len = nar::read(&bytes[..], &mut rec, &Limits::default())?;
//! assert_eq!(len, bytes.len() as u64);
//! assert_eq!(rec.events.len(), 6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where this differs from Nix
//!
//! The parser accepts exactly the archives `nix-store --dump` can produce and refuses the rest.
//! Where Nix 2.26.3 and Nix 2.34.8 judge an archive differently, it follows 2.34 (whose parser
//! is stricter, and bounds what it reads); the table lists what `nix-store --restore` of each
//! does (checked by `tests/hostile_nars.rs` against both, see `tests/data/hostile_nars/`):
//!
//! | archive | Nix 2.26.3 | Nix 2.34.8 | here |
//! |---|---|---|---|
//! | an object 64 levels below the root | restores it | refuses ("NAR directory nesting exceeds maximum depth of 64") | refuses ([`ReadError::NarTooDeep`]; [`Limits::NIX_2_26`] takes it) |
//! | a symlink target containing NUL | restores the target cut at the NUL | refuses ("invalid symlink target") | refuses |
//! | an empty symlink target | fails creating the link | refuses ("invalid symlink target") | refuses |
//! | a name over 255 bytes, a target over 4095 | fails creating it (the file system refuses) | refuses unread ("string is too long") | refuses unread ([`Limits`]) |
//! | a keyword over 32 bytes | reads it whole, then refuses | refuses unread ("string is too long") | refuses unread |
//! | `regular` with a tag other than `executable`/`contents` | takes any tag, an empty file | refuses ("expected tag 'contents'") | refuses |
//! | bytes after the archive | ignores them | ignores them | [`read`] refuses them |
//!
//! It is also stricter than both where a limit applies: depth, entries per directory and total
//! size are bounded by [`Limits`]. The case hack Nix uses on macOS (`~nix~case~hack~`) is not
//! applied: names are raw bytes.
//!
//! # ReadError offsets
//!
//! Every [`ReadError`] carries `offset`, a byte position in the archive (the magic string starts at
//! 0). Unless a variant says otherwise, it is the start of the string (its length field) at
//! which the problem was found: a wrong tag, a bad name, a length over a limit. Padding errors
//! point at the offending byte; [`ReadError::Truncated`] and [`ReadError::TrailingData`] at the end of
//! the input and of the archive.

use std::io::{self, Read};

use crate::event::SinkError;
use crate::limits::Limits;

pub mod listing;
mod parser;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "fs")]
mod unpack;
mod writer;

pub use parser::Parser;
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub use unpack::UnpackError;
pub use writer::{NarHasher, NarWriter};

/// The string every NAR starts with.
pub const MAGIC: &[u8] = b"nix-archive-1";

/// The size of the buffer [`read`] and `tokio::read` fill from the reader.
pub(crate) const READ_BUFFER_SIZE: usize = 128 * 1024;

/// Why an archive was refused. Every variant carries the byte `offset` where the problem starts
/// (see the [module docs](self#error-offsets)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input ended before the archive did. `offset` is the length of the input.
    #[error("NAR truncated: input ended at byte {offset} inside the archive")]
    Truncated {
        /// The number of bytes received.
        offset: u64,
    },
    /// The input does not start with the string `nix-archive-1` (`offset` is 0).
    #[error("not a Nix archive: expected \"nix-archive-1\" at byte {offset}")]
    BadMagic {
        /// Where the magic string starts.
        offset: u64,
    },
    /// A keyword other than the grammar allows here.
    #[error("bad NAR at byte {offset}: expected {expected}, got \"{}\"", .got.escape_ascii())]
    UnexpectedTag {
        /// Where the string starts.
        offset: u64,
        /// What the grammar allows here.
        expected: &'static str,
        /// The keyword found.
        got: Vec<u8>,
    },
    /// A string where a keyword belongs is longer than any keyword; refused without reading it.
    #[error("bad NAR at byte {offset}: expected {expected}, got a string of {len} bytes")]
    TagTooLong {
        /// Where the string starts.
        offset: u64,
        /// What the grammar allows here.
        expected: &'static str,
        /// The length field.
        len: u64,
    },
    /// A node type other than `regular`, `symlink` or `directory`.
    #[error("bad NAR at byte {offset}: unknown file type \"{}\"", .got.escape_ascii())]
    UnknownType {
        /// Where the type string starts.
        offset: u64,
        /// The type found.
        got: Vec<u8>,
    },
    /// The string after `executable` is not empty.
    #[error("bad NAR at byte {offset}: executable marker has a non-empty value ({len} bytes)")]
    ExecutableNotEmpty {
        /// Where the value string starts.
        offset: u64,
        /// Its length field.
        len: u64,
    },
    /// A second `executable` marker in the same file.
    #[error("bad NAR at byte {offset}: executable marker given twice")]
    DuplicateExecutable {
        /// Where the second `executable` string starts.
        offset: u64,
    },
    /// A padding byte is not zero.
    #[error("bad NAR at byte {offset}: non-zero padding byte 0x{byte:02x}")]
    NonZeroPadding {
        /// The position of the first non-zero padding byte.
        offset: u64,
        /// Its value.
        byte: u8,
    },
    /// An entry name that is empty, `.`, `..`, or contains `/` or NUL.
    #[error("bad NAR at byte {offset}: invalid file name \"{}\"", .name.escape_ascii())]
    InvalidName {
        /// Where the name string starts.
        offset: u64,
        /// The name.
        name: Vec<u8>,
    },
    /// An entry name that sorts before the previous one in its directory.
    #[error(
        "bad NAR at byte {offset}: directory not sorted: \"{}\" after \"{}\"",
        .name.escape_ascii(),
        .previous.escape_ascii()
    )]
    UnsortedEntry {
        /// Where the name string starts.
        offset: u64,
        /// The name.
        name: Vec<u8>,
        /// The name of the entry before it.
        previous: Vec<u8>,
    },
    /// An entry name equal to the previous one in its directory.
    #[error("bad NAR at byte {offset}: duplicate entry \"{}\"", .name.escape_ascii())]
    DuplicateEntry {
        /// Where the second name string starts.
        offset: u64,
        /// The name.
        name: Vec<u8>,
    },
    /// A symlink with an empty target.
    #[error("bad NAR at byte {offset}: empty symlink target")]
    EmptyTarget {
        /// Where the target string starts.
        offset: u64,
    },
    /// A symlink target containing a NUL byte.
    #[error("bad NAR at byte {offset}: symlink target \"{}\" contains NUL", .target.escape_ascii())]
    TargetContainsNul {
        /// Where the target string starts.
        offset: u64,
        /// The target.
        target: Vec<u8>,
    },
    /// An entry name longer than [`Limits::max_name_len`]; refused without reading it.
    #[error("NAR entry name at byte {offset} is {len} bytes long, over the limit of {max}")]
    NameTooLong {
        /// Where the name string starts.
        offset: u64,
        /// Its length field.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A symlink target longer than [`Limits::max_target_len`]; refused without reading it.
    #[error("NAR symlink target at byte {offset} is {len} bytes long, over the limit of {max}")]
    TargetTooLong {
        /// Where the target string starts.
        offset: u64,
        /// Its length field.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// Directories nested deeper than [`Limits::max_depth`].
    #[error("NAR directory at byte {offset} is nested deeper than the limit of {max}")]
    TooDeep {
        /// Where the `directory` type string of the directory too deep starts.
        offset: u64,
        /// The limit.
        max: usize,
    },
    /// An object [`Limits::max_nar_depth`] levels below the root (64 by default): Nix 2.34.7
    /// and later refuse such a NAR ("NAR directory nesting exceeds maximum depth of 64"). See
    /// [NAR nesting](crate::limits#nar-nesting).
    #[error(
        "NAR nesting exceeds the maximum depth of {max}: the object at byte {offset} lies {max} levels below the root"
    )]
    NarTooDeep {
        /// Where the object starts (its `"("`, right after the `node` string of its entry).
        offset: u64,
        /// The limit ([`Limits::max_nar_depth`]), which is also the object's level.
        max: usize,
    },
    /// A directory with more than [`Limits::max_entries_per_directory`] entries.
    #[error("NAR directory has more than {max} entries (at byte {offset})")]
    TooManyEntries {
        /// Where the `entry` string of the first entry over the limit starts.
        offset: u64,
        /// The limit.
        max: u64,
    },
    /// File contents and symlink targets adding up to more than [`Limits::max_total_size`].
    #[error("NAR content of {size} bytes at byte {offset} goes over the total size limit of {max}")]
    TotalSizeExceeded {
        /// Where the length field of the contents or target starts.
        offset: u64,
        /// That length field.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Bytes follow the end of the archive. `offset` is the archive's length.
    #[error("unexpected data after the end of the NAR at byte {offset}")]
    TrailingData {
        /// Where the archive ends and the extra bytes start.
        offset: u64,
    },
    /// The sink refused an event. `offset` is where the input that made the event starts: the
    /// `directory` type string for `DirectoryStart`, the closing `")"` for `DirectoryEnd`, the
    /// contents' length field for `FileStart`, the chunk's first byte for `FileData`, the end of
    /// the contents and their padding for `FileEnd`, the target string for `Symlink`.
    #[error("sink failed at NAR byte {offset}")]
    Sink {
        /// Where the input behind the refused event starts.
        offset: u64,
        /// The sink's error.
        source: SinkError,
    },
    /// Reading the input failed. `offset` is the number of bytes parsed so far.
    #[error("reading NAR failed at byte {offset}")]
    Io {
        /// The number of bytes parsed so far.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
    /// [`Parser::push`] or [`Parser::finish`] was called after the parser had failed.
    #[error("NAR parser used after an earlier error at byte {offset}")]
    Poisoned {
        /// The parser's offset when it failed.
        offset: u64,
    },
}

impl ReadError {
    /// The byte offset where the problem starts (see each variant).
    pub fn offset(&self) -> u64 {
        match *self {
            ReadError::Truncated { offset }
            | ReadError::BadMagic { offset }
            | ReadError::UnexpectedTag { offset, .. }
            | ReadError::TagTooLong { offset, .. }
            | ReadError::UnknownType { offset, .. }
            | ReadError::ExecutableNotEmpty { offset, .. }
            | ReadError::DuplicateExecutable { offset }
            | ReadError::NonZeroPadding { offset, .. }
            | ReadError::InvalidName { offset, .. }
            | ReadError::UnsortedEntry { offset, .. }
            | ReadError::DuplicateEntry { offset, .. }
            | ReadError::EmptyTarget { offset }
            | ReadError::TargetContainsNul { offset, .. }
            | ReadError::NameTooLong { offset, .. }
            | ReadError::TargetTooLong { offset, .. }
            | ReadError::TooDeep { offset, .. }
            | ReadError::NarTooDeep { offset, .. }
            | ReadError::TooManyEntries { offset, .. }
            | ReadError::TotalSizeExceeded { offset, .. }
            | ReadError::TrailingData { offset }
            | ReadError::Sink { offset, .. }
            | ReadError::Io { offset, .. }
            | ReadError::Poisoned { offset } => offset,
        }
    }
}

/// Parses a whole NAR from `reader` into `sink`, returning its length in bytes.
///
/// The reader must end where the archive ends: extra bytes give [`ReadError::TrailingData`]. Reads
/// go through one buffer of 128 KiB; wrap the reader in a `BufReader` only if it is slow to call.
/// For an archive already in memory, [`Parser::push`] of the whole slice skips that copy.
///
/// ```
/// use nix_ingest::event::Recorder;
/// use nix_ingest::{nar, Limits};
///
/// let mut rec = Recorder::default();
/// let err = nar::read(&b"not a NAR at all"[..], &mut rec, &Limits::default()).unwrap_err();
/// assert!(matches!(err, nar::ReadError::BadMagic { offset: 0 }));
/// ```
pub fn read<R, S>(mut reader: R, sink: &mut S, limits: &Limits) -> Result<u64, ReadError>
where
    R: Read,
    S: crate::event::Sink + ?Sized,
{
    let mut parser = Parser::new(*limits);
    let mut buf = crate::buffer::ReadBuffer::new(READ_BUFFER_SIZE);
    loop {
        let read = reader.read(&mut buf);
        if !feed(&mut parser, read, &buf, sink)? {
            return parser.finish();
        }
    }
}

/// One step of a reading adapter ([`read`], [`tokio::read`](self::tokio::read)): feeds what one
/// `read` call into `buf` returned to the parser. `Ok(false)` at the end of the input (the caller
/// then finishes the parser), `Ok(true)` to read on. Bytes after the archive are an error.
pub(crate) fn feed<S: crate::event::Sink + ?Sized>(
    parser: &mut Parser,
    read: io::Result<usize>,
    buf: &[u8],
    sink: &mut S,
) -> Result<bool, ReadError> {
    let n = match read {
        Ok(0) => return Ok(false),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
        Err(source) => {
            return Err(ReadError::Io {
                offset: parser.offset(),
                source,
            });
        }
    };
    let chunk = buf.get(..n).ok_or_else(|| ReadError::Io {
        offset: parser.offset(),
        source: io::Error::new(io::ErrorKind::InvalidData, "reader returned too many bytes"),
    })?;
    if parser.push(chunk, sink)? < n {
        return Err(ReadError::TrailingData {
            offset: parser.offset(),
        });
    }
    Ok(true)
}

/// Restores the NAR read from `reader` at `target`: the route is
/// [`Options::unpack_nar`](crate::Options::unpack_nar), which documents it.
#[cfg(feature = "fs")]
pub(crate) fn unpack<R: Read>(
    reader: R,
    target: &std::path::Path,
    settings: &crate::Settings,
) -> Result<u64, UnpackError> {
    unpack::unpack(reader, target, settings.limits(), settings.buffer_size())
}
