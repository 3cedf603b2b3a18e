//! Verifying an uploaded NAR against the content address it claims, in one streaming pass —
//! what a binary cache or daemon must do before it accepts a content-addressed store object.
//!
//! [`verify_nar`] parses the NAR ([`nar::read`], so malformed archives fail
//! with the byte offset), feeds the events to the hasher the content address calls for (flat,
//! NAR or git, made by [`IngestionMethod::hash_sink`]; text addresses hash the single file like flat), and,
//! when the [`Claim`] names them ([`Claim::nar_hash`], [`Claim::nar_size`]), hashes and counts
//! the raw NAR bytes at the same time. Only when every digest matches does it return the
//! [`StorePath`] the content address, name and references make; a mismatch is
//! [`VerifyError::HashMismatch`], carrying the expected and the actual hash.
//!
//! Nix does the same when it adds a content-addressed path from a NAR (`LocalStore::addToStore`
//! recomputes the content address and refuses a mismatch). Differences: self-referencing
//! objects, whose hash Nix computes modulo their own hash part, are refused here
//! ([`VerifyError::SelfReference`]); and git content addresses with SHA-256 are accepted (as newer
//! Nix does; Nix 2.26 refuses them).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::nar::NarWriter;
//! use nix_ingest::verify::{self, Claim, verify_nar};
//! use nix_ingest::{ContentAddress, Options, StoreDir};
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
//! let claim = Claim::new("fixed", ca);
//! let verified = verify_nar(&nar[..], &claim, &store, &Options::new())?;
//! assert_eq!(
//!     store.display_path(&verified.path),
//!     "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed"
//! );
//!
//! // One flipped bit in the file's content, and the upload is refused.
//! let mut bad = nar.clone();
//! let at = bad.windows(5).position(|w| w == b"Hello").unwrap();
//! bad[at] ^= 1;
//! let err = verify_nar(&bad[..], &claim, &store, &Options::new()).unwrap_err();
//! assert!(matches!(err, verify::VerifyError::HashMismatch { .. }));
//! # Ok(()) }
//! ```

use std::io::{self, Read};
use std::sync::Arc;

use crate::content_address::{ContentAddress, ContentAddressMethod};
use crate::event::SinkError;
use crate::hash::{Hash, Hasher};
use crate::method::{FileIngestionMethod, HashSink, IngestionMethod};
use crate::nar;
use crate::options::Options;
use crate::store_path::{self, References, StoreDir, StorePath};

