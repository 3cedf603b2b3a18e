//! Trees on disk hashed by every method, judged against Nix and git.
//!
//! Each `tests/data/trees/*.txt` file describes a tree (see `tests/data/trees/README.md`) and
//! holds `expect` lines that real Nix 2.26 and real git printed for that tree. The test rebuilds
//! the tree deterministically in a temporary directory and checks that this crate computes the
//! same values. The `expect` lines were written once by the ignored test `regenerate` below.
//!
//! The property test at the end checks, on random trees, that hashing a directory as git gives
//! the same id as serialising it to NAR, parsing the NAR back and hashing the events as git.

use std::ffi::OsStr;
use std::fs::{self as stdfs, Permissions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix_ingest::Options;
use nix_ingest::Want;
use nix_ingest::event::{Event, Recorder, Sink};
use nix_ingest::fs;
use nix_ingest::git::GitHasher;
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::{self, NarWriter};

// ---------------------------------------------------------------------------------------------
// Tree descriptions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir {
        path: Vec<u8>,
    },
    File {
        path: Vec<u8>,
        mode: u32,
        content: Vec<u8>,
    },
    Symlink {
        path: Vec<u8>,
        target: Vec<u8>,
    },
}

#[derive(Debug)]
struct TreeFile {
    name: String,
    file: PathBuf,
    /// The lines other than `expect` lines, verbatim.
    lines: Vec<String>,
    entries: Vec<Entry>,
    /// `(key, base16 hash)`, e.g. `("nix-git-sha1", "cd44…")`.
    expect: Vec<(String, String)>,
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn content(spec: &str) -> Vec<u8> {
    if spec == "empty" {
        Vec::new()
    } else if let Some(t) = spec.strip_prefix("text:") {
        unescape(t)
    } else if let Some(n) = spec.strip_prefix("gen:") {
        (0..n.parse::<usize>().unwrap())
            .map(|i| (i % 251) as u8)
            .collect()
    } else {
        panic!("bad content spec {spec}")
    }
}

fn parse(file: &Path) -> TreeFile {
    let text = stdfs::read_to_string(file).unwrap();
    let mut t = TreeFile {
        name: file.file_stem().unwrap().to_string_lossy().into_owned(),
        file: file.to_path_buf(),
        lines: Vec::new(),
        entries: Vec::new(),
        expect: Vec::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[..] {
            ["expect", key, hash] => {
                t.expect.push((key.to_owned(), hash.to_owned()));
                continue;
            }
            ["dir", path] => t.entries.push(Entry::Dir {
                path: unescape(path),
            }),
            ["file", path, mode, spec] => t.entries.push(Entry::File {
                path: unescape(path),
                mode: u32::from_str_radix(mode, 8).unwrap(),
                content: content(spec),
            }),
            ["symlink", path, target] => t.entries.push(Entry::Symlink {
                path: unescape(path),
                target: unescape(target),
            }),
            _ if line.is_empty() || line.starts_with('#') => {}
            _ => panic!("{}: bad line {line:?}", file.display()),
        }
        t.lines.push(line.to_owned());
    }
    t
}

fn tree_files() -> Vec<TreeFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/trees");
    let mut files: Vec<PathBuf> = stdfs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some(OsStr::new("txt")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "tree descriptions missing");
    files.iter().map(|f| parse(f)).collect()
}

/// Builds the tree under `parent`, returning its root (`parent/tree`).
fn build(t: &TreeFile, parent: &Path) -> PathBuf {
    let root = parent.join("tree");
    let at = |p: &[u8]| {
        if p == b"." {
            root.clone()
        } else {
            root.join(OsStr::from_bytes(p))
        }
    };
    let root_is_dir = !t.entries.iter().any(|e| match e {
        Entry::Dir { path } => path == b".",
        Entry::File { path, .. } | Entry::Symlink { path, .. } => path == b".",
    });
    if root_is_dir {
        stdfs::create_dir(&root).unwrap();
    }
    for e in &t.entries {
        match e {
            Entry::Dir { path } => stdfs::create_dir(at(path)).unwrap(),
            Entry::File {
                path,
                mode,
                content,
            } => {
                let p = at(path);
                stdfs::write(&p, content).unwrap();
                stdfs::set_permissions(&p, Permissions::from_mode(*mode)).unwrap();
            }
            Entry::Symlink { path, target } => {
                symlink(OsStr::from_bytes(target), at(path)).unwrap();
            }
        }
    }
    root
}

