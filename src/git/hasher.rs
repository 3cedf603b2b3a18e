//! The streaming git hasher and the hook that receives the objects it hashes.

use std::cmp::Ordering;

use crate::event::{Event, Sink, SinkError};
use crate::hash::{Algorithm, Hash, Hasher};

use super::object::{Mode, ObjectKind, finish_object, object_hasher, push_entry, tree_order};

/// Receives every object a [`GitHasher`] hashes, e.g. to write them to a git object store.
///
/// Blobs arrive as `begin_blob`, any number of `blob_data` chunks and `end_blob` with the id;
/// trees whole, once all their entries are known. Bodies come without the `<kind> <size>\0`
/// header ([`ObjectKind::header`] makes it). Children come before their parents; a blob or tree
/// that occurs several times is reported each time. Every method does nothing by default, and
/// an error from one stops the hasher.
pub trait ObjectSink {
    /// A blob of `size` bytes begins.
    fn begin_blob(&mut self, size: u64) -> Result<(), SinkError> {
        let _ = size;
        Ok(())
    }

    /// The next chunk of the current blob.
    fn blob_data(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let _ = data;
        Ok(())
    }

    /// The current blob is complete; its id is `id`.
    fn end_blob(&mut self, id: &Hash) -> Result<(), SinkError> {
        let _ = id;
        Ok(())
    }

    /// A tree with id `id` and body `body` (its entries, in git order).
    fn tree(&mut self, id: &Hash, body: &[u8]) -> Result<(), SinkError> {
        let _ = (id, body);
        Ok(())
    }
}

/// Keeps no objects.
impl ObjectSink for () {}

/// Forwards [`ObjectSink`] through a pointer type: one body for `&mut O` and `Box<O>`.
macro_rules! forward_object_sink {
    ($($pointer:ty),*) => {$(
        impl<O: ObjectSink + ?Sized> ObjectSink for $pointer {
            fn begin_blob(&mut self, size: u64) -> Result<(), SinkError> {
                (**self).begin_blob(size)
            }
            fn blob_data(&mut self, data: &[u8]) -> Result<(), SinkError> {
                (**self).blob_data(data)
            }
            fn end_blob(&mut self, id: &Hash) -> Result<(), SinkError> {
                (**self).end_blob(id)
            }
            fn tree(&mut self, id: &Hash, body: &[u8]) -> Result<(), SinkError> {
                (**self).tree(id, body)
            }
        }
    )*};
}

forward_object_sink!(&mut O, Box<O>);

/// A [`Sink`] computing the git id of a file system object, as `nix hash path --mode git` does:
/// a blob id for a root file or symlink, a tree id for a root directory.
///
/// File contents stream straight into the hash (nothing is buffered but names and ids), and
/// directories nest on an explicit stack, so neither a large file nor a deep tree costs more
/// than its names. Events that break the [grammar](crate::event) fail with
/// [`SinkError::Protocol`]; file data that does not add up to the announced size with
/// [`SinkError::SizeMismatch`]. After an error the hasher refuses everything.
///
/// ```
/// use nix_ingest::event::{Event, Sink};
/// use nix_ingest::git::GitHasher;
/// use nix_ingest::hash::{Algorithm, Format};
///
/// let mut git = GitHasher::new(Algorithm::Sha1);
/// git.event(Event::FileStart { name: None, executable: false, size: 13 })?;
/// git.event(Event::FileData(b"Hello World!\n"))?;
/// git.event(Event::FileEnd)?;
/// // `git hash-object` of the same bytes:
/// assert_eq!(git.finish()?.encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
/// # Ok::<(), nix_ingest::event::SinkError>(())
/// ```
#[derive(Debug)]
pub struct GitHasher<O: ObjectSink = ()> {
    algorithm: Algorithm,
    detect_collisions: bool,
    strict_root: bool,
    objects: O,
    state: State,
    /// The file being streamed, if any.
    file: Option<OpenFile>,
    /// The open directories, innermost last.
    frames: Vec<Frame>,
    /// The finished entries of every open directory; each directory's are a suffix of those of
    /// its parent's frame.
    entries: Vec<Entry>,
    /// Each entry's name followed by its raw id, and the names of open directories.
    arena: Vec<u8>,
    /// Reused for every tree body.
    scratch: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The root object has not been seen yet, or is in progress.
    Open,
    /// The root object is complete.
    Done(Hash),
    /// An event failed.
    Failed,
}

