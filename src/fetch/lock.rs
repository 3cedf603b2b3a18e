//! The lock Nix writes for a git input, as `nix flake prefetch --json` prints it (Nix 2.34):
//! serialized with serde, keys in Nix's (sorted) order.

use serde::Serialize;

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
