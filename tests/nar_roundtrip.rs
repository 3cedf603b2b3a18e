//! NAR round trips: golden archives from real Nix (`nix-store --dump`, see
//! tests/data/nar/README.md) are reproduced byte for byte, their hashes match `nix-hash`, the
//! independent `nix-nar` crate reads our output the same way, and random trees survive
//! writer → parser however the bytes are split.

use std::collections::BTreeMap;
use std::io::Read as _;

use nix_ingest::Limits;
use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink, replay};
use nix_ingest::hash::{Algorithm, Format};
use nix_ingest::nar::{self, NarHasher, NarWriter, Parser};
use proptest::prelude::*;

const GOLDEN: [(&str, &[u8]); 6] = [
    ("t1.nar", include_bytes!("data/nar/t1.nar")),
    ("t2.nar", include_bytes!("data/nar/t2.nar")),
    ("file.nar", include_bytes!("data/nar/file.nar")),
    ("exec.nar", include_bytes!("data/nar/exec.nar")),
    ("root-link.nar", include_bytes!("data/nar/root-link.nar")),
    ("empty.nar", include_bytes!("data/nar/empty.nar")),
];

/// `nix-hash --type sha256 --base16` of each tree, from the oracle.
fn golden_sha256(file: &str) -> String {
    include_str!("data/nar/sha256.txt")
        .lines()
        .find_map(|l| l.strip_prefix(file)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no hash for {file}"))
        .to_owned()
}

fn record(bytes: &[u8]) -> Recorder {
    let mut rec = Recorder::default();
    let len = nar::read(bytes, &mut rec, &Limits::default()).unwrap();
    assert_eq!(len, bytes.len() as u64);
    rec
}

fn write(events: &[OwnedEvent]) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    replay(events, &mut w).unwrap();
    w.finish().unwrap()
}

fn push_split(bytes: &[u8], cuts: &[usize]) -> Recorder {
    let mut parser = Parser::new(Limits::default());
    let mut rec = Recorder::default();
    let mut start = 0;
    for &cut in cuts.iter().chain([&bytes.len()]) {
        let cut = cut.clamp(start, bytes.len());
        assert_eq!(
            parser.push(&bytes[start..cut], &mut rec).unwrap(),
            cut - start
        );
        start = cut;
    }
    assert_eq!(parser.finish().unwrap(), bytes.len() as u64);
    rec
}

#[test]
fn golden_nars_are_reproduced_byte_for_byte() {
    for (file, bytes) in GOLDEN {
        let rec = record(bytes);
        assert_eq!(write(&rec.events), bytes, "{file}");

        let mut h = NarHasher::new(Algorithm::Sha256);
        replay(&rec.events, &mut h).unwrap();
        let (hash, size) = h.finish_with_size().unwrap();
        assert_eq!(hash.encode(Format::Base16), golden_sha256(file), "{file}");
        assert_eq!(size, bytes.len() as u64, "{file}");
    }
}

fn file(name: Option<&[u8]>, executable: bool, data: &[u8]) -> Vec<OwnedEvent> {
    let mut v = vec![OwnedEvent::FileStart {
        name: name.map(<[u8]>::to_vec),
        executable,
        size: data.len() as u64,
    }];
    if !data.is_empty() {
        v.push(OwnedEvent::FileData(data.to_vec()));
    }
    v.push(OwnedEvent::FileEnd);
    v
}

fn link(name: Option<&[u8]>, target: &[u8]) -> OwnedEvent {
    OwnedEvent::Symlink {
        name: name.map(<[u8]>::to_vec),
        target: target.to_vec(),
    }
}

fn dir(name: Option<&[u8]>) -> OwnedEvent {
    OwnedEvent::DirectoryStart {
        name: name.map(<[u8]>::to_vec),
    }
}

