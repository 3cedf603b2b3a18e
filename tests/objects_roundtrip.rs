//! Git objects out (loose-object export judged by real git) and back (restoring a git tree to the
//! NAR real Nix dumps for it).
//!
//! Oracles: `git fsck --strict`, `git ls-tree`, `git cat-file`, `git hash-object`, `git mktree`
//! (git 2.47, SHA-1 and SHA-256 repositories), and the golden NARs and git ids from real Nix in
//! tests/data/nar and tests/data/restore/oracle.txt.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink, SinkError, Tee};
use nix_ingest::git::events;
use nix_ingest::git::loose::LooseObjectWriter;
use nix_ingest::git::source::{self, MemoryObjects, ObjectSource, Repository};
use nix_ingest::git::{GitHasher, Mode, ObjectKind};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::nar::NarWriter;
use nix_ingest::{Limits, nar};

#[path = "support/git.rs"]
mod git_cli;
use git_cli::{fsck, git, git_text};

// ---------------------------------------------------------------------------------------------
// Helpers

fn format_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha256 => "sha256",
        _ => "sha1",
    }
}

fn init_repo(algorithm: Algorithm, bare: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let format = format!("--object-format={}", format_name(algorithm));
    let mut args = vec!["init", "-q", format.as_str()];
    if bare {
        args.push("--bare");
    }
    git(dir.path(), &args, b"");
    dir
}

/// A small deterministic PRNG (xorshift64*), so failures are reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File { executable: bool, data: Vec<u8> },
    Link(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Node>),
}

/// Names that sort differently in git order and NAR order, plus non-UTF-8 bytes, spaces and
/// control characters (everything git and NAR allow: no NUL, no '/', not "." or "..").
const NAMES: &[&[u8]] = &[
    b"a",
    b"a.b",
    b"a-",
    b"a0",
    b"a=",
    b"b",
    b"b.c",
    b"b-",
    b"B",
    b"\xc3\xa9",
    b"\xff\xfe",
    b"with space",
    b"_",
    b".hidden",
    b"x\x01y",
    b"new\nline",
    b"...",
    b"-",
    b"~",
];

fn random_dir(rng: &mut Rng, depth: u32) -> Node {
    let mut entries = BTreeMap::new();
    for _ in 0..rng.below(7) {
        let mut name = NAMES[rng.below(NAMES.len() as u64) as usize].to_vec();
        if rng.below(3) == 0 {
            name.extend_from_slice(format!("{}", rng.below(100)).as_bytes());
        }
        let node = match rng.below(8) {
            0..=1 if depth < 4 => random_dir(rng, depth + 1),
            0..=4 => {
                let len = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(10),
                    _ => rng.below(600),
                };
                // Few distinct contents, so some blobs repeat.
                let seed = rng.below(5);
                let data = (0..len)
                    .map(|i| (i.wrapping_mul(seed + 7) % 251) as u8)
                    .collect();
                Node::File {
                    executable: rng.below(3) == 0,
                    data,
                }
            }
            _ => Node::Link(
                [
                    &b"a"[..],
                    b"../x",
                    b"/abs/target",
                    b"\xc3\xa9",
                    b"dir/with space",
                ][rng.below(5) as usize]
                    .to_vec(),
            ),
        };
        entries.insert(name, node);
    }
    Node::Dir(entries)
}

fn emit(node: &Node, name: Option<&[u8]>, sink: &mut dyn Sink) {
    match node {
        Node::File { executable, data } => {
            sink.event(Event::FileStart {
                name,
                executable: *executable,
                size: data.len() as u64,
            })
            .unwrap();
            for chunk in data.chunks(97) {
                sink.event(Event::FileData(chunk)).unwrap();
            }
            sink.event(Event::FileEnd).unwrap();
        }
        Node::Link(target) => sink.event(Event::Symlink { name, target }).unwrap(),
        Node::Dir(entries) => {
            sink.event(Event::DirectoryStart { name }).unwrap();
            for (n, child) in entries {
                emit(child, Some(n), sink);
            }
            sink.event(Event::DirectoryEnd).unwrap();
        }
    }
}

/// Every path below the root: (path, mode as `git ls-tree` prints it, content of blobs).
fn listing(
    node: &Node,
    prefix: &[u8],
    out: &mut BTreeMap<Vec<u8>, (&'static str, Option<Vec<u8>>)>,
) {
    let Node::Dir(entries) = node else { return };
    for (name, child) in entries {
        let mut path = prefix.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        match child {
            Node::File { executable, data } => {
                let mode = if *executable { "100755" } else { "100644" };
                out.insert(path, (mode, Some(data.clone())));
            }
            Node::Link(target) => {
                out.insert(path, ("120000", Some(target.clone())));
            }
            Node::Dir(_) => {
                out.insert(path.clone(), ("040000", None));
                listing(child, &path, out);
            }
        }
    }
}

/// The NAR of a node, from the crate's writer (which the NAR tests judge against Nix).
fn nar_of(node: &Node) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    emit(node, None, &mut w);
    w.finish().unwrap()
}

