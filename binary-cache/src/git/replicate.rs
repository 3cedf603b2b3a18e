//! Replication over git's own transport: fetched (or pushed, then taken) into quarantine,
//! verified again, published.

use nix_ingest::nar::listing::{Listing, ListingBuilder};

use super::*;
use crate::check::{listing, realisation};
use crate::store::Beside;

/// What [`GitStorage::replicate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicated {
    /// The paths verified and published, by hash part.
    pub published: Vec<String>,
    /// How many were here already.
    pub already: usize,
    /// The paths refused, by hash part, with the reason.
    pub refused: Vec<(String, String)>,
    /// What became of the other cache's listings (`<hash part>.ls`).
    pub listings: ReplicatedObjects,
    /// What became of the other cache's realisations (`realisations/<id>.doi`).
    pub realisations: ReplicatedObjects,
}

/// What [`GitStorage::replicate`] did with the listings or the realisations of the other cache,
/// each named by its ref below `refs/nix-objects/` (`<hash part>.ls`,
/// `realisations/<id, %-escaped>.doi`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicatedObjects {
    /// Those verified and published.
    pub published: Vec<String>,
    /// How many were here already (the same object, or one verified again and found to be the
    /// one kept here).
    pub already: usize,
    /// How many listings were skipped because their path is not here (neither before nor after
    /// this replication); realisations are never skipped.
    pub skipped: usize,
    /// Those refused, with the reason.
    pub refused: Vec<(String, String)>,
}

/// What became of one fetched listing or realisation.
enum Outcome {
    Published,
    Already,
    Skipped,
    Refused(String),
}

impl ReplicatedObjects {
    fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Outcome::Published => self.published.push(name.to_owned()),
            Outcome::Already => self.already += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Refused(reason) => self.refused.push((name.to_owned(), reason)),
        }
    }
}

