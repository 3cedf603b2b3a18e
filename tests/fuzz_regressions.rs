//! Hostile NARs, and inputs the fuzz targets (`fuzz/`) found or were seeded with, as regression
//! tests.
//!
//! Every expected error variant and byte offset is derived from the NAR format itself (see the
//! `nar` module docs: an offset is the start of the string, i.e. of its 8-byte length field, at
//! which the problem is found; `Truncated` points at the end of the input): the archives are
//! built here string by string, and the offsets are counted while building them.
//!
//! Files in `tests/data/fuzz/` are named `<fuzz target>-<what>`; every one of them is replayed
//! through the checks of its target by [`fuzz_inputs_keep_their_properties`].

use std::path::Path;

use nix_ingest::Limits;
use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink, SinkError, replay};
use nix_ingest::git::GitHasher;
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::nar::{self, NarWriter, Parser, ReadError};

/// An archive built string by string, remembering where each string starts.
#[derive(Default)]
struct Nar {
    bytes: Vec<u8>,
}

impl Nar {
    fn new() -> Self {
        let mut n = Nar::default();
        n.s(b"nix-archive-1");
        n
    }

    /// Appends a string (length, bytes, zero padding) and returns where it starts.
    fn s(&mut self, s: &[u8]) -> u64 {
        let at = self.len();
        self.bytes
            .extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(s);
        self.bytes.resize(self.bytes.len().next_multiple_of(8), 0);
        at
    }

    fn all(&mut self, strings: &[&[u8]]) -> u64 {
        let at = self.len();
        for s in strings {
            self.s(s);
        }
        at
    }

    /// Appends a bare length field (with no bytes after it) and returns where it starts.
    fn len_field(&mut self, len: u64) -> u64 {
        let at = self.len();
        self.bytes.extend_from_slice(&len.to_le_bytes());
        at
    }

    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

fn parse(bytes: &[u8], limits: &Limits) -> (Result<u64, ReadError>, Recorder) {
    let mut rec = Recorder::default();
    let r = nar::read(bytes, &mut rec, limits);
    (r, rec)
}

/// The verdict as text, for comparing results that hold `io::Error`s.
fn verdict(r: &Result<u64, ReadError>) -> String {
    format!("{r:?}")
}

/// Pushes `bytes` in pieces of `chunk` bytes, reporting bytes after the archive as `nar::read`
/// does.
fn push_in_chunks(
    bytes: &[u8],
    chunk: usize,
    limits: Limits,
) -> (Result<u64, ReadError>, Recorder) {
    let mut rec = Recorder::default();
    let mut parser = Parser::new(limits);
    for piece in bytes.chunks(chunk.max(1)) {
        match parser.push(piece, &mut rec) {
            Ok(n) if n < piece.len() => {
                let offset = parser.offset();
                return (Err(ReadError::TrailingData { offset }), rec);
            }
            Ok(_) => {}
            Err(e) => return (Err(e), rec),
        }
    }
    (parser.finish(), rec)
}

// ---------------------------------------------------------------------------------------------
// Lengths read from the input are never trusted
// ---------------------------------------------------------------------------------------------

#[test]
fn magic_of_length_u64_max_is_bad_magic_at_0() {
    let mut n = Nar::default();
    n.len_field(u64::MAX);
    n.bytes.extend_from_slice(b"nix-archive-1\0\0\0");
    let (r, _) = parse(&n.bytes, &Limits::default());
    assert!(matches!(r, Err(ReadError::BadMagic { offset: 0 })), "{r:?}");
}

#[test]
fn keyword_of_length_u64_max_is_refused_without_reading_it() {
    let mut n = Nar::new();
    let at = n.len_field(u64::MAX);
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::TagTooLong { offset, len, .. }) => assert_eq!((offset, len), (at, u64::MAX)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn name_of_length_u64_max_is_too_long_at_its_length_field() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"directory", b"entry", b"(", b"name"]);
    let at = n.len_field(u64::MAX);
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::NameTooLong { offset, len, max }) => {
            assert_eq!((offset, len, max), (at, u64::MAX, 255))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn target_of_length_u64_max_is_too_long_at_its_length_field() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"symlink", b"target"]);
    let at = n.len_field(u64::MAX);
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::TargetTooLong { offset, len, max }) => {
            assert_eq!((offset, len, max), (at, u64::MAX, 4095))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn executable_marker_of_length_u64_max_is_refused() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"regular", b"executable"]);
    let at = n.len_field(u64::MAX);
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::ExecutableNotEmpty { offset, len }) => {
            assert_eq!((offset, len), (at, u64::MAX))
        }
        other => panic!("{other:?}"),
    }
}