fn count_files(dir: &Path, prefix: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with(prefix) {
                n += 1;
            }
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Objects out: loose objects judged by real git

fn export_and_check(algorithm: Algorithm, seed: u64, bare: bool) {
    let tree = random_dir(&mut Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1), 0);
    let repo = init_repo(algorithm, bare);
    let writer = LooseObjectWriter::open(repo.path()).unwrap();
    let mut hasher = GitHasher::with_objects(algorithm, writer);
    emit(&tree, None, &mut hasher);
    let (id, writer) = hasher.finish_with_objects().unwrap();
    let hex = id.encode(Format::Base16);

    fsck(repo.path());
    assert_eq!(git_text(repo.path(), &["cat-file", "-t", &hex]), "tree");

    // `git ls-tree -r -t` lists exactly the tree's paths and modes.
    let out = git(repo.path(), &["ls-tree", "-r", "-t", "-z", &hex], b"");
    let mut expected = BTreeMap::new();
    listing(&tree, b"", &mut expected);
    let mut seen = BTreeMap::new();
    let mut blobs = Vec::new();
    for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = record.iter().position(|&b| b == b'\t').unwrap();
        let meta = std::str::from_utf8(&record[..tab]).unwrap();
        let path = record[tab + 1..].to_vec();
        let mut fields = meta.split(' ');
        let (mode, kind, oid) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        assert_eq!(kind, if mode == "040000" { "tree" } else { "blob" });
        if kind == "blob" {
            blobs.push((path.clone(), oid.to_owned()));
        }
        seen.insert(path, mode.to_owned());
    }
    let expected_modes: BTreeMap<_, _> = expected
        .iter()
        .map(|(p, (m, _))| (p.clone(), m.to_string()))
        .collect();
    assert_eq!(seen, expected_modes, "seed {seed}");

    // `git cat-file --batch` gives every blob's bytes back.
    let input: String = blobs.iter().map(|(_, oid)| format!("{oid}\n")).collect();
    let out = git(repo.path(), &["cat-file", "--batch"], input.as_bytes());
    let mut rest = &out[..];
    for (path, oid) in &blobs {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&rest[..nl]).unwrap();
        let size: usize = header
            .strip_prefix(&format!("{oid} blob "))
            .unwrap()
            .parse()
            .unwrap();
        let body = &rest[nl + 1..nl + 1 + size];
        assert_eq!(Some(body.to_vec()), expected[path].1, "content of {path:?}");
        rest = &rest[nl + 1 + size + 1..];
    }

    // `git cat-file -p` shows the root's entries.
    let shown = git_text(repo.path(), &["cat-file", "-p", &hex]);
    let Node::Dir(root) = &tree else {
        unreachable!()
    };
    assert_eq!(shown.lines().filter(|l| !l.is_empty()).count(), root.len());

    // Writing again adds nothing: every object is already there.
    let objects = writer.written();
    assert!(objects >= 1);
    let again = LooseObjectWriter::open(repo.path()).unwrap();
    let mut hasher = GitHasher::with_objects(algorithm, again);
    emit(&tree, None, &mut hasher);
    let (id2, again) = hasher.finish_with_objects().unwrap();
    assert_eq!(id2, id);
    assert_eq!(again.written(), 0);
    assert!(again.already_present() >= objects);
    assert_eq!(
        count_files(repo.path(), "tmp_obj_"),
        0,
        "no temporary file left"
    );
}

#[test]
fn random_trees_export_as_loose_objects_git_accepts_sha1() {
    for seed in 1..=8 {
        export_and_check(Algorithm::Sha1, seed, seed % 2 == 0);
    }
}

#[test]
fn random_trees_export_as_loose_objects_git_accepts_sha256() {
    for seed in 1..=8 {
        export_and_check(Algorithm::Sha256, seed, seed % 2 == 1);
    }
}

#[test]
fn large_blob_streams_to_disk_and_git_reads_it() {
    // 3 MiB that zlib cannot shrink much, so the compressed object spills to a temporary file.
    let mut rng = Rng(42);
    let data: Vec<u8> = (0..3 << 20).map(|_| rng.next() as u8).collect();
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
        let repo = init_repo(algorithm, false);
        let mut hasher =
            GitHasher::with_objects(algorithm, LooseObjectWriter::open(repo.path()).unwrap());
        emit(
            &Node::File {
                executable: false,
                data: data.clone(),
            },
            None,
            &mut hasher,
        );
        let (id, _) = hasher.finish_with_objects().unwrap();
        let hex = id.encode(Format::Base16);
        assert_eq!(
            git_text(repo.path(), &["hash-object", "--stdin"]).len(),
            hex.len()
        );
        let hashed =
            String::from_utf8(git(repo.path(), &["hash-object", "--stdin"], &data)).unwrap();
        assert_eq!(hashed.trim(), hex);
        assert_eq!(git(repo.path(), &["cat-file", "blob", &hex], b""), data);
        fsck(repo.path());
        assert_eq!(count_files(repo.path(), "tmp_obj_"), 0);
    }
}

#[test]
fn writer_refuses_ids_of_another_object_format() {
    let repo = init_repo(Algorithm::Sha256, false);
    let mut hasher = GitHasher::with_objects(
        Algorithm::Sha1,
        LooseObjectWriter::open(repo.path()).unwrap(),
    );
    let refused = [
        Event::FileStart {
            name: None,
            executable: false,
            size: 1,
        },
        Event::FileData(b"x"),
        Event::FileEnd,
    ]
    .into_iter()
    .try_for_each(|e| hasher.event(e))
    .and_then(|()| hasher.finish_with_objects().map(|_| ()));
    assert!(
        matches!(refused, Err(SinkError::Unsupported(_))),
        "{refused:?}"
    );
    assert_eq!(count_files(repo.path(), "tmp_obj_"), 0);
}

#[test]
fn opening_something_that_is_not_a_repository_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LooseObjectWriter::open(dir.path()),
        Err(nix_ingest::git::objects_dir::LocateError::NotARepository { .. })
    ));
    assert!(Repository::open(dir.path()).is_err());
}

