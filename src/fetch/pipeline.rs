//! The NAR hash of the tree Nix sees, on one thread or two: with two, the calling thread reads
//! and inflates objects while a second one hashes the NAR and checks each blob against its id.

use std::cell::Cell;
use std::sync::mpsc;

use super::FetchError;
use crate::event::{Event, Sink, SinkError};
use crate::git::source;
use crate::git::{ObjectKind, events};
use crate::hash::{Algorithm, Hash};
use crate::nar::NarHasher;

/// A walk: sends its events to the sink; with a cell, it leaves blob checks to the sink and puts
/// each file's blob id in the cell just before the file's [`Event::FileStart`].
pub(super) type Walk<'w> =
    dyn FnOnce(&mut dyn Sink, Option<&Cell<Option<Hash>>>) -> Result<(), FetchError> + 'w;

/// Runs `walk`, sending its events to `sink` too: the SHA-256 NAR hash and size of the events.
/// `threads` as [`Fetch::threads`](super::Fetch::threads); `detect`: SHA-1 collision detection
/// for blobs checked on the second thread.
pub(super) fn nar_hash(
    threads: usize,
    detect: bool,
    sink: &mut dyn Sink,
    walk: Box<Walk<'_>>,
) -> Result<(Hash, u64), FetchError> {
    let two = match threads {
        1 => false,
        0 => std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        _ => true,
    };
    if !two {
        let mut nar = Tee2 {
            a: NarHasher::new(Algorithm::Sha256),
            b: sink,
        };
        walk(&mut nar, None)?;
        return nar.a.finish_with_size().map_err(FetchError::Nar);
    }
    let cell = Cell::new(None);
    let (tx, rx) = mpsc::sync_channel::<Batch>(4);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || consume(rx, detect));
        let mut channel = ChannelSink {
            tx: Some(tx),
            batch: Batch::default(),
            cell: &cell,
        };
        let walked = {
            let mut tee = Tee2 {
                a: &mut channel,
                b: &mut *sink,
            };
            walk(&mut tee, Some(&cell))
        };
        let flushed = if walked.is_ok() {
            channel.close()
        } else {
            channel.tx = None;
            Ok(())
        };
        let hashed = hasher.join().unwrap_or_else(|_| {
            Err(FetchError::Nar(SinkError::Protocol(
                "the hashing thread failed",
            )))
        });
        // The hashing thread's error (a blob that does not match its id) comes first: the walk
        // only saw its channel close.
        match (hashed, walked, flushed) {
            (Err(e @ FetchError::Tree(_)), _, _) => Err(e),
            (_, Err(e), _) => Err(e),
            (Err(e), _, _) => Err(e),
            (Ok(_), Ok(()), Err(e)) => Err(FetchError::Nar(e)),
            (Ok(done), Ok(()), Ok(())) => Ok(done),
        }
    })
}

/// A sink that takes every event and keeps nothing.
pub(super) struct Discard;

impl Sink for Discard {
    fn event(&mut self, _: Event<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Two sinks fed the same events.
struct Tee2<'a, A> {
    a: A,
    b: &'a mut dyn Sink,
}

impl<A: Sink> Sink for Tee2<'_, A> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.a.event(event)?;
        self.b.event(event)
    }
}

/// An event, its bytes in its batch's buffer.
enum Msg {
    DirStart(Option<(usize, usize)>),
    DirEnd,
    FileStart {
        name: Option<(usize, usize)>,
        executable: bool,
        size: u64,
        id: Option<Hash>,
    },
    Data(usize, usize),
    FileEnd,
    Symlink {
        name: Option<(usize, usize)>,
        target: (usize, usize),
    },
}

/// Events sent together.
#[derive(Default)]
struct Batch {
    events: Vec<Msg>,
    bytes: Vec<u8>,
}

impl Batch {
    /// Sent once it holds this many bytes or events.
    const BYTES: usize = 1 << 20;
    const EVENTS: usize = 4096;

    fn push_bytes(&mut self, data: &[u8]) -> (usize, usize) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        (start, self.bytes.len())
    }

    fn get(&self, (start, end): (usize, usize)) -> &[u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }
}

/// A sink that sends the events, in batches, to the hashing thread.
struct ChannelSink<'c> {
    tx: Option<mpsc::SyncSender<Batch>>,
    batch: Batch,
    cell: &'c Cell<Option<Hash>>,
}

