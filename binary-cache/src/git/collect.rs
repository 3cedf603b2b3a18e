//! Collection: paths not kept lose their refs, then git prunes what nothing reaches.

use super::*;

/// A kept path as a collection sees it.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    commit: Hash,
    nar_size: u64,
}

impl Inner {
    /// Every path's commit, as [`gc`](crate::gc) ranks them.
    #[allow(clippy::type_complexity)]
    pub(super) fn scan(
        &self,
    ) -> io::Result<(BTreeMap<String, crate::gc::Entry>, BTreeMap<String, Kept>)> {
        let paths = self.refs_under(PATHS)?;
        let ids: Vec<String> = paths.values().map(hex).collect();
        let commits = self.path_commits(&ids)?;
        let mut entries = BTreeMap::new();
        let mut kept = BTreeMap::new();
        for ((hash_part, _), commit) in paths.iter().zip(commits) {
            let Some(commit) = commit else { continue };
            let info = NarInfo::parse(&commit.narinfo, &self.store_dir).map_err(|e| {
                bad(format!(
                    "the narinfo of {hash_part}: {}",
                    crate::refusal::chain(&e)
                ))
            })?;
            let accessed = std::fs::metadata(self.access_file(hash_part))
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            entries.insert(
                hash_part.clone(),
                crate::gc::Entry {
                    references: crate::gc::references_of(&info, hash_part),
                    nar: info.nar_hash.encode(Format::Nix32),
                    narinfo_size: commit.narinfo.len() as u64,
                    accessed,
                },
            );
            kept.insert(
                hash_part.clone(),
                Kept {
                    commit: commit.id,
                    nar_size: info.nar_size,
                },
            );
        }
        Ok((entries, kept))
    }

    pub(super) fn collect(
        &self,
        policy: crate::gc::Policy,
        dry_run: bool,
        prune_expire: &str,
    ) -> io::Result<crate::gc::Report> {
        let now = SystemTime::now();
        let (entries, paths) = self.scan()?;
        let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
        for (h, e) in &entries {
            sizes.insert(e.nar.clone(), paths[h].nar_size);
        }
        let mut kept = crate::gc::choose(&entries, policy, now, |nar| {
            sizes.get(nar).copied().unwrap_or(0)
        });
        let _lock = if dry_run {
            None
        } else {
            Some(PublishLock::acquire(&self.repo)?)
        };
        let (entries, paths) = if dry_run {
            (entries, paths)
        } else {
            let (now_entries, now_paths) = self.scan()?;
            for hash in now_entries.keys() {
                if !entries.contains_key(hash) {
                    let added = crate::gc::close(&now_entries, &kept, hash);
                    kept.extend(added);
                }
            }
            for (h, e) in &now_entries {
                sizes.insert(e.nar.clone(), now_paths[h].nar_size);
            }
            (now_entries, now_paths)
        };
        let mut report = crate::gc::Report::default();
        let mut kept_nars: BTreeMap<&str, Hash> = BTreeMap::new();
        let mut removed_commits = BTreeSet::new();
        let mut lines = String::new();
        for (hash, entry) in &entries {
            if kept.contains(hash) {
                report.kept += 1;
                report.remaining += entry.narinfo_size;
                kept_nars.insert(entry.nar.as_str(), paths[hash].commit);
            } else {
                report.freed += entry.narinfo_size;
                report.removed.insert(hash.clone());
                removed_commits.insert(hex(&paths[hash].commit));
                lines.push_str(&format!(
                    "delete {PATHS}{hash} {}\n",
                    hex(&paths[hash].commit)
                ));
            }
        }
        let removed_nars: BTreeSet<&str> = entries
            .iter()
            .filter(|(h, e)| report.removed.contains(*h) && !kept_nars.contains_key(e.nar.as_str()))
            .map(|(_, e)| e.nar.as_str())
            .collect();
        report.freed += removed_nars.iter().map(|n| sizes[*n]).sum::<u64>();
        report.remaining += kept_nars.keys().map(|n| sizes[*n]).sum::<u64>();
        // A NAR's ref follows a kept path with that NAR, or goes.
        for (nar, commit) in self.refs_under(NARS)? {
            if !removed_commits.contains(&hex(&commit)) {
                continue;
            }
            match kept_nars.get(nar.as_str()) {
                Some(other) => lines.push_str(&format!(
                    "update {NARS}{nar} {} {}\n",
                    hex(other),
                    hex(&commit)
                )),
                None => lines.push_str(&format!("delete {NARS}{nar} {}\n", hex(&commit))),
            }
        }
        for (name, commit) in self.refs_under(UPLOADS)? {
            if removed_commits.contains(&hex(&commit)) {
                lines.push_str(&format!("delete {UPLOADS}{name} {}\n", hex(&commit)));
            }
        }
        // Listings and realisations go with their path.
        let objects = self.refs_under(OBJECTS)?;
        let mut realisations = Vec::new();
        for (key, blob) in &objects {
            if let Some(hash) = key.strip_suffix(".ls") {
                if report.removed.contains(hash) {
                    lines.push_str(&format!("delete {OBJECTS}{key} {}\n", hex(blob)));
                }
            } else if key.starts_with("realisations/") {
                realisations.push((key, blob));
            }
        }
        let blobs: Vec<String> = realisations.iter().map(|(_, b)| hex(b)).collect();
        for ((key, blob), answer) in realisations.iter().zip(self.cat(&blobs)?) {
            let Some((_, _, bytes)) = answer else {
                continue;
            };
            let realisation: nix_ingest::realisation::Realisation =
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("{OBJECTS}{key}: {e}")))?;
            if report
                .removed
                .contains(&realisation.out_path.hash_part().to_string())
            {
                report.freed += bytes.len() as u64;
                lines.push_str(&format!("delete {OBJECTS}{key} {}\n", hex(blob)));
            }
        }
        if dry_run {
            return Ok(report);
        }
        self.update_refs(&lines)?;
        for hash in &report.removed {
            let _ = std::fs::remove_file(self.access_file(hash));
        }
        let prune = format!("--prune={prune_expire}");
        let _packing = pack_lock(&self.repo)?;
        self.git(&["gc", "--quiet", &prune], None)?;
        Ok(report)
    }
}

impl GitStorage {
    /// Collects the repository: removes the refs of the paths `policy` does not keep (every
    /// kept path's closure is kept), with their listings and realisations, then runs
    /// `git gc --prune=<prune_expire>` (git's approxidate: `now`, `1.hour.ago`…). Sizes are NAR
    /// sizes (uncompressed; objects are shared between paths, so a path has no size of its own
    /// on disk). `dry_run` only reports. Safe while the service runs, as the directory's
    /// collection: it holds the publication lock.
    pub fn collect(
        &self,
        policy: crate::gc::Policy,
        dry_run: bool,
        prune_expire: &str,
    ) -> io::Result<crate::gc::Report> {
        if prune_expire.starts_with('-') || prune_expire.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad expiry {prune_expire:?}"),
            ));
        }
        self.inner.collect(policy, dry_run, prune_expire)
    }

    /// Packs the repository now (see [`pack`]).
    pub fn pack(&self) -> io::Result<()> {
        pack(&self.inner.repo)
    }
}
