//! The push-based NAR parser.

use std::mem;

use super::{MAGIC, ReadError};
use crate::event::{Event, Sink, SinkError};
use crate::limits::Limits;

/// Keywords longer than this are refused without reading them ([`ReadError::TagTooLong`]); shorter
/// unknown ones are read so that the error can show them.
const KEYWORD_MAX: u64 = 64;

/// Where the parser is in the grammar: what the next string must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    /// `"("` opening a node.
    NodeOpen,
    /// `"type"`.
    TypeTag,
    /// `"regular"`, `"symlink"` or `"directory"`.
    TypeValue,
    /// `"executable"` or `"contents"`.
    RegularTag,
    /// The empty string after `"executable"`.
    ExecutableValue,
    /// `"contents"` after the executable marker.
    ContentsTag,
    /// The contents' length field (a bare number, not a string).
    ContentsLen,
    /// Inside the contents or their padding.
    Contents,
    /// `")"` closing a regular file or symlink node.
    NodeClose,
    /// `"target"`.
    TargetTag,
    /// The symlink target.
    TargetValue,
    /// `"entry"` or `")"` in a directory.
    DirItem,
    /// `"("` opening an entry.
    EntryOpen,
    /// `"name"`.
    NameTag,
    /// The entry name.
    NameValue,
    /// `"node"`.
    NodeTag,
    /// `")"` closing an entry.
    EntryClose,
    /// The archive is complete.
    Done,
    /// An error was returned; the parser is unusable.
    Failed,
}

impl State {
    /// What the grammar allows in this state, for error messages.
    fn expected(self) -> &'static str {
        match self {
            State::Magic => "\"nix-archive-1\"",
            State::NodeOpen | State::EntryOpen => "\"(\"",
            State::TypeTag => "\"type\"",
            State::TypeValue => "a file type (\"regular\", \"symlink\" or \"directory\")",
            State::RegularTag => "\"executable\" or \"contents\"",
            State::ExecutableValue => "\"\"",
            State::ContentsTag => "\"contents\"",
            State::ContentsLen | State::Contents => "file contents",
            State::NodeClose | State::EntryClose => "\")\"",
            State::TargetTag => "\"target\"",
            State::TargetValue => "a symlink target",
            State::DirItem => "\"entry\" or \")\"",
            State::NameTag => "\"name\"",
            State::NameValue => "an entry name",
            State::NodeTag => "\"node\"",
            State::Done | State::Failed => "the end of the archive",
        }
    }
}

/// Which part of a string (or of file contents) the next bytes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// The 8-byte length field.
    Len,
    /// A string's bytes, collected in `tok`.
    Body,
    /// File contents, passed through to the sink.
    Data,
    /// Zero padding.
    Pad,
}

/// An open directory.
#[derive(Debug, Default)]
struct Dir {
    /// The name of the latest entry (valid once `entries > 0`).
    last: Vec<u8>,
    /// The entries seen so far.
    entries: u64,
}

/// A push-based (sans-IO) NAR parser: feed it bytes in chunks of any size with
/// [`push`](Parser::push) and it emits [`Event`]s into a [`Sink`] as soon as it can.
///
/// It validates as it streams (see the [module docs](super) for what it refuses) and its memory
/// is bounded by its [`Limits`], never by a length read from the input: only small strings
/// (keywords, names, targets) are buffered, file contents reach the sink as slices of the pushed
/// chunks. Nesting is tracked with an explicit stack, so deep archives cannot overflow the call
/// stack. The events (after merging adjacent [`Event::FileData`], as
/// [`Recorder`](crate::event::Recorder) does) and errors do not depend on how the input is split.
///
/// ```
/// use nix_ingest::event::{OwnedEvent, Recorder};
/// use nix_ingest::nar::Parser;
/// use nix_ingest::Limits;
///
/// // `nix-store --dump` of a symlink `-> foo`.
/// let mut nar = Vec::new();
/// for s in [&b"nix-archive-1"[..], b"(", b"type", b"symlink", b"target", b"foo", b")"] {
///     nar.extend_from_slice(&(s.len() as u64).to_le_bytes());
///     nar.extend_from_slice(s);
///     nar.resize(nar.len().next_multiple_of(8), 0);
/// }
/// let mut parser = Parser::new(Limits::default());
/// let mut rec = Recorder::default();
/// for byte in nar.chunks(1) {
///     parser.push(byte, &mut rec)?;
/// }
/// assert_eq!(parser.finish()?, nar.len() as u64);
/// assert_eq!(rec.events, [OwnedEvent::Symlink { name: None, target: b"foo".to_vec() }]);
/// # Ok::<(), nix_ingest::nar::ReadError>(())
/// ```
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    state: State,
    lex: Lex,
    /// Bytes consumed so far.
    offset: u64,
    /// Where the current string (its length field) started.
    tok_start: u64,
    len_buf: [u8; 8],
    len_have: usize,
    /// The current string's bytes.
    tok: Vec<u8>,
    /// Bytes left in the current body, contents or padding.
    left: u64,
    /// Padding after the current body or contents.
    pad: u64,
    executable: bool,
    /// Content bytes (files and symlink targets) so far.
    total: u64,
    dirs: Vec<Dir>,
}

