//! How to hash: the one set of settings every route of the crate honours.
//!
//! [`Options`] is a builder (like [`std::fs::OpenOptions`]) holding the settings that apply to
//! any pass over a file system object: threads, SHA-1 collision detection, strict git roots,
//! [`Limits`] and the read buffer size. The routes are its methods:
//!
//! | route | reads | gives |
//! |---|---|---|
//! | [`Options::hash_path`], [`Options::hash_path_multi`] | a path on disk | hashes |
//! | [`Options::hash_nar`], [`Options::hash_nar_multi`] | a NAR from a [`Read`](std::io::Read) | hashes |
//! | `Options::hash_nar_async`, `Options::hash_nar_multi_async` (feature `tokio`) | a NAR from an `AsyncRead` | hashes |
//! | [`Options::sink`] | — | the sink for one (method, algorithm) |
//!
//! and the same options go to [`fs::dump`][crate::fs::dump],
//! [`verify::verify_nar`](crate::verify::verify_nar) and (feature `parallel`)
//! `parallel::hash_git`. [`hash_path`][crate::hash_path] and [`hash_nar`](crate::hash_nar) at
//! the crate root use the defaults.
//!
//! [`Options::sink`] is the one factory turning a method and an algorithm into a
//! [`HashSink`]: every route makes its sinks through it, so a setting reaches every method,
//! Nix's three and your own (see [`IngestionMethod`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//!
//! // Exactly what Nix computes (no collision detection), on the calling thread only.
//! let options = Options::new().collision_detection(false).threads(1);
//! let [git, nar] = options.hash_path_multi(
//!     dir.path(),
//!     &[(&FileIngestionMethod::Git, Algorithm::Sha1), (&FileIngestionMethod::Nar, Algorithm::Sha256)],
//! )?[..] else { unreachable!() };
//! // `git write-tree` and `nix hash path --mode nar --base16` of the same tree:
//! assert_eq!(git.encode(Format::Base16), "6fc242ca27b60d870ed6a71eeebcacb1da1fcb97");
//! assert_eq!(
//!     nar.encode(Format::Base16),
//!     "d08fb079284702bfcd306bb152f6c14b539e41653bca241de2b691490fc20878"
//! );
//! # Ok(()) }
//! ```
// Without `fs`, links to what it adds point at the full documentation.
#![cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[`Options::hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path",
    doc = "[`Options::hash_path_multi`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi",
    doc = "[crate::fs::dump]: https://docs.rs/nix-ingest/latest/nix_ingest/fs/fn.dump.html",
    doc = "[crate::hash_path]: https://docs.rs/nix-ingest/latest/nix_ingest/fn.hash_path.html"
)]

use crate::hash::Algorithm;
use crate::limits::Limits;
use crate::method::{self, FileIngestionMethod, HashSink, IngestionMethod};

/// How to hash: threads, SHA-1 collision detection, strict git roots, [`Limits`] and the read
/// buffer size, honoured by every route. See the [module docs](self).
///
/// Built like [`std::fs::OpenOptions`]: start from [`Options::new`] (the defaults) and chain
/// setters; read a setting back with its `get_` method.
///
/// ```
/// use nix_ingest::{Limits, Options};
///
/// let options = Options::new()
///     .threads(1)
///     .collision_detection(false)
///     .limits(Limits { max_total_size: 1 << 30, ..Limits::default() });
/// assert_eq!(options.get_threads(), 1);
/// assert!(!options.get_collision_detection());
/// assert_eq!(options.get_limits().max_total_size, 1 << 30);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub(crate) threads: usize,
    pub(crate) collision_detection: bool,
    pub(crate) strict_root: bool,
    pub(crate) limits: Limits,
    pub(crate) buffer_size: usize,
    /// The git hash cache ([`Options::cache`]).
    #[cfg(feature = "fs")]
    pub(crate) cache: Option<crate::cache::HashCache>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 0,
            collision_detection: true,
            strict_root: false,
            limits: Limits::DEFAULT,
            buffer_size: Options::DEFAULT_BUFFER_SIZE,
            #[cfg(feature = "fs")]
            cache: None,
        }
    }
}

impl Options {
    /// The default read buffer: 128 KiB.
    pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;

    /// The smallest read buffer used: 4 KiB.
    pub const MIN_BUFFER_SIZE: usize = 4 * 1024;

    /// The defaults: every core (with the `parallel` feature), SHA-1 collision detection on,
    /// strict root off, [`Limits::DEFAULT`], a 128 KiB read buffer. Same as
    /// [`Options::default`].
    pub fn new() -> Self {
        Options::default()
    }

