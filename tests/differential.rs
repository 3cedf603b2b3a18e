//! Differential tests against real Nix and real git.
//!
//! Hundreds of random, deliberately nasty trees (fixed seed) are built under `/tmp`, and for
//! each one the answers of real Nix (through `scripts/nix-oracle.sh`: Nix 2.34.8, or Nix 2.26.3
//! with `NIX_ORACLE_VERSION=2.26`; `scripts/differential.sh` runs both) and of git are compared
//! with this crate's library and its command-line tool `nix-ingest`. Our limits follow the
//! oracle's NAR rule ([`Limits::DEFAULT`] for 2.34, [`Limits::NIX_2_26`] for 2.26), so a tree
//! nested 64 levels deep is refused by the `nar` method with 2.34 and hashed with 2.26:
//!
//! - `nix hash path` for git SHA-1 and SHA-256 in every format (and MD5/SHA-512), NAR in every
//!   format and algorithm, flat for file roots (one `nix hash path` call per combination, with
//!   every tree's path as arguments);
//! - `nix store add --dry-run` for git SHA-1 (and SHA-256 with Nix 2.31 and later), NAR SHA-1
//!   and SHA-256, flat and text (file roots);
//! - `nix-store --dump`: our NAR writer must produce the same bytes, and our NAR parser (whole and
//!   in random chunks) must give the same hashes and the same events as the directory walk;
//! - git tree ids from `git mktree` (any tree, empty directories included) and `git add` +
//!   `git write-tree` (trees git's index can hold), for both object formats;
//! - spot checks of `nix-ingest` on every tree, and of `hash path --nar` on Nix's NAR.
//!
//! Where Nix refuses something (`refusals`), both answers are printed and ours must refuse too,
//! naming what is wrong.
//!
//! It runs only when asked (it needs root, the oracle chroot and git):
//!
//! ```text
//! scripts/differential.sh            # or:
//! NIX_INGEST_ORACLE=1 cargo test --release --test differential -- --nocapture --test-threads=1
//! ```
//!
//! Knobs: `NIX_INGEST_ORACLE_SEED` (default 0x6e69782d696e6765), `NIX_INGEST_ORACLE_TREES`
//! (default 300), `NIX_INGEST_ORACLE_ONLY=<index>` (one tree), `NIX_INGEST_ORACLE_KEEP=1` (keep
//! the trees; they are always kept after a mismatch).

#[path = "differential/oracle.rs"]
mod oracle;
use nix_ingest_test_support as support;
#[path = "differential/tree.rs"]
mod tree;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nix_ingest::Want;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::Recorder;
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::{NarWriter, Parser};
use nix_ingest::store_path::{References, StoreDir};
use nix_ingest::{Limits, Options};

use oracle::{Answer, MkEntry, Task};
use tree::{Node, Rng, Tree};

const DEFAULT_SEED: u64 = 0x6e69_782d_696e_6765;

struct Config {
    seed: u64,
    trees: usize,
    only: Option<usize>,
    keep: bool,
}

impl Config {
    fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let seed = var("NIX_INGEST_ORACLE_SEED").map_or(DEFAULT_SEED, |s| {
            let s = s.trim_start_matches("0x");
            u64::from_str_radix(s, 16).expect("NIX_INGEST_ORACLE_SEED is hex")
        });
        Config {
            seed,
            trees: var("NIX_INGEST_ORACLE_TREES").map_or(300, |s| s.parse().unwrap()),
            only: var("NIX_INGEST_ORACLE_ONLY").map(|s| s.parse().unwrap()),
            keep: var("NIX_INGEST_ORACLE_KEEP").is_some_and(|v| v == "1"),
        }
    }
}

/// Runs `nix-ingest`: its stdout (trimmed) or `[exit N] <stderr>`.
fn run_cli(args: &[OsString]) -> Answer {
    let out = Command::new(support::bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("nix-ingest runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "nix-ingest panicked on {args:?}: {stderr}"
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(format!(
            "[exit {}] {}",
            out.status.code().unwrap_or(-1),
            stderr.trim_end()
        ))
    }
}

fn err_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

/// Collects mismatches with enough context to reproduce each one.
struct Report {
    seed: u64,
    checks: usize,
    mismatches: Vec<String>,
    failed_trees: Vec<usize>,
    notes: Vec<String>,
}

impl Report {
    fn check(&mut self, tree: &Tree, path: &Path, command: &str, nix: &Answer, ours: &Answer) {
        self.checks += 1;
        let same = match (nix, ours) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            self.mismatch(tree, path, command, &show(nix), &show(ours));
        }
    }

    fn mismatch(&mut self, tree: &Tree, path: &Path, command: &str, nix: &str, ours: &str) {
        if !self.failed_trees.contains(&tree.index) {
            self.failed_trees.push(tree.index);
        }
        let msg = format!(
            "MISMATCH {} (seed {:#x}; rerun with NIX_INGEST_ORACLE_ONLY={})\n  at:      {}\n  command: {command}\n  nix/git: {nix}\n  ours:    {ours}",
            tree.describe(),
            self.seed,
            tree.index,
            path.display(),
        );
        eprintln!("{msg}");
        self.mismatches.push(msg);
    }
}

fn show(a: &Answer) -> String {
    match a {
        Ok(s) => s.clone(),
        Err(e) => format!("refused: {e}"),
    }
}

const FORMATS: [Format; 4] = [Format::Sri, Format::Nix32, Format::Base16, Format::Base64];

/// The `nix hash path` calls: (method, algorithm, format). Each is one call over all trees.
fn batches() -> Vec<(FileIngestionMethod, Algorithm, Format)> {
    use Algorithm::*;
    use FileIngestionMethod::*;
    let mut v = Vec::new();
    for f in FORMATS {
        v.push((Git, Sha1, f));
        v.push((Git, Sha256, f));
        v.push((Nar, Sha256, f));
    }
    v.extend([
        (Git, Md5, Format::Base16),
        (Git, Sha512, Format::Sri),
        (Nar, Sha1, Format::Base16),
        (Nar, Md5, Format::Nix32),
        (Nar, Sha512, Format::Base64),
        (Flat, Sha256, Format::Sri),
        (Flat, Sha1, Format::Base16),
        (Flat, Md5, Format::Base16),
        (Flat, Sha512, Format::Nix32),
    ]);
    v
}

