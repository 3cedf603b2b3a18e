//! Malformed and hostile NARs: every case asserts the exact error and the byte offset, computed
//! from how the input was built.

use nix_ingest::Limits;
use nix_ingest::event::{Event, Recorder, Sink, SinkError};
use nix_ingest::nar::{self, Parser, ReadError};
use nix_ingest_test_support as support;

use support::NarBytes as Nar;

/// Pushes `bytes` in chunks of `chunk` bytes; bytes past the archive count as trailing data.
fn push_in_chunks(bytes: &[u8], chunk: usize, limits: Limits) -> Result<u64, ReadError> {
    let mut parser = Parser::new(limits);
    let mut rec = Recorder::default();
    for piece in bytes.chunks(chunk) {
        if parser.push(piece, &mut rec)? < piece.len() {
            return Err(ReadError::TrailingData {
                offset: parser.offset(),
            });
        }
    }
    parser.finish()
}

/// The error for `bytes`, checked to be the same via `nar::read` and pushes of 1, 3 and 8 bytes.
fn err_with(bytes: &[u8], limits: Limits) -> ReadError {
    let mut rec = Recorder::default();
    let e = nar::read(bytes, &mut rec, &limits).expect_err("input must be refused");
    for chunk in [1, 3, 8, bytes.len().max(1)] {
        let e2 = push_in_chunks(bytes, chunk, limits).expect_err("input must be refused");
        assert_eq!(format!("{e:?}"), format!("{e2:?}"), "chunk size {chunk}");
    }
    e
}

fn err(bytes: &[u8]) -> ReadError {
    err_with(bytes, Limits::default())
}

fn ok_with(bytes: &[u8], limits: Limits) -> u64 {
    let mut rec = Recorder::default();
    nar::read(bytes, &mut rec, &limits).expect("input must be accepted")
}

#[test]
fn truncation_at_every_prefix() {
    // A real `nix-store --dump` covering every construct (see tests/data/nar/README.md).
    let nar = include_bytes!("data/nar/t1.nar");
    assert_eq!(ok_with(nar, Limits::default()), nar.len() as u64);
    for len in 0..nar.len() {
        let mut parser = Parser::new(Limits::default());
        let used = parser
            .push(&nar[..len], &mut Recorder::default())
            .unwrap_or_else(|e| panic!("prefix {len}: {e}"));
        assert_eq!(used, len);
        assert!(!parser.is_done());
        match parser.finish() {
            Err(ReadError::Truncated { offset }) => assert_eq!(offset, len as u64),
            other => panic!("prefix {len}: {other:?}"),
        }
    }
    // The blocking reader says the same, on a sample of prefixes.
    for len in (0..nar.len()).step_by(37) {
        let e = nar::read(&nar[..len], &mut Recorder::default(), &Limits::default()).unwrap_err();
        assert!(
            matches!(e, ReadError::Truncated { offset } if offset == len as u64),
            "{e:?}"
        );
    }
}

#[test]
fn bad_magic() {
    let mut n = Nar::new();
    n.s(b"nix-archive-2")
        .ss(&[b"(", b"type", b"symlink", b"target", b"x", b")"]);
    assert!(matches!(err(n.bytes()), ReadError::BadMagic { offset: 0 }));

    let mut n = Nar::new();
    n.s(b"nix-archive-");
    assert!(matches!(err(n.bytes()), ReadError::BadMagic { offset: 0 }));

    // A huge length is refused before anything is read or allocated.
    let mut n = Nar::new();
    n.n(u64::MAX).raw(b"nix-archive-1");
    assert!(matches!(err(n.bytes()), ReadError::BadMagic { offset: 0 }));

    assert!(matches!(
        err(b"\x0d\0\0"),
        ReadError::Truncated { offset: 3 }
    ));
    assert!(matches!(err(b""), ReadError::Truncated { offset: 0 }));

    // Non-zero padding after the magic: bytes 8..21 are the text, 21..24 the padding.
    let mut n = Nar::magic();
    n.bytes_mut()[22] = 7;
    assert!(matches!(
        err(n.bytes()),
        ReadError::NonZeroPadding {
            offset: 22,
            byte: 7
        }
    ));
}

