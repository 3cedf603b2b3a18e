//! `hash-path`: hash a file system object, or a NAR, exactly as Nix does.
//!
//! ```text
//! cargo run --release --example hash-path -- [OPTIONS] [PATH]
//! cargo run --release --example hash-path --features parallel -- [OPTIONS] [PATH]
//! ```
//!
//! - `--mode flat|nar|git [--algo A] [--format F] PATH` prints the one line
//!   `nix hash path --mode M --algo A --format F PATH` prints.
//! - `--store-path [--mode M] [--algo A] [--name N] [--store-dir D] PATH` prints the line
//!   `nix store add --dry-run --mode M --hash-algo A PATH` prints (`--mode text` too).
//! - `--nar` reads PATH as a NAR file (`-`: standard input), streamed, never read whole.
//! - Without `--mode`, a summary of every method: git SHA-1 and SHA-256, the NAR hash, the flat
//!   hash of a file, content addresses and store paths.
//! - Without PATH, the sample store object shipped in `examples/sample/sample.nar` (a directory
//!   with a file, an executable, a symlink and an empty directory; see
//!   `examples/sample/README.md`). It is a NAR rather than a directory because a git checkout
//!   cannot hold an empty directory and may lose symlinks or execute bits.
//!
//! Beyond what Nix prints:
//!
//! - `--cid` also prints the IPFS CIDv1 (codec git-raw) naming the git object.
//! - `--multi [LIST]` computes several hashes in one pass (by default git SHA-1, git SHA-256 and
//!   the NAR's SHA-256), one `METHOD-ALGO HASH` line each.
//! - `--export-git REPO` hashes with `--mode git` and stores every blob and tree in the git
//!   repository REPO as loose objects, so that real git can read them.
//! - `--git-to-nar REPO ID` writes the NAR of a git tree (or blob) to standard output: the
//!   inverse of `--export-git`.
//! - `--verify CA --nar PATH` checks a NAR against the content address it claims (as a binary
//!   cache must before accepting an upload) and prints its store path.
//! - `--threads N` (built with `--features parallel`): git ids of a directory on N threads; the
//!   default then is one thread per core. `--no-collision-detection`: SHA-1 without sha1dc.
//! - On a terminal, standard error shows progress (entries, bytes and rate) once the work takes
//!   more than half a second; nothing is written there otherwise.
//!
//! Errors print one line on standard error and exit with status 1; a bad command line prints
//! the usage and exits with status 2.
//!
//! Paths are resolved as Nix resolves them: `.` and `..` are removed as text, the parent
//! directory is resolved through symlinks, and the last component is not followed (so a
//! trailing `/` after a symlink hashes the symlink). `--mode flat` follows a symlink root, as
//! `nix hash path --mode flat` does; `--store-path --mode flat|text` refuses one, as
//! `nix store add` does.
//!
//! Git store paths with SHA-256 follow Nix 2.31 and later; Nix 2.26 refuses them ("Git file
//! ingestion must use SHA-1 hash").

use std::error::Error as StdError;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{Event, Sink, SinkError, Tee};
use nix_ingest::flat::FlatHasher;
use nix_ingest::git::events;
use nix_ingest::git::loose::LooseObjectWriter;
use nix_ingest::git::objects_dir::ObjectsDir;
use nix_ingest::git::source::{ObjectSource, Repository};
use nix_ingest::git::{GitHasher, Mode as GitMode, ObjectKind};
use nix_ingest::hash::{Algorithm, Format, Hash, Hasher};
use nix_ingest::method::{FileIngestionMethod, HashSink};
use nix_ingest::nar::{NarHasher, NarWriter};
use nix_ingest::store_path::{References, StoreDir};
use nix_ingest::{Limits, nar, verify};

const USAGE: &str = "\
usage: hash-path [OPTIONS] [PATH]
       hash-path --multi [LIST] [--format F] [--threads N] [PATH]
       hash-path --export-git REPO [--format F] [PATH]
       hash-path --verify CA [--name NAME] [--store-dir DIR] [--nar PATH|-]
       hash-path --git-to-nar REPO ID [--root-type TYPE] > ID.nar

Hashes PATH (a file, directory or symlink) as Nix does. Without PATH, hashes the
sample store object shipped in examples/sample/sample.nar.

  --mode flat|nar|git  print what `nix hash path --mode M --algo A --format F PATH`
                       prints; without --mode, print a summary of every method
  --algo ALGO          md5, sha1, sha256 (default) or sha512
  --format FORMAT      sri (default), nix32, base16 or base64 (base32 = nix32)
  --store-path         print what `nix store add --dry-run --mode M --hash-algo A PATH`
                       prints instead (--mode defaults to nar; text is allowed too)
  --name NAME          the store path name (default: the base name of PATH)
  --store-dir DIR      the store directory (default: /nix/store)
  --nar                PATH is a NAR file, or - for standard input
  --cid                also print the IPFS CIDv1 (codec git-raw) of the git id
  --multi [LIST]       hash several ways in one pass, printing `METHOD-ALGO HASH` lines;
                       LIST is METHOD:ALGO,... (default git:sha1,git:sha256,nar:sha256;
                       write a PATH that looks like a LIST as ./PATH)
  --threads N          hash PATH on N threads (0: one per core, the default when built
                       with the parallel feature; 1: one streaming pass, the only choice
                       without it); NAR and flat hashes read files ahead on the others
  --no-collision-detection
                       hash SHA-1 without detecting collision attacks (as Nix; faster)
  --export-git REPO    hash with --mode git and store every blob and tree in the git
                       repository REPO as loose objects (its object format is the
                       algorithm); print the id, then how many objects were written
  --verify CA          check that the NAR (--nar PATH or -; default: the sample) has the
                       content address CA, e.g. fixed:r:sha256:<hash>, and print its store
                       path (named by --name, default the NAR's file name without .nar)
  --git-to-nar REPO ID write the NAR of the git tree or blob ID of repository REPO to
                       standard output
  --root-type TYPE     what ID is: directory (the default for a tree), file (the default
                       for a blob), executable or symlink
  -h, --help           print this help

On a terminal, progress (entries, bytes and rate) is shown on standard error once the
work takes more than half a second.

Git store paths with SHA-256 follow Nix 2.31 and later (Nix 2.26 refuses them).
";

/// The sample store object (a NAR made by `nix-store --dump`) and its store path name.
const SAMPLE_NAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample/sample.nar");
const SAMPLE_NAME: &str = "sample";

/// What `--multi` computes without a LIST.
const DEFAULT_MULTI: [(FileIngestionMethod, Algorithm); 3] = [
    (FileIngestionMethod::Git, Algorithm::Sha1),
    (FileIngestionMethod::Git, Algorithm::Sha256),
    (FileIngestionMethod::Nar, Algorithm::Sha256),
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = parse_args(&args).and_then(|opts| {
        if opts.help {
            Ok(USAGE.to_owned())
        } else {
            run(&opts)
        }
    });
    match result {
        Ok(out) => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln_safe(&format!("error: cannot write to standard output: {e}"));
                    ExitCode::from(1)
                }
            }
        }
        Err(Failure::Usage(msg)) => {
            eprintln_safe(&format!("error: {msg}\n\n{USAGE}"));
            ExitCode::from(2)
        }
        Err(Failure::Error(msg)) => {
            eprintln_safe(&format!("error: {msg}"));
            ExitCode::from(1)
        }
    }
}

