//! The git storage backend, `--storage git:PATH`: every verified path kept as git objects in a
//! bare repository, its files deduplicated across all paths by content, and served back as the
//! exact NAR it was uploaded as.
//!
//! # Layout
//!
//! ```text
//! PATH/                                   a bare git repository (created, SHA-1, if missing)
//! PATH/objects/…                          blobs, trees and commits (loose, then packed)
//! PATH/refs/nix/<hash part>               → the commit of a store path
//! PATH/refs/nix-nar/<NAR hash, nix32>     → a commit whose tree is that NAR (to serve nar/…)
//! PATH/refs/nix-upload/<file hash>.nar.<ext>
//!                                         → the commit of the path uploaded as that NAR file
//! PATH/refs/nix-objects/<hash part>.ls    → the blob of a path's NAR listing
//! PATH/refs/nix-objects/realisations/<id, %-escaped>.doi
//!                                         → the blob of a realisation
//! PATH/refs/nix-quarantine/nix/…          paths fetched by `replicate`, not yet verified
//! PATH/nix-ingest/access/<hash part>      empty files: their mtime is the path's last read
//! PATH/.publish.lock                      held while publishing, collecting, packing refs
//! PATH/nix-ingest/pack.lock               held while repacking (packing, collecting)
//! ```
//!
//! A store path is a **commit**:
//!
//! - its tree is the path's root directory, each file a blob (mode `100644` or `100755`), each
//!   symlink a blob of its target (`120000`), each directory a tree — exactly the objects of
//!   `nix hash path --mode git`. A root that is a single file or symlink has no tree of its own:
//!   the commit's tree then holds one entry, named after the store path (`<hash>-<name>`), with
//!   the root's mode;
//! - its parents are the commits of its references (the path itself excluded), in the order of
//!   the narinfo's `References`. The cache refuses a path whose references it does not hold
//!   (409, as the directory backend), so every parent is there when the commit is made;
//! - its message is `<store path>\nRoot: <directory|regular|executable|symlink> <git id>\n\n`
//!   followed by the narinfo the cache serves, byte for byte;
//! - author and committer are `nix-ingest <nix-ingest@localhost> 0 +0000`: the commit depends
//!   on nothing but the path, so two caches holding the same path hold the same commit.
//!
//! The narinfo served is the verified upload's, with the NAR file it names rewritten to the
//! uncompressed NAR: `URL: nar/<NarHash>.nar`, `Compression: none`, `FileHash` = `NarHash`,
//! `FileSize` = `NarSize`. (Signatures sign none of these fields, so they stay valid.) A `GET`
//! of that URL streams the NAR rebuilt from the tree ([`to_events`] into a NAR writer, from a
//! blocking thread through a bounded channel): objects are read through one
//! `git cat-file --batch` (their bodies streamed as git writes them, never held whole here),
//! the crate checks each one against its id as it goes (a corrupt object fails the response
//! instead of ending it), and the bytes are those `nix-store --dump` gives for the path, so their
//! hash is the narinfo's `NarHash`.
//! Nix reads it as any `Compression: none` cache.
//!
//! A Nix that uploaded a path keeps the narinfo it sent in its local cache, and asks for the
//! compressed file that narinfo names: `refs/nix-upload/<file name>` finds the path, and its NAR
//! is compressed again on the fly (xz, zstd or bzip2, at the fastest level). The bytes are not
//! the uploaded file's (its `FileHash`), but decompress to the same NAR, which Nix checks. A
//! `HEAD` of such a file answers 404: `nix copy --to` asks with `HEAD` whether a NAR file is
//! there, and must upload it again to have another path with the same NAR verified.
//!
//! # Writing
//!
//! An upload is verified exactly as for the other backends (in the staging area, before
//! anything reaches the repository). Then, under the publication lock: the NAR is streamed
//! (decompressed as it is read) through the crate's NAR parser and [`GitHasher`] into a
//! [`LooseObjectWriter`], which writes each blob and tree as a loose object unless it is already
//! there (the same file in two paths is one blob); the commit is written with
//! `git hash-object -w`; the file system is synced; and only then are the refs created, in one
//! `git update-ref --stdin` transaction (`create`: never replacing a ref). A reader never sees a
//! ref before all its objects.
//!
//! # Packing, collection, replication
//!
//! Every `pack_every` publications (and with `nix-ingest-binary-cache pack`) git's own
//! `git repack` packs the loose objects with deltas; packing never removes an unreachable
//! object (`-k`), so it is safe while paths are being written, and a reader whose object moved
//! into a pack meanwhile reads the NAR again from where it was. `gc` removes the refs of the
//! paths a policy drops (the closure of every kept path is kept, as in the directory backend),
//! then runs `git gc --prune=<expiry>`. `replicate` fetches another cache's `refs/nix/*` into
//! `refs/nix-quarantine/nix/*` and verifies every path again — its narinfo as an upload's, its
//! NAR rebuilt from the fetched tree and checked against `NarHash`, `NarSize` and the content
//! address, its commit rebuilt and compared — before publishing its ref.
//!
//! # Differences from other git-backed caches
//!
//! Caches that keep store paths as git trees and commits usually store what they are given.
//! Here every path is verified on upload (content address or trusted signature, NAR hash and
//! size) and again when replicated, every object is checked against its id when read, and NAR
//! listings and realisations are kept too.
//!
//! Limits: git must be installed (refs, commits, objects read back, packing and fetching go
//! through it). Publications into one repository are serialized (the NAR is written into the
//! repository under the publication lock, so that a collection cannot prune an object a path
//! being written counts on). Listings and realisations are not replicated, and a cache cannot be
//! pushed to over git (replication pulls).
//!
//! [`to_events`]: nix_ingest::git::to_events
//! [`GitHasher`]: nix_ingest::git::GitHasher
//! [`LooseObjectWriter`]: nix_ingest::git::loose::LooseObjectWriter

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use nix_ingest::Limits;
use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::git::loose::LooseObjectWriter;
use nix_ingest::git::source::{self as git_source, ObjectSource};
use nix_ingest::git::{GitHasher, Mode, ObjectKind, ObjectSink, TreeEntry, encode_tree, object_id};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::narinfo::{Compression, NarInfo};
use nix_ingest::store_path::StoreDir;

use crate::gc::PublishLock;
use crate::names::NarFile;
use crate::refusal::Refusal;
use crate::storage::{LocalNar, Storage};
use crate::store::{Beside, Published};

/// Where store paths' commits are.
pub const PATHS: &str = "refs/nix/";
/// Where commits are found by NAR hash.
pub const NARS: &str = "refs/nix-nar/";
/// Where listings and realisations are.
pub const OBJECTS: &str = "refs/nix-objects/";
/// Where commits are found by the name of the (compressed) NAR file they were uploaded as.
pub const UPLOADS: &str = "refs/nix-upload/";
/// Where `replicate` fetches to.
pub const QUARANTINE: &str = "refs/nix-quarantine/nix/";

const IDENT: &str = "nix-ingest <nix-ingest@localhost> 0 +0000";