/// Linked work trees, as real `git worktree add` makes them: a `.git` file naming the git
/// directory, whose `commondir` names the repository's; SHA-256 is read from the common config.
#[test]
fn linked_work_trees_are_located_through_their_git_file_and_commondir() {
    use nix_ingest::git::objects_dir::ObjectsDir;
    let repo = init_repo(Algorithm::Sha256, false);
    git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        b"",
    );
    let linked = tempfile::tempdir().unwrap();
    let wt = linked.path().join("wt");
    git(
        repo.path(),
        &["worktree", "add", "-q", wt.to_str().unwrap()],
        b"",
    );
    assert!(wt.join(".git").is_file());
    let dir = ObjectsDir::locate(&wt).unwrap();
    assert_eq!(dir.algorithm, Algorithm::Sha256);
    assert_eq!(
        dir.path.canonicalize().unwrap(),
        repo.path().join(".git/objects").canonicalize().unwrap()
    );
}

/// `.git` files, `commondir` and `config` are read only when regular files (a FIFO is never
/// opened, so never blocks; a device is never read) and only so much: a `.git` file or
/// `commondir` of at most 64 KiB, a `config` line by line, each line at most 64 KiB.
#[cfg(unix)]
#[test]
fn repository_files_that_are_not_small_regular_files_are_refused() {
    use nix_ingest::git::objects_dir::{LocateError, ObjectsDir};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Locates on another thread, so that a blocking open fails the test instead of hanging it.
    fn locate(repo: &Path) -> Result<ObjectsDir, LocateError> {
        let (tx, rx) = mpsc::channel();
        let repo = repo.to_owned();
        std::thread::spawn(move || tx.send(ObjectsDir::locate(&repo)));
        rx.recv_timeout(Duration::from_secs(30))
            .expect("locating the repository blocked")
    }
    fn mkfifo(path: &Path) {
        let status = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success());
    }

    // config: a FIFO, a device, too long a line — and a large config of short lines is fine.
    let repo = init_repo(Algorithm::Sha1, true);
    let config = repo.path().join("config");
    let original = fs::read(&config).unwrap();
    fs::remove_file(&config).unwrap();
    mkfifo(&config);
    assert!(
        matches!(locate(repo.path()), Err(LocateError::NotAFile { path }) if path == config),
        "FIFO config"
    );
    fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    assert!(
        matches!(locate(repo.path()), Err(LocateError::NotAFile { path }) if path == config),
        "config symlinked to a device"
    );
    fs::remove_file(&config).unwrap();
    let mut long_line = original.clone();
    long_line.extend_from_slice(b"[extensions]\n\tobjectformat = sha256 #");
    long_line.extend(std::iter::repeat_n(b'x', 100 * 1024));
    fs::write(&config, &long_line).unwrap();
    assert!(
        matches!(locate(repo.path()), Err(LocateError::TooLarge { path, limit: 65536, line: true }) if path == config),
        "100 KiB line"
    );
    let mut many_lines = original.clone();
    for i in 0..5000 {
        many_lines.extend_from_slice(format!("[branch \"b{i}\"]\n\tremote = origin\n").as_bytes());
    }
    many_lines.extend_from_slice(b"[extensions]\n\tobjectformat = sha256\n");
    assert!(many_lines.len() > 100 * 1024);
    fs::write(&config, &many_lines).unwrap();
    assert_eq!(locate(repo.path()).unwrap().algorithm, Algorithm::Sha256);
    // A config symlinked to a regular file is read, as git reads it.
    let elsewhere = tempfile::tempdir().unwrap();
    fs::rename(&config, elsewhere.path().join("config")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("config"), &config).unwrap();
    assert_eq!(locate(repo.path()).unwrap().algorithm, Algorithm::Sha256);

    // `.git` file: too large, or a FIFO (then not a repository: git too skips a `.git` that is
    // not a regular file).
    let work = tempfile::tempdir().unwrap();
    let dot_git = work.path().join(".git");
    let mut big = format!("gitdir: {}\n", repo.path().display()).into_bytes();
    big.extend(std::iter::repeat_n(b'\n', 100 * 1024));
    fs::write(&dot_git, &big).unwrap();
    assert!(
        matches!(locate(work.path()), Err(LocateError::TooLarge { path, line: false, .. }) if path == dot_git),
        "100 KiB .git file"
    );
    big.truncate(64 * 1024);
    fs::write(&dot_git, &big).unwrap();
    assert_eq!(locate(work.path()).unwrap().algorithm, Algorithm::Sha256);
    fs::remove_file(&dot_git).unwrap();
    mkfifo(&dot_git);
    assert!(
        matches!(locate(work.path()), Err(LocateError::NotARepository { .. })),
        "FIFO .git"
    );

    // commondir: a FIFO, a directory.
    fs::remove_file(&dot_git).unwrap();
    fs::write(&dot_git, format!("gitdir: {}\n", repo.path().display())).unwrap();
    let commondir = repo.path().join("commondir");
    mkfifo(&commondir);
    assert!(
        matches!(locate(work.path()), Err(LocateError::NotAFile { path }) if path == commondir),
        "FIFO commondir"
    );
    fs::remove_file(&commondir).unwrap();
    fs::create_dir(&commondir).unwrap();
    assert!(
        matches!(locate(work.path()), Err(LocateError::NotAFile { path }) if path == commondir),
        "commondir a directory"
    );
}

// ---------------------------------------------------------------------------------------------
// Back: git trees to the NARs real Nix dumps

