//! `nix-ingest` on hostile NARs on standard input (`--nar -`): lengths of u64::MAX, 100,000
//! nested directories, a declared 1 GiB file cut short, garbage. Each must fail the way the tool
//! promises — exit status 1, one line on standard error, nothing on standard output, no panic —
//! and promptly.

use nix_ingest_test_support as support;

use std::io::{ErrorKind, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous for a debug build on a loaded machine; a release build takes milliseconds.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// Runs `nix-ingest` with `args`, feeding `stdin` from another thread (it may stop reading
/// early, so a broken pipe there is expected).
fn run(args: &[&str], stdin: Vec<u8>) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(support::bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nix-ingest starts");
    let mut input = child.stdin.take().expect("a stdin pipe");
    let writer = std::thread::spawn(move || match input.write_all(&stdin) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
        other => other.expect("writing the NAR"),
    });
    let out = child.wait_with_output().expect("nix-ingest ends");
    writer.join().expect("the writer thread");
    (out, start.elapsed())
}

/// The subcommands every hostile input is tried with: several methods at once, each single
/// method, a store path and a verification.
const MODES: [&[&str]; 6] = [
    &["hash", "multi", "--nar", "-"],
    &["hash", "path", "--mode", "nar", "--nar", "-"],
    &[
        "hash", "path", "--mode", "git", "--algo", "sha1", "--nar", "-",
    ],
    &["hash", "path", "--mode", "flat", "--nar", "-"],
    &["store", "add", "--dry-run", "--name", "x", "--nar", "-"],
    &[
        "verify",
        "--name",
        "x",
        "fixed:r:sha256:5683d0f38842af687746321a5ce061ac63b97763716ce8c20b640194d060ae3e",
        "-",
    ],
];

/// The flat method's own refusal of a root that is not a regular file, which comes first when
/// the archive's root is a directory or a symlink.
const NOT_A_FILE: &str = "flat hashing takes a single regular file";

/// Asserts `nix-ingest` refuses `nar` in every mode: status 1, one `error:` line naming the
/// NAR's problem (`what`; `flat_what` for `--mode flat`), nothing on standard output, no panic,
/// within the time limit.
fn refused(label: &str, nar: &[u8], what: &str, flat_what: &str) {
    for mode in MODES {
        let what = if mode.contains(&"flat") {
            flat_what
        } else {
            what
        };
        let (out, took) = run(mode, nar.to_vec());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ctx = format!(
            "{label}, {mode:?}: status {:?}, stderr {stderr:?}",
            out.status
        );
        assert_eq!(out.status.code(), Some(1), "{ctx}");
        assert!(out.stdout.is_empty(), "{ctx}: stdout {:?}", out.stdout);
        assert_eq!(stderr.lines().count(), 1, "{ctx}");
        assert!(stderr.starts_with("error: "), "{ctx}");
        assert!(!stderr.contains("panicked"), "{ctx}");
        assert!(stderr.contains(what), "{ctx}: expected {what:?}");
        assert!(took < TIME_LIMIT, "{ctx}: took {took:?}");
    }
}

/// A NAR string: 64-bit little-endian length, bytes, zero padding to 8.
fn s(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len().next_multiple_of(8), 0);
}

fn nar(strings: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    s(&mut out, b"nix-archive-1");
    for x in strings {
        s(&mut out, x);
    }
    out
}

#[test]
fn magic_of_length_u64_max() {
    let mut n = u64::MAX.to_le_bytes().to_vec();
    n.extend_from_slice(&[b'x'; 64]);
    refused(
        "magic u64::MAX",
        &n,
        "not a Nix archive",
        "not a Nix archive",
    );
}