/// A bare git repository holding a binary cache (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct GitStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    repo: PathBuf,
    algorithm: Algorithm,
    store_dir: StoreDir,
    limits: Limits,
    pack_every: u64,
    published: AtomicU64,
    packing: AtomicBool,
}

/// A git command on the repository at `repo`, with git's environment variables that could point
/// it elsewhere removed.
fn git_command(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command.arg("--git-dir").arg(repo);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_COMMON_DIR",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs `command` with `input` on its standard input (written from another thread, so that a
/// command answering as it reads cannot block), returning status, standard output and error.
fn run(mut command: Command, input: Option<Vec<u8>>) -> io::Result<std::process::Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run git (is it installed?): {e}")))?;
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })),
        _ => None,
    };
    let output = child.wait_with_output()?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(output)
}

/// Runs `git ARGS` on `repo`, failing with its standard error unless it succeeds.
fn git_ok(repo: &Path, args: &[&str], input: Option<Vec<u8>>) -> io::Result<Vec<u8>> {
    let mut command = git_command(repo);
    command.args(args);
    let output = run(command, input)?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "git {} failed ({}): {}",
            args.first().copied().unwrap_or_default(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

fn hex(id: &Hash) -> String {
    id.encode(Format::Base16)
}

fn bad(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The ref name of a small object's storage key: `/` kept, bytes other than ASCII letters,
/// digits and `-._+!` escaped as `%XX` (a ref name cannot hold `:`, `?`, …).
pub fn object_ref(key: &str) -> String {
    let mut out = String::from(OBJECTS);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._+!/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a path's root is kept, as the commit message says.
fn kind_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Directory => "directory",
        Mode::File => "regular",
        Mode::Executable => "executable",
        Mode::Symlink => "symlink",
    }
}

fn kind_of(name: &str) -> Option<Mode> {
    Some(match name {
        "directory" => Mode::Directory,
        "regular" => Mode::File,
        "executable" => Mode::Executable,
        "symlink" => Mode::Symlink,
        _ => return None,
    })
}

/// A store path's commit, read back.
#[derive(Debug, Clone)]
pub struct PathCommit {
    /// The commit.
    pub id: Hash,
    /// Its tree.
    pub tree: Hash,
    /// Its parents.
    pub parents: Vec<Hash>,
    /// What the root is.
    pub mode: Mode,
    /// The root's git id (the tree itself for a directory).
    pub root: Hash,
    /// The narinfo the cache serves.
    pub narinfo: String,
    /// The store path as printed (the message's first line).
    pub printed: String,
}

/// The message of a path's commit.
fn message(printed: &str, mode: Mode, root: &Hash, narinfo: &str) -> String {
    format!(
        "{printed}\nRoot: {} {}\n\n{narinfo}",
        kind_name(mode),
        hex(root)
    )
}

/// The body of a path's commit.
fn commit_body(tree: &Hash, parents: &[Hash], message: &str) -> Vec<u8> {
    let mut body = format!("tree {}\n", hex(tree));
    for p in parents {
        body.push_str(&format!("parent {}\n", hex(p)));
    }
    body.push_str(&format!("author {IDENT}\ncommitter {IDENT}\n\n{message}"));
    body.into_bytes()
}

/// The tree a root that is a file or symlink is wrapped in: one entry named `base_name`.
fn wrapper_tree(algorithm: Algorithm, base_name: &str, mode: Mode, root: &Hash) -> (Hash, Vec<u8>) {
    let mut entries = [TreeEntry {
        mode,
        name: base_name.as_bytes().to_vec(),
        id: *root,
    }];
    let body = encode_tree(&mut entries);
    (object_id(algorithm, ObjectKind::Tree, &body), body)
}

fn parse_commit(algorithm: Algorithm, id: Hash, body: &[u8]) -> io::Result<PathCommit> {
    let text =
        std::str::from_utf8(body).map_err(|_| bad(format!("commit {} is not UTF-8", hex(&id))))?;
    let (headers, message) = text
        .split_once("\n\n")
        .ok_or_else(|| bad(format!("commit {} has no message", hex(&id))))?;
    let parse_id = |s: &str| {
        Hash::parse_unprefixed(s, algorithm)
            .map_err(|e| bad(format!("commit {}: bad id {s:?}: {e}", hex(&id))))
    };
    let mut tree = None;
    let mut parents = Vec::new();
    for line in headers.lines() {
        if let Some(t) = line.strip_prefix("tree ") {
            tree = Some(parse_id(t)?);
        } else if let Some(p) = line.strip_prefix("parent ") {
            parents.push(parse_id(p)?);
        }
    }
    let tree = tree.ok_or_else(|| bad(format!("commit {} has no tree", hex(&id))))?;
    let not_ours = || bad(format!("commit {} is not a store path's commit", hex(&id)));
    let (head, narinfo) = message.split_once("\n\n").ok_or_else(not_ours)?;
    let (printed, root_line) = head.split_once('\n').ok_or_else(not_ours)?;
    let (kind, root) = root_line
        .strip_prefix("Root: ")
        .and_then(|r| r.split_once(' '))
        .ok_or_else(not_ours)?;
    let mode = kind_of(kind).ok_or_else(not_ours)?;
    Ok(PathCommit {
        id,
        tree,
        parents,
        mode,
        root: parse_id(root)?,
        narinfo: narinfo.to_owned(),
        printed: printed.to_owned(),
    })
}

/// Records the root's kind from the first event, passing every event on.
struct RootKind<S> {
    inner: S,
    mode: Option<Mode>,
}

impl<S: Sink> Sink for RootKind<S> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if self.mode.is_none() {
            self.mode = Some(match event {
                Event::DirectoryStart { .. } => Mode::Directory,
                Event::FileStart {
                    executable: true, ..
                } => Mode::Executable,
                Event::FileStart { .. } => Mode::File,
                _ => Mode::Symlink,
            });
        }
        self.inner.event(event)
    }
}

/// What one `git cat-file --batch` answer holds.
type Batch = Vec<Option<(Hash, String, Vec<u8>)>>;

