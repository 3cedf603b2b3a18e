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
//! PATH/refs/nix-quarantine/objects/…      listings and realisations fetched by `replicate`
//!                                         (named as below refs/nix-objects/), not yet verified
//! PATH/refs/nix-incoming/nix/…            paths another cache pushed (`push`), never served;
//!                                         `replicate --incoming` verifies them
//! PATH/refs/nix-incoming/objects/…        listings and realisations pushed, likewise
//! PATH/hooks/pre-receive                  refuses a push to any ref but refs/nix-incoming/…
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
//! blocking thread through a bounded channel): objects are read in this process (loose ones
//! streamed through zlib; packed ones with gitoxide's pack reader, each inflated whole, as delta
//! resolution requires), the crate checks each one against its id as it goes (a corrupt object
//! fails the response instead of ending it), and the bytes are those `nix-store --dump` gives
//! for the path, so their hash is the narinfo's `NarHash`. Up to four NARs at once are read
//! with their objects inflated ahead on a worker per core
//! ([`ReadAhead`](nix_ingest::git::read_ahead::ReadAhead): at most 16 MiB waiting and one
//! object of up to 4 MiB per worker, per NAR); further ones are read on their request's thread
//! alone, holding at most their largest object.
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
//! address, its commit rebuilt and compared — before publishing its ref. In the same fetch, its
//! `refs/nix-objects/*` go to `refs/nix-quarantine/objects/*`; then each listing and realisation
//! is checked as an upload of it would be: a listing only if its path is here (published before
//! or by this run; otherwise it is skipped), against the listing of this cache's NAR of that path
//! (what is kept is this cache's listing, Nix's bytes); a realisation only if its output is here
//! and a trusted key signed it. Those that fail are reported, not published, and every
//! quarantined ref is removed either way.
//!
//! A cache can also be pushed to: `push --to` runs `git push` of the sender's `refs/nix/*` and
//! `refs/nix-objects/*` (with the objects they reach) into the receiver's
//! `refs/nix-incoming/nix/*` and `refs/nix-incoming/objects/*` (`+`: a staging area, overwritten
//! by the next push). The receiving repository checks the objects as they arrive
//! (`receive.fsckObjects`, set when the cache opens it) and its `pre-receive` hook (written when
//! the cache opens it, unless a hook of another origin is there) refuses any other ref, so
//! nothing pushed is served. The receiver runs `replicate --incoming` (after each push, or from
//! cron): it moves the incoming refs into the quarantine (a push arriving meanwhile waits for the
//! next run) and verifies and publishes them exactly as fetched ones. One `replicate` runs at a
//! time per repository (`PATH/nix-ingest/replicate.lock`).
//!
//! # Differences from other git-backed caches
//!
//! Caches that keep store paths as git trees and commits usually store what they are given.
//! Here every path is verified on upload (content address or trusted signature, NAR hash and
//! size) and again when replicated (fetched or pushed), every object is checked against its id when read, and NAR
//! listings and realisations are kept too.
//!
//! Limits: git must be installed (refs, commits, objects read back, packing and fetching go
//! through it). Publications into one repository are serialized (the NAR is written into the
//! repository under the publication lock, so that a collection cannot prune an object a path
//! being written counts on). What is pushed is served only after the receiver ran
//! `replicate --incoming`: the service does not run it on its own.
//!
//! [`to_events`]: nix_ingest::git::to_events
//! [`GitHasher`]: nix_ingest::git::GitHasher
//! [`LooseObjectWriter`]: nix_ingest::git::loose::LooseObjectWriter

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use nix_ingest::Limits;
use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::git::loose::LooseObjectWriter;
use nix_ingest::git::{GitHasher, Mode, ObjectKind, ObjectSink, TreeEntry, encode_tree, object_id};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::narinfo::{Compression, NarInfo};
use nix_ingest::store_path::StoreDir;

use crate::gc::PublishLock;
use crate::names::NarFile;
use crate::refusal::Refusal;
use crate::storage::{LocalNar, Storage, blocking};
use crate::store::{Beside, Published};

mod collect;
mod commit;
mod pack;
mod replicate;
mod serve;

pub use commit::PathCommit;
use commit::*;
pub use pack::pack;
use pack::pack_lock;
pub use replicate::{Replicated, ReplicatedObjects};
pub(crate) use serve::GitBackend;

/// Where store paths' commits are.
pub const PATHS: &str = "refs/nix/";
/// Where commits are found by NAR hash.
pub const NARS: &str = "refs/nix-nar/";
/// Where listings and realisations are.
pub const OBJECTS: &str = "refs/nix-objects/";
/// Where commits are found by the name of the (compressed) NAR file they were uploaded as.
pub const UPLOADS: &str = "refs/nix-upload/";
/// Where `replicate` fetches paths to.
pub const QUARANTINE: &str = "refs/nix-quarantine/nix/";
/// Where `replicate` fetches listings and realisations to.
pub const QUARANTINE_OBJECTS: &str = "refs/nix-quarantine/objects/";
/// Where another cache's `push` stages paths (the only refs a push may write).
pub const INCOMING: &str = "refs/nix-incoming/nix/";
/// Where another cache's `push` stages listings and realisations.
pub const INCOMING_OBJECTS: &str = "refs/nix-incoming/objects/";

/// How [`PRE_RECEIVE`] (in any version) begins.
const PRE_RECEIVE_MARKER: &str = "#!/bin/sh\n# nix-ingest-binary-cache: ";