fn assert_unexpected(bytes: &[u8], at: u64, expected_tag: &str, found: &[u8]) {
    match err(bytes) {
        ReadError::UnexpectedTag {
            offset,
            expected,
            got,
        } => {
            assert_eq!(offset, at);
            assert_eq!(expected, expected_tag);
            assert_eq!(got, found);
        }
        other => panic!("expected UnexpectedTag, got {other:?}"),
    }
}

#[test]
fn unknown_tags() {
    // "[" where the root node's "(" belongs: right after the 24-byte magic string.
    let mut n = Nar::magic();
    n.s(b"[");
    assert_unexpected(n.bytes(), 24, "\"(\"", b"[");

    let mut n = Nar::magic();
    n.s(b"(");
    let at = n.pos();
    n.ss(&[b"kind", b"regular"]);
    assert_unexpected(n.bytes(), at, "\"type\"", b"kind");

    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular"]);
    let at = n.pos();
    n.ss(&[b"contentz", b""]);
    assert_unexpected(n.bytes(), at, "\"executable\" or \"contents\"", b"contentz");

    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink"]);
    let at = n.pos();
    n.ss(&[b"tarjet", b"x"]);
    assert_unexpected(n.bytes(), at, "\"target\"", b"tarjet");

    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target", b"x"]);
    let at = n.pos();
    n.s(b"(");
    assert_unexpected(n.bytes(), at, "\")\"", b"(");

    // Nix 2.26 refuses the executable marker after the contents too ("expected tag ')'").
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"contents", b"hi"]);
    let at = n.pos();
    n.ss(&[b"executable", b"", b")"]);
    assert_unexpected(n.bytes(), at, "\")\"", b"executable");

    let mut n = Nar::root_dir();
    let at = n.pos();
    n.s(b"entri");
    assert_unexpected(n.bytes(), at, "\"entry\" or \")\"", b"entri");

    let mut n = Nar::root_dir();
    let at = n.pos();
    n.s(b"contents");
    assert_unexpected(n.bytes(), at, "\"entry\" or \")\"", b"contents");

    let mut n = Nar::root_dir();
    n.s(b"entry");
    let at = n.pos();
    n.s(b"{");
    assert_unexpected(n.bytes(), at, "\"(\"", b"{");

    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"("]);
    let at = n.pos();
    n.s(b"nam");
    assert_unexpected(n.bytes(), at, "\"name\"", b"nam");

    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"a"]);
    let at = n.pos();
    n.s(b"nod");
    assert_unexpected(n.bytes(), at, "\"node\"", b"nod");

    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"a", b"node"]);
    n.ss(&[b"(", b"type", b"symlink", b"target", b"x", b")"]);
    let at = n.pos();
    n.s(b"entry");
    assert_unexpected(n.bytes(), at, "\")\"", b"entry");

    // A node's "(" inside an entry.
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"a", b"node"]);
    let at = n.pos();
    n.s(b")");
    assert_unexpected(n.bytes(), at, "\"(\"", b")");
}

