//! Revisions: what a revision names (a full or abbreviated object id, or a ref name).

use super::FetchError;
use super::refs::Refs;
use crate::git::source::{ObjectSource, Repository};
use crate::hash::Hash;

/// How a revision was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Given {
    /// An object id, full or abbreviated (Nix's `rev`).
    Rev,
    /// A ref name (Nix's `ref`).
    Ref(String),
}

/// Resolves `revision` to an object id: a full id of an object the repository holds, else a
/// ref name, else an abbreviated id (at least 4 hex digits) of exactly one object.
pub(super) fn resolve(
    refs: &Refs,
    source: &mut Repository,
    revision: &str,
) -> Result<(Hash, Given), FetchError> {
    let algorithm = source.algorithm();
    let is_hex = !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex && revision.len() == algorithm.len() * 2 {
        let id = Hash::parse_unprefixed(&revision.to_ascii_lowercase(), algorithm)
            .map_err(|_| FetchError::UnknownRevision(revision.to_owned()))?;
        if source.read(&id).is_ok() {
            return Ok((id, Given::Rev));
        }
    }
    if let Some(id) = refs.resolve(revision)? {
        return Ok((id, Given::Ref(revision.to_owned())));
    }
    if is_hex && revision.len() >= 4 && revision.len() < algorithm.len() * 2 {
        return match source.lookup_prefix(&revision.to_ascii_lowercase())? {
            Some(Ok(id)) => Ok((id, Given::Rev)),
            Some(Err(())) => Err(FetchError::Ambiguous(revision.to_owned())),
            None => Err(FetchError::UnknownRevision(revision.to_owned())),
        };
    }
    Err(FetchError::UnknownRevision(revision.to_owned()))
}

/// The ref Nix locks for a revision given by id: the branch `HEAD` names, or `master` when
/// `HEAD` is detached.
pub(super) fn default_ref(refs: &Refs) -> Result<String, FetchError> {
    Ok(refs.head_branch()?.unwrap_or_else(|| "master".to_owned()))
}
