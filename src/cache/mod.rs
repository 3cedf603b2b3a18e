//! A persistent hash cache for git hashing: re-hash a tree in the time it takes to `lstat` it.
//!
//! Nix hashes a tree from scratch every time. Git does not: its index remembers each file's stat
//! data and blob id, and `git update-index --refresh` re-reads only the files whose stat data
//! changed. Git hashing (`nix hash path --mode git`) makes the same possible here, because a
//! tree id is a Merkle hash: an unchanged file keeps its blob id, an unchanged directory its
//! tree id. A [`HashCache`] keeps them in a file the caller names.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::cache::{HashCache, LoadStatus};
//! use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options, Want};
//!
//! // The tree from Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`.
//! let dir = tempfile::tempdir()?;
//! let tree = dir.path().join("tree");
//! std::fs::create_dir_all(tree.join("bla"))?;
//! std::fs::write(tree.join("foo"), "Hello World!\n")?;
//! std::os::unix::fs::symlink("foo", tree.join("bar"))?;
//!
//! // The cache is a strategy of the walk, chosen on the options like every other setting.
//! let options = Options::new().cache(HashCache::new(dir.path().join("tree.cache")));
//! let git = [Want::new(FileIngestionMethod::Git, Algorithm::Sha1)];
//! let first = options.hash_path_report(&tree, &git)?;
//! assert!(matches!(first.cache.as_ref().map(|c| &c.loaded), Some(LoadStatus::Missing)));
//! // `nix hash path --mode git --algo sha1` prints the same.
//! assert_eq!(first.hashes[0].encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//!
//! // A second run uses the cache and gives the same answer. (Files changed in the last two
//! // seconds are always read again: see "How it stays exact".)
//! let second = options.hash_path_report(&tree, &git)?;
//! assert!(matches!(second.cache.as_ref().map(|c| &c.loaded), Some(LoadStatus::Used)));
//! assert_eq!(second.hashes, first.hashes);
//! # Ok(()) }
//! ```
//!
//! # How it stays exact
//!
//! The answer is always exactly what a fresh hash gives; the cache only decides what need not
//! be read again.
//!
//! - **Stat data, as git's index keeps it.** A regular file's blob ids are reused only when its
//!   device, inode, size, full mode and mtime and ctime (to the nanosecond) all equal what was
//!   recorded when it was read. Content rewritten with the same size and the mtime set back is
//!   caught by the ctime, which no unprivileged call can set; a file replaced by another that
//!   reuses the inode gets a new ctime too; `chmod` changes mode and ctime.
//! - **Racily clean entries are read again.** A change made within the same timestamp tick as
//!   the recorded one leaves stat data unchanged. Git's rule ("racy git", `is_racy_timestamp`
//!   in git's `read-cache.c`) distrusts an entry whose mtime is not older than the index file
//!   itself. Here the reference is the moment the scan *started* (taken before any entry is
//!   read, so it also covers a change made while the scan runs, which git's index timestamp
//!   does not), and an entry is trusted only when both its mtime and ctime lie in a whole second
//!   at least two seconds before it: files changed in the last two seconds before a scan are
//!   read again by the next one. The margin covers any file system whose timestamps are at most
//!   two seconds coarse (FAT's mtime; every Linux file system is finer).
//! - **Directories and symlinks, by the same rule.** A directory's own stat data is recorded
//!   before its listing is read; while it is unchanged (and trusted), so are its names, because
//!   creating, removing or renaming an entry changes a directory's mtime and ctime. Its entries
//!   are then `statx`ed by their cached names without reading the listing again; otherwise the
//!   listing is read and merged by name with the cached one, so added and removed entries are
//!   seen. A directory keeps its cached tree ids only when it has exactly the cached names and
//!   every entry has the same mode and ids as cached. A symlink keeps its blob id while its stat
//!   data is unchanged; a file replaced by a directory (or back) is an entry of another type.
//! - **A cache file is checked before it is trusted**: a SHA-256 checksum over the whole file
//!   (so a truncated, torn or bit-flipped file is refused), the layout version, and its
//!   identity: the root's absolute path, device and inode, the algorithms, and whether SHA-1
//!   collision detection was on. Its size is capped ([`HashCache::max_size`]) and its parsing
//!   bounded (entry counts against the file's size, names valid and sorted, subtrees nested,
//!   depth at most [`Limits::max_depth`](crate::Limits::max_depth)). A file writable by group
//!   or others is refused: whoever can write the cache could choose the answers for files whose
//!   stat data they know. What is refused is rebuilt ([`LoadStatus::Rebuilt`]), or with
//!   [`HashCache::strict`] an [`CacheError::Invalid`].
//! - **Atomic writes.** A new cache is written to a temporary file next to it and renamed over
//!   it, so a crash or two concurrent writers leave one complete cache (the last rename wins);
//!   a file damaged by a power loss (the file is not synced) fails its checksum and is rebuilt.
//!   The cache is written only when something changed.
//!
//! # Cost
//!
//! An unchanged tree costs, per directory, an `openat`, a `statx` and a `close`, and per entry
//! one `statx` relative to its directory: no file is opened and no listing is read (git's
//! `update-index --refresh` does one `lstat` per file). Directories are scanned one level at a
//! time, on several threads with the `parallel` feature, and so are the files to read. A
//! cache costs about 100 bytes per entry on disk (stat data, name, ids), and about twice that in
//! memory while in use; it is read whole and its checksum verified each time.
//!
//! What stat data cannot see, the cache cannot either: a file changed through a shared
//! writable `mmap` (whose timestamps are updated only when the pages are written back), or a
//! single `write` still in progress for over two seconds. As for every walk, hash trees nobody
//! is modifying. The timestamps must come from this machine's clock: on a network file system
//! whose server clock runs behind by more than a second, the racy rule's margin does not hold.
//!
//! # NAR hashes cannot reuse parts
//!
//! A NAR hash (`nix hash path --mode nar`, and the NAR hash of every store path) is one hash
//! over the serialisation of the whole tree, so every byte of every file must be read and hashed
//! again: nothing of a previous run can be reused. The cache still serves a pass that asks for
//! both ([`HashCache::hash_git_with_sink`]): every file is read once and streamed to the NAR hasher, and only the git
//! hashing of unchanged files is saved.
//!
//! # Where Nix differs
//!
//! Nix has no such cache: `nix hash path --mode git` reads every file every time. The ids are
//! the same, which the test suite checks against real Nix after every kind of change listed
//! above. The cache file's format is this crate's own (see the `format` source for the layout),
//! not git's index.

