//! Reading blobs ahead on other threads while a tree is turned into a NAR.
//!
//! Restoring a tree ([`to_events`](crate::git::to_events)) reads its objects one after the
//! other, and reading an object from a pack means inflating it: on a tree of compiled files that
//! costs more than everything else together. [`ReadAhead`] wraps an [`ObjectSource`] and
//! inflates the objects the walk [announces](ObjectSource::prefetch) on worker threads, each
//! with a source of its own (opened on that thread), so that the walk finds them ready in
//! memory. A worker that reads a tree announces its entries in turn, in the order a NAR lists
//! them, so the workers keep ahead of the walk across directories, not only within one.
//!
//! Nothing is trusted more for it: the walk checks every object it is handed against its id, as
//! it does for any source, and a tree a worker cannot parse is simply not followed (the walk
//! reports it). Memory stays bounded: objects are read ahead only while fewer than
//! [`max_bytes`](ReadAhead::max_bytes) bytes wait, one larger than
//! [`max_object`](ReadAhead::max_object) is left to the walk (which streams it), each worker
//! holds at most one object beyond that, so at most `max_bytes + threads × max_object` bytes
//! are held; and at most a million announced ids wait. An object the walk asks for that no
//! worker has started is read by the walk itself, so the order of announcements only decides
//! what is ready in time, never what is read.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::git::read_ahead::ReadAhead;
//! use nix_ingest::git::source::MemoryObjects;
//! use nix_ingest::git::{GitHasher, Mode, events};
//! use nix_ingest::hash::Algorithm;
//! use nix_ingest::Limits;
//!
//! // A tree and its objects, in memory (a `Repository` on disk is the usual source).
//! let mut git = GitHasher::with_objects(Algorithm::Sha1, MemoryObjects::new());
//! git.event(Event::DirectoryStart { name: None })?;
//! for (name, text) in [(&b"a"[..], &b"one"[..]), (b"b", b"two")] {
//!     git.event(Event::FileStart { name: Some(name), executable: false, size: 3 })?;
//!     git.event(Event::FileData(text))?;
//!     git.event(Event::FileEnd)?;
//! }
//! git.event(Event::DirectoryEnd)?;
//! let (root, objects) = git.finish_with_objects()?;
//!
//! // The same NAR, its blobs read on two other threads.
//! let limits = Limits::default();
//! let copy = objects.clone();
//! let mut ahead = ReadAhead::new(objects.clone(), move || Ok(copy.clone())).threads(2);
//! let nar = events::to_nar(&root, Mode::Directory, &mut ahead, Vec::new(), &limits)?;
//! let mut objects = objects;
//! assert_eq!(nar, events::to_nar(&root, Mode::Directory, &mut objects, Vec::new(), &limits)?);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::git::source::{Object, ObjectError, ObjectSource};
use crate::git::{ObjectKind, SUBMODULE_MODE, TreeRefIter};
use crate::hash::Hash;

/// An [`ObjectSource`] that reads announced objects ahead on worker threads. See the
/// [module docs](self).
///
/// Settings are chained on [`new`](Self::new); the workers start at the first announcement.
pub struct ReadAhead<S: ObjectSource + 'static> {
    source: S,
    open: Arc<Opener<S>>,
    threads: usize,
    max_bytes: u64,
    max_object: u64,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl<S: ObjectSource + 'static> std::fmt::Debug for ReadAhead<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("threads", &self.threads)
            .field("max_bytes", &self.max_bytes)
            .field("max_object", &self.max_object)
            .finish_non_exhaustive()
    }
}

/// Opens a worker's own source, on the worker's thread.
type Opener<S> = dyn Fn() -> Result<S, ObjectError> + Send + Sync;

/// At most this many announced ids wait (a worker stops following trees beyond it).
const MAX_QUEUE: usize = 1 << 20;

/// What became of an announced object.
enum Slot {
    /// Waiting for a worker.
    Queued,
    /// A worker is reading it.
    Reading,
    /// Read whole: its kind and body.
    Ready(ObjectKind, Vec<u8>),
    /// Left to the walk: neither a blob nor a tree, too large, unreadable (the walk reports
    /// why), or asked for before a worker took it.
    Left,
}