/// Writes to standard error, ignoring failure (there is nowhere left to report it).
fn eprintln_safe(msg: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{}", msg.trim_end());
}

/// Why the program failed: a bad command line (exit 2) or a failed hash (exit 1).
#[derive(Debug)]
enum Failure {
    Usage(String),
    Error(String),
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Error(msg.into())
}

/// One line for an error and its causes (each cause only if its text is not already there).
fn chain(e: &dyn StdError) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg.replace('\n', "\\n")
}

/// Whether `e` or one of its causes is a broken pipe (the reader of our output went away).
fn is_broken_pipe(e: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// `--mode`: Nix's file ingestion methods, plus `text` (store paths only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    File(FileIngestionMethod),
    Text,
}

#[derive(Debug, Default)]
struct Opts {
    help: bool,
    mode: Option<Mode>,
    algo: Option<Algorithm>,
    format: Option<Format>,
    store_path: bool,
    name: Option<String>,
    store_dir: Option<String>,
    nar: bool,
    path: Option<OsString>,
    cid: bool,
    multi: Option<Vec<(FileIngestionMethod, Algorithm)>>,
    threads: Option<usize>,
    no_collision_detection: bool,
    export_git: Option<OsString>,
    verify: Option<ContentAddress>,
    git_to_nar: Option<(OsString, String)>,
    root_type: Option<GitMode>,
}

impl Opts {
    /// Whether SHA-1 hashing detects collision attacks.
    fn detect(&self) -> bool {
        !self.no_collision_detection
    }

    /// Whether the input is a path on disk (not a NAR, not the sample).
    fn on_disk(&self) -> bool {
        self.path.is_some() && !self.nar
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Summary,
    Hash,
    StorePath,
    Multi,
    ExportGit,
    Verify,
    GitToNar,
}

impl Op {
    fn describe(self) -> &'static str {
        match self {
            Op::Summary => "the summary (no --mode)",
            Op::Hash => "--mode without --store-path",
            Op::StorePath => "--store-path",
            Op::Multi => "--multi",
            Op::ExportGit => "--export-git",
            Op::Verify => "--verify",
            Op::GitToNar => "--git-to-nar",
        }
    }

    /// The options it takes (besides PATH and --nar).
    fn takes(self) -> &'static [&'static str] {
        const DETECT: &str = "--no-collision-detection";
        match self {
            Op::Summary => &[
                "--algo",
                "--format",
                "--name",
                "--store-dir",
                "--cid",
                DETECT,
            ],
            Op::Hash => &["--mode", "--algo", "--format", "--cid", "--threads", DETECT],
            Op::StorePath => &[
                "--mode",
                "--algo",
                "--name",
                "--store-dir",
                "--cid",
                "--threads",
                DETECT,
            ],
            Op::Multi => &["--format", "--cid", "--threads", DETECT],
            Op::ExportGit => &["--mode", "--algo", "--format", "--cid", DETECT],
            Op::Verify => &["--name", "--store-dir"],
            Op::GitToNar => &["--root-type"],
        }
    }
}

type Args<'a> = std::slice::Iter<'a, OsString>;

/// The value of `flag`: the text after `=`, or the next argument.
fn take_os(it: &mut Args<'_>, inline: Option<&str>, flag: &str) -> Result<OsString, Failure> {
    match inline {
        Some(v) => Ok(OsString::from(v)),
        None => it
            .next()
            .cloned()
            .ok_or_else(|| usage(format!("{flag} needs a value"))),
    }
}

/// [`take_os`], as UTF-8.
fn take_str(it: &mut Args<'_>, inline: Option<&str>, flag: &str) -> Result<String, Failure> {
    take_os(it, inline, flag)?
        .into_string()
        .map_err(|_| usage(format!("the value of {flag} is not valid UTF-8")))
}

/// A `--multi` LIST: `METHOD:ALGO,...`.
fn parse_multi(list: &str) -> Result<Vec<(FileIngestionMethod, Algorithm)>, String> {
    list.split(',')
        .map(|item| {
            let (method, algo) = item
                .split_once(':')
                .ok_or_else(|| format!("--multi: '{item}' is not METHOD:ALGO (e.g. git:sha1)"))?;
            let method = method.parse().map_err(|_| {
                format!("--multi: unknown method '{method}' (expected flat, nar or git)")
            })?;
            let algo = algo.parse().map_err(|e| format!("--multi: {e}"))?;
            Ok((method, algo))
        })
        .collect()
}