mod format;
mod scan;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::event::Sink;
use crate::fs::{self, WalkErrorKind};
use crate::hash::{Algorithm, Hash};
use crate::settings::Settings;

pub use format::InvalidCache;
use format::{Identity, LoadError, Timestamp};

/// A persistent cache of git ids for one tree, in a file the caller names. See the
/// [module docs](self).
///
/// Builder-style: [`HashCache::new`] takes the file's path; every other setting has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashCache {
    path: PathBuf,
    max_size: u64,
    strict: bool,
    read_only: bool,
    replace_foreign: bool,
}

impl HashCache {
    /// The default size cap: 256 MiB, about 2.5 million entries.
    pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;

    /// A cache kept in the file at `path` (created on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        HashCache {
            path: path.into(),
            max_size: Self::DEFAULT_MAX_SIZE,
            strict: false,
            read_only: false,
            replace_foreign: false,
        }
    }

    /// The largest cache file read or written, in bytes (default
    /// [`DEFAULT_MAX_SIZE`](Self::DEFAULT_MAX_SIZE)). A larger file is refused
    /// ([`InvalidCache::TooLarge`]); a tree whose cache would be larger is hashed but not cached
    /// ([`SaveStatus::TooLarge`]). Memory for a loaded cache is about twice its file size.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Whether a cache file that exists but cannot be trusted (or read) is an error
    /// ([`CacheError::Invalid`], [`CacheError::Read`]) rather than ignored and rebuilt (default `false`).
    /// A missing file is never an error.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether a file at the cache's path that is not a cache file at all (not a regular file,
    /// or not starting with this crate's magic) may be replaced by one (default `false`: such a
    /// file is refused with [`CacheError::Foreign`] and left as it is, so a mistyped path never
    /// destroys a user's file). An empty file is always taken as an empty cache. A cache file of
    /// this crate that cannot be trusted is rebuilt either way (or refused, if
    /// [`strict`](Self::strict)).
    pub fn replace_foreign(mut self, replace: bool) -> Self {
        self.replace_foreign = replace;
        self
    }

    /// Whether to use the cache without ever writing it (default `false`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The cache file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size cap (see [`max_size`](Self::max_size)).
    pub fn size_cap(&self) -> u64 {
        self.max_size
    }

    /// Whether an untrusted cache file is an error.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Whether the cache is never written.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The git ids of the file system object at `root` with each of `algorithms` (in the same
    /// order), as `nix hash path --mode git --algo <algorithm>` prints them, reusing and then
    /// updating the cache, under `settings` (threads, SHA-1 collision detection, strict root,
    /// limits, read buffer size: pass [`Options::settings`](crate::Options::settings)). This is
    /// what [`Options::cache`](crate::Options::cache) routes take, with what became of the cache
    /// file reported in the [`Outcome`].
    ///
    /// The cache holds ids for exactly the algorithms of one call: ask for SHA-1 and SHA-256
    /// together to keep both.
    pub fn hash_git(
        &self,
        root: impl AsRef<Path>,
        algorithms: &[Algorithm],
        settings: &Settings,
    ) -> Result<Outcome, CacheError> {
        self.run(root.as_ref(), algorithms, settings, None)
    }

    /// [`hash_git`](Self::hash_git), also streaming the whole object as [events](crate::event)
    /// into `sink` in the same pass, e.g. a NAR hasher: every file is read for the sink (a NAR
    /// hash cannot reuse parts), and only the git hashing of unchanged files is saved.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use nix_ingest::cache::HashCache;
    /// use nix_ingest::hash::{Algorithm, Format};
    /// use nix_ingest::nar::NarHasher;
    /// use nix_ingest::Settings;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("foo");
    /// std::fs::write(&file, "Hello World!\n")?;
    /// let cache = HashCache::new(dir.path().join("cache"));
    /// let mut nar = NarHasher::new(Algorithm::Sha256);
    /// let git = cache.hash_git_with_sink(&file, &[Algorithm::Sha1], &Settings::default(), &mut nar)?;
    /// // `git hash-object` and `nix hash path --mode nar` (Nix 2.26.3 and 2.34.8) of the same file:
    /// assert_eq!(git.ids[0].encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
    /// assert_eq!(
    ///     nar.finish()?.to_prefixed(Format::Sri),
    ///     "sha256-O10uvOJfh8DTewsEX93TDfkI6iCt6ohRNx8wITd0Lq8="
    /// );
    /// # Ok(()) }
    /// ```
    pub fn hash_git_with_sink(
        &self,
        root: impl AsRef<Path>,
        algorithms: &[Algorithm],
        settings: &Settings,
        sink: &mut dyn Sink,
    ) -> Result<Outcome, CacheError> {
        self.run(root.as_ref(), algorithms, settings, Some(sink))
    }

    /// One cached scan with explicit settings, streaming into `sink` if given.
    pub(crate) fn run(
        &self,
        root: &Path,
        algorithms: &[Algorithm],
        settings: &Settings,
        sink: Option<&mut dyn Sink>,
    ) -> Result<Outcome, CacheError> {
        // The moment the scan starts, before anything is read: the reference of the racy rule
        // for every entry this scan records.
        let started = now();
        let mut unique: Vec<Algorithm> = Vec::with_capacity(algorithms.len());
        for &a in algorithms {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        let root_meta = std::fs::symlink_metadata(root)
            .map_err(|source| fs::WalkError::new(root, WalkErrorKind::Io { op: "stat", source }))?;
        let absolute = std::path::absolute(root).map_err(|source| {
            fs::WalkError::new(
                root,
                WalkErrorKind::Io {
                    op: "resolve path",
                    source,
                },
            )
        })?;
        if root_meta.is_dir()
            && let Ok(cache) = std::path::absolute(&self.path)
            && cache.starts_with(&absolute)
        {
            return Err(CacheError::InsideTree {
                cache: self.path.clone(),
                root: root.to_path_buf(),
            });
        }
        let identity = Identity {
            root: std::os::unix::ffi::OsStrExt::as_bytes(absolute.as_os_str()).to_vec(),
            dev: std::os::unix::fs::MetadataExt::dev(&root_meta),
            ino: std::os::unix::fs::MetadataExt::ino(&root_meta),
            algorithms: unique.clone(),
            collision_detection: settings.collision_detection,
        };

        let (old, loaded) = match format::load(
            &self.path,
            &identity,
            self.max_size,
            settings.limits.max_depth,
            settings.threads != 1,
        ) {
            Ok(file) => (Some(file), LoadStatus::Used),
            Err(LoadError::Missing) => (None, LoadStatus::Missing),
            Err(LoadError::Io(source)) if self.strict => {
                return Err(CacheError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
            Err(LoadError::Io(e)) => (None, LoadStatus::Unreadable(e)),
            Err(LoadError::Invalid(reason @ (InvalidCache::Magic | InvalidCache::NotAFile)))
                if !self.replace_foreign
                    && !std::fs::metadata(&self.path)
                        .is_ok_and(|m| m.is_file() && m.len() == 0) =>
            {
                return Err(CacheError::Foreign {
                    path: self.path.clone(),
                    reason,
                });
            }
            Err(LoadError::Invalid(reason)) if self.strict => {
                return Err(CacheError::Invalid {
                    path: self.path.clone(),
                    reason,
                });
            }
            Err(LoadError::Invalid(reason)) => (None, LoadStatus::Rebuilt(reason)),
        };

        let done = match sink {
            // Events go out in NAR order, from the calling thread.
            Some(sink) => scan_tree(
                root,
                &root_meta,
                &unique,
                settings,
                old.as_ref(),
                Some(sink),
            )?,
            None => {
                let work = || scan_tree(root, &root_meta, &unique, settings, old.as_ref(), None);
                #[cfg(feature = "parallel")]
                let done = match settings.threads {
                    0 | 1 => work()?,
                    n => rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .build()
                        .map_err(CacheError::ThreadPool)?
                        .install(work)?,
                };
                #[cfg(not(feature = "parallel"))]
                let done = work()?;
                done
            }
        };
        drop(old);

        let saved = if self.read_only {
            SaveStatus::ReadOnly
        } else if !done.changed {
            SaveStatus::Unchanged
        } else {
            self.save(&identity, started, &done.table)
        };
        let ids = algorithms
            .iter()
            .filter_map(|a| {
                unique
                    .iter()
                    .position(|u| u == a)
                    .and_then(|i| done.ids.get(i))
            })
            .copied()
            .collect();
        Ok(Outcome {
            ids,
            stats: done.stats,
            loaded,
            saved,
        })
    }

    /// Writes a new cache atomically: a temporary file in the same directory, renamed over the
    /// old one.
    fn save(&self, identity: &Identity, scan: Timestamp, table: &format::Table) -> SaveStatus {
        let size = table.file_size(identity);
        if size > self.max_size {
            return SaveStatus::TooLarge {
                size,
                max: self.max_size,
            };
        }
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let write = || -> io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".nix-ingest-cache.")
                .tempfile_in(dir)?;
            {
                let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                format::write(&mut out, identity, scan, table)?;
                io::Write::flush(&mut out)?;
            }
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        match write() {
            Ok(()) => SaveStatus::Written,
            Err(e) => SaveStatus::Failed(e),
        }
    }
}

/// The answer of a cached scan, and what the cache did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The git ids of the root, one per algorithm asked for, in the same order.
    pub ids: Vec<Hash>,
    /// What was reused and what was read.
    pub stats: Stats,
    /// What became of the cache file that was there.
    pub loaded: LoadStatus,
    /// Whether the new cache was written.
    pub saved: SaveStatus,
}

