//! Refs, read with gitoxide's ref store (`gix-ref`): loose ref files and `packed-refs`, in the
//! git directory of a work tree and the common directory it shares with linked work trees.

use gix_ref::file::ReferenceExt;

use super::FetchError;
use crate::git::objects_dir::GitDirs;
use crate::hash::{Algorithm, Hash};

/// The ref store of one repository.
pub(super) struct Refs {
    store: gix_ref::file::Store,
    algorithm: Algorithm,
    git_dir: std::path::PathBuf,
}

impl Refs {
    pub(super) fn open(dirs: &GitDirs, algorithm: Algorithm) -> Self {
        let kind = gix_kind(algorithm);
        let store = if dirs.common == dirs.git_dir {
            gix_ref::file::Store::at(dirs.git_dir.clone(), kind)
        } else {
            gix_ref::file::Store::for_linked_worktree(
                dirs.git_dir.clone(),
                dirs.common.clone(),
                kind,
            )
        };
        Refs {
            store,
            algorithm,
            git_dir: dirs.git_dir.clone(),
        }
    }

    fn error(
        &self,
        name: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> FetchError {
        FetchError::Ref {
            name: name.to_owned(),
            git_dir: self.git_dir.clone(),
            source: Box::new(source),
        }
    }

    /// Resolves a ref name as git's rev-parse does (`<name>`, `refs/<name>`,
    /// `refs/tags/<name>`, `refs/heads/<name>`, `refs/remotes/<name>`,
    /// `refs/remotes/<name>/HEAD`), following symbolic refs: the object it names, or `None`
    /// when no ref has that name (or it is not a valid ref name).
    pub(super) fn resolve(&self, name: &str) -> Result<Option<Hash>, FetchError> {
        let Ok(partial) = <&gix_ref::PartialNameRef>::try_from(name) else {
            return Ok(None);
        };
        let packed = self
            .store
            .cached_packed_buffer()
            .map_err(|e| self.error(name, e))?;
        let Some(mut reference) = self
            .store
            .try_find_packed(partial, packed.as_ref().map(|b| &***b))
            .map_err(|e| self.error(name, e))?
        else {
            return Ok(None);
        };
        let id = match reference
            .follow_to_object_packed(&self.store, packed.as_ref().map(|b| &***b))
        {
            Ok(id) => id,
            // A symbolic ref to a ref that does not exist (an unborn branch).
            Err(_) if matches!(reference.target, gix_ref::Target::Symbolic(_)) => return Ok(None),
            Err(e) => return Err(self.error(name, e)),
        };
        Hash::from_bytes(self.algorithm, id.as_bytes())
            .map(Some)
            .map_err(|_| FetchError::UnknownRevision(name.to_owned()))
    }

    /// The branch `HEAD` names (`refs/heads/…`), or `None` when `HEAD` is detached.
    pub(super) fn head_branch(&self) -> Result<Option<String>, FetchError> {
        let head = self
            .store
            .try_find_loose("HEAD")
            .map_err(|e| self.error("HEAD", e))?;
        Ok(head.and_then(|head| match head.target {
            gix_ref::Target::Symbolic(name) => Some(name.as_bstr().to_string()),
            gix_ref::Target::Object(_) => None,
        }))
    }
}

/// gitoxide's name of an object format.
pub(super) fn gix_kind(algorithm: Algorithm) -> gix_hash::Kind {
    match algorithm {
        Algorithm::Sha256 => gix_hash::Kind::Sha256,
        _ => gix_hash::Kind::Sha1,
    }
}