fn parse_args(args: &[OsString]) -> Result<Opts, Failure> {
    let mut opts = Opts::default();
    let mut it = args.iter();
    let mut only_paths = false;
    while let Some(arg) = it.next() {
        let Some(text) = arg
            .to_str()
            .filter(|t| !only_paths && t.starts_with('-') && *t != "-")
        else {
            if opts.path.replace(arg.clone()).is_some() {
                return Err(usage("only one PATH may be given"));
            }
            continue;
        };
        // `--opt=value` or `--opt value`.
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (text, None),
        };
        let no_value = |flag: &str| -> Result<(), Failure> {
            match inline {
                Some(_) => Err(usage(format!("{flag} takes no value"))),
                None => Ok(()),
            }
        };
        match flag {
            "--" => {
                no_value(flag)?;
                only_paths = true;
            }
            "-h" | "--help" => {
                no_value(flag)?;
                opts.help = true;
            }
            "--mode" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.mode = Some(match v.as_str() {
                    "text" => Mode::Text,
                    _ => Mode::File(v.parse().map_err(|_| {
                        usage(format!(
                            "unknown --mode '{v}' (expected flat, nar or git; text with --store-path)"
                        ))
                    })?),
                });
            }
            "--algo" | "--hash-algo" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.algo = Some(v.parse().map_err(|e| usage(format!("--algo: {e}")))?);
            }
            "--format" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.format = Some(v.parse().map_err(|e| usage(format!("--format: {e}")))?);
            }
            "--store-path" => {
                no_value(flag)?;
                opts.store_path = true;
            }
            "--name" | "-n" => opts.name = Some(take_str(&mut it, inline, flag)?),
            "--store-dir" => opts.store_dir = Some(take_str(&mut it, inline, flag)?),
            "--nar" => {
                no_value(flag)?;
                opts.nar = true;
            }
            "--cid" => {
                no_value(flag)?;
                opts.cid = true;
            }
            "--multi" => {
                // The LIST is optional: taken when it follows `=`, or when the next argument
                // reads as one.
                let list = match inline {
                    Some(v) => parse_multi(v).map_err(usage)?,
                    None => match it
                        .as_slice()
                        .first()
                        .and_then(|next| next.to_str())
                        .and_then(|next| parse_multi(next).ok())
                    {
                        Some(list) => {
                            it.next();
                            list
                        }
                        None => DEFAULT_MULTI.to_vec(),
                    },
                };
                opts.multi = Some(list);
            }
            "--threads" | "-j" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.threads = Some(v.parse().map_err(|_| {
                    usage(format!(
                        "--threads: '{v}' is not a number of threads (0: one per core)"
                    ))
                })?);
            }
            "--no-collision-detection" => {
                no_value(flag)?;
                opts.no_collision_detection = true;
            }
            "--export-git" => opts.export_git = Some(take_os(&mut it, inline, flag)?),
            "--verify" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.verify = Some(
                    v.parse()
                        .map_err(|e| usage(format!("--verify '{v}': {}", chain(&e))))?,
                );
            }
            "--git-to-nar" => {
                let repo = take_os(&mut it, inline, flag)?;
                let id = take_str(&mut it, None, "--git-to-nar REPO")?;
                opts.git_to_nar = Some((repo, id));
            }
            "--root-type" => {
                let v = take_str(&mut it, inline, flag)?;
                opts.root_type = Some(match v.as_str() {
                    "directory" | "tree" => GitMode::Directory,
                    "file" | "regular" => GitMode::File,
                    "executable" => GitMode::Executable,
                    "symlink" => GitMode::Symlink,
                    _ => {
                        return Err(usage(format!(
                            "unknown --root-type '{v}' (expected directory, file, executable or symlink)"
                        )));
                    }
                });
            }
            _ => return Err(usage(format!("unknown option '{flag}'"))),
        }
    }
    if opts.help {
        return Ok(opts);
    }
    check(&opts)?;
    Ok(opts)
}

/// Refuses combinations of options that mean nothing.
fn check(opts: &Opts) -> Result<(), Failure> {
    if opts.path.as_deref() == Some(OsStr::new("-")) && !opts.nar {
        return Err(usage("'-' (standard input) needs --nar"));
    }
    if opts.nar && opts.path.is_none() {
        return Err(usage(
            "--nar needs a PATH (a NAR file, or - for standard input)",
        ));
    }
    let single = opts.mode.is_some()
        && !opts.store_path
        && opts.export_git.is_none()
        && opts.multi.is_none()
        && opts.verify.is_none()
        && opts.git_to_nar.is_none();
    if single && (opts.name.is_some() || opts.store_dir.is_some()) {
        return Err(usage(
            "--name and --store-dir apply to --store-path and to the summary (no --mode)",
        ));
    }
    if opts.store_path && opts.format.is_some() {
        return Err(usage("--format does not apply to --store-path"));
    }
    if opts.mode == Some(Mode::Text) && !opts.store_path {
        return Err(usage(
            "--mode text needs --store-path (`nix hash path` has no text mode)",
        ));
    }

    let ops: Vec<Op> = [
        (opts.store_path, Op::StorePath),
        (opts.multi.is_some(), Op::Multi),
        (opts.export_git.is_some(), Op::ExportGit),
        (opts.verify.is_some(), Op::Verify),
        (opts.git_to_nar.is_some(), Op::GitToNar),
    ]
    .into_iter()
    .filter_map(|(on, op)| on.then_some(op))
    .collect();
    let op = match ops[..] {
        [] if opts.mode.is_some() => Op::Hash,
        [] => Op::Summary,
        [op] => op,
        [a, b, ..] => {
            return Err(usage(format!(
                "{} and {} cannot be combined",
                a.describe(),
                b.describe()
            )));
        }
    };
    let given = [
        (opts.mode.is_some(), "--mode"),
        (opts.algo.is_some(), "--algo"),
        (opts.format.is_some(), "--format"),
        (opts.name.is_some(), "--name"),
        (opts.store_dir.is_some(), "--store-dir"),
        (opts.cid, "--cid"),
        (opts.threads.is_some(), "--threads"),
        (opts.no_collision_detection, "--no-collision-detection"),
        (opts.root_type.is_some(), "--root-type"),
    ];
    for (on, flag) in given {
        if on && !op.takes().contains(&flag) {
            return Err(usage(format!("{flag} does not apply to {}", op.describe())));
        }
    }

    let git_mode = opts.mode == Some(Mode::File(FileIngestionMethod::Git));
    let multi_git = opts
        .multi
        .iter()
        .flatten()
        .any(|(m, _)| *m == FileIngestionMethod::Git);
    match op {
        Op::ExportGit if opts.mode.is_some() && !git_mode => {
            return Err(usage("--export-git hashes with --mode git only"));
        }
        Op::Verify if opts.on_disk() => {
            return Err(usage(
                "--verify reads a NAR: give --nar PATH (or --nar - for standard input)",
            ));
        }
        Op::GitToNar if opts.path.is_some() || opts.nar => {
            return Err(usage(
                "--git-to-nar takes no PATH: it reads the repository and writes standard output",
            ));
        }
        _ => {}
    }
    let git_op = match op {
        Op::Hash | Op::StorePath => git_mode,
        Op::Multi => multi_git,
        Op::Summary | Op::ExportGit => true,
        Op::Verify | Op::GitToNar => false,
    };
    if opts.cid && !git_op {
        return Err(usage(
            "--cid needs a git hash (--mode git, --multi with git, --export-git or the summary)",
        ));
    }
    if let Some(threads) = opts.threads {
        if !(matches!(op, Op::Hash | Op::Multi) || git_op) || !opts.on_disk() {
            return Err(usage(
                "--threads applies to hashing a PATH on disk (--mode, --multi, \
                 --store-path --mode git)",
            ));
        }
        if cfg!(not(feature = "parallel")) && threads != 1 {
            return Err(fail(format!(
                "--threads {threads}: this build hashes on one thread; build the example with \
                 `--features parallel` for more (or pass --threads 1)"
            )));
        }
    }
    Ok(())
}