/// A file announcing u64::MAX bytes: the announcement passes through (a NAR may hold any size),
/// nothing is allocated for it, and the missing contents make the archive truncated at the end
/// of the input.
#[test]
fn contents_of_length_u64_max_are_streamed_then_truncated() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"regular", b"contents"]);
    n.len_field(u64::MAX);
    n.bytes.extend_from_slice(&[0xAA; 1000]);
    let (r, rec) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::Truncated { offset }) => assert_eq!(offset, n.len()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rec.events,
        [
            OwnedEvent::FileStart {
                name: None,
                executable: false,
                size: u64::MAX
            },
            OwnedEvent::FileData(vec![0xAA; 1000]),
        ]
    );
}

/// The same with a total-size limit: refused at the length field, before any content.
#[test]
fn contents_over_the_total_size_limit_are_refused_at_their_length_field() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"regular", b"contents"]);
    let at = n.len_field(1 << 30);
    let limits = Limits {
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    let (r, rec) = parse(&n.bytes, &limits);
    match r {
        Err(ReadError::TotalSizeExceeded { offset, size, max }) => {
            assert_eq!((offset, size, max), (at, 1 << 30, 1 << 20))
        }
        other => panic!("{other:?}"),
    }
    assert!(rec.events.is_empty());
}

/// Two files whose sizes add up past u64::MAX: the sum overflows, which the limit check must
/// treat as over any limit (default: u64::MAX) rather than wrap.
#[test]
fn sizes_adding_up_past_u64_max_are_refused() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"directory"]);
    n.all(&[
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
    ]);
    n.s(&[7; 8]);
    n.all(&[b")", b")"]);
    n.all(&[
        b"entry",
        b"(",
        b"name",
        b"b",
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
    ]);
    let at = n.len_field(u64::MAX - 7);
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::TotalSizeExceeded { offset, size, max }) => {
            assert_eq!((offset, size, max), (at, u64::MAX - 7, u64::MAX))
        }
        other => panic!("{other:?}"),
    }
}