struct Golden {
    nar: String,
    mode: Mode,
    algorithm: Algorithm,
    id: Hash,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn golden() -> Vec<Golden> {
    let text = fs::read_to_string(data_dir().join("restore/oracle.txt")).unwrap();
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("add "))
    {
        let f: Vec<&str> = line.split(' ').collect();
        let algorithm: Algorithm = f[2].parse().unwrap();
        out.push(Golden {
            nar: f[0].to_owned(),
            mode: match f[1] {
                "40000" => Mode::Directory,
                "100644" => Mode::File,
                "100755" => Mode::Executable,
                "120000" => Mode::Symlink,
                other => panic!("mode {other}"),
            },
            algorithm,
            id: Hash::parse_unprefixed(f[3], algorithm).unwrap(),
        });
    }
    assert_eq!(out.len(), 12);
    out
}

fn golden_nar(name: &str) -> Vec<u8> {
    fs::read(data_dir().join("nar").join(name)).unwrap()
}

/// Golden NAR → our git export into a real repository → restore from that repository.
#[test]
fn golden_nars_export_and_restore_byte_for_byte() {
    for g in golden() {
        let bytes = golden_nar(&g.nar);
        let repo = init_repo(g.algorithm, false);
        let mut hasher =
            GitHasher::with_objects(g.algorithm, LooseObjectWriter::open(repo.path()).unwrap());
        nar::read(&bytes[..], &mut hasher, &Limits::default()).unwrap();
        let (id, _) = hasher.finish_with_objects().unwrap();
        assert_eq!(id, g.id, "{} {}", g.nar, g.algorithm);
        fsck(repo.path());

        let mut source = Repository::open(repo.path()).unwrap();
        assert_eq!(source.algorithm(), g.algorithm);
        let restored =
            events::to_nar(&g.id, g.mode, &mut source, Vec::new(), &Limits::default()).unwrap();
        assert!(
            restored == bytes,
            "{} {}: restored NAR differs",
            g.nar,
            g.algorithm
        );
    }
}

/// Builds the object of a recorded event stream with real git (`hash-object -w`, `mktree`),
/// returning its id as git prints it.
fn build_with_git(repo: &Path, events: &[OwnedEvent]) -> String {
    // Entries of each open directory: (mode, type, id, name).
    let mut stack: Vec<(Vec<u8>, Vec<u8>)> = Vec::new(); // (name, mktree input)
    let mut file: Option<(Option<Vec<u8>>, bool, Vec<u8>)> = None;
    let mut root = String::new();
    let hash_blob = |data: &[u8]| {
        String::from_utf8(git(
            repo,
            &["hash-object", "-w", "--no-filters", "--stdin"],
            data,
        ))
        .unwrap()
        .trim()
        .to_owned()
    };
    fn add(
        stack: &mut [(Vec<u8>, Vec<u8>)],
        root: &mut String,
        name: Option<Vec<u8>>,
        mode: &str,
        kind: &str,
        id: String,
    ) {
        match (stack.last_mut(), name) {
            (Some((_, input)), Some(name)) => {
                input.extend_from_slice(format!("{mode} {kind} {id}\t").as_bytes());
                input.extend_from_slice(&name);
                input.push(0);
            }
            _ => *root = id,
        }
    }
    for event in events {
        match event {
            OwnedEvent::DirectoryStart { name } => {
                stack.push((name.clone().unwrap_or_default(), Vec::new()));
            }
            OwnedEvent::DirectoryEnd => {
                let (name, input) = stack.pop().unwrap();
                let id = String::from_utf8(git(repo, &["mktree", "-z"], &input))
                    .unwrap()
                    .trim()
                    .to_owned();
                let name = (!stack.is_empty()).then_some(name);
                add(&mut stack, &mut root, name, "040000", "tree", id);
            }
            OwnedEvent::FileStart {
                name, executable, ..
            } => file = Some((name.clone(), *executable, Vec::new())),
            OwnedEvent::FileData(d) => file.as_mut().unwrap().2.extend_from_slice(d),
            OwnedEvent::FileEnd => {
                let (name, executable, data) = file.take().unwrap();
                let id = hash_blob(&data);
                let mode = if executable { "100755" } else { "100644" };
                add(&mut stack, &mut root, name, mode, "blob", id);
            }
            OwnedEvent::Symlink { name, target } => {
                let id = hash_blob(target);
                add(&mut stack, &mut root, name.clone(), "120000", "blob", id);
            }
        }
    }
    root
}

