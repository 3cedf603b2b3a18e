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