/// Where a finished object goes.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// It is the root object.
    Root,
    /// It is an entry whose name is `arena[start..start + len]`.
    Child { start: usize, len: usize },
}

#[derive(Debug)]
struct OpenFile {
    hasher: Hasher,
    declared: u64,
    delivered: u64,
    mode: Mode,
    slot: Slot,
}

#[derive(Debug)]
struct Frame {
    /// The index in `entries` of this directory's first entry.
    entries_start: usize,
    slot: Slot,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The name at `arena[start..start + name_len]`, the raw id right after it.
    start: usize,
    name_len: usize,
    mode: Mode,
}

impl Entry {
    fn name<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        arena
            .get(self.start..self.start.saturating_add(self.name_len))
            .unwrap_or_default()
    }

    fn id<'a>(&self, arena: &'a [u8], id_len: usize) -> &'a [u8] {
        let start = self.start.saturating_add(self.name_len);
        arena
            .get(start..start.saturating_add(id_len))
            .unwrap_or_default()
    }
}

/// A root object strict mode refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKind {
    Executable,
    Symlink,
}

/// The error strict mode gives for an ambiguous root.
fn strict_root_error(kind: RootKind) -> SinkError {
    SinkError::Unsupported(
        match kind {
            RootKind::Executable => {
                "git hashing refuses an executable file as the root object in strict mode: a \
                 blob id does not record the mode, so it would equal the id of a regular file \
                 with the same bytes"
            }
            RootKind::Symlink => {
                "git hashing refuses a symlink as the root object in strict mode: its id is the \
                 blob id of the target text, which equals the id of a regular file holding \
                 those bytes"
            }
        }
        .into(),
    )
}

impl GitHasher<()> {
    /// A hasher for `algorithm`, detecting SHA-1 collision attacks (see
    /// [`collision_detection`](GitHasher::collision_detection)).
    pub fn new(algorithm: Algorithm) -> Self {
        Self::with_objects(algorithm, ())
    }
}

