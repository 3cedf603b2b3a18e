//! `nix-ingest` against real Nix: every case runs the binary on a fixture tree and compares its
//! output with what Nix 2.34.8 printed for the same command, recorded in
//! `cli/tests/data/nix-2.34.txt` (Nix 2.26.3's answers are in `nix-2.26.txt`; where the two
//! differ, nix-ingest follows 2.34, see `nix_versions_differ_only_in_store_path_names`).
//!
//! Regenerate a golden file (needs the oracle of `scripts/nix-oracle.sh`, which sees the host's
//! `/tmp` as `/host-tmp`):
//!
//! ```text
//! NIX_INGEST_ORACLE=1 NIX_ORACLE_VERSION=2.34 cargo test -p nix-ingest-cli --test nix -- --ignored regenerate_golden
//! NIX_INGEST_ORACLE=1 NIX_ORACLE_VERSION=2.26 cargo test -p nix-ingest-cli --test nix -- --ignored regenerate_golden
//! ```

use nix_ingest_test_support as support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{
    assert_error, assert_ok, assert_usage_error, golden, make_fixture, nix_says, os, repo, run_cli,
    sample_nar,
};
use support::{golden_file, golden_of};

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
            ours: os(&["hash", "path", "--mode", m, "--algo", a, "--format", f, p]),
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
        let mut ours = os(&["store", "add", "--dry-run", "--mode", m, "--hash-algo", a]);
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
                "store",
                "add",
                "--dry-run",
                "--store",
                "dummy://?store=/gnu/store",
                "--mode",
                m,
                "--hash-algo",
                a,
                "file",
            ]),
            stdin: None,
        });
    }
    // The store directory of `--store-dir`, our shorthand.
    cases.push(Case {
        nix: "nix store add --dry-run --store 'dummy://?store=/gnu/store' --mode nar --hash-algo sha256 file".into(),
        ours: os(&["store", "add", "--dry-run", "--store-dir", "/gnu//store/", "file"]),
        stdin: None,
    });
    // Defaults: `nix hash path` and `nix store add` without options.
    cases.push(Case {
        nix: "nix hash path --mode nar t1".into(),
        ours: os(&["hash", "path", "t1"]),
        stdin: None,
    });
    cases.push(Case {
        nix: "nix store add --dry-run t1".into(),
        ours: os(&["store", "add", "--dry-run", "t1"]),
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
        let mut ours = os(&[
            "hash", "path", "--nar", "--mode", m, "--algo", a, "--format", f,
        ]);
        ours.push(nar.clone().into_os_string());
        cases.push(Case {
            nix: format!("nix hash path --mode {m} --algo {a} --format {f} sample"),
            ours,
            stdin: None,
        });
        cases.push(Case {
            nix: format!("nix hash path --mode {m} --algo {a} --format {f} sample"),
            ours: os(&[
                "hash", "path", "--nar", "--mode", m, "--algo", a, "--format", f, "-",
            ]),
            stdin: Some(nar.clone()),
        });
    }
    for (m, a) in [("nar", "sha256"), ("git", "sha1")] {
        let mut ours = os(&[
            "store",
            "add",
            "--dry-run",
            "--nar",
            "--mode",
            m,
            "--hash-algo",
            a,
        ]);
        ours.push(nar.clone().into_os_string());
        cases.push(Case {
            nix: format!("nix store add --dry-run --mode {m} --hash-algo {a} sample"),
            ours,
            stdin: None,
        });
        cases.push(Case {
            nix: format!("nix store add --dry-run --mode {m} --hash-algo {a} sample"),
            ours: os(&[
                "store",
                "add",
                "--dry-run",
                "--nar",
                "--name",
                "sample",
                "--mode",
                m,
                "--hash-algo",
                a,
                "-",
            ]),
            stdin: Some(nar.clone()),
        });
    }
    cases
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
        let run = run_cli(&case.ours, &fixture, case.stdin.as_deref());
        let ok = if *status == 0 {
            // Nothing on standard error: no progress (it is not a terminal), no warning.
            run.status == 0
                && run.stderr.is_empty()
                && run.stdout.trim_end() == expected
                && run.stdout.lines().count() == 1
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

/// Nix 2.26 and 2.34 give the same answers for every case but two: 2.34 takes the default name
/// of `nix store add DIR/` from the text after the last `/` (empty: refused), 2.26 from the base
/// name. nix-ingest follows 2.34 (`matches_nix`).
#[test]
fn nix_versions_differ_only_in_store_path_names() {
    let (old, new) = (golden_of("2.26"), golden_of("2.34"));
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    let differ: Vec<&String> = old
        .iter()
        .filter(|(cmd, (status, out))| {
            let (new_status, new_out) = &new[*cmd];
            status != new_status || (*status == 0 && out != new_out)
        })
        .map(|(cmd, _)| cmd)
        .collect();
    assert_eq!(
        differ,
        [
            "nix store add --dry-run --mode nar --hash-algo sha256 linkdir/",
            "nix store add --dry-run --mode nar --hash-algo sha256 t1/",
        ]
    );
    for cmd in differ {
        assert_eq!(old[cmd].0, 0, "{cmd}");
        assert!(new[cmd].1.contains("name must not be empty"), "{cmd}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let cwd = repo();
    let ca = "fixed:r:sha256:5683d0f38842af687746321a5ce061ac63b97763716ce8c20b640194d060ae3e";
    for args in [
        &[][..],
        &["--bogus"],
        &["hash"],
        &["hash", "path"],
        &["hash", "path", "--bogus", "x"],
        &["hash", "path", "--mode"],
        &["hash", "path", "--mode", "text", "x"],
        &["hash", "path", "--mode", "tree", "x"],
        &["hash", "path", "--algo", "sha3", "x"],
        &["hash", "path", "--format", "hex", "x"],
        &["hash", "path", "-"],
        &["hash", "path", "--nar"],
        &["hash", "path", "--nar=1", "x"],
        &["hash", "path", "--name", "n", "x"],
        &["--threads", "two", "hash", "path", "x"],
        &["store", "add", "x"],
        &["store", "add", "--dry-run"],
        &["store", "add", "--dry-run", "--format", "sri", "x"],
        &["store", "add", "--dry-run", "--store-dir", "relative", "x"],
        &[
            "store",
            "add",
            "--dry-run",
            "--store",
            "dummy://?store=relative",
            "x",
        ],
        &[
            "store",
            "add",
            "--dry-run",
            "--store",
            "auto",
            "--store-dir",
            "/s",
            "x",
        ],
        &["store", "add", "--dry-run", "--nar", "-"],
        &["store", "add", "--dry-run", "a", "b"],
        &["hash", "multi", "--hash", "git:sha3", "x"],
        &["hash", "multi", "--hash", "git", "x"],
        &["hash", "multi", "--mode", "git", "x"],
        &["hash", "multi", "a", "b"],
        &["nar", "dump"],
        &["verify"],
        &["verify", ca],
        &["verify", "not-a-ca", "x.nar"],
        &["git", "export", "r"],
        &["git", "to-nar", "r"],
        &["git", "to-nar", "r", "0", "x"],
        &["git", "to-nar", "r", "0", "--root-type", "socket"],
        &["cid", "--algo", "md5", "x"],
        &["completions", "tcsh"],
    ] {
        let run = run_cli(&os(args), cwd, None);
        assert_usage_error(&run, &format!("{args:?}"));
    }
    // The pointer names the subcommand's own help.
    for (args, help) in [
        (
            &["--threads", "two", "hash", "path", "x"][..],
            "nix-ingest hash path",
        ),
        (&["-j", "2", "store", "add", "x"], "nix-ingest store add"),
        (&["git", "to-nar", "r"], "nix-ingest git to-nar"),
        (&["hash"], "nix-ingest hash"),
        (&["--bogus", "hash"], "nix-ingest hash"),
    ] {
        let run = run_cli(&os(args), cwd, None);
        assert!(
            run.stderr
                .ends_with(&format!("For more information, try '{help} --help'.\n")),
            "{args:?}: {}",
            run.stderr
        );
    }
    for args in [
        &["--help"][..],
        &["hash", "path", "--help"],
        &["help", "store", "add"],
    ] {
        let run = run_cli(&os(args), cwd, None);
        assert_eq!(run.status, 0, "{args:?}");
        assert!(run.stdout.contains("Usage: nix-ingest"), "{args:?}");
    }
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
                OsString::from("hash"),
                "path".into(),
                "--nar".into(),
                "--mode".into(),
                mode.into(),
                path.clone().into_os_string(),
            ];
            let run = run_cli(&args, dir.path(), None);
            assert_eq!(run.status, 1, "{name} {mode}: {}", run.stderr);
            assert!(run.stdout.is_empty());
            assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
            assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Threads, collision detection and one-pass hashing give Nix's answers
// ---------------------------------------------------------------------------------------------

/// Every git, NAR and flat case of `matches_nix` on a path on disk (git ids on every core, NAR
/// and flat hashes with files read ahead), again with `--threads 1` (one streaming pass),
/// `--threads 2` and `--threads 0` and `--no-collision-detection`: the same answers as Nix.
#[test]
fn threads_and_collision_detection_match_nix() {
    let golden = golden();
    let (_dir, fixture) = support::fixture();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let on_disk = case.stdin.is_none() && !case.ours.iter().any(|a| a == "--nar");
        let hashed = case.ours.windows(2).any(|w| {
            w[0] == "--mode" && ["git", "nar", "flat"].contains(&w[1].to_str().unwrap_or(""))
        });
        if !(on_disk && hashed) {
            continue;
        }
        let (status, expected) = &golden[&case.nix];
        for extra in [
            &["--threads", "1"][..],
            &["--threads", "2"],
            &["--threads", "0"],
            &["--no-collision-detection"],
            &["--threads", "1", "--no-collision-detection"],
            &["--threads", "2", "--no-collision-detection"],
        ] {
            let mut args = os(extra);
            args.extend(case.ours.iter().cloned());
            let run = run_cli(&args, &fixture, None);
            let ok = if *status == 0 {
                run.status == 0 && run.stderr.is_empty() && run.stdout.trim_end() == expected
            } else {
                run.status == 1
                    && run.stdout.is_empty()
                    && run.stderr.starts_with("error: ")
                    && run.stderr.trim_end().lines().count() == 1
            };
            checked += 1;
            if !ok {
                failures.push(format!(
                    "`{}` (ours: {args:?})\n  nix:  {status} {expected}\n  ours: {} {} {}",
                    case.nix,
                    run.status,
                    run.stdout.trim_end(),
                    run.stderr.trim_end()
                ));
            }
        }
    }
    assert!(checked > 100, "only {checked} runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `--multi`: several hashes in one pass, each equal to what Nix prints for its method alone.
#[test]
fn multi_matches_nix() {
    let golden = golden();
    let (_dir, fixture) = support::fixture();
    let nix = |cmd: &str| nix_says(&golden, cmd);
    // The NAR SHA-256 of the sample, base16, from examples/sample/README.md (Nix's answer).
    let sample_nar_base16 = "5683d0f38842af687746321a5ce061ac63b97763716ce8c20b640194d060ae3e";

    let t1 = vec![
        format!(
            "git-sha1 {}",
            nix("nix hash path --mode git --algo sha1 --format sri t1")
        ),
        format!(
            "git-sha256 {}",
            nix("nix hash path --mode git --algo sha256 --format sri t1")
        ),
        format!(
            "nar-sha256 {}",
            nix("nix hash path --mode nar --algo sha256 --format sri t1")
        ),
    ];
    let sample = vec![
        format!(
            "git-sha1 {}",
            nix("nix hash path --mode git --algo sha1 --format base16 sample")
        ),
        format!(
            "git-sha256 {}",
            nix("nix hash path --mode git --algo sha256 --format base16 sample")
        ),
        format!("nar-sha256 {sample_nar_base16}"),
    ];
    let nar = sample_nar();
    let nar = nar.to_str().unwrap();
    let mut runs: Vec<(Vec<&str>, Option<&Path>, &Vec<String>)> = vec![
        (vec!["hash", "multi", "t1"], None, &t1),
        (vec!["hash", "multi", "--format", "sri", "t1/"], None, &t1),
        (
            vec![
                "hash",
                "multi",
                "--hash",
                "git:sha1,git:sha256,nar:sha256",
                "t1",
            ],
            None,
            &t1,
        ),
        (
            vec![
                "hash",
                "multi",
                "--hash=git:sha1,git:sha256,nar:sha256",
                "t1",
            ],
            None,
            &t1,
        ),
        (
            vec![
                "hash",
                "multi",
                "--hash",
                "git:sha1",
                "--hash",
                "git:sha256",
                "--hash",
                "nar:sha256",
                "t1",
            ],
            None,
            &t1,
        ),
        (
            vec!["hash", "multi", "--no-collision-detection", "t1"],
            None,
            &t1,
        ),
        (
            vec!["hash", "multi", "--format", "base16", "sample"],
            None,
            &sample,
        ),
        (
            // The benchmark's command line.
            vec![
                "hash",
                "multi",
                "--hash",
                "git:sha1,git:sha256,nar:sha256",
                "--format",
                "base16",
                "sample",
            ],
            None,
            &sample,
        ),
        (
            vec!["hash", "multi", "--format", "base16", "--nar", nar],
            None,
            &sample,
        ),
        (
            vec!["hash", "multi", "--format", "base16", "--nar", "-"],
            Some(Path::new(nar)),
            &sample,
        ),
    ];
    let threaded: Vec<_> = runs
        .iter()
        .filter(|(args, stdin, _)| {
            stdin.is_none()
                && args
                    .last()
                    .is_some_and(|p| p.starts_with('t') || *p == "sample")
        })
        .flat_map(|(args, _, expected)| {
            ["1", "2", "0"].map(|t| {
                let mut args = args.clone();
                args.splice(0..0, ["--threads", t]);
                (args, None, *expected)
            })
        })
        .collect();
    runs.extend(threaded);
    for (args, stdin, expected) in runs {
        let run = run_cli(&os(&args), &fixture, stdin);
        assert_eq!(&assert_ok(&run, &format!("{args:?}")), expected, "{args:?}");
    }

    // Other lists: every line is Nix's answer for its method and algorithm.
    let run = run_cli(
        &os(&[
            "hash",
            "multi",
            "--hash=nar:sha1,git:md5,nar:sha512",
            "--format",
            "base16",
            "t1",
        ]),
        &fixture,
        None,
    );
    assert_eq!(
        assert_ok(&run, "three others"),
        [
            format!(
                "nar-sha1 {}",
                nix("nix hash path --mode nar --algo sha1 --format base16 t1")
            ),
            format!(
                "git-md5 {}",
                nix("nix hash path --mode git --algo md5 --format base16 t1")
            ),
            format!(
                "nar-sha512 {}",
                nix("nix hash path --mode nar --algo sha512 --format base16 t1")
            ),
        ]
    );
    let run = run_cli(
        &os(&[
            "hash",
            "multi",
            "--hash",
            "flat:sha256,git:sha1",
            "--format",
            "base16",
            "file",
        ]),
        &fixture,
        None,
    );
    assert_eq!(
        assert_ok(&run, "flat and git of a file"),
        [
            format!(
                "flat-sha256 {}",
                nix("nix hash path --mode flat --algo sha256 --format base16 file")
            ),
            format!(
                "git-sha1 {}",
                nix("nix hash path --mode git --algo sha1 --format base16 file")
            ),
        ]
    );
    // A method that cannot take the object fails the whole run, with one line.
    let run = run_cli(
        &os(&["hash", "multi", "--hash", "flat:sha256,git:sha1", "t1"]),
        &fixture,
        None,
    );
    assert_error(&run, "flat of a directory");
    // A path that reads like a list of hashes is a path.
    fs::create_dir_all(fixture.join("git:sha1")).unwrap();
    let run = run_cli(&os(&["hash", "multi", "git:sha1"]), &fixture, None);
    assert_eq!(assert_ok(&run, "./git:sha1").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Progress: on a terminal only
// ---------------------------------------------------------------------------------------------

/// A NAR holding one file of `size` bytes.
fn big_nar(size: usize) -> Vec<u8> {
    use nix_ingest::event::{Event, Sink};
    let mut w = nix_ingest::nar::NarWriter::new(Vec::new());
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    w.event(Event::FileStart {
        name: None,
        executable: false,
        size: size as u64,
    })
    .unwrap();
    w.event(Event::FileData(&data)).unwrap();
    w.event(Event::FileEnd).unwrap();
    w.finish().unwrap()
}

/// A shell command that writes `nar` to standard output slowly: 1 MiB, a pause of a second
/// (longer than the delay before progress shows), then the rest.
fn slow_cat(nar: &Path) -> String {
    format!(
        "{{ head -c 1048576 {0}; sleep 1; tail -c +1048577 {0}; }}",
        nar.display()
    )
}

#[test]
fn progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let nar = dir.path().join("big.nar");
    fs::write(&nar, big_nar(8 << 20)).unwrap();
    let bin = support::bin();
    let cmd = format!(
        "{} | {} hash path --nar --mode nar --algo sha256 --format base16 -",
        slow_cat(&nar),
        bin.display()
    );
    let expected = {
        use sha2::Digest;
        let bytes = fs::read(&nar).unwrap();
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&bytes))
    };

    // Standard error is a pipe: nothing but the answer, however long it takes.
    let out = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), expected);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no progress off a terminal"
    );

    // Standard error is a terminal (`script` runs the command on a pseudo-terminal): progress
    // lines are drawn after half a second, then cleared.
    let script = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{cmd} >/dev/null"))
        .arg("/dev/null")
        .stdin(std::process::Stdio::null())
        .output();
    let Some(out) = script.ok().filter(|o| o.status.code().is_some()) else {
        eprintln!("skipped the terminal half: no `script` to run a pseudo-terminal");
        return;
    };
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains("hashing: 1 entry, "),
        "a progress line with entries: {tty:?}"
    );
    assert!(
        tty.contains("iB/s)"),
        "a progress line with a rate: {tty:?}"
    );
    assert!(
        tty.ends_with("\r\x1b[2K"),
        "the line is cleared at the end: {tty:?}"
    );
    assert!(
        !tty.contains(&expected),
        "the answer went to /dev/null: {tty:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Regenerating the golden file from the oracle
// ---------------------------------------------------------------------------------------------

fn oracle(args: &[&str]) -> std::process::Output {
    Command::new(repo().join("scripts/nix-oracle.sh"))
        .arg("run")
        .args(args)
        .output()
        .expect("the oracle runs")
}

#[test]
#[ignore = "needs the Nix oracle; run with NIX_INGEST_ORACLE=1 and --ignored"]
fn regenerate_golden() {
    if !support::oracle_or_skip("ask real Nix") {
        return;
    }
    // The oracle sees the host's /tmp as /host-tmp.
    let (_dir, _fixture, inside) = support::oracle_fixture("nix-ingest-example-cli.");
    let inside = inside.as_str();

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
    // `nix (Nix) 2.34.8` -> `2.34.8`, and the file of `2.34`.
    let full = String::from_utf8_lossy(&oracle(&["nix", "--version"]).stdout)
        .split_whitespace()
        .last()
        .expect("nix --version prints a version")
        .to_owned();
    let version = full.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let mut file = fs::File::create(repo().join(golden_file(&version))).unwrap();
    writeln!(
        file,
        "# What real Nix ({full}, git-hashing enabled) prints for the commands cli/tests/nix.rs\n\
         # runs nix-ingest against. Each line: <command, run in the fixture directory\n\
         # built by make_fixture()> TAB <exit status> TAB <stdout, or the first line of stderr>.\n\
         # Made by: NIX_INGEST_ORACLE=1 NIX_ORACLE_VERSION={version} cargo test -p nix-ingest-cli --test nix -- --ignored regenerate_golden\n\
         # (every command ran as `scripts/nix-oracle.sh run sh -c 'cd <fixture> && <command>'`)."
    )
    .unwrap();
    for (cmd, (status, text)) in &seen {
        writeln!(file, "{cmd}\t{status}\t{text}").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// nar dump, completions and the man page
// ---------------------------------------------------------------------------------------------

/// `nar dump P` writes what `nix-store --dump P` writes: the shipped sample NAR (made by
/// `nix-store --dump`, checked again by `regenerate_golden`) byte for byte, and NARs whose
/// hashes are Nix's `nix hash path --mode nar` answers.
#[test]
fn nar_dump_is_nix_store_dump() {
    use sha2::Digest as _;
    let golden = golden();
    let (_dir, fixture) = support::fixture();
    let run = support::run_raw(
        &os(&["nar", "dump", "sample"]),
        &fixture,
        support::Input::Null,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert!(run.stdout == fs::read(sample_nar()).unwrap(), "sample");
    let mut checked = 0;
    for p in [
        "t1",
        "file",
        "exe",
        "link",
        "linkdir",
        "t1/",
        "t1/bla/..",
        "./t1",
    ] {
        let run = support::run_raw(&os(&["nar", "dump", p]), &fixture, support::Input::Null);
        assert_eq!(run.status, 0, "{p}: {}", run.stderr);
        let sha1 = data_encoding::HEXLOWER.encode(&sha1::Sha1::digest(&run.stdout));
        let sha256 = sha2::Sha256::digest(&run.stdout);
        let ours = [
            ("sha1 --format base16", sha1),
            (
                "sha256 --format base16",
                data_encoding::HEXLOWER.encode(&sha256),
            ),
            (
                "sha256 --format sri",
                format!("sha256-{}", data_encoding::BASE64.encode(&sha256)),
            ),
        ];
        for (algo_format, ours) in ours {
            let cmd = format!("nix hash path --mode nar --algo {algo_format} {p}");
            if let Some((0, nix)) = golden.get(&cmd) {
                assert_eq!(&ours, nix, "{cmd}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} checks");
    // A path that is not there: one line, no NAR.
    let run = run_cli(&os(&["nar", "dump", "nonexistent"]), &fixture, None);
    assert_error(&run, "nonexistent");
}

/// Completions and the man page come from the same definitions as the parser.
#[test]
fn completions_and_man_page() {
    let cwd = repo();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = run_cli(&os(&["completions", shell]), cwd, None);
        assert_eq!(run.status, 0, "{shell}: {}", run.stderr);
        for word in ["nix-ingest", "hash", "multi", "--dry-run", "to-nar"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    let man = run_cli(&os(&["man"]), cwd, None);
    assert_eq!(man.status, 0, "{}", man.stderr);
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH nix-ingest"));
    for word in ["hash", "store", "verify", "completions", "Exit status"] {
        assert!(man.stdout.contains(word), "the man page lacks {word}");
    }
}

/// The bash completion script, loaded in a real bash, registers a function for `nix-ingest`
/// that completes the options of subcommands at every level, not just the top one.
#[test]
fn bash_completes_below_the_top_level() {
    let script = run_cli(&os(&["completions", "bash"]), repo(), None);
    assert_eq!(script.status, 0, "{}", script.stderr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nix-ingest.bash");
    fs::write(&file, &script.stdout).unwrap();
    // What `nix-ingest WORDS… CUR<TAB>` offers: the function `complete -p` names, called as
    // bash calls it (command, current word, previous word).
    let complete = |words: &[&str]| -> Vec<String> {
        let words: Vec<String> = words
            .iter()
            .map(|w| {
                if w.is_empty() {
                    "''".to_owned()
                } else {
                    quote(w)
                }
            })
            .collect();
        let program = format!(
            r#"source {file} || exit 3
spec=$(complete -p nix-ingest) || exit 4
[[ $spec =~ -F\ ([^ ]+) ]] || exit 5
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"${{BASH_REMATCH[1]}}" nix-ingest "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
            file = quote(file.to_str().unwrap()),
            words = words.join(" "),
        );
        let out = Command::new("bash")
            .arg("--norc")
            .arg("-c")
            .arg(program)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{words:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let offers = |words: &[&str], expected: &[&str]| {
        let got = complete(words);
        for e in expected {
            assert!(
                got.iter().any(|g| g == e),
                "{words:?} offers {got:?}, not {e}"
            );
        }
    };
    offers(
        &["nix-ingest", "hash", "path", "--"],
        &["--mode", "--algo", "--format", "--nar", "--threads"],
    );
    offers(
        &["nix-ingest", "hash", "path", "--mode", ""],
        &["flat", "nar", "git"],
    );
    offers(
        &["nix-ingest", "store", "add", "--"],
        &["--dry-run", "--hash-algo", "--store-dir"],
    );
    offers(&["nix-ingest", "git", "to-nar", "--"], &["--root-type"]);
    offers(
        &["nix-ingest", "path-info", "--"],
        &["--json", "--json-format"],
    );
    offers(&["nix-ingest", "hash", ""], &["path", "multi"]);
    offers(
        &["nix-ingest", ""],
        &["hash", "store", "nar", "path-info", "git"],
    );
    // Options of another subcommand are not offered.
    let got = complete(&["nix-ingest", "hash", "path", "--"]);
    assert!(!got.iter().any(|g| g == "--dry-run"), "{got:?}");
}

/// Every man page a page refers to (`nix-ingest-hash(1)`…) is generated, and each subcommand's
/// page documents its own options; `man SUBCOMMAND…` prints the same page.
#[test]
fn man_pages_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_cli(
        &os(&["man", "--out-dir", dir.path().to_str().unwrap()]),
        repo(),
        None,
    );
    let written = assert_ok(&run, "man --out-dir");
    let mut pages = BTreeMap::new();
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = fs::read_to_string(&path).unwrap();
        pages.insert(name, text);
    }
    assert_eq!(written.len(), pages.len(), "{written:?}");
    let mut refs = 0;
    for (name, text) in &pages {
        // roff escapes `-` as `\-`.
        let text = text.replace("\\-", "-");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("nix-ingest") {
            rest = &rest[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(rest.len());
            if let Some(section) = rest[end..].strip_prefix('(') {
                let section = &section[..section.find(')').unwrap_or(0)];
                let page = format!("{}.{section}", &rest[..end]);
                assert!(
                    pages.contains_key(&page),
                    "{name} refers to {page}, not generated"
                );
                refs += 1;
            }
            rest = &rest[end..];
        }
    }
    assert!(refs >= 16, "only {refs} references");
    for (page, words, options) in [
        (
            "nix-ingest-hash-path.1",
            &["hash", "path"][..],
            &["--mode", "--algo", "--format", "--nar"][..],
        ),
        (
            "nix-ingest-store-add.1",
            &["store", "add"],
            &["--dry-run", "--hash-algo", "--store-dir"],
        ),
        (
            "nix-ingest-git-to-nar.1",
            &["git", "to-nar"],
            &["--root-type"],
        ),
        (
            "nix-ingest-nar-restore.1",
            &["nar", "restore"],
            &["--threads"],
        ),
    ] {
        let text = pages.get(page).unwrap_or_else(|| panic!("no {page}"));
        for option in options {
            assert!(
                text.contains(&option.replace('-', "\\-")),
                "{page} lacks {option}"
            );
        }
        let mut args = os(&["man"]);
        args.extend(os(words));
        let run = run_cli(&args, repo(), None);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            &run.stdout,
            text,
            "`man {}` differs from {page}",
            words.join(" ")
        );
    }
    let run = run_cli(&os(&["man", "hash", "nope"]), repo(), None);
    assert_usage_error(&run, "man of an unknown subcommand");
}

/// A subcommand's `--help` lists its own options first and the global ones after, under their
/// own heading; each global option is described in one line.
#[test]
fn help_lists_own_options_first() {
    for words in [
        &["hash", "path"][..],
        &["store", "add"],
        &["nar", "restore"],
        &["git", "export"],
    ] {
        let mut args = os(words);
        args.push("--help".into());
        let run = run_cli(&args, repo(), None);
        let help = assert_ok(&run, "--help").join("\n");
        let own = help
            .find("\nOptions:\n")
            .unwrap_or_else(|| panic!("{words:?}: {help}"));
        let global = help
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{words:?}: {help}"));
        assert!(own < global, "{words:?}: {help}");
        for option in ["--threads", "--cache <FILE>", "--no-collision-detection"] {
            let at = help
                .find(option)
                .unwrap_or_else(|| panic!("{words:?} lacks {option}"));
            assert!(
                at > global,
                "{words:?}: {option} among the subcommand's options"
            );
        }
        // `--cache` in one short line (wrapped at most once on a narrow terminal).
        let cache = &help[help.find("--cache <FILE>").unwrap()..];
        let lines = cache
            .lines()
            .take_while(|l| !l.trim_start().starts_with("--cache-"))
            .count();
        assert!(lines <= 2, "{words:?}: {cache}");
    }
}

/// `--cache FILE`: every git case of `matches_nix` on a path on disk, with a new cache and
/// again with the cache it wrote, gives Nix's answer; a cache file that cannot be trusted is
/// said once on standard error and rebuilt, the answer unchanged.
#[test]
fn cache_gives_nix_answers() {
    let golden = golden();
    let (dir, fixture) = support::fixture();
    let mut checked = 0;
    for (i, case) in cases().into_iter().enumerate() {
        let on_disk = case.stdin.is_none() && !case.ours.iter().any(|a| a == "--nar");
        let git = case
            .ours
            .windows(2)
            .any(|w| w[0] == "--mode" && w[1] == "git");
        if !(on_disk && git) {
            continue;
        }
        let (status, expected) = &golden[&case.nix];
        let cache = dir.path().join(format!("cache-{i}"));
        for round in ["new cache", "reused cache"] {
            let mut args = os(&["--cache", cache.to_str().unwrap()]);
            args.extend(case.ours.iter().cloned());
            let run = run_cli(&args, &fixture, None);
            if *status == 0 {
                assert_eq!(run.status, 0, "{round} {args:?}: {}", run.stderr);
                assert_eq!(run.stderr, "", "{round} {args:?}");
                assert_eq!(run.stdout.trim_end(), expected, "{round} {args:?}");
            } else {
                assert_error(&run, &format!("{round} {args:?}"));
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} runs");

    // Several hashes in one pass, git ones from the cache.
    let cache = dir.path().join("multi-cache");
    let t1 = [
        format!(
            "git-sha1 {}",
            nix_says(
                &golden,
                "nix hash path --mode git --algo sha1 --format sri t1"
            )
        ),
        format!(
            "nar-sha256 {}",
            nix_says(
                &golden,
                "nix hash path --mode nar --algo sha256 --format sri t1"
            )
        ),
    ];
    for _ in 0..2 {
        let run = run_cli(
            &os(&[
                "hash",
                "multi",
                "--cache",
                cache.to_str().unwrap(),
                "--hash",
                "git:sha1,nar:sha256",
                "t1",
            ]),
            &fixture,
            None,
        );
        assert_eq!(assert_ok(&run, "multi with a cache"), t1);
    }

    // A file that is not a cache (a typo in FILE): refused, left as it was.
    let git_t1 = nix_says(
        &golden,
        "nix hash path --mode git --algo sha1 --format sri t1",
    );
    let cache = dir.path().join("notes.txt");
    fs::write(&cache, b"not a cache at all").unwrap();
    let cached_run = |extra: &[&str]| {
        let mut args = os(&["--cache", cache.to_str().unwrap()]);
        args.extend(os(extra));
        args.extend(os(&[
            "hash", "path", "--mode", "git", "--algo", "sha1", "--format", "sri", "t1",
        ]));
        run_cli(&args, &fixture, None)
    };
    let run = cached_run(&[]);
    assert_error(&run, "a file that is not a cache");
    assert!(run.stderr.contains("--cache-overwrite"), "{}", run.stderr);
    assert_eq!(fs::read(&cache).unwrap(), b"not a cache at all");

    // Told to replace it: a warning, Nix's answer, and a cache in its place.
    let run = cached_run(&["--cache-overwrite"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim_end(), git_t1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("warning: cache file "),
        "{}",
        run.stderr
    );
    let written = fs::read(&cache).unwrap();
    assert!(written.starts_with(b"nix-ingest-cache"));

    // A damaged cache of ours (cut short): a warning, still Nix's answer, and rebuilt.
    fs::write(&cache, &written[..written.len() / 2]).unwrap();
    let run = cached_run(&[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim_end(), git_t1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("warning: cache file ") && run.stderr.contains("rebuilt"),
        "{}",
        run.stderr
    );
    let rebuilt = fs::read(&cache).unwrap();
    assert!(rebuilt.starts_with(b"nix-ingest-cache") && rebuilt.len() > written.len() / 2);

    // An empty file holds nothing to lose: used as the cache.
    let empty = dir.path().join("empty-cache");
    fs::write(&empty, b"").unwrap();
    let mut args = os(&["--cache", empty.to_str().unwrap()]);
    args.extend(os(&[
        "hash", "path", "--mode", "git", "--algo", "sha1", "--format", "sri", "t1",
    ]));
    let run = run_cli(&args, &fixture, None);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim_end(), git_t1);
    assert!(fs::read(&empty).unwrap().starts_with(b"nix-ingest-cache"));
}

/// `nar restore PATH [NAR]` unpacks what `nix-store --restore` unpacks: the sample NAR (made by
/// `nix-store --dump` of the sample tree) gives a tree with Nix's hashes whose NAR is the same
/// bytes; an existing target or a bad NAR is refused with one line, and nothing is left.
#[test]
fn nar_restore_gives_back_the_tree() {
    let golden = golden();
    let dir = tempfile::tempdir().unwrap();
    let nar = sample_nar();
    let nar_arg = nar.to_str().unwrap();
    let nar_bytes = fs::read(&nar).unwrap();
    for (args, stdin) in [
        (vec!["nar", "restore", "from-file", nar_arg], None),
        (vec!["nar", "restore", "from-stdin"], Some(nar.as_path())),
        (
            vec!["nar", "restore", "from-dash", "-"],
            Some(nar.as_path()),
        ),
    ] {
        let run = run_cli(&os(&args), dir.path(), stdin);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str()),
            ("", ""),
            "{args:?}"
        );
        let target = args[2];
        let dumped = support::run_raw(
            &os(&["nar", "dump", target]),
            dir.path(),
            support::Input::Null,
        );
        assert!(
            dumped.stdout == nar_bytes,
            "{args:?}: the NAR of the restored tree differs"
        );
        let run = run_cli(
            &os(&[
                "hash", "path", "--mode", "git", "--algo", "sha1", "--format", "base16", target,
            ]),
            dir.path(),
            None,
        );
        assert_eq!(
            assert_ok(&run, target),
            [nix_says(
                &golden,
                "nix hash path --mode git --algo sha1 --format base16 sample"
            )]
        );
    }
    // The target exists: refused, unchanged.
    let run = run_cli(
        &os(&["nar", "restore", "from-file", nar_arg]),
        dir.path(),
        None,
    );
    assert_error(&run, "existing target");
    // A truncated NAR: refused, nothing left.
    let bad = dir.path().join("bad.nar");
    fs::write(&bad, &nar_bytes[..nar_bytes.len() / 2]).unwrap();
    let run = run_cli(
        &os(&["nar", "restore", "half", bad.to_str().unwrap()]),
        dir.path(),
        None,
    );
    assert_error(&run, "truncated NAR");
    assert!(!dir.path().join("half").exists());
}

// ---------------------------------------------------------------------------------------------
// Standard input, pipes, devices and Nix's legacy flags: shell commands, run by Nix and by us
// ---------------------------------------------------------------------------------------------

/// Shell commands (bash, run in the fixture directory) whose output nix-ingest must match: `nix`
/// is real Nix in the oracle, and a shell function running `nix-ingest` with the same arguments
/// for us (`nix hash path` and `nix store add --dry-run` are our subcommands of the same names).
/// Nix 2.34.8's answers are in `cli/tests/data/nix-2.34-shell.txt`, 2.26.3's in `nix-2.26-shell.txt`.
const SHELL_CASES: &[&str] = &[
    // Flat hashing reads what the operating system opens: pipes, devices, standard input.
    "echo hi | nix hash path --mode flat /dev/stdin",
    "echo hi | nix hash path --mode flat --algo sha1 --format base16 /proc/self/fd/0",
    "nix hash path --mode flat --algo sha1 --format base16 /dev/stdin < file",
    "nix hash path --mode flat <(echo hi)",
    "nix hash path --mode flat --format base16 <(echo hi) <(printf 'two\\n')",
    "head -c 300000 /dev/zero | nix hash path --mode flat --format nix32 /dev/stdin",
    "{ echo hi; sleep 1; echo ho; } | nix hash path --mode flat --format base16 /dev/stdin",
    "nix hash path --mode flat /dev/null",
    "nix hash path --mode flat /dev/stdin < /dev/null",
    "nix store add --dry-run --mode flat /dev/null",
    "nix store add --dry-run --mode text /dev/null",
    // The other methods do not follow the last symlink, and cannot hold a device.
    "echo hi | nix hash path --mode git /dev/stdin",
    "echo hi | nix hash path --mode nar /dev/stdin",
    "nix hash path --mode nar /dev/null",
    "nix hash path --mode flat t1",
    "echo hi | nix store add --dry-run --mode flat /dev/stdin",
    // Nix's legacy format flags and `--type`: the last format given wins.
    "nix hash path --base16 file",
    "nix hash path --base32 file",
    "nix hash path --base64 file",
    "nix hash path --sri file",
    "nix hash path --sri --format base16 file",
    "nix hash path --format base16 --sri file",
    "nix hash path --base16 --base32 file",
    "nix hash path --type sha1 --base16 file",
    "nix hash path --mode flat --algo sha512 --base64 file",
];

/// The Nix answers to [`SHELL_CASES`].
fn shell_golden_file(version: &str) -> PathBuf {
    PathBuf::from(format!("cli/tests/data/nix-{version}-shell.txt"))
}

/// The golden answers to [`SHELL_CASES`] of a Nix version: command => (status, output).
fn shell_golden(version: &str) -> BTreeMap<String, (i32, String)> {
    let text = fs::read_to_string(repo().join(shell_golden_file(version)))
        .expect("the golden file exists (regenerate it: see regenerate_shell_golden)");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            let cmd = parts.next().unwrap().to_owned();
            let status = parts.next().unwrap().parse().unwrap();
            (cmd, (status, parts.next().unwrap_or("").to_owned()))
        })
        .collect()
}

/// Nix 2.26.3 and 2.34.8 answer every shell case alike (only the words of one refusal differ).
#[test]
fn shell_cases_agree_across_nix_versions() {
    let (old, new) = (shell_golden("2.26"), shell_golden("2.34"));
    assert_eq!(old.len(), SHELL_CASES.len());
    for case in SHELL_CASES {
        let ((old_status, old_out), (new_status, new_out)) = (&old[*case], &new[*case]);
        assert_eq!(old_status, new_status, "{case}");
        if *new_status == 0 {
            assert_eq!(old_out, new_out, "{case}");
        }
    }
}

#[test]
fn pipes_devices_and_legacy_flags_match_nix() {
    let golden = shell_golden("2.34");
    let (_dir, fixture) = support::fixture();
    let mut failures = Vec::new();
    for case in SHELL_CASES {
        let (status, expected) = golden
            .get(*case)
            .unwrap_or_else(|| panic!("no golden answer for `{case}`: regenerate"));
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("nix() {{ \"$NIX_INGEST\" \"$@\"; }}; {case}"))
            .env("NIX_INGEST", support::bin())
            .current_dir(&fixture)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let (ours, stdout, stderr) = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let ok = if *status == 0 {
            ours == 0 && stderr.is_empty() && stdout.trim_end().replace('\n', "\\n") == *expected
        } else {
            ours == 1
                && stdout.is_empty()
                && stderr.starts_with("error: ")
                && stderr.trim_end().lines().count() == 1
        };
        if !ok {
            failures.push(format!(
                "`{case}`\n  nix:  {status} {expected}\n  ours: {ours} {} {}",
                stdout.trim_end(),
                stderr.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "needs the Nix oracle; run with NIX_INGEST_ORACLE=1 and --ignored"]
fn regenerate_shell_golden() {
    if !support::oracle_or_skip("ask real Nix") {
        return;
    }
    // The oracle sees the host's /tmp as /host-tmp.
    let (_dir, _fixture, inside) = support::oracle_fixture("nix-ingest-shell.");
    let inside = inside.as_str();
    let full = String::from_utf8_lossy(&oracle(&["nix", "--version"]).stdout)
        .split_whitespace()
        .last()
        .expect("nix --version prints a version")
        .to_owned();
    let version = full.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let mut file = fs::File::create(repo().join(shell_golden_file(&version))).unwrap();
    writeln!(
        file,
        "# What real Nix ({full}, git-hashing enabled) prints for the shell commands of\n\
         # SHELL_CASES in cli/tests/nix.rs, run by bash in the fixture directory built by\n\
         # make_fixture(). Each line: <command> TAB <exit status> TAB <stdout, or the first line\n\
         # of stderr>.\n\
         # Made by: NIX_INGEST_ORACLE=1 NIX_ORACLE_VERSION={version} cargo test -p nix-ingest-cli --test nix -- --ignored regenerate_shell_golden\n\
         # (every command ran as `scripts/nix-oracle.sh run bash -c 'cd <fixture> && <command>'`)."
    )
    .unwrap();
    for case in SHELL_CASES {
        let out = oracle(&["bash", "-c", &format!("cd {inside} && {case}")]);
        let status = out.status.code().unwrap_or(-1);
        let text = if status == 0 {
            String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
        } else {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned()
        };
        let text = text.replace(inside, "<fixture>");
        assert!(!case.contains('\t') && !text.contains('\t'));
        writeln!(file, "{case}\t{status}\t{}", text.replace('\n', "\\n")).unwrap();
    }
}

/// Errors are one line in one quoting style (Nix's single quotes), name paths as the user wrote
/// them (not resolved), say what is wrong in the user's words (no "sink"), and carry every
/// cause once.
#[test]
fn messages_name_paths_as_given_with_their_causes() {
    let (dir, fixture) = support::fixture();
    fs::create_dir_all(fixture.join("d/sub")).unwrap();
    let fifo = Command::new("mkfifo")
        .arg(fixture.join("d/sub/ff"))
        .status()
        .unwrap();
    assert!(fifo.success());
    let nar = sample_nar();
    let nar_bytes = fs::read(&nar).unwrap();
    fs::write(fixture.join("cut.nar"), &nar_bytes[..300]).unwrap();
    let cut = "cut.nar";
    let truncated = "NAR truncated: input ended at byte 300 inside the archive";
    for (args, starts, contains) in [
        (
            &["hash", "path", "d"][..],
            "error: 'd/sub/ff': unsupported file type (FIFO)",
            "",
        ),
        (
            &["hash", "path", "--mode", "git", "./d/"],
            "error: './d/sub/ff': unsupported file type (FIFO)",
            "",
        ),
        (
            &["nar", "dump", "d"],
            "error: cannot dump 'd': 'd/sub/ff': unsupported file type (FIFO)",
            "",
        ),
        (
            &["hash", "path", "--mode", "flat", "t1"],
            "error: 't1' is a directory",
            "--mode nar",
        ),
        (
            &["store", "add", "--dry-run", "--mode", "flat", "t1"],
            "error: 't1' is a directory",
            "",
        ),
        (
            &[
                "hash",
                "path",
                "--mode",
                "flat",
                "--nar",
                nar.to_str().unwrap(),
            ],
            "error: NAR '",
            "the root is a directory",
        ),
        (
            &["hash", "path", "nowhere/x"],
            "error: cannot resolve the directory of 'nowhere/x': ",
            "No such file",
        ),
        (&["hash", "path", "--nar", cut], "error: NAR '", truncated),
        (
            &["nar", "restore", "out", cut],
            "error: NAR '",
            &format!("cannot unpack NAR: {truncated}"),
        ),
        (
            &["nar", "restore", "t1", nar.to_str().unwrap()],
            "error: NAR '",
            "cannot unpack NAR to 't1': it already exists",
        ),
        (
            &["--cache", "t1/c", "hash", "path", "--mode", "git", "t1"],
            "error: ",
            "cache file 't1/c' lies inside the tree 't1'",
        ),
        (
            &["hash", "multi", "--hash", "foo:sha1", "t1"],
            "error: invalid value 'foo:sha1'",
            "unknown method 'foo'",
        ),
    ] {
        let run = run_cli(&os(args), &fixture, None);
        assert!(run.status == 1 || run.status == 2, "{args:?}: {run:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with(starts), "{args:?}: {first}");
        assert!(first.contains(contains), "{args:?}: {first}");
        assert!(!first.contains('"'), "{args:?}: double quotes in {first}");
        assert!(!first.contains("sink"), "{args:?}: {first}");
        assert!(
            !first.contains(dir.path().to_str().unwrap()),
            "{args:?}: resolved: {first}"
        );
        if run.status == 1 {
            assert_error(&run, &format!("{args:?}"));
        }
        // Each cause once.
        let parts: Vec<&str> = first.split(": ").collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                !parts[i + 1..].contains(p) || p.len() < 8,
                "{args:?}: repeated {p}: {first}"
            );
        }
    }
}

/// A NAR of a directory holding `files` files of 1 KiB each.
fn many_files_nar(files: usize) -> Vec<u8> {
    use nix_ingest::event::{Event, Sink};
    let mut w = nix_ingest::nar::NarWriter::new(Vec::new());
    w.event(Event::DirectoryStart { name: None }).unwrap();
    for i in 0..files {
        let name = format!("f{i:05}");
        let data = vec![(i % 251) as u8; 1024];
        w.event(Event::FileStart {
            name: Some(name.as_bytes()),
            executable: false,
            size: data.len() as u64,
        })
        .unwrap();
        w.event(Event::FileData(&data)).unwrap();
        w.event(Event::FileEnd).unwrap();
    }
    w.event(Event::DirectoryEnd).unwrap();
    w.finish().unwrap()
}

/// Progress of reading a NAR file counts its entries and, the file's size being known, shows
/// how much of it is done (`$NIX_INGEST_PROGRESS_DELAY_MS=0`: drawn from the start).
#[test]
fn progress_counts_entries_and_shows_the_share_done() {
    let dir = tempfile::tempdir().unwrap();
    let files = 3000;
    let nar = dir.path().join("many.nar");
    let bytes = many_files_nar(files);
    fs::write(&nar, &bytes).unwrap();
    let bin = support::bin();
    for (label, args) in [
        (
            "restoring",
            format!("nar restore {0}/out {0}/many.nar", dir.path().display()),
        ),
        (
            "hashing",
            format!("hash path --nar {}/many.nar", dir.path().display()),
        ),
        (
            "verifying",
            format!(
                "verify fixed:r:sha256:0000000000000000000000000000000000000000000000000000 {}/many.nar",
                dir.path().display()
            ),
        ),
    ] {
        let out = Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("{} {args} >/dev/null", bin.display()))
            .arg("/dev/null")
            .env("NIX_INGEST_PROGRESS_DELAY_MS", "0")
            .stdin(std::process::Stdio::null())
            .output();
        let Some(out) = out.ok().filter(|o| o.status.code().is_some()) else {
            eprintln!("skipped: no `script` to run a pseudo-terminal");
            return;
        };
        let tty = String::from_utf8_lossy(&out.stdout);
        // Lines like `restoring: 768 entries, 896.00 KiB/3.46 MiB (25%), 4.26 MiB/s, 1s left`.
        let mut seen = 0;
        let mut last_entries = 0;
        for line in tty.split(['\r', '\n']) {
            let line = line.trim_start_matches("\x1b[2K").trim_end();
            let Some(rest) = line.strip_prefix(&format!("{label}: ")) else {
                continue;
            };
            let (entries, rest) = rest.split_once(" entries, ").expect(line);
            let entries: usize = entries.parse().expect(line);
            assert!(entries >= last_entries && entries <= files + 1, "{line}");
            last_entries = entries;
            let percent: u32 = rest
                .split_once(" (")
                .and_then(|(_, r)| r.split_once("%)"))
                .map(|(p, _)| p.parse().expect(line))
                .expect(line);
            assert!(percent <= 100, "{line}");
            assert!(rest.contains(&format!("/{}", human(bytes.len()))), "{line}");
            seen += 1;
        }
        assert!(
            seen > 0 && last_entries >= 256,
            "{label}: no progress line: {tty:?}"
        );
    }
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), files);
}

/// Bytes as the progress line prints them (binary units, two decimals).
fn human(n: usize) -> String {
    let mut value = n as f64;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB"] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.2} {unit}")
}
