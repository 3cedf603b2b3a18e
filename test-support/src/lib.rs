//! What the test binaries of nix-ingest share, written once: whether the real-Nix oracle is
//! enabled ([`oracle_enabled`]), the `nix-ingest` binary runner, the fixture tree and the golden
//! answers of real Nix (`cli/tests/data/nix-<version>.txt`), and NAR byte builders for malformed
//! and hostile input ([`NarBytes`]).
//!
//! Every test binary of the library (`tests/`), the command-line tool (`cli/tests/`) and the
//! binary cache uses this crate as `support`; it is not published.
#![forbid(unsafe_code)]
#![allow(clippy::missing_panics_doc)]

mod nar_bytes;

pub use nar_bytes::NarBytes;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository's root (this crate lives in `test-support/` beside the library).
pub fn repo() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest)
}

/// Whether the tests that ask real Nix run: `NIX_INGEST_ORACLE=1` (the oracle chroots of
/// `scripts/nix-oracle.sh` must be set up; CI's scripts do it).
pub fn oracle_enabled() -> bool {
    std::env::var_os("NIX_INGEST_ORACLE").is_some_and(|v| v == "1")
}

/// [`oracle_enabled`], saying on standard error that `what` was skipped when it is not.
pub fn oracle_or_skip(what: &str) -> bool {
    let enabled = oracle_enabled();
    if !enabled {
        eprintln!("skipped: set NIX_INGEST_ORACLE=1 to {what}");
    }
    enabled
}

/// The `nix-ingest` binary: the one cargo built for the tool's own tests (cargo names it in
/// `CARGO_BIN_EXE_nix-ingest` when it runs them), else built once with cargo, with the same
/// profile as this test.
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("CARGO_BIN_EXE_nix-ingest") {
        Some(exe) => PathBuf::from(exe),
        None => cargo_build(
            &["-p", "nix-ingest-cli", "--bin", "nix-ingest"],
            "nix-ingest",
        ),
    })
}

/// The `hash-path` example, built once with cargo, with the same profile as this test.
pub fn example() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_build(&["-p", "nix-ingest", "--example", "hash-path"], "hash-path"))
}

/// Builds with `cargo build ARGS` and returns the executable of the target `name`.
fn cargo_build(args: &[&str], name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(args)
        .arg("--message-format=json")
        .current_dir(repo())
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cargo build runs");
    assert!(out.status.success(), "cargo build {args:?} failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let exe = stdout
        .lines()
        .filter(|l| {
            l.contains("\"compiler-artifact\"") && l.contains(&format!("\"name\":\"{name}\""))
        })
        .find_map(|l| {
            let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
            let len = l[start..].find('"')?;
            Some(PathBuf::from(&l[start..start + len]))
        })
        .expect("cargo names the executable");
    assert!(exe.exists(), "{} exists", exe.display());
    exe
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
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd);
    cmd.stdin(match stdin {
        Input::Null => Stdio::null(),
        Input::File(p) => Stdio::from(fs::File::open(p).expect("stdin file opens")),
        Input::Bytes(_) => Stdio::piped(),
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("nix-ingest runs");
    if let Input::Bytes(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // The binary may stop reading early (and fail): a broken pipe here is its answer.
        let _ = pipe.write_all(bytes);
    }
    let out = child.wait_with_output().expect("nix-ingest ends");
    let run = RawRun {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "nix-ingest panicked on {args:?}: {}",
        run.stderr
    );
    run
}

pub fn run_cli(args: &[OsString], cwd: &Path, stdin: Option<&Path>) -> Run {
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
    repo().join("examples/sample/sample.nar")
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

/// A bad command line: status 2, one `error:` line and a pointer to `--help`.
#[track_caller]
pub fn assert_usage_error(run: &Run, what: &str) {
    assert_eq!(run.status, 2, "{what}: {run:?}");
    assert!(run.stdout.is_empty(), "{what}: {run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{what}: {run:?}");
    assert!(lines[0].starts_with("error: "), "{what}: {run:?}");
    assert!(
        lines[1].starts_with("For more information, try 'nix-ingest")
            && lines[1].ends_with(" --help'."),
        "{what}: {run:?}"
    );
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

/// A fresh fixture under the host's `/tmp`, where the oracle's chroots see it: the temporary
/// directory (removed when dropped), the fixture, and the fixture's path inside a chroot
/// (`/host-tmp/…`).
pub fn oracle_fixture(prefix: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let fixture = dir.path().join("fx");
    fs::create_dir(&fixture).unwrap();
    make_fixture(&fixture);
    let inside = Path::new("/host-tmp").join(fixture.strip_prefix("/tmp").unwrap());
    let inside = inside.to_str().unwrap().to_owned();
    (dir, fixture, inside)
}

/// The golden answers of a Nix version (`2.34` or `2.26`), relative to the repository.
pub fn golden_file(version: &str) -> PathBuf {
    PathBuf::from(format!("cli/tests/data/nix-{version}.txt"))
}

/// The golden answers of Nix 2.34, the version followed where Nix versions differ: Nix command
/// => (exit status, stdout or the first line of stderr).
pub fn golden() -> BTreeMap<String, (i32, String)> {
    golden_of("2.34")
}

/// The golden answers of a Nix version.
pub fn golden_of(version: &str) -> BTreeMap<String, (i32, String)> {
    let text = fs::read_to_string(repo().join(golden_file(version)))
        .expect("the golden file exists (regenerate it, see cli/tests/nix.rs)");
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
