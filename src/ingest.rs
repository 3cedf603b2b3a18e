//! One-call helpers: the hash of a path on disk or of a NAR, by any ingestion method.
//!
//! These are what `nix hash path --mode flat|nar|git --algo …` computes (the hash part of a
//! content address): a source ([directory walk](crate::fs) or [NAR parser](crate::nar)) streams
//! the object into the method's [`HashSink`], in one pass and bounded memory.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::hash::{Algorithm, Format};
//! use nix_ingest::ingest;
//! use nix_ingest::method::{FileIngestionMethod, IngestionMethod};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//!
//! // One method…
//! let git = ingest::hash_path(dir.path(), FileIngestionMethod::Git, Algorithm::Sha1)?;
//!
//! // …or several answers from one walk of the tree.
//! let hashes = ingest::hash_path_multi(
//!     dir.path(),
//!     &[
//!         (&FileIngestionMethod::Git, Algorithm::Sha1),
//!         (&FileIngestionMethod::Git, Algorithm::Sha256),
//!         (&FileIngestionMethod::Nar, Algorithm::Sha256),
//!     ],
//! )?;
//! assert_eq!(hashes[0], git);
//!
//! // The NAR of the same tree gives the same answers.
//! let mut nar = nix_ingest::nar::NarWriter::new(Vec::new());
//! nix_ingest::fs::dump(dir.path(), &mut nar, &Default::default())?;
//! let nar = nar.finish()?;
//! let from_nar = ingest::hash_nar(&nar[..], FileIngestionMethod::Git, Algorithm::Sha256)?;
//! assert_eq!(from_nar, hashes[1]);
//! # Ok(()) }
//! ```
//!
//! # Where Nix differs
//!
//! - **A symlink as the root is never followed.** For the `nar` and `git` methods Nix does not
//!   follow it either. For `flat`, `nix hash path --mode flat` (and `nix hash file`) hash the
//!   file the link points to, while `nix store add --mode flat` refuses the path ("is a
//!   symlink"); here flat hashing of a symlink fails like the latter. To hash the target, resolve
//!   the link first (e.g. [`std::fs::canonicalize`]).
//! - Files that change while being read, and inputs beyond [`Limits`], are errors; see
//!   [`fs`] and [`nar`].
//! - **Nesting**: as Nix 2.34.7 and later, the `nar` method refuses an object 64 levels below
//!   the root, naming its path or byte offset, while the `git` method hashes it (and so does
//!   `nix hash path --mode git`); Nix 2.26.3 takes any depth ([`Limits::NIX_2_26`]). See
//!   [NAR nesting](crate::limits#nar-nesting).

use std::io::Read;
#[cfg(feature = "fs")]
use std::path::Path;

use crate::event::SinkError;
#[cfg(feature = "fs")]
use crate::fs;
use crate::hash::{Algorithm, Hash};
use crate::limits::Limits;
use crate::method::{self, HashSink, IngestionMethod};
use crate::nar;

