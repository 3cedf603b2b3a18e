//! The `hash-path` example against real Nix: every case runs the built example on a fixture
//! tree and compares its output with what Nix 2.26.3 printed for the same command, recorded in
//! `tests/data/example_cli.txt`.
//!
//! Regenerate the golden file (needs the oracle of `scripts/nix-oracle.sh`, which sees the host's
//! `/tmp` as `/host-tmp`):
//!
//! ```text
//! NIX_INGEST_ORACLE=1 cargo test --test example_cli -- --ignored regenerate_golden
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const GOLDEN: &str = "tests/data/example_cli.txt";

/// The example binary, built once with the same profile as this test.
fn example() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", "hash-path", "--message-format=json"])
            .current_dir(MANIFEST_DIR)
            .stderr(Stdio::inherit());
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
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run_example(args: &[OsString], cwd: &Path, stdin: Option<&Path>) -> Run {
    let mut cmd = Command::new(example());
    cmd.args(args).current_dir(cwd);
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(fs::File::open(p).expect("stdin file opens")),
        None => Stdio::null(),
    });
    let out = cmd.output().expect("the example runs");
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the example panicked on {args:?}: {}",
        run.stderr
    );
    run
}

// ---------------------------------------------------------------------------------------------
// The fixture tree (the same bytes every time; store paths depend on base names only)
// ---------------------------------------------------------------------------------------------

