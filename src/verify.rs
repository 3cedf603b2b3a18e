//! Verifying an uploaded NAR against the content address it claims, in one streaming pass —
//! what a binary cache or daemon must do before it accepts a content-addressed store object.
//!
//! [`verify_nar`] parses the NAR ([`nar::read`], so malformed archives fail
//! with the byte offset), feeds the events to the hasher the content address calls for (flat,
//! NAR or git; text addresses hash the single file like flat), and, when asked
//! ([`Options::nar_hash`]), hashes the raw NAR bytes at the same time. Only when every digest
//! matches does it return the [`StorePath`] the content address, name and references make; a
//! mismatch is [`Error::HashMismatch`], carrying the expected and the actual hash.
//!
//! Nix does the same when it adds a content-addressed path from a NAR (`LocalStore::addToStore`
//! recomputes the content address and refuses a mismatch). Differences: self-referencing
//! objects, whose hash Nix computes modulo their own hash part, are refused here
//! ([`Error::SelfReference`]); and git content addresses with SHA-256 are accepted (as newer
//! Nix does; Nix 2.26 refuses them).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::content_address::ContentAddress;
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::nar::NarWriter;
//! use nix_ingest::store_path::{References, StoreDir};
//! use nix_ingest::verify::{self, verify_nar};
//!
//! // A NAR of the tree from Nix's tests: `bar -> foo`, `bla/`, `foo` = "Hello World!\n".
//! let mut w = NarWriter::new(Vec::new());
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
//!     w.event(event)?;
//! }
//! let nar = w.finish()?;
//!
//! let ca: ContentAddress = "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d".parse()?;
//! let store = StoreDir::default();
//! let path = verify_nar(&nar[..], &ca, "fixed", &References::default(), &store)?;
//! assert_eq!(store.print(&path), "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed");
//!
//! // One flipped bit in the file's content, and the upload is refused.
//! let mut bad = nar.clone();
//! let at = bad.windows(5).position(|w| w == b"Hello").unwrap();
//! bad[at] ^= 1;
//! let err = verify_nar(&bad[..], &ca, "fixed", &References::default(), &store).unwrap_err();
//! assert!(matches!(err, verify::Error::HashMismatch { .. }));
//! # Ok(()) }
//! ```

use std::io::{self, Read};

use crate::content_address::{ContentAddress, ContentAddressMethod};
use crate::event::SinkError;
use crate::flat::FlatHasher;
use crate::git::GitHasher;
use crate::hash::{Hash, Hasher};
use crate::limits::Limits;
use crate::method::{FileIngestionMethod, HashSink};
use crate::nar::{self, NarHasher};
use crate::store_path::{self, References, StoreDir, StorePath};

/// Which digest did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// The content address's hash (over the file, the NAR or the git object, per its method).
    ContentAddress,
    /// The hash of the NAR bytes ([`Options::nar_hash`]).
    Nar,
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Digest::ContentAddress => "content address",
            Digest::Nar => "NAR hash",
        })
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name, content address and references make no valid store path (e.g. a bad name, a
    /// method that allows no references, an algorithm a method does not allow).
    #[error("invalid store object: {0}")]
    StorePath(#[from] store_path::Error),
    /// Self-references are not supported (Nix hashes such objects modulo their own hash part).
    #[error("cannot verify a self-referencing content-addressed object")]
    SelfReference,
    /// The NAR is malformed or breaks a limit; the error carries the byte offset. A hasher's
    /// refusal (e.g. a flat address for a directory) also arrives here, as a sink error.
    #[error("invalid NAR: {0}")]
    Nar(#[from] nar::Error),
    /// The stream ended in a state a hasher refused (e.g. a SHA-1 collision attack).
    #[error("cannot hash the NAR's contents: {0}")]
    Hash(SinkError),
    /// A digest differs from what was claimed.
    #[error("{what} mismatch: expected {expected}, got {actual}")]
    HashMismatch {
        /// Which digest.
        what: Digest,
        /// What the upload claimed (boxed, as is `actual`, to keep the error small).
        expected: Box<Hash>,
        /// What its bytes hash to.
        actual: Box<Hash>,
    },
    /// The NAR's length differs from what was claimed.
    #[error("NAR size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The claimed size.
        expected: u64,
        /// The actual size.
        actual: u64,
    },
}

/// What else to check, and the limits of the NAR parser.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Bounds on the NAR (see [`Limits`]).
    pub limits: Limits,
    /// The expected hash of the NAR bytes (a narinfo's `NarHash`), checked in the same pass.
    pub nar_hash: Option<Hash>,
    /// The expected length of the NAR in bytes (a narinfo's `NarSize`).
    pub nar_size: Option<u64>,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The store path the content address, name and references make.
    pub path: StorePath,
    /// The NAR's length in bytes.
    pub nar_size: u64,
    /// The hash of the NAR bytes, when [`Options::nar_hash`] asked for one (same algorithm).
    pub nar_hash: Option<Hash>,
}