/// The `pre-receive` hook written into the repository: a push may only write below
/// [`INCOMING`] and [`INCOMING_OBJECTS`], which nothing serves.
const PRE_RECEIVE: &str = "#!/bin/sh
# nix-ingest-binary-cache: a push may only stage paths, listings and realisations below
# refs/nix-incoming/nix/ and refs/nix-incoming/objects/; `replicate --incoming` verifies them.
status=0
while read -r old new ref; do
  case \"$ref\" in
    refs/nix-incoming/nix/?*|refs/nix-incoming/objects/?*) ;;
    *)
      echo \"refusing $ref: a push may only write below refs/nix-incoming/nix/ and refs/nix-incoming/objects/\" >&2
      status=1
      ;;
  esac
done
exit $status
";

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
    /// NARs being read with objects inflated ahead (at most [`READ_AHEAD_STREAMS`]).
    reading_ahead: Arc<AtomicUsize>,
}

/// At most this many NARs are read with objects inflated ahead at once; others are read on
/// their request's thread alone. The work is bound by the cores, so more would not serve
/// faster, and this bounds the memory of reading ahead: each stream holds at most
/// [`READ_AHEAD_BYTES`] of inflated objects waiting, plus one object of at most
/// [`READ_AHEAD_OBJECT`] bytes per worker (a worker per core).
const READ_AHEAD_STREAMS: usize = 4;
/// Inflated objects waiting to be written, per stream.
const READ_AHEAD_BYTES: u64 = 16 << 20;
/// The largest object inflated ahead; larger ones are streamed by the request's thread.
const READ_AHEAD_OBJECT: u64 = 4 << 20;

/// A repository's objects as a NAR is read from them, and the read-ahead slot it holds.
pub(super) struct Objects {
    source: nix_ingest::git::read_ahead::ReadAhead<nix_ingest::git::source::Repository>,
    slot: Option<Arc<AtomicUsize>>,
}

impl nix_ingest::git::source::ObjectSource for Objects {
    fn read(
        &mut self,
        id: &Hash,
    ) -> Result<nix_ingest::git::source::Object<'_>, nix_ingest::git::source::ObjectError> {
        self.source.read(id)
    }

    fn prefetch(&mut self, ids: &[Hash]) {
        self.source.prefetch(ids)
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.fetch_sub(1, Ordering::AcqRel);
        }
    }
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

/// Writes [`PRE_RECEIVE`] as the repository's `hooks/pre-receive`, unless a hook of another
/// origin is there (the operator's, left as it is).
fn install_pre_receive(repo: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let hooks = repo.join("hooks");
    let path = hooks.join("pre-receive");
    match std::fs::read(&path) {
        Ok(found) if found == PRE_RECEIVE.as_bytes() => return Ok(()),
        // An earlier version of this hook is replaced; anything else is the operator's.
        Ok(found) if !found.starts_with(PRE_RECEIVE_MARKER.as_bytes()) => {
            tracing::warn!(
                hook = %path.display(),
                "a pre-receive hook of another origin is kept: pushes are not limited to \
                 refs/nix-incoming/"
            );
            return Ok(());
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(&hooks)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pre-receive")
        .tempfile_in(&hooks)?;
    tmp.write_all(PRE_RECEIVE.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
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
        // Pushed objects are checked by git as they arrive, and land only in the incoming refs.
        git_ok(repo, &["config", "receive.fsckObjects", "true"], None)?;
        install_pre_receive(repo)?;
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
                reading_ahead: Arc::new(AtomicUsize::new(0)),
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

    /// The repository's objects, as NARs are read from them: inflated ahead on a worker per
    /// core, when fewer than [`READ_AHEAD_STREAMS`] NARs are read so already.
    pub(super) fn objects(&self) -> Result<Objects, nix_ingest::git::source::ObjectError> {
        let repo = nix_ingest::git::source::Repository::open(&self.repo)?;
        let slot = self
            .reading_ahead
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < READ_AHEAD_STREAMS).then_some(n + 1)
            })
            .is_ok()
            .then(|| Arc::clone(&self.reading_ahead));
        let source = repo
            .read_ahead()
            .threads(if slot.is_some() { 0 } else { 1 })
            .max_bytes(READ_AHEAD_BYTES)
            .max_object(READ_AHEAD_OBJECT);
        Ok(Objects { source, slot })
    }

    /// Streams the NAR of `commit` into `out`.
    fn write_nar<W: Write>(&self, commit: &PathCommit, out: W) -> io::Result<W> {
        let mut repo = self
            .objects()
            .map_err(|e| io::Error::other(crate::refusal::chain(&e)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_four_nars_are_read_ahead_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let storage = GitStorage::open(
            &dir.path().join("repo.git"),
            &StoreDir::default(),
            Limits::default(),
            0,
        )
        .unwrap();
        let inner = &storage.inner;
        let mut held: Vec<Objects> = (0..6).map(|_| inner.objects().unwrap()).collect();
        let ahead = held.iter().filter(|o| o.slot.is_some()).count();
        assert_eq!(ahead, READ_AHEAD_STREAMS);
        assert_eq!(
            inner.reading_ahead.load(Ordering::Acquire),
            READ_AHEAD_STREAMS
        );
        // One ends: the next NAR read gets its slot.
        let first = held.iter().position(|o| o.slot.is_some()).unwrap();
        held.remove(first);
        assert!(inner.objects().unwrap().slot.is_some());
        drop(held);
        assert_eq!(inner.reading_ahead.load(Ordering::Acquire), 0);
    }
}