/// Builds the fixture under `dir`:
///
/// - `t1/`: the tree of Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`
/// - `sample/`: the tree `examples/sample/sample.nar` was made from (see its README)
/// - `file`, `exe` (mode 0755), `odd-exec` (mode 0654: group execute only), `empty` (0 bytes),
///   `a b` (a name Nix refuses for store paths), `.hidden/`
/// - symlinks `link -> file`, `linkdir -> t1`, `dangling -> nowhere`
fn make_fixture(dir: &Path) {
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

// ---------------------------------------------------------------------------------------------
// The cases: our arguments and the Nix command they must match
// ---------------------------------------------------------------------------------------------

struct Case {
    /// The Nix command (a shell command run in the fixture directory); the golden file's key.
    nix: String,
    /// Our arguments, run in the fixture directory.
    ours: Vec<OsString>,
    /// A file to give our run as standard input.
    stdin: Option<PathBuf>,
}

fn sample_nar() -> PathBuf {
    Path::new(MANIFEST_DIR).join("examples/sample/sample.nar")
}

fn quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+=".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    let mut hash = |m: &str, a: &str, f: &str, p: &str| {
        cases.push(Case {
            nix: format!(
                "nix hash path --mode {m} --algo {a} --format {f} {}",
                quote(p)
            ),
            ours: os(&["--mode", m, "--algo", a, "--format", f, p]),
            stdin: None,
        })
    };
    // Every mode, algorithm and format on a directory (git with MD5 too: Nix allows it here).
    for m in ["git", "nar"] {
        for a in ["md5", "sha1", "sha256", "sha512"] {
            for f in ["sri", "nix32", "base16", "base64"] {
                hash(m, a, f, "t1");
            }
        }
    }
    for f in ["sri", "nix32", "base16", "base64"] {
        hash("flat", "sha256", f, "file");
    }
    // Root kinds; flat follows a symlink root, nar and git do not.
    for m in ["flat", "nar", "git"] {
        for p in [
            "file", "exe", "odd-exec", "empty", "link", "linkdir", "dangling", "t1",
        ] {
            hash(m, "sha1", "base16", p);
        }
    }
    // Paths resolved as Nix does: a trailing slash does not follow a symlink; `.`/`..` as text.
    for p in [
        "linkdir/",
        "t1/",
        "t1/.",
        "t1/bla/..",
        "linkdir/bla/..",
        "./t1",
        "nonexistent",
    ] {
        hash("nar", "sha256", "sri", p);
    }
    hash("git", "sha1", "base16", "sample");
    hash("git", "sha256", "base16", "sample");
    hash("nar", "sha256", "sri", "sample");
    hash("nar", "sha256", "sri", "file");
    hash("nar", "sha1", "nix32", "sample");

    let mut store = |m: &str, a: &str, extra: &[&str], p: &str| {
        let mut nix = format!("nix store add --dry-run --mode {m} --hash-algo {a}");
        let mut ours = os(&["--store-path", "--mode", m, "--algo", a]);
        for e in extra {
            nix.push(' ');
            nix.push_str(&quote(e));
            ours.push(OsString::from(e));
        }
        nix.push(' ');
        nix.push_str(&quote(p));
        ours.push(OsString::from(p));
        cases.push(Case {
            nix,
            ours,
            stdin: None,
        })
    };
    for a in ["md5", "sha1", "sha256", "sha512"] {
        store("nar", a, &[], "file");
        store("flat", a, &[], "file");
    }
    store("git", "sha1", &[], "file");
    store("git", "sha1", &[], "exe");
    store("git", "sha1", &[], "t1");
    store("git", "sha1", &["--name", "fixed"], "t1");
    store("git", "sha1", &[], "sample");
    store("git", "md5", &[], "t1");
    store("nar", "sha256", &[], "sample");
    store("nar", "sha256", &[], "t1/");
    store("nar", "sha256", &[], "linkdir/");
    store("nar", "sha256", &[], "link");
    store("nar", "sha256", &[], ".hidden");
    store("nar", "sha256", &[], "a b");
    store("nar", "sha256", &["--name", "renamed"], "a b");
    store("nar", "sha256", &[], "t1/.");
    store("nar", "sha256", &[], "nonexistent");
    store("flat", "sha256", &[], "link");
    store("flat", "sha256", &[], "t1");
    store("flat", "sha256", &[], "exe");
    store("text", "sha256", &[], "file");
    store("text", "sha256", &[], "link");
    store("text", "sha1", &[], "file");
    store("nar", "sha256", &["--name", "a b"], "file");
    // Another store directory: Nix takes it from the store URL.
    for (m, a) in [("nar", "sha256"), ("git", "sha1"), ("flat", "sha1")] {
        cases.push(Case {
            nix: format!(
                "nix store add --dry-run --store 'dummy://?store=/gnu/store' --mode {m} --hash-algo {a} file"
            ),
            ours: os(&[
                "--store-path",
                "--store-dir",
                "/gnu/store",
                "--mode",
                m,
                "--algo",
                a,
                "file",
            ]),
            stdin: None,
        });
    }
    // Defaults: `nix hash path` and `nix store add` without options (our --mode nar).
    cases.push(Case {
        nix: "nix hash path --mode nar t1".into(),
        ours: os(&["--mode", "nar", "t1"]),
        stdin: None,
    });
    cases.push(Case {
        nix: "nix store add --dry-run t1".into(),
        ours: os(&["--store-path", "t1"]),
        stdin: None,
    });

    // NAR input: the shipped sample NAR must give what Nix gives for the tree it holds.
    let nar = sample_nar();
    for (m, a, f) in [
        ("git", "sha1", "base16"),
        ("git", "sha256", "base16"),
        ("nar", "sha256", "sri"),
        ("nar", "sha1", "nix32"),
    ] {
        let mut ours = os(&["--nar", "--mode", m, "--algo", a, "--format", f]);
        ours.push(nar.clone().into_os_string());
        cases.push(Case {
            nix: format!("nix hash path --mode {m} --algo {a} --format {f} sample"),
            ours,
            stdin: None,
        });
        cases.push(Case {
            nix: format!("nix hash path --mode {m} --algo {a} --format {f} sample"),
            ours: os(&["--nar", "--mode", m, "--algo", a, "--format", f, "-"]),
            stdin: Some(nar.clone()),
        });
    }
    for (m, a) in [("nar", "sha256"), ("git", "sha1")] {
        let mut ours = os(&["--nar", "--store-path", "--mode", m, "--algo", a]);
        ours.push(nar.clone().into_os_string());
        cases.push(Case {
            nix: format!("nix store add --dry-run --mode {m} --hash-algo {a} sample"),
            ours,
            stdin: None,
        });
        cases.push(Case {
            nix: format!("nix store add --dry-run --mode {m} --hash-algo {a} sample"),
            ours: os(&[
                "--nar",
                "--store-path",
                "--name",
                "sample",
                "--mode",
                m,
                "--algo",
                a,
                "-",
            ]),
            stdin: Some(nar.clone()),
        });
    }
    cases
}

