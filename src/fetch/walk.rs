//! The tree Nix sees for a revision: the raw tree, with submodules shown as Nix shows them and
//! export-ignored entries left out, sent as events.

use std::cell::Cell;
use std::collections::HashMap;

use super::attributes::ExportIgnore;
use super::commit::peel;
use super::submodules::{Rename, empty_dir, gitmodules};
use super::{Fetch, FetchError};
use crate::event::{Sink, SinkError};
use crate::git::events::{Hooks, Submodules};
use crate::git::objects_dir::{GitDirs, locate_dirs};
use crate::git::source::Repository;
use crate::git::{Mode, events};
use crate::hash::Hash;

pub(super) struct TreeWalker<'f> {
    pub(super) fetch: &'f Fetch,
    /// Set when the sink checks blob ids itself ([`Hooks::deferred_blob`]).
    pub(super) deferred: Option<&'f Cell<Option<Hash>>>,
    /// Set once the tree Nix sees differs from the raw tree.
    pub(super) changed: &'f mut bool,
}

impl TreeWalker<'_> {
    /// Sends the tree Nix sees for `tree` (of `commit`, when there is one) to `sink`.
    pub(super) fn walk(
        &mut self,
        dirs: &GitDirs,
        source: &mut Repository,
        tree: &Hash,
        commit: Option<&Hash>,
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        let modules = match commit {
            Some(_) if self.fetch.submodules => gitmodules(source, tree)?,
            _ => HashMap::new(),
        };
        let mut filter = ExportIgnore::default();
        let mut failure: Option<FetchError> = None;
        let mut changed = false;
        let fetch = self.fetch;
        let deferred = self.deferred;
        let mut include = |path: &[u8], name: &[u8], id: &Hash, sink: &mut dyn Sink| {
            changed = true;
            let path_text = String::from_utf8_lossy(path).into_owned();
            let Some(module) = modules.get(&path_text).filter(|_| fetch.submodules) else {
                return empty_dir(sink, name, path);
            };
            let dir = dirs.common.join("modules").join(module);
            let result = (|| -> Result<(), FetchError> {
                if !dir.join("objects").is_dir() {
                    return Err(FetchError::MissingSubmodule {
                        name: module.clone(),
                        path: path_text.clone(),
                        dir: dir.clone(),
                    });
                }
                let sub_dirs = locate_dirs(&dir)?;
                let mut sub_source = Repository::from_objects_dir(sub_dirs.objects.clone())?;
                let (sub_commit, sub_tree) = peel(&mut sub_source, id)?;
                let mut renamed = Rename {
                    inner: sink,
                    name,
                    depth: 0,
                };
                let mut changed_inner = false;
                let mut inner = TreeWalker {
                    fetch,
                    deferred,
                    changed: &mut changed_inner,
                };
                inner.walk(
                    &sub_dirs,
                    &mut sub_source,
                    &sub_tree,
                    sub_commit.as_ref(),
                    &mut renamed,
                )
            })();
            result.map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                events::RestoreError::Sink {
                    path: format!("/{path_text}"),
                    source: SinkError::Unsupported(message),
                }
            })
        };
        let hooks = Hooks {
            deferred_blob: self.deferred,
            submodules: Submodules::Include(&mut include),
            filter: if self.fetch.export_ignore {
                Some(&mut filter)
            } else {
                None
            },
        };
        // The tree's objects inflated ahead on the threads the settings allow (nothing is
        // announced, so nothing read ahead, when export-ignored entries may be skipped).
        let mut ahead = Repository::from_objects_dir(dirs.objects.clone())?
            .read_ahead()
            .threads(self.fetch.settings.threads());
        let result = events::to_events_with(
            tree,
            Mode::Directory,
            &mut ahead,
            sink,
            self.fetch.settings.limits(),
            hooks,
        );
        if changed || filter.ignored {
            *self.changed = true;
        }
        match (result, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }
}
