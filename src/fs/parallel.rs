//! Hashing a directory tree on every core (feature `parallel`, on by default).
//!
//! Two strategies of the walk, both giving exactly what the walk in order ([`fs::dump`]) gives:
//!
//! - [`hash_git_multi`]: the git id of a tree (Nix's `git` method) is a Merkle
//!   tree, so everything parallelises. Every directory is a task on a [rayon] pool: it is
//!   opened, listed (`getdents64`) and sorted on whichever thread takes it, and its
//!   subdirectories become tasks at once, so directories are listed on several threads while
//!   files are being hashed. Its regular files are opened relative to the directory (`openat`),
//!   `fstat`ed, read and hashed as git blobs in chunks of 32 (the first chunk by the task that
//!   listed the directory, the others as tasks of their own); a file of 1 MiB or more gets a task
//!   of its own. When the last entry of a directory has its id, the thread that supplied it
//!   encodes the directory's tree and passes its id to the parent. No phase waits for the whole
//!   tree.
//! - [`dump_multi`]: the walk in NAR order into any [`Sink`](crate::event::Sink) (a NAR hasher,
//!   a flat hasher, several through a `Vec` of sinks), on the calling thread, while a lister
//!   thread walks ahead (opening and `fstat`ing files) and reader threads read the next files,
//!   in batches of up to 64 entries and 2 MiB of contents, 8 batches ahead at most. Reader
//!   threads also hash what they read as git blobs when git ids are asked for, so the git and
//!   NAR hashes of one directory come from one pass that reads every file once.
//!
//!
//! # Memory
//!
//! - [`hash_git_multi`]: each directory's listing is held from when it is listed until its id is
//!   known: its names plus at most 112 bytes per entry for one algorithm (72 more per further
//!   algorithm). In the worst case every directory of the tree is listed before any finishes, so
//!   the walk counts entries against [`Limits::max_entries_total`](crate::Limits::max_entries_total)
//!   and fails with [`fs::WalkErrorKind::TooManyEntriesTotal`] beyond it: memory is at most that limit
//!   times (`112 + max_name_len`) bytes, and in practice a few hundred bytes per entry of the
//!   tree (measured by `benches/compare.sh`). Open descriptors: one directory per running task,
//!   and at most 64 large files waiting for a thread. Each thread has one read buffer of
//!   `buffer_size` bytes.
//! - [`dump_multi`]: what [`fs::dump`] holds (the listings of the open directories), plus at most
//!   8 batches in flight, each with up to 2 MiB of file contents and 64 entries: at most 16 MiB
//!   read ahead, and at most 512 open files.
//!
//! # Differences from the sequential path
//!
//! - **Which error**: when several entries are bad, the sequential walk and [`dump_multi`]
//!   report the first in NAR order; [`hash_git_multi`] reports the first in NAR order among the errors
//!   it met before it stopped, which may be another.
//! - [`hash_git_multi`] checks [`Limits::max_total_size`](crate::Limits::max_total_size) as files are
//!   opened, in whatever order the threads take them, and
//!   [`Limits::max_entries_total`](crate::Limits::max_entries_total) as directories are listed.
//! - A single large file is still hashed by one thread: a blob id is one sequential hash.
//! - [`Options::threads`](crate::Options::threads)`(1)` is the sequential walk itself.
//!
//! [`Options::hash_path`](crate::Options::hash_path) and [`Options::hash_path_multi`](crate::Options::hash_path_multi) take these routes unless
//! [`Options::threads`](crate::Options::threads) is 1, under the same [`Options`](crate::Options) (threads, SHA-1 collision detection,
//! strict root, limits, read buffer size): call those; these functions are the routes
//! themselves.

use std::path::Path;

use crate::fs::{self, WalkErrorKind};
use crate::git::GitHasher;
use crate::hash::{Algorithm, Hash};
use crate::settings::Settings;

mod ahead;
mod git;

