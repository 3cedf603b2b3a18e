//! The directory walk (`fs::dump`): what it emits for odd trees, and the errors it must give.
//!
//! Expected event streams follow the event grammar (NAR order: entries sorted by name bytes) and
//! Nix's rule that only the owner-execute bit makes a file executable; the hashes of the same
//! kinds of trees are judged against Nix and git in `golden_trees.rs`.

use std::ffi::OsStr;
use std::fs::{self as stdfs, Permissions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix_ingest::Limits;
use nix_ingest::Options;
use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink, SinkError};
use nix_ingest::fs::{self, WalkErrorKind};

fn p(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

fn write(path: &Path, data: &[u8], mode: u32) {
    stdfs::write(path, data).unwrap();
    stdfs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
}

fn record(path: &Path) -> Vec<OwnedEvent> {
    let mut rec = Recorder::default();
    fs::dump(path, &mut rec, &nix_ingest::Settings::default()).unwrap();
    rec.events
}

fn dump_err(path: &Path, options: &Options) -> fs::WalkError {
    let mut rec = Recorder::default();
    fs::dump(path, &mut rec, options.settings()).unwrap_err()
}

fn dir(name: &[u8]) -> OwnedEvent {
    OwnedEvent::DirectoryStart {
        name: Some(name.to_vec()),
    }
}

fn file(name: &[u8], executable: bool, data: &[u8]) -> Vec<OwnedEvent> {
    let mut v = vec![OwnedEvent::FileStart {
        name: Some(name.to_vec()),
        executable,
        size: data.len() as u64,
    }];
    if !data.is_empty() {
        v.push(OwnedEvent::FileData(data.to_vec()));
    }
    v.push(OwnedEvent::FileEnd);
    v
}

fn link(name: &[u8], target: &[u8]) -> OwnedEvent {
    OwnedEvent::Symlink {
        name: Some(name.to_vec()),
        target: target.to_vec(),
    }
}

const ROOT: OwnedEvent = OwnedEvent::DirectoryStart { name: None };
const END: OwnedEvent = OwnedEvent::DirectoryEnd;

/// Whether this process can read a file with mode 000 (root, or CAP_DAC_OVERRIDE): then
/// permissions cannot make anything unreadable and those assertions are skipped.
fn privileged(dir: &Path) -> bool {
    let probe = dir.join("probe");
    write(&probe, b"x", 0o000);
    let can = stdfs::File::open(&probe).is_ok();
    stdfs::remove_file(&probe).unwrap();
    can
}

#[test]
fn odd_names_in_byte_order() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Created in scrambled order; the walk must sort by bytes.
    for name in [
        &b"\xff\xfe"[..],
        b"with space",
        b"new\nline",
        b"a=",
        b"a0",
        b"a.b",
        b"a-",
        b"\xc3\xa9",
        b"A",
        b"-",
    ] {
        write(&p(d, name), name, 0o644);
    }
    stdfs::create_dir(d.join("a")).unwrap();
    write(&d.join("a/x"), b"in a", 0o644);

    let mut expected = vec![ROOT];
    expected.extend(file(b"-", false, b"-"));
    expected.extend(file(b"A", false, b"A"));
    // "a" (a directory) sorts before "a-" in NAR order (git puts it after "a.b": "a/").
    expected.push(dir(b"a"));
    expected.extend(file(b"x", false, b"in a"));
    expected.push(END);
    expected.extend(file(b"a-", false, b"a-"));
    expected.extend(file(b"a.b", false, b"a.b"));
    expected.extend(file(b"a0", false, b"a0"));
    expected.extend(file(b"a=", false, b"a="));
    expected.extend(file(b"new\nline", false, b"new\nline"));
    expected.extend(file(b"with space", false, b"with space"));
    expected.extend(file(b"\xc3\xa9", false, b"\xc3\xa9"));
    expected.extend(file(b"\xff\xfe", false, b"\xff\xfe"));
    expected.push(END);
    assert_eq!(record(d), expected);
}