#[test]
fn unknown_types() {
    for ty in [&b"fifo"[..], b"Regular", b"", b"directory\0"] {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type"]);
        let at = n.pos();
        n.s(ty);
        match err(n.bytes()) {
            ReadError::UnknownType { offset, got } => {
                assert_eq!(offset, at);
                assert_eq!(got, ty);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn overlong_keywords_are_refused_unread() {
    for len in [65, 1 << 40, u64::MAX] {
        let mut n = Nar::magic();
        n.s(b"(");
        let at = n.pos();
        n.n(len).raw(b"type\0\0\0\0");
        match err(n.bytes()) {
            ReadError::TagTooLong {
                offset,
                expected,
                len: l,
            } => {
                assert_eq!((offset, expected, l), (at, "\"type\"", len));
            }
            other => panic!("{other:?}"),
        }
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type"]);
        let at = n.pos();
        n.n(len);
        assert!(matches!(err(n.bytes()), ReadError::TagTooLong { offset, .. } if offset == at));
    }
}

#[test]
fn unsorted_and_duplicate_names() {
    let mut n = Nar::root_dir();
    n.link_entry(b"b");
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.s(b"a");
    match err(n.bytes()) {
        ReadError::UnsortedEntry {
            offset,
            name,
            previous,
        } => {
            assert_eq!(offset, at);
            assert_eq!(name, b"a");
            assert_eq!(previous, b"b");
        }
        other => panic!("{other:?}"),
    }

    // Byte order, not locale order: "B" (0x42) sorts before "a" (0x61); "a" before "a\x01".
    let mut n = Nar::root_dir();
    n.link_entry(b"a").link_entry(b"a\x01");
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.s(b"B");
    assert!(matches!(err(n.bytes()), ReadError::UnsortedEntry { offset, .. } if offset == at));

    let mut n = Nar::root_dir();
    n.link_entry(b"a").link_entry(b"same");
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.s(b"same");
    match err(n.bytes()) {
        ReadError::DuplicateEntry { offset, name } => {
            assert_eq!(offset, at);
            assert_eq!(name, b"same");
        }
        other => panic!("{other:?}"),
    }

    // Order is per directory: a subdirectory starts afresh.
    let mut n = Nar::root_dir();
    n.ss(&[
        b"entry",
        b"(",
        b"name",
        b"z",
        b"node",
        b"(",
        b"type",
        b"directory",
    ]);
    n.link_entry(b"a");
    n.ss(&[b")", b")"]);
    n.s(b")");
    assert_eq!(ok_with(n.bytes(), Limits::default()), n.pos());
}

#[test]
fn invalid_names() {
    for name in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b", b"\0"] {
        let mut n = Nar::root_dir();
        n.link_entry(b"+"); // a valid first entry: names are checked before their order
        n.ss(&[b"entry", b"(", b"name"]);
        let at = n.pos();
        n.s(name).s(b"node");
        match err(n.bytes()) {
            ReadError::InvalidName { offset, name: got } => {
                assert_eq!(offset, at);
                assert_eq!(got, name);
            }
            other => panic!("name {name:?}: {other:?}"),
        }
    }
    // Names that look odd but are valid.
    for name in [&b"..."[..], b".a", b"a.", b"\xff", b" ", b"\n"] {
        let mut n = Nar::root_dir();
        n.link_entry(name).s(b")");
        assert_eq!(ok_with(n.bytes(), Limits::default()), n.pos(), "{name:?}");
    }
}

#[test]
fn non_zero_padding() {
    // In a name: "abc" is followed by five padding bytes; spoil the third.
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name"]);
    let text = n.pos() + 8;
    n.s(b"abc");
    n.bytes_mut()[(text + 3 + 2) as usize] = 0x80;
    n.s(b"node");
    assert!(matches!(err(n.bytes()),
        ReadError::NonZeroPadding { offset, byte: 0x80 } if offset == text + 5));

    // In file contents: 9 bytes, then 7 padding bytes; spoil the last.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"contents"]);
    let data = n.pos() + 8;
    n.s(b"123456789");
    n.bytes_mut()[(data + 15) as usize] = 1;
    n.s(b")");
    assert!(matches!(err(n.bytes()),
        ReadError::NonZeroPadding { offset, byte: 1 } if offset == data + 15));

    // In a symlink target: spoil the first padding byte.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target"]);
    let text = n.pos() + 8;
    n.s(b"target");
    n.bytes_mut()[(text + 6) as usize] = 0xff;
    n.s(b")");
    assert!(matches!(err(n.bytes()),
        ReadError::NonZeroPadding { offset, byte: 0xff } if offset == text + 6));

    // In a keyword.
    let mut n = Nar::magic();
    n.s(b"(");
    let text = n.pos() + 8;
    n.ss(&[b"type", b"symlink"]);
    n.bytes_mut()[(text + 7) as usize] = b't';
    assert!(matches!(err(n.bytes()),
        ReadError::NonZeroPadding { offset, byte: b't' } if offset == text + 7));
}

#[test]
fn huge_lengths() {
    // Name: refused by the name limit before reading.
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.n(u64::MAX).raw(&[b'a'; 64]);
    assert!(matches!(err(n.bytes()),
        ReadError::NameTooLong { offset, len: u64::MAX, max: 255 } if offset == at));

    // Target: refused by the target limit.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target"]);
    let at = n.pos();
    n.n(u64::MAX).raw(b"abc");
    assert!(matches!(err(n.bytes()),
        ReadError::TargetTooLong { offset, len: u64::MAX, max: 4095 } if offset == at));

    // Executable value.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"executable"]);
    let at = n.pos();
    n.n(u64::MAX);
    assert!(matches!(err(n.bytes()),
        ReadError::ExecutableNotEmpty { offset, len: u64::MAX } if offset == at));

    // Contents: with the default (unbounded) total size the parser streams what is there and
    // reports the truncation; it allocates nothing for the announced size.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"contents"]);
    let at = n.pos();
    n.n(u64::MAX).raw(&[7u8; 100]);
    let end = n.pos();
    assert!(matches!(err(n.bytes()), ReadError::Truncated { offset } if offset == end));
    // …and with a total size limit it is refused at the length field.
    let limits = Limits {
        max_total_size: 1 << 30,
        ..Limits::default()
    };
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::TotalSizeExceeded { offset, size: u64::MAX, max } if offset == at && max == 1 << 30));

    // Sizes that add up past u64::MAX are refused, not wrapped.
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"a", b"node"]);
    n.ss(&[
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"0123456789",
        b")",
        b")",
    ]);
    n.ss(&[b"entry", b"(", b"name", b"b", b"node"]);
    n.ss(&[b"(", b"type", b"regular", b"contents"]);
    let at = n.pos();
    n.n(u64::MAX - 9);
    assert!(matches!(err(n.bytes()),
        ReadError::TotalSizeExceeded { offset, size, max: u64::MAX } if offset == at && size == u64::MAX - 9));
}