/// The threads to hash git ids of a path on: `None` for one streaming pass, `Some(0)` for one
/// per core.
#[cfg(feature = "parallel")]
fn parallel_threads(opts: &Opts) -> Option<usize> {
    match opts.threads {
        Some(1) => None,
        Some(n) => Some(n),
        None => Some(0),
    }
}

#[cfg(not(feature = "parallel"))]
fn parallel_threads(_opts: &Opts) -> Option<usize> {
    None
}

// ---------------------------------------------------------------------------------------------
// Inputs: a path on disk or a NAR
// ---------------------------------------------------------------------------------------------

enum Input {
    /// A path as Nix resolves it (see [`nix_path`]), with the path as given.
    Path { resolved: PathBuf, given: OsString },
    /// A NAR file, or standard input for `None`.
    Nar(Option<PathBuf>),
    /// The sample store object shipped with the example.
    Sample,
}

impl Input {
    fn from_opts(opts: &Opts) -> Result<Input, Failure> {
        match (&opts.path, opts.nar) {
            (None, _) => Ok(Input::Sample),
            (Some(p), true) if p == "-" => Ok(Input::Nar(None)),
            (Some(p), true) => Ok(Input::Nar(Some(PathBuf::from(p)))),
            (Some(p), false) => Ok(Input::Path {
                resolved: nix_path(Path::new(p))?,
                given: p.clone(),
            }),
        }
    }

    /// What to call the input in messages.
    fn display(&self) -> String {
        match self {
            Input::Path { given, .. } => format!("'{}'", Path::new(given).display()),
            Input::Nar(Some(p)) => format!("NAR '{}'", p.display()),
            Input::Nar(None) => "the NAR on standard input".to_owned(),
            Input::Sample => "the sample store object (examples/sample/sample.nar)".to_owned(),
        }
    }

    /// The default store path name: the base name of the path as given (as Nix's
    /// `baseNameOf`), or of the NAR file without `.nar`; none for standard input.
    fn default_name(&self) -> Option<String> {
        match self {
            Input::Path { given, .. } => Some(base_name_of(given)),
            Input::Sample => Some(SAMPLE_NAME.to_owned()),
            Input::Nar(Some(p)) => {
                let base = base_name_of(p.as_os_str());
                Some(base.strip_suffix(".nar").map(str::to_owned).unwrap_or(base))
            }
            Input::Nar(None) => None,
        }
    }

    /// The NAR to read (read straight into the parser's own buffer: no `BufReader`).
    fn open_nar(&self) -> Result<Box<dyn Read>, Failure> {
        match self {
            Input::Nar(Some(p)) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| fail(format!("cannot open NAR '{}': {e}", p.display())))?;
                Ok(Box::new(file))
            }
            Input::Nar(None) => Ok(Box::new(io::stdin().lock())),
            Input::Sample => {
                let file = std::fs::File::open(SAMPLE_NAR).map_err(|e| {
                    fail(format!(
                        "cannot open the sample examples/sample/sample.nar: {e}"
                    ))
                })?;
                Ok(Box::new(file))
            }
            Input::Path { given, .. } => Err(fail(format!(
                "'{}' is not a NAR (give --nar)",
                Path::new(given).display()
            ))),
        }
    }

    /// Streams the object into `sink`, showing progress on a terminal when `progress` is set.
    fn feed(&self, sink: &mut dyn Sink, progress: bool) -> Result<(), Failure> {
        let meter = if progress {
            Meter::on_terminal("hashing", true)
        } else {
            None
        };
        let mut sink = Progress { inner: sink, meter };
        match self {
            Input::Path { resolved, .. } => feed_path(resolved, &mut sink),
            _ => feed_nar(self.open_nar()?, &mut sink),
        }
    }
}

#[cfg(feature = "fs")]
fn feed_path<S: Sink + ?Sized>(path: &Path, sink: &mut S) -> Result<(), Failure> {
    nix_ingest::fs::dump(path, sink, &nix_ingest::fs::Options::default())
        .map_err(|e| fail(chain(&e)))
}

#[cfg(not(feature = "fs"))]
fn feed_path<S: Sink + ?Sized>(path: &Path, _sink: &mut S) -> Result<(), Failure> {
    Err(fail(format!(
        "cannot read '{}': built without the \"fs\" feature (use --nar)",
        path.display()
    )))
}

fn feed_nar<S: Sink + ?Sized>(reader: impl Read, sink: &mut S) -> Result<(), Failure> {
    nar::read(reader, sink, &Limits::default())
        .map(drop)
        .map_err(|e| fail(chain(&e)))
}

/// Nix's `baseNameOf`: the last component, ignoring trailing slashes (`""` for `/`).
fn base_name_of(path: &OsStr) -> String {
    let bytes = path.as_encoded_bytes();
    let end = bytes
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(0, |i| i.saturating_add(1));
    let trimmed = bytes.get(..end).unwrap_or_default();
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i.saturating_add(1));
    String::from_utf8_lossy(trimmed.get(start..).unwrap_or_default()).into_owned()
}

/// The path Nix hashes for `path` (its `makeParentCanonical`): made absolute, `.` and `..`
/// removed as text, the parent resolved through symlinks, the last component kept as is.
fn nix_path(path: &Path) -> Result<PathBuf, Failure> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| fail(format!("cannot find the current directory: {e}")))?
            .join(path)
    };
    let mut clean = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::Normal(n) => clean.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = std::fs::canonicalize(parent).map_err(|e| {
                fail(format!(
                    "cannot resolve the directory of '{}': {e}",
                    clean.display()
                ))
            })?;
            Ok(parent.join(name))
        }
        _ => Ok(clean),
    }
}

// ---------------------------------------------------------------------------------------------
// Progress on standard error
// ---------------------------------------------------------------------------------------------

/// Nothing is drawn before the work has taken this long.
const PROGRESS_DELAY: Duration = Duration::from_millis(500);
/// The line is redrawn at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// The clock is read once per this many entries…
const CHECK_EVERY_ENTRIES: u64 = 256;
/// …or this many bytes, never per event.
const CHECK_EVERY_BYTES: u64 = 1 << 20;

