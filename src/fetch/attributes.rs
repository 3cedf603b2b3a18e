//! `export-ignore`: which entries `git archive` leaves out, from the `.gitattributes` files of
//! the tree, matched by gitoxide (`gix-attributes`, `gix-glob`) with git's precedence (deeper
//! files and later lines win).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use gix_attributes::search::{MetadataCollection, Outcome};

use crate::git::events::{self, Filter};
use crate::git::source::{ObjectSource, read_verified};
use crate::hash::Hash;

/// The largest `.gitattributes` read.
pub(super) const MAX_ATTRIBUTES_SIZE: u64 = 4 << 20;

/// The attribute this filter asks about.
const EXPORT_IGNORE: &str = "export-ignore";

/// export-ignore from the `.gitattributes` files of the tree, as `git archive` reads them.
#[derive(Default)]
pub(super) struct ExportIgnore {
    search: gix_attributes::Search,
    collection: MetadataCollection,
    outcome: Outcome,
    /// One per directory entered: whether it added a pattern list to `search`.
    frames: Vec<bool>,
    /// Set once an entry was left out.
    pub(super) ignored: bool,
}

impl Filter for ExportIgnore {
    fn enter(
        &mut self,
        dir: &[u8],
        attributes: Option<&Hash>,
        source: &mut dyn ObjectSource,
    ) -> Result<(), events::RestoreError> {
        let Some(id) = attributes else {
            self.frames.push(false);
            return Ok(());
        };
        let file = if dir.is_empty() {
            b".gitattributes".to_vec()
        } else {
            [dir, b"/.gitattributes"].concat()
        };
        let err = |source| events::RestoreError::Object {
            path: format!("/{}", String::from_utf8_lossy(&file)),
            source: Box::new(source),
        };
        let (_, text) = read_verified(source, id, MAX_ATTRIBUTES_SIZE).map_err(err)?;
        // Patterns of `a/b/.gitattributes` match below `a/b/` (the root is the empty path);
        // macros (`[attr]…`) count only at the top, as in git.
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&file));
        self.search
            .add_patterns_buffer(
                &text,
                path,
                Some(std::path::Path::new("")),
                &mut self.collection,
                dir.is_empty(),
            )
            .map_err(|e| events::RestoreError::Sink {
                path: format!("/{}", String::from_utf8_lossy(&file)),
                source: crate::event::SinkError::Unsupported(e.to_string()),
            })?;
        self.outcome
            .initialize_with_selection(&self.collection, [EXPORT_IGNORE]);
        self.frames.push(true);
        Ok(())
    }

    fn keep(&mut self, path: &[u8], is_dir: bool) -> bool {
        if self.search.num_pattern_lists() == 0 {
            return true;
        }
        self.outcome.reset();
        self.search.pattern_matching_relative_path(
            path.into(),
            gix_glob::pattern::Case::Sensitive,
            Some(is_dir),
            &mut self.outcome,
        );
        let set = self
            .outcome
            .iter_selected()
            // `export-ignore` only: `-export-ignore`, `!export-ignore` and `export-ignore=…`
            // keep the entry, as `git archive` does.
            .any(|m| matches!(m.assignment.state, gix_attributes::StateRef::Set));
        if set {
            self.ignored = true;
        }
        !set
    }

    fn leave(&mut self) {
        if self.frames.pop() == Some(true) {
            self.search.pop_pattern_list();
        }
    }
}