/// Objects written by real git (loose, then packed) restore to the NAR real Nix dumps.
#[test]
fn objects_written_by_git_restore_to_the_nar_nix_dumps() {
    for g in golden() {
        let bytes = golden_nar(&g.nar);
        let mut rec = Recorder::default();
        nar::read(&bytes[..], &mut rec, &Limits::default()).unwrap();
        let repo = init_repo(g.algorithm, true);
        let hex = build_with_git(repo.path(), &rec.events);
        assert_eq!(
            hex,
            g.id.encode(Format::Base16),
            "{} {}",
            g.nar,
            g.algorithm
        );

        let mut source = Repository::open(repo.path()).unwrap();
        let restored =
            events::to_nar(&g.id, g.mode, &mut source, Vec::new(), &Limits::default()).unwrap();
        assert!(
            restored == bytes,
            "{} {}: restored NAR differs",
            g.nar,
            g.algorithm
        );
        // Blobs read ahead on two other threads, with room for only a few at a time.
        let mut ahead = Repository::open(repo.path())
            .unwrap()
            .read_ahead()
            .threads(2)
            .max_bytes(64);
        let restored =
            events::to_nar(&g.id, g.mode, &mut ahead, Vec::new(), &Limits::default()).unwrap();
        assert!(
            restored == bytes,
            "{} {}: NAR restored with read-ahead differs",
            g.nar,
            g.algorithm
        );

        // Pack everything and drop the loose copies.
        if g.mode == Mode::Directory {
            git(repo.path(), &["update-ref", "refs/keep", &hex], b"");
            git(repo.path(), &["repack", "-a", "-d", "-q"], b"");
            git(repo.path(), &["prune-packed"], b"");
            let mut source = Repository::open(repo.path()).unwrap();
            let result = events::to_nar(&g.id, g.mode, &mut source, Vec::new(), &Limits::default());
            if cfg!(feature = "gix") {
                assert!(
                    result.unwrap() == bytes,
                    "{}: packed restore differs",
                    g.nar
                );
                let mut ahead = Repository::open(repo.path())
                    .unwrap()
                    .read_ahead()
                    .threads(2);
                let restored =
                    events::to_nar(&g.id, g.mode, &mut ahead, Vec::new(), &Limits::default());
                assert!(
                    restored.unwrap() == bytes,
                    "{}: packed restore with read-ahead differs",
                    g.nar
                );
            } else {
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        &err,
                        events::RestoreError::Object { source, .. }
                            if matches!(&**source, source::ObjectError::NotFound { hint, .. } if hint.contains("gix"))
                    ),
                    "{err}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Back, in memory: properties over random trees

#[test]
fn random_trees_restore_to_their_own_nar_in_every_algorithm() {
    for seed in 1..=40u64 {
        let tree = random_dir(&mut Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1), 0);
        let expected_nar = nar_of(&tree);
        for algorithm in Algorithm::ALL {
            let mut tee = Tee::new(
                GitHasher::with_objects(algorithm, MemoryObjects::new()),
                NarWriter::new(Vec::new()),
            );
            emit(&tree, None, &mut tee);
            let (git, nar_writer) = tee.into_inner();
            let (id, mut objects) = git.finish_with_objects().unwrap();
            assert_eq!(nar_writer.finish().unwrap(), expected_nar);

            // Restoring gives the same events, hence the same NAR and the same id.
            let mut again = Tee::new(GitHasher::new(algorithm), NarWriter::new(Vec::new()));
            events::to_events(
                &id,
                Mode::Directory,
                &mut objects,
                &mut again,
                &Limits::default(),
            )
            .unwrap();
            let (git, nar_writer) = again.into_inner();
            assert_eq!(git.finish().unwrap(), id, "seed {seed} {algorithm}");
            assert!(
                nar_writer.finish().unwrap() == expected_nar,
                "seed {seed} {algorithm}"
            );
        }
    }
}

#[test]
fn blob_roots_restore_as_file_executable_or_symlink() {
    let mut objects = MemoryObjects::new();
    let id = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"target".to_vec());
    for (mode, expected) in [
        (
            Mode::File,
            Node::File {
                executable: false,
                data: b"target".to_vec(),
            },
        ),
        (
            Mode::Executable,
            Node::File {
                executable: true,
                data: b"target".to_vec(),
            },
        ),
        (Mode::Symlink, Node::Link(b"target".to_vec())),
    ] {
        let nar = events::to_nar(&id, mode, &mut objects, Vec::new(), &Limits::default()).unwrap();
        assert_eq!(nar, nar_of(&expected), "{mode}");
    }
    // A tree id where a blob is expected, and the other way round.
    let tree = objects.insert(Algorithm::Sha1, ObjectKind::Tree, Vec::new());
    assert!(matches!(
        events::to_nar(
            &tree,
            Mode::File,
            &mut objects,
            Vec::new(),
            &Limits::default()
        ),
        Err(events::RestoreError::WrongKind { .. })
    ));
    assert!(matches!(
        events::to_nar(
            &id,
            Mode::Directory,
            &mut objects,
            Vec::new(),
            &Limits::default()
        ),
        Err(events::RestoreError::WrongKind { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Distrust: corrupt objects, odd trees, limits

fn entry(mode: &str, name: &[u8], id: &Hash) -> Vec<u8> {
    let mut e = format!("{mode} ").into_bytes();
    e.extend_from_slice(name);
    e.push(0);
    e.extend_from_slice(id.as_bytes());
    e
}

fn restore_err(root: &Hash, objects: &mut MemoryObjects, limits: &Limits) -> events::RestoreError {
    events::to_events(
        root,
        Mode::Directory,
        objects,
        &mut Recorder::default(),
        limits,
    )
    .unwrap_err()
}

#[test]
fn corrupt_objects_are_named_by_id() {
    let mut objects = MemoryObjects::new();
    let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"good".to_vec());
    let sub = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("100644", b"f", &blob),
    );
    let root = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("40000", b"d", &sub),
    );
    events::to_events(
        &root,
        Mode::Directory,
        &mut objects,
        &mut Recorder::default(),
        &Limits::default(),
    )
    .unwrap();

    for (victim, bad_body) in [
        (blob, b"evil".to_vec()),
        (sub, entry("100755", b"f", &blob)),
    ] {
        let mut corrupt = objects.clone();
        let kind = corrupt.get(&victim).unwrap().0;
        corrupt.insert_with_id(victim, kind, bad_body);
        let err = restore_err(&root, &mut corrupt, &Limits::default());
        match &err {
            events::RestoreError::Object { source, path } => {
                assert!(
                    matches!(&**source, source::ObjectError::HashMismatch { id, .. } if id == &victim),
                    "{source}"
                );
                assert!(path.starts_with("/d"), "{path}");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            chain(&err).contains(&victim.encode(Format::Base16)),
            "{err}"
        );
    }

    // A missing object.
    let mut missing = objects.clone();
    missing.remove(&blob);
    assert!(matches!(
        restore_err(&root, &mut missing, &Limits::default()),
        events::RestoreError::Object { source, .. }
            if matches!(*source, source::ObjectError::NotFound { id, .. } if id == blob)
    ));
}

#[test]
fn corrupt_loose_objects_are_named_by_id() {
    let repo = init_repo(Algorithm::Sha1, false);
    let mut hasher = GitHasher::with_objects(
        Algorithm::Sha1,
        LooseObjectWriter::open(repo.path()).unwrap(),
    );
    emit(
        &Node::Dir(BTreeMap::from([(
            b"f".to_vec(),
            Node::File {
                executable: false,
                data: b"hello\n".to_vec(),
            },
        )])),
        None,
        &mut hasher,
    );
    let (root, _) = hasher.finish_with_objects().unwrap();
    let blob_hex = git_text(
        repo.path(),
        &["rev-parse", &format!("{}:f", root.encode(Format::Base16))],
    );
    let path = repo
        .path()
        .join(".git/objects")
        .join(&blob_hex[..2])
        .join(&blob_hex[2..]);

    let replace = |bytes: &[u8]| {
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, bytes).unwrap();
    };
    let zlib = |bytes: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let cases: [(&str, Vec<u8>); 4] = [
        ("other content", zlib(b"blob 6\0HELLO\n")),
        ("size lie", zlib(b"blob 9\0hello\n")),
        ("not zlib", b"garbage, not a zlib stream".to_vec()),
        ("a commit", zlib(b"commit 6\0hello\n")),
    ];
    for ((what, bytes), ahead) in cases.iter().flat_map(|case| [(case, false), (case, true)]) {
        replace(bytes);
        let source = Repository::open(repo.path()).unwrap();
        // Read ahead on another thread or not, the walk finds the corruption.
        let mut source: Box<dyn source::ObjectSource> = if ahead {
            Box::new(source.read_ahead().threads(2))
        } else {
            Box::new(source)
        };
        let err = events::to_events(
            &root,
            Mode::Directory,
            &mut source,
            &mut Recorder::default(),
            &Limits::default(),
        )
        .unwrap_err();
        let what = *what;
        if what == "a commit" {
            // A source serves commits too; the walk refuses one where a blob belongs.
            assert!(
                matches!(err, events::RestoreError::WrongKind { .. }),
                "{what}: {err}"
            );
        } else {
            assert!(
                matches!(err, events::RestoreError::Object { .. }),
                "{what}: {err}"
            );
        }
        assert!(chain(&err).contains(&blob_hex), "{what}: {err}");
    }
}

#[test]
fn gitlinks_and_unknown_modes_are_typed_errors() {
    let mut objects = MemoryObjects::new();
    let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"x".to_vec());
    let commit = Hash::digest(Algorithm::Sha1, b"some commit");
    // Octal numbers git's tree parser takes, but no file system object has.
    for mode in ["160000", "100664", "040000", "644", ""] {
        let id = if mode == "160000" { commit } else { blob };
        let root = objects.insert(Algorithm::Sha1, ObjectKind::Tree, entry(mode, b"sub", &id));
        match restore_err(&root, &mut objects, &Limits::default()) {
            events::RestoreError::UnsupportedMode {
                mode: m,
                tree,
                path,
            } => {
                assert_eq!(m, mode);
                assert_eq!(tree, root);
                assert_eq!(path, "/sub");
            }
            other => panic!("{mode}: {other}"),
        }
    }
    let root = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("160000", b"sub", &commit),
    );
    assert!(
        restore_err(&root, &mut objects, &Limits::default())
            .to_string()
            .contains("submodule")
    );
}

#[test]
fn non_canonical_trees_are_refused() {
    let mut objects = MemoryObjects::new();
    let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"x".to_vec());
    let empty = objects.insert(Algorithm::Sha1, ObjectKind::Tree, Vec::new());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unsorted",
            [entry("100644", b"b", &blob), entry("100644", b"a", &blob)].concat(),
        ),
        // NAR order would accept this one; git order puts "a.b" before directory "a".
        (
            "dir before dotted file",
            [entry("40000", b"a", &empty), entry("100644", b"a.b", &blob)].concat(),
        ),
        (
            "duplicate",
            [entry("100644", b"a", &blob), entry("100644", b"a", &blob)].concat(),
        ),
        // Distinct in git order ("a" < "a/"), the same name on disk.
        (
            "file and dir of one name",
            [entry("100644", b"a", &blob), entry("40000", b"a", &empty)].concat(),
        ),
        ("empty name", entry("100644", b"", &blob)),
        ("dot", entry("100644", b".", &blob)),
        ("dot dot", entry("40000", b"..", &empty)),
        ("slash", entry("100644", b"a/b", &blob)),
        ("truncated id", entry("100644", b"a", &blob)[..10].to_vec()),
        ("no mode", b"garbage".to_vec()),
        // Git's tree parser (tree-walk.c `get_mode`) takes octal digits only; no mode git
        // writes has more than six.
        ("mode not a number", entry("100644x", b"a", &blob)),
        ("mode not octal", entry("100648", b"a", &blob)),
        ("mode too long", entry("0100644", b"a", &blob)),
        ("mode without a name", b"100644".to_vec()),
        ("name not terminated", b"100644 a".to_vec()),
    ];
    for (what, body) in cases {
        let root = objects.insert(Algorithm::Sha1, ObjectKind::Tree, body);
        let err = restore_err(&root, &mut objects, &Limits::default());
        assert!(
            matches!(err, events::RestoreError::BadTree { .. }),
            "{what}: {err}"
        );
    }
    // The canonical order of the same entries is fine.
    let root = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        [
            entry("100644", b"a.b", &blob),
            entry("40000", b"a", &empty),
            entry("100644", b"a0", &blob),
        ]
        .concat(),
    );
    let mut rec = Recorder::default();
    events::to_events(
        &root,
        Mode::Directory,
        &mut objects,
        &mut rec,
        &Limits::default(),
    )
    .unwrap();
    let names: Vec<_> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            OwnedEvent::DirectoryStart { name: Some(n) }
            | OwnedEvent::FileStart { name: Some(n), .. } => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, [&b"a"[..], b"a.b", b"a0"], "NAR order");
}