#[test]
fn only_owner_execute_counts() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // (mode, executable?) — owner must be able to read for non-root runs.
    let modes: &[(u32, bool)] = &[
        (0o644, false),
        (0o755, true),
        (0o700, true),
        (0o500, true),
        (0o400, false),
        (0o470, false), // group-execute only
        (0o407, false), // other-execute only
        (0o410, false),
        (0o401, false),
        (0o411, false),
        (0o511, true),
        (0o777, true),
        (0o666, false),
        (0o4644, false), // setuid without execute
        (0o2654, false),
        (0o1645, false),
        (0o4744, true),
    ];
    // Fixed-width octal names, so NAR (byte) order is numeric order.
    let mut modes = modes.to_vec();
    modes.sort();
    let mut expected = vec![ROOT];
    for &(mode, exec) in &modes {
        let name = format!("m{mode:05o}");
        write(&d.join(&name), b"", mode);
        expected.extend(file(name.as_bytes(), exec, b""));
    }
    expected.push(END);
    assert_eq!(record(d), expected);

    // The root file too.
    let f = d.join("m00470");
    assert_eq!(
        record(&f)[0],
        OwnedEvent::FileStart {
            name: None,
            executable: false,
            size: 0
        }
    );
    let f = d.join("m00500");
    assert_eq!(
        record(&f)[0],
        OwnedEvent::FileStart {
            name: None,
            executable: true,
            size: 0
        }
    );
}

#[test]
fn symlinks_are_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    stdfs::create_dir(d.join("sub")).unwrap();
    write(&d.join("sub/f"), b"f", 0o644);
    symlink("nowhere", d.join("dangling")).unwrap();
    symlink("/etc", d.join("absolute")).unwrap();
    symlink("../sub/f", d.join("relative")).unwrap();
    symlink("sub", d.join("to-dir")).unwrap();
    symlink("self", d.join("self")).unwrap();
    symlink(OsStr::from_bytes(b"odd \xff\ntarget"), d.join("odd")).unwrap();

    let mut expected = vec![
        ROOT,
        link(b"absolute", b"/etc"),
        link(b"dangling", b"nowhere"),
        link(b"odd", b"odd \xff\ntarget"),
        link(b"relative", b"../sub/f"),
        link(b"self", b"self"),
        dir(b"sub"),
    ];
    expected.extend(file(b"f", false, b"f"));
    expected.extend([END, link(b"to-dir", b"sub"), END]);
    assert_eq!(record(d), expected);

    // A root symlink is the symlink, even when it points to a directory.
    assert_eq!(
        record(&d.join("to-dir")),
        [OwnedEvent::Symlink {
            name: None,
            target: b"sub".to_vec()
        }]
    );
    assert_eq!(
        record(&d.join("dangling")),
        [OwnedEvent::Symlink {
            name: None,
            target: b"nowhere".to_vec()
        }]
    );
}

#[test]
fn empty_files_and_directories() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    stdfs::create_dir_all(d.join("e/f/g")).unwrap();
    stdfs::create_dir(d.join("z")).unwrap();
    write(&d.join("empty"), b"", 0o644);
    write(&d.join("empty-exec"), b"", 0o755);
    let mut expected = vec![ROOT, dir(b"e"), dir(b"f"), dir(b"g"), END, END, END];
    expected.extend(file(b"empty", false, b""));
    expected.extend(file(b"empty-exec", true, b""));
    expected.extend([dir(b"z"), END, END]);
    assert_eq!(record(d), expected);

    // An empty root directory, and an empty root file.
    assert_eq!(record(&d.join("z")), [ROOT, END]);
    assert_eq!(
        record(&d.join("empty")),
        [
            OwnedEvent::FileStart {
                name: None,
                executable: false,
                size: 0
            },
            OwnedEvent::FileEnd
        ]
    );
}

