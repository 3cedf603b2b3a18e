//! Unit tests that reach into the cache file: forged same-tick changes, hostile and damaged
//! files, concurrent writers, and the property test (random trees, random changes).
//!
//! The answers are always compared with a fresh hash of the same tree (`Options::hash_path`, the
//! streaming walk into a `GitHasher`), whose agreement with Nix and git the differential suite
//! and `tests/cache.rs` check.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sha2::Digest as _;

use super::format::{self, Identity, Stat, Timestamp};
use super::*;
use crate::method::FileIngestionMethod;
use crate::settings::Settings;

const ALGOS: [Algorithm; 2] = [Algorithm::Sha1, Algorithm::Sha256];

fn fresh(root: &Path) -> Vec<Hash> {
    ALGOS
        .iter()
        .map(|&a| {
            crate::Options::default()
                .hash_path(root, crate::Want::new(FileIngestionMethod::Git, a))
                .unwrap()
        })
        .collect()
}

fn write(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small tree: files (one executable, one empty), a symlink, a nested and an empty directory.
fn small_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    write(&root.join("a"), b"alpha\n", 0o644);
    write(&root.join("exe"), b"#!/bin/sh\n", 0o755);
    write(&root.join("nothing"), b"", 0o644);
    write(&root.join("sub/b"), b"beta beta\n", 0o644);
    write(&root.join("sub/deeper/c"), &[7u8; 10_000], 0o600);
    symlink("sub/b", root.join("link")).unwrap();
}

/// Moves the scan time recorded in a cache file by `secs` and fixes the checksum, as if the
/// scan had happened then. Moving it forward makes every entry old enough to be trusted: the
/// tests that do so change files only after a pause longer than any file system's timestamp
/// tick on Linux (see `settle`), so stat data still tells every change apart.
fn shift_scan_time(cache: &Path, secs: i64) {
    let mut bytes = fs::read(cache).unwrap();
    let at = format::MAGIC.len() + 8;
    let sec = i64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    bytes[at..at + 8].copy_from_slice(&(sec + secs).to_le_bytes());
    let body = bytes.len() - 32;
    let sum = sha2::Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    fs::write(cache, bytes).unwrap();
}

/// Longer than a coarse timestamp tick (a jiffy: 10 ms at HZ=100), so a change made after it
/// gets timestamps a scan made before it did not see.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(15));
}

fn identity_of(root: &Path) -> Identity {
    let meta = fs::symlink_metadata(root).unwrap();
    Identity {
        root: std::os::unix::ffi::OsStrExt::as_bytes(
            std::path::absolute(root).unwrap().as_os_str(),
        )
        .to_vec(),
        dev: std::os::unix::fs::MetadataExt::dev(&meta),
        ino: std::os::unix::fs::MetadataExt::ino(&meta),
        algorithms: ALGOS.to_vec(),
        collision_detection: true,
    }
}

#[test]
fn reuse_after_aging_and_stats() {
    let (dir, root) = small_tree_in_tempdir();
    let cache = HashCache::new(dir.path().join("c"));
    let first = scan(&cache, &root);
    assert_eq!(first.ids, fresh(&root));
    assert!(matches!(first.loaded, LoadStatus::Missing));
    assert!(matches!(first.saved, SaveStatus::Written));
    assert_eq!(first.stats.files_hashed, 5);
    assert_eq!(first.stats.symlinks, 1);
    assert_eq!(first.stats.trees_hashed, 4);

    // Just written: every file is too recent to be trusted, and is read again.
    let second = scan(&cache, &root);
    assert_eq!(second.ids, first.ids);
    assert!(
        matches!(second.loaded, LoadStatus::Used),
        "{:?}",
        second.loaded
    );
    assert_eq!(second.stats.files_racy, 5);
    assert_eq!(second.stats.files_reused, 0);

    // Aged: everything is reused, nothing is read, nothing is written.
    shift_scan_time(cache.path(), 10);
    let third = scan(&cache, &root);
    assert_eq!(third.ids, first.ids);
    assert_eq!(third.stats.files_reused, 5);
    assert_eq!(third.stats.files_hashed, 0);
    assert_eq!(third.stats.trees_reused, 4);
    assert_eq!(third.stats.trees_hashed, 0);
    assert!(matches!(third.saved, SaveStatus::Unchanged));

    // One change: one file read, its directories hashed again, the rest reused.
    settle();
    fs::write(root.join("sub/b"), b"BETA BETA\n").unwrap();
    let fourth = scan(&cache, &root);
    assert_eq!(fourth.ids, fresh(&root));
    assert_ne!(fourth.ids, first.ids);
    assert_eq!((fourth.stats.files_hashed, fourth.stats.files_racy), (1, 0));
    assert_eq!(fourth.stats.files_reused, 4);
    // `sub` and the root are hashed; `sub/deeper` and `empty` reused.
    assert_eq!(
        (fourth.stats.trees_hashed, fourth.stats.trees_reused),
        (2, 2)
    );
    assert!(matches!(fourth.saved, SaveStatus::Written));
}