/// Counts entries and bytes, and redraws one line on standard error (a terminal) now and then.
struct Meter {
    label: String,
    count_entries: bool,
    count_bytes: bool,
    start: Instant,
    last_draw: Option<Instant>,
    entries: u64,
    bytes: u64,
    next_entries: u64,
    next_bytes: u64,
}

impl Meter {
    /// A meter, if standard error is a terminal (else progress is not shown at all).
    fn on_terminal(label: &str, count_entries: bool) -> Option<Meter> {
        io::stderr().is_terminal().then(|| Meter {
            label: label.to_owned(),
            count_entries,
            count_bytes: true,
            start: Instant::now(),
            last_draw: None,
            entries: 0,
            bytes: 0,
            next_entries: CHECK_EVERY_ENTRIES,
            next_bytes: CHECK_EVERY_BYTES,
        })
    }

    #[inline]
    fn entry(&mut self) {
        self.entries = self.entries.saturating_add(1);
        if self.entries >= self.next_entries {
            self.tick();
        }
    }

    #[inline]
    fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
        if self.bytes >= self.next_bytes {
            self.tick();
        }
    }

    #[cold]
    fn tick(&mut self) {
        self.next_entries = self.entries.saturating_add(CHECK_EVERY_ENTRIES);
        self.next_bytes = self.bytes.saturating_add(CHECK_EVERY_BYTES);
        self.maybe_draw(Instant::now());
    }

    fn maybe_draw(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        let due = self
            .last_draw
            .is_none_or(|t| now.saturating_duration_since(t) >= PROGRESS_INTERVAL);
        if elapsed < PROGRESS_DELAY || !due {
            return;
        }
        self.last_draw = Some(now);
        let secs = elapsed.as_secs_f64();
        let mut line = format!("\r{}:", self.label);
        if self.count_entries {
            let plural = if self.entries == 1 {
                "entry"
            } else {
                "entries"
            };
            let _ = write!(line, " {} {plural},", self.entries);
        }
        if self.count_bytes {
            let rate = if secs > 0.0 {
                self.bytes as f64 / secs
            } else {
                0.0
            };
            let _ = write!(line, " {} ({}/s),", human(self.bytes as f64), human(rate));
        }
        let _ = write!(line, " {secs:.1} s\x1b[K");
        let mut stderr = io::stderr().lock();
        let _ = stderr.write_all(line.as_bytes());
        let _ = stderr.flush();
    }
}

impl Drop for Meter {
    /// Clears the line, if one was drawn.
    fn drop(&mut self) {
        if self.last_draw.is_some() {
            let mut stderr = io::stderr().lock();
            let _ = stderr.write_all(b"\r\x1b[K");
            let _ = stderr.flush();
        }
    }
}

/// `1.5 GiB`, `12.0 MiB`, `512 B`.
fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = "KiB";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// A sink that counts what passes through it into a [`Meter`].
struct Progress<S> {
    inner: S,
    meter: Option<Meter>,
}

impl<S: Sink> Sink for Progress<S> {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Some(meter) = &mut self.meter {
            match event {
                Event::FileData(data) => meter.add_bytes(data.len()),
                Event::DirectoryStart { .. } | Event::FileStart { .. } | Event::Symlink { .. } => {
                    meter.entry()
                }
                Event::DirectoryEnd | Event::FileEnd => {}
            }
        }
        self.inner.event(event)
    }
}

/// A reader that counts the bytes read through it into a [`Meter`].
struct ProgressReader<R> {
    inner: R,
    meter: Option<Meter>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(meter) = &mut self.meter {
            meter.add_bytes(n);
        }
        Ok(n)
    }
}

/// Runs `work` while a thread redraws progress from the bytes this process has read (for work
/// that emits no events, such as hashing on several threads); on a terminal only.
fn with_background_progress<T>(label: &str, work: impl FnOnce() -> T) -> T {
    let Some(mut meter) = Meter::on_terminal(label, false) else {
        return work();
    };
    let base = bytes_read_by_this_process();
    meter.count_bytes = base.is_some();
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let drawer = std::thread::Builder::new().spawn_scoped(scope, move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PROGRESS_INTERVAL)
            {
                if let (Some(base), Some(now)) = (base, bytes_read_by_this_process()) {
                    meter.bytes = now.saturating_sub(base);
                }
                meter.maybe_draw(Instant::now());
            }
            // The meter drops here, clearing the line.
        });
        let out = work();
        drop(stop);
        if let Ok(drawer) = drawer {
            let _ = drawer.join();
        }
        out
    })
}

/// The bytes this process has read so far (`rchar` of `/proc/self/io`, Linux only).
fn bytes_read_by_this_process() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

fn run(opts: &Opts) -> Result<String, Failure> {
    if let Some((repo, id)) = &opts.git_to_nar {
        return git_to_nar(opts, Path::new(repo), id);
    }
    let input = Input::from_opts(opts)?;
    if let Some(list) = &opts.multi {
        return multi(opts, &input, list);
    }
    if let Some(repo) = &opts.export_git {
        return export_git(opts, &input, Path::new(repo));
    }
    if let Some(ca) = &opts.verify {
        return verify(opts, &input, ca);
    }
    match opts.mode {
        Some(mode) if opts.store_path => store_path_line(opts, &input, mode),
        None if opts.store_path => {
            store_path_line(opts, &input, Mode::File(FileIngestionMethod::Nar))
        }
        Some(Mode::File(method)) => {
            let algo = opts.algo.unwrap_or(Algorithm::Sha256);
            let hash = hash_one(opts, &input, method, algo, FlatSymlink::Follow)?;
            let mut out = format!("{}\n", hash.encode(opts.format.unwrap_or(Format::Sri)));
            if opts.cid {
                let _ = writeln!(out, "{}", cid(&hash)?);
            }
            Ok(out)
        }
        Some(Mode::Text) => Err(usage("--mode text needs --store-path")),
        None => summary(opts, &input),
    }
}

/// The sink hashing by `method` with `algo` (detecting SHA-1 collisions if `detect`).
fn hash_sink(method: FileIngestionMethod, algo: Algorithm, detect: bool) -> Box<dyn HashSink> {
    match method {
        FileIngestionMethod::Flat => Box::new(FlatHasher::new(algo).collision_detection(detect)),
        FileIngestionMethod::Nar => Box::new(NarHasher::from_hasher(
            Hasher::with_collision_detection(algo, detect),
        )),
        FileIngestionMethod::Git => Box::new(GitHasher::new(algo).collision_detection(detect)),
    }
}