#[test]
fn large_files_arrive_whole_in_chunks() {
    let t = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
    let f = t.path().join("big");
    write(&f, &data, 0o644);

    /// Records chunk sizes without merging them.
    #[derive(Default)]
    struct Chunks(Vec<usize>, Vec<u8>);
    impl Sink for Chunks {
        fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
            if let Event::FileData(d) = event {
                self.0.push(d.len());
                self.1.extend_from_slice(d);
            }
            Ok(())
        }
    }
    for buffer_size in [
        0,
        4096,
        65536,
        nix_ingest::Settings::DEFAULT_BUFFER_SIZE,
        4 << 20,
    ] {
        let mut sink = Chunks::default();
        let options = Options::new().buffer_size(buffer_size);
        fs::dump(&f, &mut sink, options.settings()).unwrap();
        assert_eq!(sink.1, data);
        let max = buffer_size.max(nix_ingest::Settings::MIN_BUFFER_SIZE);
        assert!(sink.0.iter().all(|&n| n <= max), "chunk over {max}");
    }
}

#[test]
fn deep_trees_do_not_recurse() {
    // 1500 levels: far deeper than a recursive walk with big frames would like, within PATH_MAX.
    let t = tempfile::tempdir().unwrap();
    let mut path = t.path().to_path_buf();
    for _ in 0..1500 {
        path.push("d");
    }
    stdfs::create_dir_all(&path).unwrap();
    let events = record(t.path());
    assert_eq!(events.len(), 2 * 1501);
    assert!(events[..1501].iter().skip(1).all(|e| *e == dir(b"d")));
    assert!(events[1501..].iter().all(|e| *e == END));
}

#[test]
fn fifo_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for root in [t.path(), fifo.as_path()] {
        let e = dump_err(root, &Options::default());
        assert_eq!(e.path, fifo);
        assert!(matches!(
            e.kind,
            WalkErrorKind::UnsupportedType { file_type: "FIFO" }
        ));
        let msg = e.to_string();
        assert!(
            msg.contains("FIFO") && msg.contains(&*fifo.to_string_lossy()),
            "{msg}"
        );
    }
}

#[test]
fn socket_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("a"), b"a", 0o644);
    let sock = t.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for root in [t.path(), sock.as_path()] {
        let e = dump_err(root, &Options::default());
        assert_eq!(e.path, sock);
        assert!(matches!(
            e.kind,
            WalkErrorKind::UnsupportedType {
                file_type: "socket"
            }
        ));
        assert!(e.to_string().contains("socket"));
    }
}

#[test]
fn device_is_refused() {
    let e = dump_err(Path::new("/dev/null"), &Options::default());
    assert_eq!(e.path, Path::new("/dev/null"));
    assert!(matches!(
        e.kind,
        WalkErrorKind::UnsupportedType {
            file_type: "character device"
        }
    ));
}

#[test]
fn missing_root_is_an_io_error_with_the_path() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing");
    let e = dump_err(&missing, &Options::default());
    assert_eq!(e.path, missing);
    assert!(matches!(e.kind, WalkErrorKind::Io { .. }));
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn unreadable_file_and_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if privileged(d) {
        // Running as root (or with CAP_DAC_OVERRIDE): mode 000 does not stop reads, so there is
        // nothing to assert here.
        eprintln!("skipped: permissions do not restrict this process");
        return;
    }
    stdfs::create_dir(d.join("tree")).unwrap();
    let secret = d.join("tree/secret");
    write(&secret, b"x", 0o000);
    let e = dump_err(&d.join("tree"), &Options::default());
    assert_eq!(e.path, secret);
    assert!(matches!(e.kind, WalkErrorKind::Io { .. }), "{e}");
    stdfs::set_permissions(&secret, Permissions::from_mode(0o644)).unwrap();

    let locked = d.join("tree/locked");
    stdfs::create_dir(&locked).unwrap();
    stdfs::set_permissions(&locked, Permissions::from_mode(0o000)).unwrap();
    let e = dump_err(&d.join("tree"), &Options::default());
    stdfs::set_permissions(&locked, Permissions::from_mode(0o755)).unwrap();
    assert_eq!(e.path, locked);
    assert!(matches!(e.kind, WalkErrorKind::Io { .. }), "{e}");
}