/// The (method, algorithm) pairs our one-walk pass computes for every tree.
const OURS: [(FileIngestionMethod, Algorithm); 8] = [
    (FileIngestionMethod::Git, Algorithm::Sha1),
    (FileIngestionMethod::Git, Algorithm::Sha256),
    (FileIngestionMethod::Git, Algorithm::Md5),
    (FileIngestionMethod::Git, Algorithm::Sha512),
    (FileIngestionMethod::Nar, Algorithm::Sha256),
    (FileIngestionMethod::Nar, Algorithm::Sha1),
    (FileIngestionMethod::Nar, Algorithm::Md5),
    (FileIngestionMethod::Nar, Algorithm::Sha512),
];

/// Our answers for one tree.
struct Ours {
    /// By (method, algorithm); flat ones only for regular-file roots.
    hashes: HashMap<(FileIngestionMethod, Algorithm), Result<Hash, String>>,
}

/// The pairs as wants, for the routes of `Options`.
fn wants(pairs: &[(FileIngestionMethod, Algorithm)]) -> Vec<Want<'static>> {
    pairs.iter().map(|&(m, a)| Want::new(m, a)).collect()
}

/// One walk of `path` into the sinks of `pairs` (under the limits of the oracle's Nix).
fn hash_path_multi(
    path: &Path,
    pairs: &[(FileIngestionMethod, Algorithm)],
    limits: &Limits,
) -> Result<Vec<Hash>, String> {
    Options::new()
        .limits(*limits)
        .hash_path_multi(path, &wants(pairs))
        .map_err(|e| err_text(&e))
}

/// One read of a NAR into the sinks of `pairs` (under the limits of the oracle's Nix).
fn hash_nar_multi(
    nar: &[u8],
    pairs: &[(FileIngestionMethod, Algorithm)],
    limits: &Limits,
) -> Result<Vec<Hash>, String> {
    Options::new()
        .limits(*limits)
        .hash_nar_multi(nar, &wants(pairs))
        .map_err(|e| err_text(&e))
}

/// The limits that follow the rule of Nix `version`: Nix 2.34's NAR nesting limit, or none.
fn limits_for(version: &str) -> Limits {
    if oracle::at_least(version, 2, 34) {
        Limits::DEFAULT
    } else {
        Limits::NIX_2_26
    }
}

impl Ours {
    fn compute(tree: &Tree, path: &Path, limits: &Limits) -> Ours {
        let mut hashes = HashMap::new();
        match hash_path_multi(path, &OURS, limits) {
            Ok(hs) => {
                for (k, h) in OURS.iter().zip(hs) {
                    hashes.insert(*k, Ok(h));
                }
            }
            // One method's refusal (a NAR nested too deep) must not hide the others' answers.
            Err(_) => {
                for k in OURS {
                    let r = hash_path_multi(path, &[k], limits).map(|mut h| h.remove(0));
                    hashes.insert(k, r);
                }
            }
        }
        for algo in Algorithm::ALL {
            let r = nix_ingest::Options::default()
                .hash_path(path, Want::new(FileIngestionMethod::Flat, algo))
                .map_err(|e| err_text(&e));
            if tree.is_file() || algo == Algorithm::Sha256 {
                hashes.insert((FileIngestionMethod::Flat, algo), r);
            }
        }
        Ours { hashes }
    }

    fn get(&self, m: FileIngestionMethod, a: Algorithm) -> Result<Hash, String> {
        self.hashes
            .get(&(m, a))
            .cloned()
            .unwrap_or_else(|| Err(format!("not computed: {m} {a}")))
    }
}

/// The store path we compute for `nix store add --dry-run --mode <mode> --hash-algo <algo>`.
fn our_store_path(tree: &Tree, ours: &Ours, mode: &str, algo: Algorithm) -> Answer {
    let store = StoreDir::default();
    let ca = match mode {
        "text" => ContentAddress::text(ours.get(FileIngestionMethod::Flat, algo)?),
        _ => {
            let m: FileIngestionMethod = mode.parse().map_err(|e| format!("{e}"))?;
            ContentAddress::fixed(m, ours.get(m, algo)?)
        }
    };
    store
        .make_path_from_ca(&tree.name, &ca, &References::default())
        .map(|p| store.display_path(&p))
        .map_err(|e| err_text(&e))
}

/// Blob sources (in a fixed depth-first order) for the git reference: the file itself, or a
/// staging file holding a symlink's target.
fn collect_blobs(node: &Node, path: &Path, staging: &Path, out: &mut Vec<PathBuf>) {
    match node {
        Node::File { .. } => out.push(path.to_path_buf()),
        Node::Symlink { target } => {
            let s = staging.join(format!("{}", out.len()));
            fs::write(&s, target).unwrap();
            out.push(s);
        }
        Node::Dir { entries, .. } => {
            for (name, e) in entries {
                collect_blobs(e, &path.join(oracle::os(name)), staging, out);
            }
        }
    }
}