#[test]
fn executable_marker() {
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"executable", b""]);
    let at = n.pos();
    n.ss(&[b"executable", b"", b"contents", b"hi", b")"]);
    assert!(matches!(err(n.bytes()), ReadError::DuplicateExecutable { offset } if offset == at));

    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"executable"]);
    let at = n.pos();
    n.ss(&[b"1", b"contents", b"hi", b")"]);
    assert!(
        matches!(err(n.bytes()), ReadError::ExecutableNotEmpty { offset, len: 1 } if offset == at)
    );

    // A marker with no contents after it.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"executable", b""]);
    let at = n.pos();
    n.s(b")");
    assert_unexpected(n.bytes(), at, "\"contents\"", b")");
}

#[test]
fn bad_symlink_targets() {
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target"]);
    let at = n.pos();
    n.ss(&[b"", b")"]);
    assert!(matches!(err(n.bytes()), ReadError::EmptyTarget { offset } if offset == at));

    let mut n = Nar::root_dir();
    n.ss(&[
        b"entry", b"(", b"name", b"l", b"node", b"(", b"type", b"symlink", b"target",
    ]);
    let at = n.pos();
    n.ss(&[b"a\0b", b")", b")", b")"]);
    match err(n.bytes()) {
        ReadError::TargetContainsNul { offset, target } => {
            assert_eq!(offset, at);
            assert_eq!(target, b"a\0b");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trailing_bytes() {
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target", b"x", b")"]);
    let end = n.pos();
    let archive = n.bytes().to_vec();
    n.raw(b"\0");
    assert!(matches!(err(n.bytes()), ReadError::TrailingData { offset } if offset == end));

    // A second archive glued on.
    let mut twice = archive.clone();
    twice.extend_from_slice(&archive);
    assert!(matches!(err(&twice), ReadError::TrailingData { offset } if offset == end));

    // The push parser stops at the end and reports what it consumed.
    let mut parser = Parser::new(Limits::default());
    let used = parser.push(&twice, &mut Recorder::default()).unwrap();
    assert_eq!(used as u64, end);
    assert!(parser.is_done());
    assert_eq!(parser.push(b"more", &mut Recorder::default()).unwrap(), 0);
    assert_eq!(parser.finish().unwrap(), end);
}

/// A tree nested `depth` directories deep (the root counts), innermost holding one symlink.
fn nested(depth: usize) -> (Nar, Vec<u64>) {
    let mut n = Nar::magic();
    let mut dir_offsets = Vec::new();
    for level in 0..depth {
        if level > 0 {
            n.ss(&[b"entry", b"(", b"name", b"d", b"node"]);
        }
        n.ss(&[b"(", b"type"]);
        dir_offsets.push(n.pos());
        n.s(b"directory");
    }
    n.link_entry(b"l");
    for level in 0..depth {
        n.s(b")");
        if level + 1 < depth {
            n.s(b")");
        }
    }
    (n, dir_offsets)
}

#[test]
fn depth_limit() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let (ok, _) = nested(3);
    assert_eq!(ok_with(ok.bytes(), limits), ok.pos());
    let (deep, dirs) = nested(4);
    assert!(matches!(err_with(deep.bytes(), limits),
        ReadError::TooDeep { offset, max: 3 } if offset == dirs[3]));

    let none = Limits {
        max_depth: 0,
        ..Limits::default()
    };
    // Root directory: magic (24) + "(" (16) + "type" (16).
    assert!(matches!(
        err_with(ok.bytes(), none),
        ReadError::TooDeep { offset: 56, max: 0 }
    ));
    // Files and symlinks are not directories: depth 0 still takes them.
    let mut link = Nar::magic();
    link.ss(&[b"(", b"type", b"symlink", b"target", b"x", b")"]);
    assert_eq!(ok_with(link.bytes(), none), link.pos());
}

/// Nix's NAR nesting rule with the default limits, as `nix-store --restore` of Nix 2.34.8 judges
/// these archives (`chain-<k>-<leaf>` in `tests/data/hostile_nars/oracle.txt`): an object 64
/// levels below the root is refused at its `"("`, whatever its type; 63 levels are fine.
#[test]
fn nar_depth_limit() {
    // 63 directories, the innermost holding a symlink at level 63: accepted.
    let (ok, _) = nested(63);
    assert_eq!(ok_with(ok.bytes(), Limits::default()), ok.pos());
    // 64 directories, the innermost (level 63) holding a symlink at level 64: refused at the
    // symlink's "(", after the innermost "directory" (24 bytes) and "entry" "(" "name" "l"
    // "node" (5 × 16).
    let (deep, dirs) = nested(64);
    assert!(matches!(
        err_with(deep.bytes(), Limits::default()),
        ReadError::NarTooDeep { offset, max: 64 } if offset == dirs[63] + 24 + 5 * 16
    ));
    // With Nix 2.26's rule it parses.
    assert_eq!(ok_with(deep.bytes(), Limits::NIX_2_26), deep.pos());
    // 64 directories with nothing in the innermost: the deepest object is at level 63.
    let mut n = Nar::magic();
    for level in 0..64 {
        if level > 0 {
            n.ss(&[b"entry", b"(", b"name", b"d", b"node"]);
        }
        n.ss(&[b"(", b"type", b"directory"]);
    }
    for level in 0..64 {
        n.s(b")");
        if level < 63 {
            n.s(b")");
        }
    }
    assert_eq!(ok_with(n.bytes(), Limits::default()), n.pos());
    // A root at level 0 is refused only by a limit of 0, right after the magic.
    let none = Limits {
        max_nar_depth: 0,
        ..Limits::default()
    };
    assert!(matches!(
        err_with(ok.bytes(), none),
        ReadError::NarTooDeep { offset: 24, max: 0 }
    ));
}

#[test]
fn name_and_target_limits() {
    let limits = Limits {
        max_name_len: 4,
        max_target_len: 3,
        ..Limits::default()
    };
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"abcd", b"node"]);
    n.ss(&[
        b"(", b"type", b"symlink", b"target", b"xyz", b")", b")", b")",
    ]);
    assert_eq!(ok_with(n.bytes(), limits), n.pos());

    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.s(b"abcde");
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::NameTooLong { offset, len: 5, max: 4 } if offset == at));

    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target"]);
    let at = n.pos();
    n.s(b"wxyz");
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::TargetTooLong { offset, len: 4, max: 3 } if offset == at));

    // The default limits take a 255-byte name and a 4095-byte target, not one byte more.
    let long_name = vec![b'n'; 255];
    let long_target = vec![b't'; 4095];
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", &long_name, b"node"]);
    n.ss(&[
        b"(",
        b"type",
        b"symlink",
        b"target",
        &long_target,
        b")",
        b")",
        b")",
    ]);
    assert_eq!(ok_with(n.bytes(), Limits::default()), n.pos());
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name"]);
    let at = n.pos();
    n.s(&[b'n'; 256]);
    assert!(
        matches!(err(n.bytes()), ReadError::NameTooLong { offset, len: 256, max: 255 } if offset == at)
    );
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"symlink", b"target"]);
    let at = n.pos();
    n.s(&[b't'; 4096]);
    assert!(matches!(err(n.bytes()),
        ReadError::TargetTooLong { offset, len: 4096, max: 4095 } if offset == at));
}