/// A directory with more entries than `fs::levels::PARALLEL_ENTRIES` has them `statx`ed on several
/// threads: the same answers, stats and first error as on one.
#[test]
fn large_directories_on_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    let big = root.join("big");
    fs::create_dir_all(&big).unwrap();
    let n = crate::fs::levels::PARALLEL_ENTRIES + 500;
    for i in 0..n {
        write(
            &big.join(format!("f{i:05}")),
            format!("{i}\n").as_bytes(),
            0o644,
        );
    }
    symlink("f00000", big.join("link")).unwrap();
    fs::create_dir(big.join("sub")).unwrap();
    for threads in [0, 1] {
        let settings = Settings {
            threads,
            ..Settings::default()
        };
        let cache = HashCache::new(dir.path().join(format!("c{threads}")));
        let first = cache.run(&root, &ALGOS, &settings, None).unwrap();
        assert_eq!(first.ids, fresh(&root));
        shift_scan_time(cache.path(), 10);
        let reused = cache.run(&root, &ALGOS, &settings, None).unwrap();
        assert_eq!(reused.ids, first.ids);
        assert_eq!(reused.stats.files_reused, n as u64);
        assert_eq!(reused.stats.files_hashed, 0);
    }
    // One change among them is found, whichever thread stats it.
    settle();
    write(&big.join("f01234"), b"changed\n", 0o644);
    let cache = HashCache::new(dir.path().join("c0"));
    let after = scan(&cache, &root);
    assert_eq!(after.ids, fresh(&root));
    assert_eq!(after.stats.files_hashed, 1);
}

/// A change within the same timestamp tick leaves stat data as it was recorded. Forge exactly
/// that: the cache records the stat data the file has *after* the change, with the ids of the
/// content before it.
#[test]
fn racily_clean_entries_are_read_again() {
    let (dir, root) = small_tree_in_tempdir();
    let cache = HashCache::new(dir.path().join("c"));
    let before = scan(&cache, &root).ids;

    fs::write(root.join("a"), b"ALPHA\n").unwrap(); // same size
    let after = fresh(&root);
    assert_ne!(after, before);
    let stat_now = Stat::of(&fs::symlink_metadata(root.join("a")).unwrap());

    let identity = identity_of(&root);
    let loaded = format::load(cache.path(), &identity, u64::MAX, 100, true).unwrap();
    let mut table = loaded.table;
    let a = (0..table.nodes.len())
        .find(|&i| table.name(&table.nodes[i]) == b"a")
        .unwrap();
    table.set_file(a, format::Kind::File, &stat_now);
    let forge = |scan: Timestamp| {
        let mut out = Vec::new();
        format::write(&mut out, &identity, scan, &table).unwrap();
        fs::write(cache.path(), out).unwrap();
    };

    // The recorded stat data is as recent as the scan: racily clean, read again (as are the
    // other four files, written just before the scan).
    forge(loaded.scan);
    let got = scan(&cache, &root);
    assert_eq!(got.stats.files_racy, 5);
    assert_eq!(got.ids, after);

    // The control: the same lie, with the scan seconds later, is trusted (the stale ids come
    // back). This is what the racy rule prevents.
    forge(Timestamp {
        sec: stat_now.ctime.sec.max(stat_now.mtime.sec) + 3,
        nsec: 0,
    });
    let trusted = scan(&cache, &root);
    assert_eq!(trusted.stats.files_racy, 0);
    assert_eq!(trusted.ids, before);
}