impl GitStorage {
    /// Fetches the paths of another git cache (`from`: a URL or a path git can fetch from) into
    /// `refs/nix-quarantine/nix/`, verifies each one again as an upload would be — its narinfo
    /// (content address or a signature by a key `config` trusts), its commit rebuilt from the
    /// narinfo and compared, its NAR rebuilt from the fetched tree and checked against
    /// `NarHash`, `NarSize` and the content address — references first, and publishes the
    /// verified ones.
    ///
    /// Its listings and realisations, fetched into `refs/nix-quarantine/objects/`, are then
    /// checked as uploads of them would be: a listing only if its path is here (else skipped),
    /// against the listing of this cache's NAR of that path; a realisation only if its output
    /// is here and a key `config` trusts signed it. Quarantined refs are removed either way.
    pub async fn replicate(&self, config: &crate::Config, from: &str) -> io::Result<Replicated> {
        if from.starts_with('-') || from.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad source {from:?}"),
            ));
        }
        let _lock = self.replication_lock().await?;
        let inner = Arc::clone(&self.inner);
        let from = from.to_owned();
        blocking(move || {
            inner
                .git(
                    &[
                        "-c",
                        "transfer.fsckObjects=true",
                        "fetch",
                        "--quiet",
                        "--no-tags",
                        "--no-write-fetch-head",
                        &from,
                        &format!("+{PATHS}*:{QUARANTINE}*"),
                        &format!("+{OBJECTS}*:{QUARANTINE_OBJECTS}*"),
                    ],
                    None,
                )
                .map(drop)
        })
        .await?;
        self.verify_quarantine(config).await
    }

    /// Verifies and publishes what another cache pushed (its [`push`](Self::push)) into
    /// `refs/nix-incoming/nix/` and `refs/nix-incoming/objects/`, as [`replicate`](Self::replicate)
    /// does what it fetched: the incoming refs are first moved into the quarantine (a push
    /// arriving meanwhile stays incoming, for the next run), then checked and published or
    /// refused, the quarantine emptied either way.
    pub async fn receive(&self, config: &crate::Config) -> io::Result<Replicated> {
        let _lock = self.replication_lock().await?;
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.take_incoming()).await?;
        self.verify_quarantine(config).await
    }

    /// Pushes this cache's paths (`refs/nix/*`), listings and realisations
    /// (`refs/nix-objects/*`), with the objects they reach, into another cache's incoming refs
    /// (`to`: any URL or path `git push` takes), where its [`receive`](Self::receive) verifies
    /// them. Returns how many paths and how many listings and realisations were pushed.
    pub async fn push(&self, to: &str) -> io::Result<(usize, usize)> {
        if to.starts_with('-') || to.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad destination {to:?}"),
            ));
        }
        let inner = Arc::clone(&self.inner);
        let to = to.to_owned();
        blocking(move || {
            let paths = inner.refs_under(PATHS)?.len();
            let objects = inner.refs_under(OBJECTS)?.len();
            // `+`: the incoming refs are a staging area, whatever was staged before is replaced.
            inner.git(
                &[
                    "push",
                    "--quiet",
                    &to,
                    &format!("+{PATHS}*:{INCOMING}*"),
                    &format!("+{OBJECTS}*:{INCOMING_OBJECTS}*"),
                ],
                None,
            )?;
            Ok((paths, objects))
        })
        .await
    }

    /// Held while replicating or receiving: one run at a time uses the quarantine.
    async fn replication_lock(&self) -> io::Result<std::fs::File> {
        let path = self.inner.repo.join("nix-ingest/replicate.lock");
        blocking(move || crate::lock::exclusive(&path, true)).await
    }

    /// Verifies what is in the quarantine and publishes what passes (see
    /// [`replicate`](Self::replicate)), removing the quarantined refs either way.
    async fn verify_quarantine(&self, config: &crate::Config) -> io::Result<Replicated> {
        let inner = Arc::clone(&self.inner);
        let (quarantined, mut local) =
            blocking(move || Ok((inner.refs_under(QUARANTINE)?, inner.refs_under(PATHS)?))).await?;
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
        let (inner, config) = (Arc::clone(inner), config.clone());
        (report.listings, report.realisations) =
            blocking(move || inner.replicate_objects(&config, &local)).await?;
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

impl Inner {
    /// Moves the incoming refs into the quarantine, all in one transaction; if a push changed
    /// some meanwhile, one at a time, leaving those it changed for the next run.
    fn take_incoming(&self) -> io::Result<()> {
        for (from, to) in [
            (INCOMING, QUARANTINE),
            (INCOMING_OBJECTS, QUARANTINE_OBJECTS),
        ] {
            let refs = self.refs_under(from)?;
            let line = |name: &str, id: &Hash| {
                format!(
                    "update {to}{name} {id}\ndelete {from}{name} {id}\n",
                    id = hex(id)
                )
            };
            let all: String = refs.iter().map(|(name, id)| line(name, id)).collect();
            if let Err(e) = self.update_refs(&all) {
                tracing::warn!(error = %e, "incoming refs changed while taken: one at a time");
                for (name, id) in &refs {
                    if let Err(e) = self.update_refs(&line(name, id)) {
                        tracing::warn!(error = %e, "{from}{name} left for the next run");
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks and publishes the listings and realisations in quarantine (`local`: the paths
    /// here, by hash part), then removes their quarantined refs, whatever happened.
    fn replicate_objects(
        &self,
        config: &crate::Config,
        local: &BTreeMap<String, Hash>,
    ) -> io::Result<(ReplicatedObjects, ReplicatedObjects)> {
        let quarantined = self.refs_under(QUARANTINE_OBJECTS)?;
        let checked = self.check_objects(config, local, &quarantined);
        let lines: String = quarantined
            .iter()
            .map(|(name, id)| format!("delete {QUARANTINE_OBJECTS}{name} {}\n", hex(id)))
            .collect();
        let removed = self.update_refs(&lines);
        let checked = checked?;
        removed?;
        Ok(checked)
    }

    fn check_objects(
        &self,
        config: &crate::Config,
        local: &BTreeMap<String, Hash>,
        quarantined: &BTreeMap<String, Hash>,
    ) -> io::Result<(ReplicatedObjects, ReplicatedObjects)> {
        let kept = self.refs_under(OBJECTS)?;
        // Types and sizes first: nothing over its limit is read.
        let ids: Vec<String> = quarantined.values().map(hex).collect();
        let headers = self.headers(&ids)?;
        let mut listings = ReplicatedObjects::default();
        let mut realisations = ReplicatedObjects::default();
        for ((name, id), header) in quarantined.iter().zip(headers) {
            let blob = Fetched { name, id, header };
            if name.starts_with("realisations/") {
                realisations.record(name, self.check_realisation(config, &blob, local, &kept)?);
            } else {
                listings.record(name, self.check_listing(&blob, local, &kept)?);
            }
        }
        Ok((listings, realisations))
    }

    /// A fetched listing, checked as an upload of it after its narinfo would be.
    fn check_listing(
        &self,
        blob: &Fetched<'_>,
        local: &BTreeMap<String, Hash>,
        kept: &BTreeMap<String, Hash>,
    ) -> io::Result<Outcome> {
        let Some(hash_part) = listing::listing_name(blob.name) else {
            return Ok(Outcome::Refused(format!(
                "{OBJECTS}{} is neither a listing (<hash part>.ls) nor a realisation \
                 (realisations/<id>.doi)",
                blob.name
            )));
        };
        let Some(commit) = local.get(hash_part) else {
            return Ok(Outcome::Skipped);
        };
        if kept.get(blob.name) == Some(blob.id) {
            return Ok(Outcome::Already);
        }
        let data = match self.small_blob(blob, listing::MAX_LISTING_SIZE, "listing")? {
            Ok(data) => data,
            Err(reason) => return Ok(Outcome::Refused(reason)),
        };
        let claimed = match listing::parse(hash_part, &data) {
            Ok(l) => l,
            Err(refusal) => return Ok(Outcome::Refused(refusal.message)),
        };
        drop(data);
        let commit = self
            .path_commit(hex(commit))?
            .ok_or_else(|| bad(format!("the commit of {hash_part} is missing")))?;
        let info = NarInfo::parse(&commit.narinfo, &self.store_dir)
            .map_err(|e| bad(crate::refusal::chain(&e)))?;
        let printed = self.store_dir.display_path(&info.store_path);
        let ours = match self.listing_of(&commit, info.nar_size) {
            Ok(ours) => ours,
            Err(e) => {
                return Ok(Outcome::Refused(format!(
                    "cannot list the NAR of {printed} here: {e}"
                )));
            }
        };
        let json = match listing::matching(hash_part, &printed, &claimed, &ours) {
            Ok(json) => json,
            Err(refusal) => return Ok(Outcome::Refused(refusal.message)),
        };
        Ok(
            match self.publish_beside(&listing::key(hash_part), hash_part, json)? {
                Beside::Yes => Outcome::Published,
                Beside::AlreadyThere => Outcome::Already,
                Beside::MissingOwner => {
                    Outcome::Refused(format!("its path {printed} was collected meanwhile"))
                }
            },
        )
    }

    /// The listing of this cache's NAR of `commit` (`nar_size` bytes, as its narinfo says):
    /// the events the NAR is written from, each file's offset from the NAR's grammar.
    fn listing_of(&self, commit: &PathCommit, nar_size: u64) -> io::Result<Listing> {
        let mut repo = nix_ingest::git::source::Repository::open(&self.repo)
            .map_err(|e| io::Error::other(crate::refusal::chain(&e)))?;
        let limits = Limits {
            max_total_size: self.limits.max_total_size.min(nar_size),
            ..self.limits
        };
        let mut builder = ListingBuilder::new();
        nix_ingest::git::to_events(&commit.root, commit.mode, &mut repo, &mut builder, &limits)
            .map_err(|e| io::Error::other(crate::refusal::chain(&e)))?;
        builder
            .finish()
            .map_err(|e| io::Error::other(crate::refusal::chain(&e)))
    }

    /// A fetched realisation, checked as an upload of it would be.
    fn check_realisation(
        &self,
        config: &crate::Config,
        blob: &Fetched<'_>,
        local: &BTreeMap<String, Hash>,
        kept: &BTreeMap<String, Hash>,
    ) -> io::Result<Outcome> {
        if kept.get(blob.name) == Some(blob.id) {
            return Ok(Outcome::Already);
        }
        let data = match self.small_blob(blob, realisation::MAX_SIZE, "realisation")? {
            Ok(data) => data,
            Err(reason) => return Ok(Outcome::Refused(reason)),
        };
        let r = match realisation::parse(blob.name, &data) {
            Ok(r) => r,
            Err(refusal) => return Ok(Outcome::Refused(refusal.message)),
        };
        let key = r.id.file_name();
        if object_ref(&key) != format!("{OBJECTS}{}", blob.name) {
            return Ok(Outcome::Refused(format!(
                "the realisation is of {}, but was kept as {OBJECTS}{}",
                r.id, blob.name
            )));
        }
        let out = self.store_dir.display_path(&r.out_path);
        let hash_part = r.out_path.hash_part().to_string();
        let held = match local.get(&hash_part) {
            Some(commit) => {
                let commit = self
                    .path_commit(hex(commit))?
                    .ok_or_else(|| bad(format!("the commit of {hash_part} is missing")))?;
                NarInfo::parse(&commit.narinfo, &self.store_dir)
                    .map_err(|e| bad(crate::refusal::chain(&e)))?
                    .store_path
                    == r.out_path
            }
            None => false,
        };
        if !held {
            return Ok(Outcome::Refused(realisation::missing(&r, &out).message));
        }
        if let Err(refusal) = realisation::trusted(config, &r, &out) {
            return Ok(Outcome::Refused(refusal.message));
        }
        let json = serde_json::to_vec(&r).map_err(io::Error::other)?;
        Ok(match self.publish_beside(&key, &hash_part, json)? {
            Beside::Yes => Outcome::Published,
            Beside::MissingOwner => Outcome::Refused(realisation::missing(&r, &out).message),
            Beside::AlreadyThere => {
                let kept = self
                    .object(&key, realisation::MAX_SIZE)?
                    .ok_or_else(|| bad(format!("{key} vanished")))?;
                let kept: nix_ingest::realisation::Realisation = serde_json::from_slice(&kept)
                    .map_err(|e| bad(format!("{}: {e}", object_ref(&key))))?;
                match realisation::same_output(&kept, &r, &self.store_dir) {
                    Ok(()) => Outcome::Already,
                    Err(refusal) => Outcome::Refused(refusal.message),
                }
            }
        })
    }

    /// The body of a fetched blob of at most `max` bytes (a `what`), or why it is refused.
    fn small_blob(
        &self,
        blob: &Fetched<'_>,
        max: usize,
        what: &str,
    ) -> io::Result<Result<Vec<u8>, String>> {
        match &blob.header {
            None => return Ok(Err("its object is missing".to_owned())),
            Some((kind, _)) if kind != "blob" => {
                return Ok(Err(format!("it names a {kind}, not a blob")));
            }
            Some((_, size)) if *size > max as u64 => {
                return Ok(Err(format!(
                    "it is {size} bytes, over the {max} a {what} may have"
                )));
            }
            Some(_) => {}
        }
        match self.cat(&[hex(blob.id)])?.pop().flatten() {
            Some((_, kind, body)) if kind == "blob" && body.len() <= max => Ok(Ok(body)),
            _ => Err(bad(format!("{} changed while read", hex(blob.id)))),
        }
    }

    /// `git cat-file --batch-check` of `ids`: each one's type and size, or `None` if missing.
    fn headers(&self, ids: &[String]) -> io::Result<Vec<Option<(String, u64)>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let out = self.git(&["cat-file", "--batch-check"], Some(input.into_bytes()))?;
        let text = String::from_utf8(out).map_err(|_| bad("git cat-file: not UTF-8"))?;
        let mut lines = text.lines();
        ids.iter()
            .map(|id| {
                let line = lines
                    .next()
                    .ok_or_else(|| bad("git cat-file: answer cut short"))?;
                if line.ends_with(" missing") {
                    return Ok(None);
                }
                match line.split(' ').collect::<Vec<_>>()[..] {
                    [got, kind, size] if got == id => Ok(Some((
                        kind.to_owned(),
                        size.parse().map_err(|_| bad("git cat-file: bad size"))?,
                    ))),
                    _ => Err(bad(format!(
                        "git cat-file: unexpected answer {line:?} for {id}"
                    ))),
                }
            })
            .collect()
    }
}

/// A listing or realisation in quarantine: its ref name below the quarantine, its object, and
/// that object's type and size.
struct Fetched<'a> {
    name: &'a str,
    id: &'a Hash,
    header: Option<(String, u64)>,
}