impl GitStorage {
    /// Opens the bare repository at `repo`, creating it (`git init --bare`, SHA-1) if it does not
    /// exist, for paths in `store_dir` whose NARs are bounded by `limits`. Packs after every
    /// `pack_every` publications (never if 0).
    pub fn open(
        repo: &Path,
        store_dir: &StoreDir,
        limits: Limits,
        pack_every: u64,
    ) -> io::Result<GitStorage> {
        if !repo.join("HEAD").is_file() {
            std::fs::create_dir_all(repo)?;
            let mut command = Command::new("git");
            command
                .args(["init", "--bare", "--quiet", "--object-format=sha1"])
                .arg(repo);
            let output = run(command, None)?;
            if !output.status.success() {
                return Err(io::Error::other(format!(
                    "git init --bare {} failed: {}",
                    repo.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
        }
        // Refs are the cache's index: no reflogs, and no automatic gc (pruning is `gc`'s).
        git_ok(repo, &["config", "core.logAllRefUpdates", "false"], None)?;
        git_ok(repo, &["config", "gc.auto", "0"], None)?;
        let objects = nix_ingest::git::objects_dir::ObjectsDir::locate(repo).map_err(|e| {
            io::Error::other(format!("{}: {}", repo.display(), crate::refusal::chain(&e)))
        })?;
        std::fs::create_dir_all(repo.join("nix-ingest/access"))?;
        Ok(GitStorage {
            inner: Arc::new(Inner {
                repo: repo.to_owned(),
                algorithm: objects.algorithm,
                store_dir: store_dir.clone(),
                limits,
                pack_every,
                published: AtomicU64::new(0),
                packing: AtomicBool::new(false),
            }),
        })
    }

    /// The repository.
    pub fn repo(&self) -> &Path {
        &self.inner.repo
    }
}

impl Inner {
    fn git(&self, args: &[&str], input: Option<Vec<u8>>) -> io::Result<Vec<u8>> {
        git_ok(&self.repo, args, input)
    }

    /// `git cat-file --batch` of `names` (refs or ids): each one's id, type and body, or `None`.
    fn cat(&self, names: &[String]) -> io::Result<Batch> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::new();
        for name in names {
            if name.contains(['\n', ' ']) {
                return Err(bad(format!("bad object name {name:?}")));
            }
            input.extend_from_slice(name.as_bytes());
            input.push(b'\n');
        }
        let out = self.git(&["cat-file", "--batch"], Some(input))?;
        let mut rest = &out[..];
        let mut answers = Vec::new();
        for name in names {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| bad("git cat-file: answer cut short"))?;
            let line =
                std::str::from_utf8(&rest[..nl]).map_err(|_| bad("git cat-file: bad line"))?;
            rest = &rest[nl + 1..];
            if line.ends_with(" missing") || line.ends_with(" ambiguous") {
                answers.push(None);
                continue;
            }
            let mut fields = line.split(' ');
            let (Some(id), Some(kind), Some(size), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(format!(
                    "git cat-file: unexpected answer {line:?} for {name}"
                )));
            };
            let size: usize = size.parse().map_err(|_| bad("git cat-file: bad size"))?;
            let id = Hash::parse_unprefixed(id, self.algorithm).map_err(bad)?;
            let body = rest
                .get(..size)
                .ok_or_else(|| bad("git cat-file: body cut short"))?
                .to_vec();
            rest = rest.get(size + 1..).unwrap_or_default();
            answers.push(Some((id, kind.to_owned(), body)));
        }
        Ok(answers)
    }

    /// The ids `refs` point to (`None` where missing).
    fn resolve(&self, refs: &[String]) -> io::Result<Vec<Option<Hash>>> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["for-each-ref", "--format=%(refname) %(objectname)"];
        args.extend(refs.iter().map(String::as_str));
        // for-each-ref also lists the refs below a pattern: only exact names are taken.
        let out = self.git(&args, None)?;
        let text = String::from_utf8(out).map_err(|_| bad("git for-each-ref: not UTF-8"))?;
        let mut found = BTreeMap::new();
        for line in text.lines() {
            if let Some((name, id)) = line.split_once(' ') {
                found.insert(name.to_owned(), id.to_owned());
            }
        }
        refs.iter()
            .map(|r| {
                found
                    .get(r)
                    .map(|id| Hash::parse_unprefixed(id, self.algorithm).map_err(bad))
                    .transpose()
            })
            .collect()
    }

    fn resolve_one(&self, name: String) -> io::Result<Option<Hash>> {
        Ok(self.resolve(&[name])?.pop().flatten())
    }

    /// All refs under `prefix`: name without the prefix → id.
    fn refs_under(&self, prefix: &str) -> io::Result<BTreeMap<String, Hash>> {
        let out = self.git(
            &["for-each-ref", "--format=%(refname) %(objectname)", prefix],
            None,
        )?;
        let text = String::from_utf8(out).map_err(|_| bad("git for-each-ref: not UTF-8"))?;
        let mut refs = BTreeMap::new();
        for line in text.lines() {
            if let Some((name, id)) = line.split_once(' ')
                && let Some(rest) = name.strip_prefix(prefix)
            {
                refs.insert(
                    rest.to_owned(),
                    Hash::parse_unprefixed(id, self.algorithm).map_err(bad)?,
                );
            }
        }
        Ok(refs)
    }

    /// The path commits of `names` (refs or ids).
    fn path_commits(&self, names: &[String]) -> io::Result<Vec<Option<PathCommit>>> {
        self.cat(names)?
            .into_iter()
            .map(|answer| match answer {
                Some((id, kind, body)) if kind == "commit" => {
                    parse_commit(self.algorithm, id, &body).map(Some)
                }
                Some((id, kind, _)) => Err(bad(format!("{} is a {kind}, not a commit", hex(&id)))),
                None => Ok(None),
            })
            .collect()
    }

    fn path_commit(&self, name: String) -> io::Result<Option<PathCommit>> {
        Ok(self.path_commits(&[name])?.pop().flatten())
    }

    /// The commit serving the NAR file `file` (uncompressed only).
    fn nar_commit(&self, file: &NarFile) -> io::Result<Option<PathCommit>> {
        if *file.compression() != Compression::None {
            return Ok(None);
        }
        self.path_commit(format!("{NARS}{}", file.file_hash().encode(Format::Nix32)))
    }

    fn access_file(&self, hash_part: &str) -> PathBuf {
        self.repo.join("nix-ingest/access").join(hash_part)
    }

    fn record_access(&self, hash_part: &str) -> io::Result<()> {
        let path = self.access_file(hash_part);
        std::fs::File::create(&path)?;
        Ok(())
    }

    /// Streams a NAR into the repository as loose objects: its root's git id and kind.
    fn ingest(&self, nar: impl Read) -> io::Result<(Hash, Mode, LooseObjectWriter)> {
        let writer = LooseObjectWriter::open(&self.repo).map_err(|e| {
            io::Error::other(format!(
                "{}: {}",
                self.repo.display(),
                crate::refusal::chain(&e)
            ))
        })?;
        let mut sink = RootKind {
            inner: GitHasher::with_objects(self.algorithm, writer),
            mode: None,
        };
        nix_ingest::nar::read(nar, &mut sink, &self.limits).map_err(|e| {
            io::Error::other(format!(
                "cannot store the NAR: {}",
                crate::refusal::chain(&e)
            ))
        })?;
        let mode = sink.mode.ok_or_else(|| bad("empty NAR"))?;
        let (id, writer) = sink.inner.finish_with_objects().map_err(|e| {
            io::Error::other(format!(
                "cannot store the NAR: {}",
                crate::refusal::chain(&e)
            ))
        })?;
        Ok((id, mode, writer))
    }

    /// Flushes everything written to the repository's file system.
    fn sync(&self) -> io::Result<()> {
        let dir = std::fs::File::open(self.repo.join("objects"))?;
        rustix::fs::syncfs(&dir)?;
        Ok(())
    }

    /// Writes the commit of a path, returning its id.
    fn write_commit(&self, tree: &Hash, parents: &[Hash], message: &str) -> io::Result<Hash> {
        let body = commit_body(tree, parents, message);
        let expected = object_id(self.algorithm, ObjectKind::Commit, &body);
        let out = self.git(
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            Some(body),
        )?;
        let written = String::from_utf8_lossy(&out).trim().to_owned();
        if written != hex(&expected) {
            return Err(io::Error::other(format!(
                "git wrote commit {written}, expected {}",
                hex(&expected)
            )));
        }
        Ok(expected)
    }

