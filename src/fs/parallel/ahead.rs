//! The walk in NAR order with files read ahead on other threads (crate-private).
//!
//! A NAR hash is one sequential hash of the whole stream, so one thread — the caller's — must
//! take the tree in order. Three kinds of thread share the work:
//!
//! - the **lister** walks the tree in NAR order exactly as [`fs::dump`] does (same checks, same
//!   limits), opens and `fstat`s each regular file, and packs the entries into **batches** of at
//!   most [`BATCH_ENTRIES`] entries, each with an arena of [`ARENA`] bytes where its files'
//!   contents will go;
//! - **readers** take whole batches, read each file of the batch into its place in the arena
//!   (all of a file up to the arena's size) and, when git ids are wanted too, hash it as a git
//!   blob;
//! - the **caller** takes the batches in order, feeds their entries to the sink (the NAR
//!   hasher, …), reads the rest of any file larger than an arena itself, and assembles git trees
//!   from the blob ids the readers computed.
//!
//! Threads meet once per batch, not once per file. Memory: at most [`ARENAS`] batches exist at
//! once, so at most `ARENAS × ARENA` bytes (16 MiB) are read ahead, besides the listings of the
//! open directories (as in [`fs::dump`]) and the names of the entries in the batches. Open file
//! descriptors: at most one per file in a batch, `ARENAS × BATCH_ENTRIES` (512).
//!
//! Errors arrive in NAR order: the first error the sequential walk would meet is the one
//! reported.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};

use crate::event::{Event, Sink, SinkError};
use crate::fs::{self, FileRef, Visitor, WalkErrorKind};
use crate::git::{self, Mode, ObjectKind};
use crate::hash::{Algorithm, Hash, Hasher};
use crate::limits::Limits;

/// Bytes of file contents a batch holds.
pub(crate) const ARENA: usize = 2 << 20;
/// Batches in existence at once.
pub(crate) const ARENAS: usize = 8;
/// Entries a batch holds.
pub(crate) const BATCH_ENTRIES: usize = 64;

/// What to compute.
pub(crate) struct Config<'a> {
    /// Git ids wanted (possibly none).
    pub(crate) git: &'a [Algorithm],
    pub(crate) detect: bool,
    pub(crate) limits: Limits,
    pub(crate) buffer_size: usize,
    /// Reader threads.
    pub(crate) readers: usize,
}

/// One entry, in NAR order.
enum Item {
    DirectoryStart(Option<Vec<u8>>, PathBuf),
    DirectoryEnd(PathBuf),
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
        path: PathBuf,
    },
    File(FileItem),
    Error(fs::WalkError),
}

struct FileItem {
    name: Option<Vec<u8>>,
    path: PathBuf,
    size: u64,
    executable: bool,
    /// Open until the reader is done with it; kept for the caller when it did not read it all.
    file: Option<File>,
    /// Where in the arena its first bytes go, and how many are reserved (one more than the size
    /// when the whole file fits, so a short read shows its end).
    start: usize,
    reserved: usize,
    /// What the reader did: bytes read into the arena, the git hashers (finished ids when the
    /// whole file was read), or the error it met.
    read: usize,
    hashers: Vec<Hasher>,
    ids: Option<Vec<Hash>>,
    error: Option<fs::WalkError>,
}

/// Entries in NAR order with an arena for their files' contents.
struct Batch {
    seq: u64,
    arena: Vec<u8>,
    used: usize,
    items: Vec<Item>,
}