/// A chain of `depth` nested directories, built bottom-up (no recursion).
fn deep_chain(objects: &mut MemoryObjects, depth: usize) -> Hash {
    let mut id = objects.insert(Algorithm::Sha1, ObjectKind::Tree, Vec::new());
    for _ in 1..depth {
        id = objects.insert(Algorithm::Sha1, ObjectKind::Tree, entry("40000", b"d", &id));
    }
    id
}

#[test]
fn limits_are_enforced() {
    let mut objects = MemoryObjects::new();
    // Depth: the default allows 4096 levels; walking them needs no recursion.
    let deep = deep_chain(&mut objects, 4096);
    let mut rec = Recorder::default();
    events::to_events(
        &deep,
        Mode::Directory,
        &mut objects,
        &mut rec,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(rec.events.len(), 2 * 4096);
    let deeper = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("40000", b"d", &deep),
    );
    assert!(matches!(
        restore_err(&deeper, &mut objects, &Limits::default()),
        events::RestoreError::Limit {
            what: "directory depth",
            ..
        }
    ));

    let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, vec![7; 1000]);
    let name = vec![b'n'; 300];
    let long_name = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("100644", &name, &blob),
    );
    assert!(matches!(
        restore_err(&long_name, &mut objects, &Limits::default()),
        events::RestoreError::Limit {
            what: "name length",
            ..
        }
    ));

    let two = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        [entry("100644", b"a", &blob), entry("100644", b"b", &blob)].concat(),
    );
    let few = Limits {
        max_entries_per_directory: 1,
        ..Limits::default()
    };
    assert!(matches!(
        restore_err(&two, &mut objects, &few),
        events::RestoreError::Limit { .. }
    ));
    let small = Limits {
        max_total_size: 1500,
        ..Limits::default()
    };
    assert!(matches!(
        restore_err(&two, &mut objects, &small),
        events::RestoreError::Limit {
            what: "total size",
            ..
        }
    ));

    let target = objects.insert(Algorithm::Sha1, ObjectKind::Blob, vec![b't'; 5000]);
    let link = objects.insert(
        Algorithm::Sha1,
        ObjectKind::Tree,
        entry("120000", b"l", &target),
    );
    assert!(matches!(
        restore_err(&link, &mut objects, &Limits::default()),
        events::RestoreError::BadSymlinkTarget {
            problem: events::TargetProblem::TooLong { len: 5000, max: 4095 },
            id,
            path,
        } if id == target && path == "/l"
    ));
}