/// Verifies in one pass that the NAR read from `reader` has content address `ca`, and returns
/// the store path of `name` with that content address and `references`.
///
/// See the [module docs](self). Equivalent to [`verify_nar_with`] with default [`Options`].
pub fn verify_nar<R: Read>(
    reader: R,
    ca: &ContentAddress,
    name: &str,
    references: &References,
    store: &StoreDir,
) -> Result<StorePath, Error> {
    verify_nar_with(reader, ca, name, references, store, &Options::default()).map(|v| v.path)
}

/// [`verify_nar`], also checking the NAR's hash and size when `options` name them.
pub fn verify_nar_with<R: Read>(
    reader: R,
    ca: &ContentAddress,
    name: &str,
    references: &References,
    store: &StoreDir,
    options: &Options,
) -> Result<Verified, Error> {
    if references.self_ref {
        return Err(Error::SelfReference);
    }
    // Refuse what can have no store path before reading a byte.
    let path = store.make_path_from_ca(name, ca, references)?;
    let expected = *ca.hash();
    let algorithm = expected.algorithm();
    let mut sink: Box<dyn HashSink> = match ca.method() {
        ContentAddressMethod::Text | ContentAddressMethod::Fixed(FileIngestionMethod::Flat) => {
            Box::new(FlatHasher::new(algorithm))
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Nar) => {
            Box::new(NarHasher::new(algorithm).max_depth(options.limits.max_nar_depth))
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Git) => {
            Box::new(GitHasher::new(algorithm))
        }
    };
    let mut raw = HashingReader {
        inner: reader,
        hasher: options.nar_hash.map(|h| Hasher::new(h.algorithm())),
        size: 0,
    };
    nar::read(&mut raw, &mut *sink, &options.limits)?;
    let actual = sink.finish().map_err(Error::Hash)?;
    if actual != expected {
        return Err(Error::HashMismatch {
            what: Digest::ContentAddress,
            expected: Box::new(expected),
            actual: Box::new(actual),
        });
    }
    if let Some(expected) = options.nar_size
        && expected != raw.size
    {
        return Err(Error::SizeMismatch {
            expected,
            actual: raw.size,
        });
    }
    let nar_hash = match (options.nar_hash, raw.hasher) {
        (Some(expected), Some(hasher)) => {
            let actual = hasher
                .finalize()
                .map_err(|e| Error::Hash(SinkError::Other(Box::new(e))))?;
            if actual != expected {
                return Err(Error::HashMismatch {
                    what: Digest::Nar,
                    expected: Box::new(expected),
                    actual: Box::new(actual),
                });
            }
            Some(actual)
        }
        _ => None,
    };
    Ok(Verified {
        path,
        nar_size: raw.size,
        nar_hash,
    })
}

/// Counts and (optionally) hashes the bytes read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    size: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = buf.get(..n).unwrap_or_default();
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.size = self.size.saturating_add(n as u64);
        Ok(n)
    }
}
