//! What Nix's git fetcher records for a revision of a local repository — `narHash`, the store
//! path, `rev`, `lastModified`, `revCount` — computed from the repository's objects in one
//! streaming pass, without a checkout or temporary files; and the git-hashing content address
//! (`fixed:git:sha1:<tree id>`) and its store path straight from the tree id.
//!
//! [`Fetch`] holds the settings of a `git+file` flake input or a `builtins.fetchGit` call
//! (`submodules`, `exportIgnore`, `shallow`, the store path name); [`Fetch::fetch`] resolves a
//! revision — a full or abbreviated object id (commit, annotated tag or tree), a branch, a tag,
//! `HEAD`, any ref name — and returns a [`Fetched`], which [`Fetched::prefetch_json`] prints as
//! `nix flake prefetch --json` does. [`Fetch::fetch_work_tree`] answers for a repository given
//! without a revision, as `nix flake prefetch git+file://REPO` does: its work tree when that has
//! uncommitted changes, else `HEAD` on its branch. Every object read is checked against its id.
//!
//! The parts, one job each: `rev` resolves revisions, `refs` reads refs (gitoxide's
//! `gix-ref`), `commit` reads commits and tags, `submodules` reads `.gitmodules` (`gix-config`),
//! `attributes` matches `.gitattributes` (`gix-attributes`, `gix-glob`), `walk` sends the tree
//! Nix sees, `workdir` reads a work tree and its index (`gix-index`), `pipeline` hashes the NAR
//! on one thread or two, and [`lock`] is the JSON Nix prints (serde).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::process::Command;
//! # let dir = tempfile::tempdir()?;
//! # let git = |args: &[&str]| Command::new("git").current_dir(dir.path())
//! #     .env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1")
//! #     .env("GIT_AUTHOR_NAME", "a").env("GIT_AUTHOR_EMAIL", "a@b")
//! #     .env("GIT_COMMITTER_NAME", "a").env("GIT_COMMITTER_EMAIL", "a@b")
//! #     .env("GIT_COMMITTER_DATE", "1700000000 +0000").args(args).status();
//! # git(&["init", "-q", "-b", "main"])?;
//! # std::fs::write(dir.path().join("f"), "hi\n")?;
//! # git(&["add", "f"])?;
//! # git(&["commit", "-q", "-m", "one"])?;
//! use nix_ingest::fetch::Fetch;
//! use nix_ingest::hash::Format;
//!
//! // A repository with one commit holding `f` = "hi\n", committed at 1700000000.
//! let fetched = Fetch::new().fetch(dir.path(), "main")?;
//! assert_eq!((fetched.last_modified, fetched.rev_count), (Some(1700000000), Some(1)));
//! // The narHash `nix flake prefetch git+file://…?ref=main` prints.
//! assert_eq!(
//!     fetched.nar_hash.encode(Format::Sri),
//!     "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o=" // nix hash path of that tree
//! );
//! assert!(fetched.store_path_string().ends_with("-source"));
//! # Ok(()) }
//! ```
//!
//! # What Nix sees, and where Nix versions differ
//!
//! - **Submodules** (gitlinks): with `submodules = false` (the default of flakes and
//!   `fetchGit`), Nix shows a submodule as an empty directory. With `submodules = true`, Nix
//!   fetches each submodule `.gitmodules` names from its URL; this module reads it from the
//!   repository's own `modules/<name>` directory (where `git submodule update` keeps it) and
//!   refuses, naming the submodule, when it is not there. A gitlink `.gitmodules` does not name
//!   stays an empty directory, as in Nix.
//! - **export-ignore**: applied only when asked ([`Fetch::export_ignore`]); `builtins.fetchGit`
//!   asks by default unless `submodules = true`, flakes never do. The `.gitattributes` files of
//!   the commit decide (git's precedence: deeper files and later lines win), matched by
//!   gitoxide's attribute search. Nix (libgit2) also
//!   consults the work tree's and `$GIT_DIR/info/attributes`; this module reads the commit only.
//!   `export-subst` is never applied, by Nix nor here.
//! - **Annotated tags**: given a ref naming an annotated tag, Nix 2.34 records the commit it
//!   points to as `rev`; Nix 2.26 recorded the tag object's id. This module follows 2.34. Given
//!   the tag's id as `rev`, both record that id.
//! - `revCount` is the number of commits reachable from the commit (itself included),
//!   `lastModified` its committer time. A shallow repository is refused unless
//!   [`Fetch::shallow`] is set, which, as in Nix, leaves `revCount` out.
//! - **No revision** ([`Fetch::fetch_work_tree`]): Nix answers for the work tree, not the
//!   commit: the files the index tracks, as they are on disk (untracked files, submodules and
//!   the directories that held only them left out; a commit's empty directories too). When
//!   they differ from `HEAD`'s commit (changed, deleted, staged, another mode) the work tree is
//!   **dirty**: Nix warns (`warning: Git tree '…' is dirty`) and locks `dirtyRev`
//!   (`<HEAD>-dirty`), `dirtyShortRev` and `lastModified` (HEAD's committer time), no `rev`,
//!   `ref` or `revCount`; [`Fetched::dirty`] says so, and printing the warning is the caller's
//!   job. A clean work tree is locked as `HEAD`'s commit with `"ref": "refs/heads/<branch>"`
//!   (no `ref` when `HEAD` is detached) and an `original` without `ref` or `rev`; a bare
//!   repository gives `HEAD`'s commit. Nix 2.34.8 and 2.26.3 agree on all of this; 2.26 also
//!   writes `__final` and `narHash` in `locked`. Nix then caches the answer under the commit's
//!   id, so a later `?rev=` fetch of that commit gets the work tree's answer (without its
//!   submodules) from Nix's cache, where a first fetch by id shows them as empty directories.
//!   Submodules and export-ignore are applied to commits only here: with either asked for, a
//!   clean work tree is answered by its commit and a dirty one refused
//!   ([`FetchError::DirtyUnsupported`]). On an unborn branch (no commit yet) the work tree is
//!   dirty, with `lastModified` 0 and no `dirtyRev` (as both Nix versions say).
//! - A **tree id** has no commit: only the NAR hash, store path and git content address.
//! - The git content address is the raw tree's: it is given only when the tree Nix sees is the
//!   raw tree (no submodule shown differently, nothing export-ignored).