/// The git-raw CIDv1 of a git id.
fn cid(id: &Hash) -> Result<String, Failure> {
    nix_ingest::cid::git_raw_cid(id).map_err(|e| fail(chain(&e)))
}

/// What flat hashing does with a symlink root on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlatSymlink {
    /// Hash the file it points to (`nix hash path --mode flat`).
    Follow,
    /// Refuse it (`nix store add --mode flat|text`).
    Refuse,
}

/// The hash of `input` by one method.
fn hash_one(
    opts: &Opts,
    input: &Input,
    method: FileIngestionMethod,
    algo: Algorithm,
    symlink: FlatSymlink,
) -> Result<Hash, Failure> {
    let followed;
    let input = match input {
        Input::Path { resolved, given } if method == FileIngestionMethod::Flat => {
            let meta = std::fs::symlink_metadata(resolved)
                .map_err(|e| fail(format!("cannot read '{}': {e}", resolved.display())))?;
            if meta.file_type().is_symlink() {
                if symlink == FlatSymlink::Refuse {
                    return Err(fail(format!(
                        "path '{}' is a symlink (flat and text hashing take a regular file)",
                        resolved.display()
                    )));
                }
                let target = std::fs::canonicalize(resolved).map_err(|e| {
                    fail(format!(
                        "cannot follow symlink '{}': {e}",
                        resolved.display()
                    ))
                })?;
                followed = Input::Path {
                    resolved: target,
                    given: given.clone(),
                };
                &followed
            } else {
                input
            }
        }
        _ => input,
    };
    if method == FileIngestionMethod::Git
        && let Input::Path { resolved, .. } = input
        && let Some(threads) = parallel_threads(opts)
    {
        let ids = with_background_progress(&threads_label(threads), || {
            parallel_git(resolved, &[algo], threads, opts.detect())
        })?;
        return ids.into_iter().next().ok_or_else(|| fail("no result"));
    }
    let mut sink = hash_sink(method, algo, opts.detect());
    if let Input::Path { resolved, .. } = input
        && let Some(threads) = parallel_threads(opts)
    {
        // Files read ahead on the other threads while this one hashes the stream.
        with_background_progress(&threads_label(threads), || {
            parallel_dump(resolved, &mut sink, &[], threads, opts.detect())
        })?;
        return sink
            .finish()
            .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))));
    }
    input.feed(&mut sink, true)?;
    sink.finish()
        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))
}

/// Several hashes of `input` from one pass.
fn hash_many(
    input: &Input,
    list: &[(FileIngestionMethod, Algorithm)],
    detect: bool,
    progress: bool,
) -> Result<Vec<Hash>, Failure> {
    let mut sinks: Vec<Box<dyn HashSink>> = list
        .iter()
        .map(|&(method, algo)| hash_sink(method, algo, detect))
        .collect();
    input.feed(&mut sinks, progress)?;
    sinks
        .into_iter()
        .map(|s| {
            s.finish()
                .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))
        })
        .collect()
}

fn threads_label(threads: usize) -> String {
    match threads {
        0 => "hashing (git, one thread per core)".to_owned(),
        n => format!("hashing (git, {n} threads)"),
    }
}

/// The git ids of the object at `path`, hashed on `threads` threads (0: one per core).
#[cfg(feature = "parallel")]
fn parallel_git(
    path: &Path,
    algos: &[Algorithm],
    threads: usize,
    detect: bool,
) -> Result<Vec<Hash>, Failure> {
    use nix_ingest::parallel::{self, ParallelOptions};
    let options = ParallelOptions {
        threads: Some(threads),
        collision_detection: detect,
        ..ParallelOptions::default()
    };
    parallel::hash_git_multi(path, algos, &options).map_err(|e| fail(chain(&e)))
}

/// Feeds the object at `path` to `sink` with files read ahead on `threads` threads (0: one per
/// core), returning its git ids under `git` from the same pass.
#[cfg(feature = "parallel")]
fn parallel_dump(
    path: &Path,
    sink: &mut dyn nix_ingest::event::Sink,
    git: &[Algorithm],
    threads: usize,
    detect: bool,
) -> Result<Vec<Hash>, Failure> {
    use nix_ingest::parallel::{self, ParallelOptions};
    let options = ParallelOptions {
        threads: Some(threads),
        collision_detection: detect,
        ..ParallelOptions::default()
    };
    parallel::dump_multi(path, sink, git, &options).map_err(|e| fail(chain(&e)))
}

#[cfg(not(feature = "parallel"))]
fn parallel_dump(
    _path: &Path,
    _sink: &mut dyn nix_ingest::event::Sink,
    _git: &[Algorithm],
    _threads: usize,
    _detect: bool,
) -> Result<Vec<Hash>, Failure> {
    Err(fail("built without the parallel feature"))
}

#[cfg(not(feature = "parallel"))]
fn parallel_git(
    path: &Path,
    _algos: &[Algorithm],
    _threads: usize,
    _detect: bool,
) -> Result<Vec<Hash>, Failure> {
    Err(fail(format!(
        "cannot hash '{}' on several threads: built without the \"parallel\" feature",
        path.display()
    )))
}

