//! `fetch` against real Nix's git fetcher: `nix flake prefetch --json git+file://…` and
//! `builtins.fetchGit` (Nix 2.34.8 and 2.26.3, through `scripts/nix-oracle.sh`), on generated
//! repositories with several commits and a merge, lightweight and annotated tags, executables,
//! symlinks, an empty directory, odd names, export-ignore attributes and a submodule, with loose
//! and with packed objects.
//!
//! The oracle runs only with `NIX_INGEST_ORACLE=1` (as `tests/differential.rs`); without it the
//! tests check what needs no Nix: revisions resolve to what `git rev-parse` says, ids, times and
//! counts equal git's, and the tree id gives the content address git hashing names.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix_ingest::fetch::{Fetch, FetchError, Fetched};
use nix_ingest::hash::Format;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Runs git in `dir` with a fixed identity and the commit date `date` (seconds).
fn git_at(dir: &Path, date: u64, args: &[&str]) -> String {
    let stamp = format!("{date} +0100");
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", &stamp)
        .env("GIT_COMMITTER_DATE", &stamp)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A repository with history, tags, odd names, attributes, an empty directory and (optionally)
/// a submodule; its objects packed or loose.
struct Scenario {
    _dir: tempfile::TempDir,
    repo: PathBuf,
}

fn scenario(submodule: bool, packed: bool) -> Scenario {
    let dir = tempfile::Builder::new()
        .prefix("nix-ingest-fetch.")
        .tempdir_in("/tmp")
        .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let g = |date: u64, args: &[&str]| git_at(&repo, date, args);
    g(1_700_000_000, &["init", "-q"]);
    write(&repo.join("README"), "hello\n");
    write(&repo.join("bin/run"), "#!/bin/sh\necho run\n");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(repo.join("bin/run"))
            .unwrap()
            .permissions(),
        0o755,
    );
    std::fs::set_permissions(
        repo.join("bin/run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("README", repo.join("link")).unwrap();
    std::os::unix::fs::symlink("../nowhere", repo.join("bin/dangling")).unwrap();
    write(&repo.join("odd name \u{e9}\t!"), "odd\n");
    write(&repo.join("a.b"), "dot\n");
    write(&repo.join("a/x"), "in a\n");
    write(&repo.join("notes.log"), "log\n");
    write(&repo.join("keep.log"), "kept\n");
    write(&repo.join("secret/inner"), "s\n");
    write(&repo.join("deep/er/x.tmp"), "tmp\n");
    write(&repo.join("deep/y"), "y\n");
    write(
        &repo.join(".gitattributes"),
        "*.log export-ignore\nkeep.log -export-ignore\nsecret export-ignore\n\
         deep/**/*.tmp export-ignore\nREADME export-subst\n",
    );
    g(1_700_000_000, &["add", "-A"]);
    g(1_700_000_000, &["commit", "-q", "-m", "one"]);
    g(1_700_000_100, &["checkout", "-q", "-b", "feature"]);
    write(&repo.join("feature.txt"), "feature\n");
    g(1_700_000_100, &["add", "-A"]);
    g(1_700_000_100, &["commit", "-q", "-m", "feature"]);
    g(1_700_000_150, &["tag", "light"]);
    g(1_700_000_200, &["checkout", "-q", "main"]);
    write(&repo.join("main.txt"), "main\n");
    g(1_700_000_200, &["add", "-A"]);
    g(1_700_000_200, &["commit", "-q", "-m", "main"]);
    g(
        1_700_000_300,
        &["merge", "-q", "--no-ff", "-m", "merge", "feature"],
    );
    if submodule {
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        git_at(&sub, 1_600_000_000, &["init", "-q"]);
        write(&sub.join("inside"), "sub file\n");
        std::os::unix::fs::symlink("inside", sub.join("l")).unwrap();
        git_at(&sub, 1_600_000_000, &["add", "-A"]);
        git_at(&sub, 1_600_000_000, &["commit", "-q", "-m", "sub"]);
        g(
            1_700_000_400,
            &["submodule", "-q", "add", "../sub", "mods/sub"],
        );
        g(1_700_000_400, &["commit", "-q", "-m", "submodule"]);
    }
    // An empty directory: git's index cannot hold one, its trees can.
    let empty = g(1_700_000_500, &["mktree"]);
    let listing = g(1_700_000_500, &["ls-tree", "HEAD"]);
    let tree = {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .arg("mktree")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let input = format!("{listing}\n040000 tree {empty}\tempty\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let commit = g(
        1_700_000_500,
        &["commit-tree", &tree, "-p", "HEAD", "-m", "empty dir"],
    );
    g(1_700_000_500, &["update-ref", "refs/heads/main", &commit]);
    g(1_700_000_600, &["tag", "-a", "v1", "-m", "annotated"]);
    if packed {
        g(1_700_000_600, &["gc", "-q"]);
        g(1_700_000_600, &["pack-refs", "--all"]);
    }
    Scenario { _dir: dir, repo }
}

/// The revisions tested, as Nix's URL attribute: (`rev` or `ref`, value).
fn revisions(repo: &Path) -> Vec<(&'static str, String)> {
    let p = |r: &str| git_at(repo, 0, &["rev-parse", r]);
    let merge = git_at(repo, 0, &["rev-list", "--merges", "-1", "main"]);
    vec![
        ("rev", p("HEAD")),
        ("rev", merge.clone()),
        ("rev", p(&format!("{merge}^2"))),
        ("rev", p("v1")), // an annotated tag's own id
        ("ref", "main".to_owned()),
        ("ref", "feature".to_owned()),
        ("ref", "light".to_owned()),
        ("ref", "v1".to_owned()),
        ("ref", "refs/tags/v1".to_owned()),
        ("ref", "HEAD".to_owned()),
    ]
}

#[test]
fn revisions_resolve_as_git_does() {
    for packed in [false, true] {
        let s = scenario(true, packed);
        let p = |r: &str| git_at(&s.repo, 0, &["rev-parse", r]);
        let fetch = Fetch::new();
        for (kind, value) in revisions(&s.repo) {
            let f = fetch.fetch(&s.repo, &value).unwrap();
            let commit = p(&format!("{value}^{{commit}}"));
            assert_eq!(f.commit.unwrap().encode(Format::Base16), commit);
            let expected_rev = if kind == "rev" {
                p(&value)
            } else {
                commit.clone()
            };
            assert_eq!(f.rev.unwrap().encode(Format::Base16), expected_rev);
            assert_eq!(
                f.tree.encode(Format::Base16),
                p(&format!("{value}^{{tree}}"))
            );
            let time = git_at(&s.repo, 0, &["log", "-1", "--format=%ct", &commit]);
            assert_eq!(f.last_modified.unwrap().to_string(), time);
            let count = git_at(&s.repo, 0, &["rev-list", "--count", &commit]);
            assert_eq!(f.rev_count.unwrap().to_string(), count);
        }
        // An abbreviated id and a tree id.
        let head = p("HEAD");
        let short = fetch.fetch(&s.repo, &head[..10]).unwrap();
        assert_eq!(short.rev.unwrap().encode(Format::Base16), head);
        let tree = p("HEAD^{tree}");
        let t = fetch.fetch(&s.repo, &tree).unwrap();
        assert_eq!((t.rev, t.rev_count, t.last_modified), (None, None, None));
        assert_eq!(t.nar_hash, short.nar_hash);
        // The raw tree holds a gitlink, which Nix shows as an empty directory: no git CA.
        assert!(t.git_ca.is_none());
        // The submodule's commit is not in the superproject: a clear error when asked for.
        let merge = git_at(&s.repo, 0, &["rev-list", "--merges", "-1", "main"]);
        let err = Fetch::new()
            .submodules(true)
            .fetch(&s.repo, &merge)
            .map(|_| ());
        assert!(err.is_ok(), "before the submodule: {err:?}");
        assert!(matches!(
            fetch.fetch(&s.repo, "no-such-ref"),
            Err(FetchError::UnknownRevision(_))
        ));
    }
}

#[test]
fn missing_submodule_is_named() {
    let s = scenario(true, false);
    std::fs::rename(
        s.repo.join(".git/modules"),
        s.repo.join(".git/modules-moved"),
    )
    .unwrap();
    let err = Fetch::new()
        .submodules(true)
        .fetch(&s.repo, "main")
        .unwrap_err();
    assert!(matches!(err, FetchError::MissingSubmodule { .. }), "{err}");
    assert!(err.to_string().contains("mods/sub"), "{err}");
}

/// A tree without gitlinks or ignored paths gives the content address of its own id.
#[test]
fn plain_tree_has_git_content_address() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git_at(repo, 1_000_000_000, &["init", "-q"]);
    write(&repo.join("f"), "Hello World!\n");
    git_at(repo, 1_000_000_000, &["add", "-A"]);
    git_at(repo, 1_000_000_000, &["commit", "-q", "-m", "x"]);
    let f = Fetch::new().fetch(repo, "HEAD").unwrap();
    let tree = git_at(repo, 0, &["rev-parse", "HEAD^{tree}"]);
    assert_eq!(
        f.git_ca.unwrap().to_string(),
        format!(
            "fixed:git:sha1:{}",
            nix_ingest::hash::Hash::parse_unprefixed(&tree, nix_ingest::hash::Algorithm::Sha1)
                .unwrap()
                .encode(Format::Nix32)
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// Runs `nix ARGS` in the oracle of `version`: stdout, or stderr on failure.
fn nix(version: &str, args: &[&str]) -> Result<String, String> {
    nix_with_stderr(version, args).map(|(stdout, _)| stdout)
}

/// The repository's URL inside the oracle (the host's /tmp is /host-tmp there).
fn url(repo: &Path) -> String {
    let path = repo.to_str().unwrap();
    format!("file://{}", path.replacen("/tmp/", "/host-tmp/", 1))
}

fn ours(repo: &Path, fetch: &Fetch, value: &str) -> Fetched {
    fetch.fetch(repo, value).unwrap()
}

#[test]
fn flake_prefetch_agrees_with_nix() {
    if !nix_ingest_test_support::oracle_or_skip("compare with real Nix") {
        return;
    }
    let registry = tempfile::Builder::new()
        .prefix("nix-ingest-registry.")
        .suffix(".json")
        .tempfile_in("/tmp")
        .unwrap();
    std::fs::write(registry.path(), "{\"flakes\":[],\"version\":2}").unwrap();
    let registry = registry
        .path()
        .to_str()
        .unwrap()
        .replacen("/tmp/", "/host-tmp/", 1);
    let mut checked = 0;
    for (submodule, packed) in [(false, false), (true, true)] {
        let s = scenario(submodule, packed);
        let url = url(&s.repo);
        for submodules in [false, true] {
            if submodules && !submodule {
                continue;
            }
            let fetch = Fetch::new().submodules(submodules);
            for (kind, value) in revisions(&s.repo) {
                let mut query = format!("{kind}={value}");
                if submodules {
                    query.push_str("&submodules=1");
                }
                let flake_url = format!("git+{url}?{query}");
                let args = [
                    "--option",
                    "flake-registry",
                    &registry,
                    "flake",
                    "prefetch",
                    "--json",
                    &flake_url,
                ];
                let mine = ours(&s.repo, &fetch, &value);
                let json = mine.prefetch_json(&url);
                // Nix 2.34.8: the very same JSON.
                let nix34 = nix("2.34", &args).unwrap_or_else(|e| panic!("{flake_url}: {e}"));
                assert_eq!(json, nix34, "{flake_url} (packed {packed})");
                // Nix 2.26.3: the same hash, store path, times and counts; an annotated tag
                // given as a ref is recorded as the tag's id.
                let nix26 = nix("2.26", &args).unwrap_or_else(|e| panic!("{flake_url}: {e}"));
                let v: serde_json::Value = serde_json::from_str(&nix26).unwrap();
                assert_eq!(
                    v["hash"].as_str(),
                    Some(mine.nar_hash.encode(Format::Sri).as_str())
                );
                assert_eq!(
                    v["storePath"].as_str(),
                    Some(mine.store_path_string().as_str())
                );
                let locked = &v["locked"];
                assert_eq!(locked["lastModified"].as_i64(), mine.last_modified);
                assert_eq!(locked["revCount"].as_u64(), mine.rev_count);
                let tag_id = git_at(&s.repo, 0, &["rev-parse", &value]);
                let rev26 = if kind == "ref" && value.ends_with("v1") {
                    tag_id
                } else {
                    mine.rev.unwrap().encode(Format::Base16)
                };
                assert_eq!(locked["rev"].as_str(), Some(rev26.as_str()), "{flake_url}");
                checked += 1;
            }
        }
    }
    eprintln!("{checked} revisions agree with Nix 2.34.8 and 2.26.3");
}

#[test]
fn fetch_git_agrees_with_nix() {
    if !nix_ingest_test_support::oracle_or_skip("compare with real Nix") {
        return;
    }
    for (submodule, packed) in [(true, false)] {
        let s = scenario(submodule, packed);
        let url = url(&s.repo);
        for submodules in [false, true] {
            // builtins.fetchGit: export-ignore by default, unless submodules are asked for.
            let fetch = Fetch::fetch_git().submodules(submodules);
            for (kind, value) in revisions(&s.repo) {
                if kind == "ref" && value == "HEAD" {
                    continue;
                }
                let attr = if kind == "rev" {
                    format!("rev = \"{value}\"; allRefs = true;")
                } else {
                    format!("ref = \"{value}\";")
                };
                let expr = format!(
                    "let r = builtins.fetchGit {{ url = \"{url}\"; {attr} submodules = {submodules}; }}; \
                     in {{ inherit (r) rev revCount lastModified; narHash = r.narHash or null; path = r.outPath; }}"
                );
                let mine = ours(&s.repo, &fetch, &value);
                for version in ["2.34", "2.26"] {
                    let out = nix(version, &["eval", "--impure", "--json", "--expr", &expr])
                        .unwrap_or_else(|e| panic!("{version} {expr}: {e}"));
                    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                    // 2.34 no longer returns narHash for git inputs; the store path holds it.
                    if let Some(nar_hash) = v["narHash"].as_str() {
                        assert_eq!(
                            nar_hash,
                            mine.nar_hash.encode(Format::Sri),
                            "{version} {expr}"
                        );
                    }
                    assert_eq!(
                        v["path"].as_str(),
                        Some(mine.store_path_string().as_str()),
                        "{version} {expr}"
                    );
                    assert_eq!(v["revCount"].as_u64(), mine.rev_count, "{version} {expr}");
                    assert_eq!(
                        v["lastModified"].as_i64(),
                        mine.last_modified,
                        "{version} {expr}"
                    );
                }
            }
        }
    }
}

/// A blob whose bytes do not hash to its id is refused, naming its path, whether the NAR is
/// hashed on the calling thread or on a second one.
#[test]
fn corrupt_blob_is_refused_on_one_thread_and_two() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git_at(repo, 1_000_000_000, &["init", "-q"]);
    write(&repo.join("d/f"), "hello\n");
    git_at(repo, 1_000_000_000, &["add", "-A"]);
    git_at(repo, 1_000_000_000, &["commit", "-q", "-m", "x"]);
    let blob = git_at(repo, 0, &["rev-parse", "HEAD:d/f"]);
    let path = repo.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    let mut forged = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut forged, b"blob 6\0HELLO\n").unwrap();
    let forged = forged.finish().unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, forged).unwrap();
    for threads in [1, 2] {
        let err = Fetch::new()
            .settings(*nix_ingest::Options::new().threads(threads).settings())
            .fetch(repo, "HEAD")
            .unwrap_err();
        let text = chain(&err);
        assert!(matches!(err, FetchError::Tree(_)), "{threads}: {text}");
        assert!(
            text.contains("/d/f") && text.contains(&blob),
            "{threads}: {text}"
        );
    }
}

/// An error and its causes, as `anyhow`'s `{:#}` prints them.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text += &format!(": {c}");
        cause = c.source();
    }
    text
}

