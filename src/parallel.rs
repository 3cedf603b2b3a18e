//! Git hashing of a directory tree on several threads (feature `parallel`).
//!
//! The git id of a tree (Nix's `git` ingestion method, `nix hash path --mode git`) is a Merkle
//! tree: every file's blob id is independent of every other's, so the expensive part — reading
//! and hashing file contents — parallelises perfectly. [`hash_git`] does it in three phases:
//!
//! 1. **walk** (one thread): the same directory walk as [`fs::dump`], with the
//!    same checks (symlinks never followed, names as bytes, unsupported types, [`Limits`](crate::Limits)),
//!    recording the tree's shape and the path of every regular file;
//! 2. **blobs** (many threads, [rayon]): each regular file is opened, `fstat`ed, read in chunks
//!    and hashed as a git blob — with every requested algorithm in the same read — checking that
//!    the bytes read match the size announced, exactly as the sequential walk does;
//! 3. **trees** (one thread): directories are assembled bottom-up with
//!    [`git::encode_tree`] and hashed.
//!
//! The answer is the same as streaming [`fs::dump`] into a
//! [`GitHasher`](crate::git::GitHasher): the same ids for the same tree, with SHA-1 collision
//! detection on by default as there.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::hash::{Algorithm, Format};
//! use nix_ingest::parallel::{self, ParallelOptions};
//!
//! // The tree from Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`.
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("bla"))?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//! std::os::unix::fs::symlink("foo", dir.path().join("bar"))?;
//!
//! let options = ParallelOptions { threads: Some(2), ..ParallelOptions::default() };
//! let [sha1, sha256] = parallel::hash_git_multi(
//!     dir.path(),
//!     &[Algorithm::Sha1, Algorithm::Sha256],
//!     &options,
//! )?[..] else { unreachable!() };
//! assert_eq!(sha1.encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//! assert_eq!(
//!     sha256.encode(Format::Base16),
//!     "3c957653f90c34c0a8badf343b61393936cddf4a2ca93f64b21f02303ddedcc2"
//! );
//! # Ok(()) }
//! ```
//!
//! # Differences from the sequential path
//!
//! - **Memory**: the walk records the whole tree (every name, and every regular file's path)
//!   before hashing, about a hundred bytes per entry; the streaming hasher holds only the open
//!   directories. Bound it with [`Limits`](crate::Limits) in [`ParallelOptions::fs`].
//! - **Which error**: when several entries are bad (unreadable, changed while read…), the
//!   sequential walk reports the first in NAR order; this one may report another. Errors found
//!   by the walk itself (types, names, depth, entry counts, symlink targets) come first, in NAR
//!   order, before any file is read.
//! - [`Limits::max_total_size`](crate::Limits::max_total_size) is checked once all sizes are
//!   known, after the files have been read.
//! - A single large file is still hashed by one thread: git's blob id is one sequential hash.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::buffer::ReadBuffer;
use crate::event::SinkError;
use crate::fs::{self, ErrorKind, Visitor};
use crate::git::{self, Mode, ObjectKind, TreeEntry, encode_tree};
use crate::hash::{self, Algorithm, Hash, Hasher};

/// How [`hash_git`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParallelOptions {
    /// How many threads hash file contents: `None` (or `Some(0)`) uses rayon's global pool
    /// (one thread per core by default); `Some(1)` hashes on the calling thread without rayon;
    /// `Some(n)` builds a pool of `n` threads for this call.
    pub threads: Option<usize>,
    /// Detect SHA-1 collision attacks, as git does (on by default, as for
    /// [`GitHasher`](crate::git::GitHasher)); a detected attack fails with
    /// [`SinkError::Sha1Collision`] at the path of the object.
    pub collision_detection: bool,
    /// The walk's limits and read buffer size.
    pub fs: fs::Options,
}

impl Default for ParallelOptions {
    fn default() -> Self {
        ParallelOptions {
            threads: None,
            collision_detection: true,
            fs: fs::Options::default(),
        }
    }
}

