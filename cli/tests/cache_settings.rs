//! `--cache FILE` honours the global settings like every other route: `--threads` and
//! `--no-collision-detection` reach the cached walk, and its answers are those without a cache.
//!
//! Expected ids come from real tools: `git write-tree` of the same files (made here), and for the
//! directory holding only `tests/data/shattered-1.pdf` (a known SHA-1 collision), Nix 2.26.3
//! `nix hash path --mode git --algo sha1 --base16` (see `tests/options.rs`).
//!
//! Threads are counted with `strace -f -e trace=clone,clone3` (a thread is a clone with
//! `CLONE_THREAD`). `.ci/run` installs strace and sets `CI`, where the count is required; on a
//! machine without strace that part is skipped with a message.

use nix_ingest_test_support as support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{assert_ok, bin, os, run_cli};

/// Nix 2.26.3 `nix hash path --mode git --algo sha1 --base16` of a directory holding only
/// `shattered-1.pdf`.
const SHATTERED_TREE: &str = "e83561a1556beadde1b9f36889cd1586549be0c7";

fn shattered_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("shattered");
    fs::create_dir(&dir).unwrap();
    fs::copy(
        support::repo().join("tests/data/shattered-1.pdf"),
        dir.join("shattered-1.pdf"),
    )
    .unwrap();
    dir
}

/// A tree of 8 directories of 40 files each, and its id as `git write-tree` gives it.
fn wide_tree(root: &Path) -> (std::path::PathBuf, String) {
    let dir = root.join("wide");
    for d in 0..8 {
        let sub = dir.join(format!("d{d}"));
        fs::create_dir_all(&sub).unwrap();
        for f in 0..40 {
            fs::write(
                sub.join(format!("f{f}")),
                format!("{d}/{f}\n").repeat(f + 1),
            )
            .unwrap();
        }
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", root)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    let id = git(&["write-tree"]);
    fs::remove_dir_all(dir.join(".git")).unwrap();
    (dir, id)
}

#[test]
fn cache_honours_no_collision_detection() {
    let t = tempfile::tempdir().unwrap();
    let dir = shattered_dir(t.path());
    let target = dir.to_str().unwrap();
    let hash = |cache: &str, extra: &[&str]| {
        let mut argv = os(&["--cache", cache]);
        argv.extend(os(extra));
        argv.extend(os(&[
            "hash", "path", "--mode", "git", "--algo", "sha1", "--format", "base16", target,
        ]));
        run_cli(&argv, t.path(), None)
    };
    for threads in ["1", "2"] {
        let cache = t.path().join(format!("shattered-{threads}.cache"));
        let cache = cache.to_str().unwrap();
        let nix = ["-j", threads, "--no-collision-detection"];
        // A new cache, then the one it wrote: Nix's answer, and nothing said.
        for round in ["new", "reused"] {
            let run = hash(cache, &nix);
            assert_eq!(
                assert_ok(&run, &format!("{round} cache, -j {threads}")),
                [SHATTERED_TREE],
                "{round} cache, -j {threads}"
            );
        }
        // The file records that it was written without detection: a run with detection does
        // not trust its ids (and says so), and still gives the same answer (the blob header
        // moves the attack off its blocks, as in git).
        let run = hash(cache, &["-j", threads]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.stdout.trim(), SHATTERED_TREE);
        assert!(
            run.stderr.contains("without SHA-1 collision detection"),
            "-j {threads}: a cache written without detection is not trusted with it: {:?}",
            run.stderr
        );
    }
}

/// How many threads `nix-ingest ARGS` started, or `None` without strace.
fn threads_started(args: &[&str], cwd: &Path) -> Option<usize> {
    let trace = cwd.join("trace");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
        .arg(&trace)
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) => assert!(status.success(), "nix-ingest {args:?} under strace failed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("strace: {e}"),
    }
    let text = fs::read_to_string(&trace).unwrap();
    Some(text.lines().filter(|l| l.contains("CLONE_THREAD")).count())
}

#[test]
fn cache_honours_threads() {
    let t = tempfile::tempdir().unwrap();
    let (dir, expected) = wide_tree(t.path());
    let target = dir.to_str().unwrap();
    let hash = |extra: &[&str]| {
        let mut argv = os(extra);
        argv.extend(os(&[
            "hash", "path", "--mode", "git", "--algo", "sha1", "--format", "base16", target,
        ]));
        assert_ok(&run_cli(&argv, t.path(), None), &format!("{extra:?}"))
    };
    // The same answer as git, with and without a cache, on one thread and two.
    for threads in ["1", "2"] {
        let cache = t.path().join(format!("cache-{threads}"));
        let cache = cache.to_str().unwrap();
        assert_eq!(hash(&["-j", threads]), [expected.as_str()]);
        assert_eq!(
            hash(&["--cache", cache, "-j", threads]),
            [expected.as_str()]
        );
        assert_eq!(
            hash(&["--cache", cache, "-j", threads]),
            [expected.as_str()]
        );
    }
    // `-j 1` starts no thread, with a new cache or a reused one; `-j 2` does start threads on a
    // new cache (every file must be read), so the count can tell.
    let cache = t.path().join("counted");
    let cache = cache.to_str().unwrap();
    let args = |j: &'static str| -> Vec<&str> {
        vec![
            "--cache", cache, "-j", j, "hash", "path", "--mode", "git", "--algo", "sha1", target,
        ]
    };
    let Some(one) = threads_started(&args("1"), t.path()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs strace to count threads"
        );
        eprintln!("strace not found: thread count not checked");
        return;
    };
    assert_eq!(one, 0, "-j 1 with a new cache starts no thread");
    assert_eq!(
        threads_started(&args("1"), t.path()),
        Some(0),
        "-j 1, reused cache"
    );
    fs::remove_file(cache).unwrap();
    let two = threads_started(&args("2"), t.path()).unwrap();
    assert!(two >= 1, "-j 2 with a new cache starts threads ({two})");
}
