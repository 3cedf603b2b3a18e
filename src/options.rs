//! How to hash: the one set of settings every route of the crate honours.
//!
//! [`Options`] is the entry point: a builder (like [`std::fs::OpenOptions`]) choosing the
//! settings that apply to any pass over a file system object (threads, SHA-1 collision
//! detection, strict git roots, [`Limits`], the read buffer size) and the strategy of a directory
//! walk (serial, parallel, or through a [hash cache][crate::cache]). It hands the layers below it
//! only the plain [`Settings`] they need. The routes are its methods:
//!
//! | route | reads | gives |
//! |---|---|---|
//! | [`Options::hash_path`], [`Options::hash_path_multi`] | a path on disk | the hash of one [`Want`](crate::Want), or of each of a slice of them |
//! | [`Options::hash_nar`], [`Options::hash_nar_multi`] | a NAR from a [`Read`](std::io::Read) | the same |
//! | `Options::hash_nar_async`, `Options::hash_nar_multi_async` (feature `tokio`) | a NAR from an `AsyncRead` | the same |
//! | [`Options::hash_flat`] | one file's bytes from a [`Read`](std::io::Read), of any length | its flat hash |
//! | [`Options::dump_nar`] | a path on disk | its NAR, written to a [`Write`](std::io::Write) |
//! | [`Options::unpack_nar`] | a NAR from a [`Read`](std::io::Read) | the object, restored on disk |
//!
//! and the same options go to [`path_info::Request`](crate::path_info::Request) and
//! [`verify::verify_nar`](crate::verify::verify_nar).
//!
//! Every route makes its sinks with [`IngestionMethod::hash_sink`](crate::method::IngestionMethod::hash_sink)
//! and the options' [`Settings`], so a setting reaches every method, Nix's three and your own.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options, Want};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//!
//! // Exactly what Nix computes (no collision detection), on the calling thread only.
//! let options = Options::new().collision_detection(false).threads(1);
//! let [git, nar] = options.hash_path_multi(
//!     dir.path(),
//!     &[
//!         Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
//!         Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
//!     ],
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
    doc = "[crate::hash_path]: https://docs.rs/nix-ingest/latest/nix_ingest/fn.hash_path.html",
    doc = "[`Options::dump_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.dump_nar",
    doc = "[`Options::unpack_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.unpack_nar",
    doc = "[crate::cache]: https://docs.rs/nix-ingest/latest/nix_ingest/cache/index.html"
)]

use crate::limits::Limits;
use crate::settings::Settings;

/// How to hash: threads, SHA-1 collision detection, strict git roots, [`Limits`], the read
/// buffer size and a hash cache, honoured by every route. See the [module docs](self).
///
/// Built like [`std::fs::OpenOptions`]: start from [`Options::new`] (the defaults) and chain
/// setters; read the settings back through [`Options::settings`].
///
/// ```
/// use nix_ingest::{Limits, Options};
///
/// let options = Options::new()
///     .threads(1)
///     .collision_detection(false)
///     .limits(Limits { max_total_size: 1 << 30, ..Limits::default() });
/// assert_eq!(options.settings().threads(), 1);
/// assert!(!options.settings().collision_detection());
/// assert_eq!(options.settings().limits().max_total_size, 1 << 30);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) settings: Settings,
    /// The git hash cache ([`Options::cache`]).
    #[cfg(feature = "fs")]
    pub(crate) cache: Option<crate::cache::HashCache>,
}

impl Options {
    /// The defaults: every core (with the `parallel` feature), SHA-1 collision detection on,
    /// strict root off, [`Limits::DEFAULT`], a 128 KiB read buffer, no cache. Same as
    /// [`Options::default`].
    pub fn new() -> Self {
        Options::default()
    }

    /// How many threads a route may use: `0` (the default) means every core, `1` the calling
    /// thread only, `n` a pool of `n` threads for the call.
    ///
    /// Only the `parallel` feature uses more than the calling thread: with it, hashing a
    /// directory reads and hashes its files on several threads, whatever the methods asked for,
    /// and so does a [cached][Options::cache] walk. Without it a pass runs on the calling thread
    /// whatever this says. The answers never depend on it.
    // Without `fs`, links to what it adds point at the full documentation.
    #[cfg_attr(
        not(feature = "fs"),
        doc = "",
        doc = "[Options::cache]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.cache"
    )]
    pub fn threads(mut self, n: usize) -> Self {
        self.settings.threads = n;
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
        self.settings.collision_detection = on;
        self
    }

    /// Whether git hashing refuses an executable file or a symlink as the root object (default
    /// `false`, as Nix). A git blob id does not record the mode, so Nix gives a root file, a
    /// root executable and a root symlink whose target has the same bytes the same id; strict
    /// mode refuses the last two (see [`GitHasher::strict_root`](crate::git::GitHasher::strict_root)).
    pub fn strict_root(mut self, on: bool) -> Self {
        self.settings.strict_root = on;
        self
    }

    /// Bounds on what a source accepts (see [`Limits`]; default [`Limits::DEFAULT`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// The size of the buffer files are read through, in bytes (the largest
    /// [`Event::FileData`](crate::event::Event::FileData) chunk a directory walk emits).
    /// Default [`Settings::DEFAULT_BUFFER_SIZE`]; values below [`Settings::MIN_BUFFER_SIZE`] are
    /// raised to it.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.settings.set_buffer_size(bytes);
        self
    }

    /// A persistent hash cache for git ids (default none; feature `fs`): with it,
    /// [`hash_path`][Options::hash_path] and [`hash_path_multi`][Options::hash_path_multi]
    /// reuse the git ids of files and directories whose stat data did not change since the
    /// cache was written, and update the cache. The answers are always those of a fresh hash.
    /// A NAR or flat hash cannot reuse parts: asked for together with git ids, it reads every
    /// file in the same pass. The cached walk honours every other setting (threads, collision
    /// detection, strict root, limits, buffer size). What became of the cache file is reported
    /// by [`Options::hash_path_report`]. See the [`cache`](crate::cache) module.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::cache::HashCache;
    /// use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options, Want};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let tree = dir.path().join("tree");
    /// std::fs::create_dir(&tree)?;
    /// std::fs::write(tree.join("foo"), "Hello World!\n")?;
    /// let options = Options::new().cache(HashCache::new(dir.path().join("tree.cache")));
    /// for _ in 0..2 {
    ///     let id = options.hash_path(&tree, Want::new(FileIngestionMethod::Git, Algorithm::Sha1))?;
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

    /// The plain settings every route hands down (threads, collision detection, strict root,
    /// limits, buffer size).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The hash cache, if any (see [`Options::cache`]).
    #[cfg(feature = "fs")]
    pub fn hash_cache(&self) -> Option<&crate::cache::HashCache> {
        self.cache.as_ref()
    }
}