/// `--multi`: one `METHOD-ALGO HASH` line per entry of `list`.
fn multi(
    opts: &Opts,
    input: &Input,
    list: &[(FileIngestionMethod, Algorithm)],
) -> Result<String, Failure> {
    use FileIngestionMethod::Git;
    let detect = opts.detect();
    let hashes = match (input, parallel_threads(opts)) {
        (Input::Path { resolved, .. }, Some(threads)) if list.iter().any(|(m, _)| *m == Git) => {
            // One walk: git ids of the files hashed on every thread as they are read ahead,
            // the rest (a NAR hash is one sequential stream) in order on this one.
            let git_algos: Vec<Algorithm> = list
                .iter()
                .filter(|(m, _)| *m == Git)
                .map(|&(_, a)| a)
                .collect();
            let mut others: Vec<Box<dyn HashSink>> = list
                .iter()
                .filter(|(m, _)| *m != Git)
                .map(|&(m, a)| hash_sink(m, a, detect))
                .collect();
            let git = with_background_progress(&threads_label(threads), || {
                parallel_dump(resolved, &mut others, &git_algos, threads, detect)
            });
            let rest = others
                .into_iter()
                .map(|s| {
                    s.finish()
                        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))
                })
                .collect::<Result<Vec<Hash>, Failure>>();
            let (mut git, mut rest) = (git?.into_iter(), rest?.into_iter());
            list.iter()
                .map(|(m, _)| {
                    if *m == Git { git.next() } else { rest.next() }
                        .ok_or_else(|| fail("no result"))
                })
                .collect::<Result<Vec<Hash>, Failure>>()?
        }
        _ => hash_many(input, list, detect, true)?,
    };
    let format = opts.format.unwrap_or(Format::Sri);
    let mut out = String::new();
    for (&(method, algo), hash) in list.iter().zip(&hashes) {
        let _ = writeln!(out, "{method}-{algo} {}", hash.encode(format));
        if opts.cid && method == Git {
            let _ = writeln!(out, "{method}-{algo}-cid {}", cid(hash)?);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Git objects in and out, and verified NARs
// ---------------------------------------------------------------------------------------------

/// `--export-git REPO`: hash with git, writing every object into REPO.
fn export_git(opts: &Opts, input: &Input, repo: &Path) -> Result<String, Failure> {
    let objects = ObjectsDir::locate(repo).map_err(|e| fail(chain(&e)))?;
    let algo = objects.algorithm;
    if let Some(asked) = opts.algo
        && asked != algo
    {
        return Err(fail(format!(
            "git repository '{}' names objects with {algo}, not {asked} (leave out --algo)",
            repo.display()
        )));
    }
    let writer = LooseObjectWriter::with_objects_dir(objects.path, Some(algo));
    let mut hasher = GitHasher::with_objects(algo, writer).collision_detection(opts.detect());
    input.feed(&mut hasher, true)?;
    let (id, writer) = hasher
        .finish_with_objects()
        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))?;
    let mut out = format!("{}\n", id.encode(opts.format.unwrap_or(Format::Base16)));
    if opts.cid {
        let _ = writeln!(out, "{}", cid(&id)?);
    }
    let _ = writeln!(
        out,
        "objects: {} written, {} already present",
        writer.written(),
        writer.already_present()
    );
    Ok(out)
}

/// `--git-to-nar REPO ID`: the NAR of a git tree or blob, streamed to standard output.
fn git_to_nar(opts: &Opts, repo: &Path, id_text: &str) -> Result<String, Failure> {
    let mut source = Repository::open(repo).map_err(|e| fail(chain(&e)))?;
    let algo = source.algorithm();
    let digits = algo.len().saturating_mul(2);
    if id_text.len() != digits || !id_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail(format!(
            "'{id_text}' is not a git object id of '{}' ({digits} hex digits: the repository uses {algo})",
            repo.display()
        )));
    }
    let id = Hash::parse_unprefixed(id_text, algo).map_err(|e| fail(chain(&e)))?;
    let mode = match opts.root_type {
        Some(mode) => mode,
        // A blob is a file unless told otherwise; anything else is read as a tree (and a
        // missing or bad object is reported below, where it is read again).
        None => match source.read(&id) {
            Ok(object) if object.kind == ObjectKind::Blob => GitMode::File,
            _ => GitMode::Directory,
        },
    };
    if io::stdout().is_terminal() {
        return Err(fail(
            "refusing to write a NAR to a terminal: redirect standard output (e.g. > out.nar)",
        ));
    }
    let what = format!("git object {id_text} of '{}'", repo.display());
    // The NAR writer buffers; count what it hands on, to say how much of a failed NAR went out.
    let mut out = CountingWriter {
        inner: io::stdout().lock(),
        count: 0,
    };
    let mut nar = NarWriter::new(&mut out);
    let restored = {
        let mut sink = Progress {
            inner: &mut nar,
            meter: Meter::on_terminal("restoring", true),
        };
        events::to_events(&id, mode, &mut source, &mut sink, &Limits::default())
    };
    let error: Box<dyn StdError> = match restored {
        Ok(()) => match nar.finish() {
            Ok(_) => match out.flush() {
                Ok(()) => return Ok(String::new()),
                Err(e) => e.into(),
            },
            Err(e) => e.into(),
        },
        // What the NAR writer still holds is dropped with it, never written.
        Err(e) => e.into(),
    };
    // The reader of the NAR went away: nothing left to say, as for the other outputs.
    if is_broken_pipe(&*error) {
        return Ok(String::new());
    }
    let emitted = out.count;
    let mut msg = format!("cannot restore {what} as a NAR: {}", chain(&*error));
    if emitted > 0 {
        let _ = write!(
            msg,
            " (the first {emitted} bytes of the NAR were written already: discard them)"
        );
    }
    Err(fail(msg))
}

/// A writer that counts the bytes it passes on.
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `--verify CA`: the store path of the NAR, if it has content address `ca`.
fn verify(opts: &Opts, input: &Input, ca: &ContentAddress) -> Result<String, Failure> {
    let store = store_dir(opts)?;
    let name = opts
        .name
        .clone()
        .or_else(|| input.default_name())
        .ok_or_else(|| usage("a NAR on standard input needs --name for its store path"))?;
    let reader = ProgressReader {
        inner: input.open_nar()?,
        meter: Meter::on_terminal("verifying", false),
    };
    let path =
        verify::verify_nar(reader, ca, &name, &References::default(), &store).map_err(|e| {
            fail(format!(
                "cannot verify {} as {ca}: {}",
                input.display(),
                chain(&e)
            ))
        })?;
    Ok(format!("{}\n", store.print(&path)))
}

// ---------------------------------------------------------------------------------------------
// Store paths
// ---------------------------------------------------------------------------------------------

fn store_dir(opts: &Opts) -> Result<StoreDir, Failure> {
    match &opts.store_dir {
        None => Ok(StoreDir::default()),
        // Nix canonicalises the store directory (`/gnu//store/` is `/gnu/store`).
        Some(dir) => {
            let mut canon = String::new();
            for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
                canon.push('/');
                canon.push_str(part);
            }
            let canon = if dir.starts_with('/') {
                canon
            } else {
                dir.clone()
            };
            StoreDir::new(canon).map_err(|e| usage(format!("--store-dir: {}", chain(&e))))
        }
    }
}

