//! Submodules: the names and paths `.gitmodules` gives them (parsed by gitoxide's config parser,
//! `gix-config`), and a submodule's tree shown as an entry of its superproject's.

use std::collections::HashMap;

use super::FetchError;
use crate::event::{Event, Sink, SinkError};
use crate::git::source::{Repository, read_verified};
use crate::git::{Mode, ObjectKind, TreeRefIter, events};
use crate::hash::Hash;

/// The largest `.gitmodules` read.
const MAX_GITMODULES_SIZE: u64 = 4 << 20;

/// The submodules the `.gitmodules` file of `tree` names: path → name. Empty when `tree` has
/// no `.gitmodules`.
pub(super) fn gitmodules(
    source: &mut Repository,
    tree: &Hash,
) -> Result<HashMap<String, String>, FetchError> {
    let algorithm = source.algorithm();
    let (_, body) = read_verified(source, tree, u64::MAX >> 1)?;
    let mut id = None;
    for entry in TreeRefIter::new(&body, algorithm) {
        let entry = entry.map_err(|e| FetchError::BadObject {
            kind: ObjectKind::Tree,
            id: *tree,
            reason: e.to_string(),
        })?;
        if entry.name == b".gitmodules" && entry.known_mode() == Some(Mode::File) {
            id = Hash::from_bytes(algorithm, entry.id).ok();
        }
    }
    let Some(id) = id else {
        return Ok(HashMap::new());
    };
    let (_, text) = read_verified(source, &id, MAX_GITMODULES_SIZE)?;
    parse(&text).map_err(|source| FetchError::Gitmodules {
        tree: *tree,
        source,
    })
}

/// `submodule.<name>.path` of a `.gitmodules` text: path → name.
fn parse(text: &[u8]) -> Result<HashMap<String, String>, super::error::Cause> {
    let config = gix_config::File::from_bytes_no_includes(
        text,
        gix_config::file::Metadata::api(),
        gix_config::file::init::Options::default(),
    )
    .map_err(Box::new)?;
    let mut map = HashMap::new();
    for section in config.sections_by_name("submodule").into_iter().flatten() {
        let Some(name) = section.header().subsection_name() else {
            continue;
        };
        if let Some(path) = section.value("path") {
            let path = String::from_utf8_lossy(&path);
            map.insert(
                path.trim_end_matches('/').to_owned(),
                String::from_utf8_lossy(name).into_owned(),
            );
        }
    }
    Ok(map)
}

/// What Nix shows for a submodule it does not fetch: an empty directory.
pub(super) fn empty_dir(
    sink: &mut dyn Sink,
    name: &[u8],
    path: &[u8],
) -> Result<(), events::RestoreError> {
    let err = |source| events::RestoreError::Sink {
        path: format!("/{}", String::from_utf8_lossy(path)),
        source,
    };
    sink.event(Event::DirectoryStart { name: Some(name) })
        .map_err(err)?;
    sink.event(Event::DirectoryEnd).map_err(err)
}

/// Renames the root directory of a stream (a submodule's tree becomes an entry).
pub(super) struct Rename<'a> {
    pub(super) inner: &'a mut dyn Sink,
    pub(super) name: &'a [u8],
    pub(super) depth: u64,
}

impl Sink for Rename<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { name: None } if self.depth == 0 => {
                self.depth = 1;
                self.inner.event(Event::DirectoryStart {
                    name: Some(self.name),
                })
            }
            Event::DirectoryStart { .. } => {
                self.depth += 1;
                self.inner.event(event)
            }
            Event::DirectoryEnd => {
                self.depth = self.depth.saturating_sub(1);
                self.inner.event(event)
            }
            other => self.inner.event(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn gitmodules_paths_and_names() {
        // As `git submodule add` writes it, plus git config's quoting and a comment.
        let map = parse(
            b"[submodule \"mods/sub\"]\n\tpath = mods/sub\n\turl = ../sub\n\
              # comment\n[submodule \"other\"]\n\tpath = \"with space/\"\n\turl = x\n",
        )
        .unwrap();
        assert_eq!(map.get("mods/sub").map(String::as_str), Some("mods/sub"));
        assert_eq!(map.get("with space").map(String::as_str), Some("other"));
        assert_eq!(map.len(), 2);
    }
}
