//! The stream of events every source emits and every sink consumes.
//!
//! A file system object — a regular file, a symlink or a directory tree — travels from a source
//! (a directory walk (module `fs`), a [NAR parser](crate::nar), a git object store) to a sink (a
//! [git hasher](crate::git), a [NAR writer](crate::nar::NarWriter), a [flat hasher](crate::flat))
//! as a depth-first sequence of [`Event`]s in **NAR order**: the entries of a directory come in
//! strictly increasing byte order of their names.
//!
//! The grammar, with `name` `None` exactly for the root object:
//!
//! ```text
//! object    := file | symlink | directory
//! file      := FileStart{name, executable, size} FileData* FileEnd     (data adds up to size)
//! symlink   := Symlink{name, target}
//! directory := DirectoryStart{name} object* DirectoryEnd              (children named, sorted)
//! ```
//!
//! Sources guarantee this grammar; sinks may rely on it (and report
//! [`SinkError::Protocol`] rather than panic if a foreign source breaks it).
//!
//! ```
//! use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink};
//!
//! let mut rec = Recorder::default();
//! rec.event(Event::DirectoryStart { name: None }).unwrap();
//! rec.event(Event::Symlink { name: Some(b"bar"), target: b"foo" }).unwrap();
//! rec.event(Event::DirectoryEnd).unwrap();
//! assert_eq!(rec.events[1], OwnedEvent::Symlink { name: Some(b"bar".to_vec()), target: b"foo".to_vec() });
//! ```
use std::io;

/// One step of a file system object's depth-first traversal. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A directory begins; its entries follow, then [`Event::DirectoryEnd`].
    DirectoryStart {
        /// The entry name in the parent directory; `None` for the root.
        name: Option<&'a [u8]>,
    },
    /// The innermost open directory ends.
    DirectoryEnd,
    /// A regular file begins; `size` bytes of [`Event::FileData`] follow, then [`Event::FileEnd`].
    FileStart {
        /// The entry name in the parent directory; `None` for the root.
        name: Option<&'a [u8]>,
        /// Whether the owner-execute bit is set (NAR's `executable` marker, git mode `100755`).
        executable: bool,
        /// The exact number of content bytes that follow.
        size: u64,
    },
    /// The next chunk of the current file's content (chunks may have any size, even zero).
    FileData(&'a [u8]),
    /// The current file is complete.
    FileEnd,
    /// A symbolic link (never followed).
    Symlink {
        /// The entry name in the parent directory; `None` for the root.
        name: Option<&'a [u8]>,
        /// The link target, as raw bytes.
        target: &'a [u8],
    },
}

impl Event<'_> {
    /// A copy that owns its bytes.
    pub fn to_owned(&self) -> OwnedEvent {
        match *self {
            Event::DirectoryStart { name } => OwnedEvent::DirectoryStart {
                name: name.map(<[u8]>::to_vec),
            },
            Event::DirectoryEnd => OwnedEvent::DirectoryEnd,
            Event::FileStart {
                name,
                executable,
                size,
            } => OwnedEvent::FileStart {
                name: name.map(<[u8]>::to_vec),
                executable,
                size,
            },
            Event::FileData(d) => OwnedEvent::FileData(d.to_vec()),
            Event::FileEnd => OwnedEvent::FileEnd,
            Event::Symlink { name, target } => OwnedEvent::Symlink {
                name: name.map(<[u8]>::to_vec),
                target: target.to_vec(),
            },
        }
    }
}

/// An [`Event`] that owns its bytes, for recording and replaying streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the fields mirror `Event`'s
pub enum OwnedEvent {
    DirectoryStart {
        name: Option<Vec<u8>>,
    },
    DirectoryEnd,
    FileStart {
        name: Option<Vec<u8>>,
        executable: bool,
        size: u64,
    },
    FileData(Vec<u8>),
    FileEnd,
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
    },
}

impl OwnedEvent {
    /// A borrowed view, to feed a [`Sink`].
    pub fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::DirectoryStart { name } => Event::DirectoryStart {
                name: name.as_deref(),
            },
            OwnedEvent::DirectoryEnd => Event::DirectoryEnd,
            OwnedEvent::FileStart {
                name,
                executable,
                size,
            } => Event::FileStart {
                name: name.as_deref(),
                executable: *executable,
                size: *size,
            },
            OwnedEvent::FileData(d) => Event::FileData(d),
            OwnedEvent::FileEnd => Event::FileEnd,
            OwnedEvent::Symlink { name, target } => Event::Symlink {
                name: name.as_deref(),
                target,
            },
        }
    }
}

