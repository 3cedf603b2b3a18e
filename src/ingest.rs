//! The hashing routes: the hash of a path on disk, of a NAR or of a stream, by any ingestion
//! method.
//!
//! These are what `nix hash path --mode flat|nar|git --algo …` computes (the hash part of a
//! content address): a source ([directory walk][crate::fs] or [NAR parser](crate::nar)) streams
//! the object into the sinks [`IngestionMethod::hash_sink`](crate::method::IngestionMethod::hash_sink)
//! makes, in one pass and bounded memory. The routes are methods of [`Options`], and all take
//! what to compute in one shape, a [`Want`] (a method and an algorithm): one want for one
//! answer, a slice of wants for several from one pass.
//!
//! | one answer | several from one pass | reads |
//! |---|---|---|
//! | [`Options::hash_path`]`(path, want)` | [`Options::hash_path_multi`]`(path, &[want, …])`, [`Options::hash_path_report`] (with what the cache did) | a path on disk |
//! | [`Options::hash_nar`]`(reader, want)` | [`Options::hash_nar_multi`]`(reader, &[want, …])` | a NAR from a [`Read`] |
//! | `Options::hash_nar_async(reader, want)` | `Options::hash_nar_multi_async(reader, &[want, …])` | a NAR from tokio's `AsyncRead` (feature `tokio`) |
//! | [`Options::hash_flat`]`(reader, algorithm)` | | the bytes of one file from a [`Read`], of any length: a pipe, a device, standard input |
//!
//! NAR dump and restore are beside them ([`Options::dump_nar`], [`Options::unpack_nar`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::{Algorithm, FileIngestionMethod, Options, Want};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//!
//! // One answer…
//! let options = Options::new();
//! let git = options.hash_path(dir.path(), Want::new(FileIngestionMethod::Git, Algorithm::Sha1))?;
//!
//! // …or several answers from one walk of the tree.
//! let wants = [
//!     Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
//!     Want::new(FileIngestionMethod::Git, Algorithm::Sha256),
//!     Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
//! ];
//! let hashes = options.hash_path_multi(dir.path(), &wants)?;
//! assert_eq!(hashes[0], git);
//!
//! // The NAR of the same tree gives the same answers.
//! let mut nar = Vec::new();
//! options.dump_nar(dir.path(), &mut nar)?;
//! assert_eq!(options.hash_nar(&nar[..], wants[1])?, hashes[1]);
//! assert_eq!(options.hash_nar_multi(&nar[..], &wants)?, hashes);
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
//! - Files that change while being read, and inputs beyond [`Limits`](crate::Limits), are errors; see
//!   [`fs`] and [`nar`].
//! - **Nesting**: as Nix 2.34.7 and later, the `nar` method refuses an object 64 levels below
//!   the root, naming its path or byte offset, while the `git` method hashes it (and so does
//!   `nix hash path --mode git`); Nix 2.26.3 takes any depth ([`Limits::NIX_2_26`](crate::Limits::NIX_2_26)). See
//!   [NAR nesting](crate::limits#nar-nesting).
// Without `fs`, links to what it adds point at the full documentation.
#![cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[crate::fs]: https://docs.rs/nix-ingest/latest/nix_ingest/fs/index.html",
    doc = "[`Options::hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path",
    doc = "[`Options::hash_path_multi`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi",
    doc = "[`hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/fn.hash_path.html",
    doc = "[`fs`]: https://docs.rs/nix-ingest/latest/nix_ingest/fs/index.html",
    doc = "[`Options::hash_path_report`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_report",
    doc = "[`Options::dump_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.dump_nar",
    doc = "[`Options::unpack_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.unpack_nar"
)]

use std::io::Read;
#[cfg(feature = "fs")]
use std::path::Path;

use crate::buffer::ReadBuffer;
use crate::event::SinkError;
#[cfg(feature = "fs")]
use crate::fs;
use crate::hash::{Algorithm, Hash, Hasher};
#[cfg(feature = "fs")]
use crate::method::FileIngestionMethod;
use crate::method::{self, HashSink};
use crate::nar;
use crate::options::Options;
use crate::settings::Settings;
use crate::want::Want;