    /// Applies a ref transaction (`git update-ref --stdin` lines): all or nothing.
    fn update_refs(&self, lines: &str) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.git(&["update-ref", "--stdin"], Some(lines.as_bytes().to_vec()))
            .map(|_| ())
    }

    /// Streams the NAR of `commit` into `out`.
    fn write_nar<W: Write>(&self, commit: &PathCommit, out: W) -> io::Result<W> {
        let mut repo = CatFile::open(&self.repo, self.algorithm)?;
        nix_ingest::git::to_nar(&commit.root, commit.mode, &mut repo, out, &self.limits).map_err(
            |e| {
                io::Error::other(format!(
                    "cannot rebuild the NAR of {}: {}",
                    commit.printed,
                    crate::refusal::chain(&e)
                ))
            },
        )
    }

    /// Publishes a verified path: its NAR read from `nar` (the staged file, decompressed), or,
    /// if `None`, the published NAR `file`.
    fn publish(
        &self,
        nar: Option<impl Read>,
        file: &NarFile,
        hash_part: &str,
        references: &[String],
        narinfo: &str,
    ) -> io::Result<Published> {
        let _lock = PublishLock::acquire(&self.repo)?;
        let mut refs = vec![format!("{PATHS}{hash_part}")];
        refs.extend(references.iter().map(|r| format!("{PATHS}{r}")));
        let resolved = self.resolve(&refs)?;
        if resolved[0].is_some() {
            return Ok(Published::AlreadyThere);
        }
        let mut parents = Vec::new();
        for (r, id) in references.iter().zip(&resolved[1..]) {
            match id {
                Some(id) => parents.push(*id),
                None => return Ok(Published::MissingReference(r.clone())),
            }
        }
        let mut info =
            NarInfo::parse(narinfo, &self.store_dir).map_err(|e| bad(crate::refusal::chain(&e)))?;
        let served = NarFile::new(info.nar_hash, Compression::None)
            .ok_or_else(|| bad("NarHash is not a SHA-256"))?;
        let (root, mode) = match nar {
            Some(reader) => {
                let (root, mode, _writer) = self.ingest(reader)?;
                (root, mode)
            }
            None => match self.nar_commit(file)? {
                Some(commit) => (commit.root, commit.mode),
                None => return Ok(Published::MissingNar),
            },
        };
        let base_name = info.store_path.to_string();
        let tree = if mode == Mode::Directory {
            root
        } else {
            let (tree, body) = wrapper_tree(self.algorithm, &base_name, mode, &root);
            let mut writer =
                LooseObjectWriter::open(&self.repo).map_err(|e| io::Error::other(e.to_string()))?;
            writer.tree(&tree, &body).map_err(io::Error::other)?;
            tree
        };
        info.url = served.url();
        info.compression = Compression::None;
        info.file_hash = Some(info.nar_hash);
        info.file_size = Some(info.nar_size);
        let printed = self.store_dir.display_path(&info.store_path);
        let text = message(&printed, mode, &root, &info.to_string());
        let commit = self.write_commit(&tree, &parents, &text)?;
        self.sync()?;
        let nar_ref = format!("{NARS}{}", info.nar_hash.encode(Format::Nix32));
        let mut lines = format!("create {PATHS}{hash_part} {}\n", hex(&commit));
        let upload_ref = format!("{UPLOADS}{}", file.file_name());
        let absent = self.resolve(&[nar_ref.clone(), upload_ref.clone()])?;
        if absent[0].is_none() {
            lines.push_str(&format!("create {nar_ref} {}\n", hex(&commit)));
        }
        if *file.compression() != Compression::None && absent[1].is_none() {
            lines.push_str(&format!("create {upload_ref} {}\n", hex(&commit)));
        }
        self.update_refs(&lines)?;
        self.record_access(hash_part)?;
        Ok(Published::Yes)
    }

    fn publish_beside(&self, key: &str, owner: &str, data: Vec<u8>) -> io::Result<Beside> {
        let _lock = PublishLock::acquire(&self.repo)?;
        let name = object_ref(key);
        let resolved = self.resolve(&[format!("{PATHS}{owner}"), name.clone()])?;
        if resolved[0].is_none() {
            return Ok(Beside::MissingOwner);
        }
        if resolved[1].is_some() {
            return Ok(Beside::AlreadyThere);
        }
        let out = self.git(&["hash-object", "-w", "--stdin"], Some(data))?;
        let blob = String::from_utf8_lossy(&out).trim().to_owned();
        self.sync()?;
        self.update_refs(&format!("create {name} {blob}\n"))?;
        Ok(Beside::Yes)
    }

    fn object(&self, key: &str, max: usize) -> io::Result<Option<Vec<u8>>> {
        match self.cat(&[object_ref(key)])?.pop().flatten() {
            Some((_, kind, body)) if kind == "blob" => {
                if body.len() > max {
                    return Err(io::Error::other(format!("{key} is over {max} bytes")));
                }
                Ok(Some(body))
            }
            Some((id, kind, _)) => Err(bad(format!("{key}: {} is a {kind}", hex(&id)))),
            None => Ok(None),
        }
    }

    /// Packs the repository (see [`pack`]), unless a packing is under way.
    fn pack_in_background(self: &Arc<Self>) {
        if self.packing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        std::thread::spawn(move || {
            match pack(&inner.repo) {
                Ok(()) => tracing::info!(repo = %inner.repo.display(), "packed"),
                Err(e) => tracing::warn!(error = %e, "cannot pack the repository"),
            }
            inner.packing.store(false, Ordering::Release);
        });
    }
}

/// Git objects read through one `git cat-file --batch` process: each body streams from git's
/// output as it is read (git itself streams large blobs), so no object is held whole here; git
/// also finds objects that a concurrent repack moved. The crate's readers check every object
/// against its id.
struct CatFile {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: Option<io::BufReader<std::process::ChildStdout>>,
    algorithm: Algorithm,
    /// Bytes of the previous answer not read yet (the rest of its body and its newline).
    pending: u64,
}

impl CatFile {
    fn open(repo: &Path, algorithm: Algorithm) -> io::Result<CatFile> {
        let mut command = git_command(repo);
        command
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot run git (is it installed?): {e}"))
        })?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .map(|out| io::BufReader::with_capacity(CHUNK, out));
        Ok(CatFile {
            child,
            stdin,
            stdout,
            algorithm,
            pending: 0,
        })
    }

    /// Asks for `id`: its kind and size, or `None` if git has no such object.
    fn ask(&mut self, id: &Hash) -> io::Result<Option<(ObjectKind, u64)>> {
        use std::io::BufRead;
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            return Err(io::Error::other("git cat-file is gone"));
        };
        io::copy(&mut stdout.by_ref().take(self.pending), &mut io::sink())?;
        self.pending = 0;
        writeln!(stdin, "{}", hex(id))?;
        stdin.flush()?;
        let mut line = String::new();
        stdout.by_ref().take(4096).read_line(&mut line)?;
        let line = line
            .strip_suffix('\n')
            .ok_or_else(|| bad("git cat-file: answer cut short"))?;
        if line.ends_with(" missing") {
            return Ok(None);
        }
        let mut fields = line.split(' ');
        let (Some(got), Some(kind), Some(size), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(format!("git cat-file: unexpected answer {line:?}")));
        };
        if got != hex(id) {
            return Err(bad(format!("git cat-file answered {got} for {}", hex(id))));
        }
        let kind = ObjectKind::from_name(kind.as_bytes())
            .ok_or_else(|| bad(format!("git cat-file: unknown kind {kind:?}")))?;
        let size: u64 = size
            .parse()
            .map_err(|_| bad(format!("git cat-file: bad size {size:?}")))?;
        self.pending = size + 1;
        Ok(Some((kind, size)))
    }
}

