//! Directory → git ids on several threads, walk and hashing overlapped (crate-private).
//!
//! Every directory is a task: it is opened, listed and sorted on whichever thread takes the
//! task; its subdirectories become tasks at once (so other threads list them while this one
//! hashes), and its regular files are hashed in chunks of [`CHUNK`] — the first chunk by the
//! same task through the descriptor it already holds, the others as tasks of their own. A file
//! of [`BIG`] bytes or more is handed to a task of its own once opened, so several large files
//! are hashed at once. When the last entry of a directory has its id, whichever thread supplied
//! it encodes the directory's tree and hands its id to the parent: ids flow up as soon as they
//! are known, and no phase waits for the whole tree.
//!
//! Memory: each directory's listing (names in one buffer, [`Listing::ENTRY_BYTES`] per entry)
//! and one slot per entry and algorithm for the ids of its entries, held from the listing until
//! the directory's id is known; the walk counts every entry against
//! [`Limits::max_entries_total`](crate::Limits::max_entries_total), so the total is bounded by
//! that limit times [`ENTRY_COST`] bytes plus the names. Open file descriptors: one directory
//! per task running, plus at most [`MAX_BIG_IN_FLIGHT`] large files waiting for a thread.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::buffer::ReadBuffer;
use crate::fs::{self, At, DirBuffer, Kind, Listing, OpenFile, WalkErrorKind};
use crate::git::{self, Mode, ObjectKind};
use crate::hash::{Algorithm, Hash, Hasher};
use crate::limits::Limits;

/// Files hashed per task.
pub(crate) const CHUNK: usize = 32;
/// Files at least this large get a task of their own.
pub(crate) const BIG: u64 = 1 << 20;
/// At most this many large files wait, open, for a thread.
pub(crate) const MAX_BIG_IN_FLIGHT: usize = 64;
/// Bytes held per entry of a listed directory besides its name, for one algorithm (the listing
/// entry, the mode and one id slot).
pub(crate) const ENTRY_COST: usize =
    Listing::ENTRY_BYTES + std::mem::size_of::<Mode>() + std::mem::size_of::<Option<Hash>>();

/// What to compute.
pub(crate) struct Config<'a> {
    pub(crate) algorithms: &'a [Algorithm],
    pub(crate) detect: bool,
    pub(crate) limits: Limits,
    pub(crate) buffer_size: usize,
}

/// A thread's reusable buffers.
struct Scratch {
    read: ReadBuffer,
    dir: DirBuffer,
}

struct Shared<'a> {
    cfg: &'a Config<'a>,
    scratch: Vec<Mutex<Scratch>>,
    failed: AtomicBool,
    error: Mutex<Option<fs::WalkError>>,
    total: AtomicU64,
    entries: AtomicU64,
    big_in_flight: AtomicUsize,
    root: Mutex<Option<Vec<Hash>>>,
}

/// A listed directory whose id is not known yet.
struct DirNode {
    path: Vec<u8>,
    /// Device and inode of the directory listed, so a task that opens it again gets the same.
    id: (u64, u64),
    parent: Option<(Arc<DirNode>, usize)>,
    listing: Listing,
    state: Mutex<DirState>,
    /// Entries without an id yet, plus one per task still adding ids.
    pending: AtomicUsize,
}