/// Walks `root` in NAR order into `sink`, reading files ahead on `cfg.readers` threads, and
/// returns the git ids of the root under `cfg.git`.
pub(crate) fn dump<S: Sink + ?Sized>(
    root: &Path,
    sink: &mut S,
    cfg: &Config<'_>,
) -> Result<Vec<Hash>, fs::WalkError> {
    // Free arenas (empty until first used); batches to read; batches read, in any order.
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(ARENAS);
    for _ in 0..ARENAS {
        let _ = free_tx.send(Vec::new());
    }
    let (jobs_tx, jobs_rx) = sync_channel::<Batch>(ARENAS);
    let (done_tx, done_rx) = channel::<Batch>();
    let jobs_rx = Mutex::new(jobs_rx);
    std::thread::scope(|scope| {
        for _ in 0..cfg.readers.max(1) {
            let done = done_tx.clone();
            let jobs = &jobs_rx;
            scope.spawn(move || reader(jobs, &done, cfg));
        }
        drop(done_tx);
        scope.spawn(move || {
            let mut lister = Lister {
                jobs: jobs_tx,
                free: free_rx,
                batch: None,
                next_seq: 0,
                total: 0,
                max_total: cfg.limits.max_total_size,
            };
            let result = fs::walk(root, &cfg.limits, &mut lister);
            if let Err(e) = result {
                // The caller may have stopped already; then nobody needs the error.
                if let Ok(batch) = lister.batch() {
                    batch.items.push(Item::Error(e));
                }
            }
            // The caller may have stopped; then the last batch is not needed.
            let _ = lister.flush();
        });
        let result = consume(&done_rx, &free_tx, sink, cfg);
        // Dropping these stops the lister (no free arena comes back) and the readers.
        drop(done_rx);
        drop(free_tx);
        result
    })
}

/// The lister's visitor: entries into batches, batches to the readers.
struct Lister {
    jobs: SyncSender<Batch>,
    free: Receiver<Vec<u8>>,
    batch: Option<Batch>,
    next_seq: u64,
    total: u64,
    max_total: u64,
}

/// The caller has stopped: end the walk quietly.
fn stopped() -> fs::WalkError {
    fs::WalkError::new(
        PathBuf::new(),
        WalkErrorKind::Sink(SinkError::Protocol("stopped")),
    )
}

impl Lister {
    /// The batch being filled, starting one (waiting for a free arena) if needed.
    fn batch(&mut self) -> Result<&mut Batch, fs::WalkError> {
        if self.batch.is_none() {
            let mut arena = self.free.recv().map_err(|_| stopped())?;
            if arena.len() < ARENA {
                arena = vec![0u8; ARENA];
            }
            self.batch = Some(Batch {
                seq: self.next_seq,
                arena,
                used: 0,
                items: Vec::with_capacity(BATCH_ENTRIES),
            });
            self.next_seq += 1;
        }
        match self.batch.as_mut() {
            Some(b) => Ok(b),
            None => unreachable!("a batch was just made"),
        }
    }

    /// Hands the batch being filled, if any, to the readers.
    fn flush(&mut self) -> Result<(), fs::WalkError> {
        match self.batch.take() {
            Some(batch) => self.jobs.send(batch).map_err(|_| stopped()),
            None => Ok(()),
        }
    }

    /// Adds an entry that needs `reserve` bytes of arena.
    fn push(&mut self, item: Item, reserve: usize) -> Result<(usize, &mut Batch), fs::WalkError> {
        if let Some(b) = &self.batch
            && (b.items.len() >= BATCH_ENTRIES || b.used + reserve > b.arena.len().max(ARENA))
        {
            self.flush()?;
        }
        let batch = self.batch()?;
        let start = batch.used;
        batch.used += reserve;
        batch.items.push(item);
        Ok((start, batch))
    }

    fn count(&mut self, bytes: u64, path: &Path) -> Result<(), fs::WalkError> {
        match self.total.checked_add(bytes) {
            Some(t) if t <= self.max_total => {
                self.total = t;
                Ok(())
            }
            _ => Err(fs::WalkError::new(
                path,
                WalkErrorKind::TooLarge {
                    max: self.max_total,
                },
            )),
        }
    }
}

impl Visitor for Lister {
    fn directory_start(&mut self, name: Option<&[u8]>, path: &Path) -> Result<(), fs::WalkError> {
        let item = Item::DirectoryStart(name.map(<[u8]>::to_vec), path.to_path_buf());
        self.push(item, 0).map(drop)
    }

    fn directory_end(&mut self, path: &Path) -> Result<(), fs::WalkError> {
        self.push(Item::DirectoryEnd(path.to_path_buf()), 0)
            .map(drop)
    }