/// The body of the object `CatFile` answered last.
struct CatBody<'a> {
    stdout: &'a mut io::BufReader<std::process::ChildStdout>,
    pending: &'a mut u64,
    remaining: u64,
}

impl Read for CatBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.stdout.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "git cat-file ended in the middle of an object",
            ));
        }
        self.remaining -= n as u64;
        *self.pending -= n as u64;
        Ok(n)
    }
}

impl ObjectSource for CatFile {
    fn read(&mut self, id: &Hash) -> Result<git_source::Object<'_>, git_source::Error> {
        if id.algorithm() != self.algorithm {
            return Err(git_source::Error::WrongAlgorithm {
                id: *id,
                expected: self.algorithm,
            });
        }
        let (kind, size) = match self.ask(id) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(git_source::Error::NotFound { id: *id, hint: "" }),
            Err(source) => return Err(git_source::Error::Read { id: *id, source }),
        };
        let Some(stdout) = self.stdout.as_mut() else {
            return Err(git_source::Error::Read {
                id: *id,
                source: io::Error::other("git cat-file is gone"),
            });
        };
        Ok(git_source::Object {
            kind,
            size,
            body: Box::new(CatBody {
                stdout,
                pending: &mut self.pending,
                remaining: size,
            }),
        })
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // Closing both pipes ends git (at its next read or write); then it is reaped.
        self.stdin.take();
        self.stdout.take();
        let _ = self.child.wait();
    }
}

/// Packs the repository at `repo` with git's own `git repack -a -d -k` (deltas; unreachable
/// objects kept, so that a path being written meanwhile loses nothing), then packs its refs under
/// the publication lock. Safe while the service runs.
pub fn pack(repo: &Path) -> io::Result<()> {
    {
        let _packing = pack_lock(repo)?;
        git_ok(repo, &["repack", "-a", "-d", "-k", "-q"], None)?;
    }
    let _lock = PublishLock::acquire(repo)?;
    git_ok(repo, &["pack-refs", "--all"], None)?;
    Ok(())
}