struct DirState {
    /// `listing.len() × algorithms` ids, entry-major.
    ids: Vec<Option<Hash>>,
    modes: Vec<Mode>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The git ids of the directory at `root` under each algorithm, on the current rayon pool.
pub(crate) fn hash_directory(root: &Path, cfg: &Config<'_>) -> Result<Vec<Hash>, fs::WalkError> {
    let threads = rayon::current_num_threads().max(1);
    let shared = Shared {
        cfg,
        scratch: (0..threads + 1)
            .map(|_| {
                Mutex::new(Scratch {
                    read: ReadBuffer::new(cfg.buffer_size),
                    dir: DirBuffer::new(),
                })
            })
            .collect(),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        total: AtomicU64::new(0),
        entries: AtomicU64::new(0),
        big_in_flight: AtomicUsize::new(0),
        root: Mutex::new(None),
    };
    let root_bytes = std::os::unix::ffi::OsStrExt::as_bytes(root.as_os_str()).to_vec();
    rayon::scope(|s| {
        let shared = &shared;
        s.spawn(move |s| shared.dir_task(s, root_bytes, None, 1));
    });
    if let Some(e) = lock(&shared.error).take() {
        return Err(e);
    }
    match lock(&shared.root).take() {
        Some(ids) => Ok(ids),
        None => unreachable!("a walk without error gives the root's ids"),
    }
}

impl<'a> Shared<'a> {
    /// Records an error; of several, the first in NAR order is kept.
    fn fail(&self, e: fs::WalkError) {
        self.failed.store(true, Ordering::Relaxed);
        let mut slot = lock(&self.error);
        let earlier = match &*slot {
            Some(old) => nar_order(&e.path, &old.path).is_lt(),
            None => true,
        };
        if earlier {
            *slot = Some(e);
        }
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let i = rayon::current_thread_index().unwrap_or(self.scratch.len() - 1);
        match self.scratch.get(i).map(Mutex::try_lock) {
            Some(Ok(mut s)) => f(&mut s),
            // Only if a task ever waited on another with its scratch held: use a fresh one.
            _ => f(&mut Scratch {
                read: ReadBuffer::new(self.cfg.buffer_size),
                dir: DirBuffer::new(),
            }),
        }
    }

    fn count(&self, bytes: u64, path: impl FnOnce() -> PathBuf) -> Result<(), fs::WalkError> {
        let max = self.cfg.limits.max_total_size;
        let before = self.total.fetch_add(bytes, Ordering::Relaxed);
        match before.checked_add(bytes) {
            Some(t) if t <= max => Ok(()),
            _ => Err(fs::WalkError::new(path(), WalkErrorKind::TooLarge { max })),
        }
    }

    fn dir_task<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        path: Vec<u8>,
        parent: Option<(Arc<DirNode>, usize)>,
        depth: usize,
    ) {
        if self.failed() {
            return;
        }
        if let Err(e) = self.dir(scope, path, parent, depth) {
            self.fail(e);
        }
    }