/// A declared 1 GiB file cut off after a few bytes: truncated at the end of the input, with
/// only the bytes present streamed.
#[test]
fn a_truncated_one_gib_file_is_truncated_at_the_end_of_the_input() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"regular", b"contents"]);
    n.len_field(1 << 30);
    n.bytes.extend_from_slice(&[1; 4096]);
    for chunk in [1, 7, 4096, usize::MAX] {
        let (r, rec) = push_in_chunks(&n.bytes, chunk, Limits::default());
        match r {
            Err(ReadError::Truncated { offset }) => assert_eq!(offset, n.len()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            rec.events.get(1),
            Some(&OwnedEvent::FileData(vec![1; 4096]))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Depth
// ---------------------------------------------------------------------------------------------

/// `levels` nested directories, each the single entry `a` of its parent, never closed; returns
/// the archive and where the `directory` type string of each level starts.
fn nested(levels: usize) -> (Nar, Vec<u64>) {
    let mut n = Nar::new();
    n.all(&[b"(", b"type"]);
    let mut at = vec![n.s(b"directory")];
    for _ in 1..levels {
        n.all(&[b"entry", b"(", b"name", b"a", b"node", b"(", b"type"]);
        at.push(n.s(b"directory"));
    }
    (n, at)
}

/// 100,000 nested directories: with the default limits refused by Nix's NAR nesting rule at the
/// first object 64 levels down (its `"("`, 16 bytes before its `directory` string), as
/// `nix-store --restore` of Nix 2.34.8 refuses it.
#[test]
fn one_hundred_thousand_nested_directories_are_too_deep_for_nix() {
    let (n, at) = nested(100_000);
    let (r, rec) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::NarTooDeep { offset, max }) => assert_eq!((offset, max), (at[64] - 32, 64)),
        other => panic!("{other:?}"),
    }
    assert_eq!(rec.events.len(), 64);
}

/// 100,000 nested directories with Nix 2.26's rule (no NAR nesting limit): refused at the first
/// one deeper than `max_depth` (4096), without recursion (this runs on the test thread's ordinary
/// stack).
#[test]
fn one_hundred_thousand_nested_directories_are_too_deep() {
    let (n, at) = nested(100_000);
    let (r, rec) = parse(&n.bytes, &Limits::NIX_2_26);
    match r {
        Err(ReadError::TooDeep { offset, max }) => assert_eq!((offset, max), (at[4096], 4096)),
        other => panic!("{other:?}"),
    }
    assert_eq!(rec.events.len(), 4096);
}

/// Exactly at the limit is fine: 4096 levels, closed, parse with Nix 2.26's rule.
#[test]
fn nesting_at_the_limit_is_accepted() {
    let (mut n, _) = nested(4096);
    n.s(b")");
    for _ in 1..4096 {
        n.all(&[b")", b")"]);
    }
    let (r, rec) = parse(&n.bytes, &Limits::NIX_2_26);
    assert_eq!(r.ok(), Some(n.len()));
    assert_eq!(rec.events.len(), 2 * 4096);
    // The git hasher and the NAR writer take it too, without recursion.
    let mut git = GitHasher::new(Algorithm::Sha1);
    replay(&rec.events, &mut git).unwrap();
    git.finish().unwrap();
    let mut w = NarWriter::new(Vec::new()).max_depth(usize::MAX);
    replay(&rec.events, &mut w).unwrap();
    assert_eq!(w.finish().unwrap(), n.bytes);
    // The default writer follows Nix 2.34: the directory 64 levels down is refused.
    let mut w = NarWriter::new(Vec::new());
    let e = replay(&rec.events, &mut w).unwrap_err();
    assert!(matches!(e, SinkError::NarTooDeep { max: 64 }), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------------------------

#[test]
fn garbage_is_refused_with_an_offset_inside_the_input() {
    // A fixed pseudo-random generator (xorshift), so the test is deterministic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for len in [0usize, 1, 7, 8, 13, 64, 1000, 1 << 16] {
        let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let (r, _) = parse(&garbage, &Limits::default());
        let e = r.unwrap_err();
        assert!(e.offset() <= len as u64, "{e}");
        // Bytes shorter than a length field are truncated; others cannot be a magic string.
        if len < 8 {
            assert!(matches!(e, ReadError::Truncated { .. }), "{e}");
        } else {
            assert!(matches!(e, ReadError::BadMagic { offset: 0 }), "{e}");
        }
    }
    // Garbage after a valid prefix: the wrong keyword is named at its offset.
    let mut n = Nar::new();
    n.s(b"(");
    let at = n.s(b"\xff\xfe garbage");
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::UnexpectedTag { offset, got, .. }) => {
            assert_eq!((offset, got.as_slice()), (at, &b"\xff\xfe garbage"[..]))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_zero_padding_is_refused_at_the_offending_byte() {
    let mut n = Nar::new();
    n.all(&[b"(", b"type", b"regular", b"contents"]);
    let at = n.s(b"abc");
    // "abc" is followed by 5 padding bytes; spoil the third.
    let bad = at + 8 + 3 + 2;
    n.bytes[bad as usize] = 0x20;
    n.s(b")");
    let (r, _) = parse(&n.bytes, &Limits::default());
    match r {
        Err(ReadError::NonZeroPadding { offset, byte }) => assert_eq!((offset, byte), (bad, 0x20)),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// What the fuzz targets found or were seeded with
// ---------------------------------------------------------------------------------------------

/// The checks of the `nar_parse`, `nar_roundtrip` and `nar_to_git` targets on one archive.
fn nar_properties(name: &str, data: &[u8], limits: Limits) {
    let (whole, rec) = push_in_chunks(data, data.len(), limits);
    for chunk in 1..=17 {
        let (split, rec_split) = push_in_chunks(data, chunk, limits);
        assert_eq!(
            verdict(&whole),
            verdict(&split),
            "{name}: {chunk}-byte pieces"
        );
        assert_eq!(rec, rec_split, "{name}: {chunk}-byte pieces");
    }
    let (read, rec_read) = parse(data, &limits);
    assert_eq!(verdict(&whole), verdict(&read), "{name}: nar::read");
    assert_eq!(rec, rec_read, "{name}: nar::read");
    match &whole {
        Ok(len) => {
            assert_eq!(*len, data.len() as u64, "{name}");
            let mut w = NarWriter::new(Vec::new());
            replay(&rec.events, &mut w).unwrap();
            assert_eq!(w.finish().unwrap(), data, "{name}: re-serialised");
            let mut git = GitHasher::new(Algorithm::Sha1);
            replay(&rec.events, &mut git).unwrap();
            git.finish().unwrap();
        }
        Err(ReadError::Truncated { offset }) => assert_eq!(*offset, data.len() as u64, "{name}"),
        Err(e) => assert!(e.offset() < data.len() as u64, "{name}: {e}"),
    }
}

#[test]
fn fuzz_inputs_keep_their_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        // The `nar_parse` target reads its first byte as control (split size, tight limits).
        if let Some(rest) = name.strip_prefix("nar_parse-") {
            let (ctl, nar) = data.split_first().expect("a control byte");
            let limits = if ctl & 0x80 != 0 {
                TIGHT
            } else {
                Limits::default()
            };
            nar_properties(rest, nar, limits);
            seen += 1;
        } else if name.starts_with("nar_") || name.starts_with("verify-") {
            nar_properties(&name, &data, Limits::default());
            seen += 1;
        }
    }
    // The golden NARs are the targets' seeds.
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nar")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nar") {
            let data = std::fs::read(&path).unwrap();
            nar_properties(&path.display().to_string(), &data, Limits::default());
            nar_properties(&path.display().to_string(), &data, TIGHT);
            seen += 1;
        }
    }
    assert!(seen > 0);
}

/// The `nar_parse` target's tight limits.
const TIGHT: Limits = Limits {
    max_depth: 3,
    max_nar_depth: 3,
    max_name_len: 8,
    max_target_len: 8,
    max_entries_per_directory: 4,
    max_entries_total: 16,
    max_total_size: 64,
};

// ---------------------------------------------------------------------------------------------
// Sinks fed by a broken source
// ---------------------------------------------------------------------------------------------

/// A foreign source announcing u64::MAX bytes and sending more than that cannot make a sink
/// wrap its count: each refuses with a size mismatch.
#[test]
fn sinks_refuse_data_past_the_announced_size() {
    fn check<S: Sink>(mut sink: S) {
        sink.event(Event::FileStart {
            name: None,
            executable: false,
            size: 3,
        })
        .unwrap();
        sink.event(Event::FileData(b"abc")).unwrap();
        let e = sink.event(Event::FileData(b"d")).unwrap_err();
        assert!(
            matches!(
                e,
                SinkError::SizeMismatch {
                    declared: 3,
                    actual: 4
                }
            ),
            "{e:?}"
        );
    }
    check(NarWriter::new(Vec::new()));
    check(GitHasher::new(Algorithm::Sha1));
    check(nix_ingest::flat::FlatHasher::new(Algorithm::Sha256));
    check(nar::NarHasher::new(Algorithm::Sha256));
}

/// The NAR hash of a golden archive is the hash of its bytes, through parse and re-hash.
#[test]
fn golden_nar_hashes_through_parse() {
    let data =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nar/t1.nar")).unwrap();
    let (r, rec) = parse(&data, &Limits::default());
    r.unwrap();
    let mut h = nar::NarHasher::new(Algorithm::Sha256);
    replay(&rec.events, &mut h).unwrap();
    assert_eq!(h.finish().unwrap(), Hash::digest(Algorithm::Sha256, &data));
}

// ---------------------------------------------------------------------------------------------
// A hostile git object store
// ---------------------------------------------------------------------------------------------

mod object_store {
    use std::cell::Cell;
    use std::io::Read;
    use std::rc::Rc;

    use nix_ingest::Limits;
    use nix_ingest::event::Recorder;
    use nix_ingest::git::events;
    use nix_ingest::git::source::{Object, ObjectError as ReadError, ObjectSource};
    use nix_ingest::git::{Mode, ObjectKind};
    use nix_ingest::hash::{Algorithm, Hash};

    /// Serves, for any id, an object of `kind` announcing `size` bytes of zeros, and counts the
    /// body bytes read: what a forged loose object (a few KiB of zlib) can claim.
    struct Forged {
        kind: ObjectKind,
        size: u64,
        read: Rc<Cell<u64>>,
    }

    struct Zeros {
        left: u64,
        read: Rc<Cell<u64>>,
    }

    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = usize::try_from(self.left).map_or(buf.len(), |l| l.min(buf.len()));
            buf[..n].fill(0);
            self.left -= n as u64;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl ObjectSource for Forged {
        fn read(&mut self, _id: &Hash) -> Result<Object<'_>, ReadError> {
            Ok(Object {
                kind: self.kind,
                size: self.size,
                body: Box::new(Zeros {
                    left: self.size,
                    read: self.read.clone(),
                }),
            })
        }
    }

    /// Restores `root` (any id) from `source`, which must fail; returns the error.
    fn restore_fails<O: ObjectSource>(
        source: &mut O,
        mode: Mode,
        limits: &Limits,
    ) -> events::RestoreError {
        let root = Hash::digest(Algorithm::Sha1, b"any id");
        let mut rec = Recorder::default();
        match events::to_events(&root, mode, source, &mut rec, limits) {
            Ok(()) => panic!("a forged object restored"),
            Err(e) => e,
        }
    }

    /// Restores a [`Forged`] object: the error, and how many body bytes were read.
    fn restore_forged(
        kind: ObjectKind,
        size: u64,
        mode: Mode,
        limits: &Limits,
    ) -> (events::RestoreError, u64) {
        let read = Rc::new(Cell::new(0));
        let mut source = Forged {
            kind,
            size,
            read: read.clone(),
        };
        let e = restore_fails(&mut source, mode, limits);
        (e, read.get())
    }

    /// A symlink blob longer than a target may be is refused from its header, unread.
    #[test]
    fn an_oversized_symlink_blob_is_refused_unread() {
        let (e, read) =
            restore_forged(ObjectKind::Blob, 1 << 40, Mode::Symlink, &Limits::default());
        assert!(
            matches!(
                e,
                events::RestoreError::BadSymlinkTarget {
                    problem: events::TargetProblem::TooLong {
                        len: 1099511627776,
                        max: 4095
                    },
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(read, 0);
    }

    /// A file blob over the total size limit is refused from its header, unread.
    #[test]
    fn a_file_blob_over_the_total_size_is_refused_unread() {
        let limits = Limits {
            max_total_size: 1 << 20,
            ..Limits::default()
        };
        let (e, read) = restore_forged(ObjectKind::Blob, 1 << 40, Mode::File, &limits);
        assert!(
            matches!(
                e,
                events::RestoreError::Limit {
                    what: "total size",
                    limit: 1048576,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(read, 0);
    }

    /// A tree over the largest size the limits allow is refused from its header, unread: with
    /// the default limits, 1,000,000 entries of at most `100755 ` (7) + a 255-byte name + NUL
    /// (1) + a 20-byte SHA-1 id = 283 bytes each. The 2,000,000,000 bytes are what a 1.9 MB
    /// zlib-compressed loose object was found to claim.
    #[test]
    fn a_tree_over_the_largest_canonical_size_is_refused_unread() {
        for size in [1 << 40, 2_000_000_000, 283_000_001] {
            let (e, read) =
                restore_forged(ObjectKind::Tree, size, Mode::Directory, &Limits::default());
            assert!(
                matches!(
                    e,
                    events::RestoreError::Limit {
                        what: "tree size",
                        limit: 283_000_000,
                        ..
                    }
                ),
                "{size}: {e}"
            );
            assert_eq!(read, 0, "{size}");
        }
    }

    /// A forged tree announcing 100 MiB of zeros (under the largest canonical size, so its
    /// header passes): malformed from its first byte — a mode is octal digits — so it is
    /// refused after one buffer (64 KiB), not read and held whole before its hash is checked.
    #[test]
    fn a_malformed_forged_tree_is_refused_without_reading_it_whole() {
        let (e, read) = restore_forged(
            ObjectKind::Tree,
            100 << 20,
            Mode::Directory,
            &Limits::default(),
        );
        assert!(
            matches!(e, events::RestoreError::BadTree { offset: 0, reason, .. } if reason.contains("mode")),
            "{e}"
        );
        assert!(read <= 1 << 16, "read {read} bytes of a malformed tree");
    }

    /// Serves, for any id, a tree announcing `size` bytes of well-formed entries in git order
    /// (`100644 n0000000000\0` + a 20-byte id, 38 bytes each), generated as read and counted.
    struct EndlessTree {
        size: u64,
        read: Rc<Cell<u64>>,
    }

    struct Entries {
        next: u64,
        pending: Vec<u8>,
        read: Rc<Cell<u64>>,
    }

    impl Read for Entries {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                self.pending = format!("100644 n{:010}\0", self.next).into_bytes();
                self.pending.extend_from_slice(&[7; 20]);
                self.next += 1;
            }
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl ObjectSource for EndlessTree {
        fn read(&mut self, _id: &Hash) -> Result<Object<'_>, ReadError> {
            Ok(Object {
                kind: ObjectKind::Tree,
                size: self.size,
                body: Box::new(Entries {
                    next: 0,
                    pending: Vec::new(),
                    read: self.read.clone(),
                }),
            })
        }
    }

    /// Well-formed entries past the per-directory and total entry limits are refused as they
    /// stream: the tree (announcing as much as the limits allow: 1,000 or 1,000,000 entries of
    /// 283 bytes) is read only up to the entry that crosses the limit (1,000 entries of 38
    /// bytes), give or take a buffer.
    #[test]
    fn a_forged_tree_of_endless_entries_is_refused_at_the_entry_limit() {
        for (limits, size, what) in [
            (
                Limits {
                    max_entries_per_directory: 1000,
                    ..Limits::default()
                },
                1000 * 283,
                "entries per directory",
            ),
            (
                Limits {
                    max_entries_total: 1000,
                    ..Limits::default()
                },
                1_000_000 * 283,
                "total entries",
            ),
        ] {
            let read = Rc::new(Cell::new(0));
            let mut source = EndlessTree {
                size,
                read: read.clone(),
            };
            let e = restore_fails(&mut source, Mode::Directory, &limits);
            assert!(
                matches!(e, events::RestoreError::Limit { what: w, limit: 1000, .. } if w == what),
                "{e}"
            );
            assert!(read.get() <= 1000 * 38 + (1 << 16), "read {}", read.get());
        }
    }
}