/// The lock that keeps two repacks (a packing, a collection's `git gc`) from running at once on
/// `repo`: `PATH/nix-ingest/pack.lock`, held while the file lives.
fn pack_lock(repo: &Path) -> io::Result<std::fs::File> {
    let dir = repo.join("nix-ingest");
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("pack.lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

/// The storage backend over a [`GitStorage`], with the service's settings.
#[derive(Debug)]
pub(crate) struct GitBackend {
    storage: GitStorage,
    config: Arc<crate::Config>,
}

impl GitBackend {
    pub(crate) fn new(storage: GitStorage, config: crate::Config) -> Self {
        GitBackend {
            storage,
            config: Arc::new(config),
        }
    }

    fn inner(&self) -> Arc<Inner> {
        Arc::clone(&self.storage.inner)
    }
}

/// Writes the bytes `skip..skip + remaining` of what it is given to a channel, in chunks,
/// counting the bytes handed over in `sent` (shared with the retrying caller).
struct Window {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    skip: u64,
    remaining: u64,
    buf: Vec<u8>,
    sent: Arc<AtomicU64>,
}

const CHUNK: usize = 64 << 10;

impl Window {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let len = chunk.len() as u64;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        self.sent.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Write for Window {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        if self.skip > 0 {
            let n = self.skip.min(rest.len() as u64) as usize;
            self.skip -= n as u64;
            rest = &rest[n..];
        }
        let take = self.remaining.min(rest.len() as u64) as usize;
        self.buf.extend_from_slice(&rest[..take]);
        self.remaining -= take as u64;
        if self.buf.len() >= CHUNK || self.remaining == 0 {
            self.send()?;
        }
        if self.remaining == 0 && take < rest.len() {
            // Everything asked for is sent: stop the walk.
            return Err(io::Error::other("range sent"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether reading the NAR failed because an object was not where it was looked for (a repack
/// moved it meanwhile): worth reading again.
fn moved(error: &nix_ingest::git::events::Error) -> bool {
    use nix_ingest::git::source::Error as S;
    matches!(
        error,
        nix_ingest::git::events::Error::Object { source, .. }
            if matches!(**source, S::NotFound { .. } | S::Io { .. } | S::Pack { .. } | S::Read { .. })
    )
}

/// Streams bytes `range` of the NAR of `commit` into `tx`, reading it again from where it was
/// (up to 3 times) when an object was not where it was looked for (moved by a repack).
fn stream_nar(
    inner: &Inner,
    commit: &PathCommit,
    range: std::ops::Range<u64>,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    let sent = Arc::new(AtomicU64::new(0));
    let len = range.end - range.start;
    let fail = |message: String| {
        tracing::error!(path = %commit.printed, error = %message, "cannot serve the NAR");
        let _ = tx.blocking_send(Err(io::Error::other(message)));
    };
    for attempt in 0.. {
        let done = sent.load(Ordering::Relaxed);
        let window = Window {
            tx: tx.clone(),
            skip: range.start + done,
            remaining: len - done,
            buf: Vec::with_capacity(CHUNK),
            sent: Arc::clone(&sent),
        };
        let mut repo = match CatFile::open(&inner.repo, inner.algorithm) {
            Ok(r) => r,
            Err(e) => return fail(crate::refusal::chain(&e)),
        };
        let mut nar = nix_ingest::nar::NarWriter::new(window).max_depth(inner.limits.max_nar_depth);
        let walked = nix_ingest::git::to_events(
            &commit.root,
            commit.mode,
            &mut repo,
            &mut nar,
            &inner.limits,
        );
        // (whether to read again, why)
        let finished = match walked {
            Ok(()) => nar.finish().map_err(|e| (false, crate::refusal::chain(&e))),
            Err(e) => Err((moved(&e), crate::refusal::chain(&e))),
        };
        // All asked for was sent (the walk was stopped once it was), or nobody listens.
        if sent.load(Ordering::Relaxed) == len || tx.is_closed() {
            return;
        }
        match finished {
            Ok(mut window) => {
                let _ = window.send();
                return;
            }
            Err((true, message)) if attempt < 3 => {
                tracing::info!(path = %commit.printed, error = %message, "reading the NAR again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, message)) => return fail(message),
        }
    }
}

/// The NAR of `commit` (of `size` bytes), streamed from a blocking thread through a bounded
/// channel.
fn nar_stream(
    inner: Arc<Inner>,
    commit: PathCommit,
    range: std::ops::Range<u64>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || stream_nar(&inner, &commit, range, tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The NAR of `commit` compressed on the fly with `compression` (at its fastest level), for a
/// client asking for the NAR file it uploaded: its bytes are not the uploaded file's (whose
/// `FileHash` that client's narinfo holds), but they decompress to the same NAR, which is what
/// Nix checks (`NarHash`).
fn compressed_nar(
    inner: Arc<Inner>,
    commit: PathCommit,
    size: u64,
    compression: &Compression,
) -> Response {
    use async_compression::Level;
    use async_compression::tokio::bufread::{BzEncoder, XzEncoder, ZstdEncoder};
    let nar = tokio_util::io::StreamReader::new(Box::pin(nar_stream(inner, commit, 0..size)));
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match compression {
        Compression::Xz => Box::new(XzEncoder::with_quality(nar, Level::Fastest)),
        Compression::Zstd => Box::new(ZstdEncoder::with_quality(nar, Level::Fastest)),
        Compression::Bzip2 => Box::new(BzEncoder::with_quality(nar, Level::Fastest)),
        _ => return crate::app::not_here(),
    };
    Response::new(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, CHUNK),
    ))
}

impl Storage for GitBackend {
    fn has_narinfo<'a>(&'a self, hash_part: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        let (inner, name) = (self.inner(), format!("{PATHS}{hash_part}"));
        Box::pin(blocking(move || Ok(inner.resolve_one(name)?.is_some())))
    }

    fn has_nar<'a>(&'a self, file: &'a NarFile) -> BoxFuture<'a, io::Result<bool>> {
        let (inner, file) = (self.inner(), file.clone());
        Box::pin(blocking(move || {
            if *file.compression() != Compression::None {
                return Ok(false);
            }
            let name = format!("{NARS}{}", file.file_hash().encode(Format::Nix32));
            Ok(inner.resolve_one(name)?.is_some())
        }))
    }

    fn narinfo<'a>(
        &'a self,
        hash_part: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        let (inner, name) = (self.inner(), format!("{PATHS}{hash_part}"));
        Box::pin(blocking(move || match inner.path_commit(name)? {
            Some(commit) if commit.narinfo.len() > max => Err(io::Error::other(format!(
                "the narinfo of {} is over {max} bytes",
                commit.printed
            ))),
            Some(commit) => Ok(Some(commit.narinfo.into_bytes())),
            None => Ok(None),
        }))
    }

    fn serve_nar<'a>(&'a self, file: &'a NarFile, request: Request) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let (inner, f) = (self.inner(), file.clone());
            let compressed = *file.compression() != Compression::None;
            if compressed && request.method() == Method::HEAD {
                // The file as uploaded is not kept: not announced, so that an upload of it
                // (`nix copy --to` asks with HEAD first) sends it again (see the module docs).
                return crate::app::not_here();
            }
            let found = blocking(move || {
                let commit = if *f.compression() == Compression::None {
                    inner.nar_commit(&f)?
                } else {
                    inner.path_commit(format!("{UPLOADS}{}", f.file_name()))?
                };
                let Some(commit) = commit else {
                    return Ok(None);
                };
                let info = NarInfo::parse(&commit.narinfo, &inner.store_dir)
                    .map_err(|e| bad(crate::refusal::chain(&e)))?;
                Ok(Some((commit, info.nar_size)))
            })
            .await;
            let (commit, size) = match found {
                Ok(Some(found)) => found,
                Ok(None) => return crate::app::not_here(),
                Err(e) => {
                    return Refusal::internal("cannot read the repository", &e).into_response();
                }
            };
            if compressed {
                return compressed_nar(self.inner(), commit, size, file.compression());
            }
            let (status, wanted) = match crate::storage::range(&request, size) {
                Some(Err(())) => {
                    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                        response.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return response;
                }
                Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, r),
                None => (StatusCode::OK, 0..size),
            };
            let length = wanted.end - wanted.start;
            let body = if request.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::from_stream(nar_stream(self.inner(), commit, wanted.clone()))
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if status == StatusCode::PARTIAL_CONTENT
                && let Ok(v) = HeaderValue::from_str(&format!(
                    "bytes {}-{}/{size}",
                    wanted.start,
                    wanted.end.saturating_sub(1)
                ))
            {
                headers.insert(header::CONTENT_RANGE, v);
            }
            response
        })
    }

    fn local_nar<'a>(
        &'a self,
        file: &'a NarFile,
        tmp_dir: &'a Path,
    ) -> BoxFuture<'a, io::Result<Option<LocalNar>>> {
        let (inner, file, tmp_dir) = (self.inner(), file.clone(), tmp_dir.to_owned());
        Box::pin(blocking(move || {
            let Some(commit) = inner.nar_commit(&file)? else {
                return Ok(None);
            };
            let tmp = tempfile::Builder::new()
                .prefix(".git-nar")
                .tempfile_in(&tmp_dir)?;
            let (file, path) = tmp.into_parts();
            let mut out =
                inner.write_nar(&commit, io::BufWriter::with_capacity(256 << 10, file))?;
            out.flush()?;
            Ok(Some(LocalNar::Copy(path)))
        }))
    }

    fn publish<'a>(
        &'a self,
        staged: Option<tempfile::TempPath>,
        file: &'a NarFile,
        hash_part: &'a str,
        references: &'a [String],
        narinfo: String,
    ) -> BoxFuture<'a, io::Result<Published>> {
        let (inner, config, file, hash_part, references) = (
            self.inner(),
            Arc::clone(&self.config),
            file.clone(),
            hash_part.to_owned(),
            references.to_vec(),
        );
        Box::pin(async move {
            // The staged file, decompressed as the blocking publication reads it.
            let reader = match &staged {
                Some(staged) => {
                    let file_in = tokio::fs::File::open(staged).await?;
                    let reader = crate::check::decompress(file.compression(), file_in, &config)?;
                    Some(tokio_util::io::SyncIoBridge::new(reader))
                }
                None => None,
            };
            let done = {
                let inner = Arc::clone(&inner);
                blocking(move || {
                    let done = inner.publish(reader, &file, &hash_part, &references, &narinfo);
                    drop(staged);
                    done
                })
                .await?
            };
            if done == Published::Yes && inner.pack_every > 0 {
                let n = inner.published.fetch_add(1, Ordering::Relaxed) + 1;
                if n % inner.pack_every == 0 {
                    inner.pack_in_background();
                }
            }
            Ok(done)
        })
    }

    fn object<'a>(
        &'a self,
        key: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        let (inner, key) = (self.inner(), key.to_owned());
        Box::pin(blocking(move || inner.object(&key, max)))
    }

    fn publish_beside<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, io::Result<Beside>> {
        let (inner, key, owner) = (self.inner(), key.to_owned(), owner.to_owned());
        Box::pin(blocking(move || inner.publish_beside(&key, &owner, data)))
    }

    fn accessed(&self, hash_part: &str) {
        let path = self.storage.inner.access_file(hash_part);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::gc::touch(&path) {
                tracing::debug!(error = %e, "cannot record an access");
            }
        });
    }

    fn write_cache_info<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// A kept path as a collection sees it.
