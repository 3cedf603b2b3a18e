//! The hash cache's mutation suite: a tree under `/tmp` is changed in every way the cache must
//! notice, and after each change the cached answer must equal a fresh hash, the golden answer
//! real Nix gave for the same tree (`tests/data/cache/mutations.txt`), and — when the oracle is
//! enabled — real Nix itself, 2.34.8 and 2.26.3, asked again:
//!
//! ```text
//! NIX_INGEST_ORACLE=1 cargo test --test cache -- --nocapture
//! NIX_INGEST_ORACLE=1 NIX_INGEST_BLESS=1 cargo test --test cache   # rewrite the golden file
//! ```
//!
//! Each state of the tree is copied (`cp -a`) to a snapshot, so Nix judges exactly the tree the
//! cache saw. The stats of every run are checked too: the unchanged files must come from the
//! cache (so the test would see a stale answer), and the changed one must be read because its
//! stat data changed, not merely because it was recent.

#[path = "differential/oracle.rs"]
#[allow(dead_code)]
mod oracle;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix_ingest::Want;
use nix_ingest::cache::{HashCache, LoadStatus, Outcome, SaveStatus};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;

const ALGOS: [Algorithm; 2] = [Algorithm::Sha1, Algorithm::Sha256];
const GOLDEN: &str = "tests/data/cache/mutations.txt";
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn fresh(root: &Path) -> Vec<Hash> {
    ALGOS
        .iter()
        .map(|&a| {
            nix_ingest::Options::default()
                .hash_path(root, Want::new(FileIngestionMethod::Git, a))
                .unwrap()
        })
        .collect()
}

fn write(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets a file's mtime back to `mtime` (which leaves its ctime at now).
fn set_mtime(path: &Path, mtime: SystemTime) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(mtime).unwrap();
}

/// The tree: one file per change the suite makes (so that every change hits an entry whose
/// recorded stat data is old enough to be trusted), and some that never change.
fn build(root: &Path) {
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("gone/inner")).unwrap();
    for (name, data, mode) in [
        ("same-size", &b"content before\n"[..], 0o644),
        ("to-exec", b"#!/bin/sh\necho hi\n", 0o644),
        ("to-dir", b"a file for now\n", 0o644),
        ("reused-inode", b"first file\n", 0o644),
        ("right-after", b"written after the cache\n", 0o644),
        ("removed", b"soon gone\n", 0o644),
        ("keep", b"never changes\n", 0o644),
        ("dir/exe", b"#!/bin/sh\nexit 0\n", 0o755),
        ("dir/sub/big", &[42u8; 200_000], 0o644),
        ("gone/inner/x", b"x\n", 0o644),
    ] {
        write(&root.join(name), data, mode);
    }
    symlink("keep", root.join("link")).unwrap();
    symlink("../keep", root.join("dir/up")).unwrap();
}

/// Waits until everything written so far is at least two whole seconds older than the next
/// scan, so the cache trusts it.
fn age(root: &Path) {
    let newest = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            let m = e.unwrap().metadata().unwrap();
            m.ctime().max(m.mtime())
        })
        .max()
        .unwrap();
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if now >= newest + 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Suite {
    work: tempfile::TempDir,
    root: PathBuf,
    cache: HashCache,
    /// (step, our ids, snapshot of the tree).
    steps: Vec<(&'static str, Vec<Hash>, PathBuf)>,
}

impl Suite {
    /// Hashes with the cache, checks against a fresh hash, and snapshots the tree.
    fn step(&mut self, name: &'static str) -> Outcome {
        let out = self
            .cache
            .hash_git(&self.root, &ALGOS, &nix_ingest::Settings::default())
            .unwrap();
        assert_eq!(out.ids, fresh(&self.root), "{name}: cached != fresh");
        let snap = self
            .work
            .path()
            .join(format!("snap-{:02}", self.steps.len()));
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&self.root)
            .arg(&snap)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            fresh(&snap),
            out.ids,
            "{name}: the snapshot is the same tree"
        );
        self.steps.push((name, out.ids.clone(), snap));
        out
    }

    /// A step after changing `changed` files: exactly that many files are read because their
    /// stat data changed (others may be read because they are recent).
    fn changed(&mut self, name: &'static str, changed: u64) -> Outcome {
        let out = self.step(name);
        assert!(
            matches!(out.loaded, LoadStatus::Used),
            "{name}: {:?}",
            out.loaded
        );
        let s = &out.stats;
        assert_eq!(s.files_hashed - s.files_racy, changed, "{name}: {s:?}");
        assert!(
            s.files_reused >= 3,
            "{name}: unchanged files come from the cache: {s:?}"
        );
        out
    }
}