/// Why a one-call hash failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Walking the path failed, or the method's sink refused what it found there (the error names
    /// the path).
    #[cfg(feature = "fs")]
    #[error(transparent)]
    Fs(#[from] fs::Error),
    /// The NAR was refused, or the method's sink refused what it holds (the error names the byte
    /// offset).
    #[error(transparent)]
    Nar(#[from] nar::Error),
    /// The sink could not produce a digest once the object was complete (e.g. a SHA-1 collision
    /// attack was detected in the last object).
    #[error("cannot finish hash: {0}")]
    Sink(#[from] SinkError),
    /// The method could not make a sink (e.g. it does not support the algorithm).
    #[error(transparent)]
    Method(#[from] method::Error),
}

/// The hash of the file system object at `path` by `method` with `algorithm`, as
/// `nix hash path --mode <method> --algo <algorithm>` prints it. Walks with the default
/// [`fs::Options`].
///
/// `method` is a [`FileIngestionMethod`](crate::method::FileIngestionMethod), a reference to
/// one, or any other [`IngestionMethod`] (also as `&dyn IngestionMethod`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use nix_ingest::hash::{Algorithm, Format};
/// use nix_ingest::method::FileIngestionMethod;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("foo");
/// std::fs::write(&file, "Hello World!\n")?;
/// let hash = nix_ingest::hash_path(&file, FileIngestionMethod::Flat, Algorithm::Sha256)?;
/// // `sha256sum` of the same bytes:
/// assert_eq!(
///     hash.encode(Format::Base16),
///     "03ba204e50d126e4674c005e04d82e84c21366780af1f43bd54a37816b6ab340"
/// );
/// # Ok(()) }
/// ```
#[cfg(feature = "fs")]
pub fn hash_path<M: IngestionMethod>(
    path: impl AsRef<Path>,
    method: M,
    algorithm: Algorithm,
) -> Result<Hash, Error> {
    hash_path_with(path, method, algorithm, &fs::Options::default())
}

/// [`hash_path`] with explicit walk [`fs::Options`] (limits, read buffer size).
#[cfg(feature = "fs")]
pub fn hash_path_with<M: IngestionMethod>(
    path: impl AsRef<Path>,
    method: M,
    algorithm: Algorithm,
    options: &fs::Options,
) -> Result<Hash, Error> {
    let mut sink = method.hash_sink(algorithm)?;
    fs::dump(path.as_ref(), &mut sink, options)?;
    Ok(sink.finish()?)
}

/// The hash by `method` with `algorithm` of the file system object the NAR from `reader` holds,
/// with the default [`Limits`]. The reader must end where the archive does.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use nix_ingest::event::{Event, Sink};
/// use nix_ingest::hash::{Algorithm, Format};
/// use nix_ingest::method::FileIngestionMethod;
/// use nix_ingest::nar::NarWriter;
///
/// let mut nar = NarWriter::new(Vec::new());
/// nar.event(Event::FileStart { name: None, executable: false, size: 13 })?;
/// nar.event(Event::FileData(b"Hello World!\n"))?;
/// nar.event(Event::FileEnd)?;
/// let nar = nar.finish()?;
///
/// let hash = nix_ingest::hash_nar(&nar[..], FileIngestionMethod::Git, Algorithm::Sha1)?;
/// // `git hash-object` of the same bytes:
/// assert_eq!(hash.encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
/// # Ok(()) }
/// ```
pub fn hash_nar<R: Read, M: IngestionMethod>(
    reader: R,
    method: M,
    algorithm: Algorithm,
) -> Result<Hash, Error> {
    hash_nar_with(reader, method, algorithm, &Limits::default())
}

/// [`hash_nar`] with explicit [`Limits`].
pub fn hash_nar_with<R: Read, M: IngestionMethod>(
    reader: R,
    method: M,
    algorithm: Algorithm,
    limits: &Limits,
) -> Result<Hash, Error> {
    let mut sink = method.hash_sink(algorithm)?;
    nar::read(reader, &mut sink, limits)?;
    Ok(sink.finish()?)
}

/// Several hashes of the object at `path` from one walk: one per `(method, algorithm)` pair, in
/// the same order. Every file is read once, whatever the number of answers.
#[cfg(feature = "fs")]
pub fn hash_path_multi(
    path: impl AsRef<Path>,
    methods: &[(&dyn IngestionMethod, Algorithm)],
) -> Result<Vec<Hash>, Error> {
    hash_path_multi_with(path, methods, &fs::Options::default())
}

/// [`hash_path_multi`] with explicit walk [`fs::Options`].
#[cfg(feature = "fs")]
pub fn hash_path_multi_with(
    path: impl AsRef<Path>,
    methods: &[(&dyn IngestionMethod, Algorithm)],
    options: &fs::Options,
) -> Result<Vec<Hash>, Error> {
    let mut sinks = make_sinks(methods)?;
    fs::dump(path.as_ref(), &mut sinks, options)?;
    finish_all(sinks)
}

/// Several hashes of the object a NAR holds from one read: one per `(method, algorithm)` pair,
/// in the same order.
pub fn hash_nar_multi<R: Read>(
    reader: R,
    methods: &[(&dyn IngestionMethod, Algorithm)],
    limits: &Limits,
) -> Result<Vec<Hash>, Error> {
    let mut sinks = make_sinks(methods)?;
    nar::read(reader, &mut sinks, limits)?;
    finish_all(sinks)
}

fn make_sinks(
    methods: &[(&dyn IngestionMethod, Algorithm)],
) -> Result<Vec<Box<dyn HashSink>>, Error> {
    methods
        .iter()
        .map(|(method, algorithm)| method.hash_sink(*algorithm).map_err(Error::from))
        .collect()
}

fn finish_all(sinks: Vec<Box<dyn HashSink>>) -> Result<Vec<Hash>, Error> {
    sinks
        .into_iter()
        .map(|s| s.finish().map_err(Error::from))
        .collect()
}