#[derive(Debug, Clone)]
struct Kept {
    commit: Hash,
    nar_size: u64,
}

impl Inner {
    /// Every path's commit, as [`gc`](crate::gc) ranks them.
    #[allow(clippy::type_complexity)]
    fn scan(&self) -> io::Result<(BTreeMap<String, crate::gc::Entry>, BTreeMap<String, Kept>)> {
        let paths = self.refs_under(PATHS)?;
        let ids: Vec<String> = paths.values().map(hex).collect();
        let commits = self.path_commits(&ids)?;
        let mut entries = BTreeMap::new();
        let mut kept = BTreeMap::new();
        for ((hash_part, _), commit) in paths.iter().zip(commits) {
            let Some(commit) = commit else { continue };
            let info = NarInfo::parse(&commit.narinfo, &self.store_dir).map_err(|e| {
                bad(format!(
                    "the narinfo of {hash_part}: {}",
                    crate::refusal::chain(&e)
                ))
            })?;
            let accessed = std::fs::metadata(self.access_file(hash_part))
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            entries.insert(
                hash_part.clone(),
                crate::gc::Entry {
                    references: info
                        .references
                        .iter()
                        .map(|r| r.hash_part().to_string())
                        .filter(|r| r != hash_part)
                        .collect(),
                    nar: info.nar_hash.encode(Format::Nix32),
                    narinfo_size: commit.narinfo.len() as u64,
                    accessed,
                },
            );
            kept.insert(
                hash_part.clone(),
                Kept {
                    commit: commit.id,
                    nar_size: info.nar_size,
                },
            );
        }
        Ok((entries, kept))
    }

    fn collect(
        &self,
        policy: crate::gc::Policy,
        dry_run: bool,
        prune_expire: &str,
    ) -> io::Result<crate::gc::Report> {
        let now = SystemTime::now();
        let (entries, paths) = self.scan()?;
        let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
        for (h, e) in &entries {
            sizes.insert(e.nar.clone(), paths[h].nar_size);
        }
        let mut kept = crate::gc::choose(&entries, policy, now, |nar| {
            sizes.get(nar).copied().unwrap_or(0)
        });
        let _lock = if dry_run {
            None
        } else {
            Some(PublishLock::acquire(&self.repo)?)
        };
        let (entries, paths) = if dry_run {
            (entries, paths)
        } else {
            let (now_entries, now_paths) = self.scan()?;
            for hash in now_entries.keys() {
                if !entries.contains_key(hash) {
                    let added = crate::gc::close(&now_entries, &kept, hash);
                    kept.extend(added);
                }
            }
            for (h, e) in &now_entries {
                sizes.insert(e.nar.clone(), now_paths[h].nar_size);
            }
            (now_entries, now_paths)
        };
        let mut report = crate::gc::Report::default();
        let mut kept_nars: BTreeMap<&str, Hash> = BTreeMap::new();
        let mut removed_commits = BTreeSet::new();
        let mut lines = String::new();
        for (hash, entry) in &entries {
            if kept.contains(hash) {
                report.kept += 1;
                report.remaining += entry.narinfo_size;
                kept_nars.insert(entry.nar.as_str(), paths[hash].commit);
            } else {
                report.freed += entry.narinfo_size;
                report.removed.insert(hash.clone());
                removed_commits.insert(hex(&paths[hash].commit));
                lines.push_str(&format!(
                    "delete {PATHS}{hash} {}\n",
                    hex(&paths[hash].commit)
                ));
            }
        }
        let removed_nars: BTreeSet<&str> = entries
            .iter()
            .filter(|(h, e)| report.removed.contains(*h) && !kept_nars.contains_key(e.nar.as_str()))
            .map(|(_, e)| e.nar.as_str())
            .collect();
        report.freed += removed_nars.iter().map(|n| sizes[*n]).sum::<u64>();
        report.remaining += kept_nars.keys().map(|n| sizes[*n]).sum::<u64>();
        // A NAR's ref follows a kept path with that NAR, or goes.
        for (nar, commit) in self.refs_under(NARS)? {
            if !removed_commits.contains(&hex(&commit)) {
                continue;
            }
            match kept_nars.get(nar.as_str()) {
                Some(other) => lines.push_str(&format!(
                    "update {NARS}{nar} {} {}\n",
                    hex(other),
                    hex(&commit)
                )),
                None => lines.push_str(&format!("delete {NARS}{nar} {}\n", hex(&commit))),
            }
        }
        for (name, commit) in self.refs_under(UPLOADS)? {
            if removed_commits.contains(&hex(&commit)) {
                lines.push_str(&format!("delete {UPLOADS}{name} {}\n", hex(&commit)));
            }
        }
        // Listings and realisations go with their path.
        let objects = self.refs_under(OBJECTS)?;
        let mut realisations = Vec::new();
        for (key, blob) in &objects {
            if let Some(hash) = key.strip_suffix(".ls") {
                if report.removed.contains(hash) {
                    lines.push_str(&format!("delete {OBJECTS}{key} {}\n", hex(blob)));
                }
            } else if key.starts_with("realisations/") {
                realisations.push((key, blob));
            }
        }
        let blobs: Vec<String> = realisations.iter().map(|(_, b)| hex(b)).collect();
        for ((key, blob), answer) in realisations.iter().zip(self.cat(&blobs)?) {
            let Some((_, _, bytes)) = answer else {
                continue;
            };
            let realisation: nix_ingest::realisation::Realisation =
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("{OBJECTS}{key}: {e}")))?;
            if report
                .removed
                .contains(&realisation.out_path.hash_part().to_string())
            {
                report.freed += bytes.len() as u64;
                lines.push_str(&format!("delete {OBJECTS}{key} {}\n", hex(blob)));
            }
        }
        if dry_run {
            return Ok(report);
        }
        self.update_refs(&lines)?;
        for hash in &report.removed {
            let _ = std::fs::remove_file(self.access_file(hash));
        }
        let prune = format!("--prune={prune_expire}");
        let _packing = pack_lock(&self.repo)?;
        self.git(&["gc", "--quiet", &prune], None)?;
        Ok(report)
    }
}

impl GitStorage {
    /// Collects the repository: removes the refs of the paths `policy` does not keep (every
    /// kept path's closure is kept), with their listings and realisations, then runs
    /// `git gc --prune=<prune_expire>` (git's approxidate: `now`, `1.hour.ago`…). Sizes are NAR
    /// sizes (uncompressed; objects are shared between paths, so a path has no size of its own
    /// on disk). `dry_run` only reports. Safe while the service runs, as the directory's
    /// collection: it holds the publication lock.
    pub fn collect(
        &self,
        policy: crate::gc::Policy,
        dry_run: bool,
        prune_expire: &str,
    ) -> io::Result<crate::gc::Report> {
        if prune_expire.starts_with('-') || prune_expire.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad expiry {prune_expire:?}"),
            ));
        }
        self.inner.collect(policy, dry_run, prune_expire)
    }

    /// Packs the repository now (see [`pack`]).
    pub fn pack(&self) -> io::Result<()> {
        pack(&self.inner.repo)
    }
}