#[test]
fn mutations() {
    let work = tempfile::Builder::new()
        .prefix("nix-ingest-cache-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = work.path().join("tree");
    build(&root);
    let cache = HashCache::new(work.path().join("cache"));
    let mut s = Suite {
        root: root.clone(),
        cache,
        steps: Vec::new(),
        work,
    };
    age(&root);

    let out = s.step("initial");
    assert!(matches!(out.loaded, LoadStatus::Missing));
    let out = s.step("unchanged");
    assert!(matches!(out.loaded, LoadStatus::Used));
    assert_eq!(
        (out.stats.files_hashed, out.stats.trees_hashed),
        (0, 0),
        "{:?}",
        out.stats
    );
    assert!(matches!(out.saved, SaveStatus::Unchanged));

    // Same size, mtime set back: only the ctime tells.
    let p = root.join("same-size");
    let before = fs::metadata(&p).unwrap();
    fs::write(&p, b"content AFTER!\n").unwrap();
    set_mtime(&p, before.modified().unwrap());
    let after = fs::metadata(&p).unwrap();
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec(), after.ino()),
        (
            before.len(),
            before.mtime(),
            before.mtime_nsec(),
            before.ino()
        )
    );
    s.changed("same size, mtime set back", 1);

    let p = root.join("to-exec");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    s.changed("chmod +x", 1);

    // Same target length, so the link's size does not change either.
    fs::remove_file(root.join("link")).unwrap();
    symlink("kept", root.join("link")).unwrap();
    s.changed("symlink retargeted", 0);

    let p = root.join("to-dir");
    fs::remove_file(&p).unwrap();
    fs::create_dir(&p).unwrap();
    write(&p.join("inside"), b"a file for now\n", 0o644);
    s.changed("file replaced by a directory", 1);
    fs::remove_dir_all(&p).unwrap();
    write(&p, b"a file for now\n", 0o644);
    s.changed("directory replaced by a file", 1);

    // A new file that (usually) gets the freed inode, with the same size, mode and mtime.
    let p = root.join("reused-inode");
    let old = fs::metadata(&p).unwrap();
    fs::remove_file(&p).unwrap();
    let mut reused = false;
    for i in 0..64 {
        let tmp = root.join(format!(".new-{i}"));
        write(&tmp, b"other file\n", 0o644);
        if fs::metadata(&tmp).unwrap().ino() == old.ino() || i == 63 {
            fs::rename(&tmp, &p).unwrap();
            reused = fs::metadata(&p).unwrap().ino() == old.ino();
            break;
        }
    }
    for e in fs::read_dir(&root).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(".new-") {
            fs::remove_file(e.path()).unwrap();
        }
    }
    set_mtime(&p, old.modified().unwrap());
    eprintln!("inode reused: {reused}");
    s.changed("file replaced, inode reused", 1);

    // Changed at once after the cache was written (within the same second as its write).
    let p = root.join("right-after");
    let before = fs::metadata(&p).unwrap();
    fs::write(&p, b"written AFTER the cache\n").unwrap();
    set_mtime(&p, before.modified().unwrap());
    s.changed("changed right after the cache write", 1);

    fs::write(root.join("added"), b"new\n").unwrap();
    fs::create_dir(root.join("dir/new-dir")).unwrap();
    fs::write(root.join("dir/new-dir/f"), b"f\n").unwrap();
    symlink("added", root.join("new-link")).unwrap();
    s.changed("entries added", 2);

    fs::remove_file(root.join("removed")).unwrap();
    fs::remove_dir_all(root.join("gone")).unwrap();
    s.changed("entries removed", 0);

    // Damaged or foreign cache files: rebuilt, and the answer is still exact.
    let good = fs::read(s.cache.path()).unwrap();
    fs::write(s.cache.path(), &good[..good.len() / 2]).unwrap();
    let out = s.step("cache file truncated");
    assert!(
        matches!(out.loaded, LoadStatus::Rebuilt(_)),
        "{:?}",
        out.loaded
    );
    let mut bad = fs::read(s.cache.path()).unwrap();
    let i = bad.len() / 3;
    bad[i] ^= 0x10;
    fs::write(s.cache.path(), &bad).unwrap();
    let out = s.step("cache file bit-flipped");
    assert!(
        matches!(out.loaded, LoadStatus::Rebuilt(_)),
        "{:?}",
        out.loaded
    );
    let other = s.work.path().join("other");
    build(&other);
    s.cache
        .hash_git(&other, &ALGOS, &nix_ingest::Settings::default())
        .unwrap();
    let out = s.step("cache file from another tree");
    assert!(
        matches!(out.loaded, LoadStatus::Rebuilt(_)),
        "{:?}",
        out.loaded
    );

    if nix_ingest_test_support::oracle_enabled() {
        check_oracle(&s.steps);
    }
    check_golden(&s.steps);
}