/// Symlink targets no file system holds (Linux `symlink(2)` refuses an empty target; a NUL ends
/// a C path), and over `max_target_len`: a typed error naming the blob and the symlink's path,
/// for a symlink in a tree and for a symlink root alike, where the NAR writer would otherwise
/// refuse the event.
#[test]
fn symlinks_to_empty_or_nul_holding_targets_are_typed_errors() {
    use events::TargetProblem;
    let mut objects = MemoryObjects::new();
    let limits = Limits {
        max_target_len: 8,
        ..Limits::default()
    };
    for (target, problem) in [
        (&b""[..], TargetProblem::Empty),
        (b"\0", TargetProblem::Nul { offset: 0 }),
        (b"ab\0cd", TargetProblem::Nul { offset: 2 }),
        (b"123456789", TargetProblem::TooLong { len: 9, max: 8 }),
    ] {
        let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, target.to_vec());
        let sub = objects.insert(
            Algorithm::Sha1,
            ObjectKind::Tree,
            entry("120000", b"link", &blob),
        );
        let root = objects.insert(
            Algorithm::Sha1,
            ObjectKind::Tree,
            entry("40000", b"d", &sub),
        );
        for (id, mode, where_) in [
            (root, Mode::Directory, "/d/link"),
            (blob, Mode::Symlink, "/"),
        ] {
            let err = events::to_nar(&id, mode, &mut objects, Vec::new(), &limits).unwrap_err();
            match &err {
                events::RestoreError::BadSymlinkTarget {
                    path,
                    id,
                    problem: p,
                } => assert_eq!((path.as_str(), id, p), (where_, &blob, &problem)),
                other => panic!("{target:?}: {other}"),
            }
            assert!(err.to_string().contains(&blob.encode(Format::Base16)));
        }
    }
    // At the limit is fine.
    let blob = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"12345678".to_vec());
    events::to_nar(&blob, Mode::Symlink, &mut objects, Vec::new(), &limits).unwrap();
}

