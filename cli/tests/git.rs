//! `nix-ingest`'s git and verification subcommands, against real git, the CID spec and Nix's
//! answers:
//!
//! - `cid`: the CIDv1 (codec git-raw) built by hand here from the multiformats spec;
//! - `git export REPO PATH`: real `git fsck`, `git ls-tree` and `git cat-file` read what it wrote;
//! - `git to-nar REPO ID`: gives back `examples/sample/sample.nar` (made by `nix-store --dump`)
//!   byte for byte, and the NARs Nix hashed in `cli/tests/data/nix-2.34.txt` for trees real git
//!   wrote;
//! - `verify CA NAR`: accepts the sample with the content addresses Nix gives it, refuses it with
//!   one byte changed.

use nix_ingest_test_support as support;

use std::fs;
use std::path::Path;

use data_encoding::{BASE32_NOPAD, BASE64, HEXLOWER};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use support::{
    Input, assert_error, assert_ok, assert_usage_error, golden, nix_says, os, repo, run_cli,
    run_raw, sample_nar,
};

#[path = "../../tests/support/git.rs"]
mod git_support;
use git_support::{fsck, git, git_text};

/// Nix's git ids of the sample (`nix hash path --mode git --algo sha1|sha256 --format base16`).
fn sample_ids() -> [(&'static str, String); 2] {
    let golden = golden();
    [
        (
            "sha1",
            nix_says(
                &golden,
                "nix hash path --mode git --algo sha1 --format base16 sample",
            ),
        ),
        (
            "sha256",
            nix_says(
                &golden,
                "nix hash path --mode git --algo sha256 --format base16 sample",
            ),
        ),
    ]
}

/// A new empty repository `<parent>/<name>-<format>` of object format `format` (sha1 or sha256).
fn init_repo(parent: &Path, name: &str, format: &str) -> std::path::PathBuf {
    let repo = parent.join(format!("{name}-{format}"));
    fs::create_dir(&repo).unwrap();
    git(
        &repo,
        &["init", "-q", &format!("--object-format={format}")],
        b"",
    );
    repo
}

/// How many objects git finds in the repository.
fn object_count(repo: &Path) -> usize {
    git_text(repo, &["cat-file", "--batch-all-objects", "--batch-check"])
        .lines()
        .count()
}

// ---------------------------------------------------------------------------------------------
// --cid
// ---------------------------------------------------------------------------------------------

/// The CIDv1 of a git object, built from the multiformats specs: the varints `0x01` (CID
/// version 1), `0x78` (multicodec git-raw), the multihash code (`0x11` sha1, `0x12` sha2-256)
/// and the digest length, then the digest; multibase `b` (RFC 4648 base32, lower case, no
/// padding).
fn cid_by_hand(algo: &str, hex: &str) -> String {
    let digest = HEXLOWER.decode(hex.as_bytes()).unwrap();
    let code = match algo {
        "sha1" => 0x11,
        "sha256" => 0x12,
        _ => unreachable!(),
    };
    let mut bytes = vec![0x01, 0x78, code, u8::try_from(digest.len()).unwrap()];
    bytes.extend_from_slice(&digest);
    format!("b{}", BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

#[test]
fn cid_matches_the_spec() {
    // The published example: git object 95296e41… is baf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q.
    assert_eq!(
        cid_by_hand("sha1", "95296e419bcf7a7e84efe1396925ac55ee22b1f2"),
        "baf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q"
    );
    let (_dir, fixture) = support::fixture();
    let [(_, sha1), (_, sha256)] = sample_ids();
    let (cid1, cid256) = (cid_by_hand("sha1", &sha1), cid_by_hand("sha256", &sha256));
    let nar = sample_nar();
    let nar_arg = nar.to_str().unwrap();
    for (algo, cid) in [("sha1", &cid1), ("sha256", &cid256)] {
        // The sample tree on disk, its NAR, and the NAR on standard input.
        for (args, stdin) in [
            (vec!["cid", "--algo", algo, "sample"], None),
            (vec!["cid", "--algo", algo, "--nar", nar_arg], None),
            (
                vec!["cid", "--nar", "--algo", algo, "-"],
                Some(nar.as_path()),
            ),
        ] {
            let run = run_cli(&os(&args), &fixture, stdin);
            assert_eq!(assert_ok(&run, &format!("{args:?}")), [cid.as_str()]);
        }
    }
    // SHA-1 by default.
    let run = run_cli(&os(&["cid", "sample"]), &fixture, None);
    assert_eq!(assert_ok(&run, "default"), [cid1]);
}

// ---------------------------------------------------------------------------------------------
// git export
// ---------------------------------------------------------------------------------------------

#[test]
fn export_git_is_read_by_real_git() {
    let (dir, fixture) = support::fixture();
    let golden = golden();
    let readme: &[u8] =
        b"A sample store object for nix-ingest: a file, an executable, a symlink and an empty directory.\n";
    let hello: &[u8] = b"#!/bin/sh\necho \"Hello, world!\"\n";
    let nar = sample_nar();
    for (format, id) in sample_ids() {
        let repo = init_repo(dir.path(), "repo", format);
        let repo_arg = repo.to_str().unwrap();
        // The sample (a NAR) first: every object is new.
        let run = run_cli(
            &os(&["git", "export", repo_arg, "--nar", nar.to_str().unwrap()]),
            &fixture,
            None,
        );
        let lines = assert_ok(&run, format);
        assert_eq!(lines[0], id, "{format}: Nix's git id");
        let objects = object_count(&repo);
        assert_eq!(
            lines[1],
            format!("objects: {objects} written, 0 already present")
        );
        // root, bin/, empty/ and three blobs (README, bin/hello and the symlink's target).
        assert_eq!(objects, 6, "{format}");
        fsck(&repo);

        // Git reads the tree: names, modes and contents.
        let listing = git_text(&repo, &["ls-tree", "-r", &id]);
        let entries: Vec<(String, String, String)> = listing
            .lines()
            .map(|l| {
                let (meta, name) = l.split_once('\t').unwrap();
                let mut meta = meta.split(' ');
                let mode = meta.next().unwrap().to_owned();
                let _kind = meta.next();
                (mode, meta.next().unwrap().to_owned(), name.to_owned())
            })
            .collect();
        let modes: Vec<(&str, &str)> = entries
            .iter()
            .map(|(mode, _, name)| (mode.as_str(), name.as_str()))
            .collect();
        assert_eq!(
            modes,
            [
                ("100644", "README"),
                ("100755", "bin/hello"),
                ("120000", "hello")
            ],
            "{listing}"
        );
        assert_eq!(git(&repo, &["cat-file", "-p", &entries[0].1], b""), readme);
        assert_eq!(
            git(&repo, &["cat-file", "-p", &format!("{id}:bin/hello")], b""),
            hello
        );
        assert_eq!(
            git_text(&repo, &["cat-file", "-p", &entries[2].1]),
            "bin/hello"
        );
        // The empty directory is git's empty tree.
        let empty_tree = git_text(&repo, &["hash-object", "-t", "tree", "/dev/null"]);
        assert!(
            git_text(&repo, &["ls-tree", &id])
                .contains(&format!("040000 tree {empty_tree}\tempty")),
            "{format}"
        );

        // Again, from the NAR file, from standard input and from the directory itself: the same
        // id, nothing new to write.
        for (args, stdin) in [
            (
                vec!["git", "export", repo_arg, "--nar", nar.to_str().unwrap()],
                None,
            ),
            (
                vec!["git", "export", "--nar", repo_arg, "-"],
                Some(nar.as_path()),
            ),
            (vec!["git", "export", repo_arg, "sample"], None),
            (vec!["git", "export", repo_arg, "sample/"], None),
        ] {
            let run = run_cli(&os(&args), &fixture, stdin);
            assert_eq!(
                assert_ok(&run, &format!("{args:?}")),
                [
                    id.clone(),
                    "objects: 0 written, 6 already present".to_owned()
                ]
            );
        }

        // Nix's tree t1 adds two objects (the root and the blob of `foo`; `bar` -> "foo" is the
        // same blob, and `bla/` is the empty tree, present already).
        let t1 = nix_says(
            &golden,
            &format!("nix hash path --mode git --algo {format} --format base16 t1"),
        );
        let run = run_cli(&os(&["git", "export", repo_arg, "t1"]), &fixture, None);
        let lines = assert_ok(&run, "t1");
        assert_eq!(
            lines,
            [t1.clone(), "objects: 3 written, 1 already present".into()]
        );
        assert_eq!(object_count(&repo), 9);
        fsck(&repo);
        assert_eq!(
            git_text(&repo, &["cat-file", "-p", &format!("{t1}:foo")]),
            "Hello World!"
        );

        // The same tree written by git itself has the same id.
        let work = dir.path().join(format!("work-{format}"));
        fs::create_dir(&work).unwrap();
        fs::copy(fixture.join("file"), work.join("file")).unwrap();
        fs::copy(fixture.join("exe"), work.join("exe")).unwrap();
        std::os::unix::fs::symlink("file", work.join("link")).unwrap();
        let git_dir = repo.join(".git");
        let git_dir = git_dir.to_str().unwrap();
        let work_arg = work.to_str().unwrap();
        git(
            &repo,
            &["--git-dir", git_dir, "--work-tree", work_arg, "add", "-A"],
            b"",
        );
        let written = git_text(
            &repo,
            &["--git-dir", git_dir, "--work-tree", work_arg, "write-tree"],
        );
        let run = run_cli(&os(&["git", "export", repo_arg, work_arg]), &fixture, None);
        assert_eq!(
            assert_ok(&run, "git's own tree"),
            [written, "objects: 0 written, 4 already present".to_owned()]
        );
    }

    // Not a repository.
    let run = run_cli(&os(&["git", "export", "t1", "t1"]), &fixture, None);
    assert_error(&run, "not a repository");
}

// ---------------------------------------------------------------------------------------------
// git to-nar
// ---------------------------------------------------------------------------------------------

fn sha1_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha1::digest(bytes))
}

#[test]
fn git_to_nar_gives_back_what_nix_dumped() {
    let (dir, fixture) = support::fixture();
    let golden = golden();
    let nar = fs::read(sample_nar()).unwrap();
    for (format, id) in sample_ids() {
        let repo = init_repo(dir.path(), "repo", format);
        let repo_arg = repo.to_str().unwrap();
        let run = run_cli(&os(&["git", "export", repo_arg, "sample"]), &fixture, None);
        assert_ok(&run, "export");

        // The tree id alone gives back the NAR `nix-store --dump` made, byte for byte.
        let run = run_raw(
            &os(&["git", "to-nar", repo_arg, &id]),
            &fixture,
            Input::Null,
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.stderr, "");
        assert!(
            run.stdout == nar,
            "{format}: the NAR differs from sample.nar"
        );
        let run = run_raw(
            &os(&[
                "git",
                "to-nar",
                repo_arg,
                &id.to_uppercase(),
                "--root-type",
                "directory",
            ]),
            &fixture,
            Input::Null,
        );
        assert!(run.status == 0 && run.stdout == nar, "{}", run.stderr);
        // An abbreviated id, as `git prefetch` (and git) take one.
        let run = run_raw(
            &os(&["git", "to-nar", repo_arg, &id[..8]]),
            &fixture,
            Input::Null,
        );
        assert!(run.status == 0 && run.stdout == nar, "{}", run.stderr);
    }

    // Objects real git wrote: blobs as a file, an executable and a symlink, and Nix's tree t1
    // (with its empty directory, which `git mktree` can write), against the NAR hashes Nix
    // printed for the same objects in the fixture.
    let repo = init_repo(dir.path(), "by-git", "sha1");
    let repo_arg = repo.to_str().unwrap();
    let blob = |data: &[u8]| {
        String::from_utf8(git(&repo, &["hash-object", "-w", "--stdin"], data))
            .unwrap()
            .trim()
            .to_owned()
    };
    let hello = blob(b"Hello World!\n");
    let exe = blob(b"#!/bin/sh\nexit 0\n");
    let target = blob(b"file");
    let foo_target = blob(b"foo");
    let empty = String::from_utf8(git(&repo, &["mktree"], b""))
        .unwrap()
        .trim()
        .to_owned();
    let t1 = String::from_utf8(git(
        &repo,
        &["mktree"],
        format!(
            "120000 blob {foo_target}\tbar\n040000 tree {empty}\tbla\n100644 blob {hello}\tfoo\n"
        )
        .as_bytes(),
    ))
    .unwrap()
    .trim()
    .to_owned();
    assert_eq!(
        t1,
        nix_says(
            &golden,
            "nix hash path --mode git --algo sha1 --format base16 t1"
        ),
        "git's tree is Nix's"
    );
    for (id, root_type, nix_cmd) in [
        (
            &hello,
            None,
            "nix hash path --mode nar --algo sha1 --format base16 file",
        ),
        (
            &hello,
            Some("file"),
            "nix hash path --mode nar --algo sha1 --format base16 file",
        ),
        (
            &exe,
            Some("executable"),
            "nix hash path --mode nar --algo sha1 --format base16 exe",
        ),
        (
            &target,
            Some("symlink"),
            "nix hash path --mode nar --algo sha1 --format base16 link",
        ),
        (
            &t1,
            None,
            "nix hash path --mode nar --algo sha1 --format base16 t1",
        ),
    ] {
        let mut args = os(&["git", "to-nar", repo_arg, id]);
        if let Some(t) = root_type {
            args.extend(os(&["--root-type", t]));
        }
        let run = run_raw(&args, &fixture, Input::Null);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr, "");
        assert_eq!(
            sha1_hex(&run.stdout),
            nix_says(&golden, nix_cmd),
            "{args:?}"
        );
    }
    // SHA-256 of the restored t1, against Nix's.
    let run = run_raw(
        &os(&["git", "to-nar", repo_arg, &t1]),
        &fixture,
        Input::Null,
    );
    assert_eq!(
        HEXLOWER.encode(&Sha256::digest(&run.stdout)),
        nix_says(
            &golden,
            "nix hash path --mode nar --algo sha256 --format base16 t1"
        )
    );

    // A tree whose second entry is missing (`git mktree --missing`), after a blob larger than
    // the output buffer: the run fails with one line saying how much of the NAR already went
    // out, which is exactly what standard output received.
    let big = blob(&vec![b'x'; 600 * 1024]);
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let broken = String::from_utf8(git(
        &repo,
        &["mktree", "--missing"],
        format!("100644 blob {big}\ta\n100644 blob {absent}\tb\n").as_bytes(),
    ))
    .unwrap()
    .trim()
    .to_owned();
    let run = run_raw(
        &os(&["git", "to-nar", repo_arg, &broken]),
        &fixture,
        Input::Null,
    );
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(absent), "{}", run.stderr);
    assert!(
        run.stdout.len() > 128 * 1024
            && run.stderr.contains(&format!(
                "the first {} bytes of the NAR were written already",
                run.stdout.len()
            )),
        "{} bytes out: {}",
        run.stdout.len(),
        run.stderr
    );

    // Failures: one line, and no NAR on standard output.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    for (what, args) in [
        ("missing object", vec!["git", "to-nar", repo_arg, missing]),
        ("short id", vec!["git", "to-nar", repo_arg, "abc"]),
        (
            "abbreviation of no object",
            vec!["git", "to-nar", repo_arg, &missing[..10]],
        ),
        (
            "sha256-long id",
            vec![
                "git",
                "to-nar",
                repo_arg,
                &format!("{missing}{missing}")[..64],
            ],
        ),
        ("not hex", vec!["git", "to-nar", repo_arg, &"g".repeat(40)]),
        (
            "blob as a tree",
            vec![
                "git",
                "to-nar",
                repo_arg,
                &hello,
                "--root-type",
                "directory",
            ],
        ),
        (
            "tree as a blob",
            vec!["git", "to-nar", repo_arg, &t1, "--root-type", "file"],
        ),
        ("not a repository", vec!["git", "to-nar", "fx", &t1]),
    ] {
        let run = run_cli(&os(&args), dir.path(), None);
        assert_error(&run, what);
    }
    let run = run_cli(&os(&["git", "to-nar", repo_arg]), dir.path(), None);
    assert_usage_error(&run, "no id");
}