/// Why a parallel hash failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Walking or reading the tree failed, or a digest was refused (SHA-1 collision); the error
    /// names the path.
    #[error(transparent)]
    Fs(#[from] fs::Error),
    /// The thread pool could not be built.
    #[error("cannot start hashing threads: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

/// The git id of the file system object at `path` (a directory tree, a regular file or a
/// symlink), computed on several threads. Equal to
/// [`hash_path`](crate::ingest::hash_path) with [`FileIngestionMethod::Git`](crate::method::FileIngestionMethod::Git).
pub fn hash_git(
    path: &Path,
    algorithm: Algorithm,
    options: &ParallelOptions,
) -> Result<Hash, Error> {
    let ids = hash_git_multi(path, &[algorithm], options)?;
    match ids.first() {
        Some(id) => Ok(*id),
        // `hash_git_multi` returns one id per algorithm.
        None => unreachable!("one algorithm gives one id"),
    }
}

/// The git ids of the object at `path` under each of `algorithms` (e.g. SHA-1 and SHA-256 at
/// once), in the same order, reading every file once.
pub fn hash_git_multi(
    path: &Path,
    algorithms: &[Algorithm],
    options: &ParallelOptions,
) -> Result<Vec<Hash>, Error> {
    // Phase 1: the walk.
    let mut plan = Plan::default();
    fs::walk(path, &options.fs.limits, &mut plan)?;
    let mut total = plan.symlink_bytes;

    // Phase 2: the blobs.
    let hasher = BlobHasher {
        algorithms,
        detect: options.collision_detection,
        buffer_size: options.fs.buffer_size.max(fs::Options::MIN_BUFFER_SIZE),
    };
    let blobs: Vec<Blob> = match options.threads {
        Some(1) => {
            let mut buf = hasher.buffer();
            plan.files
                .iter()
                .map(|job| hasher.hash(job, &mut buf))
                .collect::<Result<_, _>>()?
        }
        None | Some(0) => hasher.hash_all(&plan.files)?,
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()?
            .install(|| hasher.hash_all(&plan.files))?,
    };
    for (job, blob) in plan.files.iter().zip(&blobs) {
        total = match total.checked_add(blob.size) {
            Some(t) if t <= options.fs.limits.max_total_size => t,
            _ => {
                return Err(fs::Error::new(
                    job.path.clone(),
                    ErrorKind::TooLarge {
                        max: options.fs.limits.max_total_size,
                    },
                )
                .into());
            }
        };
    }

    // Phase 3: the trees, bottom-up.
    let mut stack: Vec<Vec<Child>> = Vec::new();
    let mut root: Option<Vec<Hash>> = None;
    let blob_ids = |blob: &Blob| blob.ids.clone();
    for node in plan.nodes {
        let (name, mode, ids) = match node {
            Node::DirectoryStart => {
                stack.push(Vec::new());
                continue;
            }
            Node::DirectoryEnd { name, path } => {
                let children = stack.pop().unwrap_or_default();
                let ids = algorithms
                    .iter()
                    .enumerate()
                    .map(|(i, &algorithm)| {
                        let mut entries: Vec<TreeEntry> = children
                            .iter()
                            .filter_map(|c| {
                                Some(TreeEntry {
                                    mode: c.mode,
                                    name: c.name.clone(),
                                    id: *c.ids.get(i)?,
                                })
                            })
                            .collect();
                        let body = encode_tree(&mut entries);
                        object_id(algorithm, ObjectKind::Tree, &body, hasher.detect)
                            .map_err(|e| fs::Error::new(path.clone(), ErrorKind::Sink(e)))
                    })
                    .collect::<Result<Vec<Hash>, fs::Error>>()?;
                (name, Mode::Directory, ids)
            }
            Node::File { name, index } => {
                let Some(blob) = blobs.get(index) else {
                    unreachable!("one blob per recorded file");
                };
                let mode = if blob.executable {
                    Mode::Executable
                } else {
                    Mode::File
                };
                (name, mode, blob_ids(blob))
            }
            Node::Symlink { name, target, path } => {
                let ids = algorithms
                    .iter()
                    .map(|&algorithm| {
                        object_id(algorithm, ObjectKind::Blob, &target, hasher.detect)
                            .map_err(|e| fs::Error::new(path.clone(), ErrorKind::Sink(e)))
                    })
                    .collect::<Result<Vec<Hash>, fs::Error>>()?;
                (name, Mode::Symlink, ids)
            }
        };
        match (name, stack.last_mut()) {
            (Some(name), Some(parent)) => parent.push(Child { mode, name, ids }),
            _ => root = Some(ids),
        }
    }
    match root {
        Some(ids) => Ok(ids),
        None => unreachable!("a successful walk visits a root"),
    }
}

/// What the walk recorded, in NAR order.
#[derive(Default)]
struct Plan {
    nodes: Vec<Node>,
    files: Vec<FileJob>,
    symlink_bytes: u64,
    /// The names of the open directories, innermost last.
    open: Vec<Option<Vec<u8>>>,
}

enum Node {
    DirectoryStart,
    DirectoryEnd {
        name: Option<Vec<u8>>,
        path: PathBuf,
    },
    File {
        name: Option<Vec<u8>>,
        index: usize,
    },
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
        path: PathBuf,
    },
}

