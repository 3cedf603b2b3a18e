//! Writing (and hashing) NARs from events.

use std::io::Write;

use super::MAGIC;
use crate::event::{Event, Sink, SinkError};
use crate::hash::{Algorithm, Hash, Hasher};
use crate::limits::Limits;

/// Small strings are gathered in a buffer of this size; larger file data goes straight through.
const BUFFER_SIZE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written yet.
    Start,
    /// The root object is open.
    Open,
    /// The root object is complete.
    Done,
    /// An event was refused; the output is unusable.
    Failed,
}

/// An open directory: the name of its latest entry, once it has one.
#[derive(Debug, Default)]
struct Dir {
    last: Option<Vec<u8>>,
}

/// A [`Sink`] that serialises the events into NAR bytes, exactly as `nix-store --dump` does.
///
/// It checks the event grammar (see [`crate::event`]): names present exactly for entries, valid
/// (not empty, `.`, `..`, nor containing `/` or NUL) and strictly increasing, symlink targets not
/// empty and without NUL, objects properly nested; a break gives [`SinkError::Protocol`]. File
/// data must add up to the size announced ([`SinkError::SizeMismatch`]). After a refused event
/// every later call fails too, so a broken stream never yields an archive.
///
/// Like Nix (2.34.7 and later), it refuses an object nested
/// [`Limits::max_nar_depth`](crate::Limits::max_nar_depth) levels below the root, 64 by default
/// ([`SinkError::NarTooDeep`]); [`max_depth`](NarWriter::max_depth) changes that.
///
/// Keywords, names and small chunks go through an 8 KiB buffer; large chunks of file data are
/// written straight to `W`.
///
/// ```
/// use nix_ingest::event::{Event, Sink};
/// use nix_ingest::nar::NarWriter;
///
/// let mut w = NarWriter::new(Vec::new());
/// w.event(Event::Symlink { name: None, target: b"foo" })?;
/// let nar = w.finish()?;
/// // 24 bytes for the magic string, 16 for each of "(" "type" "symlink" "target" "foo" ")".
/// assert_eq!(nar.len(), 24 + 6 * 16);
/// # Ok::<(), nix_ingest::event::SinkError>(())
/// ```
#[derive(Debug)]
pub struct NarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    state: State,
    dirs: Vec<Dir>,
    /// The open file: announced size and bytes so far.
    file: Option<(u64, u64)>,
    written: u64,
    /// Objects this many levels below the root are refused.
    max_depth: usize,
}

fn protocol(msg: &'static str) -> SinkError {
    SinkError::Protocol(msg)
}

fn valid_name(name: &[u8]) -> bool {
    !(name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0))
}

const ZEROS: [u8; 8] = [0; 8];

fn padding(len: u64) -> &'static [u8] {
    let pad = usize::try_from((8 - len % 8) % 8).unwrap_or(0);
    ZEROS.get(..pad).unwrap_or_default()
}

impl<W: Write> NarWriter<W> {
    /// A writer that sends the archive to `out`.
    pub fn new(out: W) -> Self {
        NarWriter {
            out,
            buf: Vec::with_capacity(BUFFER_SIZE),
            state: State::Start,
            dirs: Vec::new(),
            file: None,
            written: 0,
            max_depth: Limits::DEFAULT.max_nar_depth,
        }
    }