/// A sink that, when the file named `target` starts, rewrites it on disk to `new_len` bytes —
/// after the walk has taken its size, before it reads — and counts the data it then receives.
struct Tamper {
    path: PathBuf,
    target: &'static [u8],
    new_len: usize,
    announced: Option<u64>,
    received: u64,
}

impl Sink for Tamper {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::FileStart { name, size, .. } if name.unwrap_or(b"") == self.target => {
                self.announced = Some(size);
                let mut f = stdfs::OpenOptions::new().write(true).open(&self.path)?;
                f.set_len(0)?;
                f.write_all(&vec![b'x'; self.new_len])?;
            }
            Event::FileData(d) => self.received += d.len() as u64,
            _ => {}
        }
        Ok(())
    }
}

#[test]
fn file_that_grows_or_shrinks_while_read_is_an_error() {
    for (old_len, new_len) in [
        (10, 11),
        (10, 9),
        (10, 0),
        (0, 1),
        (300_000, 300_001),
        (300_000, 200_000),
        (131_072, 131_073),
    ] {
        for root_is_file in [false, true] {
            let t = tempfile::tempdir().unwrap();
            let f = t.path().join("f");
            write(&f, &vec![b'a'; old_len], 0o644);
            let mut sink = Tamper {
                path: f.clone(),
                target: b"f",
                new_len,
                announced: None,
                received: 0,
            };
            if root_is_file {
                sink.target = b"";
            }
            let root = if root_is_file { f.as_path() } else { t.path() };
            let e = fs::dump(root, &mut sink, &nix_ingest::Settings::default()).unwrap_err();
            assert_eq!(sink.announced, Some(old_len as u64));
            assert!(
                sink.received <= old_len as u64,
                "data beyond the announced size"
            );
            assert_eq!(e.path, f);
            match e.kind {
                WalkErrorKind::FileChanged { declared, actual } => {
                    assert_eq!(declared, old_len as u64);
                    assert_eq!(actual > declared, new_len > old_len, "{old_len}->{new_len}");
                    if new_len < old_len {
                        assert_eq!(actual, new_len as u64);
                    }
                }
                other => panic!("{old_len}->{new_len}: {other}"),
            }
        }
    }
}

#[test]
fn sink_errors_carry_the_path() {
    struct RefuseSymlinks;
    impl Sink for RefuseSymlinks {
        fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
            match event {
                Event::Symlink { .. } => Err(SinkError::Unsupported("no symlinks".into())),
                _ => Ok(()),
            }
        }
    }
    let t = tempfile::tempdir().unwrap();
    stdfs::create_dir(t.path().join("d")).unwrap();
    symlink("x", t.path().join("d/l")).unwrap();
    let e = fs::dump(
        t.path(),
        &mut RefuseSymlinks,
        &nix_ingest::Settings::default(),
    )
    .unwrap_err();
    assert_eq!(e.path, t.path().join("d/l"));
    assert!(matches!(
        e.kind,
        WalkErrorKind::Sink(SinkError::Unsupported(_))
    ));
    // The cause is the source, not repeated in the message.
    let cause = std::error::Error::source(&e).map(ToString::to_string);
    assert!(cause.is_some_and(|c| c.contains("no symlinks")), "{e:?}");
    assert!(!e.to_string().contains("no symlinks"), "{e}");
}