#[test]
fn golden_nars_hold_the_trees_they_were_made_from() {
    // The trees as tests/data/nar/README.md builds them.
    assert_eq!(
        record(GOLDEN[2].1).events,
        file(None, false, b"just a file, 27 bytes long\n")
    );
    assert_eq!(record(GOLDEN[3].1).events, file(None, true, b"#!/bin/sh\n"));
    assert_eq!(record(GOLDEN[4].1).events, [link(None, b"some/where")]);
    assert_eq!(
        record(GOLDEN[5].1).events,
        [dir(None), OwnedEvent::DirectoryEnd]
    );

    let mut t2 = vec![dir(None)];
    t2.extend(file(Some(b"a\x01b"), false, b"x"));
    t2.push(dir(Some(b"dir\xe9")));
    t2.extend(file(Some(b"\xe9"), false, b""));
    t2.push(OwnedEvent::DirectoryEnd);
    t2.push(link(Some(b"link\xc3"), b"\x80\x81"));
    t2.extend(file(Some(b"\xff\xfe"), false, b"ff"));
    t2.push(OwnedEvent::DirectoryEnd);
    assert_eq!(record(GOLDEN[1].1).events, t2);

    // t1: the root's entries in byte order, and a few objects in full.
    let t1 = record(GOLDEN[0].1).events;
    let mut depth = 0;
    let mut root_names = Vec::new();
    for e in &t1 {
        match e {
            OwnedEvent::DirectoryStart { name } => {
                if depth == 1 {
                    root_names.push(name.clone().unwrap());
                }
                depth += 1;
            }
            OwnedEvent::DirectoryEnd => depth -= 1,
            OwnedEvent::FileStart { name, .. } | OwnedEvent::Symlink { name, .. } if depth == 1 => {
                root_names.push(name.clone().unwrap())
            }
            _ => {}
        }
    }
    let expected: Vec<&[u8]> = vec![
        b"A",
        b"a",
        b"a-b",
        b"a.b",
        b"a0",
        b"binary",
        b"dangling",
        b"eight",
        b"empty-dir",
        b"empty-file",
        b"exec-empty",
        b"foo",
        b"link-to-foo",
        b"nine",
        b"run.sh",
        b"seven",
        b"sub",
        b"with space",
        "ü".as_bytes(),
    ];
    assert_eq!(root_names, expected);
    let contains = |needle: &[OwnedEvent]| t1.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&file(
        Some(b"run.sh"),
        true,
        b"#!/bin/sh\necho hi\n"
    )));
    assert!(contains(&file(Some(b"exec-empty"), true, b"")));
    assert!(contains(&file(Some(b"binary"), false, b"x\0y\xff\n")));
    assert!(contains(&[link(
        Some(b"dangling"),
        b"/nonexistent/target/that/is/long"
    )]));
    assert!(contains(&[link(Some(b"up"), b"../..")]));
    assert!(contains(&[
        dir(Some(b"empty-dir")),
        OwnedEvent::DirectoryEnd
    ]));
}

#[test]
fn golden_nars_parse_the_same_however_split() {
    for (file, bytes) in GOLDEN {
        let whole = record(bytes);
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(push_split(bytes, &cuts), whole, "{file} byte by byte");
        let odd: Vec<usize> = (0..bytes.len()).step_by(13).collect();
        assert_eq!(push_split(bytes, &odd), whole, "{file} in 13-byte pieces");
    }
}

/// What an object is, as `nix-nar` reports it.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File { executable: bool, data: Vec<u8> },
    Link(Vec<u8>),
}

/// Full paths (`a/b/c`, "" for the root) of our events, in order.
fn entries_from_events(events: &[OwnedEvent]) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let full = |path: &[String], name: &Option<Vec<u8>>| {
        let mut p = path.to_vec();
        if let Some(n) = name {
            p.push(String::from_utf8(n.clone()).unwrap());
        }
        p.join("/")
    };
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            OwnedEvent::DirectoryStart { name } => {
                out.push((full(&path, name), Entry::Dir));
                path.push(
                    name.clone()
                        .map(|n| String::from_utf8(n).unwrap())
                        .unwrap_or_default(),
                );
            }
            OwnedEvent::DirectoryEnd => {
                path.pop();
            }
            OwnedEvent::FileStart {
                name, executable, ..
            } => {
                let mut data = Vec::new();
                while let Some(OwnedEvent::FileData(d)) = events.get(i + 1) {
                    data.extend_from_slice(d);
                    i += 1;
                }
                out.push((
                    full(&path, name),
                    Entry::File {
                        executable: *executable,
                        data,
                    },
                ));
            }
            OwnedEvent::Symlink { name, target } => {
                out.push((full(&path, name), Entry::Link(target.clone())));
            }
            OwnedEvent::FileData(_) | OwnedEvent::FileEnd => {}
        }
        i += 1;
    }
    // The root directory's own path component is empty: drop the leading "/".
    for (p, _) in &mut out {
        if let Some(rest) = p.strip_prefix('/') {
            *p = rest.to_owned();
        }
    }
    out
}

