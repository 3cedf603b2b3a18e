//! Garbage collection of a cache directory: `nix-ingest-binary-cache gc`.
//!
//! Paths are ranked by their last access, which the service records in the modification time of
//! each narinfo: set when the path is published, and again when the narinfo is served (at most
//! once an hour per narinfo). Not the access time: any read would change it (the collector's
//! own), and mount options decide whether it is kept at all; the modification time changes only
//! when the service says so (a narinfo's bytes never change once published). A policy chooses the
//! paths to keep — those read within some days ([`Policy::OlderThan`]), or the most recently read
//! that fit in a size ([`Policy::MaxSize`]) — and every path they refer to, directly or not, is
//! kept with them: the cache stays closed under references. The rest is removed, each narinfo
//! before its NAR file, and a NAR file only once no kept narinfo names it. A removed path's NAR
//! listing (`<hash part>.ls`) goes with its narinfo, and so does every realisation
//! (`realisations/<id>.doi`) whose output it was. (Listings and realisations are not counted in
//! the sizes a policy ranks by.)
//!
//! Safe while the service runs: removal happens under the publication lock (`<dir>/.publish.lock`),
//! the same one the service holds while it publishes a path after checking, again, that the
//! path's references and NAR file are still there. Paths published while the collector was
//! ranking are found when it takes the lock, and kept with their closures. So no published
//! narinfo ever names a missing NAR file or reference. (A reader that fetched a narinfo just
//! before its removal may then miss its NAR file, as with any cache that removes anything.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix_ingest::narinfo::NarInfo;
use nix_ingest::store_path::StoreDir;

use crate::names;

/// The lock held while publishing or removing.
pub const PUBLISH_LOCK: &str = ".publish.lock";

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Keep the most recently accessed paths whose closures fit in this many bytes (NAR files
    /// and narinfos).
    MaxSize(u64),
    /// Keep the paths accessed within this long.
    OlderThan(Duration),
}

/// What a collection did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The store paths removed, by hash part.
    pub removed: BTreeSet<String>,
    /// The paths kept.
    pub kept: usize,
    /// Bytes freed (NAR files and narinfos).
    pub freed: u64,
    /// Bytes the kept paths take.
    pub remaining: u64,
}

/// The exclusive publication lock of a cache directory, held while it lives.
#[derive(Debug)]
pub struct PublishLock {
    _file: File,
}

impl PublishLock {
    /// Waits for and takes the publication lock of the cache in `root`.
    pub fn acquire(root: &Path) -> io::Result<PublishLock> {
        Ok(PublishLock {
            _file: crate::lock::exclusive(&root.join(PUBLISH_LOCK), true)?,
        })
    }
}

/// A published path, as a collection ranks it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The hash parts it refers to (itself excluded).
    pub(crate) references: Vec<String>,
    /// Its NAR (a file name, or any key naming the NAR it shares with other paths).
    pub(crate) nar: String,
    /// The size of its narinfo.
    pub(crate) narinfo_size: u64,
    /// When it was last read.
    pub(crate) accessed: SystemTime,
}

/// The hash parts the path `hash_part` described by `info` refers to, itself excluded: what a
/// collection keeps with it, for every storage.
pub(crate) fn references_of(info: &NarInfo, hash_part: &str) -> Vec<String> {
    info.references
        .iter()
        .map(|r| r.hash_part().to_string())
        .filter(|r| r != hash_part)
        .collect()
}

fn io_error(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// The store directory a cache directory is for, from its `nix-cache-info`.
fn store_dir(root: &Path) -> io::Result<StoreDir> {
    let path = root.join("nix-cache-info");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("StoreDir:"))
        .ok_or_else(|| io_error(&path, "no StoreDir line"))?;
    StoreDir::new(dir.trim().to_owned()).map_err(|e| io_error(&path, e))
}

/// Every published narinfo, by hash part.
fn scan(root: &Path, store: &StoreDir) -> io::Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    for dirent in std::fs::read_dir(root)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(hash_part) = name.to_str().and_then(|n| names::narinfo_hash_part(n).ok()) else {
            continue;
        };
        let path = dirent.path();
        let (text, meta) = match std::fs::read(&path).and_then(|t| Ok((t, dirent.metadata()?))) {
            Ok(x) => x,
            // Removed meanwhile (by an earlier collector that died): nothing to rank.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let info = NarInfo::parse_bytes(&text, store).map_err(|e| io_error(&path, e))?;
        // Only ever a name this cache makes (it checked it on upload): never a path elsewhere.
        if info
            .url
            .strip_prefix("nar/")
            .is_none_or(|n| names::NarFile::parse(n).is_err())
        {
            return Err(io_error(
                &path,
                format!("URL {:?} is not nar/<file>", info.url),
            ));
        }
        entries.insert(
            hash_part.to_owned(),
            Entry {
                references: references_of(&info, hash_part),
                nar: info.url.clone(),
                narinfo_size: meta.len(),
                accessed: meta.modified()?,
            },
        );
    }
    Ok(entries)
}

fn file_size(root: &Path, relative: &str) -> u64 {
    std::fs::metadata(root.join(relative)).map_or(0, |m| m.len())
}