impl<O: ObjectSink> GitHasher<O> {
    /// A hasher for `algorithm` that hands every object it hashes to `objects`.
    pub fn with_objects(algorithm: Algorithm, objects: O) -> Self {
        GitHasher {
            algorithm,
            detect_collisions: true,
            strict_root: false,
            objects,
            state: State::Open,
            file: None,
            frames: Vec::new(),
            entries: Vec::new(),
            arena: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Whether to detect SHA-1 collision attacks (default `true`; set before the first event).
    ///
    /// With detection an object whose bytes carry a known collision attack fails with
    /// [`SinkError::Sha1Collision`] instead of yielding a digest its author chose, as git does.
    /// Nix does not detect; turning detection off matches it exactly and is faster. Other
    /// algorithms are unaffected.
    pub fn collision_detection(mut self, detect: bool) -> Self {
        self.detect_collisions = detect;
        self
    }

    /// Whether to refuse an executable file or a symlink as the root object (default `false`).
    ///
    /// A git blob id does not record the mode, so Nix gives a root file, a root executable and a
    /// root symlink whose target has the same bytes the same hash; strict mode refuses the last
    /// two with [`SinkError::Unsupported`] rather than give an id that does not tell them apart.
    pub fn strict_root(mut self, strict: bool) -> Self {
        self.strict_root = strict;
        self
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The id of the root object, once the stream is complete.
    pub fn finish(self) -> Result<Hash, SinkError> {
        self.finish_with_objects().map(|(hash, _)| hash)
    }

    /// The id of the root object and the object sink, once the stream is complete.
    pub fn finish_with_objects(self) -> Result<(Hash, O), SinkError> {
        match self.state {
            State::Done(hash) => Ok((hash, self.objects)),
            State::Failed => Err(SinkError::Protocol(
                "the git hasher was finished after an event failed",
            )),
            State::Open => Err(SinkError::Protocol(
                "the event stream ended before the root object was complete",
            )),
        }
    }

    fn hasher(&self, kind: ObjectKind, size: u64) -> Hasher {
        object_hasher(self.algorithm, kind, size, self.detect_collisions)
    }

    fn step(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::FileData(data) => {
                let file = self
                    .file
                    .as_mut()
                    .ok_or(SinkError::Protocol("file data outside a file"))?;
                let delivered = file.delivered.saturating_add(data.len() as u64);
                if delivered > file.declared {
                    return Err(SinkError::SizeMismatch {
                        declared: file.declared,
                        actual: delivered,
                    });
                }
                file.delivered = delivered;
                file.hasher.update(data);
                self.objects.blob_data(data)
            }
            Event::FileEnd => {
                let file = self
                    .file
                    .take()
                    .ok_or(SinkError::Protocol("file end outside a file"))?;
                if file.delivered != file.declared {
                    return Err(SinkError::SizeMismatch {
                        declared: file.declared,
                        actual: file.delivered,
                    });
                }
                let id = finish_object(file.hasher, ObjectKind::Blob)?;
                self.objects.end_blob(&id)?;
                self.complete(file.slot, file.mode, &id);
                Ok(())
            }
            _ if self.file.is_some() => Err(SinkError::Protocol(
                "a file's data must end with FileEnd before the next event",
            )),
            Event::FileStart {
                name,
                executable,
                size,
            } => {
                let slot = self.begin(name)?;
                if executable && self.strict_root && matches!(slot, Slot::Root) {
                    return Err(strict_root_error(RootKind::Executable));
                }
                self.objects.begin_blob(size)?;
                self.file = Some(OpenFile {
                    hasher: self.hasher(ObjectKind::Blob, size),
                    declared: size,
                    delivered: 0,
                    mode: if executable {
                        Mode::Executable
                    } else {
                        Mode::File
                    },
                    slot,
                });
                Ok(())
            }
            Event::Symlink { name, target } => {
                let slot = self.begin(name)?;
                if self.strict_root && matches!(slot, Slot::Root) {
                    return Err(strict_root_error(RootKind::Symlink));
                }
                let mut hasher = self.hasher(ObjectKind::Blob, target.len() as u64);
                hasher.update(target);
                self.objects.begin_blob(target.len() as u64)?;
                self.objects.blob_data(target)?;
                let id = finish_object(hasher, ObjectKind::Blob)?;
                self.objects.end_blob(&id)?;
                self.complete(slot, Mode::Symlink, &id);
                Ok(())
            }
            Event::DirectoryStart { name } => {
                let slot = self.begin(name)?;
                self.frames.push(Frame {
                    entries_start: self.entries.len(),
                    slot,
                });
                Ok(())
            }
            Event::DirectoryEnd => {
                let frame = self.frames.pop().ok_or(SinkError::Protocol(
                    "directory end without an open directory",
                ))?;
                let id_len = self.algorithm.len();
                let arena = &self.arena;
                let children = self
                    .entries
                    .get_mut(frame.entries_start..)
                    .unwrap_or_default();
                // The entries came in byte order; only a directory whose name is a prefix of a
                // sibling's moves, so this sort mostly just confirms the order.
                children.sort_unstable_by(|a, b| {
                    tree_order(
                        a.name(arena),
                        a.mode.is_directory(),
                        b.name(arena),
                        b.mode.is_directory(),
                    )
                });
                self.scratch.clear();
                for e in children.iter() {
                    push_entry(
                        &mut self.scratch,
                        e.mode,
                        e.name(arena),
                        e.id(arena, id_len),
                    );
                }
                let mut hasher = self.hasher(ObjectKind::Tree, self.scratch.len() as u64);
                hasher.update(&self.scratch);
                let id = finish_object(hasher, ObjectKind::Tree)?;
                self.objects.tree(&id, &self.scratch)?;
                // Drop the children's names and ids; keep this directory's own name.
                self.entries.truncate(frame.entries_start);
                let keep = match frame.slot {
                    Slot::Root => 0,
                    Slot::Child { start, len } => start.saturating_add(len),
                };
                self.arena.truncate(keep);
                self.complete(frame.slot, Mode::Directory, &id);
                Ok(())
            }
        }
    }

    /// Checks that an object named `name` may begin here and stores its name.
    fn begin(&mut self, name: Option<&[u8]>) -> Result<Slot, SinkError> {
        if self.state != State::Open {
            return Err(SinkError::Protocol("event after the root object ended"));
        }
        let Some(frame) = self.frames.last() else {
            // Nothing is open and nothing has ended: this is the root.
            return match name {
                None => Ok(Slot::Root),
                Some(_) => Err(SinkError::Protocol("the root object must not have a name")),
            };
        };
        let name = name.ok_or(SinkError::Protocol(
            "an entry inside a directory has no name",
        ))?;
        check_name(name)?;
        if self.entries.len() > frame.entries_start
            && let Some(last) = self.entries.last()
            && name.cmp(last.name(&self.arena)) != Ordering::Greater
        {
            return Err(SinkError::Protocol(
                "directory entries are not in strictly increasing name order",
            ));
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(name);
        Ok(Slot::Child {
            start,
            len: name.len(),
        })
    }

    /// Records a finished object: the root's id, or an entry of the innermost directory.
    fn complete(&mut self, slot: Slot, mode: Mode, id: &Hash) {
        match slot {
            Slot::Root => self.state = State::Done(*id),
            Slot::Child { start, len } => {
                // The name is at the end of the arena (children of a directory were dropped).
                self.arena.extend_from_slice(id.as_bytes());
                self.entries.push(Entry {
                    start,
                    name_len: len,
                    mode,
                });
            }
        }
    }
}

impl<O: ObjectSink> Sink for GitHasher<O> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if self.state == State::Failed {
            return Err(SinkError::Protocol(
                "the git hasher refuses events after one failed",
            ));
        }
        let result = self.step(event);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }
}

/// Refuses names a tree cannot hold unambiguously (git's fsck refuses them too).
fn check_name(name: &[u8]) -> Result<(), SinkError> {
    if name.is_empty() {
        return Err(SinkError::Protocol("empty entry name"));
    }
    if name == b"." || name == b".." {
        return Err(SinkError::Protocol("entry name '.' or '..'"));
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(SinkError::Protocol("entry name contains '/' or NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Format;

    const FILE0: Event<'static> = Event::FileStart {
        name: None,
        executable: false,
        size: 0,
    };

    fn file(name: &'static [u8]) -> [Event<'static>; 2] {
        [
            Event::FileStart {
                name: Some(name),
                executable: false,
                size: 0,
            },
            Event::FileEnd,
        ]
    }

    fn run(events: &[Event<'_>]) -> Result<Hash, SinkError> {
        let mut git = GitHasher::new(Algorithm::Sha1);
        events.iter().try_for_each(|e| git.event(*e))?;
        git.finish()
    }

    fn protocol(events: &[Event<'_>]) -> &'static str {
        match run(events) {
            Err(SinkError::Protocol(m)) => m,
            other => panic!("{events:?} gave {other:?}"),
        }
    }

    #[test]
    fn broken_grammar_is_a_protocol_error() {
        let [a_start, a_end] = file(b"a");
        let [b_start, b_end] = file(b"b");
        let open = Event::DirectoryStart { name: None };
        let close = Event::DirectoryEnd;
        let cases: Vec<Vec<Event<'_>>> = vec![
            vec![],
            vec![Event::FileData(b"")],
            vec![Event::FileEnd],
            vec![close],
            vec![open],
            vec![open, close, close],
            vec![open, close, open, close],
            vec![FILE0, Event::FileEnd, FILE0],
            vec![FILE0, open],
            vec![
                FILE0,
                Event::Symlink {
                    name: None,
                    target: b"x",
                },
            ],
            vec![a_start],
            vec![Event::DirectoryStart { name: Some(b"x") }],
            vec![Event::Symlink {
                name: Some(b"x"),
                target: b"y",
            }],
            vec![open, FILE0],
            vec![open, Event::DirectoryStart { name: None }],
            vec![
                open,
                Event::Symlink {
                    name: None,
                    target: b"x",
                },
            ],
            vec![open, a_start, b_start],
            vec![open, a_start, close],
            // Not in strictly increasing name order.
            vec![open, b_start, b_end, a_start, a_end, close],
            vec![open, a_start, a_end, a_start, a_end, close],
            vec![
                open,
                Event::DirectoryStart { name: Some(b"a") },
                close,
                a_start,
                a_end,
                close,
            ],
            // Names a tree cannot hold.
            vec![open, Event::DirectoryStart { name: Some(b"") }],
            vec![open, Event::DirectoryStart { name: Some(b".") }],
            vec![open, Event::DirectoryStart { name: Some(b"..") }],
            vec![
                open,
                Event::Symlink {
                    name: Some(b"a/b"),
                    target: b"",
                },
            ],
            vec![
                open,
                Event::Symlink {
                    name: Some(b"a\0b"),
                    target: b"",
                },
            ],
        ];
        for events in &cases {
            protocol(events);
        }
        // Deep nesting is an explicit stack, not recursion.
        let mut deep = vec![open];
        deep.extend(std::iter::repeat_n(
            Event::DirectoryStart { name: Some(b"d") },
            100_000,
        ));
        deep.extend(std::iter::repeat_n(close, 100_000));
        assert!(run(&deep).is_err());
        deep.push(close);
        assert!(run(&deep).is_ok());
    }

    #[test]
    fn sizes_must_match() {
        let start = Event::FileStart {
            name: None,
            executable: false,
            size: 3,
        };
        assert!(matches!(
            run(&[start, Event::FileData(b"ab"), Event::FileEnd]),
            Err(SinkError::SizeMismatch {
                declared: 3,
                actual: 2
            })
        ));
        assert!(matches!(
            run(&[start, Event::FileData(b"ab"), Event::FileData(b"cd")]),
            Err(SinkError::SizeMismatch {
                declared: 3,
                actual: 4
            })
        ));
        // A failed hasher stays failed.
        let mut git = GitHasher::new(Algorithm::Sha1);
        git.event(start).unwrap();
        assert!(git.event(Event::FileData(b"abcd")).is_err());
        assert!(matches!(
            git.event(Event::FileEnd),
            Err(SinkError::Protocol(_))
        ));
        assert!(matches!(git.finish(), Err(SinkError::Protocol(_))));
    }

    #[test]
    fn strict_root_refuses_executables_and_symlinks() {
        let exe = Event::FileStart {
            name: None,
            executable: true,
            size: 0,
        };
        let link = Event::Symlink {
            name: None,
            target: b"",
        };
        for strict in [false, true] {
            for root in [exe, link] {
                let mut git = GitHasher::new(Algorithm::Sha1).strict_root(strict);
                let r = git.event(root).and_then(|()| match root {
                    Event::FileStart { .. } => git.event(Event::FileEnd),
                    _ => Ok(()),
                });
                if strict {
                    assert!(
                        matches!(&r, Err(SinkError::Unsupported(m)) if m.contains("strict")),
                        "{r:?}"
                    );
                    assert!(git.finish().is_err());
                } else {
                    r.unwrap();
                    // git's empty blob, which is also `nix hash path --mode git` of an empty
                    // file, executable or not.
                    assert_eq!(
                        git.finish().unwrap().encode(Format::Base16),
                        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
                    );
                }
            }
        }
        // Inside a directory, executables and symlinks have their own modes: nothing to refuse.
        let mut git = GitHasher::new(Algorithm::Sha1).strict_root(true);
        for e in [
            Event::DirectoryStart { name: None },
            Event::FileStart {
                name: Some(b"x"),
                executable: true,
                size: 0,
            },
            Event::FileEnd,
            Event::Symlink {
                name: Some(b"y"),
                target: b"x",
            },
            Event::DirectoryEnd,
        ] {
            git.event(e).unwrap();
        }
        assert!(git.finish().is_ok());
        // A regular root file is fine in strict mode.
        let mut git = GitHasher::new(Algorithm::Sha1).strict_root(true);
        git.event(FILE0).unwrap();
        git.event(Event::FileEnd).unwrap();
        assert!(git.finish().is_ok());
    }

    fn shattered() -> Vec<u8> {
        let path = format!("{}/tests/data/shattered-1.pdf", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn collisions_become_sink_errors() {
        // No colliding git objects are known, so this checks the path from a detecting hasher
        // to the error with the SHAttered PDF's raw bytes (sha1 38762cf7…, its published
        // digest), and that the hasher's choice of hasher follows the setting.
        let pdf = shattered();
        for kind in [ObjectKind::Blob, ObjectKind::Tree] {
            let mut h = Hasher::new(Algorithm::Sha1);
            h.update(&pdf);
            match finish_object(h, kind) {
                Err(SinkError::Sha1Collision { object, digest }) => {
                    assert_eq!(object, kind.name());
                    assert_eq!(digest, "38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
                }
                other => panic!("{other:?}"),
            }
        }
        for (detect, collides) in [(true, true), (false, false)] {
            let git = GitHasher::new(Algorithm::Sha1).collision_detection(detect);
            // The object hasher starts with the header; replace it by one without, to feed the
            // colliding blocks where the attack put them.
            let fresh = Hasher::with_collision_detection(Algorithm::Sha1, git.detect_collisions);
            let mut h = fresh.clone();
            h.update(&pdf);
            assert_eq!(finish_object(h, ObjectKind::Blob).is_err(), collides);
            let mut h = git.hasher(ObjectKind::Blob, pdf.len() as u64);
            h.update(&pdf);
            // As a blob (header first) the PDF does not collide: `git hash-object` (which
            // detects) prints ba9aaa14…, and so does Nix.
            assert_eq!(
                finish_object(h, ObjectKind::Blob)
                    .unwrap()
                    .encode(Format::Base16),
                "ba9aaa145ccd24ef760cf31c74d8f7ca1a2e47b0"
            );
        }
    }
}