struct FileJob {
    path: PathBuf,
    lstat: Option<Metadata>,
}

/// An entry of a directory being assembled.
struct Child {
    mode: Mode,
    name: Vec<u8>,
    ids: Vec<Hash>,
}

impl Visitor for Plan {
    fn directory_start(&mut self, name: Option<&[u8]>, _path: &Path) -> Result<(), fs::Error> {
        // The name goes with the end node, where the directory's id becomes known.
        self.nodes.push(Node::DirectoryStart);
        self.open.push(name.map(<[u8]>::to_vec));
        Ok(())
    }

    fn directory_end(&mut self, path: &Path) -> Result<(), fs::Error> {
        let name = self.open.pop().flatten();
        self.nodes.push(Node::DirectoryEnd {
            name,
            path: path.to_path_buf(),
        });
        Ok(())
    }

    fn symlink(
        &mut self,
        name: Option<&[u8]>,
        target: &[u8],
        path: &Path,
    ) -> Result<(), fs::Error> {
        self.symlink_bytes = self.symlink_bytes.saturating_add(target.len() as u64);
        self.nodes.push(Node::Symlink {
            name: name.map(<[u8]>::to_vec),
            target: target.to_vec(),
            path: path.to_path_buf(),
        });
        Ok(())
    }

    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        lstat: Option<&Metadata>,
    ) -> Result<(), fs::Error> {
        self.nodes.push(Node::File {
            name: name.map(<[u8]>::to_vec),
            index: self.files.len(),
        });
        self.files.push(FileJob {
            path: path.to_path_buf(),
            lstat: lstat.cloned(),
        });
        Ok(())
    }
}

/// The result of hashing one regular file.
struct Blob {
    executable: bool,
    size: u64,
    ids: Vec<Hash>,
}

struct BlobHasher<'a> {
    algorithms: &'a [Algorithm],
    detect: bool,
    buffer_size: usize,
}