#[test]
fn trusted_needs_two_whole_seconds() {
    let at = |sec, nsec| Timestamp { sec, nsec };
    let stat = |m: Timestamp, c: Timestamp| Stat {
        mtime: m,
        ctime: c,
        ..Stat::default()
    };
    let scan = at(100, 500);
    assert!(stat(at(98, 999_999_999), at(98, 0)).trusted(scan));
    assert!(!stat(at(99, 0), at(98, 0)).trusted(scan));
    assert!(!stat(at(98, 0), at(99, 0)).trusted(scan));
    assert!(!stat(at(100, 0), at(50, 0)).trusted(scan));
    // A timestamp from the future is never trusted.
    assert!(!stat(at(200, 0), at(200, 0)).trusted(scan));
    assert!(!stat(at(i64::MIN, 0), at(i64::MIN, 0)).trusted(at(i64::MIN, 0)));
}

/// A temporary directory holding [`small_tree`] at `t`.
fn small_tree_in_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    small_tree(&root);
    (dir, root)
}

/// A cached scan of `root` with every algorithm and the default settings.
fn scan(cache: &HashCache, root: impl AsRef<Path>) -> Outcome {
    cache.hash_git(root, &ALGOS, &Settings::default()).unwrap()
}

fn expect_rebuilt(out: &Outcome, what: &str) -> String {
    match &out.loaded {
        LoadStatus::Rebuilt(reason) => reason.to_string(),
        other => panic!("{what}: expected a rebuild, got {other:?}"),
    }
}

#[test]
fn foreign_files_are_left_alone() {
    let (dir, root) = small_tree_in_tempdir();
    let expected = fresh(&root);
    let file = dir.path().join("notes.txt");
    fs::write(&file, "a user's notes, not a cache\n").unwrap();
    let cache = HashCache::new(&file);
    // A file that is not a cache, and a directory, are refused and left as they are.
    let refused = |target: &Path| match HashCache::new(target).hash_git(
        &root,
        &ALGOS,
        &Settings::default(),
    ) {
        Err(CacheError::Foreign { reason, .. }) => reason.to_string(),
        other => panic!("{}: expected a refusal, got {other:?}", target.display()),
    };
    assert_eq!(refused(&file), InvalidCache::Magic.to_string());
    assert_eq!(fs::read(&file).unwrap(), b"a user's notes, not a cache\n");
    assert_eq!(refused(dir.path()), InvalidCache::NotAFile.to_string());
    // An empty file holds nothing to lose; told to, a foreign file is replaced.
    fs::write(&file, "").unwrap();
    assert_eq!(scan(&cache, &root).ids, expected);
    fs::write(&file, "notes").unwrap();
    let out = scan(&cache.clone().replace_foreign(true), &root);
    assert_eq!(
        expect_rebuilt(&out, "foreign"),
        "not a nix-ingest cache file"
    );
    assert_eq!(out.ids, expected);
    assert!(matches!(scan(&cache, &root).loaded, LoadStatus::Used));
}