use std::path::Path;

use crate::content_address::ContentAddress;
use crate::event::Sink;
use crate::git::GitHasher;
use crate::git::objects_dir::{GitDirs, locate_dirs, read_small};
use crate::git::source::Repository;
use crate::hash::{Algorithm, Hash};
use crate::method::FileIngestionMethod;
use crate::settings::Settings;
use crate::store_path::{References, StoreDir, StorePath};

mod attributes;
mod commit;
mod error;
pub mod lock;
mod pipeline;
mod refs;
mod rev;
mod submodules;
mod walk;
mod workdir;

pub use error::{Cause, FetchError};

use commit::{commit_time, count_commits, peel};
use pipeline::{Discard, nar_hash};
use refs::Refs;
use rev::Given;
use walk::TreeWalker;
use workdir::{WorkTree, work_tree_root};

/// How to fetch: the attributes of a `git+file` input or a `builtins.fetchGit` call. Defaults
/// are a flake input's: name `source`, no submodules, no export-ignore, not shallow.
#[derive(Debug, Clone)]
pub struct Fetch {
    name: String,
    submodules: bool,
    export_ignore: bool,
    shallow: bool,
    store_dir: StoreDir,
    settings: Settings,
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            settings: Settings::default(),
            name: "source".to_owned(),
            submodules: false,
            export_ignore: false,
            shallow: false,
            store_dir: StoreDir::default(),
        }
    }
}

/// What Nix's git fetcher records for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// What Nix records as `rev`: the commit a ref resolves to, or the id given (a commit or an
    /// annotated tag); `None` for a tree id.
    pub rev: Option<Hash>,
    /// The commit, once tags are peeled; `None` for a tree id.
    pub commit: Option<Hash>,
    /// The commit's tree (or the tree id given).
    pub tree: Hash,
    /// The ref given, or the branch `HEAD` names (Nix's default ref) when a revision was given
    /// by id or not at all (then `None` when `HEAD` is detached).
    pub git_ref: Option<String>,
    /// The commit's committer time (Nix's `lastModified`).
    pub last_modified: Option<i64>,
    /// The commits reachable from the commit, itself included (Nix's `revCount`); `None` for a
    /// tree id or a shallow fetch.
    pub rev_count: Option<u64>,
    /// SHA-256 of the NAR of the tree Nix sees (Nix's `narHash`).
    pub nar_hash: Hash,
    /// The NAR's size.
    pub nar_size: u64,
    /// The store path Nix adds the tree at (`fixed:r:sha256:<narHash>`).
    pub store_path: StorePath,
    /// `fixed:git:<algo>:<tree id>`, when the tree Nix sees is the raw tree.
    pub git_ca: Option<ContentAddress>,
    /// The store path of [`Fetched::git_ca`].
    pub git_store_path: Option<StorePath>,
    /// The answer is for a work tree with uncommitted changes ([`Fetch::fetch_work_tree`]):
    /// [`Fetched::commit`] is `HEAD`'s commit under them (`None` on an unborn branch). For any
    /// work tree, [`Fetched::tree`] is the git tree of its tracked files as they are on disk.
    pub dirty: bool,
    store_dir: StoreDir,
    /// What was asked for.
    asked: Asked,
    submodules: bool,
    export_ignore: bool,
}

