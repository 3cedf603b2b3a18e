//! Replication over git's own transport: fetch into quarantine, verify again, publish.

use super::*;

/// What [`GitStorage::replicate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicated {
    /// The paths verified and published, by hash part.
    pub published: Vec<String>,
    /// How many were here already.
    pub already: usize,
    /// The paths refused, by hash part, with the reason.
    pub refused: Vec<(String, String)>,
}

impl GitStorage {
    /// Fetches the paths of another git cache (`from`: a URL or a path git can fetch from) into
    /// `refs/nix-quarantine/nix/`, verifies each one again as an upload would be — its narinfo
    /// (content address or a signature by a key `config` trusts), its commit rebuilt from the
    /// narinfo and compared, its NAR rebuilt from the fetched tree and checked against
    /// `NarHash`, `NarSize` and the content address — references first, and publishes the
    /// verified ones. Quarantined refs are removed either way.
    pub async fn replicate(&self, config: &crate::Config, from: &str) -> io::Result<Replicated> {
        if from.starts_with('-') || from.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad source {from:?}"),
            ));
        }
        let inner = Arc::clone(&self.inner);
        let from = from.to_owned();
        let (quarantined, mut local) = blocking(move || {
            inner.git(
                &[
                    "-c",
                    "transfer.fsckObjects=true",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    &from,
                    &format!("+{PATHS}*:{QUARANTINE}*"),
                ],
                None,
            )?;
            Ok((inner.refs_under(QUARANTINE)?, inner.refs_under(PATHS)?))
        })
        .await?;
        let inner = &self.inner;
        let mut report = Replicated::default();
        let mut pending = BTreeMap::new();
        let ids: Vec<String> = quarantined.values().map(hex).collect();
        let answers = inner.cat(&ids)?;
        for ((hash_part, id), answer) in quarantined.iter().zip(answers) {
            if local.contains_key(hash_part) {
                report.already += 1;
                inner.update_refs(&format!("delete {QUARANTINE}{hash_part} {}\n", hex(id)))?;
                continue;
            }
            // Each fetched commit on its own: one that is no path's commit is refused alone.
            let parsed = match answer {
                Some((id, kind, body)) if kind == "commit" => {
                    parse_commit(inner.algorithm, id, &body).and_then(|c| {
                        let info = NarInfo::parse(&c.narinfo, &inner.store_dir)
                            .map_err(|e| bad(crate::refusal::chain(&e)))?;
                        Ok((c, info))
                    })
                }
                Some((_, kind, _)) => Err(bad(format!("the fetched ref names a {kind}"))),
                None => Err(bad("the fetched commit is missing")),
            };
            match parsed {
                Ok(p) => {
                    pending.insert(hash_part.clone(), p);
                }
                Err(e) => {
                    report.refused.push((hash_part.clone(), e.to_string()));
                    inner.update_refs(&format!("delete {QUARANTINE}{hash_part} {}\n", hex(id)))?;
                }
            }
        }
        loop {
            let ready: Vec<String> = pending
                .iter()
                .filter(|(h, (_, info))| {
                    info.references
                        .iter()
                        .map(|r| r.hash_part().to_string())
                        .all(|r| &r == *h || local.contains_key(&r))
                })
                .map(|(h, _)| h.clone())
                .collect();
            if ready.is_empty() {
                break;
            }
            for hash_part in ready {
                let Some((commit, info)) = pending.remove(&hash_part) else {
                    continue;
                };
                match self
                    .verify_replica(config, &hash_part, &commit, &info, &local)
                    .await
                {
                    Ok(()) => {
                        let inner = Arc::clone(inner);
                        let (h, c, nar_hash) = (hash_part.clone(), commit.id, info.nar_hash);
                        blocking(move || {
                            let _lock = PublishLock::acquire(&inner.repo)?;
                            let nar_ref = format!("{NARS}{}", nar_hash.encode(Format::Nix32));
                            let mut lines = format!(
                                "create {PATHS}{h} {c}\ndelete {QUARANTINE}{h} {c}\n",
                                c = hex(&c)
                            );
                            if inner.resolve_one(nar_ref.clone())?.is_none() {
                                lines.push_str(&format!("create {nar_ref} {}\n", hex(&c)));
                            }
                            inner.update_refs(&lines)?;
                            inner.record_access(&h)
                        })
                        .await?;
                        local.insert(hash_part.clone(), commit.id);
                        report.published.push(hash_part);
                    }
                    Err(reason) => {
                        report.refused.push((hash_part.clone(), reason));
                        inner.update_refs(&format!(
                            "delete {QUARANTINE}{hash_part} {}\n",
                            hex(&commit.id)
                        ))?;
                    }
                }
            }
        }
        for (hash_part, (commit, _)) in pending {
            report.refused.push((
                hash_part.clone(),
                "it refers to paths that are neither here nor verified".to_owned(),
            ));
            inner.update_refs(&format!(
                "delete {QUARANTINE}{hash_part} {}\n",
                hex(&commit.id)
            ))?;
        }
        Ok(report)
    }

    pub(super) async fn verify_replica(
        &self,
        config: &crate::Config,
        hash_part: &str,
        commit: &PathCommit,
        info: &NarInfo,
        local: &BTreeMap<String, Hash>,
    ) -> Result<(), String> {
        let inner = &self.inner;
        let plan = crate::check::check_narinfo(info, hash_part, config).map_err(|r| r.message)?;
        if *plan.file.compression() != Compression::None {
            return Err("its narinfo names a compressed NAR file".to_owned());
        }
        let printed = inner.store_dir.display_path(&info.store_path);
        let parents: Vec<Hash> = info
            .references
            .iter()
            .map(|r| r.hash_part().to_string())
            .filter(|r| r != hash_part)
            .filter_map(|r| local.get(&r).copied())
            .collect();
        let tree = if commit.mode == Mode::Directory {
            commit.root
        } else {
            wrapper_tree(
                inner.algorithm,
                &info.store_path.to_string(),
                commit.mode,
                &commit.root,
            )
            .0
        };
        let body = commit_body(
            &tree,
            &parents,
            &message(&printed, commit.mode, &commit.root, &commit.narinfo),
        );
        let expected = object_id(inner.algorithm, ObjectKind::Commit, &body);
        if expected != commit.id {
            return Err(format!(
                "its commit {} is not the one this cache makes for it ({})",
                hex(&commit.id),
                hex(&expected)
            ));
        }
        let tmp_dir = inner.repo.join("nix-ingest/tmp");
        let (inner2, commit2) = (Arc::clone(inner), commit.clone());
        let nar = blocking(move || {
            std::fs::create_dir_all(&tmp_dir)?;
            let tmp = tempfile::Builder::new()
                .prefix(".replica")
                .tempfile_in(&tmp_dir)?;
            let (file, path) = tmp.into_parts();
            let mut out =
                inner2.write_nar(&commit2, io::BufWriter::with_capacity(256 << 10, file))?;
            out.flush()?;
            Ok(path)
        })
        .await
        .map_err(|e| crate::refusal::chain(&e))?;
        crate::check::check_nar(&nar, info, &plan, config)
            .await
            .map_err(|r| r.message)
    }
}