/// Adds `start` and everything it refers to (that is in `entries`) to `kept`; returns the hash
/// parts added.
pub(crate) fn close(
    entries: &BTreeMap<String, Entry>,
    kept: &BTreeSet<String>,
    start: &str,
) -> Vec<String> {
    let mut added = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_owned()];
    while let Some(h) = stack.pop() {
        if kept.contains(&h) || !seen.insert(h.clone()) {
            continue;
        }
        let Some(entry) = entries.get(&h) else {
            continue;
        };
        stack.extend(entry.references.iter().cloned());
        added.push(h);
    }
    added
}

/// The paths a policy keeps, closed under references; `nar_size` gives the bytes of a NAR.
pub(crate) fn choose(
    entries: &BTreeMap<String, Entry>,
    policy: Policy,
    now: SystemTime,
    nar_size: impl Fn(&str) -> u64,
) -> BTreeSet<String> {
    let mut by_access: Vec<(&String, &Entry)> = entries.iter().collect();
    by_access.sort_by(|a, b| b.1.accessed.cmp(&a.1.accessed).then(a.0.cmp(b.0)));
    let mut kept = BTreeSet::new();
    let mut nars = BTreeSet::new();
    let mut size = 0u64;
    for (hash, entry) in by_access {
        match policy {
            Policy::OlderThan(age) => {
                if now.duration_since(entry.accessed).unwrap_or_default() <= age {
                    let added = close(entries, &kept, hash);
                    kept.extend(added);
                }
            }
            Policy::MaxSize(budget) => {
                let added = close(entries, &kept, hash);
                let mut extra = 0u64;
                let mut new_nars = BTreeSet::new();
                for h in &added {
                    let e = &entries[h];
                    extra += e.narinfo_size;
                    if !nars.contains(&e.nar) && new_nars.insert(e.nar.clone()) {
                        extra += nar_size(&e.nar);
                    }
                }
                // A closure that does not fit is skipped; older, smaller ones may still fit.
                if size + extra <= budget {
                    size += extra;
                    kept.extend(added);
                    nars.extend(new_nars);
                }
            }
        }
    }
    kept
}

/// Collects the cache in `root` (see the [module docs](self)); `dry_run` only reports.
pub fn collect(root: &Path, policy: Policy, dry_run: bool) -> io::Result<Report> {
    let store = store_dir(root)?;
    let now = SystemTime::now();
    let entries = scan(root, &store)?;
    let mut kept = choose(&entries, policy, now, |nar| file_size(root, nar));
    let _lock = if dry_run {
        None
    } else {
        Some(PublishLock::acquire(root)?)
    };
    // Published while we ranked: kept, with their closures.
    let entries = if dry_run {
        entries
    } else {
        let now_entries = scan(root, &store)?;
        for hash in now_entries.keys() {
            if !entries.contains_key(hash) {
                let added = close(&now_entries, &kept, hash);
                kept.extend(added);
            }
        }
        now_entries
    };
    let mut report = Report::default();
    let kept_nars: BTreeSet<&str> = kept
        .iter()
        .filter_map(|h| entries.get(h))
        .map(|e| e.nar.as_str())
        .collect();
    let mut doomed_nars = BTreeSet::new();
    for (hash, entry) in &entries {
        if kept.contains(hash) {
            report.kept += 1;
            report.remaining += entry.narinfo_size;
            continue;
        }
        // The path's NAR listing goes with it (first: a listing without its narinfo is never
        // served as if the path were there).
        let listing = format!("{hash}.ls");
        report.freed += file_size(root, &listing);
        if !dry_run {
            for name in [listing, format!("{hash}.narinfo")] {
                match std::fs::remove_file(root.join(name)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        report.freed += entry.narinfo_size;
        report.removed.insert(hash.clone());
        if !kept_nars.contains(entry.nar.as_str()) {
            doomed_nars.insert(entry.nar.clone());
        }
    }
    report.freed += remove_realisations(root, &report.removed, dry_run)?;
    if !dry_run {
        sync_dir(root)?;
    }
    for nar in &doomed_nars {
        report.freed += file_size(root, nar);
        if !dry_run {
            match std::fs::remove_file(root.join(nar)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    report.remaining += kept_nars.iter().map(|n| file_size(root, n)).sum::<u64>();
    Ok(report)
}

/// Removes the realisations (`realisations/<id>.doi`) whose output is among the `removed` paths
/// (hash parts); returns the bytes they took.
fn remove_realisations(root: &Path, removed: &BTreeSet<String>, dry_run: bool) -> io::Result<u64> {
    let dir = root.join("realisations");
    let dirents = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut freed = 0;
    for dirent in dirents {
        let dirent = dirent?;
        let path = dirent.path();
        if path.extension().is_none_or(|e| e != "doi") {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let realisation: nix_ingest::realisation::Realisation =
            serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e))?;
        if removed.contains(&realisation.out_path.hash_part().to_string()) {
            freed += bytes.len() as u64;
            if !dry_run {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
    }
    if !dry_run && freed > 0 {
        sync_dir(&dir)?;
    }
    Ok(freed)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Records that the narinfo at `path` was read now (as its modification time), unless that was
/// recorded within the last hour (so that a busy path costs one write an hour, not one a
/// request).
pub fn touch(path: &PathBuf) -> io::Result<()> {
    let now = SystemTime::now();
    let file = File::options().write(true).open(path)?;
    let accessed = file.metadata()?.modified()?;
    if now.duration_since(accessed).unwrap_or_default() < Duration::from_secs(3600) {
        return Ok(());
    }
    file.set_times(std::fs::FileTimes::new().set_modified(now))
}