    fn symlink(
        &mut self,
        name: Option<&[u8]>,
        target: &[u8],
        path: &Path,
    ) -> Result<(), fs::WalkError> {
        self.count(target.len() as u64, path)?;
        let item = Item::Symlink {
            name: name.map(<[u8]>::to_vec),
            target: target.to_vec(),
            path: path.to_path_buf(),
        };
        self.push(item, 0).map(drop)
    }

    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        file: FileRef<'_>,
    ) -> Result<(), fs::WalkError> {
        let file = file.open()?;
        self.count(file.size, path)?;
        // The whole file and one byte more when that fits an arena, else an arena's worth.
        let reserved = usize::try_from(file.size)
            .ok()
            .and_then(|s| s.checked_add(1))
            .filter(|&r| r <= ARENA)
            .unwrap_or(ARENA);
        let item = Item::File(FileItem {
            name: name.map(<[u8]>::to_vec),
            path: path.to_path_buf(),
            size: file.size,
            executable: file.executable,
            file: Some(file.file),
            start: 0,
            reserved,
            read: 0,
            hashers: Vec::new(),
            ids: None,
            error: None,
        });
        let (start, batch) = self.push(item, reserved)?;
        if let Some(Item::File(f)) = batch.items.last_mut() {
            f.start = start;
        }
        Ok(())
    }
}

/// A reader thread: the files of whole batches, until the lister is done.
fn reader(jobs: &Mutex<Receiver<Batch>>, done: &Sender<Batch>, cfg: &Config<'_>) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(mut batch) = job else {
            return;
        };
        let Batch { arena, items, .. } = &mut batch;
        for item in items.iter_mut() {
            if let Item::File(f) = item
                && let Err(e) = read_head(f, arena, cfg)
            {
                f.error = Some(e);
                // Entries after an error are never looked at.
                break;
            }
        }
        // The caller may have stopped; then the batch is not needed.
        let _ = done.send(batch);
    }
}

/// Reads the first bytes of a file into its place in the arena and hashes them as a git blob.
fn read_head(f: &mut FileItem, arena: &mut [u8], cfg: &Config<'_>) -> Result<(), fs::WalkError> {
    let Some(file) = f.file.as_mut() else {
        return Ok(());
    };
    let Some(buf) = arena.get_mut(f.start..f.start + f.reserved) else {
        unreachable!("the lister reserves within the arena");
    };
    let path = &f.path;
    f.read = fs::read_prefix(file, f.size, buf, || path.clone())?;
    let data = buf.get(..f.read).unwrap_or_default();
    let whole = f.read as u64 == f.size && f.reserved > f.read;
    let mut hashers: Vec<Hasher> = fs::blob_hashers(cfg.git, cfg.detect, f.size);
    hashers.iter_mut().for_each(|h| h.update(data));
    if whole {
        // All read (and its end seen): close it here and finish the ids.
        f.file = None;
        f.ids = Some(fs::blob_ids(std::mem::take(&mut hashers), path)?);
    } else {
        f.hashers = hashers;
    }
    Ok(())
}

/// An entry of a directory being assembled into a git tree.
struct Child {
    mode: Mode,
    name: Vec<u8>,
    ids: Vec<Hash>,
}