// ---------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------

#[test]
fn verify_accepts_the_sample_and_rejects_a_changed_byte() {
    let golden = golden();
    let cwd = repo();
    let nar = sample_nar();
    let nar_arg = nar.to_str().unwrap();
    // Nix's answers for the sample (examples/sample/README.md and cli/tests/data/nix-2.34.txt).
    let nar_sha256 = "5683d0f38842af687746321a5ce061ac63b97763716ce8c20b640194d060ae3e";
    let nar_ca = format!("fixed:r:sha256:{nar_sha256}");
    let nar_path = nix_says(
        &golden,
        "nix store add --dry-run --mode nar --hash-algo sha256 sample",
    );
    let [(_, git_sha1), _] = sample_ids();
    let git_ca = format!("fixed:git:sha1:{git_sha1}");
    let git_path = nix_says(
        &golden,
        "nix store add --dry-run --mode git --hash-algo sha1 sample",
    );

    for (ca, path) in [(&nar_ca, &nar_path), (&git_ca, &git_path)] {
        for (args, stdin) in [
            (vec!["verify", ca, nar_arg], None),
            (vec!["verify", "--name", "sample", ca, nar_arg], None),
            (
                vec!["verify", ca, "-", "--name", "sample"],
                Some(nar.as_path()),
            ),
            (
                vec!["verify", "--name", "sample", ca, "-"],
                Some(nar.as_path()),
            ),
        ] {
            let run = run_cli(&os(&args), cwd, stdin);
            assert_eq!(assert_ok(&run, &format!("{args:?}")), [path.as_str()]);
        }
    }
    // The content address in nix32, as Nix prints it, works too.
    let run = run_cli(
        &os(&[
            "verify",
            "fixed:r:sha256:0gmfc38980b41g1fhv3icdvvjqxcc7h5q6ij8rvnibs2i3rx10sn",
            nar_arg,
        ]),
        cwd,
        None,
    );
    assert_eq!(assert_ok(&run, "nix32"), [nar_path.as_str()]);

    // One byte of a file's contents changed: refused, naming both hashes.
    let good = fs::read(&nar).unwrap();
    let at = good
        .windows(5)
        .position(|w| w == b"Hello")
        .expect("the sample holds Hello");
    let mut bad = good.clone();
    bad[at] = b'J';
    let expected_sri = format!(
        "sha256-{}",
        BASE64.encode(&HEXLOWER.decode(nar_sha256.as_bytes()).unwrap())
    );
    let actual_sri = format!("sha256-{}", BASE64.encode(&Sha256::digest(&bad)));
    let args = os(&["verify", &nar_ca, "-", "--name", "sample"]);
    let run = run_raw(&args, cwd, Input::Bytes(&bad));
    let run = support::Run {
        status: run.status,
        stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr: run.stderr,
    };
    assert_error(&run, "changed byte");
    assert!(
        run.stderr.contains(&format!("expected {expected_sri}"))
            && run.stderr.contains(&format!("got {actual_sri}")),
        "{}",
        run.stderr
    );
    let git_args = os(&["verify", &git_ca, "-", "--name", "sample"]);
    let run = run_raw(&git_args, cwd, Input::Bytes(&bad));
    assert_eq!(run.status, 1, "{}", run.stderr);
    let expected_git = format!(
        "sha1-{}",
        BASE64.encode(&HEXLOWER.decode(git_sha1.as_bytes()).unwrap())
    );
    assert!(
        run.stderr.contains(&format!("expected {expected_git}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    // Other refusals, each one line: a truncated NAR, a wrong name, a method that cannot hold
    // the object.
    for (what, args, stdin) in [
        ("truncated", args.clone(), &good[..good.len() / 2]),
        (
            "bad name",
            os(&["verify", &nar_ca, "-", "--name", "a b"]),
            &good[..],
        ),
        (
            "flat of a directory",
            os(&[
                "verify",
                &format!("fixed:sha256:{nar_sha256}"),
                "-",
                "--name",
                "sample",
            ]),
            &good[..],
        ),
    ] {
        let run = run_raw(&args, cwd, Input::Bytes(stdin));
        let run = support::Run {
            status: run.status,
            stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
            stderr: run.stderr,
        };
        assert_error(&run, what);
    }
}

/// `git export` warns about entries `git fsck --strict` rejects, naming each path, and
/// `--refuse-fsck-names` refuses them; real `git fsck --strict` agrees that the exported tree
/// is rejected.
#[test]
fn git_export_warns_about_names_fsck_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path(), "names", "sha1");
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("sub/.GIT"), "x").unwrap();
    fs::write(tree.join("ok"), "y").unwrap();
    std::os::unix::fs::symlink("ok", tree.join(".gitmodules")).unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec!["git", "export"];
        a.extend_from_slice(extra);
        a.extend([repo.to_str().unwrap(), tree.to_str().unwrap()]);
        os(&a)
    };
    let run = run_cli(&args(&[]), dir.path(), None);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.contains("'sub/.GIT'"), "{}", run.stderr);
    assert!(run.stderr.contains("'.gitmodules'"), "{}", run.stderr);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["fsck", "--strict"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("hasDotgit") && said.contains("gitmodulesSymlink"),
        "{said}"
    );

    let strict = init_repo(dir.path(), "strict", "sha1");
    let mut a = os(&["git", "export", "--refuse-fsck-names"]);
    a.extend([
        strict.clone().into_os_string(),
        tree.clone().into_os_string(),
    ]);
    let run = run_cli(&a, dir.path(), None);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("git fsck --strict rejects"),
        "{}",
        run.stderr
    );
}