/// Which digest did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Digest {
    /// The content address's hash (over the file, the NAR or the git object, per its method).
    ContentAddress,
    /// The hash of the NAR bytes ([`Claim::nar_hash`]).
    Nar,
    /// A digest of another method, e.g. one of your own ([`Claim::digest`]), named by the
    /// method's [`name`](IngestionMethod::name).
    Method(String),
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Digest::ContentAddress => f.write_str("content address"),
            Digest::Nar => f.write_str("NAR hash"),
            Digest::Method(name) => write!(f, "{} digest", name.escape_debug()),
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The name, content address and references make no valid store path (e.g. a bad name, a
    /// method that allows no references, an algorithm a method does not allow).
    #[error("invalid store object")]
    StorePath(#[from] store_path::StorePathError),
    /// Self-references are not supported (Nix hashes such objects modulo their own hash part).
    #[error("cannot verify a self-referencing content-addressed object")]
    SelfReference,
    /// A [claimed digest](Claim::digest)'s method could not make its hasher.
    #[error("cannot start a claimed digest's hasher")]
    Method(#[from] crate::method::MethodError),
    /// The NAR is malformed or breaks a limit; the error carries the byte offset. A hasher's
    /// refusal (e.g. a flat address for a directory) also arrives here, as a sink error.
    #[error("invalid NAR")]
    Nar(#[from] nar::ReadError),
    /// The stream ended in a state a hasher refused (e.g. a SHA-1 collision attack).
    #[error("cannot hash the NAR's contents")]
    Hash(#[source] SinkError),
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

/// What an upload claims to be: a name and a content address, and optionally references, the
/// hash of the NAR bytes and their length (a narinfo's `References`, `NarHash` and `NarSize`).
///
/// ```
/// use nix_ingest::verify::Claim;
/// use nix_ingest::{Algorithm, ContentAddress, Hash};
///
/// let ca: ContentAddress = "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d".parse().unwrap();
/// let claim = Claim::new("fixed", ca).nar_size(344);
/// assert_eq!(claim.name(), "fixed");
/// assert_eq!(claim.claimed_nar_size(), Some(344));
/// assert_eq!(claim.claimed_nar_hash(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    name: String,
    ca: ContentAddress,
    references: References,
    nar_hash: Option<Hash>,
    nar_size: Option<u64>,
    digests: Vec<MethodDigest>,
}

/// A digest of any [`IngestionMethod`] that a [`Claim`] also makes ([`Claim::digest`]).
#[derive(Clone)]
struct MethodDigest {
    method: Arc<dyn IngestionMethod + Send + Sync>,
    expected: Hash,
}

impl std::fmt::Debug for MethodDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:?}", self.method.name(), self.expected)
    }
}

/// Two claimed digests are equal when their methods' names and their hashes are.
impl PartialEq for MethodDigest {
    fn eq(&self, other: &Self) -> bool {
        self.method.name() == other.method.name() && self.expected == other.expected
    }
}

impl Eq for MethodDigest {}

impl Claim {
    /// A store object named `name` with content address `ca`, no references, and no claim
    /// about the NAR's hash or size.
    pub fn new(name: impl Into<String>, ca: ContentAddress) -> Self {
        Claim {
            name: name.into(),
            ca,
            references: References::default(),
            nar_hash: None,
            nar_size: None,
            digests: Vec::new(),
        }
    }

    /// The store paths the object refers to (they go into its store path).
    pub fn references(mut self, references: References) -> Self {
        self.references = references;
        self
    }

    /// The hash of the NAR bytes, checked in the same pass (any algorithm).
    pub fn nar_hash(mut self, hash: Hash) -> Self {
        self.nar_hash = Some(hash);
        self
    }

    /// The length of the NAR in bytes.
    pub fn nar_size(mut self, bytes: u64) -> Self {
        self.nar_size = Some(bytes);
        self
    }

    /// One more digest to check in the same pass: what `method` (one of Nix's, or one of your
    /// own) computes with `expected`'s algorithm. A mismatch is [`VerifyError::HashMismatch`] with
    /// [`Digest::Method`] naming the method. Any number can be added.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::event::{Event, Sink};
    /// use nix_ingest::nar::NarWriter;
    /// use nix_ingest::verify::{self, Claim, Digest, verify_nar};
    /// use nix_ingest::{Algorithm, ContentAddress, FileIngestionMethod, Hash, Options, StoreDir};
    ///
    /// let mut w = NarWriter::new(Vec::new());
    /// for event in [
    ///     Event::FileStart { name: None, executable: false, size: 6 },
    ///     Event::FileData(b"hello\n"),
    ///     Event::FileEnd,
    /// ] {
    ///     w.event(event)?;
    /// }
    /// let nar = w.finish()?;
    ///
    /// // The git blob id as content address, and the BLAKE3 of the NAR beside it.
    /// let ca: ContentAddress = "fixed:git:sha1:ce013625030ba8dba906f756967f9e9ca394464a".parse()?;
    /// let blake3 = Hash::digest(Algorithm::Blake3, &nar);
    /// let claim = Claim::new("hello", ca.clone()).digest(FileIngestionMethod::Nar, blake3);
    /// verify_nar(&nar[..], &claim, &StoreDir::default(), &Options::new())?;
    ///
    /// let wrong = Hash::digest(Algorithm::Blake3, b"");
    /// let claim = Claim::new("hello", ca).digest(FileIngestionMethod::Nar, wrong);
    /// let err = verify_nar(&nar[..], &claim, &StoreDir::default(), &Options::new()).unwrap_err();
    /// assert!(matches!(err, verify::VerifyError::HashMismatch { what: Digest::Method(m), .. } if m == "nar"));
    /// # Ok(()) }
    /// ```
    pub fn digest(
        mut self,
        method: impl IngestionMethod + Send + Sync + 'static,
        expected: Hash,
    ) -> Self {
        self.digests.push(MethodDigest {
            method: Arc::new(method),
            expected,
        });
        self
    }

    /// The store object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The content address.
    pub fn content_address(&self) -> &ContentAddress {
        &self.ca
    }

    /// The references.
    pub fn claimed_references(&self) -> &References {
        &self.references
    }

    /// The claimed NAR hash, if any.
    pub fn claimed_nar_hash(&self) -> Option<Hash> {
        self.nar_hash
    }

    /// The claimed NAR size, if any.
    pub fn claimed_nar_size(&self) -> Option<u64> {
        self.nar_size
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The store path the content address, name and references make.
    pub path: StorePath,
    /// The NAR's length in bytes.
    pub nar_size: u64,
    /// The hash of the NAR bytes, when the claim named one (same algorithm).
    pub nar_hash: Option<Hash>,
}

/// Verifies in one pass that the NAR read from `reader` is what `claim` says, and returns the
/// store path it makes in `store`. See the [module docs](self).
///
/// Of the [`Options`], the NAR parser takes the [limits](Options::limits) and the hashers (made by
/// [`IngestionMethod::hash_sink`], also for the claim's [other digests](Claim::digest)) the
/// [collision detection](Options::collision_detection) and [strict root](Options::strict_root).
pub fn verify_nar<R: Read>(
    reader: R,
    claim: &Claim,
    store: &StoreDir,
    options: &Options,
) -> Result<Verified, VerifyError> {
    let mut check = Check::start(claim, store, options)?;
    let mut raw = HashingReader {
        inner: reader,
        hasher: check.nar_hasher.take(),
        size: 0,
    };
    nar::read(&mut raw, &mut check.sinks, options.settings().limits())?;
    check.nar_hasher = raw.hasher;
    check.end(claim, raw.size)
}

/// [`verify_nar`] from tokio's `AsyncRead` (feature `tokio`).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn verify_nar_async<R>(
    reader: R,
    claim: &Claim,
    store: &StoreDir,
    options: &Options,
) -> Result<Verified, VerifyError>
where
    R: ::tokio::io::AsyncRead + Unpin,
{
    let mut check = Check::start(claim, store, options)?;
    let mut raw = AsyncHashingReader {
        inner: reader,
        hasher: check.nar_hasher.take(),
        size: 0,
    };
    nar::tokio::read(&mut raw, &mut check.sinks, options.settings().limits()).await?;
    check.nar_hasher = raw.hasher;
    check.end(claim, raw.size)
}

/// A verification in progress.
struct Check {
    path: StorePath,
    /// The content address's sink first, then one per [`Claim::digest`], in order.
    sinks: Vec<Box<dyn HashSink>>,
    nar_hasher: Option<Hasher>,
}

impl Check {
    /// Refuses what can have no store path before reading a byte, and makes the hashers.
    fn start(claim: &Claim, store: &StoreDir, options: &Options) -> Result<Check, VerifyError> {
        if claim.references.self_ref {
            return Err(VerifyError::SelfReference);
        }
        let path = store.make_path_from_ca(&claim.name, &claim.ca, &claim.references)?;
        let method = match claim.ca.method() {
            ContentAddressMethod::Text => FileIngestionMethod::Flat,
            ContentAddressMethod::Fixed(method) => method,
        };
        let settings = options.settings();
        let mut sinks = vec![method.hash_sink(claim.ca.hash().algorithm(), settings)?];
        for d in &claim.digests {
            sinks.push(d.method.hash_sink(d.expected.algorithm(), settings)?);
        }
        let nar_hasher = claim
            .nar_hash
            .map(|h| Hasher::with_collision_detection(h.algorithm(), settings.collision_detection));
        Ok(Check {
            path,
            sinks,
            nar_hasher,
        })
    }

    /// Compares every digest once the NAR has been read.
    fn end(self, claim: &Claim, size: u64) -> Result<Verified, VerifyError> {
        let claimed = std::iter::once((Digest::ContentAddress, *claim.ca.hash())).chain(
            claim
                .digests
                .iter()
                .map(|d| (Digest::Method(d.method.name().to_owned()), d.expected)),
        );
        for (sink, (what, expected)) in self.sinks.into_iter().zip(claimed) {
            let actual = sink.finish().map_err(VerifyError::Hash)?;
            if actual != expected {
                return Err(VerifyError::HashMismatch {
                    what,
                    expected: Box::new(expected),
                    actual: Box::new(actual),
                });
            }
        }
        if let Some(expected) = claim.nar_size
            && expected != size
        {
            return Err(VerifyError::SizeMismatch {
                expected,
                actual: size,
            });
        }
        let nar_hash = match (claim.nar_hash, self.nar_hasher) {
            (Some(expected), Some(hasher)) => {
                let actual = hasher
                    .finalize()
                    .map_err(|e| VerifyError::Hash(SinkError::from_hash(e, "NAR")))?;
                if actual != expected {
                    return Err(VerifyError::HashMismatch {
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
            path: self.path,
            nar_size: size,
            nar_hash,
        })
    }
}

/// Counts and (optionally) hashes the bytes read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    size: u64,
}

impl<R> HashingReader<R> {
    fn saw(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.size = self.size.saturating_add(data.len() as u64);
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.saw(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// [`HashingReader`] for tokio.
#[cfg(feature = "tokio")]
type AsyncHashingReader<R> = HashingReader<R>;

#[cfg(feature = "tokio")]
impl<R: ::tokio::io::AsyncRead + Unpin> ::tokio::io::AsyncRead for HashingReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ::tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = poll {
            let data = buf.filled().get(before..).unwrap_or_default();
            self.saw(data);
        }
        poll
    }
}