impl Fetch {
    /// The defaults of a flake input ([`Fetch`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults of `builtins.fetchGit`: export-ignore on.
    pub fn fetch_git() -> Self {
        Self::default().export_ignore(true)
    }

    /// The store path name (default `source`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Nix's `submodules` attribute (default off). When on, export-ignore's `fetchGit` default
    /// is off too: set [`Fetch::export_ignore`] after this to override.
    pub fn submodules(mut self, on: bool) -> Self {
        self.submodules = on;
        if on {
            self.export_ignore = false;
        }
        self
    }

    /// Nix's `exportIgnore` attribute (default off; on for `builtins.fetchGit`).
    pub fn export_ignore(mut self, on: bool) -> Self {
        self.export_ignore = on;
        self
    }

    /// Nix's `shallow` attribute: accept a shallow repository, leaving `revCount` out.
    pub fn shallow(mut self, on: bool) -> Self {
        self.shallow = on;
        self
    }

    /// The store directory (default `/nix/store`).
    pub fn store_dir(mut self, store_dir: StoreDir) -> Self {
        self.store_dir = store_dir;
        self
    }

    /// The settings the fetch honours, as every route of the crate does (pass
    /// [`Options::settings`](crate::Options::settings)); default [`Settings::default`]:
    ///
    /// - threads: 1 reads, inflates and hashes on the calling thread; anything else (the
    ///   default, 0) hashes the NAR and checks blob ids on a second thread while the calling
    ///   thread reads and inflates objects, when the machine has more than one core;
    /// - collision detection: whether blob ids are checked with SHA-1 collision detection
    ///   (default on; trees, commits and tags always are);
    /// - limits: bounds on what the tree walk accepts.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Fetches `revision` of the repository at `repo` (a work tree or a bare repository).
    pub fn fetch(&self, repo: &Path, revision: &str) -> Result<Fetched, FetchError> {
        self.fetch_into(repo, revision, &mut Discard)
    }

    /// [`Fetch::fetch`], also sending the events of the tree Nix sees to `sink` (e.g. a
    /// [`NarWriter`](crate::nar::NarWriter) to write the NAR).
    pub fn fetch_into(
        &self,
        repo: &Path,
        revision: &str,
        sink: &mut dyn Sink,
    ) -> Result<Fetched, FetchError> {
        let dirs = locate_dirs(repo)?;
        let mut source = Repository::from_objects_dir(dirs.objects.clone())?;
        let refs = Refs::open(&dirs, source.algorithm());
        let (target, given) = rev::resolve(&refs, &mut source, revision)?;
        let asked = match given {
            Given::Rev => Asked::Rev,
            Given::Ref(name) => Asked::Ref(name),
        };
        self.fetch_object(repo, &dirs, &mut source, &refs, target, asked, sink)
    }