    /// Refuses objects `max_depth` or more levels below the root (the root is level 0) with
    /// [`SinkError::NarTooDeep`]. The default is [`Limits::DEFAULT`]'s
    /// [`max_nar_depth`](Limits::max_nar_depth), 64, as Nix 2.34.7 and later; `usize::MAX`
    /// writes any depth, as Nix 2.26 does.
    ///
    /// ```
    /// use nix_ingest::event::{Event, Sink, SinkError};
    /// use nix_ingest::nar::NarWriter;
    ///
    /// let mut w = NarWriter::new(Vec::new()).max_depth(2);
    /// w.event(Event::DirectoryStart { name: None })?; // the root: level 0
    /// w.event(Event::DirectoryStart { name: Some(b"a") })?; // level 1
    /// let e = w.event(Event::DirectoryStart { name: Some(b"b") }).unwrap_err(); // level 2
    /// assert!(matches!(e, SinkError::NarTooDeep { max: 2 }));
    /// # Ok::<(), SinkError>(())
    /// ```
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// The number of archive bytes produced so far (the NAR size, once finished).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the output; fails with [`SinkError::Protocol`] if the root object is
    /// not complete.
    pub fn finish(mut self) -> Result<W, SinkError> {
        match self.state {
            State::Done => {}
            State::Failed => return Err(protocol("the NAR writer refused an earlier event")),
            State::Start | State::Open => return Err(protocol("the archive is incomplete")),
        }
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_buf(&mut self) -> Result<(), SinkError> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if self.buf.len() + bytes.len() > BUFFER_SIZE {
            self.flush_buf()?;
            if bytes.len() >= BUFFER_SIZE {
                self.out.write_all(bytes)?;
                self.written += bytes.len() as u64;
                return Ok(());
            }
        }
        self.buf.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn str(&mut self, s: &[u8]) -> Result<(), SinkError> {
        let len = s.len() as u64;
        self.raw(&len.to_le_bytes())?;
        self.raw(s)?;
        self.raw(padding(len))
    }

    /// Starts an object: the magic for the root, the entry header for a named one.
    fn open(&mut self, name: Option<&[u8]>) -> Result<(), SinkError> {
        if self.dirs.len() >= self.max_depth && matches!(self.state, State::Start | State::Open) {
            return Err(SinkError::NarTooDeep {
                max: self.max_depth,
            });
        }
        match (self.state, name) {
            (State::Start, None) => {
                self.state = State::Open;
                self.str(MAGIC)?;
            }
            (State::Start, Some(_)) => {
                return Err(protocol("the root object must not have a name"));
            }
            (State::Open, Some(name)) => {
                let Some(dir) = self.dirs.last_mut() else {
                    return Err(protocol("an entry outside any directory"));
                };
                if !valid_name(name) {
                    return Err(protocol(
                        "invalid entry name (empty, \".\", \"..\", or containing '/' or NUL)",
                    ));
                }
                if dir.last.as_deref().is_some_and(|last| name <= last) {
                    return Err(protocol(
                        "directory entries not in strictly increasing order",
                    ));
                }
                match &mut dir.last {
                    Some(last) => {
                        last.clear();
                        last.extend_from_slice(name);
                    }
                    none => *none = Some(name.to_vec()),
                }
                self.str(b"entry")?;
                self.str(b"(")?;
                self.str(b"name")?;
                self.str(name)?;
                self.str(b"node")?;
            }
            (State::Open, None) => return Err(protocol("an entry inside a directory has no name")),
            (State::Done, _) => return Err(protocol("an event after the root object ended")),
            (State::Failed, _) => return Err(protocol("the NAR writer refused an earlier event")),
        }
        self.str(b"(")?;
        self.str(b"type")
    }

    /// Ends an object whose own `")"` is written: closes its entry, or the archive.
    fn close(&mut self) -> Result<(), SinkError> {
        if self.dirs.is_empty() {
            self.state = State::Done;
            Ok(())
        } else {
            self.str(b")")
        }
    }

    fn step(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Some((declared, actual)) = &mut self.file {
            let declared = *declared;
            return match event {
                Event::FileData(data) => {
                    let actual = actual
                        .checked_add(data.len() as u64)
                        .filter(|&a| a <= declared)
                        .ok_or(SinkError::SizeMismatch {
                            declared,
                            actual: actual.saturating_add(data.len() as u64),
                        })?;
                    self.file = Some((declared, actual));
                    self.raw(data)
                }
                Event::FileEnd => {
                    if *actual != declared {
                        return Err(SinkError::SizeMismatch {
                            declared,
                            actual: *actual,
                        });
                    }
                    self.file = None;
                    self.raw(padding(declared))?;
                    self.str(b")")?;
                    self.close()
                }
                _ => Err(protocol(
                    "a file's data must end with FileEnd before the next event",
                )),
            };
        }
        match event {
            Event::DirectoryStart { name } => {
                self.open(name)?;
                self.str(b"directory")?;
                self.dirs.push(Dir::default());
                Ok(())
            }
            Event::DirectoryEnd => {
                if self.dirs.pop().is_none() {
                    return Err(protocol("DirectoryEnd without an open directory"));
                }
                self.str(b")")?;
                self.close()
            }
            Event::FileStart {
                name,
                executable,
                size,
            } => {
                self.open(name)?;
                self.str(b"regular")?;
                if executable {
                    self.str(b"executable")?;
                    self.str(b"")?;
                }
                self.str(b"contents")?;
                self.raw(&size.to_le_bytes())?;
                self.file = Some((size, 0));
                Ok(())
            }
            Event::Symlink { name, target } => {
                if target.is_empty() || target.contains(&0) {
                    return Err(protocol("a symlink target is empty or contains NUL"));
                }
                self.open(name)?;
                self.str(b"symlink")?;
                self.str(b"target")?;
                self.str(target)?;
                self.str(b")")?;
                self.close()
            }
            Event::FileData(_) | Event::FileEnd => Err(protocol("file data outside a file")),
        }
    }
}

impl<W: Write> Sink for NarWriter<W> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if self.state == State::Failed {
            return Err(protocol("the NAR writer refused an earlier event"));
        }
        self.step(event).inspect_err(|_| self.state = State::Failed)
    }
}