#[test]
fn damaged_files_are_rebuilt_or_refused() {
    let (dir, root) = small_tree_in_tempdir();
    let expected = fresh(&root);
    let cache = HashCache::new(dir.path().join("c")).replace_foreign(true);
    scan(&cache, &root);
    shift_scan_time(cache.path(), 10);
    let good = fs::read(cache.path()).unwrap();
    assert!(matches!(scan(&cache, &root).loaded, LoadStatus::Used));
    let strict = cache.clone().strict(true).read_only(true);

    // Every truncation.
    for len in 0..good.len() {
        fs::write(cache.path(), &good[..len]).unwrap();
        let e = strict
            .hash_git(&root, &ALGOS, &Settings::default())
            .unwrap_err();
        assert!(matches!(e, CacheError::Invalid { .. }), "{len}: {e}");
        let out = scan(&cache.clone().read_only(true), &root);
        expect_rebuilt(&out, "truncated");
        assert_eq!(out.ids, expected);
    }
    // A flipped bit in every byte.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 1 << (i % 8);
        fs::write(cache.path(), &bad).unwrap();
        assert!(
            strict
                .hash_git(&root, &ALGOS, &Settings::default())
                .is_err(),
            "byte {i}"
        );
        let out = scan(&cache.clone().read_only(true), &root);
        expect_rebuilt(&out, "bit flip");
        assert_eq!(out.ids, expected);
    }
    // Rebuilt, the cache is whole again.
    fs::write(cache.path(), &good[..good.len() / 2]).unwrap();
    let out = scan(&cache, &root);
    assert!(matches!(out.saved, SaveStatus::Written));
    assert!(matches!(scan(&cache, &root).loaded, LoadStatus::Used));
}

#[test]
fn caches_for_something_else_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    small_tree(&a);
    small_tree(&b);
    fs::write(b.join("a"), b"other\n").unwrap();
    let cache = HashCache::new(dir.path().join("c")).replace_foreign(true);
    scan(&cache, &a);
    shift_scan_time(cache.path(), 10);

    let out = scan(&cache.clone().read_only(true), &b);
    assert_eq!(
        expect_rebuilt(&out, "other root"),
        "written for another root"
    );
    assert_eq!(out.ids, fresh(&b));

    let out = cache
        .clone()
        .read_only(true)
        .hash_git(&a, &[Algorithm::Sha1], &Settings::default())
        .unwrap();
    assert_eq!(
        expect_rebuilt(&out, "algorithms"),
        "written for other hash algorithms"
    );
    assert_eq!(out.ids, fresh(&a)[..1]);

    // Written without collision detection: not trusted with it; the other way round is fine.
    let plain = Settings {
        collision_detection: false,
        ..Settings::default()
    };
    let out = cache.run(&a, &ALGOS, &plain, None).unwrap();
    assert!(matches!(out.loaded, LoadStatus::Used));
    shift_scan_time(cache.path(), 10);
    cache.run(&a, &ALGOS, &plain, None).unwrap();
    fs::write(a.join("new"), "x").unwrap();
    let out = cache.run(&a, &ALGOS, &plain, None).unwrap();
    assert!(matches!(out.saved, SaveStatus::Written));
    let out = scan(&cache.clone().read_only(true), &a);
    assert_eq!(
        expect_rebuilt(&out, "detection"),
        "written without SHA-1 collision detection"
    );

    // A newer layout version.
    let mut bytes = fs::read(cache.path()).unwrap();
    bytes[format::MAGIC.len()] = 2;
    fs::write(cache.path(), &bytes).unwrap();
    let out = scan(&cache, &a);
    assert_eq!(
        expect_rebuilt(&out, "version"),
        "layout version 2, expected 1"
    );

    // Writable by others.
    fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o666)).unwrap();
    let out = scan(&cache.clone().read_only(true), &a);
    assert_eq!(
        expect_rebuilt(&out, "permissions"),
        "writable by group or others (mode 666)"
    );
    fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o600)).unwrap();

    // Over the size cap: neither read nor written.
    let small = cache.clone().max_size(100);
    let out = scan(&small, &a);
    assert!(expect_rebuilt(&out, "cap").contains("over the cache size cap of 100 bytes"));
    assert!(matches!(out.saved, SaveStatus::TooLarge { max: 100, .. }));
    assert_eq!(out.ids, fresh(&a));

    // Not a file: a directory, a FIFO (never blocks).
    let d = HashCache::new(dir.path().join("dir")).replace_foreign(true);
    fs::create_dir(d.path()).unwrap();
    let out = scan(&d, &a);
    assert_eq!(expect_rebuilt(&out, "dir"), "not a regular file");
    assert!(matches!(out.saved, SaveStatus::Failed(_)));
    let fifo = dir.path().join("fifo");
    crate::fs::tests::make_fifo(&fifo);
    let out = HashCache::new(&fifo)
        .replace_foreign(true)
        .read_only(true)
        .hash_git(&a, &ALGOS, &Settings::default())
        .unwrap();
    assert_eq!(expect_rebuilt(&out, "fifo"), "not a regular file");
    assert_eq!(out.ids, fresh(&a));

    // Inside the tree it describes.
    let inside = HashCache::new(a.join("sub/cache"));
    assert!(matches!(
        inside.hash_git(&a, &ALGOS, &Settings::default()),
        Err(CacheError::InsideTree { .. })
    ));
}