/// Why a hashing route failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Walking the path failed, or the method's sink refused what it found there (the error names
    /// the path).
    #[cfg(feature = "fs")]
    #[error(transparent)]
    Fs(#[from] fs::WalkError),
    /// The NAR was refused, or the method's sink refused what it holds (the error names the byte
    /// offset).
    #[error(transparent)]
    Nar(#[from] nar::ReadError),
    /// The sink could not produce a digest once the object was complete (e.g. a SHA-1 collision
    /// attack was detected in the last object).
    #[error("cannot finish hash")]
    Sink(#[source] SinkError),
    /// The method could not make a sink (e.g. it does not support the algorithm).
    #[error(transparent)]
    Method(#[from] method::MethodError),
    /// The threads asked for by [`Options::threads`] could not be started.
    #[cfg(feature = "parallel")]
    #[error("cannot start hashing threads")]
    ThreadPool(#[source] rayon::ThreadPoolBuildError),
    /// Reading the stream of [`Options::hash_flat`] failed, `offset` bytes into it (the bytes
    /// before were read and hashed).
    #[error("cannot read the stream at byte {offset}")]
    Read {
        /// How many bytes were read before the failure.
        offset: u64,
        /// What the reader reported.
        #[source]
        source: std::io::Error,
    },
    /// The stream of [`Options::hash_flat`] went on past [`Limits::max_total_size`](crate::Limits::max_total_size)
    /// (nothing past the limit was hashed).
    #[error("the stream is longer than the limit of {limit} bytes")]
    TotalSizeExceeded {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The hash cache ([`Options::cache`]) failed: the walk (naming the path), or a cache file
    /// refused in strict mode.
    #[cfg(feature = "fs")]
    #[error(transparent)]
    Cache(crate::cache::CacheError),
}

#[cfg(feature = "fs")]
impl From<crate::cache::CacheError> for IngestError {
    fn from(e: crate::cache::CacheError) -> Self {
        match e {
            crate::cache::CacheError::Fs(e) => IngestError::Fs(e),
            other => IngestError::Cache(other),
        }
    }
}

#[cfg(feature = "parallel")]
impl From<crate::fs::parallel::Error> for IngestError {
    fn from(e: crate::fs::parallel::Error) -> Self {
        match e {
            crate::fs::parallel::Error::Fs(e) => IngestError::Fs(e),
            crate::fs::parallel::Error::ThreadPool(e) => IngestError::ThreadPool(e),
        }
    }
}

/// The hashes of one pass over a path, and what the hash cache did
/// ([`Options::hash_path_report`]).
#[cfg(feature = "fs")]
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// One hash per [`Want`] asked for, in the same order.
    pub hashes: Vec<Hash>,
    /// What the [hash cache](Options::cache) did: `None` when there is none, or when no git
    /// id was asked for.
    pub cache: Option<crate::cache::Outcome>,
}

impl Options {
    /// The hash of the file system object at `path` that `want` names, as
    /// `nix hash path --mode <method> --algo <algorithm>` prints it (see the
    /// [`ingest`](crate::ingest) module for where Nix differs). The same as
    /// [`hash_path_multi`](Options::hash_path_multi) with one want.
    ///
    /// With the `parallel` feature, hashing a directory uses [`threads`](Options::threads)
    /// threads (every core by default): see [`hash_path_multi`](Options::hash_path_multi).
    #[cfg(feature = "fs")]
    pub fn hash_path(&self, path: impl AsRef<Path>, want: Want<'_>) -> Result<Hash, IngestError> {
        let cached = self.cache.is_some() && is_git(want);
        #[cfg(feature = "parallel")]
        let cached = cached || self.settings.threads != 1;
        if cached {
            return one(self.hash_path_multi(path, &[want])?);
        }
        let mut sink = sink(want, &self.settings)?;
        fs::dump(path.as_ref(), &mut sink, &self.settings)?;
        sink.finish().map_err(IngestError::Sink)
    }

    /// Several hashes of the object at `path` from one walk: one per [`Want`], in the same
    /// order. Every file is read once, whatever the number of answers.
    ///
    /// With the `parallel` feature and more than one [thread](Options::threads) (every core by
    /// default): when every want is a git id (Nix's
    /// [`FileIngestionMethod::Git`]), the tree is
    /// hashed on every thread as a Merkle tree;
    /// otherwise the sinks take the events on the calling thread while other threads read the
    /// next files ahead, computing the git ids asked for in the same pass.
    #[cfg(feature = "fs")]
    pub fn hash_path_multi(
        &self,
        path: impl AsRef<Path>,
        wants: &[Want<'_>],
    ) -> Result<Vec<Hash>, IngestError> {
        Ok(self.hash_path_report(path, wants)?.hashes)
    }

    /// [`hash_path_multi`](Options::hash_path_multi), also saying what the
    /// [hash cache](Options::cache) did: whether the cache file was trusted, what was reused,
    /// whether the new cache was written. The strategy is chosen here, once: through the cache
    /// when there is one and a git id is asked for, else on several threads (feature
    /// `parallel`, unless [`threads`](Options::threads) is 1), else on the calling thread.
    #[cfg(feature = "fs")]
    pub fn hash_path_report(
        &self,
        path: impl AsRef<Path>,
        wants: &[Want<'_>],
    ) -> Result<Report, IngestError> {
        let path = path.as_ref();
        if let Some(cache) = &self.cache
            && wants.iter().copied().any(is_git)
        {
            return self.hash_path_cached(path, wants, cache);
        }
        #[cfg(feature = "parallel")]
        if self.settings.threads != 1 && !wants.is_empty() {
            let hashes = self.hash_path_parallel(path, wants)?;
            return Ok(Report {
                hashes,
                cache: None,
            });
        }
        let mut sinks = sinks(wants, &self.settings)?;
        fs::dump(path, &mut sinks, &self.settings)?;
        Ok(Report {
            hashes: finish_all(sinks)?,
            cache: None,
        })
    }

    /// The hash that `want` names of the file system object the NAR from `reader` holds. The
    /// reader must end where the archive does. The same as
    /// [`hash_nar_multi`](Options::hash_nar_multi) with one want.
    pub fn hash_nar<R: Read>(&self, reader: R, want: Want<'_>) -> Result<Hash, IngestError> {
        let mut sink = sink(want, &self.settings)?;
        nar::read(reader, &mut sink, &self.settings.limits)?;
        sink.finish().map_err(IngestError::Sink)
    }

    /// Several hashes of the object a NAR holds from one read: one per [`Want`], in the same
    /// order.
    pub fn hash_nar_multi<R: Read>(
        &self,
        reader: R,
        wants: &[Want<'_>],
    ) -> Result<Vec<Hash>, IngestError> {
        let mut sinks = sinks(wants, &self.settings)?;
        nar::read(reader, &mut sinks, &self.settings.limits)?;
        finish_all(sinks)
    }

    /// The flat hash with `algorithm` of everything `reader` yields, read to its end, as
    /// `nix hash path --mode flat` hashes what it opens: a regular file, or a stream whose
    /// length is not known before it ends (a pipe, a device, standard input, `/dev/null`).
    ///
    /// It honours the options' collision detection (a known SHA-1 collision attack is
    /// [`IngestError::Sink`] with [`SinkError::Sha1Collision`]), their [read buffer
    /// size](Options::buffer_size) and their [`Limits::max_total_size`](crate::Limits::max_total_size):
    /// a longer stream is [`IngestError::TotalSizeExceeded`], read no further. A failed read is
    /// [`IngestError::Read`], which says how many bytes had been read; an interrupted read is
    /// retried. Memory stays bounded whatever the length.
    ///
    /// Only the flat method can hash a stream of unknown length: a NAR and a git blob begin
    /// with the file's size. To hash a regular file on disk by any method, use `hash_path`
    /// (feature `fs`).
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use nix_ingest::{ingest, Algorithm, Format, Limits, Options};
    ///
    /// let options = Options::new();
    /// // `echo 'Hello World!' | nix hash path --mode flat --format base16 /dev/stdin`:
    /// let hash = options.hash_flat(&b"Hello World!\n"[..], Algorithm::Sha256)?;
    /// assert_eq!(
    ///     hash.encode(Format::Base16),
    ///     "03ba204e50d126e4674c005e04d82e84c21366780af1f43bd54a37816b6ab340"
    /// );
    ///
    /// // A stream that breaks off after 6 bytes: the error says where.
    /// struct Broken(&'static [u8]);
    /// impl Read for Broken {
    ///     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
    ///         if self.0.is_empty() {
    ///             return Err(std::io::Error::other("connection reset"));
    ///         }
    ///         self.0.read(buf)
    ///     }
    /// }
    /// let err = options.hash_flat(Broken(b"Hello "), Algorithm::Sha256).unwrap_err();
    /// assert!(matches!(err, ingest::IngestError::Read { offset: 6, .. }));
    /// assert_eq!(err.to_string(), "cannot read the stream at byte 6");
    ///
    /// // A cap on what a stream may cost.
    /// let capped = Options::new().limits(Limits { max_total_size: 5, ..Limits::default() });
    /// let err = capped.hash_flat(&b"Hello World!\n"[..], Algorithm::Sha256).unwrap_err();
    /// assert!(matches!(err, ingest::IngestError::TotalSizeExceeded { limit: 5 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hash_flat<R: Read>(
        &self,
        mut reader: R,
        algorithm: Algorithm,
    ) -> Result<Hash, IngestError> {
        let settings = &self.settings;
        let limit = settings.limits.max_total_size;
        let mut hasher = Hasher::with_collision_detection(algorithm, settings.collision_detection);
        let mut buf = ReadBuffer::new(settings.buffer_size());
        let mut offset: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(IngestError::Read { offset, source }),
            };
            offset = offset.saturating_add(n as u64);
            if offset > limit {
                return Err(IngestError::TotalSizeExceeded { limit });
            }
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        hasher
            .finalize()
            .map_err(|e| IngestError::Sink(SinkError::from_hash(e, "file")))
    }

    /// [`hash_nar`](Options::hash_nar) from tokio's `AsyncRead` (feature `tokio`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::event::{Event, Sink};
    /// use nix_ingest::nar::NarWriter;
    /// use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options, Want};
    ///
    /// let mut nar = NarWriter::new(Vec::new());
    /// nar.event(Event::FileStart { name: None, executable: false, size: 13 })?;
    /// nar.event(Event::FileData(b"Hello World!\n"))?;
    /// nar.event(Event::FileEnd)?;
    /// let nar = nar.finish()?;
    ///
    /// let options = Options::new();
    /// let git = Want::new(FileIngestionMethod::Git, Algorithm::Sha1);
    /// let hash = options.hash_nar_async(&nar[..], git).await?;
    /// // `git hash-object` of the same bytes:
    /// assert_eq!(hash.encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn hash_nar_async<R>(&self, reader: R, want: Want<'_>) -> Result<Hash, IngestError>
    where
        R: ::tokio::io::AsyncRead + Unpin,
    {
        let mut sink = sink(want, &self.settings)?;
        nar::tokio::read(reader, &mut sink, &self.settings.limits).await?;
        sink.finish().map_err(IngestError::Sink)
    }

    /// [`hash_nar_multi`](Options::hash_nar_multi) from tokio's `AsyncRead` (feature `tokio`).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn hash_nar_multi_async<R>(
        &self,
        reader: R,
        wants: &[Want<'_>],
    ) -> Result<Vec<Hash>, IngestError>
    where
        R: ::tokio::io::AsyncRead + Unpin,
    {
        let mut sinks = sinks(wants, &self.settings)?;
        nar::tokio::read(reader, &mut sinks, &self.settings.limits).await?;
        finish_all(sinks)
    }

    /// Writes the NAR of the file system object at `path` to `out`, exactly as `nix-store --dump`
    /// does, and returns its length in bytes. Symlinks are never followed, not even at `path`.
    /// The options' limits bound the walk, with Nix's NAR nesting limit
    /// ([`Limits::max_nar_depth`](crate::Limits::max_nar_depth)).
    ///
    /// ```
    /// use nix_ingest::Options;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
    /// let mut bytes = Vec::new();
    /// let len = Options::new().dump_nar(dir.path(), &mut bytes)?;
    /// assert_eq!(len, bytes.len() as u64);
    /// assert!(bytes.starts_with(b"\x0d\0\0\0\0\0\0\0nix-archive-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "fs")]
    pub fn dump_nar<W: std::io::Write>(
        &self,
        path: impl AsRef<Path>,
        out: W,
    ) -> Result<u64, fs::WalkError> {
        let path = path.as_ref();
        let mut writer = nar::NarWriter::new(out).max_depth(self.settings.limits.max_nar_depth);
        fs::dump(path, &mut writer, &self.settings)?;
        let len = writer.bytes_written();
        writer
            .finish()
            .map_err(|e| fs::WalkError::new(path, fs::WalkErrorKind::Sink(e)))?;
        Ok(len)
    }

    /// The [NAR listing](nar::listing) (the `.ls` a binary cache keeps) of the NAR that
    /// [`dump_nar`](Options::dump_nar) would write for the object at `path`, from one walk,
    /// under the options' limits.
    ///
    /// ```
    /// use nix_ingest::Options;
    /// use nix_ingest::nar::listing::{Listing, Node};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("hello"), "Hello World!\n")?;
    /// let options = Options::new();
    /// let listing = options.nar_listing(dir.path())?;
    /// let mut nar = Vec::new();
    /// options.dump_nar(dir.path(), &mut nar)?;
    /// // The same listing as read from the NAR itself.
    /// assert_eq!(listing, Listing::from_nar(&nar[..], options.settings().limits())?);
    /// let Some(Node::Regular { nar_offset: Some(at), .. }) = listing.get("hello") else { panic!() };
    /// assert_eq!(&nar[*at as usize..][..13], b"Hello World!\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "fs")]
    pub fn nar_listing(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<nar::listing::Listing, fs::WalkError> {
        let path = path.as_ref();
        let mut builder = nar::listing::ListingBuilder::new();
        fs::dump(path, &mut builder, &self.settings)?;
        builder.finish().map_err(|e| {
            fs::WalkError::new(path, fs::WalkErrorKind::Sink(SinkError::Other(Box::new(e))))
        })
    }

    /// Restores the NAR read from `reader` at `target`, as `nix-store --restore` does: regular
    /// files (executable ones with every execute bit added to what the umask leaves, as Nix does),
    /// symlinks and directories, empty ones too. Returns the archive's length in bytes.
    ///
    /// Safely:
    ///
    /// - every entry name is checked by the parser before anything is created for it (never empty,
    ///   `.` or `..`, no `/` or NUL; entries sorted and unique), so nothing is created outside the
    ///   object;
    /// - the object is built in a fresh private directory beside `target` (`.<name>.unpack-…`),
    ///   every file, directory and symlink created exclusively (nothing existing is followed or
    ///   overwritten), then renamed to `target` at the end; the rename never replaces anything
    ///   (`RENAME_NOREPLACE`), so a `target` that exists, even an empty directory, is refused;
    /// - on any failure (a malformed or hostile archive, a limit, a full disk) the staging directory
    ///   is removed and nothing is left at `target`.
    ///
    /// The options' [limits](Options::limits) bound the archive, and their
    /// [buffer size](Options::buffer_size) sets the reads.
    ///
    /// ```
    /// use nix_ingest::{nar, Options};
    ///
    /// let options = Options::new();
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::create_dir(dir.path().join("src"))?;
    /// std::fs::write(dir.path().join("src/foo"), "Hello World!\n")?;
    /// std::os::unix::fs::symlink("foo", dir.path().join("src/bar"))?;
    /// let mut bytes = Vec::new();
    /// options.dump_nar(&dir.path().join("src"), &mut bytes)?;
    ///
    /// options.unpack_nar(&bytes[..], &dir.path().join("copy"))?;
    /// assert_eq!(std::fs::read_link(dir.path().join("copy/bar"))?, std::path::Path::new("foo"));
    /// // A second unpack to the same place is refused and changes nothing.
    /// let err = options.unpack_nar(&bytes[..], &dir.path().join("copy")).unwrap_err();
    /// assert!(matches!(err, nar::UnpackError::TargetExists { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Where Nix differs
    ///
    /// `nix-store --restore` (2.26 and 2.34) creates the target as it reads, so a bad archive
    /// leaves a half tree behind (checked: entries before a bad name stay); this leaves nothing.
    /// Both refuse a target that exists, even an empty directory. The archive itself is read as by
    /// [`nar::read`], which refuses a little more than Nix (bytes after the archive, and NUL in a symlink
    /// target, which Nix 2.26 accepts; see the [module docs](crate::nar#where-this-differs-from-nix-226)).
    #[cfg(feature = "fs")]
    pub fn unpack_nar<R: Read>(
        &self,
        reader: R,
        target: impl AsRef<Path>,
    ) -> Result<u64, nar::UnpackError> {
        nar::unpack(reader, target.as_ref(), &self.settings)
    }
}

impl Options {
    /// [`hash_path_multi`](Options::hash_path_multi) with the hash cache: git ids from the
    /// cache, the other methods' hashes streamed in the same pass.
    #[cfg(feature = "fs")]
    fn hash_path_cached(
        &self,
        path: &Path,
        wants: &[Want<'_>],
        cache: &crate::cache::HashCache,
    ) -> Result<Report, IngestError> {
        let algorithms: Vec<Algorithm> = wants
            .iter()
            .filter(|&&w| is_git(w))
            .map(Want::algorithm)
            .collect();
        let others: Vec<Want<'_>> = wants.iter().copied().filter(|&w| !is_git(w)).collect();
        let settings = &self.settings;
        let (outcome, rest) = if others.is_empty() {
            (cache.run(path, &algorithms, settings, None)?, Vec::new())
        } else {
            let mut sinks = sinks(&others, &self.settings)?;
            let outcome = cache.run(path, &algorithms, settings, Some(&mut sinks))?;
            (outcome, finish_all(sinks)?)
        };
        let (mut ids, mut rest) = (outcome.ids.iter().copied(), rest.into_iter());
        let hashes = wants
            .iter()
            .map(|&w| if is_git(w) { ids.next() } else { rest.next() })
            .map(|h| {
                h.ok_or(IngestError::Sink(SinkError::Protocol(
                    "a cached pass gave too few hashes",
                )))
            })
            .collect::<Result<Vec<Hash>, IngestError>>()?;
        Ok(Report {
            hashes,
            cache: Some(outcome),
        })
    }

    /// [`hash_path_multi`](Options::hash_path_multi) on several threads.
    #[cfg(feature = "parallel")]
    fn hash_path_parallel(
        &self,
        path: &Path,
        wants: &[Want<'_>],
    ) -> Result<Vec<Hash>, IngestError> {
        use crate::fs::parallel;
        if wants.iter().copied().all(is_git) {
            let algorithms: Vec<Algorithm> = wants.iter().map(Want::algorithm).collect();
            return Ok(parallel::hash_git_multi(path, &algorithms, &self.settings)?);
        }
        // Git ids come from the read-ahead pass itself, unless strict mode needs the git
        // hasher's checks of the root.
        let from_pass = |w: Want<'_>| is_git(w) && !self.settings.strict_root;
        let algorithms: Vec<Algorithm> = wants
            .iter()
            .filter(|&&w| from_pass(w))
            .map(Want::algorithm)
            .collect();
        let mut sinks = wants
            .iter()
            .filter(|&&w| !from_pass(w))
            .map(|&w| sink(w, &self.settings))
            .collect::<Result<Vec<_>, _>>()?;
        let ids = parallel::dump_multi(path, &mut sinks, &algorithms, &self.settings)?;
        let (mut ids, mut others) = (ids.into_iter(), finish_all(sinks)?.into_iter());
        let hashes: Option<Vec<Hash>> = wants
            .iter()
            .map(|&w| {
                if from_pass(w) {
                    ids.next()
                } else {
                    others.next()
                }
            })
            .collect();
        match hashes {
            Some(hashes) => Ok(hashes),
            None => unreachable!("one hash per want"),
        }
    }
}

/// Whether `want` is Nix's git hashing (which the cache and the parallel walk compute
/// themselves).
#[cfg(feature = "fs")]
fn is_git(want: Want<'_>) -> bool {
    want.method().file_ingestion_method() == Some(FileIngestionMethod::Git)
}

/// The one hash of a route asked for one want.
#[cfg(feature = "fs")]
fn one(hashes: Vec<Hash>) -> Result<Hash, IngestError> {
    match hashes.first() {
        Some(hash) => Ok(*hash),
        None => unreachable!("one want gives one hash"),
    }
}

/// The sink computing what `want` names.
fn sink(want: Want<'_>, settings: &Settings) -> Result<Box<dyn HashSink>, method::MethodError> {
    want.method().hash_sink(want.algorithm(), settings)
}

/// One sink per want, in order: what a one-pass route feeds.
pub(crate) fn sinks(
    wants: &[Want<'_>],
    settings: &Settings,
) -> Result<Vec<Box<dyn HashSink>>, method::MethodError> {
    wants.iter().map(|&w| sink(w, settings)).collect()
}

fn finish_all(sinks: Vec<Box<dyn HashSink>>) -> Result<Vec<Hash>, IngestError> {
    sinks
        .into_iter()
        .map(|s| s.finish().map_err(IngestError::Sink))
        .collect()
}