fn entries_from_nix_nar(bytes: &[u8]) -> Vec<(String, Entry)> {
    let dec = nix_nar::Decoder::new(bytes).unwrap();
    let mut out = Vec::new();
    for entry in dec.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path.map(|p| p.to_string()).unwrap_or_default();
        let e = match entry.content {
            nix_nar::Content::Directory => Entry::Dir,
            nix_nar::Content::Symlink { target } => {
                Entry::Link(target.as_str().as_bytes().to_vec())
            }
            nix_nar::Content::File {
                executable,
                mut data,
                ..
            } => {
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes).unwrap();
                Entry::File {
                    executable,
                    data: bytes,
                }
            }
        };
        out.push((path, e));
    }
    out
}

#[test]
fn nix_nar_reads_our_output_the_same_way() {
    // t2 has names that are not UTF-8, which nix-nar cannot represent.
    for (file, bytes) in GOLDEN.iter().filter(|(f, _)| *f != "t2.nar") {
        let rec = record(bytes);
        let ours = write(&rec.events);
        assert_eq!(
            entries_from_nix_nar(&ours),
            entries_from_events(&rec.events),
            "{file}"
        );
    }
}

#[derive(Debug, Clone)]
enum Node {
    File { executable: bool, data: Vec<u8> },
    Link(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Node>),
}

fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b'-')],
            1..4
        ),
        proptest::collection::vec(1u8..=255, 1..12),
    ]
    .prop_filter("valid NAR name", |n| {
        n.as_slice() != b"." && n.as_slice() != b".." && !n.contains(&b'/')
    })
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(executable, data)| Node::File { executable, data }),
        proptest::collection::vec(1u8..=255, 1..20).prop_map(Node::Link),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        proptest::collection::btree_map(name_strategy(), inner, 0..6).prop_map(Node::Dir)
    })
}

/// A directory entry still to visit (name and node), or `None` for the end of a directory.
type Visit<'a> = Option<(Option<Vec<u8>>, &'a Node)>;

/// The events of a tree, file data cut into chunks of `chunk` bytes.
fn events_of(root: &Node, chunk: usize) -> Vec<OwnedEvent> {
    let mut out = Vec::new();
    // An explicit stack: (name, node) to visit, or None to close a directory.
    let mut stack: Vec<Visit<'_>> = vec![Some((None, root))];
    while let Some(item) = stack.pop() {
        let Some((name, node)) = item else {
            out.push(OwnedEvent::DirectoryEnd);
            continue;
        };
        match node {
            Node::File { executable, data } => {
                out.push(OwnedEvent::FileStart {
                    name,
                    executable: *executable,
                    size: data.len() as u64,
                });
                out.extend(data.chunks(chunk).map(|c| OwnedEvent::FileData(c.to_vec())));
                out.push(OwnedEvent::FileEnd);
            }
            Node::Link(target) => out.push(OwnedEvent::Symlink {
                name,
                target: target.clone(),
            }),
            Node::Dir(entries) => {
                out.push(OwnedEvent::DirectoryStart { name });
                stack.push(None);
                for (n, child) in entries.iter().rev() {
                    stack.push(Some((Some(n.clone()), child)));
                }
            }
        }
    }
    out
}

fn recorded(events: &[OwnedEvent]) -> Vec<OwnedEvent> {
    let mut rec = Recorder::default();
    replay(events, &mut rec).unwrap();
    rec.events
}