    fn dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        path: Vec<u8>,
        parent: Option<(Arc<DirNode>, usize)>,
        depth: usize,
    ) -> Result<(), fs::WalkError> {
        let limits = &self.cfg.limits;
        let fd = fs::open_dir(At::Path(&path))?;
        let listing = self.with_scratch(|s| fs::list(fd.as_fd(), &path, limits, &mut s.dir))?;
        let st = fs::stat_dir(fd.as_fd(), &path)?;
        let n = listing.len();
        let max = limits.max_entries_total;
        let before = self.entries.fetch_add(n as u64, Ordering::Relaxed);
        if before.saturating_add(n as u64) > max {
            return Err(fs::WalkError::new(
                fs::as_path(&path),
                WalkErrorKind::TooManyEntriesTotal { max },
            ));
        }
        let k = self.cfg.algorithms.len();
        let node = Arc::new(DirNode {
            path,
            id: (st.dev, st.ino),
            parent,
            listing,
            state: Mutex::new(DirState {
                ids: vec![None; n * k],
                modes: vec![Mode::File; n],
            }),
            pending: AtomicUsize::new(n + 1),
        });

        // Subdirectories first, so other threads can take them while this one hashes; then
        // symlinks (read here, through the open directory); files in chunks.
        let mut files: Vec<usize> = Vec::new();
        let mut done: Vec<(usize, Mode, Vec<Hash>)> = Vec::new();
        for (i, (name, kind)) in node.listing.iter().enumerate() {
            match kind {
                Kind::Directory => {
                    let child = fs::join_bytes(&node.path, name);
                    if depth >= limits.max_depth {
                        return Err(fs::WalkError::new(
                            fs::as_path(&child),
                            WalkErrorKind::TooDeep {
                                max: limits.max_depth,
                            },
                        ));
                    }
                    let parent = Some((Arc::clone(&node), i));
                    scope.spawn(move |s| self.dir_task(s, child, parent, depth + 1));
                }
                Kind::File => files.push(i),
                Kind::Symlink => {
                    let mut long = Vec::new();
                    let at = Self::at(&node, fd.as_fd(), name, &mut long);
                    let target = fs::read_target(at, limits)?;
                    self.count(target.len() as u64, || at.path())?;
                    let ids = self.ids(ObjectKind::Blob, &target, || at.path())?;
                    done.push((i, Mode::Symlink, ids));
                }
                Kind::Other(file_type) => {
                    return Err(fs::WalkError::new(
                        fs::join(&node.path, name),
                        WalkErrorKind::UnsupportedType { file_type },
                    ));
                }
            }
        }
        let mut chunks = files.chunks(CHUNK);
        let first = chunks.next().unwrap_or_default();
        for chunk in chunks {
            let node = Arc::clone(&node);
            let chunk = chunk.to_vec();
            node.pending.fetch_add(1, Ordering::Relaxed);
            scope.spawn(move |s| {
                if let Err(e) = self.chunk_task(s, &node, &chunk) {
                    self.fail(e);
                }
            });
        }
        self.hash_files(scope, &node, fd.as_fd(), first, &mut done)?;
        drop(fd);
        self.deliver(&node, done)
    }

    /// Hashes the files `indices` of `node` in a task of their own, opening the directory again.
    fn chunk_task<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        node: &Arc<DirNode>,
        indices: &[usize],
    ) -> Result<(), fs::WalkError> {
        if self.failed() {
            return Ok(());
        }
        let fd = fs::open_dir(At::Path(&node.path))?;
        let st = fs::stat_dir(fd.as_fd(), &node.path)?;
        if (st.dev, st.ino) != node.id {
            return Err(fs::WalkError::new(
                fs::as_path(&node.path),
                WalkErrorKind::Changed {
                    expected: "directory",
                    found: "different directory",
                },
            ));
        }
        let mut done = Vec::with_capacity(indices.len());
        self.hash_files(scope, node, fd.as_fd(), indices, &mut done)?;
        drop(fd);
        self.deliver(node, done)
    }

    /// Where `name` in `node` is: relative to the open directory, or by its full path (kept in
    /// `long`) when that is too long, so it fails as a walk by full paths would.
    fn at<'n>(
        node: &'n DirNode,
        dir: BorrowedFd<'n>,
        name: &'n [u8],
        long: &'n mut Vec<u8>,
    ) -> At<'n> {
        if node.path.len() + 1 + name.len() < fs::PATH_MAX {
            At::Dir {
                dir,
                dir_path: &node.path,
                name,
            }
        } else {
            *long = fs::join_bytes(&node.path, name);
            At::Path(long)
        }
    }

    fn hash_files<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        node: &Arc<DirNode>,
        dir: BorrowedFd<'_>,
        indices: &[usize],
        done: &mut Vec<(usize, Mode, Vec<Hash>)>,
    ) -> Result<(), fs::WalkError> {
        for &i in indices {
            if self.failed() {
                return Ok(());
            }
            let Some((name, _)) = node.listing.get(i) else {
                continue;
            };
            let mut long = Vec::new();
            let at = Self::at(node, dir, name, &mut long);
            let file = fs::open_file(at, None)?;
            self.count(file.size, || at.path())?;
            if file.size >= BIG
                && self.big_in_flight.fetch_add(1, Ordering::Relaxed) < MAX_BIG_IN_FLIGHT
            {
                let node = Arc::clone(node);
                node.pending.fetch_add(1, Ordering::Relaxed);
                scope.spawn(move |_| {
                    let r = if self.failed() {
                        Ok(())
                    } else {
                        let name = node.listing.get(i).map_or(&[][..], |e| e.0);
                        self.hash_file(file, || fs::join(&node.path, name))
                            .and_then(|(mode, ids)| self.deliver(&node, vec![(i, mode, ids)]))
                    };
                    self.big_in_flight.fetch_sub(1, Ordering::Relaxed);
                    if let Err(e) = r {
                        self.fail(e);
                    }
                });
                continue;
            }
            if file.size >= BIG {
                self.big_in_flight.fetch_sub(1, Ordering::Relaxed);
            }
            let (mode, ids) = self.hash_file(file, || at.path())?;
            done.push((i, mode, ids));
        }
        Ok(())
    }

    /// Reads and hashes one opened file as a git blob under every algorithm.
    fn hash_file(
        &self,
        file: OpenFile,
        path: impl Fn() -> PathBuf,
    ) -> Result<(Mode, Vec<Hash>), fs::WalkError> {
        let OpenFile {
            mut file,
            size,
            executable,
        } = file;
        let mut hashers: Vec<Hasher> = fs::blob_hashers(self.cfg.algorithms, self.cfg.detect, size);
        self.with_scratch(|s| {
            fs::read_file(&mut file, size, &mut s.read, &path, |data| {
                hashers.iter_mut().for_each(|h| h.update(data));
                Ok(())
            })
        })?;
        let ids = fs::blob_ids(hashers, &path())?;
        let mode = if executable {
            Mode::Executable
        } else {
            Mode::File
        };
        Ok((mode, ids))
    }

    /// The ids of one object under every algorithm.
    fn ids(
        &self,
        kind: ObjectKind,
        body: &[u8],
        path: impl Fn() -> PathBuf,
    ) -> Result<Vec<Hash>, fs::WalkError> {
        self.cfg
            .algorithms
            .iter()
            .map(|&a| {
                git::checked_object_id(a, kind, body, self.cfg.detect)
                    .map_err(|e| fs::WalkError::new(path(), WalkErrorKind::Sink(e)))
            })
            .collect()
    }

    /// Stores the ids of some entries of `node`, releasing the task's hold on it; whoever
    /// supplies the last id encodes the tree and passes its id up, as far as it goes.
    fn deliver(
        &self,
        node: &Arc<DirNode>,
        done: Vec<(usize, Mode, Vec<Hash>)>,
    ) -> Result<(), fs::WalkError> {
        let k = self.cfg.algorithms.len();
        let released = done.len() + 1;
        {
            let mut st = lock(&node.state);
            for (i, mode, ids) in done {
                if let Some(m) = st.modes.get_mut(i) {
                    *m = mode;
                }
                for (slot, id) in st.ids.iter_mut().skip(i * k).take(k).zip(ids) {
                    *slot = Some(id);
                }
            }
        }
        if node.pending.fetch_sub(released, Ordering::AcqRel) != released {
            return Ok(());
        }
        let mut node = Arc::clone(node);
        loop {
            let ids = self.tree_ids(&node)?;
            match &node.parent {
                None => {
                    *lock(&self.root) = Some(ids);
                    return Ok(());
                }
                Some((parent, i)) => {
                    {
                        let mut st = lock(&parent.state);
                        if let Some(m) = st.modes.get_mut(*i) {
                            *m = Mode::Directory;
                        }
                        for (slot, id) in st.ids.iter_mut().skip(i * k).take(k).zip(ids) {
                            *slot = Some(id);
                        }
                    }
                    if parent.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
                        return Ok(());
                    }
                    let parent = Arc::clone(parent);
                    node = parent;
                }
            }
        }
    }

    /// Encodes and hashes the tree of a directory all of whose entries have ids.
    fn tree_ids(&self, node: &DirNode) -> Result<Vec<Hash>, fs::WalkError> {
        let st = lock(&node.state);
        let entries = Entries {
            listing: &node.listing,
            state: &st,
            k: self.cfg.algorithms.len(),
        };
        git::checked_tree_ids(&entries, self.cfg.algorithms, self.cfg.detect)
            .map_err(|e| fs::WalkError::new(fs::as_path(&node.path), WalkErrorKind::Sink(e)))
    }
}