#[derive(Default)]
struct State {
    /// Announced ids in the order they are expected, the most recent announcement first.
    queue: VecDeque<Hash>,
    slots: HashMap<Hash, Slot>,
    /// Bytes of ready bodies not yet taken.
    waiting: u64,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Bodies' buffers handed back by the walk, for workers to fill again (no fresh memory,
    /// and no page faults, per object).
    spare: Mutex<Vec<Vec<u8>>>,
    /// Workers wait on it: signalled when something is queued, room is made, or on stop.
    work: Condvar,
    /// The walk waits on it for an object a worker is reading: signalled when one is done.
    done: Condvar,
}

/// At most this many spare buffers are kept.
const MAX_SPARE: usize = 16;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker never panics while holding the lock (nothing in it can); should one ever
        // have, its state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spare(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A body read ahead, handing its buffer back when dropped.
struct Body {
    buf: Vec<u8>,
    read: usize,
    shared: Arc<Shared>,
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let rest = self.buf.get(self.read..).unwrap_or_default();
        let n = rest.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.read = self.read.saturating_add(n);
        Ok(n)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        let mut spare = self.shared.spare();
        if spare.len() < MAX_SPARE {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

impl<S: ObjectSource + 'static> ReadAhead<S> {
    /// Wraps `source`; each worker reads from a source `open` makes on its thread (another
    /// handle on the same objects). Reads ahead on as many threads as the machine has cores,
    /// up to 64 MiB waiting, blobs of up to 8 MiB. A worker whose source cannot be opened reads
    /// nothing.
    pub fn new(
        source: S,
        open: impl Fn() -> Result<S, ObjectError> + Send + Sync + 'static,
    ) -> Self {
        ReadAhead {
            source,
            open: Arc::new(open),
            threads: 0,
            max_bytes: 64 << 20,
            max_object: 8 << 20,
            shared: Arc::default(),
            workers: Vec::new(),
        }
    }

    /// How many threads read: as [`Settings::threads`](crate::Settings::threads) says, `0`
    /// (the default) a worker per core, `1` the calling thread only (nothing is read ahead),
    /// `n` `n` workers.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// How many bytes of bodies read ahead may wait for the walk before workers pause.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The largest blob read ahead; larger ones are streamed by the walk itself.
    #[must_use]
    pub fn max_object(mut self, bytes: u64) -> Self {
        self.max_object = bytes;
        self
    }

    /// How many workers the setting asks for.
    fn workers(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            1 => 0,
            n => n,
        }
    }

    fn start(&mut self) {
        if !self.workers.is_empty() {
            return;
        }
        for _ in 0..self.workers() {
            let (open, shared) = (Arc::clone(&self.open), Arc::clone(&self.shared));
            let (max_bytes, max_object) = (self.max_bytes, self.max_object);
            match std::thread::Builder::new()
                .name("git-read-ahead".into())
                .spawn(move || {
                    if let Ok(source) = open() {
                        Worker {
                            source,
                            shared,
                            max_bytes,
                            max_object,
                        }
                        .run();
                    }
                }) {
                Ok(handle) => self.workers.push(handle),
                // No thread to be had: read what the others (or the walk) can.
                Err(_) => break,
            }
        }
    }
}

impl<S: ObjectSource + 'static> Drop for ReadAhead<S> {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl<S: ObjectSource + 'static> ObjectSource for ReadAhead<S> {
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        let mut state = self.shared.lock();
        loop {
            match state.slots.get(id) {
                Some(Slot::Reading) => {
                    state = self
                        .shared
                        .done
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Some(Slot::Ready(..)) => {
                    let Some(Slot::Ready(kind, body)) = state.slots.remove(id) else {
                        unreachable!("the slot was just seen ready")
                    };
                    let was_full = state.waiting >= self.max_bytes;
                    state.waiting = state.waiting.saturating_sub(body.len() as u64);
                    drop(state);
                    if was_full {
                        self.shared.work.notify_all();
                    }
                    return Ok(Object {
                        kind,
                        size: body.len() as u64,
                        body: Box::new(Body {
                            buf: body,
                            read: 0,
                            shared: Arc::clone(&self.shared),
                        }),
                    });
                }
                Some(Slot::Queued | Slot::Left) | None => {
                    // Not started: the walk reads it itself (a queued id is skipped by the
                    // workers once its slot is gone).
                    state.slots.remove(id);
                    drop(state);
                    return self.source.read(id);
                }
            }
        }
    }