/// The golden answers: Nix command => (exit status, stdout or the first line of stderr).
fn golden() -> BTreeMap<String, (i32, String)> {
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

#[test]
fn matches_nix() {
    let golden = golden();
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fx");
    fs::create_dir(&fixture).unwrap();
    make_fixture(&fixture);
    let mut failures = Vec::new();
    for case in cases() {
        let (status, expected) = golden
            .get(&case.nix)
            .unwrap_or_else(|| panic!("no golden answer for `{}`: regenerate", case.nix));
        let run = run_example(&case.ours, &fixture, case.stdin.as_deref());
        let ok = if *status == 0 {
            run.status == 0 && run.stdout.trim_end() == expected && run.stdout.lines().count() == 1
        } else {
            // Nix refuses: we must refuse too, with one clear line.
            run.status == 1
                && run.stdout.is_empty()
                && run.stderr.starts_with("error: ")
                && run.stderr.trim_end().lines().count() == 1
        };
        if !ok {
            failures.push(format!(
                "`{}` (ours: {:?})\n  nix:  {status} {expected}\n  ours: {} {} {}",
                case.nix,
                case.ours,
                run.status,
                run.stdout.trim_end(),
                run.stderr.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn summary_of_the_sample_matches_nix() {
    let golden = golden();
    let run = run_example(&[], Path::new(MANIFEST_DIR), None);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for cmd in [
        "nix hash path --mode git --algo sha1 --format base16 sample",
        "nix hash path --mode git --algo sha256 --format base16 sample",
        "nix hash path --mode nar --algo sha256 --format sri sample",
        "nix store add --dry-run --mode nar --hash-algo sha256 sample",
        "nix store add --dry-run --mode git --hash-algo sha1 sample",
    ] {
        let (status, expected) = &golden[cmd];
        assert_eq!(*status, 0);
        assert!(
            run.stdout
                .lines()
                .any(|l| l.split_whitespace().last() == Some(expected)),
            "the summary lacks `{cmd}` = {expected}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn summary_of_a_file_matches_nix() {
    let golden = golden();
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fx");
    fs::create_dir(&fixture).unwrap();
    make_fixture(&fixture);
    let run = run_example(&[OsString::from("file")], &fixture, None);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for cmd in [
        "nix hash path --mode flat --algo sha256 --format sri file",
        "nix hash path --mode nar --algo sha256 --format sri file",
        "nix store add --dry-run --mode flat --hash-algo sha256 file",
        "nix store add --dry-run --mode git --hash-algo sha1 file",
    ] {
        let (status, expected) = &golden[cmd];
        assert_eq!(*status, 0);
        assert!(
            run.stdout
                .lines()
                .any(|l| l.split_whitespace().last() == Some(expected)),
            "the summary lacks `{cmd}` = {expected}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let cwd = Path::new(MANIFEST_DIR);
    for args in [
        &["--bogus"][..],
        &["--mode"],
        &["--mode", "text", "x"],
        &["--mode", "tree", "x"],
        &["--algo", "sha3", "--mode", "nar", "x"],
        &["--format", "hex", "--mode", "nar", "x"],
        &["a", "b"],
        &["-"],
        &["--nar"],
        &["--store-path", "--format", "sri", "x"],
        &["--mode", "nar", "--name", "n", "x"],
        &["--store-path", "--store-dir", "relative", "x"],
        &["--nar=1", "x"],
    ] {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let run = run_example(&args, cwd, None);
        assert_eq!(run.status, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("usage: hash-path"), "{args:?}");
    }
    let run = run_example(&["--help".into()], cwd, None);
    assert_eq!(run.status, 0);
    assert!(run.stdout.starts_with("usage: hash-path"));
}

#[test]
fn bad_nars_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = fs::read(sample_nar()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("trailing", [&good[..], b"x"].concat()),
        (
            "garbage",
            b"this is not a NAR at all, not even close".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        for mode in ["nar", "git", "flat"] {
            let args = vec![
                OsString::from("--nar"),
                "--mode".into(),
                mode.into(),
                path.clone().into_os_string(),
            ];
            let run = run_example(&args, dir.path(), None);
            assert_eq!(run.status, 1, "{name} {mode}: {}", run.stderr);
            assert!(run.stdout.is_empty());
            assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
            assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regenerating the golden file from the oracle
// ---------------------------------------------------------------------------------------------

fn oracle(args: &[&str]) -> std::process::Output {
    Command::new(Path::new(MANIFEST_DIR).join("scripts/nix-oracle.sh"))
        .arg("run")
        .args(args)
        .output()
        .expect("the oracle runs")
}

#[test]
#[ignore = "needs the Nix oracle; run with NIX_INGEST_ORACLE=1 and --ignored"]
fn regenerate_golden() {
    if std::env::var_os("NIX_INGEST_ORACLE").is_none_or(|v| v != "1") {
        eprintln!("skipped: set NIX_INGEST_ORACLE=1");
        return;
    }
    // The oracle sees the host's /tmp as /host-tmp.
    let dir = tempfile::Builder::new()
        .prefix("nix-ingest-example-cli.")
        .tempdir_in("/tmp")
        .unwrap();
    let fixture = dir.path().join("fx");
    fs::create_dir(&fixture).unwrap();
    make_fixture(&fixture);
    let inside = Path::new("/host-tmp").join(fixture.strip_prefix("/tmp").unwrap());
    let inside = inside.to_str().unwrap();

    // The shipped sample NAR must be exactly what Nix dumps for the sample tree.
    let dump = oracle(&["nix-store", "--dump", &format!("{inside}/sample")]);
    assert!(dump.status.success());
    assert_eq!(
        dump.stdout,
        fs::read(sample_nar()).unwrap(),
        "examples/sample/sample.nar is not `nix-store --dump` of the sample tree"
    );

    let mut seen = BTreeMap::new();
    for case in cases() {
        if seen.contains_key(&case.nix) {
            continue;
        }
        let out = oracle(&["sh", "-c", &format!("cd {inside} && {}", case.nix)]);
        let status = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let text = if status == 0 {
            stdout.trim_end().to_owned()
        } else {
            stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned()
        };
        // The fixture's place differs per run; the golden file names it `<fixture>`.
        let text = text.replace(inside, "<fixture>");
        assert!(!case.nix.contains('\t') && !text.contains('\t'));
        seen.insert(case.nix.clone(), (status, text));
    }
    let mut file = fs::File::create(Path::new(MANIFEST_DIR).join(GOLDEN)).unwrap();
    writeln!(
        file,
        "# What real Nix (2.26.3, git-hashing enabled) prints for the commands tests/example_cli.rs\n\
         # runs the hash-path example against. Each line: <command, run in the fixture directory\n\
         # built by make_fixture()> TAB <exit status> TAB <stdout, or the first line of stderr>.\n\
         # Made by: NIX_INGEST_ORACLE=1 cargo test --test example_cli -- --ignored regenerate_golden\n\
         # (every command ran as `scripts/nix-oracle.sh run sh -c 'cd <fixture> && <command>'`)."
    )
    .unwrap();
    for (cmd, (status, text)) in &seen {
        writeln!(file, "{cmd}\t{status}\t{text}").unwrap();
    }
}