    /// What `nix flake prefetch git+file://REPO` (no `ref`, no `rev`) answers. For a work
    /// tree: the files its index tracks as they are on disk, locked as `HEAD`'s commit on its
    /// branch when they equal that commit's, else as dirty ([`Fetched::dirty`]). For a bare
    /// repository: `HEAD`'s commit.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::process::Command;
    /// # let dir = tempfile::tempdir()?;
    /// # let git = |args: &[&str]| Command::new("git").current_dir(dir.path())
    /// #     .env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1")
    /// #     .env("GIT_AUTHOR_NAME", "a").env("GIT_AUTHOR_EMAIL", "a@b")
    /// #     .env("GIT_COMMITTER_NAME", "a").env("GIT_COMMITTER_EMAIL", "a@b")
    /// #     .env("GIT_COMMITTER_DATE", "1700000000 +0000").args(args).output();
    /// # git(&["init", "-q", "-b", "main"])?;
    /// # std::fs::write(dir.path().join("f"), "hi\n")?;
    /// # git(&["add", "f"])?;
    /// # git(&["commit", "-q", "-m", "one"])?;
    /// use nix_ingest::fetch::Fetch;
    ///
    /// // A clean work tree on branch `main`: its commit, locked on the branch.
    /// let clean = Fetch::new().fetch_work_tree(dir.path())?;
    /// assert!(!clean.dirty);
    /// assert_eq!(clean.locked("file:///r").git_ref.as_deref(), Some("refs/heads/main"));
    ///
    /// // A tracked file changed: dirty, locked by `<commit>-dirty`, no `rev`.
    /// std::fs::write(dir.path().join("f"), "changed\n")?;
    /// let dirty = Fetch::new().fetch_work_tree(dir.path())?;
    /// let locked = dirty.locked("file:///r");
    /// assert!(dirty.dirty && locked.rev.is_none());
    /// let head = clean.rev.unwrap().encode(nix_ingest::Format::Base16);
    /// assert_eq!(locked.dirty_rev, Some(format!("{head}-dirty")));
    /// assert_ne!(dirty.nar_hash, clean.nar_hash);
    /// # Ok(()) }
    /// ```
    pub fn fetch_work_tree(&self, repo: &Path) -> Result<Fetched, FetchError> {
        self.fetch_work_tree_into(repo, &mut Discard)
    }

    /// [`Fetch::fetch_work_tree`], also sending the events of the tree Nix sees to `sink`.
    pub fn fetch_work_tree_into(
        &self,
        repo: &Path,
        sink: &mut dyn Sink,
    ) -> Result<Fetched, FetchError> {
        let dirs = locate_dirs(repo)?;
        let mut source = Repository::from_objects_dir(dirs.objects.clone())?;
        let algorithm = source.algorithm();
        let refs = Refs::open(&dirs, algorithm);
        let head = refs.resolve("HEAD")?;
        let unborn = || FetchError::UnknownRevision("HEAD".to_owned());
        let Some(root) = work_tree_root(repo) else {
            let head = head.ok_or_else(unborn)?;
            return self.fetch_object(repo, &dirs, &mut source, &refs, head, Asked::WorkTree, sink);
        };
        let work_tree = WorkTree::read(
            &root,
            &dirs,
            algorithm,
            self.settings.collision_detection(),
            self.settings.limits(),
        )?;
        // The commit under the work tree; none on an unborn branch, where Nix calls the work
        // tree dirty and its `lastModified` 0.
        let (commit, dirty) = match head {
            Some(head) => {
                let (commit, tree) = peel(&mut source, &head)?;
                let commit = commit.ok_or(FetchError::NoTree {
                    id: head,
                    kind: crate::git::ObjectKind::Tree,
                })?;
                (Some(commit), work_tree.differs_from(&mut source, &tree)?)
            }
            None => (None, true),
        };
        if self.submodules || self.export_ignore {
            // Applied to commits only: a clean work tree is answered by its commit.
            return match (commit, dirty) {
                (Some(commit), false) => self.fetch_object(
                    repo,
                    &dirs,
                    &mut source,
                    &refs,
                    commit,
                    Asked::WorkTree,
                    sink,
                ),
                _ => Err(FetchError::DirtyUnsupported(repo.to_owned())),
            };
        }
        let (rev, rev_count, git_ref) = match commit {
            Some(commit) if !dirty => (
                Some(commit),
                self.rev_count(repo, &dirs, &mut source, &commit)?,
                refs.head_branch()?,
            ),
            _ => (None, None, None),
        };
        let last_modified = Some(match &commit {
            Some(commit) => commit_time(&mut source, commit)?,
            None => 0,
        });
        let mut git = Some(
            GitHasher::new(algorithm).collision_detection(self.settings.collision_detection()),
        );
        let (nar_hash, nar_size) = nar_hash(
            self.settings.threads(),
            self.settings.collision_detection(),
            sink,
            Box::new(|sink, _| {
                let hasher = git.take().unwrap_or_else(|| GitHasher::new(algorithm));
                let mut tee = crate::event::Tee::new(hasher, sink);
                let sent = work_tree.send(&mut tee);
                git = Some(tee.into_inner().0);
                sent
            }),
        )?;
        let tree = git
            .map(GitHasher::finish)
            .transpose()
            .map_err(FetchError::Nar)?
            .ok_or(FetchError::Nar(crate::event::SinkError::Protocol(
                "no git tree",
            )))?;
        let raw_tree = (!work_tree.has_submodules()).then_some(tree);
        self.answer(algorithm, nar_hash, nar_size, raw_tree, |f| Fetched {
            rev,
            commit,
            tree,
            git_ref,
            last_modified,
            rev_count,
            dirty,
            asked: Asked::WorkTree,
            ..f
        })
    }