impl BlobHasher<'_> {
    fn buffer(&self) -> ReadBuffer {
        ReadBuffer::new(self.buffer_size)
    }

    fn hash_all(&self, files: &[FileJob]) -> Result<Vec<Blob>, fs::Error> {
        // Largest files first, one file per task: a big file that started last would leave the
        // other threads idle while it is hashed alone.
        let size = |i: &usize| {
            files
                .get(*i)
                .and_then(|f| f.lstat.as_ref())
                .map_or(0, Metadata::len)
        };
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(size(i)));
        let mut hashed = order
            .par_iter()
            .with_max_len(1)
            .filter_map(|&i| files.get(i).map(|job| (i, job)))
            .map_init(
                || self.buffer(),
                |buf, (i, job)| self.hash(job, buf).map(|blob| (i, blob)),
            )
            .collect::<Result<Vec<_>, _>>()?;
        hashed.sort_unstable_by_key(|&(i, _)| i);
        Ok(hashed.into_iter().map(|(_, blob)| blob).collect())
    }

    fn hash(&self, job: &FileJob, buf: &mut [u8]) -> Result<Blob, fs::Error> {
        let fs::OpenFile {
            mut file,
            size,
            executable,
        } = fs::open_file(&job.path, job.lstat.as_ref())?;
        let mut hashers: Vec<Hasher> = self
            .algorithms
            .iter()
            .map(|&a| git::object_hasher(a, ObjectKind::Blob, size, self.detect))
            .collect();
        fs::read_file(&mut file, size, buf, &job.path, |data| {
            hashers.iter_mut().for_each(|h| h.update(data));
            Ok(())
        })?;
        let ids = hashers
            .into_iter()
            .map(|h| {
                h.finalize().map_err(|e| {
                    fs::Error::new(job.path.clone(), ErrorKind::Sink(collision(e, "blob")))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Blob {
            executable,
            size,
            ids,
        })
    }
}

/// The id of an object, failing on a detected SHA-1 collision.
fn object_id(
    algorithm: Algorithm,
    kind: ObjectKind,
    body: &[u8],
    detect: bool,
) -> Result<Hash, SinkError> {
    let mut h = git::object_hasher(algorithm, kind, body.len() as u64, detect);
    h.update(body);
    h.finalize().map_err(|e| collision(e, kind.name()))
}

fn collision(e: hash::Error, object: &'static str) -> SinkError {
    match e {
        hash::Error::Sha1Collision(digest) => SinkError::Sha1Collision { object, digest },
        other => SinkError::Other(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
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
        fs::dump(path, &mut git, &fs::Options::default()).unwrap();
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
            fs::dump(&root, &mut rec, &fs::Options::default()).unwrap();
            for e in &rec.events {
                match e {
                    crate::event::OwnedEvent::FileStart { .. } => counts[0] += 1,
                    crate::event::OwnedEvent::Symlink { .. } => counts[1] += 1,
                    crate::event::OwnedEvent::DirectoryStart { .. } => counts[2] += 1,
                    _ => {}
                }
            }
            for threads in [Some(1), Some(2), Some(3), None] {
                let options = ParallelOptions {
                    threads,
                    fs: fs::Options {
                        buffer_size: 4096,
                        ..fs::Options::default()
                    },
                    ..ParallelOptions::default()
                };
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
                    hash_git(path, algorithm, &ParallelOptions::default()).unwrap(),
                    sequential(path, algorithm)
                );
            }
        }
        // `git hash-object` of "Hello World!\n" (an executable root hashes as its blob).
        assert_eq!(
            hash_git(&file, Algorithm::Sha1, &ParallelOptions::default())
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
        let err = hash_git(dir.path(), Algorithm::Sha1, &ParallelOptions::default()).unwrap_err();
        match err {
            Error::Fs(e) => {
                assert_eq!(e.path, sock);
                assert!(matches!(
                    e.kind,
                    ErrorKind::UnsupportedType {
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
        let mut options = ParallelOptions::default();
        options.fs.limits.max_total_size = 10;
        assert!(hash_git(dir.path(), Algorithm::Sha1, &options).is_ok());
        options.fs.limits.max_total_size = 9;
        let err = hash_git(dir.path(), Algorithm::Sha1, &options).unwrap_err();
        assert!(
            matches!(&err, Error::Fs(e) if matches!(e.kind, ErrorKind::TooLarge { max: 9 })),
            "{err}"
        );
    }
}