/// Parsing a file whose checksum is right but whose bytes are anything: never a panic, never an
/// allocation beyond the file's size.
#[test]
fn parsing_hostile_bytes_is_bounded() {
    let (dir, root) = small_tree_in_tempdir();
    let cache = HashCache::new(dir.path().join("c"));
    scan(&cache, &root);
    let identity = identity_of(&root);
    let good = fs::read(cache.path()).unwrap();
    assert!(format::parse(good.clone(), &identity, 100, true).is_ok());
    let sealed = |mut b: Vec<u8>| {
        let body = b.len() - 32;
        let sum = sha2::Sha256::digest(&b[..body]);
        b[body..].copy_from_slice(&sum);
        b
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut bad = good.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % (good.len() - 32);
            match next() % 3 {
                0 => bad[i] ^= 1 << (next() % 8),
                1 => bad[i] = 0xff,
                _ => bad[i] = 0,
            }
        }
        if format::parse(sealed(bad), &identity, 100, false).is_ok() {
            accepted += 1;
        }
    }
    // Most damage is caught by the layout checks themselves (what is accepted changed only
    // stat data or ids, which the format cannot tell from real ones).
    assert!(accepted < 20_000);
    // A huge node count is refused before anything is allocated for it.
    let count_at =
        format::MAGIC.len() + 4 + 4 + 12 + 16 + 1 + ALGOS.len() + 4 + identity.root.len();
    let mut bad = good.clone();
    bad[count_at..count_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    match format::parse(sealed(bad), &identity, 100, false) {
        Err(InvalidCache::Malformed { offset, what }) => {
            assert_eq!(
                (offset, what),
                (count_at + 8, "node count larger than the file")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_writers_leave_a_valid_cache() {
    let (dir, root) = small_tree_in_tempdir();
    for i in 0..50 {
        write(
            &root.join(format!("f{i}")),
            format!("{i}").as_bytes(),
            0o644,
        );
    }
    let expected = fresh(&root);
    let cache = HashCache::new(dir.path().join("c"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..15 {
                    let out = scan(&cache, &root);
                    assert_eq!(out.ids, expected);
                    assert!(
                        matches!(out.loaded, LoadStatus::Used | LoadStatus::Missing),
                        "{:?}",
                        out.loaded
                    );
                    assert!(!matches!(out.saved, SaveStatus::Failed(_)));
                }
            });
        }
    });
    assert!(matches!(scan(&cache, &root).loaded, LoadStatus::Used));
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn one_pass_with_a_nar_hash() {
    use crate::nar::NarHasher;
    let (dir, root) = small_tree_in_tempdir();
    let cache = HashCache::new(dir.path().join("c"));
    let nar_fresh = crate::Options::default()
        .hash_path(
            &root,
            crate::Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
        )
        .unwrap();
    for round in 0..3 {
        let mut nar = NarHasher::new(Algorithm::Sha256);
        let out = cache
            .hash_git_with_sink(&root, &ALGOS, &Settings::default(), &mut nar)
            .unwrap();
        assert_eq!(out.ids, fresh(&root), "round {round}");
        assert_eq!(nar.finish().unwrap(), nar_fresh, "round {round}");
        if round == 1 {
            assert_eq!(out.stats.files_reused, 5);
        }
        shift_scan_time(cache.path(), 10);
    }
}

#[test]
fn roots_that_are_not_directories() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write(&file, b"Hello World!\n", 0o755);
    let link = dir.path().join("l");
    symlink("foo", &link).unwrap();
    for root in [&file, &link] {
        let cache = HashCache::new(dir.path().join("c"));
        for _ in 0..2 {
            let out = scan(&cache, root);
            assert_eq!(out.ids, fresh(root));
            shift_scan_time(cache.path(), 10);
        }
        let strict = Settings {
            strict_root: true,
            ..Settings::default()
        };
        let e = cache.run(root, &ALGOS, &strict, None).unwrap_err();
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text += &format!(": {c}");
            cause = c.source();
        }
        assert!(text.contains("strict"), "{text}");
        fs::remove_file(cache.path()).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The property: random trees, random sequences of changes, cached == fresh.
// ---------------------------------------------------------------------------------------------

const NAMES: &[&str] = &["a", "a-", "a.b", "a0", "b", "x y", "\u{e9}", "z"];

#[derive(Debug, Clone)]
enum Change {
    /// New content of the same size, the mtime put back.
    SameSize(usize, u8),
    /// New content of another size.
    Rewrite(usize, u8),
    /// Toggle the owner-execute bit.
    Chmod(usize),
    /// Only the mtime changes.
    Touch(usize),
    /// Point a symlink elsewhere (or turn the entry into one).
    Retarget(usize, usize),
    /// Replace the entry by a directory holding a file.
    ToDirectory(usize),
    /// Replace the entry by a regular file.
    ToFile(usize, u8),
    /// Remove the entry.
    Remove(usize),
    /// Add an entry to a directory.
    Add(usize, usize, u8),
    /// Replace a file by a new one with the same size, mtime and (if the file system reuses it)
    /// inode.
    Replace(usize, u8),
}

fn change() -> impl Strategy<Value = Change> {
    let i = 0..64usize;
    prop_oneof![
        (i.clone(), any::<u8>()).prop_map(|(i, b)| Change::SameSize(i, b)),
        (i.clone(), any::<u8>()).prop_map(|(i, b)| Change::Rewrite(i, b)),
        i.clone().prop_map(Change::Chmod),
        i.clone().prop_map(Change::Touch),
        (i.clone(), 0..NAMES.len()).prop_map(|(i, t)| Change::Retarget(i, t)),
        i.clone().prop_map(Change::ToDirectory),
        (i.clone(), any::<u8>()).prop_map(|(i, b)| Change::ToFile(i, b)),
        i.clone().prop_map(Change::Remove),
        (i.clone(), 0..NAMES.len(), any::<u8>()).prop_map(|(i, n, b)| Change::Add(i, n, b)),
        (i, any::<u8>()).prop_map(|(i, b)| Change::Replace(i, b)),
    ]
}

/// Every entry under `root` (not the root), in a stable order.
fn entries(root: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    all.sort();
    all
}

fn remove(p: &Path) {
    if fs::symlink_metadata(p).unwrap().is_dir() {
        fs::remove_dir_all(p).unwrap();
    } else {
        fs::remove_file(p).unwrap();
    }
}

fn apply(root: &Path, change: &Change) {
    let all = entries(root);
    let pick = |i: usize| all.get(i % all.len().max(1)).cloned();
    let is_file = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    match *change {
        Change::SameSize(i, b) | Change::Replace(i, b) => {
            let Some(p) = pick(i).filter(|p| is_file(p)) else {
                return;
            };
            let meta = fs::metadata(&p).unwrap();
            let mut data = fs::read(&p).unwrap();
            data.iter_mut().for_each(|x| *x = x.wrapping_add(b | 1));
            if matches!(change, Change::Replace(..)) {
                // A new file in its place: the freed inode is usually the next one given out.
                let tmp = p.with_file_name(".replacement");
                fs::remove_file(&p).unwrap();
                fs::write(&tmp, &data).unwrap();
                fs::set_permissions(&tmp, meta.permissions()).unwrap();
                fs::rename(&tmp, &p).unwrap();
            } else {
                fs::write(&p, &data).unwrap();
            }
            let f = fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(meta.modified().unwrap()).unwrap();
        }
        Change::Rewrite(i, b) => {
            if let Some(p) = pick(i).filter(|p| is_file(p)) {
                let mut data = fs::read(&p).unwrap();
                data.push(b);
                fs::write(&p, data).unwrap();
            }
        }
        Change::Chmod(i) => {
            if let Some(p) = pick(i).filter(|p| is_file(p)) {
                let mode = fs::metadata(&p).unwrap().permissions().mode();
                fs::set_permissions(&p, fs::Permissions::from_mode(mode ^ 0o100)).unwrap();
            }
        }
        Change::Touch(i) => {
            if let Some(p) = pick(i).filter(|p| is_file(p)) {
                let f = fs::File::options().write(true).open(&p).unwrap();
                f.set_modified(std::time::SystemTime::now()).unwrap();
            }
        }
        Change::Retarget(i, t) => {
            if let Some(p) = pick(i) {
                remove(&p);
                symlink(NAMES[t], &p).unwrap();
            }
        }
        Change::ToDirectory(i) => {
            if let Some(p) = pick(i) {
                remove(&p);
                fs::create_dir(&p).unwrap();
                fs::write(p.join("inner"), "inner").unwrap();
            }
        }
        Change::ToFile(i, b) => {
            if let Some(p) = pick(i) {
                remove(&p);
                fs::write(&p, [b; 3]).unwrap();
            }
        }
        Change::Remove(i) => {
            if let Some(p) = pick(i) {
                remove(&p);
            }
        }
        Change::Add(i, n, b) => {
            let dirs: Vec<PathBuf> = std::iter::once(root.to_path_buf())
                .chain(
                    all.iter()
                        .filter(|p| fs::symlink_metadata(p).unwrap().is_dir())
                        .cloned(),
                )
                .collect();
            let d = &dirs[i % dirs.len()];
            let p = d.join(NAMES[n]);
            if fs::symlink_metadata(&p).is_err() {
                write(
                    &p,
                    &vec![b; usize::from(b) * 37],
                    if b % 2 == 0 { 0o644 } else { 0o755 },
                );
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Spec {
    File(Vec<u8>, bool),
    Link(usize),
    Dir(Vec<(usize, Spec)>),
}

fn spec() -> impl Strategy<Value = Spec> {
    let leaf = prop_oneof![
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(d, x)| Spec::File(d, x)),
        (0..NAMES.len()).prop_map(Spec::Link),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        proptest::collection::vec((0..NAMES.len(), inner), 0..6).prop_map(Spec::Dir)
    })
}

fn build(path: &Path, spec: &Spec) {
    match spec {
        Spec::File(data, exec) => write(path, data, if *exec { 0o755 } else { 0o644 }),
        Spec::Link(t) => symlink(NAMES[*t], path).unwrap(),
        Spec::Dir(children) => {
            fs::create_dir(path).unwrap();
            for (n, child) in children {
                let p = path.join(NAMES[*n]);
                if fs::symlink_metadata(&p).is_err() {
                    build(&p, child);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn cached_equals_fresh(
        root_spec in proptest::collection::vec((0..NAMES.len(), spec()), 0..8),
        changes in proptest::collection::vec(proptest::collection::vec(change(), 1..4), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        build(&root, &Spec::Dir(root_spec));
        let cache = HashCache::new(dir.path().join("c"));
        let first = scan(&cache, &root);
        prop_assert_eq!(&first.ids, &fresh(&root));
        for step in &changes {
            // Trust everything recorded so far, then change the tree after a pause.
            shift_scan_time(cache.path(), 10);
            settle();
            for c in step {
                apply(&root, c);
            }
            let out = scan(&cache, &root);
            prop_assert!(matches!(out.loaded, LoadStatus::Used));
            prop_assert_eq!(&out.ids, &fresh(&root), "after {:?}", step);
        }
    }
}