/// A directory's listing with its entries' modes and ids, as the tree encoder takes them.
struct Entries<'a> {
    listing: &'a Listing,
    state: &'a DirState,
    k: usize,
}

impl git::DirEntries for Entries<'_> {
    fn count(&self) -> usize {
        self.listing.len()
    }

    fn entry(&self, i: usize) -> (Mode, &[u8]) {
        let mode = self.state.modes.get(i).copied().unwrap_or(Mode::File);
        (mode, self.listing.get(i).map_or(&[][..], |e| e.0))
    }

    fn id(&self, i: usize, j: usize) -> Option<&[u8]> {
        self.state
            .ids
            .get(i * self.k + j)?
            .as_ref()
            .map(Hash::as_bytes)
    }
}

/// NAR order of two paths of one walk: component by component, as bytes.
pub(crate) fn nar_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    use std::os::unix::ffi::OsStrExt;
    a.iter()
        .map(|c| c.as_bytes())
        .cmp(b.iter().map(|c| c.as_bytes()))
}

// The module docs of `parallel` promise at most 112 bytes per listed entry besides its name for
// one algorithm, and 72 more per further algorithm.
const _: () = assert!(ENTRY_COST <= 112);
const _: () = assert!(std::mem::size_of::<Option<Hash>>() <= 72);