/// `git prefetch` prints Nix's JSON for a revision; its rev, lastModified and revCount are
/// git's (`git rev-parse`, `git log --format=%ct`, `git rev-list --count`), its hash the NAR hash
/// of the checked-out tree (`nix-ingest hash path`, itself held to Nix elsewhere).
#[test]
fn git_prefetch_prints_what_git_says() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path(), "pf", "sha1");
    fs::write(repo.join("f"), "one\n").unwrap();
    git(&repo, &["add", "f"], b"");
    let commit = |msg: &str| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["commit", "-q", "-m", msg])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "a")
            .env("GIT_AUTHOR_EMAIL", "a@b")
            .env("GIT_COMMITTER_NAME", "c")
            .env("GIT_COMMITTER_EMAIL", "c@d")
            .env("GIT_COMMITTER_DATE", "1234567890 +0200")
            .status()
            .unwrap()
    };
    assert!(commit("one").success());
    fs::write(repo.join("g"), "two\n").unwrap();
    git(&repo, &["add", "g"], b"");
    assert!(commit("two").success());
    let head = git_text(&repo, &["rev-parse", "HEAD"]);
    let run = run_cli(
        &os(&[
            "git",
            "prefetch",
            "--url",
            "file:///r",
            repo.to_str().unwrap(),
            &head,
        ]),
        dir.path(),
        None,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    // The tree of HEAD, as files on disk (the work tree also holds .git).
    let copy = dir.path().join("copy");
    fs::create_dir(&copy).unwrap();
    fs::write(copy.join("f"), "one\n").unwrap();
    fs::write(copy.join("g"), "two\n").unwrap();
    let hash = run_cli(
        &os(&["hash", "path", "--mode", "nar", copy.to_str().unwrap()]),
        dir.path(),
        None,
    );
    let expected = format!(
        "{{\"hash\":\"{}\",\"locked\":{{\"lastModified\":1234567890,\"ref\":\"refs/heads/{}\",\"rev\":\"{head}\",\"revCount\":2,\"type\":\"git\",\"url\":\"file:///r\"}},\"original\":{{\"rev\":\"{head}\",\"type\":\"git\",\"url\":\"file:///r\"}},\"storePath\":",
        hash.stdout.trim(),
        git_text(&repo, &["branch", "--show-current"]),
    );
    assert!(
        run.stdout.starts_with(&expected),
        "{}\n{expected}",
        run.stdout
    );
    assert!(
        run.stdout.trim_end().ends_with("-source\"}"),
        "{}",
        run.stdout
    );
}

