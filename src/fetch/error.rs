//! Why a fetch failed.

use std::path::PathBuf;

use crate::event::SinkError;
use crate::git::source::{self, hex};
use crate::git::{ObjectKind, events, objects_dir};
use crate::hash::Hash;
use crate::store_path;

/// The cause of an error from gitoxide (reading refs, the index, git config), boxed so that
/// gitoxide's types stay out of this crate's API.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a revision could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The repository could not be opened.
    #[error(transparent)]
    Open(#[from] objects_dir::LocateError),
    /// An object could not be read or does not match its id.
    #[error(transparent)]
    Object(#[from] source::ObjectError),
    /// Walking the tree failed.
    #[error(transparent)]
    Tree(#[from] events::RestoreError),
    /// No object or ref of that name.
    #[error("revision {0:?} names no object or ref of the repository")]
    UnknownRevision(String),
    /// An abbreviated id that several objects share.
    #[error("abbreviated id {0:?} is ambiguous")]
    Ambiguous(String),
    /// The refs of the repository (a ref file, `packed-refs`) could not be read.
    #[error("cannot read ref {name:?} of '{}'", .git_dir.display())]
    Ref {
        /// The ref looked up.
        name: String,
        /// The repository's git directory.
        git_dir: PathBuf,
        /// What went wrong.
        #[source]
        source: Cause,
    },
    /// A commit or tag object git would not parse.
    #[error("git {kind} {} is malformed: {reason}", hex(.id))]
    BadObject {
        /// Its kind.
        kind: ObjectKind,
        /// Its id.
        id: Hash,
        /// What is wrong.
        reason: String,
    },
    /// An object of a kind that does not lead to a tree (a blob, or a tag of one).
    #[error("git object {} is a {kind}, which has no tree", hex(.id))]
    NoTree {
        /// The object.
        id: Hash,
        /// Its kind.
        kind: ObjectKind,
    },
    /// A shallow repository, without [`Fetch::shallow`](super::Fetch::shallow).
    #[error(
        "'{}' is a shallow git repository; its revCount is unknown (set shallow to fetch without it)",
        .0.display()
    )]
    Shallow(PathBuf),
    /// A `.gitmodules` file git would not parse.
    #[error("'.gitmodules' of tree {} is malformed", hex(.tree))]
    Gitmodules {
        /// The tree holding it.
        tree: Hash,
        /// What is wrong.
        #[source]
        source: Cause,
    },
    /// A submodule to include whose repository is not in the modules directory.
    #[error(
        "submodule {name:?} at '{path}' is not in '{}' (run `git submodule update --init`, or fetch without submodules)",
        .dir.display()
    )]
    MissingSubmodule {
        /// Its name in `.gitmodules`.
        name: String,
        /// Its path in the tree.
        path: String,
        /// Where its repository was looked for.
        dir: PathBuf,
    },
    /// The index (`$GIT_DIR/index`) of a work tree could not be read.
    #[error("cannot read the git index '{}'", .path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Cause,
    },
    /// The repository's config (`$GIT_DIR/config`) could not be parsed.
    #[error("cannot read the git config '{}'", .path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Cause,
    },
    /// A file of a work tree could not be read.
    #[error("cannot read '{}' of the work tree", .path.display())]
    WorkTree {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A work tree with local changes, where only its commits can be fetched (submodules or
    /// export-ignore asked for).
    #[error(
        "the work tree of '{}' has uncommitted changes; submodules and export-ignore are applied to commits only (commit, or give a revision)",
        .0.display()
    )]
    DirtyUnsupported(PathBuf),
    /// The store path could not be made (e.g. an invalid name).
    #[error(transparent)]
    StorePath(#[from] store_path::StorePathError),
    /// The NAR hasher failed.
    #[error("cannot hash the NAR")]
    Nar(#[source] SinkError),
}