/// Parses `nix-git-sha1`, `git-sha256`, `nix-nar-sha256`, `nix-flat-sha256`… into what this
/// crate must compute for it.
fn method_of(key: &str) -> (FileIngestionMethod, Algorithm) {
    let (method, algo) = key.rsplit_once('-').unwrap();
    let method = match method {
        "nix-git" | "git" => FileIngestionMethod::Git,
        "nix-nar" => FileIngestionMethod::Nar,
        "nix-flat" => FileIngestionMethod::Flat,
        other => panic!("unknown key {other}"),
    };
    (method, algo.parse().unwrap())
}

// ---------------------------------------------------------------------------------------------
// The golden test
// ---------------------------------------------------------------------------------------------

#[test]
fn trees_hash_as_nix_and_git_say() {
    let mut checked = 0;
    for t in tree_files() {
        assert!(
            t.expect.iter().any(|(k, _)| k.starts_with("nix-")),
            "{}: no oracle values; run the `regenerate` test",
            t.name
        );
        let tmp = tempfile::tempdir().unwrap();
        let root = build(&t, tmp.path());

        let mut w = NarWriter::new(Vec::new());
        fs::dump(&root, &mut w, &nix_ingest::Settings::default()).unwrap();
        let nar = w.finish().unwrap();

        // One call per answer…
        for (key, expected) in &t.expect {
            let (method, algorithm) = method_of(key);
            let got = nix_ingest::Options::default()
                .hash_path(&root, Want::new(method, algorithm))
                .unwrap_or_else(|e| panic!("{}: {key}: {e}", t.name));
            assert_eq!(got.encode(Format::Base16), *expected, "{}: {key}", t.name);
            checked += 1;

            // …the same through a NAR of the tree…
            let from_nar = nix_ingest::Options::default()
                .hash_nar(&nar[..], Want::new(method, algorithm))
                .unwrap();
            assert_eq!(from_nar, got, "{}: {key} via NAR", t.name);

            // …and on one thread or several (with the `parallel` feature).
            for threads in [1, 2] {
                let options = Options::new().threads(threads);
                assert_eq!(
                    options
                        .hash_path(&root, Want::new(method, algorithm))
                        .unwrap(),
                    got,
                    "{}: {key} on {threads} threads",
                    t.name
                );
            }
        }

        // …and all answers from one walk.
        let pairs: Vec<(FileIngestionMethod, Algorithm)> =
            t.expect.iter().map(|(k, _)| method_of(k)).collect();
        let wants: Vec<Want<'static>> = pairs.iter().map(|&(m, a)| Want::new(m, a)).collect();
        let all = Options::new().hash_path_multi(&root, &wants).unwrap();
        for ((key, expected), got) in t.expect.iter().zip(&all) {
            assert_eq!(
                got.encode(Format::Base16),
                *expected,
                "{}: {key} (multi)",
                t.name
            );
        }
    }
    assert!(checked >= 60, "only {checked} values checked");
}

/// `nix store add --mode flat` refuses a symlink ("path '…' is a symlink"), and Nix's NAR of a
/// symlink is the symlink itself; flat hashing through a root symlink must fail here too, not
/// hash the target (which `nix hash path --mode flat` would).
#[test]
fn flat_hash_of_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    stdfs::write(tmp.path().join("foo"), "Hello World!\n").unwrap();
    let link = tmp.path().join("lnk");
    symlink("foo", &link).unwrap();
    let err = nix_ingest::Options::default().hash_path(
        &link,
        Want::new(FileIngestionMethod::Flat, Algorithm::Sha256),
    );
    assert!(err.is_err());
    let err = nix_ingest::Options::default().hash_path(
        tmp.path(),
        Want::new(FileIngestionMethod::Flat, Algorithm::Sha256),
    );
    assert!(err.is_err(), "flat hashing of a directory must fail");
}

// ---------------------------------------------------------------------------------------------
// Regenerating the oracle values
// ---------------------------------------------------------------------------------------------

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn has_empty_dir(t: &TreeFile) -> bool {
    t.entries.iter().any(|e| match e {
        Entry::Dir { path } => {
            let mut prefix = path.clone();
            prefix.push(b'/');
            !t.entries.iter().any(|c| match c {
                Entry::Dir { path: p }
                | Entry::File { path: p, .. }
                | Entry::Symlink { path: p, .. } => p.starts_with(&prefix),
            })
        }
        _ => false,
    }) || t.entries.iter().all(|e| matches!(e, Entry::Dir { .. }))
}