/// A [`Sink`] that computes the hash of the NAR serialisation of the events: Nix's NAR hash
/// (`narHash`), and the digest of the `nar`/`r:` ingestion method.
///
/// SHA-1 detects collision attacks (see [`Hasher::new`]); use [`NarHasher::from_hasher`] to
/// choose otherwise.
///
/// ```
/// use nix_ingest::event::{Event, Sink};
/// use nix_ingest::hash::{Algorithm, Format};
/// use nix_ingest::nar::NarHasher;
///
/// let contents = b"just a file, 27 bytes long\n";
/// let mut h = NarHasher::new(Algorithm::Sha256);
/// h.event(Event::FileStart { name: None, executable: false, size: contents.len() as u64 })?;
/// h.event(Event::FileData(contents))?;
/// h.event(Event::FileEnd)?;
/// // As `nix-hash --type sha256 --base16` prints for that file.
/// assert_eq!(
///     h.finish()?.encode(Format::Base16),
///     "ddfd7960e8e6be16b1e58af3baceed6cccd70d3ed98508f50d6ab8b008ea7379"
/// );
/// # Ok::<(), nix_ingest::event::SinkError>(())
/// ```
#[derive(Debug)]
pub struct NarHasher {
    writer: NarWriter<Hasher>,
}

impl NarHasher {
    /// A NAR hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        Self::from_hasher(Hasher::new(algorithm))
    }

    /// A NAR hasher feeding `hasher`.
    pub fn from_hasher(hasher: Hasher) -> Self {
        NarHasher {
            writer: NarWriter::new(hasher),
        }
    }

    /// Whether to detect SHA-1 collision attacks in the archive's bytes (default `true`, as
    /// [`Hasher::new`]; set before the first event, after which it changes nothing). With
    /// detection an attack fails [`finish`](NarHasher::finish) with
    /// [`SinkError::Sha1Collision`]; Nix does not detect, and other algorithms are unaffected.
    pub fn collision_detection(mut self, detect: bool) -> Self {
        if self.writer.written == 0 && self.writer.buf.is_empty() {
            let algorithm = self.writer.out.algorithm();
            self.writer.out = Hasher::with_collision_detection(algorithm, detect);
        }
        self
    }

    /// Refuses objects `max_depth` or more levels below the root: see
    /// [`NarWriter::max_depth`] (default 64, as Nix 2.34.7 and later).
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.writer = self.writer.max_depth(max_depth);
        self
    }

    /// The hash of the archive.
    pub fn finish(self) -> Result<Hash, SinkError> {
        self.finish_with_size().map(|(hash, _)| hash)
    }

    /// The hash and the size of the archive (Nix's `narHash` and `narSize`).
    pub fn finish_with_size(self) -> Result<(Hash, u64), SinkError> {
        let size = self.writer.bytes_written();
        let hasher = self.writer.finish()?;
        let hash = hasher
            .finalize()
            .map_err(|e| SinkError::from_hash(e, "NAR"))?;
        Ok((hash, size))
    }
}

impl Sink for NarHasher {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.writer.event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_data_bypasses_the_buffer_and_small_tokens_are_batched() {
        /// Records the size of every write.
        #[derive(Default)]
        struct Writes(Vec<usize>);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.push(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let big = vec![1u8; 100_000];
        let mut w = NarWriter::new(Writes::default());
        w.event(Event::DirectoryStart { name: None }).unwrap();
        for name in [&b"a"[..], b"b", b"c"] {
            w.event(Event::Symlink {
                name: Some(name),
                target: b"t",
            })
            .unwrap();
        }
        w.event(Event::FileStart {
            name: Some(b"d"),
            executable: false,
            size: big.len() as u64,
        })
        .unwrap();
        w.event(Event::FileData(&big)).unwrap();
        w.event(Event::FileEnd).unwrap();
        w.event(Event::DirectoryEnd).unwrap();
        let total = w.bytes_written();
        let writes = w.finish().unwrap().0;
        // The tokens before the data in one write, the data in one, the rest in one.
        assert_eq!(writes.len(), 3, "{writes:?}");
        assert_eq!(writes[1], big.len());
        assert_eq!(writes.iter().sum::<usize>() as u64, total);
    }

    #[test]
    fn nar_size_is_counted() {
        let mut h = NarHasher::new(Algorithm::Sha256);
        h.event(Event::DirectoryStart { name: None }).unwrap();
        h.event(Event::DirectoryEnd).unwrap();
        // magic (24) + "(" (16) + "type" (16) + "directory" (8 + 9 + 7) + ")" (16): the 96 bytes
        // `nix-store --dump` writes for an empty directory.
        assert_eq!(h.finish_with_size().unwrap().1, 24 + 16 + 16 + 24 + 16);
    }
}