    /// How many threads a route may use: `0` (the default) means every core, `1` the calling
    /// thread only, `n` a pool of `n` threads for the call.
    ///
    /// Only the `parallel` feature uses more than the calling thread: with it,
    /// [`hash_path`][Options::hash_path] and [`hash_path_multi`][Options::hash_path_multi]
    /// hash a directory's files on several threads when every answer asked for is a git id
    /// (Nix's [`FileIngestionMethod::Git`]). Without it, or for other methods, a pass runs on the
    /// calling thread whatever this says. The answers never depend on it.
    // Without `fs`, links to what it adds point at the full documentation.
    #[cfg_attr(
        not(feature = "fs"),
        doc = "",
        doc = "[Options::hash_path]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path",
        doc = "[Options::hash_path_multi]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi"
    )]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Whether to detect SHA-1 collision attacks (default `true`), for every method and object
    /// hashed with SHA-1.
    ///
    /// With detection, bytes that carry a known collision attack fail with
    /// [`SinkError::Sha1Collision`](crate::event::SinkError::Sha1Collision) instead of giving a
    /// digest their author chose, as git does. Nix does not detect: turning detection off
    /// matches it exactly, and is faster.
    pub fn collision_detection(mut self, on: bool) -> Self {
        self.collision_detection = on;
        self
    }

    /// Whether git hashing refuses an executable file or a symlink as the root object (default
    /// `false`, as Nix). A git blob id does not record the mode, so Nix gives a root file, a
    /// root executable and a root symlink whose target has the same bytes the same id; strict
    /// mode refuses the last two (see [`GitHasher::strict_root`](crate::git::GitHasher::strict_root)).
    pub fn strict_root(mut self, on: bool) -> Self {
        self.strict_root = on;
        self
    }

    /// Bounds on what a source accepts (see [`Limits`]; default [`Limits::DEFAULT`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The size of the buffer files are read through, in bytes (the largest
    /// [`Event::FileData`](crate::event::Event::FileData) chunk a directory walk emits).
    /// Default [`Options::DEFAULT_BUFFER_SIZE`]; values below [`Options::MIN_BUFFER_SIZE`] are
    /// raised to it.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(Options::MIN_BUFFER_SIZE);
        self
    }

    /// A persistent hash cache for git ids (default none; feature `fs`): with it,
    /// [`hash_path`][Options::hash_path] and [`hash_path_multi`][Options::hash_path_multi]
    /// reuse the git ids of files and directories whose stat data did not change since the
    /// cache was written, and update the cache. The answers are always those of a fresh hash.
    /// A NAR or flat hash cannot reuse parts: asked for together with git ids, it reads every
    /// file in the same pass. A cache file that cannot be trusted is rebuilt, and one that
    /// cannot be written is left as it is (use [`HashCache::hash_git`](crate::cache::HashCache)
    /// to be told). See the [`cache`](crate::cache) module.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::cache::HashCache;
    /// use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let tree = dir.path().join("tree");
    /// std::fs::create_dir(&tree)?;
    /// std::fs::write(tree.join("foo"), "Hello World!\n")?;
    /// let options = Options::new().cache(HashCache::new(dir.path().join("tree.cache")));
    /// for _ in 0..2 {
    ///     let id = options.hash_path(&tree, FileIngestionMethod::Git, Algorithm::Sha1)?;
    ///     // `git write-tree` of the same tree:
    ///     assert_eq!(id.encode(Format::Base16), "6fc242ca27b60d870ed6a71eeebcacb1da1fcb97");
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "fs")]
    pub fn cache(mut self, cache: crate::cache::HashCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The hash cache, if any.
    #[cfg(feature = "fs")]
    pub fn get_cache(&self) -> Option<&crate::cache::HashCache> {
        self.cache.as_ref()
    }

    /// The number of threads (see [`threads`](Options::threads)).
    pub fn get_threads(&self) -> usize {
        self.threads
    }

    /// Whether SHA-1 collision attacks are detected.
    pub fn get_collision_detection(&self) -> bool {
        self.collision_detection
    }

    /// Whether git hashing refuses ambiguous roots.
    pub fn get_strict_root(&self) -> bool {
        self.strict_root
    }

    /// The limits.
    pub fn get_limits(&self) -> &Limits {
        &self.limits
    }

    /// The read buffer size, in bytes (at least [`Options::MIN_BUFFER_SIZE`]).
    pub fn get_buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// The sink computing `method`'s hash with `algorithm` under these options: **the** factory
    /// every route uses. It asks the method ([`IngestionMethod::hash_sink`]), so Nix's methods
    /// and your own get the same settings.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::event::{Event, Sink};
    /// use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options};
    ///
    /// let mut sink = Options::new().sink(&FileIngestionMethod::Git, Algorithm::Sha1)?;
    /// sink.event(Event::FileStart { name: None, executable: false, size: 13 })?;
    /// sink.event(Event::FileData(b"Hello World!\n"))?;
    /// sink.event(Event::FileEnd)?;
    /// // `git hash-object` of the same bytes:
    /// assert_eq!(sink.finish()?.encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
    /// # Ok(()) }
    /// ```
    pub fn sink(
        &self,
        method: &dyn IngestionMethod,
        algorithm: Algorithm,
    ) -> Result<Box<dyn HashSink>, method::Error> {
        method.hash_sink(algorithm, self)
    }

    /// One sink per `(method, algorithm)` pair, in order: what a one-pass route feeds.
    pub(crate) fn sinks(
        &self,
        methods: &[(&dyn IngestionMethod, Algorithm)],
    ) -> Result<Vec<Box<dyn HashSink>>, method::Error> {
        methods
            .iter()
            .map(|&(method, algorithm)| self.sink(method, algorithm))
            .collect()
    }

    /// The sink of one of Nix's methods under these options (what
    /// [`FileIngestionMethod`]'s [`IngestionMethod::hash_sink`] returns).
    pub(crate) fn builtin_sink(
        &self,
        method: FileIngestionMethod,
        algorithm: Algorithm,
    ) -> Box<dyn HashSink> {
        use crate::flat::FlatHasher;
        use crate::git::GitHasher;
        use crate::nar::NarHasher;
        let detect = self.collision_detection;
        match method {
            FileIngestionMethod::Flat => {
                Box::new(FlatHasher::new(algorithm).collision_detection(detect))
            }
            FileIngestionMethod::Nar => Box::new(
                NarHasher::new(algorithm)
                    .collision_detection(detect)
                    .max_depth(self.limits.max_nar_depth),
            ),
            FileIngestionMethod::Git => Box::new(
                GitHasher::new(algorithm)
                    .collision_detection(detect)
                    .strict_root(self.strict_root),
            ),
        }
    }
}