/// Rewrites the `expect` lines of every tree description from the oracles:
///
/// - `nix-<mode>-<algo>`: `scripts/nix-oracle.sh run --nix 2.26 nix hash path --mode <mode>
///   --algo <algo> --format base16 /host-tmp/…` (real Nix 2.26.3, the host's temporary directory
///   mounted at `/host-tmp`); `flat` only for a regular file as the root; for `blake3`, which
///   only Nix 2.34 knows, `--nix 2.34` and `--extra-experimental-features blake3-hashes`;
/// - `git-<algo>`: real git, in repositories made by `git init --object-format=<algo>`: for a
///   directory `git add -A` and `git write-tree`, for a regular file `git hash-object`; skipped
///   for trees with an empty directory (git's index cannot hold one) and for a root symlink.
///
/// Run by hand, as root on a machine with the oracle set up:
/// `cargo test --test golden_trees -- --ignored regenerate`.
#[test]
#[ignore = "needs the Nix oracle (scripts/nix-oracle.sh) and git; rewrites tests/data/trees"]
fn regenerate() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let oracle = manifest.join("scripts/nix-oracle.sh");
    for t in tree_files() {
        // The oracle sees the host's /tmp as /host-tmp.
        let tmp = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        let root = build(&t, tmp.path());
        let in_oracle = Path::new("/host-tmp").join(root.strip_prefix("/tmp").unwrap());
        let meta = stdfs::symlink_metadata(&root).unwrap();
        let mut expect = Vec::new();

        let mut modes = vec![
            ("git", "sha1"),
            ("git", "sha256"),
            ("git", "md5"),
            ("nar", "sha256"),
            ("nar", "sha1"),
        ];
        if meta.file_type().is_file() {
            modes.push(("flat", "sha256"));
            modes.push(("flat", "sha1"));
        }
        // BLAKE3 only Nix 2.34 knows, behind an experimental feature.
        let mut blake3 = vec![("git", "blake3"), ("nar", "blake3")];
        if meta.file_type().is_file() {
            blake3.push(("flat", "blake3"));
        }
        let runs = modes
            .into_iter()
            .map(|m| ("2.26", m))
            .chain(blake3.into_iter().map(|m| ("2.34", m)));
        for (nix, (mode, algo)) in runs {
            let mut cmd = Command::new(&oracle);
            cmd.args(["run", "--nix", nix, "nix"]);
            if algo == "blake3" {
                cmd.args(["--extra-experimental-features", "blake3-hashes"]);
            }
            cmd.args([
                "hash", "path", "--mode", mode, "--algo", algo, "--format", "base16",
            ]);
            let hash = run(cmd.arg(&in_oracle));
            expect.push((format!("nix-{mode}-{algo}"), hash));
        }

        let git_ok = !meta.file_type().is_symlink() && !has_empty_dir(&t);
        if git_ok {
            for algo in ["sha1", "sha256"] {
                let repo = tmp.path().join(format!("repo-{algo}"));
                run(Command::new("git")
                    .args(["init", "-q", &format!("--object-format={algo}")])
                    .arg(&repo));
                let git = |args: &[&str]| {
                    let mut c = Command::new("git");
                    c.env("GIT_CONFIG_NOSYSTEM", "1")
                        .env("HOME", tmp.path())
                        .arg("--git-dir")
                        .arg(repo.join(".git"))
                        .args([
                            "-c",
                            "core.fileMode=true",
                            "-c",
                            "core.symlinks=true",
                            "-c",
                            "core.autocrlf=false",
                        ]);
                    c.args(args);
                    c
                };
                let hash = if meta.file_type().is_file() {
                    run(git(&["hash-object"]).arg(&root))
                } else {
                    run(git(&["--work-tree"])
                        .arg(&root)
                        .args(["add", "-A", "."])
                        .current_dir(&root));
                    run(&mut git(&["write-tree"]))
                };
                expect.push((format!("git-{algo}"), hash));
            }
        }

        let mut text = String::new();
        for line in &t.lines {
            text.push_str(line);
            text.push('\n');
        }
        for (key, hash) in &expect {
            text.push_str(&format!("expect {key} {hash}\n"));
        }
        stdfs::write(&t.file, text).unwrap();
        eprintln!("{}: {} values", t.name, expect.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Property: directory → git == directory → NAR → parser → git
// ---------------------------------------------------------------------------------------------

mod roundtrip {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Node {
        File { data: Vec<u8>, mode: u32 },
        Symlink(Vec<u8>),
        Dir(BTreeMap<Vec<u8>, Node>),
    }

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Names that sort differently in NAR and git order.
            prop::sample::select(vec![
                b"a".to_vec(),
                b"a-".to_vec(),
                b"a.b".to_vec(),
                b"a0".to_vec(),
                b"a=".to_vec(),
                b"b".to_vec(),
            ]),
            prop::collection::vec(1u8..=255, 1..8)
                .prop_filter("valid name", |n| !n.contains(&b'/')
                    && n != b"."
                    && n != b".."),
        ]
    }

    fn node() -> impl Strategy<Value = Node> {
        let file = (
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 4000..9000),
            ],
            prop::sample::select(vec![0o644u32, 0o755, 0o700, 0o470, 0o407, 0o500]),
        )
            .prop_map(|(data, mode)| Node::File { data, mode });
        let link = prop::collection::vec(1u8..=255, 1..40).prop_map(Node::Symlink);
        let leaf = prop_oneof![3 => file, 1 => link];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop::collection::btree_map(name(), inner, 0..6).prop_map(Node::Dir)
        })
    }

    fn make(node: &Node, path: &Path) {
        match node {
            Node::File { data, mode } => {
                stdfs::write(path, data).unwrap();
                stdfs::set_permissions(path, Permissions::from_mode(*mode)).unwrap();
            }
            Node::Symlink(target) => symlink(OsStr::from_bytes(target), path).unwrap(),
            Node::Dir(children) => {
                stdfs::create_dir(path).unwrap();
                for (name, child) in children {
                    make(child, &path.join(OsStr::from_bytes(name)));
                }
            }
        }
    }

    /// Feeds a NAR to a sink through the push parser in pieces of `piece` bytes.
    fn parse_in_pieces<S: Sink>(nar: &[u8], piece: usize, sink: &mut S) {
        let mut parser = nar::Parser::new(Default::default());
        for chunk in nar.chunks(piece) {
            assert_eq!(parser.push(chunk, sink).unwrap(), chunk.len());
        }
        assert_eq!(parser.finish().unwrap(), nar.len() as u64);
    }

    fn git_of_nar(nar: &[u8], algorithm: Algorithm, piece: usize) -> Hash {
        let mut git = GitHasher::new(algorithm);
        parse_in_pieces(nar, piece, &mut git);
        git.finish().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn git_of_directory_equals_git_of_its_nar(tree in node(), piece in 1usize..5000) {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("root");
            make(&tree, &root);

            let mut w = NarWriter::new(Vec::new());
            let options = Options::new().buffer_size(4096);
            fs::dump(&root, &mut w, options.settings()).unwrap();
            let nar = w.finish().unwrap();

            for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
                let direct = nix_ingest::Options::default().hash_path(&root, Want::new(FileIngestionMethod::Git, algorithm)).unwrap();
                prop_assert_eq!(direct, git_of_nar(&nar, algorithm, piece));
                prop_assert_eq!(
                    direct,
                    nix_ingest::Options::default().hash_nar(&nar[..], Want::new(FileIngestionMethod::Git, algorithm)).unwrap()
                );
            }
            // The NAR hash is the hash of the NAR bytes.
            prop_assert_eq!(
                nix_ingest::Options::default().hash_path(&root, Want::new(FileIngestionMethod::Nar, Algorithm::Sha256)).unwrap(),
                Hash::digest(Algorithm::Sha256, &nar)
            );
            // And the events survive the round trip.
            let mut from_fs = Recorder::default();
            fs::dump(&root, &mut from_fs, &nix_ingest::Settings::default()).unwrap();
            let mut from_nar = Recorder::default();
            parse_in_pieces(&nar, piece, &mut from_nar);
            prop_assert_eq!(from_fs, from_nar);
        }
    }

    #[test]
    fn events_are_well_formed() {
        // A sanity check of the test's own plumbing: a lone file as the root.
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        make(
            &Node::File {
                data: b"x".to_vec(),
                mode: 0o644,
            },
            &p,
        );
        let mut rec = Recorder::default();
        fs::dump(&p, &mut rec, &nix_ingest::Settings::default()).unwrap();
        let mut w = NarWriter::new(Vec::new());
        nix_ingest::event::replay(&rec.events, &mut w).unwrap();
        let nar = w.finish().unwrap();
        let mut again = Recorder::default();
        nar::read(&nar[..], &mut again, &Default::default()).unwrap();
        assert_eq!(rec, again);
        let _ = Event::FileEnd;
    }
}