#[test]
fn limits_are_enforced() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    stdfs::create_dir_all(d.join("a/b/c")).unwrap();
    write(&d.join("a/b/c/f"), b"12345", 0o644);
    write(&d.join("long-name-here"), b"678", 0o644);
    symlink("0123456789", d.join("s")).unwrap();
    let ok = |limits: Limits| {
        let mut rec = Recorder::default();
        fs::dump(d, &mut rec, Options::new().limits(limits).settings())
    };
    let exact = Limits {
        max_depth: 4,
        max_name_len: 14,
        max_target_len: 10,
        max_entries_per_directory: 3,
        max_total_size: 18,
        ..Limits::default()
    };
    ok(exact).unwrap();

    let e = ok(Limits {
        max_depth: 3,
        ..exact
    })
    .unwrap_err();
    assert_eq!(e.path, d.join("a/b/c"));
    assert!(matches!(e.kind, WalkErrorKind::TooDeep { max: 3 }));

    let e = ok(Limits {
        max_name_len: 13,
        ..exact
    })
    .unwrap_err();
    assert_eq!(e.path, d.join("long-name-here"));
    assert!(matches!(
        e.kind,
        WalkErrorKind::NameTooLong { len: 14, max: 13 }
    ));

    let e = ok(Limits {
        max_target_len: 9,
        ..exact
    })
    .unwrap_err();
    assert_eq!(e.path, d.join("s"));
    assert!(matches!(
        e.kind,
        WalkErrorKind::TargetTooLong { len: 10, max: 9 }
    ));

    let e = ok(Limits {
        max_entries_per_directory: 2,
        ..exact
    })
    .unwrap_err();
    assert_eq!(e.path, d);
    assert!(matches!(e.kind, WalkErrorKind::TooManyEntries { max: 2 }));

    let e = ok(Limits {
        max_total_size: 17,
        ..exact
    })
    .unwrap_err();
    assert!(matches!(e.kind, WalkErrorKind::TooLarge { max: 17 }));

    let e = ok(Limits {
        max_depth: 0,
        ..exact
    })
    .unwrap_err();
    assert!(matches!(e.kind, WalkErrorKind::TooDeep { max: 0 }));
}

#[test]
fn root_paths_with_trailing_slash_and_dot() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("f"), b"f", 0o644);
    let expected = record(t.path());
    let mut slash = t.path().as_os_str().to_owned();
    slash.push("/");
    assert_eq!(record(Path::new(&slash)), expected);
    assert_eq!(record(&t.path().join(".")), expected);
}

/// An independent cross-check: walkdir (sorted by file name, never following links) visits the
/// same entries in the same order, with the same kinds, sizes and link targets, as `fs::dump`
/// announces them, on a tree with odd names, nesting and every entry kind.
#[test]
fn walk_agrees_with_walkdir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for name in [
        &b"a"[..],
        b"a-",
        b"a.b",
        b"a0",
        b"a=",
        b"\xff\xfe",
        b"sp ace",
        b"new\nline",
    ] {
        write(&p(root, name), name, 0o644);
    }
    for d in [&b"a"[..], b"z", b"z/a", b"z/a/b", b"empty"] {
        let _ = stdfs::create_dir(p(root, &[b"d", d].concat()));
    }
    stdfs::create_dir_all(p(root, b"z/y/x")).unwrap();
    write(&p(root, b"z/y/x/exe"), b"#!/bin/sh\n", 0o755);
    write(&p(root, b"z/y/big"), &vec![7u8; 300_000], 0o600);
    symlink("../a", p(root, b"z/up")).unwrap();
    symlink("/nonexistent/target", p(root, b"dangling")).unwrap();
    symlink("z", p(root, b"to-dir")).unwrap();

    // What walkdir sees, as (depth, name, kind, size or target).
    let mut expected = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
    {
        let entry = entry.unwrap();
        let name = entry.file_name().as_bytes().to_vec();
        let ft = entry.file_type();
        let what = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_symlink() {
            let t = stdfs::read_link(entry.path()).unwrap();
            format!("link {:?}", t.as_os_str().as_bytes())
        } else {
            format!("file {}", entry.metadata().unwrap().len())
        };
        expected.push((entry.depth(), name, what));
    }

    // What the walk announces, in the same shape.
    let mut seen = Vec::new();
    let mut depth = 0usize;
    for ev in record(root) {
        match ev {
            OwnedEvent::DirectoryStart { name } => {
                if let Some(name) = name {
                    seen.push((depth, name, "dir".to_string()));
                }
                depth += 1;
            }
            OwnedEvent::DirectoryEnd => depth -= 1,
            OwnedEvent::FileStart { name, size, .. } => {
                seen.push((depth, name.unwrap(), format!("file {size}")))
            }
            OwnedEvent::Symlink { name, target } => {
                seen.push((depth, name.unwrap(), format!("link {target:?}")))
            }
            OwnedEvent::FileData(_) | OwnedEvent::FileEnd => {}
        }
    }
    assert_eq!(seen, expected);
}