fn all_utf8(events: &[OwnedEvent]) -> bool {
    events.iter().all(|e| match e {
        OwnedEvent::DirectoryStart { name } | OwnedEvent::FileStart { name, .. } => {
            name.as_ref().is_none_or(|n| std::str::from_utf8(n).is_ok())
        }
        OwnedEvent::Symlink { name, target } => {
            name.as_ref().is_none_or(|n| std::str::from_utf8(n).is_ok())
                && std::str::from_utf8(target).is_ok()
        }
        _ => true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_trees_survive_writer_then_parser(
        root in node_strategy(),
        chunk in 1usize..17,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let events = events_of(&root, chunk);
        let bytes = write(&events);
        let expected = recorded(&events);
        prop_assert_eq!(&record(&bytes).events, &expected);

        // The same events however the archive is split.
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(&push_split(&bytes, &cuts).events, &expected);

        // Byte for byte stable: parse → write gives the same archive.
        prop_assert_eq!(&write(&expected), &bytes);

        if all_utf8(&events) {
            prop_assert_eq!(entries_from_nix_nar(&bytes), entries_from_events(&expected));
        }
    }

    #[test]
    fn any_split_of_a_golden_nar_gives_the_same_events(
        which in 0..GOLDEN.len(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let bytes = GOLDEN[which].1;
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(push_split(bytes, &cuts), record(bytes));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut input = include_bytes!("data/nar/t1.nar")[..64].to_vec();
        input.extend_from_slice(&bytes);
        let _ = nar::read(&input[..], &mut Recorder::default(), &Limits::default());
    }
}

#[test]
fn writer_checks_sizes_and_grammar() {
    use nix_ingest::event::SinkError;

    let start = Event::FileStart {
        name: None,
        executable: false,
        size: 3,
    };
    let mut w = NarWriter::new(Vec::new());
    w.event(start).unwrap();
    w.event(Event::FileData(b"ab")).unwrap();
    assert!(matches!(
        w.event(Event::FileEnd),
        Err(SinkError::SizeMismatch {
            declared: 3,
            actual: 2
        })
    ));
    assert!(w.finish().is_err());

    let mut w = NarWriter::new(Vec::new());
    w.event(start).unwrap();
    assert!(matches!(
        w.event(Event::FileData(b"abcd")),
        Err(SinkError::SizeMismatch {
            declared: 3,
            actual: 4
        })
    ));

    let protocol = |events: &[Event<'_>]| {
        let mut w = NarWriter::new(Vec::new());
        let mut result = Ok(());
        for e in events {
            result = result.and_then(|()| w.event(*e));
        }
        result.and_then(|()| w.finish().map(drop))
    };
    let named_link = |n: &'static [u8]| Event::Symlink {
        name: Some(n),
        target: b"x",
    };
    let root = Event::DirectoryStart { name: None };
    let bad: [&[Event<'_>]; 10] = [
        &[],
        &[root],
        &[named_link(b"a")],
        &[
            root,
            Event::Symlink {
                name: None,
                target: b"x",
            },
        ],
        &[root, named_link(b"b"), named_link(b"a")],
        &[root, named_link(b"a"), named_link(b"a")],
        &[root, named_link(b"a/b")],
        &[root, Event::DirectoryEnd, Event::DirectoryEnd],
        &[Event::Symlink {
            name: None,
            target: b"",
        }],
        &[
            Event::Symlink {
                name: None,
                target: b"x",
            },
            root,
        ],
    ];
    for events in bad {
        assert!(
            matches!(protocol(events), Err(SinkError::Protocol(_))),
            "{events:?}"
        );
    }
    assert!(
        protocol(&[
            root,
            named_link(b"a"),
            named_link(b"b"),
            Event::DirectoryEnd
        ])
        .is_ok()
    );
}

#[test]
fn nar_hasher_matches_nix_for_every_algorithm_input() {
    // The NAR hash is the hash of the NAR bytes, for any algorithm.
    for (file, bytes) in GOLDEN {
        let rec = record(bytes);
        for algo in [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha512] {
            let mut h = NarHasher::new(algo);
            replay(&rec.events, &mut h).unwrap();
            let ours = h.finish().unwrap();
            let mut direct = nix_ingest::hash::Hasher::new_unchecked(algo);
            direct.update(bytes);
            assert_eq!(ours, direct.finalize().unwrap(), "{file} {algo}");
        }
    }
}
