//! Commits and tags: the tree a revision names, its committer time and how many commits lead
//! to it, parsed with gitoxide (`gix-object`) from objects checked against their ids.

use std::collections::{HashSet, VecDeque};

use super::FetchError;
use super::refs::gix_kind;
use crate::git::ObjectKind;
use crate::git::source::{Repository, read_verified};
use crate::hash::{Algorithm, Hash};

/// The largest commit or tag object read.
const MAX_COMMIT_SIZE: u64 = 64 << 20;

fn to_hash(algorithm: Algorithm, id: &gix_hash::oid) -> Result<Hash, FetchError> {
    Hash::from_bytes(algorithm, id.as_bytes())
        .map_err(|_| FetchError::UnknownRevision(id.to_string()))
}

/// Follows tags to a commit or a tree: the commit (if any) and the tree.
pub(super) fn peel(source: &mut Repository, id: &Hash) -> Result<(Option<Hash>, Hash), FetchError> {
    let algorithm = source.algorithm();
    let mut id = *id;
    for _ in 0..32 {
        let (kind, body) = read_verified(source, &id, MAX_COMMIT_SIZE)?;
        let bad = |reason: String| FetchError::BadObject { kind, id, reason };
        match kind {
            ObjectKind::Tree => return Ok((None, id)),
            ObjectKind::Commit => {
                let commit = gix_object::CommitRef::from_bytes(&body, gix_kind(algorithm))
                    .map_err(|e| bad(e.to_string()))?;
                return Ok((Some(id), to_hash(algorithm, &commit.tree())?));
            }
            ObjectKind::Tag => {
                let tag = gix_object::TagRef::from_bytes(&body, gix_kind(algorithm))
                    .map_err(|e| bad(e.to_string()))?;
                id = to_hash(algorithm, &tag.target())?;
            }
            kind => return Err(FetchError::NoTree { id, kind }),
        }
    }
    Err(FetchError::BadObject {
        kind: ObjectKind::Tag,
        id,
        reason: "tags nested more than 32 deep".to_owned(),
    })
}

fn read_commit(source: &mut Repository, id: &Hash) -> Result<Vec<u8>, FetchError> {
    let (kind, body) = read_verified(source, id, MAX_COMMIT_SIZE)?;
    if kind != ObjectKind::Commit {
        return Err(FetchError::BadObject {
            kind,
            id: *id,
            reason: "expected a commit".to_owned(),
        });
    }
    Ok(body)
}

/// The committer time of commit `id` (libgit2's `git_commit_time`, Nix's `lastModified`).
pub(super) fn commit_time(source: &mut Repository, id: &Hash) -> Result<i64, FetchError> {
    let body = read_commit(source, id)?;
    let bad = |reason: String| FetchError::BadObject {
        kind: ObjectKind::Commit,
        id: *id,
        reason,
    };
    let commit = gix_object::CommitRef::from_bytes(&body, gix_kind(source.algorithm()))
        .map_err(|e| bad(e.to_string()))?;
    let time = commit.time().map_err(|e| bad(e.to_string()))?;
    Ok(time.seconds)
}

/// How many commits are reachable from `start`, itself included (Nix's `revCount`).
pub(super) fn count_commits(source: &mut Repository, start: &Hash) -> Result<u64, FetchError> {
    let algorithm = source.algorithm();
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut queue = VecDeque::new();
    seen.insert(*start);
    queue.push_back(*start);
    while let Some(id) = queue.pop_front() {
        let body = read_commit(source, &id)?;
        for token in gix_object::CommitRefIter::from_bytes(&body, gix_kind(algorithm)) {
            let token = token.map_err(|e| FetchError::BadObject {
                kind: ObjectKind::Commit,
                id,
                reason: e.to_string(),
            })?;
            match token {
                gix_object::commit::ref_iter::Token::Tree { .. } => {}
                gix_object::commit::ref_iter::Token::Parent { id: parent } => {
                    let parent = to_hash(algorithm, &parent)?;
                    if seen.insert(parent) {
                        queue.push_back(parent);
                    }
                }
                _ => break,
            }
        }
    }
    Ok(seen.len() as u64)
}