/// Why a parallel hash failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Walking or reading the tree failed, or a digest was refused (SHA-1 collision, strict
    /// root); the error names the path.
    #[error(transparent)]
    Fs(#[from] fs::WalkError),
    /// The thread pool could not be built.
    #[error("cannot start hashing threads")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

/// The git ids of the object at `path` under each of `algorithms` (e.g. SHA-1 and SHA-256 at
/// once), in the same order, reading every file once.
pub fn hash_git_multi(
    path: &Path,
    algorithms: &[Algorithm],
    settings: &Settings,
) -> Result<Vec<Hash>, Error> {
    let cfg = git::Config {
        algorithms,
        detect: settings.collision_detection,
        limits: settings.limits,
        buffer_size: settings.buffer_size(),
    };
    // Only a directory has work to share out (and only a root that is not a directory can be
    // refused by strict mode, which the sequential hasher does).
    let meta = std::fs::symlink_metadata(path)
        .map_err(|source| fs::WalkError::new(path, WalkErrorKind::Io { op: "stat", source }))?;
    if !meta.is_dir() || settings.threads == 1 {
        return Ok(sequential_git(path, algorithms, settings)?);
    }
    if settings.limits.max_depth == 0 {
        return Err(fs::WalkError::new(path, WalkErrorKind::TooDeep { max: 0 }).into());
    }
    Ok(match settings.threads {
        0 => git::hash_directory(path, &cfg)?,
        n => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()?
            .install(|| git::hash_directory(path, &cfg))?,
    })
}

/// Feeds the object at `path` to `sink` as [`fs::dump`] does — the same events in the same
/// order, the same checks — while other threads open, `fstat` and read the next files ahead of
/// the sink (see the [module docs](self) for the memory this takes). Returns the git ids of the
/// object under `git` (none if empty), computed in the same pass: each file is read once.
pub fn dump_multi<S: crate::event::Sink + ?Sized>(
    path: &Path,
    sink: &mut S,
    git: &[Algorithm],
    settings: &Settings,
) -> Result<Vec<Hash>, Error> {
    let readers = match settings.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let cfg = ahead::Config {
        git,
        detect: settings.collision_detection,
        limits: settings.limits,
        buffer_size: settings.buffer_size(),
        // The calling thread hashes the stream; readers that also hash git blobs have as much
        // to do as it has, so they get every core.
        readers: if git.is_empty() {
            readers.saturating_sub(1).max(1)
        } else {
            readers.max(1)
        },
    };
    Ok(ahead::dump(path, sink, &cfg)?)
}

/// One streaming pass on the calling thread: the walk into one git hasher per algorithm.
fn sequential_git(
    path: &Path,
    algorithms: &[Algorithm],
    settings: &Settings,
) -> Result<Vec<Hash>, fs::WalkError> {
    let mut hashers: Vec<GitHasher> = algorithms
        .iter()
        .map(|&a| {
            GitHasher::new(a)
                .collision_detection(settings.collision_detection)
                .strict_root(settings.strict_root)
        })
        .collect();
    fs::dump(path, &mut hashers, settings)?;
    hashers
        .into_iter()
        .map(|h| {
            h.finish()
                .map_err(|e| fs::WalkError::new(path, WalkErrorKind::Sink(e)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::Options;

    /// One algorithm's id.
    fn hash_git(path: &Path, algorithm: Algorithm, settings: &Settings) -> Result<Hash, Error> {
        hash_git_multi(path, &[algorithm], settings).map(|ids| ids[0])
    }
    use super::*;
    use crate::git::GitHasher;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const NAMES: &[&[u8]] = &[
        b"a",
        b"a-",
        b"a.b",
        b"a0",
        b"a=",
        b"b",
        b"with space",
        b"new\nline",
        b"\xff\xfe",
        b"\xc3\xa9",
        b"A",
        b"~",
        b".hidden",
        b"z",
    ];

    /// Fills `dir` with a random tree: files (some executable, some empty, some larger than
    /// the read buffer), symlinks and nested directories.
    fn random_tree(rng: &mut Rng, dir: &Path, depth: u32) {
        let n = rng.below(7);
        for _ in 0..n {
            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
            let path = dir.join(std::ffi::OsStr::from_bytes(name));
            if std::fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            match rng.below(10) {
                0..=4 => {
                    let len = match rng.below(8) {
                        0 => 0,
                        1 => 5000 + rng.below(300_000) as usize,
                        _ => rng.below(100) as usize,
                    };
                    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    std::fs::write(&path, &data).unwrap();
                    let mode = [0o644, 0o755, 0o700, 0o470, 0o407, 0o511][rng.below(6) as usize];
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                }
                5..=6 => {
                    let target = NAMES[rng.below(NAMES.len() as u64) as usize];
                    symlink(std::ffi::OsStr::from_bytes(target), &path).unwrap();
                }
                _ if depth < 4 => {
                    std::fs::create_dir(&path).unwrap();
                    random_tree(rng, &path, depth + 1);
                }
                _ => {}
            }
        }
    }

    use std::os::unix::ffi::OsStrExt;

    fn sequential(path: &Path, algorithm: Algorithm) -> Hash {
        let mut git = GitHasher::new(algorithm);
        fs::dump(path, &mut git, &Settings::default()).unwrap();
        git.finish().unwrap()
    }

    #[test]
    fn parallel_equals_sequential_on_random_trees() {
        let algorithms = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Md5];
        // How many files, symlinks and directories the random trees held, to show they are not
        // trivial.
        let mut counts = [0usize; 3];
        for seed in 1..=24u64 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            random_tree(&mut rng, &root, 1);
            let expected: Vec<Hash> = algorithms.iter().map(|&a| sequential(&root, a)).collect();
            let mut rec = crate::event::Recorder::default();
            fs::dump(&root, &mut rec, &Settings::default()).unwrap();
            for e in &rec.events {
                match e {
                    crate::event::OwnedEvent::FileStart { .. } => counts[0] += 1,
                    crate::event::OwnedEvent::Symlink { .. } => counts[1] += 1,
                    crate::event::OwnedEvent::DirectoryStart { .. } => counts[2] += 1,
                    _ => {}
                }
            }
            for threads in [1, 2, 3, 0] {
                let options = *Options::new().threads(threads).buffer_size(4096).settings();
                let got = hash_git_multi(&root, &algorithms, &options).unwrap();
                assert_eq!(got, expected, "seed {seed}, threads {threads:?}");
                assert_eq!(
                    hash_git(&root, Algorithm::Sha1, &options).unwrap(),
                    expected[0]
                );
            }
        }
        assert!(
            counts.iter().all(|&c| c >= 20),
            "trees too small: {counts:?}"
        );
    }

    /// The read-ahead walk gives the sink exactly the events of the sequential walk, and the
    /// git ids of the same pass equal the sequential ones.
    #[test]
    fn read_ahead_equals_sequential_on_random_trees() {
        let algorithms = [Algorithm::Sha1, Algorithm::Sha256];
        for seed in 1..=16u64 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            random_tree(&mut rng, &root, 1);
            let mut expected = crate::event::Recorder::default();
            fs::dump(&root, &mut expected, &Settings::default()).unwrap();
            let ids: Vec<Hash> = algorithms.iter().map(|&a| sequential(&root, a)).collect();
            for threads in [2, 3, 0] {
                let options = *Options::new().threads(threads).settings();
                let mut got = crate::event::Recorder::default();
                let got_ids = dump_multi(&root, &mut got, &algorithms, &options).unwrap();
                assert_eq!(got.events, expected.events, "seed {seed}");
                assert_eq!(got_ids, ids, "seed {seed}");
                let mut got = crate::event::Recorder::default();
                assert!(
                    dump_multi(&root, &mut got, &[], &options)
                        .unwrap()
                        .is_empty()
                );
                assert_eq!(got.events, expected.events, "seed {seed}");
            }
        }
    }

    /// Files larger than a read-ahead arena (read partly ahead, the rest by the caller), files
    /// of exactly an arena and one byte less, and more entries than a batch holds.
    #[test]
    fn read_ahead_large_files_and_many_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut rng = Rng(7);
        let arena = ahead::ARENA;
        for (name, len) in [
            ("big", 2 * arena + 5),
            ("exact", arena),
            ("less", arena - 1),
            ("more", arena + 1),
        ] {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            std::fs::write(root.join(name), data).unwrap();
        }
        std::fs::create_dir(root.join("many")).unwrap();
        for i in 0..(ahead::BATCH_ENTRIES * 2 + 3) {
            std::fs::write(root.join("many").join(format!("f{i}")), i.to_string()).unwrap();
        }
        let algorithms = [Algorithm::Sha1];
        let mut expected = crate::event::Recorder::default();
        fs::dump(root, &mut expected, &Settings::default()).unwrap();
        let ids = vec![sequential(root, Algorithm::Sha1)];
        let options = *Options::new().threads(3).settings();
        let mut got = crate::event::Recorder::default();
        let got_ids = dump_multi(root, &mut got, &algorithms, &options).unwrap();
        assert!(got.events == expected.events, "events differ");
        assert_eq!(got_ids, ids);
    }

    /// Of several bad entries, the read-ahead walk reports the first in NAR order, as the
    /// sequential walk does; so does the parallel git walk.
    #[test]
    fn first_error_in_nar_order() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "c", "e"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
            for f in 0..50 {
                std::fs::write(dir.path().join(d).join(format!("f{f}")), "x").unwrap();
            }
        }
        let socks: Vec<_> = ["b", "d", "c/zz"]
            .iter()
            .map(|n| std::os::unix::net::UnixListener::bind(dir.path().join(n)).unwrap())
            .collect();
        let first = dir.path().join("b");
        let seq = fs::dump(
            dir.path(),
            &mut crate::event::Recorder::default(),
            &Settings::default(),
        )
        .unwrap_err();
        assert_eq!(seq.path, first);
        for threads in [2, 0] {
            let options = *Options::new().threads(threads).settings();
            let mut rec = crate::event::Recorder::default();
            match dump_multi(dir.path(), &mut rec, &[Algorithm::Sha1], &options).unwrap_err() {
                Error::Fs(e) => assert_eq!(e.path, first),
                other => panic!("{other}"),
            }
            match hash_git(dir.path(), Algorithm::Sha1, &options).unwrap_err() {
                Error::Fs(e) => assert!(
                    [
                        dir.path().join("b"),
                        dir.path().join("d"),
                        dir.path().join("c/zz")
                    ]
                    .contains(&e.path),
                    "{e}"
                ),
                other => panic!("{other}"),
            }
        }
        drop(socks);
    }

    #[test]
    fn roots_that_are_not_directories() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "Hello World!\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("l");
        symlink("foo", &link).unwrap();
        for path in [&file, &link] {
            for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
                assert_eq!(
                    hash_git(path, algorithm, &Settings::default()).unwrap(),
                    sequential(path, algorithm)
                );
            }
        }
        // `git hash-object` of "Hello World!\n" (an executable root hashes as its blob).
        assert_eq!(
            hash_git(&file, Algorithm::Sha1, &Settings::default())
                .unwrap()
                .encode(crate::hash::Format::Base16),
            "980a0d5f19a64b4b30a87d4206aade58726b60e3"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok"), "x").unwrap();
        let sock = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = hash_git(dir.path(), Algorithm::Sha1, &Settings::default()).unwrap_err();
        match err {
            Error::Fs(e) => {
                assert_eq!(e.path, sock);
                assert!(matches!(
                    e.kind,
                    WalkErrorKind::UnsupportedType {
                        file_type: "socket"
                    }
                ));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn total_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "12345").unwrap();
        std::fs::write(dir.path().join("b"), "12345").unwrap();
        let limits = |max_total_size| crate::Limits {
            max_total_size,
            ..crate::Limits::default()
        };
        let options = *Options::new().limits(limits(10)).settings();
        assert!(hash_git(dir.path(), Algorithm::Sha1, &options).is_ok());
        let options = *Options::new().limits(limits(9)).settings();
        let err = hash_git(dir.path(), Algorithm::Sha1, &options).unwrap_err();
        assert!(
            matches!(&err, Error::Fs(e) if matches!(e.kind, WalkErrorKind::TooLarge { max: 9 })),
            "{err}"
        );
    }
}