/// Why a sink refused an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing the sink's output failed.
    #[error("write failed")]
    Io(#[from] io::Error),
    /// The SHA-1 collision detector found an attack in an object's bytes.
    #[error("SHA-1 collision attack detected in {object} (digest {digest})")]
    Sha1Collision {
        /// What was being hashed, e.g. `blob` or `tree`.
        object: &'static str,
        /// The (attacker-chosen) digest, in hex.
        digest: String,
    },
    /// The events broke the grammar in the [module docs](self).
    #[error("event stream out of order: {0}")]
    Protocol(&'static str),
    /// A file's data did not add up to the size its [`Event::FileStart`] announced.
    #[error("file announced {declared} bytes but delivered {actual}")]
    SizeMismatch {
        /// The announced size.
        declared: u64,
        /// The bytes delivered (so far, when it overflowed).
        actual: u64,
    },
    /// A NAR sink was given an object [`Limits::max_nar_depth`](crate::Limits::max_nar_depth)
    /// levels below the root, as Nix 2.34.7 and later refuse to (see
    /// [NAR nesting](crate::limits#nar-nesting)). The source names the path or byte offset.
    #[error(
        "NAR nesting exceeds the maximum depth of {max}: an object {max} levels below the root"
    )]
    NarTooDeep {
        /// The limit, which is also the object's level.
        max: usize,
    },
    /// The sink's method cannot take this object (e.g. flat hashing of a directory).
    #[error("{0}")]
    Unsupported(String),
    /// Any other failure of a sink implemented outside this crate.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl SinkError {
    /// The error a sink reports when its [`Hasher`](crate::hash::Hasher) cannot finish: a
    /// detected SHA-1 collision in `object` (e.g. `"blob"`, `"NAR"`) becomes
    /// [`SinkError::Sha1Collision`], exactly as the crate's own sinks report it; anything else
    /// becomes [`SinkError::Other`]. For sinks of your own, so that a collision in them is the
    /// same error as in Nix's methods.
    ///
    /// ```
    /// use nix_ingest::event::SinkError;
    /// use nix_ingest::hash;
    ///
    /// let e = SinkError::from_hash(hash::Error::Sha1Collision("38762cf7…".into()), "NAR");
    /// assert!(matches!(e, SinkError::Sha1Collision { object: "NAR", .. }));
    /// ```
    pub fn from_hash(error: crate::hash::Error, object: &'static str) -> SinkError {
        match error {
            crate::hash::Error::Sha1Collision(digest) => {
                SinkError::Sha1Collision { object, digest }
            }
            other => SinkError::Other(Box::new(other)),
        }
    }
}

/// Consumes [`Event`]s. Implemented by every hasher and writer in this crate, and by `&mut S`.
///
/// Sinks return their result from an inherent `finish` method once the stream is complete.
pub trait Sink {
    /// Takes the next event of the stream.
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        (**self).event(event)
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        (**self).event(event)
    }
}

/// Feeds every event to two sinks, so that one pass yields several answers.
///
/// Nest tees for more: `Tee::new(a, Tee::new(b, c))`.
#[derive(Debug, Clone, Default)]
pub struct Tee<A, B> {
    /// The first sink.
    pub a: A,
    /// The second sink.
    pub b: B,
}

impl<A, B> Tee<A, B> {
    /// A tee over `a` and `b`.
    pub fn new(a: A, b: B) -> Self {
        Tee { a, b }
    }

    /// The two sinks back.
    pub fn into_inner(self) -> (A, B) {
        (self.a, self.b)
    }
}

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.a.event(event)?;
        self.b.event(event)
    }
}

/// Feeds every event to each sink of a list (for a set of sinks chosen at run time).
impl<S: Sink> Sink for Vec<S> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.iter_mut().try_for_each(|s| s.event(event))
    }
}

/// A sink that keeps every event, for tests and replay.
///
/// Consecutive [`Event::FileData`] chunks are merged into one, so two sources that cut a file's
/// content differently record equal streams; an empty file records no data event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorder {
    /// The events seen, in order.
    pub events: Vec<OwnedEvent>,
}

impl Sink for Recorder {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match (event, self.events.last_mut()) {
            (Event::FileData([]), _) => {}
            (Event::FileData(d), Some(OwnedEvent::FileData(prev))) => prev.extend_from_slice(d),
            _ => self.events.push(event.to_owned()),
        }
        Ok(())
    }
}

/// Replays recorded events into a sink.
pub fn replay<S: Sink + ?Sized>(events: &[OwnedEvent], sink: &mut S) -> Result<(), SinkError> {
    events.iter().try_for_each(|e| sink.event(e.as_event()))
}