/// What a cached scan reused and what it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Regular files whose blob ids came from the cache.
    pub files_reused: u64,
    /// Regular files read and hashed.
    pub files_hashed: u64,
    /// Of those, files whose stat data matched the cache but were changed too recently to be
    /// trusted (racily clean).
    pub files_racy: u64,
    /// Symlinks whose targets were read and hashed.
    pub symlinks: u64,
    /// Symlinks whose blob ids came from the cache.
    pub symlinks_reused: u64,
    /// Directories whose tree ids came from the cache.
    pub trees_reused: u64,
    /// Directories whose tree was encoded and hashed.
    pub trees_hashed: u64,
    /// File content bytes read and hashed.
    pub bytes_hashed: u64,
}

/// What became of the cache file found at the start of a scan.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadStatus {
    /// It was checked and used.
    Used,
    /// There was none.
    Missing,
    /// It could not be trusted, and the scan started from nothing.
    Rebuilt(InvalidCache),
    /// It could not be read, and the scan started from nothing.
    Unreadable(io::Error),
}

/// Whether a scan wrote its cache.
#[derive(Debug)]
#[non_exhaustive]
pub enum SaveStatus {
    /// A new cache file was written.
    Written,
    /// Nothing changed since the cache that was used; it was left as it is.
    Unchanged,
    /// The cache is read-only ([`HashCache::read_only`]).
    ReadOnly,
    /// The new cache would have exceeded the size cap.
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Writing failed (the answer is still right; the old cache, if any, is untouched).
    Failed(io::Error),
}

