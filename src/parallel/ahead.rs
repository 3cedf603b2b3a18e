//! The walk in NAR order with files read ahead on other threads (crate-private).
//!
//! A NAR hash is one sequential hash of the whole stream, so one thread — the caller's — must
//! take the tree in order. Three kinds of thread share the work:
//!
//! - the **lister** walks the tree in NAR order exactly as [`fs::dump`] does (same checks, same
//!   limits), opens and `fstat`s each regular file and queues it;
//! - **readers** read the first [`HEAD`] bytes of each queued file into a buffer and, when git
//!   ids are wanted too, hash them as a git blob (the whole blob, for files that fit);
//! - the **caller** takes the entries in order, feeds them to the sink (the NAR hasher, …),
//!   reads the rest of any file larger than [`HEAD`] itself, and assembles git trees from the
//!   blob ids the readers computed.
//!
//! Memory: at most [`WINDOW`] entries are between the lister and the caller, each holding at
//! most one buffer of [`HEAD`] bytes (buffers are reused), plus one per reader: about
//! `(WINDOW + readers + 2) × HEAD` bytes (16 MiB with the defaults) besides the open
//! directories' listings, bounded as in [`fs::dump`]. Open file descriptors: at most one per
//! entry in the window.
//!
//! Errors arrive in NAR order: the first error the sequential walk would meet is the one
//! reported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use crate::event::{Event, Sink, SinkError};
use crate::fs::{self, ErrorKind, FileRef, OpenFile, Visitor};
use crate::git::{self, Mode, ObjectKind, tree_order};
use crate::hash::{Algorithm, Hash, Hasher};
use crate::limits::Limits;

use super::git::{collision, object_id, push_entry};

/// Bytes of each file read ahead.
pub(crate) const HEAD: usize = 128 * 1024;
/// Entries between the lister and the caller.
pub(crate) const WINDOW: usize = 128;

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

/// One entry, in NAR order, from the lister to the caller.
enum Item {
    DirectoryStart(Option<Vec<u8>>),
    DirectoryEnd(PathBuf),
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
        path: PathBuf,
    },
    File {
        name: Option<Vec<u8>>,
        path: PathBuf,
        size: u64,
        executable: bool,
        read: Receiver<Result<Head, fs::Error>>,
    },
    Error(fs::Error),
}

/// A file's first bytes, as a reader left it.
struct Head {
    file: File,
    buf: Vec<u8>,
    len: usize,
    /// Git blob hashers fed with the header and the head (finished later for large files).
    hashers: Vec<Hasher>,
}

struct Job {
    file: OpenFile,
    path: PathBuf,
    reply: SyncSender<Result<Head, fs::Error>>,
}

/// Reusable head buffers.
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let b = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        b.unwrap_or_else(|| vec![0u8; HEAD])
    }
    fn put(&self, b: Vec<u8>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(b);
    }
}

/// Walks `root` in NAR order into `sink`, reading files ahead on `cfg.readers` threads, and
/// returns the git ids of the root under `cfg.git`.
pub(crate) fn dump<S: Sink + ?Sized>(
    root: &Path,
    sink: &mut S,
    cfg: &Config<'_>,
) -> Result<Vec<Hash>, fs::Error> {
    let (items_tx, items_rx) = sync_channel::<Item>(WINDOW);
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(WINDOW);
    let jobs_rx = Mutex::new(jobs_rx);
    let pool = Pool(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..cfg.readers.max(1) {
            scope.spawn(|| reader(&jobs_rx, &pool, cfg));
        }
        scope.spawn(move || {
            let mut lister = Lister {
                items: items_tx,
                jobs: jobs_tx,
                total: 0,
                max_total: cfg.limits.max_total_size,
            };
            if let Err(e) = fs::walk(root, &cfg.limits, &mut lister) {
                // The caller may have stopped already; then nobody needs the error.
                let _ = lister.items.send(Item::Error(e));
            }
        });
        let result = consume(&items_rx, sink, cfg, &pool);
        // Dropping the receiver stops the lister, and with it the readers.
        drop(items_rx);
        result
    })
}