/// An entry swapped for a symlink (to a readable file) or a FIFO while the walk is in the same
/// directory is never read through the link and never blocks the walk: the symlink is emitted as
/// a symlink (or refused as a changed entry), the FIFO refused with the entry's path.
#[test]
fn entry_swapped_for_a_symlink_or_fifo_during_the_walk_is_never_followed() {
    /// On the first file's start, replaces `b` (listed, not yet visited) by what `swap` makes,
    /// and records the events.
    struct Swap<F: FnMut(&Path)> {
        dir: PathBuf,
        swap: Option<F>,
        rec: Recorder,
    }
    impl<F: FnMut(&Path)> Sink for Swap<F> {
        fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
            if let (
                Event::FileStart {
                    name: Some(b"a"), ..
                },
                Some(mut swap),
            ) = (event, self.swap.take())
            {
                let b = self.dir.join("b");
                stdfs::remove_file(&b).unwrap();
                swap(&b);
            }
            self.rec.event(event)
        }
    }
    let swapped = |make: &dyn Fn(&Path)| {
        let t = tempfile::tempdir().unwrap();
        write(&t.path().join("a"), b"content of a", 0o644);
        write(&t.path().join("b"), b"content of b", 0o644);
        let mut sink = Swap {
            dir: t.path().to_path_buf(),
            swap: Some(|b: &Path| make(b)),
            rec: Recorder::default(),
        };
        let result = fs::dump(t.path(), &mut sink, &nix_ingest::Settings::default());
        (t, result, sink.rec.events)
    };

    // What `b` turned out to be: its original content (if the walk had it open before the swap),
    // the symlink itself, or a refusal naming `b`; never the content of `a` read through the link.
    let b_events = |events: &[OwnedEvent]| {
        let start = events.iter().position(|e| {
            matches!(e, OwnedEvent::FileStart { name: Some(n), .. } | OwnedEvent::Symlink { name: Some(n), .. } if n == b"b")
        });
        start.map(|s| events[s..].to_vec()).unwrap_or_default()
    };
    let (t, result, events) = swapped(&|b: &Path| symlink("a", b).unwrap());
    let b = b_events(&events);
    if let Err(e) = &result {
        assert_eq!(e.path, t.path().join("b"));
    }
    assert!(
        !b.contains(&OwnedEvent::FileData(b"content of a".to_vec())),
        "the link was followed: {events:?}"
    );
    if result.is_ok() {
        assert!(
            b.first() == Some(&link(b"b", b"a"))
                || b.contains(&OwnedEvent::FileData(b"content of b".to_vec())),
            "{events:?}"
        );
    }

    let (t, result, events) = swapped(&|b: &Path| {
        let ok = std::process::Command::new("mkfifo")
            .arg(b)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo");
    });
    match result {
        Err(e) => assert_eq!(e.path, t.path().join("b")),
        Ok(()) => assert!(
            b_events(&events).contains(&OwnedEvent::FileData(b"content of b".to_vec())),
            "{events:?}"
        ),
    }
}