/// Trees `t(k+1) = { a: t(k), b: t(k) }` over the empty tree `t(0)`: `k + 1` objects describe
/// `2^(k+1) - 2` entries. The entry budget counts every one and refuses past its limit, so a
/// few objects cannot cost exponential time.
#[test]
fn dag_shaped_trees_are_bounded_by_the_total_entry_limit() {
    let mut objects = MemoryObjects::new();
    let mut levels = vec![objects.insert(Algorithm::Sha1, ObjectKind::Tree, Vec::new())];
    for k in 0..64 {
        let below = levels[k];
        let body = [entry("40000", b"a", &below), entry("40000", b"b", &below)].concat();
        levels.push(objects.insert(Algorithm::Sha1, ObjectKind::Tree, body));
    }
    let with_total = |max_entries_total| Limits {
        max_entries_total,
        ..Limits::default()
    };
    // Exactly at the limit: t(8) has 2^9 - 2 = 510 entries, hence 2 × 510 + 2 events.
    let mut rec = Recorder::default();
    events::to_events(
        &levels[8],
        Mode::Directory,
        &mut objects,
        &mut rec,
        &with_total(510),
    )
    .unwrap();
    assert_eq!(rec.events.len(), 2 * 510 + 2);
    assert!(matches!(
        restore_err(&levels[8], &mut objects, &with_total(509)),
        events::RestoreError::Limit {
            what: "total entries",
            limit: 509,
            ..
        }
    ));
    // 2^65 - 2 entries: refused once 100,000 have been read.
    let start = std::time::Instant::now();
    assert!(matches!(
        restore_err(&levels[64], &mut objects, &with_total(100_000)),
        events::RestoreError::Limit {
            what: "total entries",
            ..
        }
    ));
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn sources_are_usable_as_trait_objects() {
    let mut objects = MemoryObjects::new();
    let id = objects.insert(Algorithm::Sha256, ObjectKind::Blob, b"hi".to_vec());
    let source: &mut dyn ObjectSource = &mut objects;
    let (kind, body) = source::read_verified(source, &id, 10).unwrap();
    assert_eq!((kind, body), (ObjectKind::Blob, b"hi".to_vec()));
    assert!(matches!(
        source::read_verified(source, &id, 1),
        Err(source::ObjectError::TooLarge { .. })
    ));
}

/// With the `gix` feature a packed object's size comes from the pack's entry header: a packed
/// blob whose compressed data is spoiled (so inflating it fails) is still refused as too large
/// by a reader with a smaller limit, which shows it was never inflated; a reader taking it
/// inflates it and finds the damage.
#[cfg(feature = "gix")]
#[test]
fn packed_objects_are_refused_by_size_before_they_are_inflated() {
    let repo = init_repo(Algorithm::Sha1, true);
    // Bytes that do not compress away, so the zlib stream is long enough to spoil in its middle.
    let mut rng = Rng(7);
    let data: Vec<u8> = (0..100_000).map(|_| rng.below(256) as u8).collect();
    let hex = String::from_utf8(git(repo.path(), &["hash-object", "-w", "--stdin"], &data))
        .unwrap()
        .trim_end()
        .to_owned();
    let id = Hash::parse_unprefixed(&hex, Algorithm::Sha1).unwrap();
    git(repo.path(), &["update-ref", "refs/keep", &hex], b"");
    git(repo.path(), &["repack", "-a", "-d", "-q"], b"");
    git(repo.path(), &["prune-packed"], b"");

    // `git verify-pack -v`: "<id> blob <size> <size in pack> <offset>" per object.
    let pack_dir = repo.path().join("objects/pack");
    let idx = fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();
    let listing = git_text(repo.path(), &["verify-pack", "-v", idx.to_str().unwrap()]);
    let line = listing.lines().find(|l| l.starts_with(&hex)).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1..3], ["blob", "100000"]);
    let (in_pack, offset): (usize, usize) =
        (fields[3].parse().unwrap(), fields[4].parse().unwrap());
    let pack = idx.with_extension("pack");
    let mut perms = fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&pack, perms).unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    for b in &mut bytes[offset + in_pack / 2..offset + in_pack / 2 + 64] {
        *b ^= 0x55;
    }
    fs::write(&pack, bytes).unwrap();

    let mut source = Repository::open(repo.path()).unwrap();
    assert!(matches!(
        source::read_verified(&mut source, &id, 1000),
        Err(source::ObjectError::TooLarge {
            size: 100_000,
            limit: 1000,
            ..
        })
    ));
    // Restored as a symlink (at most 4095 bytes) or under a total size limit: refused unread.
    assert!(matches!(
        events::to_nar(
            &id,
            Mode::Symlink,
            &mut source,
            Vec::new(),
            &Limits::default()
        ),
        Err(events::RestoreError::BadSymlinkTarget {
            problem: events::TargetProblem::TooLong { len: 100_000, .. },
            ..
        })
    ));
    let small = Limits {
        max_total_size: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        events::to_nar(&id, Mode::File, &mut source, Vec::new(), &small),
        Err(events::RestoreError::Limit {
            what: "total size",
            ..
        })
    ));
    // Inflating it finds the damage.
    let err = source::read_verified(&mut source, &id, 1 << 20).unwrap_err();
    assert!(
        !matches!(err, source::ObjectError::TooLarge { .. }),
        "{err}"
    );
}

/// An error and its causes, as `anyhow`'s `{:#}` prints them.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text += &format!(": {c}");
        cause = c.source();
    }
    text
}