#[test]
fn lengths_of_u64_max() {
    let mut n = nar(&[b"(", b"type", b"directory", b"entry", b"(", b"name"]);
    n.extend_from_slice(&u64::MAX.to_le_bytes());
    n.extend_from_slice(&[b'a'; 4096]);
    refused("name u64::MAX", &n, "over the limit", NOT_A_FILE);

    let mut n = nar(&[b"(", b"type", b"symlink", b"target"]);
    n.extend_from_slice(&u64::MAX.to_le_bytes());
    refused("target u64::MAX", &n, "over the limit", "over the limit");

    let mut n = nar(&[b"("]);
    n.extend_from_slice(&u64::MAX.to_le_bytes());
    refused(
        "keyword u64::MAX",
        &n,
        "bad NAR at byte 40",
        "bad NAR at byte 40",
    );

    // A file announcing u64::MAX bytes, with a few: truncated (nothing is allocated for it).
    let mut n = nar(&[b"(", b"type", b"regular", b"contents"]);
    n.extend_from_slice(&u64::MAX.to_le_bytes());
    n.extend_from_slice(&[0; 1 << 16]);
    let end = n.len();
    let truncated = format!("input ended at byte {end}");
    refused("contents u64::MAX", &n, &truncated, &truncated);
}

#[test]
fn one_hundred_thousand_nested_directories() {
    let mut n = nar(&[b"(", b"type", b"directory"]);
    for _ in 1..100_000 {
        for x in [
            &b"entry"[..],
            b"(",
            b"name",
            b"a",
            b"node",
            b"(",
            b"type",
            b"directory",
        ] {
            s(&mut n, x);
        }
    }
    refused(
        "100,000 levels",
        &n,
        // Nix's NAR nesting rule (Nix 2.34.7 and later) comes first.
        "NAR nesting exceeds the maximum depth of 64",
        NOT_A_FILE,
    );
}

#[test]
fn a_declared_one_gib_file_cut_short() {
    let mut n = nar(&[
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"big",
        b"node",
    ]);
    for x in [&b"("[..], b"type", b"regular", b"contents"] {
        s(&mut n, x);
    }
    n.extend_from_slice(&(1u64 << 30).to_le_bytes());
    n.extend_from_slice(&vec![0x5a; 1 << 20]);
    let end = n.len();
    let truncated = format!("input ended at byte {end}");
    refused(
        "1 GiB file in a directory, 1 MiB sent",
        &n,
        &truncated,
        NOT_A_FILE,
    );
    // The same file as the root, which flat hashing takes too.
    let mut n = nar(&[b"(", b"type", b"regular", b"contents"]);
    n.extend_from_slice(&(1u64 << 30).to_le_bytes());
    n.extend_from_slice(&vec![0x5a; 1 << 20]);
    let end = n.len();
    let truncated = format!("input ended at byte {end}");
    refused("1 GiB root file, 1 MiB sent", &n, &truncated, &truncated);
}

#[test]
fn garbage() {
    // A fixed pseudo-random generator (xorshift), so the test is deterministic.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    refused(
        "1 MiB of garbage",
        &bytes,
        "not a Nix archive",
        "not a Nix archive",
    );
    let truncated = "input ended at byte 0";
    refused("empty input", &[], truncated, truncated);
    // A valid archive followed by junk.
    let mut n = nar(&[b"(", b"type", b"symlink", b"target", b"foo", b")"]);
    let end = n.len();
    n.extend_from_slice(b"junk");
    let trailing = format!("after the end of the NAR at byte {end}");
    refused("trailing junk after a symlink", &n, &trailing, NOT_A_FILE);
    let mut n = nar(&[b"(", b"type", b"regular", b"contents", b"foo", b")"]);
    let end = n.len();
    n.extend_from_slice(b"junk");
    let trailing = format!("after the end of the NAR at byte {end}");
    refused("trailing junk after a file", &n, &trailing, &trailing);
}

/// The same program takes an honest archive: without this, the tests above could pass on a
/// binary that refuses everything.
#[test]
fn a_golden_nar_hashes_as_nix_says() {
    let dir = support::repo().join("tests/data/nar");
    let golden = std::fs::read_to_string(dir.join("sha256.txt")).unwrap();
    for line in golden.lines() {
        let (file, hex) = line.split_once(' ').unwrap();
        let data = std::fs::read(dir.join(file)).unwrap();
        let (out, took) = run(
            &[
                "hash", "path", "--mode", "nar", "--format", "base16", "--nar", "-",
            ],
            data,
        );
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hex, "{file}");
        assert!(took < TIME_LIMIT, "{file}: took {took:?}");
    }
}
