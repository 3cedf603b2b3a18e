//! Running the real `git` binary, the oracle for git objects, with no user or system config.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `git -C repo ARGS` with `stdin` as its input; panics with git's message if it fails.
pub fn git(repo: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git must be installed to run these tests");
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("git runs");
    writer
        .join()
        .expect("writer thread")
        .expect("git reads its input");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`git`] without input, its output as text without the trailing newline.
#[allow(dead_code)] // not every test file needs text output
pub fn git_text(repo: &Path, args: &[&str]) -> String {
    String::from_utf8(git(repo, args, b""))
        .expect("git printed UTF-8")
        .trim_end()
        .to_owned()
}

/// `git fsck --strict` over every object in the repository: exits 0 and reports nothing.
#[allow(dead_code)] // not every test file writes objects
pub fn fsck(repo: &Path) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "fsck",
            "--strict",
            "--full",
            "--no-dangling",
            "--unreachable",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git fsck failed: {stderr}");
    for bad in ["error", "warning", "bad", "missing", "broken", "corrupt"] {
        assert!(!stderr.contains(bad), "git fsck says: {stderr}");
    }
}