/// `git prefetch REPO` without a revision answers as `nix flake prefetch git+file://REPO` (the
/// shapes below are what Nix 2.34.8 prints; tests/git_fetcher.rs holds the library to Nix itself
/// on many work trees): a clean work tree is `HEAD` on `refs/heads/<branch>` with an `original`
/// of type and url only; a dirty one warns as Nix does and answers for the tracked files as they
/// are on disk, locked by `dirtyRev`.
#[test]
fn git_prefetch_without_revision_follows_the_work_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path(), "wt", "sha1");
    fs::write(repo.join("f"), "one\n").unwrap();
    git(&repo, &["add", "f"], b"");
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["commit", "-q", "-m", "one"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "a")
        .env("GIT_AUTHOR_EMAIL", "a@b")
        .env("GIT_COMMITTER_NAME", "c")
        .env("GIT_COMMITTER_EMAIL", "c@d")
        .env("GIT_COMMITTER_DATE", "1234567890 +0200")
        .status()
        .unwrap();
    assert!(commit.success());
    let head = git_text(&repo, &["rev-parse", "HEAD"]);
    let branch = git_text(&repo, &["branch", "--show-current"]);
    let prefetch = || {
        run_cli(
            &os(&[
                "git",
                "prefetch",
                "--url",
                "file:///r",
                repo.to_str().unwrap(),
            ]),
            dir.path(),
            None,
        )
    };
    // The NAR hash of a copy of the files Nix takes, by `hash path` (held to Nix elsewhere).
    let nar_hash = |files: &[(&str, &str)]| {
        let copy = tempfile::tempdir_in(dir.path()).unwrap();
        for (name, text) in files {
            fs::write(copy.path().join(name), text).unwrap();
        }
        let run = run_cli(
            &os(&[
                "hash",
                "path",
                "--mode",
                "nar",
                copy.path().to_str().unwrap(),
            ]),
            dir.path(),
            None,
        );
        run.stdout.trim().to_owned()
    };

    // Clean (an untracked file does not count, and is not taken).
    fs::write(repo.join("untracked"), "u\n").unwrap();
    let run = prefetch();
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let expected = format!(
        "{{\"hash\":\"{}\",\"locked\":{{\"lastModified\":1234567890,\"ref\":\"refs/heads/{branch}\",\"rev\":\"{head}\",\"revCount\":1,\"type\":\"git\",\"url\":\"file:///r\"}},\"original\":{{\"type\":\"git\",\"url\":\"file:///r\"}},\"storePath\":",
        nar_hash(&[("f", "one\n")]),
    );
    assert!(
        run.stdout.starts_with(&expected),
        "{}\n{expected}",
        run.stdout
    );

    // Dirty: a tracked file changed, a new one staged.
    fs::write(repo.join("f"), "changed\n").unwrap();
    fs::write(repo.join("g"), "staged\n").unwrap();
    git(&repo, &["add", "g"], b"");
    let run = prefetch();
    assert_eq!(run.status, 0, "{}", run.stderr);
    let canonical = fs::canonicalize(&repo).unwrap();
    assert_eq!(
        run.stderr.trim_end(),
        format!("warning: Git tree '{}' is dirty", canonical.display())
    );
    let expected = format!(
        "{{\"hash\":\"{}\",\"locked\":{{\"dirtyRev\":\"{head}-dirty\",\"dirtyShortRev\":\"{}-dirty\",\"lastModified\":1234567890,\"type\":\"git\",\"url\":\"file:///r\"}},\"original\":{{\"type\":\"git\",\"url\":\"file:///r\"}},\"storePath\":",
        nar_hash(&[("f", "changed\n"), ("g", "staged\n")]),
        &head[..7],
    );
    assert!(
        run.stdout.starts_with(&expected),
        "{}\n{expected}",
        run.stdout
    );
    // Given a revision, the commit as before, dirty or not.
    let run = run_cli(
        &os(&[
            "git",
            "prefetch",
            "--url",
            "file:///r",
            repo.to_str().unwrap(),
            &head[..8],
        ]),
        dir.path(),
        None,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("{{\"hash\":\"{}\"", nar_hash(&[("f", "one\n")]))),
        "{}",
        run.stdout
    );
}