    /// Nix's `revCount` of `commit`: `None` when shallow fetches are allowed.
    fn rev_count(
        &self,
        repo: &Path,
        dirs: &GitDirs,
        source: &mut Repository,
        commit: &Hash,
    ) -> Result<Option<u64>, FetchError> {
        if self.shallow {
            return Ok(None);
        }
        let shallow = dirs.common.join("shallow");
        if read_small(&shallow)?.is_some_and(|s| !s.is_empty()) {
            return Err(FetchError::Shallow(repo.to_owned()));
        }
        Ok(Some(count_commits(source, commit)?))
    }

    /// The answer for object `target` (a commit, tag or tree).
    #[allow(clippy::too_many_arguments)]
    fn fetch_object(
        &self,
        repo: &Path,
        dirs: &GitDirs,
        source: &mut Repository,
        refs: &Refs,
        target: Hash,
        asked: Asked,
        sink: &mut dyn Sink,
    ) -> Result<Fetched, FetchError> {
        let algorithm = source.algorithm();
        let (commit, tree) = peel(source, &target)?;
        let mut last_modified = None;
        let mut rev_count = None;
        if let Some(commit) = &commit {
            last_modified = Some(commit_time(source, commit)?);
            rev_count = self.rev_count(repo, dirs, source, commit)?;
        }
        // A ref locks the commit it leads to (Nix 2.34); an id locks itself.
        let rev = commit.map(|c| if asked == Asked::Rev { target } else { c });
        let git_ref = match (&asked, commit) {
            (_, None) => None,
            (Asked::Ref(name), _) => Some(name.clone()),
            (Asked::Rev, _) => Some(rev::default_ref(refs)?),
            (Asked::WorkTree, _) => refs.head_branch()?,
        };

        // The tree Nix sees, in one pass.
        let mut changed = false;
        let (nar_hash, nar_size) = nar_hash(
            self.settings.threads(),
            self.settings.collision_detection(),
            sink,
            Box::new(|sink, deferred| {
                let mut walker = TreeWalker {
                    fetch: self,
                    deferred,
                    changed: &mut changed,
                };
                walker.walk(dirs, source, &tree, commit.as_ref(), sink)
            }),
        )?;
        let raw_tree = (!changed).then_some(tree);
        self.answer(algorithm, nar_hash, nar_size, raw_tree, |f| Fetched {
            rev,
            commit,
            tree,
            git_ref,
            last_modified,
            rev_count,
            dirty: false,
            asked,
            ..f
        })
    }

    /// The store paths of an answer; `raw_tree`: the git tree, when it is the tree Nix sees.
    fn answer(
        &self,
        algorithm: Algorithm,
        nar_hash: Hash,
        nar_size: u64,
        raw_tree: Option<Hash>,
        fill: impl FnOnce(Fetched) -> Fetched,
    ) -> Result<Fetched, FetchError> {
        let no_refs = References::default();
        let ca = ContentAddress::fixed(FileIngestionMethod::Nar, nar_hash);
        let store_path = self
            .store_dir
            .make_path_from_ca(&self.name, &ca, &no_refs)?;
        let (git_ca, git_store_path) = match raw_tree {
            None => (None, None),
            Some(tree) => {
                let ca = ContentAddress::fixed(FileIngestionMethod::Git, tree);
                let path = match algorithm {
                    Algorithm::Sha1 | Algorithm::Sha256 => Some(
                        self.store_dir
                            .make_path_from_ca(&self.name, &ca, &no_refs)?,
                    ),
                    _ => None,
                };
                (Some(ca), path)
            }
        };
        Ok(fill(Fetched {
            rev: None,
            commit: None,
            tree: nar_hash,
            git_ref: None,
            last_modified: None,
            rev_count: None,
            nar_hash,
            nar_size,
            store_path,
            git_ca,
            git_store_path,
            dirty: false,
            store_dir: self.store_dir.clone(),
            asked: Asked::Rev,
            submodules: self.submodules,
            export_ignore: self.export_ignore,
        }))
    }
}

/// What a fetch was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    /// An object id (Nix's `rev`).
    Rev,
    /// A ref name (Nix's `ref`).
    Ref(String),
    /// Neither: the work tree, or `HEAD`.
    WorkTree,
}

impl Fetched {
    /// The store path, printed in full.
    pub fn store_path_string(&self) -> String {
        self.store_dir.display_path(&self.store_path)
    }
}