    fn prefetch(&mut self, ids: &[Hash]) {
        if self.threads == 1 || ids.is_empty() {
            return;
        }
        self.start();
        self.shared.lock().announce(ids.iter().copied().rev());
        self.shared.work.notify_all();
    }
}

impl State {
    /// Queues `ids` (given last first) ahead of everything queued, those not known yet.
    fn announce(&mut self, ids: impl Iterator<Item = Hash>) {
        for id in ids {
            if self.queue.len() >= MAX_QUEUE {
                break;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.slots.entry(id) {
                slot.insert(Slot::Queued);
                self.queue.push_front(id);
            }
        }
    }
}

/// An object a worker is reading: left to the walk if the worker never settles it.
struct Claim {
    shared: Arc<Shared>,
    id: Hash,
    settled: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.lock().slots.insert(self.id, Slot::Left);
            self.shared.done.notify_all();
        }
    }
}

/// One worker thread: its own copy of the source, reading queued objects whole.
struct Worker<S> {
    source: S,
    shared: Arc<Shared>,
    max_bytes: u64,
    max_object: u64,
}

impl<S: ObjectSource> Worker<S> {
    fn run(mut self) {
        loop {
            let id = {
                let mut state = self.shared.lock();
                loop {
                    if state.stop {
                        return;
                    }
                    if state.waiting < self.max_bytes
                        && let Some(id) = state.queue.pop_front()
                    {
                        // Skip ids the walk has taken meanwhile.
                        if let Some(slot @ Slot::Queued) = state.slots.get_mut(&id) {
                            *slot = Slot::Reading;
                            break id;
                        }
                        continue;
                    }
                    state = self
                        .shared
                        .work
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
            };
            // Should reading panic (a bug in a source), the walk is told to read it itself.
            let mut claim = Claim {
                shared: Arc::clone(&self.shared),
                id,
                settled: false,
            };
            let read = self.read_whole(&id);
            // A tree's entries are read next, in NAR order (by name).
            let mut entries = Vec::new();
            if let Some((ObjectKind::Tree, body)) = &read {
                for entry in TreeRefIter::new(body, id.algorithm()) {
                    let Ok(entry) = entry else {
                        entries.clear();
                        break;
                    };
                    if entry.mode != SUBMODULE_MODE
                        && let Ok(child) = Hash::from_bytes(id.algorithm(), entry.id)
                    {
                        entries.push((entry.name, child));
                    }
                }
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            let more = entries.len() > 1;
            let mut state = self.shared.lock();
            state.announce(entries.iter().rev().map(|(_, child)| *child));
            drop(entries);
            let slot = match read {
                Some((kind, body)) if !state.stop => {
                    state.waiting = state.waiting.saturating_add(body.len() as u64);
                    Slot::Ready(kind, body)
                }
                _ => Slot::Left,
            };
            state.slots.insert(id, slot);
            claim.settled = true;
            drop(state);
            self.shared.done.notify_one();
            if more {
                // More to read than this worker takes next.
                self.shared.work.notify_all();
            }
        }
    }

    /// The blob or tree `id` whole, or `None` to leave it to the walk.
    fn read_whole(&mut self, id: &Hash) -> Option<(ObjectKind, Vec<u8>)> {
        let object = self.source.read(id).ok()?;
        let kind = object.kind;
        if !matches!(kind, ObjectKind::Blob | ObjectKind::Tree) || object.size > self.max_object {
            return None;
        }
        let mut body = self.shared.spare().pop().unwrap_or_default();
        body.clear();
        body.try_reserve_exact(usize::try_from(object.size).ok()?)
            .ok()?;
        // One byte more than announced shows a body longer than its header: left to the walk,
        // which reports it.
        let mut reader = object.body.take(object.size.saturating_add(1));
        reader.read_to_end(&mut body).ok()?;
        (body.len() as u64 == object.size).then_some((kind, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::source::MemoryObjects;
    use crate::hash::Algorithm;

    fn blobs(n: usize) -> (MemoryObjects, Vec<Hash>) {
        let mut objects = MemoryObjects::new();
        let ids = (0..n)
            .map(|i| objects.insert(Algorithm::Sha1, ObjectKind::Blob, vec![i as u8; i * 100]))
            .collect();
        (objects, ids)
    }

    fn opener(objects: &MemoryObjects) -> impl Fn() -> Result<MemoryObjects, ObjectError> + use<> {
        let objects = objects.clone();
        move || Ok(objects.clone())
    }

    fn body(source: &mut impl ObjectSource, id: &Hash) -> Vec<u8> {
        let mut out = Vec::new();
        source.read(id).unwrap().body.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_blob_reads_as_the_source_has_it_in_any_order() {
        let (mut objects, ids) = blobs(50);
        let mut ahead = ReadAhead::new(objects.clone(), opener(&objects))
            .threads(3)
            .max_bytes(2000);
        ahead.prefetch(&ids);
        // Out of the announced order, twice each, and some never announced.
        let mut order: Vec<&Hash> = ids.iter().rev().collect();
        order.extend(ids.iter().step_by(3));
        for id in order {
            assert_eq!(body(&mut ahead, id), body(&mut objects, id));
        }
        // Every announced blob was taken once: nothing is left waiting.
        assert_eq!(ahead.shared.lock().waiting, 0);
    }

    /// A source whose reads panic on other threads than the one it was made on.
    struct PanicsElsewhere {
        objects: MemoryObjects,
        home: std::thread::ThreadId,
    }

    impl ObjectSource for PanicsElsewhere {
        fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
            assert_eq!(std::thread::current().id(), self.home, "a bug in a source");
            self.objects.read(id)
        }
    }

    #[test]
    fn a_worker_that_panics_leaves_its_object_to_the_walk() {
        let (objects, ids) = blobs(8);
        let home = std::thread::current().id();
        let copy = objects.clone();
        let source = PanicsElsewhere {
            objects: objects.clone(),
            home,
        };
        let mut ahead = ReadAhead::new(source, move || {
            Ok(PanicsElsewhere {
                objects: copy.clone(),
                home,
            })
        })
        .threads(2);
        ahead.prefetch(&ids);
        let mut objects = objects;
        for id in &ids {
            assert_eq!(body(&mut ahead, id), body(&mut objects, id));
        }
    }

    #[test]
    fn one_thread_reads_nothing_ahead() {
        let (objects, ids) = blobs(5);
        let mut ahead = ReadAhead::new(objects.clone(), opener(&objects)).threads(1);
        ahead.prefetch(&ids);
        assert!(ahead.workers.is_empty());
        assert!(ahead.shared.lock().slots.is_empty());
    }

    #[test]
    fn a_missing_object_is_reported_by_the_source_itself() {
        let (objects, _) = blobs(1);
        let missing = Hash::digest(Algorithm::Sha1, b"not there");
        let mut ahead = ReadAhead::new(objects.clone(), opener(&objects)).threads(2);
        ahead.prefetch(&[missing]);
        assert!(matches!(
            ahead.read(&missing),
            Err(ObjectError::NotFound { .. })
        ));
    }

    #[test]
    fn waiting_bytes_stay_under_the_bound() {
        let (objects, ids) = blobs(60);
        let mut ahead = ReadAhead::new(objects.clone(), opener(&objects))
            .threads(2)
            .max_bytes(1000);
        ahead.prefetch(&ids);
        // Nothing is taken: the workers read until 1000 bytes wait (177,000 are announced)…
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ahead.shared.lock().waiting < 1000 {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing was read ahead"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // …and then stop, each past the bound by at most one blob.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let largest = 59 * 100;
        assert!(ahead.shared.lock().waiting < 1000 + 2 * largest);
    }
}