/// The caller's side: batches in order, their entries into the sink and the git trees.
fn consume<S: Sink + ?Sized>(
    done: &Receiver<Batch>,
    free: &SyncSender<Vec<u8>>,
    sink: &mut S,
    cfg: &Config<'_>,
) -> Result<Vec<Hash>, fs::WalkError> {
    let mut buf = crate::buffer::ReadBuffer::new(cfg.buffer_size);
    // Open directories: their name and the entries assembled so far.
    let mut stack: Vec<(Option<Vec<u8>>, Vec<Child>)> = Vec::new();
    let git = !cfg.git.is_empty();
    let mut waiting: BTreeMap<u64, Batch> = BTreeMap::new();
    let mut next = 0u64;
    loop {
        let batch = match waiting.remove(&next) {
            Some(b) => b,
            None => {
                let Ok(b) = done.recv() else {
                    unreachable!("the lister sends an error or the whole tree");
                };
                if b.seq != next {
                    waiting.insert(b.seq, b);
                    continue;
                }
                b
            }
        };
        next += 1;
        let Batch { arena, items, .. } = batch;
        for item in items {
            let (name, child) = match item {
                Item::Error(e) => return Err(e),
                Item::DirectoryStart(name, path) => {
                    emit(
                        sink,
                        Event::DirectoryStart {
                            name: name.as_deref(),
                        },
                        &path,
                    )?;
                    stack.push((name, Vec::new()));
                    continue;
                }
                Item::DirectoryEnd(path) => {
                    emit(sink, Event::DirectoryEnd, &path)?;
                    let Some((name, children)) = stack.pop() else {
                        unreachable!("directory ends match starts");
                    };
                    let ids = if git {
                        tree_ids(&children, cfg, &path)?
                    } else {
                        Vec::new()
                    };
                    (
                        name,
                        Child {
                            mode: Mode::Directory,
                            name: Vec::new(),
                            ids,
                        },
                    )
                }
                Item::Symlink { name, target, path } => {
                    emit(
                        sink,
                        Event::Symlink {
                            name: name.as_deref(),
                            target: &target,
                        },
                        &path,
                    )?;
                    let ids = cfg
                        .git
                        .iter()
                        .map(|&a| {
                            git::checked_object_id(a, ObjectKind::Blob, &target, cfg.detect)
                                .map_err(|e| fs::WalkError::new(&path, WalkErrorKind::Sink(e)))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    (
                        name,
                        Child {
                            mode: Mode::Symlink,
                            name: Vec::new(),
                            ids,
                        },
                    )
                }
                Item::File(f) => {
                    if let Some(e) = f.error {
                        return Err(e);
                    }
                    let FileItem {
                        name,
                        path,
                        size,
                        executable,
                        file,
                        start,
                        read,
                        mut hashers,
                        ids,
                        ..
                    } = f;
                    let event = Event::FileStart {
                        name: name.as_deref(),
                        executable,
                        size,
                    };
                    emit(sink, event, &path)?;
                    if read > 0 {
                        let data = arena.get(start..start + read).unwrap_or_default();
                        emit(sink, Event::FileData(data), &path)?;
                    }
                    let ids = match (ids, file) {
                        (Some(ids), _) => ids,
                        (None, Some(mut file)) => {
                            let p = || path.clone();
                            fs::read_file_from(&mut file, size, read as u64, &mut buf, p, |d| {
                                hashers.iter_mut().for_each(|h| h.update(d));
                                sink.event(Event::FileData(d))
                            })?;
                            fs::blob_ids(hashers, &path)?
                        }
                        (None, None) => unreachable!("a file not read whole stays open"),
                    };
                    emit(sink, Event::FileEnd, &path)?;
                    let mode = if executable {
                        Mode::Executable
                    } else {
                        Mode::File
                    };
                    (
                        name,
                        Child {
                            mode,
                            name: Vec::new(),
                            ids,
                        },
                    )
                }
            };
            match (name, stack.last_mut()) {
                (Some(name), Some((_, parent))) => parent.push(Child { name, ..child }),
                _ => return Ok(child.ids),
            }
        }
        // The lister may have stopped; then the arena is not needed.
        let _ = free.try_send(arena);
    }
}

fn emit<S: Sink + ?Sized>(
    sink: &mut S,
    event: Event<'_>,
    path: &Path,
) -> Result<(), fs::WalkError> {
    sink.event(event)
        .map_err(|e| fs::WalkError::new(path, WalkErrorKind::Sink(e)))
}

fn tree_ids(children: &[Child], cfg: &Config<'_>, path: &Path) -> Result<Vec<Hash>, fs::WalkError> {
    git::checked_tree_ids(children, cfg.git, cfg.detect)
        .map_err(|e| fs::WalkError::new(path, WalkErrorKind::Sink(e)))
}

impl git::DirEntries for [Child] {
    fn count(&self) -> usize {
        self.len()
    }

    fn entry(&self, i: usize) -> (Mode, &[u8]) {
        self.get(i)
            .map_or((Mode::File, &[][..]), |c| (c.mode, &c.name[..]))
    }

    fn id(&self, i: usize, j: usize) -> Option<&[u8]> {
        self.get(i)?.ids.get(j).map(Hash::as_bytes)
    }
}
