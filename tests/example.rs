//! The README's first command, `cargo run --release --example hash-path`: with no arguments the
//! example hashes the shipped sample store object every way Nix does. The answers are Nix's,
//! from `examples/sample/README.md` (made with Nix 2.26.3) and `cli/tests/data/nix-2.34.txt`.

use nix_ingest_test_support as support;

use std::process::Command;

use support::{golden, nix_says};

#[test]
fn the_sample_hashes_as_nix_says() {
    let out = Command::new(support::example())
        .current_dir(support::repo())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let golden = golden();
    for cmd in [
        "nix hash path --mode git --algo sha1 --format base16 sample",
        "nix hash path --mode git --algo sha256 --format base16 sample",
        "nix hash path --mode nar --algo sha256 --format sri sample",
        "nix store add --dry-run --mode nar --hash-algo sha256 sample",
        "nix store add --dry-run --mode git --hash-algo sha1 sample",
    ] {
        let expected = nix_says(&golden, cmd);
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().last() == Some(expected.as_str())),
            "the example lacks `{cmd}` = {expected}:\n{stdout}"
        );
    }
}

/// A bad input: one line on standard error, the error and each of its causes in words (not the
/// `Debug` form `main` returning an error would print), and a failure status.
#[test]
fn errors_print_their_chain() {
    let dir = tempfile::tempdir().unwrap();
    let nar = std::fs::read(support::sample_nar()).unwrap();
    let cut = dir.path().join("cut.nar");
    std::fs::write(&cut, &nar[..nar.len() / 2]).unwrap();
    let out = Command::new(support::example())
        .arg(&cut)
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    // The cause, the NAR parser's own words with the byte offset where the input ended.
    let expected = format!(
        ": NAR truncated: input ended at byte {} inside the archive\n",
        nar.len() / 2
    );
    assert!(stderr.ends_with(&expected), "{stderr}");
    assert!(
        !stderr.contains(" {") && !stderr.contains('}'),
        "Debug form: {stderr}"
    );
}