impl ChannelSink<'_> {
    fn send(&mut self) -> Result<(), SinkError> {
        let batch = std::mem::take(&mut self.batch);
        match &self.tx {
            Some(tx) => tx
                .send(batch)
                .map_err(|_| SinkError::Protocol("the hashing thread stopped")),
            None => Err(SinkError::Protocol("events after the end")),
        }
    }

    /// Sends what is left and ends the stream.
    fn close(&mut self) -> Result<(), SinkError> {
        let sent = if self.batch.events.is_empty() {
            Ok(())
        } else {
            self.send()
        };
        self.tx = None;
        sent
    }
}

impl Sink for ChannelSink<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        let b = &mut self.batch;
        let msg = match event {
            Event::DirectoryStart { name } => Msg::DirStart(name.map(|n| b.push_bytes(n))),
            Event::DirectoryEnd => Msg::DirEnd,
            Event::FileStart {
                name,
                executable,
                size,
            } => Msg::FileStart {
                name: name.map(|n| b.push_bytes(n)),
                executable,
                size,
                id: self.cell.take(),
            },
            Event::FileData(data) => {
                let (start, end) = b.push_bytes(data);
                Msg::Data(start, end)
            }
            Event::FileEnd => Msg::FileEnd,
            Event::Symlink { name, target } => Msg::Symlink {
                name: name.map(|n| b.push_bytes(n)),
                target: b.push_bytes(target),
            },
        };
        b.events.push(msg);
        if b.bytes.len() >= Batch::BYTES || b.events.len() >= Batch::EVENTS {
            self.send()?;
        }
        Ok(())
    }
}

/// The hashing thread: the NAR hash of the events, and every blob checked against its id.
fn consume(rx: mpsc::Receiver<Batch>, detect: bool) -> Result<(Hash, u64), FetchError> {
    let mut nar = NarHasher::new(Algorithm::Sha256);
    // Names of the open directories and the current file, for errors.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut blob: Option<(Hash, crate::hash::Hasher, u64)> = None;
    let nar_err = FetchError::Nar;
    for batch in rx {
        for msg in &batch.events {
            match msg {
                Msg::DirStart(name) => {
                    let name = name.map(|r| batch.get(r));
                    nar.event(Event::DirectoryStart { name }).map_err(nar_err)?;
                    path.push(name.unwrap_or_default().to_vec());
                }
                Msg::DirEnd => {
                    path.pop();
                    nar.event(Event::DirectoryEnd).map_err(nar_err)?;
                }
                Msg::FileStart {
                    name,
                    executable,
                    size,
                    id,
                } => {
                    let name = name.map(|r| batch.get(r));
                    nar.event(Event::FileStart {
                        name,
                        executable: *executable,
                        size: *size,
                    })
                    .map_err(nar_err)?;
                    path.push(name.unwrap_or_default().to_vec());
                    blob = id.map(|id| {
                        let hasher = crate::git::object_hasher(
                            id.algorithm(),
                            ObjectKind::Blob,
                            *size,
                            detect,
                        );
                        (id, hasher, 0)
                    });
                }
                Msg::Data(start, end) => {
                    let data = batch.get((*start, *end));
                    if let Some((_, hasher, seen)) = blob.as_mut() {
                        hasher.update(data);
                        *seen = seen.saturating_add(data.len() as u64);
                    }
                    nar.event(Event::FileData(data)).map_err(nar_err)?;
                }
                Msg::FileEnd => {
                    if let Some((id, hasher, _)) = blob.take() {
                        let wrong = match hasher.finalize() {
                            Ok(actual) if actual == id => None,
                            Ok(actual) => Some(source::ObjectError::HashMismatch {
                                id,
                                actual: Box::new(actual),
                            }),
                            Err(_) => Some(source::ObjectError::Sha1Collision { id }),
                        };
                        if let Some(source) = wrong {
                            let joined: Vec<&[u8]> =
                                path.iter().skip(1).map(Vec::as_slice).collect();
                            let path = format!("/{}", String::from_utf8_lossy(&joined.join(&b'/')));
                            return Err(FetchError::Tree(events::RestoreError::Object {
                                path,
                                source: Box::new(source),
                            }));
                        }
                    }
                    path.pop();
                    nar.event(Event::FileEnd).map_err(nar_err)?;
                }
                Msg::Symlink { name, target } => {
                    nar.event(Event::Symlink {
                        name: name.map(|r| batch.get(r)),
                        target: batch.get(*target),
                    })
                    .map_err(nar_err)?;
                }
            }
        }
    }
    nar.finish_with_size().map_err(FetchError::Nar)
}