/// Runs `nix ARGS` in the oracle of `version`: (stdout, stderr), or stderr on failure.
fn nix_with_stderr(version: &str, args: &[&str]) -> Result<(String, String), String> {
    let out = Command::new(Path::new(MANIFEST_DIR).join("scripts/nix-oracle.sh"))
        .args([
            "run",
            "--nix",
            version,
            "nix",
            "--extra-experimental-features",
            "flakes",
        ])
        .args(args)
        .output()
        .expect("scripts/nix-oracle.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if out.status.success() {
        Ok((
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            stderr,
        ))
    } else {
        Err(stderr)
    }
}

/// The work trees tested without a revision: (what, how), each made from a fresh scenario by
/// `prepare`.
type Prepare = fn(&Path);

/// A scenario whose `HEAD` is a commit no earlier run made: Nix caches what it fetched under
/// the commit's id, and a work tree's answer differs from a commit's (see `fetch`'s docs).
fn fresh_scenario(submodule: bool, packed: bool) -> Scenario {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let s = scenario(submodule, packed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    write(&s.repo.join("fresh"), &format!("{now} {n}\n"));
    git_at(&s.repo, 1_700_000_650, &["add", "fresh"]);
    git_at(&s.repo, 1_700_000_650, &["commit", "-q", "-m", "fresh"]);
    s
}

fn work_trees() -> Vec<(&'static str, Prepare)> {
    vec![
        ("clean", |_| {}),
        ("untracked file only", |repo| {
            write(&repo.join("untracked"), "not tracked\n");
        }),
        ("detached HEAD", |repo| {
            git_at(repo, 1_700_000_700, &["checkout", "-q", "--detach", "HEAD"]);
        }),
        ("changed, deleted, staged, mode, link, untracked", |repo| {
            write(&repo.join("README"), "changed\n");
            std::fs::remove_file(repo.join("a.b")).unwrap();
            write(&repo.join("staged/new"), "staged\n");
            git_at(repo, 1_700_000_700, &["add", "staged/new"]);
            std::fs::set_permissions(
                repo.join("bin/run"),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .unwrap();
            std::fs::remove_file(repo.join("link")).unwrap();
            std::os::unix::fs::symlink("a/x", repo.join("link")).unwrap();
            write(&repo.join("untracked"), "not tracked\n");
        }),
        ("core.fileMode off, an executable bit flipped", |repo| {
            git_at(repo, 0, &["config", "core.fileMode", "false"]);
            std::fs::set_permissions(
                repo.join("README"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }),
        ("only a deletion", |repo| {
            std::fs::remove_file(repo.join("deep/y")).unwrap();
        }),
        ("only staged", |repo| {
            write(&repo.join("main.txt"), "staged change\n");
            git_at(repo, 1_700_000_700, &["add", "main.txt"]);
        }),
    ]
}

/// Dirty means what `git status --untracked-files=no` says: anything tracked changed.
#[test]
fn work_tree_dirty_as_git_status_says() {
    for (what, prepare) in work_trees() {
        for (submodule, packed) in [(false, false), (true, true)] {
            let s = fresh_scenario(submodule, packed);
            prepare(&s.repo);
            let status = git_at(
                &s.repo,
                0,
                &["status", "--porcelain", "--untracked-files=no"],
            );
            let f = Fetch::new().fetch_work_tree(&s.repo).unwrap();
            assert_eq!(f.dirty, !status.is_empty(), "{what}: {status}");
            let head = git_at(&s.repo, 0, &["rev-parse", "HEAD"]);
            assert_eq!(f.commit.unwrap().encode(Format::Base16), head, "{what}");
            if f.dirty {
                assert_eq!((f.rev, f.rev_count, f.git_ref.as_ref()), (None, None, None));
            } else {
                // HEAD's commit, locked on the branch HEAD names (none when detached).
                let branch = git_at(&s.repo, 0, &["branch", "--show-current"]);
                let expected = (!branch.is_empty()).then(|| format!("refs/heads/{branch}"));
                assert_eq!(f.git_ref, expected, "{what}");
                assert_eq!(f.rev.unwrap().encode(Format::Base16), head, "{what}");
                let count = git_at(&s.repo, 0, &["rev-list", "--count", "HEAD"]);
                assert_eq!(f.rev_count.unwrap().to_string(), count, "{what}");
            }
            // The tree of the tracked files as on disk: what git writes after `add -u` (a
            // submodule, which Nix leaves out, makes it another tree).
            git_at(&s.repo, 1_700_000_700, &["add", "-u"]);
            let tree = git_at(&s.repo, 1_700_000_700, &["write-tree"]);
            if submodule {
                assert!(f.git_ca.is_none(), "{what}");
            } else if what.starts_with("core.fileMode off") {
                // git keeps the index's bit; the tree takes the bit on disk, as Nix does.
                assert_ne!(f.tree.encode(Format::Base16), tree, "{what}");
            } else {
                assert_eq!(f.tree.encode(Format::Base16), tree, "{what}");
                assert!(f.git_ca.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn work_tree_prefetch_agrees_with_nix() {
    if !nix_ingest_test_support::oracle_enabled() {
        eprintln!("skipped: set NIX_INGEST_ORACLE=1 to compare with real Nix");
        return;
    }
    let registry = tempfile::Builder::new()
        .prefix("nix-ingest-registry.")
        .suffix(".json")
        .tempfile_in("/tmp")
        .unwrap();
    std::fs::write(registry.path(), "{\"flakes\":[],\"version\":2}").unwrap();
    let registry = registry
        .path()
        .to_str()
        .unwrap()
        .replacen("/tmp/", "/host-tmp/", 1);
    let mut dirty = 0;
    let mut clean = 0;
    for (what, prepare) in work_trees() {
        for (submodule, packed) in [(false, false), (true, true)] {
            let s = fresh_scenario(submodule, packed);
            prepare(&s.repo);
            let url = url(&s.repo);
            let flake_url = format!("git+{url}");
            let args = [
                "--option",
                "flake-registry",
                &registry,
                "flake",
                "prefetch",
                "--json",
                &flake_url,
            ];
            let mine = Fetch::new().fetch_work_tree(&s.repo).unwrap();
            let json = mine.prefetch_json(&url);
            let warning = format!(
                "warning: Git tree '{}' is dirty",
                url.strip_prefix("file://").unwrap()
            );
            let context = format!("{what} (submodule {submodule}, packed {packed})");
            // Nix 2.34.8: the very same JSON, and the warning exactly when dirty.
            let (nix34, stderr34) =
                nix_with_stderr("2.34", &args).unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(json, nix34, "{context}");
            assert_eq!(
                stderr34.contains(&warning),
                mine.dirty,
                "{context}: {stderr34}"
            );
            // Nix 2.26.3: the same, plus `__final` and `narHash` in `locked`.
            let (nix26, stderr26) =
                nix_with_stderr("2.26", &args).unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(
                stderr26.contains(&warning),
                mine.dirty,
                "{context}: {stderr26}"
            );
            let mut v: serde_json::Value = serde_json::from_str(&nix26).unwrap();
            let locked = v["locked"].as_object_mut().unwrap();
            assert_eq!(
                locked.remove("__final"),
                Some(serde_json::Value::Bool(true))
            );
            assert_eq!(
                locked.remove("narHash").as_ref().and_then(|h| h.as_str()),
                Some(mine.nar_hash.encode(Format::Sri).as_str()),
                "{context}"
            );
            let ours: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v, ours, "{context}");
            if mine.dirty {
                dirty += 1;
            } else {
                clean += 1;
            }
        }
    }
    // An unborn branch: a staged file, no commit yet.
    let dir = tempfile::Builder::new()
        .prefix("nix-ingest-fetch.")
        .tempdir_in("/tmp")
        .unwrap();
    git_at(dir.path(), 1_700_000_000, &["init", "-q"]);
    write(&dir.path().join("staged"), "staged\n");
    git_at(dir.path(), 1_700_000_000, &["add", "staged"]);
    let url = url(dir.path());
    let flake_url = format!("git+{url}");
    let mine = Fetch::new().fetch_work_tree(dir.path()).unwrap();
    assert!(mine.dirty && mine.commit.is_none());
    let json = mine.prefetch_json(&url);
    for version in ["2.34", "2.26"] {
        let args = [
            "--option",
            "flake-registry",
            &registry,
            "flake",
            "prefetch",
            "--json",
            &flake_url,
        ];
        let (out, stderr) = nix_with_stderr(version, &args).unwrap();
        assert!(stderr.contains("is dirty"), "{version}: {stderr}");
        let mut v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if version == "2.34" {
            assert_eq!(json, out, "unborn branch");
        } else {
            let locked = v["locked"].as_object_mut().unwrap();
            locked.remove("__final");
            locked.remove("narHash");
            let ours: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v, ours, "{version}: unborn branch");
        }
    }
    dirty += 1;
    assert!(dirty >= 7 && clean >= 8, "{dirty} dirty, {clean} clean");
    eprintln!("{clean} clean and {dirty} dirty work trees agree with Nix 2.34.8 and 2.26.3");
}

/// An abbreviated id resolves in a SHA-256 repository too (to what `git rev-parse` says).
#[test]
fn abbreviated_id_in_a_sha256_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git_at(
        repo,
        1_000_000_000,
        &["init", "-q", "--object-format=sha256"],
    );
    write(&repo.join("f"), "Hello World!\n");
    git_at(repo, 1_000_000_000, &["add", "-A"]);
    git_at(repo, 1_000_000_000, &["commit", "-q", "-m", "x"]);
    let head = git_at(repo, 0, &["rev-parse", "HEAD"]);
    assert_eq!(head.len(), 64);
    let f = Fetch::new().fetch(repo, &head[..9]).unwrap();
    assert_eq!(f.rev.unwrap().encode(Format::Base16), head);
    assert!(matches!(
        Fetch::new().fetch(repo, "0000000"),
        Err(FetchError::UnknownRevision(_))
    ));
}

/// export-ignore leaves out what `git archive` leaves out, for git's pattern forms (from its
/// gitattributes and wildmatch documentation), nested `.gitattributes` files and overrides.
#[test]
fn export_ignore_as_git_archive() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git_at(repo, 1_000_000_000, &["init", "-q"]);
    for file in [
        "a.log",
        "keep.log",
        "d/b.log",
        "ignored",
        "d/ignored",
        "dir/x",
        "d/dir/y",
        "file-named-dir",
        "foo",
        "x/y/foo",
        "bar/one",
        "bar/two/three",
        "axb",
        "a/b",
        "bx",
        "dx",
        "star*",
        "valued",
        "deep/er/x.tmp",
        "deep/y.tmp",
        "sub/t.txt",
        "sub/keep.txt",
        "sub/inner/u.txt",
        "t.txt",
        "mac.bin",
        "plain",
    ] {
        write(&repo.join(file), "x\n");
    }
    write(
        &repo.join(".gitattributes"),
        "*.log export-ignore\nkeep.log -export-ignore\n/ignored export-ignore\n\
         dir/ export-ignore\n**/foo export-ignore\nbar/** export-ignore\na?b export-ignore\n\
         [a-c]x export-ignore\nstar\\* export-ignore\nvalued export-ignore=yes\n\
         deep/**/*.tmp export-ignore\n[attr]gone export-ignore\n*.bin gone\n",
    );
    write(
        &repo.join("sub/.gitattributes"),
        "*.txt export-ignore\nkeep.txt !export-ignore\n",
    );
    git_at(repo, 1_000_000_000, &["add", "-A"]);
    git_at(repo, 1_000_000_000, &["commit", "-q", "-m", "x"]);
    // What git archive writes: its regular files.
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "HEAD"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut listing = listing;
    std::io::Write::write_all(listing.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    drop(listing.stdin.take());
    let listed = listing.wait_with_output().unwrap();
    let mut expected: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with('/') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    expected.sort();
    // What the fetch keeps: the files of the events it sends.
    let mut recorder = nix_ingest::event::Recorder::default();
    Fetch::new()
        .export_ignore(true)
        .fetch_into(repo, "HEAD", &mut recorder)
        .unwrap();
    let mut path: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for event in &recorder.events {
        use nix_ingest::event::OwnedEvent;
        match event {
            OwnedEvent::DirectoryStart { name } => {
                path.push(String::from_utf8_lossy(name.as_deref().unwrap_or_default()).into())
            }
            OwnedEvent::DirectoryEnd => {
                path.pop();
            }
            OwnedEvent::FileStart { name, .. } | OwnedEvent::Symlink { name, .. } => {
                let mut parts: Vec<String> = path.iter().skip(1).cloned().collect();
                parts.push(String::from_utf8_lossy(name.as_deref().unwrap_or_default()).into());
                kept.push(parts.join("/"));
            }
            _ => {}
        }
    }
    kept.sort();
    assert_eq!(kept, expected);
    // Some of each kind were left out, and some kept.
    for gone in [
        "a.log",
        "ignored",
        "dir/x",
        "x/y/foo",
        "bar/one",
        "axb",
        "bx",
        "sub/t.txt",
    ] {
        assert!(!kept.iter().any(|k| k == gone), "{gone}");
    }
    for stays in ["keep.log", "d/ignored", "valued", "sub/keep.txt", "plain"] {
        assert!(kept.iter().any(|k| k == stays), "{stays}");
    }
}

/// Files the index knows unchanged (stat data recorded, not racy) are taken by the index's id,
/// as git does; a change after that is still seen.
#[test]
fn work_tree_with_settled_index() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git_at(repo, 1_000_000_000, &["init", "-q"]);
    write(&repo.join("f"), "one\n");
    write(&repo.join("d/g"), "two\n");
    git_at(repo, 1_000_000_000, &["add", "-A"]);
    git_at(repo, 1_000_000_000, &["commit", "-q", "-m", "x"]);
    // Files last changed long ago, recorded so in a freshly written index.
    for file in ["f", "d/g"] {
        let status = Command::new("touch")
            .args(["-d", "@1000000000"])
            .arg(repo.join(file))
            .status()
            .unwrap();
        assert!(status.success());
    }
    git_at(repo, 1_000_000_000, &["update-index", "--refresh", "-q"]);
    let clean = Fetch::new().fetch_work_tree(repo).unwrap();
    assert!(!clean.dirty);
    assert_eq!(
        clean.nar_hash,
        Fetch::new().fetch(repo, "HEAD").unwrap().nar_hash
    );
    write(&repo.join("d/g"), "TWO\n");
    let dirty = Fetch::new().fetch_work_tree(repo).unwrap();
    assert!(dirty.dirty);
    git_at(repo, 1_000_000_000, &["add", "-u"]);
    let tree = git_at(repo, 1_000_000_000, &["write-tree"]);
    assert_eq!(dirty.tree.encode(Format::Base16), tree);
}