/// What [`GitStorage::replicate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicated {
    /// The paths verified and published, by hash part.
    pub published: Vec<String>,
    /// How many were here already.
    pub already: usize,
    /// The paths refused, by hash part, with the reason.
    pub refused: Vec<(String, String)>,
}

impl GitStorage {
    /// Fetches the paths of another git cache (`from`: a URL or a path git can fetch from) into
    /// `refs/nix-quarantine/nix/`, verifies each one again as an upload would be — its narinfo
    /// (content address or a signature by a key `config` trusts), its commit rebuilt from the
    /// narinfo and compared, its NAR rebuilt from the fetched tree and checked against
    /// `NarHash`, `NarSize` and the content address — references first, and publishes the
    /// verified ones. Quarantined refs are removed either way.
    pub async fn replicate(&self, config: &crate::Config, from: &str) -> io::Result<Replicated> {
        if from.starts_with('-') || from.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad source {from:?}"),
            ));
        }
        let inner = Arc::clone(&self.inner);
        let from = from.to_owned();
        let (quarantined, mut local) = blocking(move || {
            inner.git(
                &[
                    "-c",
                    "transfer.fsckObjects=true",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    &from,
                    &format!("+{PATHS}*:{QUARANTINE}*"),
                ],
                None,
            )?;
            Ok((inner.refs_under(QUARANTINE)?, inner.refs_under(PATHS)?))
        })
        .await?;
        let inner = &self.inner;
        let mut report = Replicated::default();
        let mut pending = BTreeMap::new();
        let ids: Vec<String> = quarantined.values().map(hex).collect();
        let answers = inner.cat(&ids)?;
        for ((hash_part, id), answer) in quarantined.iter().zip(answers) {
            if local.contains_key(hash_part) {
                report.already += 1;
                inner.update_refs(&format!("delete {QUARANTINE}{hash_part} {}\n", hex(id)))?;
                continue;
            }
            // Each fetched commit on its own: one that is no path's commit is refused alone.
            let parsed = match answer {
                Some((id, kind, body)) if kind == "commit" => {
                    parse_commit(inner.algorithm, id, &body).and_then(|c| {
                        let info = NarInfo::parse(&c.narinfo, &inner.store_dir)
                            .map_err(|e| bad(crate::refusal::chain(&e)))?;
                        Ok((c, info))
                    })
                }
                Some((_, kind, _)) => Err(bad(format!("the fetched ref names a {kind}"))),
                None => Err(bad("the fetched commit is missing")),
            };
            match parsed {
                Ok(p) => {
                    pending.insert(hash_part.clone(), p);
                }
                Err(e) => {
                    report.refused.push((hash_part.clone(), e.to_string()));
                    inner.update_refs(&format!("delete {QUARANTINE}{hash_part} {}\n", hex(id)))?;
                }
            }
        }
        loop {
            let ready: Vec<String> = pending
                .iter()
                .filter(|(h, (_, info))| {
                    info.references
                        .iter()
                        .map(|r| r.hash_part().to_string())
                        .all(|r| &r == *h || local.contains_key(&r))
                })
                .map(|(h, _)| h.clone())
                .collect();
            if ready.is_empty() {
                break;
            }
            for hash_part in ready {
                let Some((commit, info)) = pending.remove(&hash_part) else {
                    continue;
                };
                match self
                    .verify_replica(config, &hash_part, &commit, &info, &local)
                    .await
                {
                    Ok(()) => {
                        let inner = Arc::clone(inner);
                        let (h, c, nar_hash) = (hash_part.clone(), commit.id, info.nar_hash);
                        blocking(move || {
                            let _lock = PublishLock::acquire(&inner.repo)?;
                            let nar_ref = format!("{NARS}{}", nar_hash.encode(Format::Nix32));
                            let mut lines = format!(
                                "create {PATHS}{h} {c}\ndelete {QUARANTINE}{h} {c}\n",
                                c = hex(&c)
                            );
                            if inner.resolve_one(nar_ref.clone())?.is_none() {
                                lines.push_str(&format!("create {nar_ref} {}\n", hex(&c)));
                            }
                            inner.update_refs(&lines)?;
                            inner.record_access(&h)
                        })
                        .await?;
                        local.insert(hash_part.clone(), commit.id);
                        report.published.push(hash_part);
                    }
                    Err(reason) => {
                        report.refused.push((hash_part.clone(), reason));
                        inner.update_refs(&format!(
                            "delete {QUARANTINE}{hash_part} {}\n",
                            hex(&commit.id)
                        ))?;
                    }
                }
            }
        }
        for (hash_part, (commit, _)) in pending {
            report.refused.push((
                hash_part.clone(),
                "it refers to paths that are neither here nor verified".to_owned(),
            ));
            inner.update_refs(&format!(
                "delete {QUARANTINE}{hash_part} {}\n",
                hex(&commit.id)
            ))?;
        }
        Ok(report)
    }

    async fn verify_replica(
        &self,
        config: &crate::Config,
        hash_part: &str,
        commit: &PathCommit,
        info: &NarInfo,
        local: &BTreeMap<String, Hash>,
    ) -> Result<(), String> {
        let inner = &self.inner;
        let plan = crate::check::check_narinfo(info, hash_part, config).map_err(|r| r.message)?;
        if *plan.file.compression() != Compression::None {
            return Err("its narinfo names a compressed NAR file".to_owned());
        }
        let printed = inner.store_dir.display_path(&info.store_path);
        let parents: Vec<Hash> = info
            .references
            .iter()
            .map(|r| r.hash_part().to_string())
            .filter(|r| r != hash_part)
            .filter_map(|r| local.get(&r).copied())
            .collect();
        let tree = if commit.mode == Mode::Directory {
            commit.root
        } else {
            wrapper_tree(
                inner.algorithm,
                &info.store_path.to_string(),
                commit.mode,
                &commit.root,
            )
            .0
        };
        let body = commit_body(
            &tree,
            &parents,
            &message(&printed, commit.mode, &commit.root, &commit.narinfo),
        );
        let expected = object_id(inner.algorithm, ObjectKind::Commit, &body);
        if expected != commit.id {
            return Err(format!(
                "its commit {} is not the one this cache makes for it ({})",
                hex(&commit.id),
                hex(&expected)
            ));
        }
        let tmp_dir = inner.repo.join("nix-ingest/tmp");
        let (inner2, commit2) = (Arc::clone(inner), commit.clone());
        let nar = blocking(move || {
            std::fs::create_dir_all(&tmp_dir)?;
            let tmp = tempfile::Builder::new()
                .prefix(".replica")
                .tempfile_in(&tmp_dir)?;
            let (file, path) = tmp.into_parts();
            let mut out =
                inner2.write_nar(&commit2, io::BufWriter::with_capacity(256 << 10, file))?;
            out.flush()?;
            Ok(path)
        })
        .await
        .map_err(|e| crate::refusal::chain(&e))?;
        crate::check::check_nar(&nar, info, &plan, config)
            .await
            .map_err(|r| r.message)
    }
}