/// git's id of `node` from blob ids in [`collect_blobs`] order, trees made by `git mktree`.
fn git_id(
    node: &Node,
    ids: &mut std::slice::Iter<'_, String>,
    mk: &mut oracle::MkTree,
) -> (&'static str, String) {
    match node {
        Node::File { mode, .. } => {
            let m = if mode & 0o100 != 0 {
                "100755"
            } else {
                "100644"
            };
            (m, ids.next().expect("a blob id per file").clone())
        }
        Node::Symlink { .. } => ("120000", ids.next().expect("a blob id per symlink").clone()),
        Node::Dir { entries, .. } => {
            let list: Vec<MkEntry> = entries
                .iter()
                .map(|(name, e)| {
                    let (mode, id) = git_id(e, ids, mk);
                    MkEntry {
                        mode,
                        id,
                        name: name.clone(),
                    }
                })
                .collect();
            ("40000", mk.tree(&list))
        }
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let ctx = |v: &[u8]| {
        v[i.saturating_sub(16)..(i + 16).min(v.len())]
            .escape_ascii()
            .to_string()
    };
    format!(
        "lengths {} vs {}; first difference at byte {i}: nix \"{}\" ours \"{}\"",
        a.len(),
        b.len(),
        ctx(a),
        ctx(b)
    )
}

#[test]
fn differential() {
    if !nix_ingest_test_support::oracle_or_skip("compare with real Nix and git") {
        return;
    }
    let cfg = Config::from_env();
    let started = Instant::now();
    let mut phase = Instant::now();
    let mut lap = |name: &str| {
        eprintln!(
            "[differential] {name}: {:.1}s",
            phase.elapsed().as_secs_f64()
        );
        phase = Instant::now();
    };
    let version =
        oracle::nix_version(None).expect("the Nix oracle answers (scripts/nix-oracle.sh setup)");
    let limits = limits_for(&version);
    eprintln!(
        "[differential] the oracle is Nix {version} (NIX_ORACLE_VERSION={}); our limits follow its NAR rule (max_nar_depth {})",
        std::env::var("NIX_ORACLE_VERSION").unwrap_or_default(),
        limits.max_nar_depth
    );

    let work = tempfile::Builder::new()
        .prefix("nix-ingest-diff.")
        .tempdir_in("/tmp")
        .unwrap();
    let trees_dir = work.path().join("trees");
    let nar_dir = work.path().join("nar");
    let staging = work.path().join("staging");
    for d in [&trees_dir, &nar_dir, &staging] {
        fs::create_dir(d).unwrap();
    }

    // 1. Trees.
    let indices: Vec<usize> = match cfg.only {
        Some(i) => vec![i],
        None => (0..cfg.trees).collect(),
    };
    let trees: Vec<(Tree, PathBuf)> = indices
        .iter()
        .map(|&i| {
            let t = tree::generate(cfg.seed, i);
            let p = t
                .write(&trees_dir)
                .unwrap_or_else(|e| panic!("writing {}: {e}", t.describe()));
            (t, p)
        })
        .collect();
    let paths: Vec<PathBuf> = trees.iter().map(|(_, p)| p.clone()).collect();
    eprintln!(
        "[differential] seed {:#x}, {} trees under {}",
        cfg.seed,
        trees.len(),
        trees_dir.display()
    );
    lap("generate trees");

    // 2. In the background: `nix store add --dry-run` and `nix-store --dump`, per tree.
    let mut tasks = Vec::new();
    let mut task_of: Vec<Vec<(usize, &'static str, Algorithm)>> = Vec::new();
    let mut dump_of: Vec<usize> = Vec::new();
    for (t, p) in &trees {
        let mut mine = Vec::new();
        dump_of.push(tasks.len());
        tasks.push(Task::Dump {
            path: p.clone(),
            out: nar_dir.join(format!("{}.nar", t.index)),
        });
        let mut adds: Vec<(&'static str, Algorithm)> = vec![
            ("git", Algorithm::Sha1),
            ("nar", Algorithm::Sha1),
            ("nar", Algorithm::Sha256),
        ];
        if oracle::at_least(&version, 2, 31) {
            // SHA-256 git store paths: Nix 2.31 and later (2.26 refuses them).
            adds.push(("git", Algorithm::Sha256));
        }
        if t.is_file() || t.is_symlink() || t.index % 10 == 0 {
            adds.push(("flat", Algorithm::Sha256));
        }
        if t.is_file() {
            adds.push(("text", Algorithm::Sha256));
            adds.push(("flat", Algorithm::Md5));
        }
        for (mode, algo) in adds {
            mine.push((tasks.len(), mode, algo));
            tasks.push(Task::StoreAdd {
                mode,
                algo: algo.name(),
                path: p.clone(),
            });
        }
        task_of.push(mine);
    }
    let n_tasks = tasks.len();
    let work_path = work.path().to_path_buf();
    let background = std::thread::spawn(move || {
        let t = Instant::now();
        let answers = oracle::run_tasks(&work_path, &tasks, 2);
        (answers, t.elapsed())
    });

    // 3. `nix hash path`, one call per (method, algorithm, format) over all trees. Flat takes
    //    regular files, and symlinks that lead to one (Nix follows them for flat).
    let flat_ok: Vec<bool> = trees
        .iter()
        .map(|(t, p)| {
            // A symlink root counts if it leads to a file among the trees (the oracle's root
            // file system differs from ours, so absolute targets elsewhere would not compare).
            t.is_file()
                || (t.is_symlink()
                    && fs::canonicalize(p).is_ok_and(|c| c.starts_with(&trees_dir) && c.is_file()))
        })
        .collect();
    let flat_paths: Vec<PathBuf> = paths
        .iter()
        .zip(&flat_ok)
        .filter(|(_, ok)| **ok)
        .map(|(p, _)| p.clone())
        .collect();
    let mut nix_hash: HashMap<(FileIngestionMethod, Algorithm, Format), Vec<Option<Answer>>> =
        HashMap::new();
    for (m, a, f) in batches() {
        let list = if m == FileIngestionMethod::Flat {
            &flat_paths
        } else {
            &paths
        };
        let mut answers = oracle::hash_path_batch(m.name(), a.name(), f.name(), list).into_iter();
        let per_tree: Vec<Option<Answer>> = if m == FileIngestionMethod::Flat {
            flat_ok
                .iter()
                .map(|ok| if *ok { answers.next() } else { None })
                .collect()
        } else {
            answers.map(Some).collect()
        };
        nix_hash.insert((m, a, f), per_tree);
    }
    lap("nix hash path (batched)");

    // 4. git: blob ids for every file and symlink, trees by `git mktree`; `git write-tree` where
    //    the index can hold the tree.
    let mut sources = Vec::new();
    let mut starts = Vec::new();
    for (t, p) in &trees {
        starts.push(sources.len());
        collect_blobs(&t.root, p, &staging, &mut sources);
    }
    let mut git_ids: Vec<[String; 2]> = vec![Default::default(); trees.len()];
    let mut write_tree: Vec<[Option<Result<String, String>>; 2]> =
        vec![Default::default(); trees.len()];
    for (k, format) in ["sha1", "sha256"].into_iter().enumerate() {
        let git = oracle::Git::init(work.path(), format);
        let blob_ids = git.blob_ids(&sources);
        let mut mk = git.mktree();
        for (i, (t, p)) in trees.iter().enumerate() {
            let mut ids = blob_ids[starts[i]..].iter();
            git_ids[i][k] = git_id(&t.root, &mut ids, &mut mk).1;
            if t.index_safe() {
                let index = work.path().join(format!("index-{format}-{i}"));
                write_tree[i][k] = Some(git.write_tree(p, &index));
            }
        }
    }
    lap("git hash-object, mktree, write-tree");

    // 5. Our library on every tree, against `nix hash path` and git.
    let mut report = Report {
        seed: cfg.seed,
        checks: 0,
        mismatches: Vec::new(),
        failed_trees: Vec::new(),
        notes: Vec::new(),
    };
    let mut ours_all = Vec::new();
    for (i, (t, p)) in trees.iter().enumerate() {
        let ours = Ours::compute(t, p, &limits);
        for (m, a, f) in batches() {
            let Some(nix) = &nix_hash[&(m, a, f)][i] else {
                continue;
            };
            if m == FileIngestionMethod::Flat && !t.is_file() {
                continue; // a symlink root: checked through nix-ingest, which follows it
            }
            let mine = ours.get(m, a).map(|h| h.encode(f));
            let cmd = format!(
                "nix hash path --mode {m} --algo {a} --format {} <tree>",
                f.name()
            );
            report.check(t, p, &cmd, nix, &mine);
        }
        for (k, (algo, format)) in [(Algorithm::Sha1, "sha1"), (Algorithm::Sha256, "sha256")]
            .into_iter()
            .enumerate()
        {
            let mine = ours
                .get(FileIngestionMethod::Git, algo)
                .map(|h| h.encode(Format::Base16));
            report.check(
                t,
                p,
                &format!("git mktree ({format} repository)"),
                &Ok(git_ids[i][k].clone()),
                &mine,
            );
            if let Some(wt) = &write_tree[i][k] {
                match wt {
                    Ok(id) => report.check(
                        t,
                        p,
                        &format!("git add -A && git write-tree ({format})"),
                        &Ok(id.clone()),
                        &mine,
                    ),
                    Err(e) => report
                        .notes
                        .push(format!("git could not index {}: {e}", t.describe())),
                }
            }
        }
        // A library refusal of flat for a directory or symlink root must say why.
        if !t.is_file() {
            match ours.get(FileIngestionMethod::Flat, Algorithm::Sha256) {
                Ok(h) => report.mismatch(
                    t,
                    p,
                    "flat hash of a non-file root (library)",
                    "refused",
                    &h.to_string(),
                ),
                Err(e) => {
                    let why = if t.is_dir() { "directory" } else { "symlink" };
                    if !e.contains(why) {
                        report.mismatch(t, p, "flat refusal names the root's kind", why, &e);
                    }
                }
            }
        }
        ours_all.push(ours);
    }
    lap("our library: hash_path vs nix hash path and git");

    // 6. Store paths and NARs.
    let (answers, bg_time) = background.join().expect("the oracle task thread");
    eprintln!(
        "[differential] ({n_tasks} nix store add / nix-store --dump calls took {:.1}s in the background)",
        bg_time.as_secs_f64()
    );
    let mut chunk_rng = Rng::new(cfg.seed ^ 0xc4a5);
    let mut nar_bytes = 0usize;
    for (i, (t, p)) in trees.iter().enumerate() {
        let ours = &ours_all[i];
        for &(task, mode, algo) in &task_of[i] {
            let nix = &answers[task];
            let mine = our_store_path(t, ours, mode, algo);
            let cmd = format!("nix store add --dry-run --mode {mode} --hash-algo {algo} <tree>");
            report.check(t, p, &cmd, nix, &mine);
        }

        let nar_file = nar_dir.join(format!("{}.nar", t.index));
        // Our NAR writer, byte for byte.
        let mut writer = NarWriter::new(Vec::new()).max_depth(limits.max_nar_depth);
        let mut fs_events = Recorder::default();
        let walked = nix_ingest::fs::dump(
            p,
            &mut nix_ingest::event::Tee::new(&mut writer, &mut fs_events),
            Options::new().limits(limits).settings(),
        );
        if let Err(e) = &answers[dump_of[i]] {
            // Nix refuses to dump the tree (2.34: nested 64 levels or more): so must we.
            let ours = walked.map_err(|e| err_text(&e)).and_then(|()| {
                writer
                    .finish()
                    .map(|_| "a NAR".to_owned())
                    .map_err(|e| err_text(&e))
            });
            report.check(t, p, "nix-store --dump <tree>", &Err(e.clone()), &ours);
            continue;
        }
        let nix_nar = fs::read(&nar_file);
        nar_bytes += nix_nar.as_ref().map_or(0, Vec::len);
        let Ok(nix_nar) = nix_nar else {
            report.mismatch(t, p, "nix-store --dump <tree>", "no NAR", "-");
            continue;
        };
        match walked
            .map_err(|e| err_text(&e))
            .and_then(|()| writer.finish().map_err(|e| err_text(&e)))
        {
            Ok(bytes) if bytes == nix_nar => report.checks += 1,
            Ok(bytes) => report.mismatch(
                t,
                p,
                "nix-store --dump <tree> (NAR bytes)",
                &format!("{} bytes", nix_nar.len()),
                &first_difference(&nix_nar, &bytes),
            ),
            Err(e) => report.mismatch(
                t,
                p,
                "nix-store --dump <tree> (NAR bytes)",
                &format!("{} bytes", nix_nar.len()),
                &format!("refused: {e}"),
            ),
        }
        // Nix's NAR through our parser: the same hashes as Nix gives for the tree.
        let mut pairs: Vec<(FileIngestionMethod, Algorithm)> = vec![
            (FileIngestionMethod::Git, Algorithm::Sha1),
            (FileIngestionMethod::Git, Algorithm::Sha256),
            (FileIngestionMethod::Nar, Algorithm::Sha256),
            (FileIngestionMethod::Nar, Algorithm::Sha1),
        ];
        if t.is_file() {
            pairs.push((FileIngestionMethod::Flat, Algorithm::Sha256));
        }
        let from_nar = hash_nar_multi(&nix_nar[..], &pairs, &limits);
        for (k, &(m, a)) in pairs.iter().enumerate() {
            let f = if m == FileIngestionMethod::Flat {
                Format::Sri
            } else {
                Format::Base16
            };
            let nix = nix_hash
                .get(&(m, a, f))
                .and_then(|v| v[i].clone())
                .unwrap_or_else(|| Err("no nix answer".into()));
            let mine = match &from_nar {
                Ok(hs) => Ok(hs[k].encode(f)),
                Err(e) => Err(e.clone()),
            };
            let cmd = format!(
                "nix hash path --mode {m} --algo {a} --format {} <tree> vs our hash of nix-store --dump's NAR",
                f.name()
            );
            report.check(t, p, &cmd, &nix, &mine);
        }
        // The same NAR pushed in random chunks gives the walk's events.
        let mut parser = Parser::new(limits);
        let mut nar_events = Recorder::default();
        let mut rest = &nix_nar[..];
        let mut failure = None;
        while !rest.is_empty() {
            let max = *chunk_rng.pick(&[1usize, 7, 8, 9, 64, 4096, 1 << 20]);
            let n = (chunk_rng.below(max as u64) as usize + 1).min(rest.len());
            match parser.push(&rest[..n], &mut nar_events) {
                Ok(used) if used == n => rest = &rest[n..],
                Ok(used) => {
                    failure = Some(format!(
                        "parser stopped early: took {used} of {n} bytes with {} left",
                        rest.len()
                    ));
                    break;
                }
                Err(e) => {
                    failure = Some(err_text(&e));
                    break;
                }
            }
        }
        let finished = parser.finish().map_err(|e| err_text(&e));
        match (failure, finished) {
            (None, Ok(len)) if len == nix_nar.len() as u64 && nar_events == fs_events => {
                report.checks += 1
            }
            (None, Ok(len)) => report.mismatch(
                t,
                p,
                "NAR parser in random chunks: events equal the walk's",
                &format!("{} bytes, {} events", nix_nar.len(), fs_events.events.len()),
                &format!("{len} bytes, {} events", nar_events.events.len()),
            ),
            (Some(e), _) | (None, Err(e)) => report.mismatch(
                t,
                p,
                "NAR parser in random chunks",
                "accepted",
                &format!("refused: {e}"),
            ),
        }
    }
    lap("store paths, NAR bytes, NAR parsing");

    // 7. The nix-ingest binary, on every tree: a random `nix hash path` combination, a random
    //    `nix store add` task, and `--nar` on Nix's NAR.
    let mut pick = Rng::new(cfg.seed ^ 0xe4a3);
    let all_batches = batches();
    // The binary follows Nix 2.34's NAR nesting rule; an older oracle nests deeper.
    let mut skipped_deep = 0usize;
    for (i, (t, p)) in trees.iter().enumerate() {
        if t.nar_depth() >= Limits::DEFAULT.max_nar_depth
            && limits.max_nar_depth > Limits::DEFAULT.max_nar_depth
        {
            skipped_deep += 1;
            continue;
        }
        let usable: Vec<_> = all_batches
            .iter()
            .filter(|(m, _, _)| *m != FileIngestionMethod::Flat || flat_ok[i])
            .collect();
        let &&(m, a, f) = pick.pick(&usable);
        if let Some(nix) = &nix_hash[&(m, a, f)][i] {
            let args: Vec<OsString> = [
                "hash",
                "path",
                "--mode",
                m.name(),
                "--algo",
                a.name(),
                "--format",
                f.name(),
            ]
            .iter()
            .map(OsString::from)
            .chain([p.clone().into_os_string()])
            .collect();
            let cmd = format!(
                "nix-ingest hash path --mode {m} --algo {a} --format {} <tree>",
                f.name()
            );
            report.check(t, p, &cmd, nix, &run_cli(&args));
            if flat_ok[i] && t.is_symlink() {
                // Nix's flat hash follows a symlink root; so must nix-ingest.
                let args: Vec<OsString> = [
                    "hash", "path", "--mode", "flat", "--algo", "sha256", "--format", "sri",
                ]
                .iter()
                .map(OsString::from)
                .chain([p.clone().into_os_string()])
                .collect();
                let nix = nix_hash[&(FileIngestionMethod::Flat, Algorithm::Sha256, Format::Sri)][i]
                    .clone()
                    .unwrap();
                report.check(
                    t,
                    p,
                    "nix-ingest hash path --mode flat <symlink to a file>",
                    &nix,
                    &run_cli(&args),
                );
            }
        }
        let &(task, mode, algo) = pick.pick(&task_of[i]);
        let args: Vec<OsString> = [
            "store",
            "add",
            "--dry-run",
            "--mode",
            mode,
            "--hash-algo",
            algo.name(),
        ]
        .iter()
        .map(OsString::from)
        .chain([p.clone().into_os_string()])
        .collect();
        let cmd = format!("nix-ingest store add --dry-run --mode {mode} --hash-algo {algo} <tree>");
        report.check(t, p, &cmd, &answers[task], &run_cli(&args));

        let nar_file = nar_dir.join(format!("{}.nar", t.index));
        let (m, a) = *pick.pick(&[
            (FileIngestionMethod::Git, Algorithm::Sha1),
            (FileIngestionMethod::Git, Algorithm::Sha256),
            (FileIngestionMethod::Nar, Algorithm::Sha256),
        ]);
        let f = *pick.pick(&FORMATS);
        if answers[dump_of[i]].is_err() {
            continue; // Nix made no NAR of it
        }
        if let Some(nix) = &nix_hash[&(m, a, f)][i] {
            let args: Vec<OsString> = [
                "hash",
                "path",
                "--nar",
                "--mode",
                m.name(),
                "--algo",
                a.name(),
                "--format",
                f.name(),
            ]
            .iter()
            .map(OsString::from)
            .chain([nar_file.into_os_string()])
            .collect();
            let cmd = format!(
                "nix-ingest hash path --nar --mode {m} --algo {a} --format {} <nix-store --dump of tree>",
                f.name()
            );
            report.check(t, p, &cmd, nix, &run_cli(&args));
        }
    }
    if skipped_deep > 0 {
        eprintln!(
            "[differential] {skipped_deep} trees nested 64 levels or more not given to nix-ingest: it follows Nix 2.34's NAR rule, Nix {version} nests deeper"
        );
    }
    lap("nix-ingest");

    let keep = cfg.keep || !report.mismatches.is_empty();
    for &i in &report.failed_trees {
        if let Some((t, _)) = trees.iter().find(|(t, _)| t.index == i) {
            let _ = fs::write(work.path().join(format!("listing-{i}.txt")), t.listing());
        }
    }
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    let count = |f: &dyn Fn(&Tree) -> bool| trees.iter().filter(|(t, _)| f(t)).count();
    let indexed = write_tree.iter().filter(|w| w[0].is_some()).count();
    eprintln!(
        "[differential] roots: {} directories ({} also through git's index), {} files, {} symlinks \
         ({} followed for flat); {} MB of NAR",
        count(&|t| t.is_dir()),
        indexed,
        count(&|t| t.is_file()),
        count(&|t| t.is_symlink()),
        flat_ok
            .iter()
            .zip(&trees)
            .filter(|(ok, (t, _))| **ok && t.is_symlink())
            .count(),
        nar_bytes / 1_000_000,
    );
    if cfg.only.is_none() {
        assert!(indexed > 10, "git write-tree checked only {indexed} trees");
    }
    eprintln!(
        "[differential] {} checks on {} trees, {} mismatches, {:.1}s in all",
        report.checks,
        trees.len(),
        report.mismatches.len(),
        started.elapsed().as_secs_f64()
    );
    if keep {
        let kept = work.keep();
        eprintln!("[differential] trees kept in {}", kept.display());
    }
    assert!(
        report.mismatches.is_empty(),
        "{} mismatches with Nix/git:\n{}",
        report.mismatches.len(),
        report.mismatches.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals: what Nix refuses, we must refuse as clearly
// ---------------------------------------------------------------------------------------------

fn nar_of(tokens: &[&[u8]]) -> Vec<u8> {
    support::NarBytes::of(tokens)
}

/// A directory NAR with the given entries (each a regular file with `x`), names as given.
fn dir_nar(names: &[&[u8]]) -> Vec<u8> {
    let mut t: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
    for n in names {
        t.extend_from_slice(&[
            b"entry",
            b"(",
            b"name",
            n,
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"x",
            b")",
            b")",
        ]);
    }
    t.push(b")");
    nar_of(&t)
}

#[test]
fn refusals() {
    if !nix_ingest_test_support::oracle_or_skip("compare with real Nix") {
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("nix-ingest-refusals.")
        .tempdir_in("/tmp")
        .unwrap();
    let w = work.path();
    let host = |p: &str| w.join(p);
    let ins = |p: &str| oracle::inside(&w.join(p)).into_os_string();
    let version = oracle::nix_version(None).expect("the Nix oracle answers");
    let limits = limits_for(&version);
    eprintln!("[refusals] Nix {version}");

    // The objects.
    fs::create_dir(host("fifo-in-dir")).unwrap();
    fs::write(host("fifo-in-dir/ok"), "ok").unwrap();
    let mkfifo = |p: PathBuf| {
        Command::new("mkfifo")
            .arg(p)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(mkfifo(host("fifo-in-dir/my-pipe")) && mkfifo(host("fifo-root")));
    fs::create_dir(host("socket-in-dir")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(host("socket-in-dir/my-socket")).unwrap();
    fs::create_dir(host("device-in-dir")).unwrap();
    let device = Command::new("mknod")
        .arg(host("device-in-dir/my-device"))
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    fs::create_dir(host("plain-dir")).unwrap();
    fs::write(host("file"), "Hello World!\n").unwrap();
    std::os::unix::fs::symlink("nowhere", host("dangling")).unwrap();
    std::os::unix::fs::symlink("file", host("link")).unwrap();
    for name in ["a b", "é", &"x".repeat(212)] {
        fs::write(host(name), "x").unwrap();
    }
    fs::create_dir(host("t")).unwrap();

    struct Case {
        what: String,
        nix: Vec<OsString>,
        ours: Answer,
        /// What our message must mention.
        keyword: String,
        /// Nix refuses, we do not, on purpose (documented).
        deviation: bool,
    }
    let s = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    let with = |mut v: Vec<OsString>, p: OsString| {
        v.push(p);
        v
    };
    let lib = |p: &str, m: FileIngestionMethod| {
        nix_ingest::Options::default()
            .hash_path(host(p), Want::new(m, Algorithm::Sha256))
            .map(|h| h.to_string())
            .map_err(|e| err_text(&e))
    };
    let ex = |args: &[&str], p: &str| {
        let mut a = s(args);
        a.push(host(p).into_os_string());
        run_cli(&a)
    };
    let store = StoreDir::default();
    let lib_store = |ca: ContentAddress, name: &str| {
        store
            .make_path_from_ca(name, &ca, &References::default())
            .map(|p| store.display_path(&p))
            .map_err(|e| err_text(&e))
    };
    let file_hash = |a| {
        nix_ingest::Options::default()
            .hash_path(host("file"), Want::new(FileIngestionMethod::Flat, a))
            .unwrap()
    };
    let git_hash = |a| {
        nix_ingest::Options::default()
            .hash_path(host("file"), Want::new(FileIngestionMethod::Git, a))
            .unwrap()
    };

    let mut cases = Vec::new();
    for (dir, kw) in [
        ("fifo-in-dir", "my-pipe"),
        ("socket-in-dir", "my-socket"),
        ("device-in-dir", "my-device"),
    ] {
        if dir == "device-in-dir" && !device {
            continue;
        }
        for m in [FileIngestionMethod::Nar, FileIngestionMethod::Git] {
            cases.push(Case {
                what: format!("{m} hash of a directory holding a {}", &kw[3..]),
                nix: with(s(&["nix", "hash", "path", "--mode", m.name()]), ins(dir)),
                ours: lib(dir, m),
                keyword: kw.into(),
                deviation: false,
            });
        }
    }
    for m in [FileIngestionMethod::Nar, FileIngestionMethod::Git] {
        cases.push(Case {
            what: format!("{m} hash of a FIFO root"),
            nix: with(
                s(&["nix", "hash", "path", "--mode", m.name()]),
                ins("fifo-root"),
            ),
            ours: lib("fifo-root", m),
            keyword: "fifo-root".into(),
            deviation: false,
        });
    }
    cases.push(Case {
        what: "flat hash of a directory".into(),
        nix: with(
            s(&["nix", "hash", "path", "--mode", "flat"]),
            ins("plain-dir"),
        ),
        ours: lib("plain-dir", FileIngestionMethod::Flat),
        keyword: "directory".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "flat hash of a dangling symlink (nix-ingest)".into(),
        nix: with(
            s(&["nix", "hash", "path", "--mode", "flat"]),
            ins("dangling"),
        ),
        ours: ex(&["hash", "path", "--mode", "flat"], "dangling"),
        keyword: "dangling".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "flat store path of a symlink (nix-ingest)".into(),
        nix: with(
            s(&["nix", "store", "add", "--dry-run", "--mode", "flat"]),
            ins("link"),
        ),
        ours: ex(&["store", "add", "--dry-run", "--mode", "flat"], "link"),
        keyword: "symlink".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "flat hash of a symlink (library)".into(),
        nix: with(
            s(&["nix", "store", "add", "--dry-run", "--mode", "flat"]),
            ins("link"),
        ),
        ours: lib("link", FileIngestionMethod::Flat),
        keyword: "symlink".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "text store path with SHA-1".into(),
        nix: with(
            s(&[
                "nix",
                "store",
                "add",
                "--dry-run",
                "--mode",
                "text",
                "--hash-algo",
                "sha1",
            ]),
            ins("file"),
        ),
        ours: lib_store(ContentAddress::text(file_hash(Algorithm::Sha1)), "file"),
        keyword: "SHA-256".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "git store path with MD5".into(),
        nix: with(
            s(&[
                "nix",
                "store",
                "add",
                "--dry-run",
                "--mode",
                "git",
                "--hash-algo",
                "md5",
            ]),
            ins("file"),
        ),
        ours: lib_store(
            ContentAddress::fixed(FileIngestionMethod::Git, git_hash(Algorithm::Md5)),
            "file",
        ),
        keyword: "md5".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "git store path with SHA-256 (Nix >= 2.31 allows it; 2.26 does not)".into(),
        nix: with(
            s(&[
                "nix",
                "store",
                "add",
                "--dry-run",
                "--mode",
                "git",
                "--hash-algo",
                "sha256",
            ]),
            ins("file"),
        ),
        ours: lib_store(
            ContentAddress::fixed(FileIngestionMethod::Git, git_hash(Algorithm::Sha256)),
            "file",
        ),
        keyword: String::new(),
        deviation: !oracle::at_least(&version, 2, 31),
    });
    for (p, kw) in [
        ("a b", "a b"),
        ("é", "é"),
        (&*"x".repeat(212), "212"),
        ("t/.", "'.'"),
    ] {
        cases.push(Case {
            what: format!(
                "store path name from '{}'",
                if p.len() > 20 { "x…x (212 bytes)" } else { p }
            ),
            nix: with(s(&["nix", "store", "add", "--dry-run"]), ins(p)),
            ours: ex(&["store", "add", "--dry-run"], p),
            keyword: kw.into(),
            deviation: false,
        });
    }
    cases.push(Case {
        what: "a path that does not exist".into(),
        nix: with(s(&["nix", "hash", "path"]), ins("nonexistent")),
        ours: ex(&["hash", "path", "--mode", "nar"], "nonexistent"),
        keyword: "nonexistent".into(),
        deviation: false,
    });

    // Nesting: a file 64 levels below the root (63 directories under it). Nix 2.34 refuses the
    // NAR routes and answers git hashing; Nix 2.26 answers all.
    let mut deep = String::from("deep64");
    for _ in 0..63 {
        deep.push_str("/d");
    }
    fs::create_dir_all(host(&deep)).unwrap();
    fs::write(host(&format!("{deep}/f")), "x").unwrap();
    let lib_limits = |p: &str, m: FileIngestionMethod, a: Algorithm| {
        hash_path_multi(&host(p), &[(m, a)], &limits).map(|mut h| h.remove(0))
    };
    cases.push(Case {
        what: "nesting: nar hash of a tree with a file 64 levels down".into(),
        nix: with(s(&["nix", "hash", "path", "--mode", "nar"]), ins("deep64")),
        ours: lib_limits("deep64", FileIngestionMethod::Nar, Algorithm::Sha256)
            .map(|h| h.to_string()),
        keyword: "/d/d/f".into(),
        deviation: false,
    });
    cases.push(Case {
        what: "nesting: git hash of a tree with a file 64 levels down".into(),
        nix: with(s(&["nix", "hash", "path", "--mode", "git"]), ins("deep64")),
        ours: lib_limits("deep64", FileIngestionMethod::Git, Algorithm::Sha256)
            .map(|h| h.to_string()),
        keyword: String::new(),
        deviation: false,
    });
    cases.push(Case {
        what:
            "nesting: git store path of a tree with a file 64 levels down (Nix 2.34 cannot add it)"
                .into(),
        nix: with(
            s(&[
                "nix",
                "store",
                "add",
                "--dry-run",
                "--mode",
                "git",
                "--hash-algo",
                "sha1",
            ]),
            ins("deep64"),
        ),
        ours: lib_limits("deep64", FileIngestionMethod::Git, Algorithm::Sha1)
            .and_then(|h| lib_store(ContentAddress::fixed(FileIngestionMethod::Git, h), "deep64")),
        keyword: String::new(),
        deviation: false,
    });
    for (what, levels, leaf) in [
        ("nesting: NAR with a file 64 levels down", 64, true),
        (
            "nesting: NAR of 64 empty directories, the last 63 levels down",
            64,
            false,
        ),
    ] {
        let mut t: Vec<&[u8]> = vec![b"nix-archive-1"];
        for level in 0..levels {
            if level > 0 {
                t.extend_from_slice(&[b"entry", b"(", b"name", b"d", b"node"]);
            }
            t.extend_from_slice(&[b"(", b"type", b"directory"]);
        }
        if leaf {
            t.extend_from_slice(&[
                b"entry",
                b"(",
                b"name",
                b"f",
                b"node",
                b"(",
                b"type",
                b"regular",
                b"contents",
                b"x",
                b")",
                b")",
            ]);
        }
        for level in 0..levels {
            t.push(b")");
            if level + 1 < levels {
                t.push(b")");
            }
        }
        let bytes = nar_of(&t);
        let f = host(&format!("deep-{levels}-{leaf}.nar"));
        fs::write(&f, &bytes).unwrap();
        let cmd = format!(
            "nix-store --restore '{}' < '{}'",
            oracle::inside(&host(&format!("restored-deep-{levels}-{leaf}"))).display(),
            oracle::inside(&f).display()
        );
        let mut rec = nix_ingest::event::Recorder::default();
        cases.push(Case {
            what: what.into(),
            nix: s(&["sh", "-c", &cmd]),
            ours: nix_ingest::nar::read(&bytes[..], &mut rec, &limits)
                .map(|_| String::new())
                .map_err(|e| err_text(&e)),
            keyword: "64".into(),
            deviation: false,
        });
    }

    // Malformed NARs: `nix-store --restore` against our parser.
    let good = dir_nar(&[b"a", b"b"]);
    let mut bad_padding = good.clone();
    let pos = good.windows(9).position(|w| w == b"directory").unwrap() + 9;
    bad_padding[pos] = 1;
    let mut nars: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unsorted entries", dir_nar(&[b"b", b"a"]), "sorted"),
        ("duplicate entries", dir_nar(&[b"a", b"a"]), "duplicate"),
        ("entry named '..'", dir_nar(&[b".."]), ".."),
        ("entry named '.'", dir_nar(&[b"."]), "."),
        ("empty entry name", dir_nar(&[b""]), "name"),
        ("entry name with '/'", dir_nar(&[b"a/b"]), "a/b"),
        ("entry name with NUL", dir_nar(&[b"a\0b"]), "name"),
        ("truncated", good[..good.len() - 8].to_vec(), "truncated"),
        (
            "bad magic",
            nar_of(&[b"nix-archive-2", b"(", b")"]),
            "nix-archive-1",
        ),
        ("non-zero padding", bad_padding, "padding"),
        (
            "unknown type",
            nar_of(&[b"nix-archive-1", b"(", b"type", b"fifo", b")"]),
            "fifo",
        ),
        (
            "symlink with empty target",
            nar_of(&[
                b"nix-archive-1",
                b"(",
                b"type",
                b"symlink",
                b"target",
                b"",
                b")",
            ]),
            "target",
        ),
        (
            "executable marker with a value",
            nar_of(&[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"x",
                b"contents",
                b"",
                b")",
            ]),
            "executable",
        ),
    ];
    // A file whose declared size runs past the end.
    let mut huge = nar_of(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    nars.push(("file size beyond the input", huge, "truncated"));
    for (i, (what, bytes, kw)) in nars.iter().enumerate() {
        let f = host(&format!("bad-{i}.nar"));
        fs::write(&f, bytes).unwrap();
        let out = oracle::inside(&host(&format!("restored-{i}")));
        let cmd = format!(
            "nix-store --restore '{}' < '{}'",
            out.display(),
            oracle::inside(&f).display()
        );
        let ours = nix_ingest::Options::default()
            .hash_nar(
                &bytes[..],
                Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
            )
            .map(|h| h.to_string())
            .map_err(|e| err_text(&e));
        cases.push(Case {
            what: format!("NAR: {what}"),
            nix: s(&["sh", "-c", &cmd]),
            ours,
            keyword: (*kw).into(),
            deviation: false,
        });
    }

    let mut table = String::new();
    let mut failures = Vec::new();
    for c in &cases {
        let out = oracle::oracle(&c.nix);
        let nix: Answer = if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            let e = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "[exit {}] {}",
                out.status.code().unwrap_or(-1),
                e.lines()
                    .find(|l| !l.trim().is_empty() && !l.starts_with("warning:"))
                    .unwrap_or("")
            ))
        };
        let _ = writeln!(
            table,
            "- {}\n    nix:  {}\n    ours: {}",
            c.what,
            show(&nix),
            show(&c.ours)
        );
        match (&nix, &c.ours) {
            (Err(_), Err(e)) => {
                if !e.to_lowercase().contains(&c.keyword.to_lowercase()) {
                    failures.push(format!(
                        "{}: our refusal does not mention '{}': {e}",
                        c.what, c.keyword
                    ));
                }
            }
            (Err(_), Ok(_)) if c.deviation => {}
            (Ok(a), Ok(b)) if a == b && !c.what.starts_with("NAR") => {}
            (Ok(_), Ok(_)) if c.what.starts_with("NAR") => failures.push(format!(
                "{}: both accept it (not a refusal case any more?)",
                c.what
            )),
            _ => failures.push(format!(
                "{}: nix {} / ours {}",
                c.what,
                show(&nix),
                show(&c.ours)
            )),
        }
    }
    eprintln!("[refusals]\n{table}");
    assert!(
        failures.is_empty(),
        "refusals differ:\n{}",
        failures.join("\n")
    );
}

#[test]
fn trees_are_reproducible() {
    // The generator alone (no oracle needed): the same seed gives the same trees.
    for i in [0, 1, 5, 42, 299] {
        let a = tree::generate(DEFAULT_SEED, i);
        let b = tree::generate(DEFAULT_SEED, i);
        assert_eq!(a.name, b.name);
        assert_eq!(a.listing(), b.listing());
    }
}