#[test]
fn entries_limit() {
    let limits = Limits {
        max_entries_per_directory: 2,
        ..Limits::default()
    };
    let mut n = Nar::root_dir();
    n.link_entry(b"a").link_entry(b"b");
    let ok_end = n.pos();
    let at = n.pos();
    n.link_entry(b"c").s(b")");
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::TooManyEntries { offset, max: 2 } if offset == at));

    let mut two = Nar::new();
    two.raw(&n.bytes()[..ok_end as usize]);
    two.s(b")");
    assert_eq!(ok_with(two.bytes(), limits), two.pos());
}

#[test]
fn total_size_limit() {
    let limits = Limits {
        max_total_size: 10,
        ..Limits::default()
    };
    // 6 bytes of file + 4 of target = 10: accepted.
    let mut n = Nar::root_dir();
    n.ss(&[b"entry", b"(", b"name", b"f", b"node"]);
    n.ss(&[
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"123456",
        b")",
        b")",
    ]);
    n.ss(&[
        b"entry", b"(", b"name", b"l", b"node", b"(", b"type", b"symlink", b"target",
    ]);
    let at = n.pos();
    let mut ok = n.clone();
    ok.ss(&[b"abcd", b")", b")", b")"]);
    assert_eq!(ok_with(ok.bytes(), limits), ok.pos());
    // 6 + 5 = 11: refused at the target's length field.
    n.ss(&[b"abcde", b")", b")", b")"]);
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::TotalSizeExceeded { offset, size: 5, max: 10 } if offset == at));

    // A file alone over the limit.
    let mut n = Nar::magic();
    n.ss(&[b"(", b"type", b"regular", b"contents"]);
    let at = n.pos();
    n.ss(&[b"0123456789A", b")"]);
    assert!(matches!(err_with(n.bytes(), limits),
        ReadError::TotalSizeExceeded { offset, size: 11, max: 10 } if offset == at));
}