/// The lister's visitor: entries into the window, files to the readers.
struct Lister {
    items: SyncSender<Item>,
    jobs: SyncSender<Job>,
    total: u64,
    max_total: u64,
}

/// The caller has stopped: end the walk quietly.
fn stopped() -> fs::Error {
    fs::Error::new(
        PathBuf::new(),
        ErrorKind::Sink(SinkError::Protocol("stopped")),
    )
}

impl Lister {
    fn send(&self, item: Item) -> Result<(), fs::Error> {
        self.items.send(item).map_err(|_| stopped())
    }

    fn count(&mut self, bytes: u64, path: &Path) -> Result<(), fs::Error> {
        match self.total.checked_add(bytes) {
            Some(t) if t <= self.max_total => {
                self.total = t;
                Ok(())
            }
            _ => Err(fs::Error::new(
                path,
                ErrorKind::TooLarge {
                    max: self.max_total,
                },
            )),
        }
    }
}

impl Visitor for Lister {
    fn directory_start(&mut self, name: Option<&[u8]>, _path: &Path) -> Result<(), fs::Error> {
        self.send(Item::DirectoryStart(name.map(<[u8]>::to_vec)))
    }

    fn directory_end(&mut self, path: &Path) -> Result<(), fs::Error> {
        self.send(Item::DirectoryEnd(path.to_path_buf()))
    }

    fn symlink(
        &mut self,
        name: Option<&[u8]>,
        target: &[u8],
        path: &Path,
    ) -> Result<(), fs::Error> {
        self.count(target.len() as u64, path)?;
        self.send(Item::Symlink {
            name: name.map(<[u8]>::to_vec),
            target: target.to_vec(),
            path: path.to_path_buf(),
        })
    }

    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        file: FileRef<'_>,
    ) -> Result<(), fs::Error> {
        let file = file.open()?;
        self.count(file.size, path)?;
        let (size, executable) = (file.size, file.executable);
        let (reply, read) = sync_channel(1);
        self.jobs
            .send(Job {
                file,
                path: path.to_path_buf(),
                reply,
            })
            .map_err(|_| stopped())?;
        self.send(Item::File {
            name: name.map(<[u8]>::to_vec),
            path: path.to_path_buf(),
            size,
            executable,
            read,
        })
    }
}

/// A reader thread: heads of queued files, until the lister is done.
fn reader(jobs: &Mutex<Receiver<Job>>, pool: &Pool, cfg: &Config<'_>) {
    loop {
        let job = match jobs.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let Job { file, path, reply } = job;
        let mut buf = pool.take();
        let head = read_head(file, &mut buf, &path, cfg).map(|(file, len, hashers)| Head {
            file,
            buf,
            len,
            hashers,
        });
        // The caller may have stopped; then the head is not needed.
        let _ = reply.send(head);
    }
}

fn read_head(
    file: OpenFile,
    buf: &mut [u8],
    path: &Path,
    cfg: &Config<'_>,
) -> Result<(File, usize, Vec<Hasher>), fs::Error> {
    let OpenFile { mut file, size, .. } = file;
    let len = fs::read_prefix(&mut file, size, buf, || path.to_path_buf())?;
    let data = buf.get(..len).unwrap_or_default();
    let hashers = cfg
        .git
        .iter()
        .map(|&a| {
            let mut h = git::object_hasher(a, ObjectKind::Blob, size, cfg.detect);
            h.update(data);
            h
        })
        .collect();
    Ok((file, len, hashers))
}

/// An entry of a directory being assembled into a git tree.
struct Child {
    mode: Mode,
    name: Vec<u8>,
    ids: Vec<Hash>,
}