fn padding(len: u64) -> u64 {
    (8 - len % 8) % 8
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The length of the next step: at most `left`, at most what is available.
fn step(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

fn valid_name(name: &[u8]) -> bool {
    !(name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0))
}

impl Parser {
    /// A parser expecting the start of an archive.
    pub fn new(limits: Limits) -> Self {
        Parser {
            limits,
            state: State::Magic,
            lex: Lex::Len,
            offset: 0,
            tok_start: 0,
            len_buf: [0; 8],
            len_have: 0,
            tok: Vec::new(),
            left: 0,
            pad: 0,
            executable: false,
            total: 0,
            dirs: Vec::new(),
        }
    }

    /// Parses the next chunk of the archive, emitting the events it completes into `sink`.
    ///
    /// Returns how many bytes of `data` belong to the archive: all of them, unless the archive
    /// ended inside `data` (then [`is_done`](Parser::is_done) is true and the rest is not
    /// consumed; a later push consumes nothing). After an error the parser is unusable: further
    /// calls return [`ReadError::Poisoned`].
    pub fn push<S: Sink + ?Sized>(
        &mut self,
        data: &[u8],
        sink: &mut S,
    ) -> Result<usize, ReadError> {
        if self.state == State::Failed {
            return Err(ReadError::Poisoned {
                offset: self.offset,
            });
        }
        let mut rest = data;
        match self.run(&mut rest, sink) {
            Ok(()) => Ok(data.len() - rest.len()),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Whether the archive is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The number of bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Ends the input: the archive's length if it is complete, else [`ReadError::Truncated`].
    pub fn finish(self) -> Result<u64, ReadError> {
        match self.state {
            State::Done => Ok(self.offset),
            State::Failed => Err(ReadError::Poisoned {
                offset: self.offset,
            }),
            _ => Err(ReadError::Truncated {
                offset: self.offset,
            }),
        }
    }

    fn advance(&mut self, data: &mut &[u8], n: usize) {
        *data = data.get(n..).unwrap_or_default();
        self.offset = self.offset.saturating_add(as_u64(n));
    }

    fn run<S: Sink + ?Sized>(&mut self, data: &mut &[u8], sink: &mut S) -> Result<(), ReadError> {
        while !data.is_empty() && self.state != State::Done {
            match self.lex {
                Lex::Len => {
                    if self.len_have == 0 {
                        self.tok_start = self.offset;
                        if let Some((len, _)) = data.split_first_chunk::<8>() {
                            let len = u64::from_le_bytes(*len);
                            self.advance(data, 8);
                            self.on_len(len, sink)?;
                            continue;
                        }
                    }
                    let n = (8 - self.len_have).min(data.len());
                    if let (Some(dst), Some(src)) = (
                        self.len_buf.get_mut(self.len_have..self.len_have + n),
                        data.get(..n),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    self.len_have += n;
                    self.advance(data, n);
                    if self.len_have == 8 {
                        self.len_have = 0;
                        self.on_len(u64::from_le_bytes(self.len_buf), sink)?;
                    }
                }
                Lex::Body => {
                    let n = step(self.left, data.len());
                    let (chunk, _) = data.split_at(n);
                    self.tok.extend_from_slice(chunk);
                    self.left -= as_u64(n);
                    self.advance(data, n);
                    if self.left == 0 {
                        self.end_body(sink)?;
                    }
                }
                Lex::Data => {
                    let n = step(self.left, data.len());
                    let (chunk, _) = data.split_at(n);
                    sink.event(Event::FileData(chunk))
                        .map_err(wrap(self.offset))?;
                    self.left -= as_u64(n);
                    self.advance(data, n);
                    if self.left == 0 {
                        self.end_contents(sink)?;
                    }
                }
                Lex::Pad => {
                    let n = step(self.left, data.len());
                    let (chunk, _) = data.split_at(n);
                    if let Some((i, &byte)) = chunk.iter().enumerate().find(|(_, b)| **b != 0) {
                        return Err(ReadError::NonZeroPadding {
                            offset: self.offset.saturating_add(as_u64(i)),
                            byte,
                        });
                    }
                    self.left -= as_u64(n);
                    self.advance(data, n);
                    if self.left == 0 {
                        self.lex = Lex::Len;
                        if self.state == State::Contents {
                            self.finish_file(sink)?;
                        } else {
                            self.on_token(sink)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A length field is complete: check it against the grammar and limits before reading on.
    fn on_len<S: Sink + ?Sized>(&mut self, len: u64, sink: &mut S) -> Result<(), ReadError> {
        let offset = self.tok_start;
        match self.state {
            State::ContentsLen => {
                self.add_total(len)?;
                let name = self.dirs.last().map(|d| d.last.as_slice());
                sink.event(Event::FileStart {
                    name,
                    executable: self.executable,
                    size: len,
                })
                .map_err(wrap(offset))?;
                self.state = State::Contents;
                self.pad = padding(len);
                if len == 0 {
                    return self.finish_file(sink);
                }
                self.lex = Lex::Data;
                self.left = len;
                return Ok(());
            }
            State::Magic => {
                if len != as_u64(MAGIC.len()) {
                    return Err(ReadError::BadMagic { offset });
                }
            }
            State::NameValue => {
                let max = self.limits.max_name_len;
                if len > as_u64(max) {
                    return Err(ReadError::NameTooLong { offset, len, max });
                }
            }
            State::TargetValue => {
                let max = self.limits.max_target_len;
                if len > as_u64(max) {
                    return Err(ReadError::TargetTooLong { offset, len, max });
                }
                if len == 0 {
                    return Err(ReadError::EmptyTarget { offset });
                }
                self.add_total(len)?;
            }
            State::ExecutableValue => {
                if len != 0 {
                    return Err(ReadError::ExecutableNotEmpty { offset, len });
                }
            }
            state => {
                if len > KEYWORD_MAX {
                    return Err(ReadError::TagTooLong {
                        offset,
                        expected: state.expected(),
                        len,
                    });
                }
            }
        }
        self.tok.clear();
        self.pad = padding(len);
        self.left = len;
        if len == 0 {
            self.on_token(sink)
        } else {
            self.lex = Lex::Body;
            Ok(())
        }
    }

    fn add_total(&mut self, len: u64) -> Result<(), ReadError> {
        let max = self.limits.max_total_size;
        match self.total.checked_add(len) {
            Some(total) if total <= max => {
                self.total = total;
                Ok(())
            }
            _ => Err(ReadError::TotalSizeExceeded {
                offset: self.tok_start,
                size: len,
                max,
            }),
        }
    }

    fn end_body<S: Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), ReadError> {
        if self.pad == 0 {
            self.lex = Lex::Len;
            self.on_token(sink)
        } else {
            self.lex = Lex::Pad;
            self.left = self.pad;
            Ok(())
        }
    }

    fn end_contents<S: Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), ReadError> {
        if self.pad == 0 {
            self.lex = Lex::Len;
            self.finish_file(sink)
        } else {
            self.lex = Lex::Pad;
            self.left = self.pad;
            Ok(())
        }
    }

    fn finish_file<S: Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), ReadError> {
        sink.event(Event::FileEnd).map_err(wrap(self.offset))?;
        self.lex = Lex::Len;
        self.state = State::NodeClose;
        Ok(())
    }

    /// A node starts at the current offset, one level below the innermost open directory: Nix's
    /// NAR nesting rule ([`Limits::max_nar_depth`]), checked before its first byte as Nix does.
    fn check_nar_depth(&self) -> Result<(), ReadError> {
        let max = self.limits.max_nar_depth;
        if self.dirs.len() >= max {
            return Err(ReadError::NarTooDeep {
                offset: self.offset,
                max,
            });
        }
        Ok(())
    }

    /// The node just closed: the archive ends, or the entry holding it must close.
    fn close_node(&mut self) {
        self.state = if self.dirs.is_empty() {
            State::Done
        } else {
            State::EntryClose
        };
    }

    fn unexpected(&self) -> ReadError {
        ReadError::UnexpectedTag {
            offset: self.tok_start,
            expected: self.state.expected(),
            got: self.tok.clone(),
        }
    }

    /// Moves to `next` if the string just read is `keyword`.
    fn expect(&mut self, keyword: &[u8], next: State) -> Result<(), ReadError> {
        if self.tok == keyword {
            self.state = next;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// A string (with its padding) is complete.
    fn on_token<S: Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), ReadError> {
        let offset = self.tok_start;
        match self.state {
            State::Magic => {
                if self.tok != MAGIC {
                    return Err(ReadError::BadMagic { offset });
                }
                self.state = State::NodeOpen;
                self.check_nar_depth()?;
            }
            State::NodeOpen => self.expect(b"(", State::TypeTag)?,
            State::TypeTag => self.expect(b"type", State::TypeValue)?,
            State::TypeValue => match self.tok.as_slice() {
                b"regular" => {
                    self.executable = false;
                    self.state = State::RegularTag;
                }
                b"symlink" => self.state = State::TargetTag,
                b"directory" => {
                    let max = self.limits.max_depth;
                    if self.dirs.len() >= max {
                        return Err(ReadError::TooDeep { offset, max });
                    }
                    let name = self.dirs.last().map(|d| d.last.as_slice());
                    sink.event(Event::DirectoryStart { name })
                        .map_err(wrap(offset))?;
                    self.dirs.push(Dir::default());
                    self.state = State::DirItem;
                }
                got => {
                    return Err(ReadError::UnknownType {
                        offset,
                        got: got.to_vec(),
                    });
                }
            },
            State::RegularTag => match self.tok.as_slice() {
                b"executable" => {
                    self.executable = true;
                    self.state = State::ExecutableValue;
                }
                b"contents" => self.state = State::ContentsLen,
                _ => return Err(self.unexpected()),
            },
            // `on_len` let only the empty string through.
            State::ExecutableValue => self.state = State::ContentsTag,
            State::ContentsTag => match self.tok.as_slice() {
                b"contents" => self.state = State::ContentsLen,
                b"executable" => return Err(ReadError::DuplicateExecutable { offset }),
                _ => return Err(self.unexpected()),
            },
            State::NodeClose => {
                self.expect(b")", State::NodeClose)?;
                self.close_node();
            }
            State::TargetTag => self.expect(b"target", State::TargetValue)?,
            State::TargetValue => {
                if self.tok.contains(&0) {
                    return Err(ReadError::TargetContainsNul {
                        offset,
                        target: self.tok.clone(),
                    });
                }
                let name = self.dirs.last().map(|d| d.last.as_slice());
                sink.event(Event::Symlink {
                    name,
                    target: &self.tok,
                })
                .map_err(wrap(offset))?;
                self.state = State::NodeClose;
            }
            State::DirItem => match self.tok.as_slice() {
                b"entry" => {
                    let max = self.limits.max_entries_per_directory;
                    let Some(dir) = self.dirs.last_mut() else {
                        return Err(self.unexpected());
                    };
                    dir.entries = dir.entries.saturating_add(1);
                    if dir.entries > max {
                        return Err(ReadError::TooManyEntries { offset, max });
                    }
                    self.state = State::EntryOpen;
                }
                b")" => {
                    self.dirs.pop();
                    sink.event(Event::DirectoryEnd).map_err(wrap(offset))?;
                    self.close_node();
                }
                _ => return Err(self.unexpected()),
            },
            State::EntryOpen => self.expect(b"(", State::NameTag)?,
            State::NameTag => self.expect(b"name", State::NameValue)?,
            State::NameValue => {
                if !valid_name(&self.tok) {
                    return Err(ReadError::InvalidName {
                        offset,
                        name: self.tok.clone(),
                    });
                }
                let Some(dir) = self.dirs.last_mut() else {
                    return Err(self.unexpected());
                };
                if dir.entries > 1 {
                    match self.tok.as_slice().cmp(&dir.last) {
                        std::cmp::Ordering::Greater => {}
                        std::cmp::Ordering::Equal => {
                            return Err(ReadError::DuplicateEntry {
                                offset,
                                name: self.tok.clone(),
                            });
                        }
                        std::cmp::Ordering::Less => {
                            return Err(ReadError::UnsortedEntry {
                                offset,
                                name: self.tok.clone(),
                                previous: dir.last.clone(),
                            });
                        }
                    }
                }
                mem::swap(&mut dir.last, &mut self.tok);
                self.state = State::NodeTag;
            }
            State::NodeTag => {
                self.expect(b"node", State::NodeOpen)?;
                self.check_nar_depth()?;
            }
            State::EntryClose => self.expect(b")", State::DirItem)?,
            State::ContentsLen | State::Contents | State::Done | State::Failed => {
                return Err(self.unexpected());
            }
        }
        Ok(())
    }
}

/// Wraps a sink's error with the offset of the input behind the event.
fn wrap(offset: u64) -> impl FnOnce(SinkError) -> ReadError {
    move |source| ReadError::Sink { offset, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{OwnedEvent, Recorder};

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
        out.resize(out.len().next_multiple_of(8), 0);
    }

    /// A directory with an empty executable file `e` and a 9-byte file `f`.
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        for s in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            b"e",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"executable",
            b"",
            b"contents",
            b"",
            b")",
            b")",
            b"entry",
            b"(",
            b"name",
            b"f",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"123456789",
            b")",
            b")",
            b")",
        ] {
            string(&mut out, s);
        }
        out
    }

    fn parse_in_chunks(bytes: &[u8], chunk: usize) -> Recorder {
        let mut parser = Parser::new(Limits::default());
        let mut rec = Recorder::default();
        for piece in bytes.chunks(chunk) {
            assert_eq!(parser.push(piece, &mut rec).unwrap(), piece.len());
        }
        assert_eq!(parser.finish().unwrap(), bytes.len() as u64);
        rec
    }

    #[test]
    fn emits_the_events_of_the_grammar() {
        let rec = parse_in_chunks(&sample(), usize::MAX);
        assert_eq!(
            rec.events,
            [
                OwnedEvent::DirectoryStart { name: None },
                OwnedEvent::FileStart {
                    name: Some(b"e".to_vec()),
                    executable: true,
                    size: 0
                },
                OwnedEvent::FileEnd,
                OwnedEvent::FileStart {
                    name: Some(b"f".to_vec()),
                    executable: false,
                    size: 9
                },
                OwnedEvent::FileData(b"123456789".to_vec()),
                OwnedEvent::FileEnd,
                OwnedEvent::DirectoryEnd,
            ]
        );
    }

    #[test]
    fn splitting_does_not_change_the_events() {
        let bytes = sample();
        let whole = parse_in_chunks(&bytes, usize::MAX);
        for chunk in 1..=17 {
            assert_eq!(parse_in_chunks(&bytes, chunk), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn contents_are_slices_of_the_input() {
        // With the input in one piece, the 9 content bytes arrive as one slice.
        struct Chunks(Vec<usize>);
        impl Sink for Chunks {
            fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
                if let Event::FileData(d) = event {
                    self.0.push(d.len());
                }
                Ok(())
            }
        }
        let mut chunks = Chunks(Vec::new());
        let mut parser = Parser::new(Limits::default());
        parser.push(&sample(), &mut chunks).unwrap();
        assert!(parser.is_done());
        assert_eq!(chunks.0, [9]);
    }

    #[test]
    fn stops_at_the_end_and_refuses_use_after_error() {
        let mut bytes = sample();
        let len = bytes.len();
        bytes.extend_from_slice(b"junk");
        let mut parser = Parser::new(Limits::default());
        assert_eq!(parser.push(&bytes, &mut Recorder::default()).unwrap(), len);
        assert_eq!(parser.offset(), len as u64);

        let mut parser = Parser::new(Limits::default());
        let e = parser.push(b"\x01\0\0\0\0\0\0\0", &mut Recorder::default());
        assert!(matches!(e, Err(ReadError::BadMagic { offset: 0 })));
        let e = parser.push(b"", &mut Recorder::default());
        assert!(matches!(e, Err(ReadError::Poisoned { offset: 8 })));
    }

    #[test]
    fn padding_helper() {
        assert_eq!([0, 1, 7, 8, 9, u64::MAX].map(padding), [0, 7, 1, 0, 7, 1]);
    }
}