/// Counts events without keeping them.
#[derive(Default)]
struct Count {
    dirs: u64,
    links: u64,
}

impl Sink for Count {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { .. } => self.dirs += 1,
            Event::Symlink { .. } => self.links += 1,
            _ => {}
        }
        Ok(())
    }
}

#[test]
fn deep_nesting_passes_with_nix_2_26_limits() {
    let (n, _) = nested(2000);
    let mut count = Count::default();
    assert_eq!(
        nar::read(n.bytes(), &mut count, &Limits::NIX_2_26).unwrap(),
        n.pos()
    );
    assert_eq!((count.dirs, count.links), (2000, 1));
}

#[test]
fn huge_directory_passes_with_default_limits() {
    let mut n = Nar::root_dir();
    for i in 0..200_000u32 {
        n.link_entry(format!("{i:08}").as_bytes());
    }
    n.s(b")");
    let mut count = Count::default();
    assert_eq!(
        nar::read(n.bytes(), &mut count, &Limits::default()).unwrap(),
        n.pos()
    );
    assert_eq!((count.dirs, count.links), (1, 200_000));
}

/// Fails on the first event `fail` says yes to.
struct FailOn<F>(F);

impl<F: FnMut(&Event<'_>) -> bool> Sink for FailOn<F> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if (self.0)(&event) {
            Err(SinkError::Protocol("refused by the test"))
        } else {
            Ok(())
        }
    }
}