/// The caller's side: entries in order into the sink and the git trees.
fn consume<S: Sink + ?Sized>(
    items: &Receiver<Item>,
    sink: &mut S,
    cfg: &Config<'_>,
    pool: &Pool,
) -> Result<Vec<Hash>, fs::Error> {
    let mut buf = crate::buffer::ReadBuffer::new(cfg.buffer_size);
    // Open directories: their name and the entries assembled so far.
    let mut stack: Vec<(Option<Vec<u8>>, Vec<Child>)> = Vec::new();
    let emit = |sink: &mut S, event: Event<'_>, path: &dyn Fn() -> PathBuf| {
        sink.event(event)
            .map_err(|e| fs::Error::new(path(), ErrorKind::Sink(e)))
    };
    let git = !cfg.git.is_empty();
    loop {
        let Ok(item) = items.recv() else {
            unreachable!("the lister sends an error or the whole tree");
        };
        let (name, child) = match item {
            Item::Error(e) => return Err(e),
            Item::DirectoryStart(name) => {
                emit(
                    sink,
                    Event::DirectoryStart {
                        name: name.as_deref(),
                    },
                    &PathBuf::new,
                )?;
                stack.push((name, Vec::new()));
                continue;
            }
            Item::DirectoryEnd(path) => {
                emit(sink, Event::DirectoryEnd, &|| path.clone())?;
                let Some((name, mut children)) = stack.pop() else {
                    unreachable!("directory ends match starts");
                };
                let ids = if git {
                    tree_ids(&mut children, cfg, &path)?
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
                    &|| path.clone(),
                )?;
                let ids = cfg
                    .git
                    .iter()
                    .map(|&a| {
                        object_id(a, ObjectKind::Blob, &target, cfg.detect)
                            .map_err(|e| fs::Error::new(&path, ErrorKind::Sink(e)))
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
            Item::File {
                name,
                path,
                size,
                executable,
                read,
            } => {
                let Ok(head) = read.recv() else {
                    unreachable!("a reader answers every file it takes");
                };
                let Head {
                    mut file,
                    buf: head_buf,
                    len,
                    mut hashers,
                } = head?;
                let p = || path.clone();
                emit(
                    sink,
                    Event::FileStart {
                        name: name.as_deref(),
                        executable,
                        size,
                    },
                    &p,
                )?;
                if len > 0 {
                    emit(
                        sink,
                        Event::FileData(head_buf.get(..len).unwrap_or_default()),
                        &p,
                    )?;
                }
                pool.put(head_buf);
                if size >= HEAD as u64 {
                    fs::read_file_from(&mut file, size, len as u64, &mut buf, p, |data| {
                        hashers.iter_mut().for_each(|h| h.update(data));
                        sink.event(Event::FileData(data))
                    })?;
                }
                drop(file);
                emit(sink, Event::FileEnd, &p)?;
                let ids = hashers
                    .into_iter()
                    .map(|h| {
                        h.finalize().map_err(|e| {
                            fs::Error::new(&path, ErrorKind::Sink(collision(e, "blob")))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
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
}

fn tree_ids(children: &mut [Child], cfg: &Config<'_>, path: &Path) -> Result<Vec<Hash>, fs::Error> {
    children.sort_unstable_by(|a, b| {
        tree_order(
            &a.name,
            a.mode.is_directory(),
            &b.name,
            b.mode.is_directory(),
        )
    });
    let mut body = Vec::new();
    cfg.git
        .iter()
        .enumerate()
        .map(|(j, &algorithm)| {
            body.clear();
            for c in children.iter() {
                if let Some(id) = c.ids.get(j) {
                    push_entry(&mut body, c.mode, &c.name, id.as_bytes());
                }
            }
            object_id(algorithm, ObjectKind::Tree, &body, cfg.detect)
                .map_err(|e| fs::Error::new(path, ErrorKind::Sink(e)))
        })
        .collect()
}