fn golden_lines(steps: &[(&'static str, Vec<Hash>, PathBuf)]) -> Vec<String> {
    steps
        .iter()
        .map(|(name, ids, _)| {
            format!(
                "{name}\t{}\t{}",
                ids[0].encode(Format::Base16),
                ids[1].encode(Format::Base16)
            )
        })
        .collect()
}

fn check_golden(steps: &[(&'static str, Vec<Hash>, PathBuf)]) {
    let text = fs::read_to_string(Path::new(MANIFEST_DIR).join(GOLDEN)).unwrap();
    let golden: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        golden,
        golden_lines(steps),
        "the answers Nix gave ({GOLDEN})"
    );
}

/// `nix hash path --mode git` of every snapshot, by both oracles.
fn check_oracle(steps: &[(&'static str, Vec<Hash>, PathBuf)]) {
    let mut answers = Vec::new();
    for version in ["2.34", "2.26"] {
        for algo in ALGOS {
            let mut args: Vec<std::ffi::OsString> = [
                "--nix",
                version,
                "nix",
                "hash",
                "path",
                "--mode",
                "git",
                "--algo",
                algo.name(),
                "--format",
                "base16",
            ]
            .iter()
            .map(Into::into)
            .collect();
            args.extend(
                steps
                    .iter()
                    .map(|(_, _, p)| oracle::inside(p).into_os_string()),
            );
            let out = oracle::oracle(&args);
            assert!(
                out.status.success(),
                "Nix {version}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(lines.len(), steps.len());
            for ((name, ids, _), line) in steps.iter().zip(&lines) {
                let i = ALGOS.iter().position(|&a| a == algo).unwrap();
                assert_eq!(
                    &ids[i].encode(Format::Base16),
                    line,
                    "Nix {version}, {name}"
                );
            }
            answers.push((version, algo, lines));
        }
    }
    eprintln!(
        "Nix 2.34.8 and 2.26.3 agree with the cache on {} states",
        steps.len()
    );
    if std::env::var_os("NIX_INGEST_BLESS").is_some_and(|v| v == "1") {
        let mut text = String::from(
            "# The hash cache's mutation suite (tests/cache.rs): after each step, the tree's\n\
             # `nix hash path --mode git --format base16` with --algo sha1 and sha256, as printed\n\
             # by Nix 2.34.8 and Nix 2.26.3 (both agree). Written by:\n\
             #   NIX_INGEST_ORACLE=1 NIX_INGEST_BLESS=1 cargo test --test cache\n",
        );
        let (_, _, sha1) = &answers[0];
        let (_, _, sha256) = &answers[1];
        for (((name, _, _), a), b) in steps.iter().zip(sha1).zip(sha256) {
            text.push_str(&format!("{name}\t{a}\t{b}\n"));
        }
        fs::write(Path::new(MANIFEST_DIR).join(GOLDEN), text).unwrap();
    }
}

/// The front door: `Options::cache` gives the same answers through `hash_path` and
/// `hash_path_multi`, git ids with a NAR hash in one pass, on one thread or several.
#[test]
fn through_options() {
    use nix_ingest::Options;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("tree");
    build(&root);
    let nar = nix_ingest::Options::default()
        .hash_path(
            &root,
            Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
        )
        .unwrap();
    for threads in [1, 0] {
        let cache = HashCache::new(work.path().join(format!("cache-{threads}")));
        let options = Options::new().threads(threads).cache(cache.clone());
        for _ in 0..2 {
            let id = options
                .hash_path(&root, Want::new(FileIngestionMethod::Git, Algorithm::Sha1))
                .unwrap();
            assert_eq!(id, fresh(&root)[0]);
            let all = options
                .hash_path_multi(
                    &root,
                    &[
                        Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
                        Want::new(FileIngestionMethod::Git, Algorithm::Sha256),
                        Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
                    ],
                )
                .unwrap();
            assert_eq!(all, [nar, fresh(&root)[1], fresh(&root)[0]]);
        }
        assert!(cache.path().exists());
    }
}