/// Why a cached scan failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Walking or reading the tree failed (the error names the path).
    #[error(transparent)]
    Fs(#[from] fs::WalkError),
    /// The cache file cannot be trusted ([`HashCache::strict`] only).
    #[error("cache file {path:?} is not trusted")]
    Invalid {
        /// The cache file.
        path: PathBuf,
        /// Why.
        #[source]
        reason: InvalidCache,
    },
    /// A file that is not a cache file at all is where the cache would be written; it is left
    /// as it is (see [`HashCache::replace_foreign`]).
    #[error("{path:?} is not a nix-ingest cache file; refusing to replace it")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        #[source]
        reason: InvalidCache,
    },
    /// The cache file exists but cannot be read ([`HashCache::strict`] only).
    #[error("cannot read cache file {path:?}")]
    Read {
        /// The cache file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The cache file lies inside the tree it describes, so writing it would change the tree.
    #[error("cache file {cache:?} lies inside the tree {root:?} it would describe")]
    InsideTree {
        /// The cache file.
        cache: PathBuf,
        /// The tree's root.
        root: PathBuf,
    },
    /// The thread pool could not be built.
    #[cfg(feature = "parallel")]
    #[error("cannot start hashing threads")]
    ThreadPool(#[source] rayon::ThreadPoolBuildError),
}

/// Phases 1 to 3 of a scan (see the `scan` module).
fn scan_tree(
    root: &Path,
    root_meta: &std::fs::Metadata,
    algorithms: &[Algorithm],
    settings: &Settings,
    old: Option<&format::Loaded>,
    sink: Option<&mut dyn Sink>,
) -> Result<scan::Done, CacheError> {
    let old_ref = old.map(|f| scan::Old {
        table: &f.table,
        scan: f.scan,
    });
    let mut scan = scan::Scan::new(settings, algorithms, old_ref, sink);
    if root_meta.is_dir() && !scan.streaming() {
        let old_root = match old.and_then(|f| f.table.nodes.first()) {
            Some(n) if n.kind == format::Kind::Directory => 0,
            _ => fs::levels::NONE,
        };
        let listing = fs::levels::list_tree(
            root,
            old_root,
            old_ref,
            &settings.limits,
            settings.threads != 1,
        )?;
        scan.add_listing(listing)?;
    } else {
        fs::walk(root, &settings.limits, &mut scan)?;
    }
    scan.finish(root)
}

fn now() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: d.subsec_nanos(),
        },
        // A clock before 1970 trusts nothing.
        Err(_) => Timestamp::default(),
    }
}