fn store_path_line(opts: &Opts, input: &Input, mode: Mode) -> Result<String, Failure> {
    let store = store_dir(opts)?;
    let name = opts
        .name
        .clone()
        .or_else(|| input.default_name())
        .ok_or_else(|| usage("a NAR on standard input needs --name for its store path"))?;
    let algo = opts.algo.unwrap_or(Algorithm::Sha256);
    let ca = match mode {
        Mode::File(method) => ContentAddress::fixed(
            method,
            hash_one(opts, input, method, algo, FlatSymlink::Refuse)?,
        ),
        Mode::Text => {
            // Check first what Nix 2.26 only asserts (it aborts).
            if algo != Algorithm::Sha256 {
                return Err(fail(format!("text hashing must use SHA-256, not {algo}")));
            }
            ContentAddress::text(hash_one(
                opts,
                input,
                FileIngestionMethod::Flat,
                algo,
                FlatSymlink::Refuse,
            )?)
        }
    };
    let path = store
        .make_path_from_ca(&name, &ca, &References::default())
        .map_err(|e| fail(chain(&e)))?;
    let mut out = format!("{}\n", store.print(&path));
    if opts.cid {
        let _ = writeln!(out, "{}", cid(ca.hash())?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

/// A hash sink that records its own failure instead of stopping the others.
struct Slot {
    sink: Option<Box<dyn HashSink>>,
    error: Option<SinkError>,
}

impl Slot {
    fn new(method: FileIngestionMethod, algo: Algorithm, detect: bool) -> Slot {
        Slot {
            sink: Some(hash_sink(method, algo, detect)),
            error: None,
        }
    }

    fn finish(self) -> Result<Hash, String> {
        match (self.sink, self.error) {
            (_, Some(e)) => Err(chain(&e)),
            (Some(s), None) => s.finish().map_err(|e| chain(&e)),
            (None, None) => Err("no result".to_owned()),
        }
    }
}

impl Sink for Slot {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Some(sink) = &mut self.sink
            && let Err(e) = sink.event(event)
        {
            self.sink = None;
            self.error = Some(e);
        }
        Ok(())
    }
}

/// What the object holds.
#[derive(Default)]
struct Stats {
    root: Option<&'static str>,
    files: u64,
    executables: u64,
    symlinks: u64,
    directories: u64,
    bytes: u64,
}

impl Sink for Stats {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        let kind = match event {
            Event::DirectoryStart { .. } => {
                self.directories = self.directories.saturating_add(1);
                "directory"
            }
            Event::FileStart {
                executable, size, ..
            } => {
                self.files = self.files.saturating_add(1);
                self.executables = self.executables.saturating_add(u64::from(executable));
                self.bytes = self.bytes.saturating_add(size);
                if executable {
                    "executable file"
                } else {
                    "regular file"
                }
            }
            Event::Symlink { .. } => {
                self.symlinks = self.symlinks.saturating_add(1);
                "symlink"
            }
            Event::DirectoryEnd | Event::FileData(_) | Event::FileEnd => return Ok(()),
        };
        self.root.get_or_insert(kind);
        Ok(())
    }
}

fn summary(opts: &Opts, input: &Input) -> Result<String, Failure> {
    use FileIngestionMethod::{Flat, Git, Nar};
    let algo = opts.algo.unwrap_or(Algorithm::Sha256);
    let format = opts.format.unwrap_or(Format::Sri);
    let store = store_dir(opts)?;
    let name = opts.name.clone().or_else(|| input.default_name());

    let detect = opts.detect();
    let slots = vec![
        Slot::new(Git, Algorithm::Sha1, detect),
        Slot::new(Git, Algorithm::Sha256, detect),
        Slot::new(Nar, algo, detect),
        Slot::new(Flat, algo, detect),
    ];
    let mut tee = Tee::new(Stats::default(), slots);
    input.feed(&mut tee, true)?;
    let (stats, slots) = tee.into_inner();
    let mut results = slots.into_iter().map(Slot::finish);
    let mut next = || {
        results
            .next()
            .unwrap_or_else(|| Err("no result".to_owned()))
    };
    let (git1, git256, nar, flat) = (next(), next(), next(), next());

    let mut out = String::new();
    let root = stats.root.unwrap_or("object");
    let _ = writeln!(out, "{}: {root}", input.display());
    if stats.root == Some("directory") {
        let _ = writeln!(
            out,
            "  files: {} ({} executable), symlinks: {}, subdirectories: {}, file bytes: {}",
            stats.files,
            stats.executables,
            stats.symlinks,
            stats.directories.saturating_sub(1),
            stats.bytes
        );
    }
    let line = |out: &mut String, label: &str, r: &Result<Hash, String>, f: Format| {
        let _ = match r {
            Ok(h) => writeln!(out, "{label:<22}{}", h.encode(f)),
            Err(e) => writeln!(out, "{label:<22}n/a: {e}"),
        };
    };
    line(&mut out, "git sha1", &git1, Format::Base16);
    line(&mut out, "git sha256", &git256, Format::Base16);
    if opts.cid {
        for (label, id) in [("git sha1 cid", &git1), ("git sha256 cid", &git256)] {
            let text = match id {
                Ok(id) => nix_ingest::cid::git_raw_cid(id).unwrap_or_else(|e| format!("n/a: {e}")),
                Err(e) => format!("n/a: {e}"),
            };
            let _ = writeln!(out, "{label:<22}{text}");
        }
    }
    line(&mut out, &format!("nar {algo}"), &nar, format);
    if stats.root == Some("symlink") {
        let _ = writeln!(
            out,
            "{:<22}n/a: the root is a symlink (--mode flat hashes the file it points to)",
            format!("flat {algo}")
        );
    } else {
        line(&mut out, &format!("flat {algo}"), &flat, format);
    }

    let mut cas = Vec::new();
    if let Ok(h) = nar {
        cas.push(("nar", ContentAddress::fixed(Nar, h)));
    }
    if let Ok(h) = git1 {
        cas.push(("git", ContentAddress::fixed(Git, h)));
    }
    if let Ok(h) = flat
        && stats.root != Some("symlink")
    {
        cas.push(("flat", ContentAddress::fixed(Flat, h)));
    }
    for (label, ca) in &cas {
        let _ = writeln!(out, "{:<22}{ca}", format!("{label} content address"));
        let path = match &name {
            None => "n/a: give --name for a NAR on standard input".to_owned(),
            Some(name) => match store.make_path_from_ca(name, ca, &References::default()) {
                Ok(p) => store.print(&p),
                Err(e) => format!("n/a: {}", chain(&e)),
            },
        };
        let _ = writeln!(out, "{:<22}{path}", format!("{label} store path"));
    }
    Ok(out)
}