#[test]
fn sink_errors_carry_the_offset() {
    let mut n = Nar::root_dir();
    n.ss(&[
        b"entry",
        b"(",
        b"name",
        b"f",
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
    ]);
    let size_at = n.pos();
    n.s(b"0123456789");
    let end_at = n.pos();
    n.ss(&[b")", b")"]);
    n.ss(&[
        b"entry", b"(", b"name", b"l", b"node", b"(", b"type", b"symlink", b"target",
    ]);
    let target_at = n.pos();
    n.ss(&[b"x", b")", b")"]);
    let close_at = n.pos();
    n.s(b")");
    let bytes = n.into_bytes();

    type Refuse = fn(&Event<'_>) -> bool;
    let cases: [(Refuse, u64); 5] = [
        (|e| matches!(e, Event::DirectoryStart { .. }), 56),
        (|e| matches!(e, Event::FileStart { .. }), size_at),
        (|e| matches!(e, Event::FileEnd), end_at),
        (|e| matches!(e, Event::Symlink { .. }), target_at),
        (|e| matches!(e, Event::DirectoryEnd), close_at),
    ];
    for (i, (fail, at)) in cases.into_iter().enumerate() {
        let e = nar::read(&bytes[..], &mut FailOn(fail), &Limits::default()).unwrap_err();
        match e {
            ReadError::Sink { offset, source } => {
                assert_eq!(offset, at, "case {i}");
                assert!(matches!(source, SinkError::Protocol("refused by the test")));
            }
            other => panic!("case {i}: {other:?}"),
        }
    }

    // FileData: the offset of the refused chunk's first byte.
    let data_at = size_at + 8;
    let mut parser = Parser::new(Limits::default());
    let mut sink = FailOn(|e: &Event<'_>| matches!(e, Event::FileData(d) if d.starts_with(b"3")));
    let split = (data_at + 3) as usize;
    parser.push(&bytes[..split], &mut sink).unwrap();
    let e = parser.push(&bytes[split..], &mut sink).unwrap_err();
    assert!(matches!(e, ReadError::Sink { offset, .. } if offset == data_at + 3));

    // A failed parser stays failed.
    assert!(matches!(
        parser.push(b"", &mut Recorder::default()),
        Err(ReadError::Poisoned { .. })
    ));
    assert!(matches!(parser.finish(), Err(ReadError::Poisoned { .. })));
}

#[test]
fn errors_name_their_offset() {
    let mut n = Nar::magic();
    n.s(b"[");
    let e = err(n.bytes());
    assert_eq!(e.offset(), 24);
    assert!(e.to_string().contains("byte 24"), "{e}");
}
