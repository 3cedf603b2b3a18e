//! The lock Nix writes for a git input, as `nix flake prefetch --json` prints it (Nix 2.34):
//! serialized with serde, keys in Nix's (sorted) order.

use serde::Serialize;

use super::{Asked, Fetched};
use crate::git::source::hex;
use crate::hash::Format;

/// The attributes of a git input: `locked` (what was fetched) or `original` (what was asked
/// for). Absent attributes are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Attrs {
    /// `<commit>-dirty`: a work tree with uncommitted changes, on top of that commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_rev: Option<String>,
    /// `<first 7 hex digits of the commit>-dirty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_short_rev: Option<String>,
    /// Nix's `exportIgnore` (written only when on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_ignore: Option<bool>,
    /// The commit's committer time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<i64>,
    /// The ref.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The revision (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// The number of commits reachable from the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev_count: Option<u64>,
    /// Nix's `submodules` (written only when on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submodules: Option<bool>,
    /// Always `git`.
    #[serde(rename = "type")]
    pub input_type: &'static str,
    /// The repository's URL.
    pub url: String,
}

impl Attrs {
    /// A git input of `url` with nothing else set.
    pub fn new(url: impl Into<String>) -> Self {
        Attrs {
            dirty_rev: None,
            dirty_short_rev: None,
            export_ignore: None,
            last_modified: None,
            git_ref: None,
            rev: None,
            rev_count: None,
            submodules: None,
            input_type: "git",
            url: url.into(),
        }
    }
}

/// What `nix flake prefetch --json` prints for a git input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Prefetch {
    /// The NAR hash, SRI.
    pub hash: String,
    /// What was fetched.
    pub locked: Attrs,
    /// What was asked for.
    pub original: Attrs,
    /// The store path, in full.
    pub store_path: String,
}

impl Prefetch {
    /// The JSON, on one line, as Nix prints it.
    pub fn to_json(&self) -> String {
        // Strings, numbers and booleans only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Fetched {
    /// What Nix locks (`locked`), for the repository at `url` (e.g. `file:///srv/repo`).
    pub fn locked(&self, url: &str) -> Attrs {
        let mut attrs = self.flags(url);
        attrs.last_modified = self.last_modified;
        if self.dirty {
            // On an unborn branch there is no commit to name.
            if let Some(rev) = self.commit.as_ref().map(hex) {
                attrs.dirty_short_rev = Some(format!("{}-dirty", rev.get(..7).unwrap_or(&rev)));
                attrs.dirty_rev = Some(format!("{rev}-dirty"));
            }
        } else {
            attrs.git_ref = self.git_ref.clone();
            attrs.rev = self.rev.as_ref().map(hex);
            attrs.rev_count = self.rev_count;
        }
        attrs
    }

    /// What was asked for (`original`), for the repository at `url`.
    pub fn original(&self, url: &str) -> Attrs {
        let mut attrs = self.flags(url);
        match &self.asked {
            Asked::Ref(name) => attrs.git_ref = Some(name.clone()),
            Asked::Rev => attrs.rev = self.rev.as_ref().map(hex),
            Asked::WorkTree => {}
        }
        attrs
    }

    fn flags(&self, url: &str) -> Attrs {
        let mut attrs = Attrs::new(url);
        attrs.export_ignore = self.export_ignore.then_some(true);
        attrs.submodules = self.submodules.then_some(true);
        attrs
    }

    /// What `nix flake prefetch --json` prints (Nix 2.34), for the repository at `url`.
    pub fn prefetch(&self, url: &str) -> Prefetch {
        Prefetch {
            hash: self.nar_hash.encode(Format::Sri),
            locked: self.locked(url),
            original: self.original(url),
            store_path: self.store_path_string(),
        }
    }

    /// What `nix flake prefetch --json 'git+<url>?rev=…'` (or `?ref=…`, or neither) prints
    /// (Nix 2.34): `hash`, `locked`, `original` and `storePath`, keys sorted. `url` is the
    /// repository's URL as given to Nix, e.g. `file:///srv/repo`.
    pub fn prefetch_json(&self, url: &str) -> String {
        self.prefetch(url).to_json()
    }
}
