//! Building and running the `hash-path` example from the integration tests (shared by
//! `tests/example_cli.rs` and `tests/example_git.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The crate features this test was built with; the example is built with the same ones, so
/// that `cargo test --features parallel` tests the parallel build of the example.
pub fn features() -> Vec<&'static str> {
    let mut features = Vec::new();
    for (on, name) in [
        (cfg!(feature = "fs"), "fs"),
        (cfg!(feature = "parallel"), "parallel"),
        (cfg!(feature = "tokio"), "tokio"),
        (cfg!(feature = "gix"), "gix"),
        (cfg!(feature = "gix-hash"), "gix-hash"),
        (cfg!(feature = "serde"), "serde"),
    ] {
        if on {
            features.push(name);
        }
    }
    features
}

/// The example binary, built once with the same profile and features as this test.
pub fn example() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", "hash-path", "--message-format=json"])
            .arg("--no-default-features")
            .current_dir(MANIFEST_DIR)
            .stderr(Stdio::inherit());
        let features = features();
        if !features.is_empty() {
            cmd.arg("--features").arg(features.join(","));
        }
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cargo build --example hash-path runs");
        assert!(
            out.status.success(),
            "cargo build --example hash-path failed"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let exe = stdout
            .lines()
            .filter(|l| l.contains("\"compiler-artifact\"") && l.contains("\"name\":\"hash-path\""))
            .find_map(|l| {
                let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
                let len = l[start..].find('"')?;
                Some(PathBuf::from(&l[start..start + len]))
            })
            .expect("cargo names the example's executable");
        assert!(exe.exists(), "{} exists", exe.display());
        exe
    })
}

/// What a run printed.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What a run printed, standard output as bytes (a NAR).
#[derive(Debug)]
pub struct RawRun {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Standard input for a run.
pub enum Input<'a> {
    Null,
    File(&'a Path),
    Bytes(&'a [u8]),
}

pub fn run_raw(args: &[OsString], cwd: &Path, stdin: Input<'_>) -> RawRun {
    let mut cmd = Command::new(example());
    cmd.args(args).current_dir(cwd);
    cmd.stdin(match stdin {
        Input::Null => Stdio::null(),
        Input::File(p) => Stdio::from(fs::File::open(p).expect("stdin file opens")),
        Input::Bytes(_) => Stdio::piped(),
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the example runs");
    if let Input::Bytes(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // The example may stop reading early (and fail): a broken pipe here is its answer.
        let _ = pipe.write_all(bytes);
    }
    let out = child.wait_with_output().expect("the example ends");
    let run = RawRun {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the example panicked on {args:?}: {}",
        run.stderr
    );
    run
}

pub fn run_example(args: &[OsString], cwd: &Path, stdin: Option<&Path>) -> Run {
    let raw = run_raw(args, cwd, stdin.map_or(Input::Null, Input::File));
    Run {
        status: raw.status,
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: raw.stderr,
    }
}

/// Arguments from strings.
pub fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

pub fn sample_nar() -> PathBuf {
    Path::new(MANIFEST_DIR).join("examples/sample/sample.nar")
}

/// A successful run printed these lines and nothing on standard error.
#[track_caller]
pub fn assert_ok(run: &Run, what: &str) -> Vec<String> {
    assert_eq!(run.status, 0, "{what}: {}", run.stderr);
    assert_eq!(
        run.stderr, "",
        "{what}: nothing on standard error on success"
    );
    run.stdout.lines().map(str::to_owned).collect()
}

/// A failed run: status 1, nothing on standard output, one `error:` line on standard error.
#[track_caller]
pub fn assert_error(run: &Run, what: &str) {
    assert_eq!(run.status, 1, "{what}: {run:?}");
    assert!(run.stdout.is_empty(), "{what}: {run:?}");
    assert!(run.stderr.starts_with("error: "), "{what}: {run:?}");
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{what}: {run:?}");
}

/// A bad command line: status 2, the usage on standard error.
#[track_caller]
pub fn assert_usage_error(run: &Run, what: &str) {
    assert_eq!(run.status, 2, "{what}: {run:?}");
    assert!(run.stdout.is_empty(), "{what}: {run:?}");
    assert!(run.stderr.starts_with("error: "), "{what}: {run:?}");
    assert!(run.stderr.contains("usage: hash-path"), "{what}: {run:?}");
}

// ---------------------------------------------------------------------------------------------
// The fixture tree (the same bytes every time; store paths depend on base names only) and what
// Nix says about it
// ---------------------------------------------------------------------------------------------

/// Builds the fixture under `dir`:
///
/// - `t1/`: the tree of Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`
/// - `sample/`: the tree `examples/sample/sample.nar` was made from (see its README)
/// - `file`, `exe` (mode 0755), `odd-exec` (mode 0654: group execute only), `empty` (0 bytes),
///   `a b` (a name Nix refuses for store paths), `.hidden/`
/// - symlinks `link -> file`, `linkdir -> t1`, `dangling -> nowhere`
pub fn make_fixture(dir: &Path) {
    let w = |p: &str, data: &[u8], mode: u32| {
        let path = dir.join(p);
        fs::write(&path, data).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    fs::create_dir_all(dir.join("t1/bla")).unwrap();
    w("t1/foo", b"Hello World!\n", 0o644);
    symlink("foo", dir.join("t1/bar")).unwrap();

    fs::create_dir_all(dir.join("sample/bin")).unwrap();
    fs::create_dir_all(dir.join("sample/empty")).unwrap();
    w(
        "sample/README",
        b"A sample store object for nix-ingest: a file, an executable, a symlink and an empty directory.\n",
        0o644,
    );
    w(
        "sample/bin/hello",
        b"#!/bin/sh\necho \"Hello, world!\"\n",
        0o755,
    );
    symlink("bin/hello", dir.join("sample/hello")).unwrap();

    w("file", b"Hello World!\n", 0o644);
    w("exe", b"#!/bin/sh\nexit 0\n", 0o755);
    w("odd-exec", b"group may run me\n", 0o654);
    w("empty", b"", 0o644);
    w("a b", b"spaced out\n", 0o644);
    fs::create_dir_all(dir.join(".hidden")).unwrap();
    w(".hidden/x", b"x", 0o644);
    symlink("file", dir.join("link")).unwrap();
    symlink("t1", dir.join("linkdir")).unwrap();
    symlink("nowhere", dir.join("dangling")).unwrap();
}

/// A fresh fixture: the temporary directory (removed when dropped) and the fixture in it.
pub fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fx");
    fs::create_dir(&fixture).unwrap();
    make_fixture(&fixture);
    (dir, fixture)
}

pub const GOLDEN: &str = "tests/data/example_cli.txt";

/// The golden answers: Nix command => (exit status, stdout or the first line of stderr).
pub fn golden() -> BTreeMap<String, (i32, String)> {
    let text = fs::read_to_string(Path::new(MANIFEST_DIR).join(GOLDEN))
        .expect("tests/data/example_cli.txt exists (regenerate it, see this file's docs)");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            let cmd = parts.next().unwrap().to_owned();
            let status = parts.next().unwrap().parse().unwrap();
            let out = parts.next().unwrap_or("").to_owned();
            (cmd, (status, out))
        })
        .collect()
}

/// The golden output of a command Nix ran successfully.
#[track_caller]
pub fn nix_says(golden: &BTreeMap<String, (i32, String)>, cmd: &str) -> String {
    let (status, out) = golden
        .get(cmd)
        .unwrap_or_else(|| panic!("no golden answer for `{cmd}`"));
    assert_eq!(*status, 0, "`{cmd}` succeeded in Nix");
    out.clone()
}
