//! `hash-path`: hash a file system object, or a NAR, exactly as Nix does.
//!
//! ```text
//! cargo run --release --example hash-path -- [OPTIONS] [PATH]
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
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{Event, Sink, SinkError, Tee};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::{FileIngestionMethod, HashSink, IngestionMethod};
use nix_ingest::store_path::{References, StoreDir};
use nix_ingest::{Limits, nar};

const USAGE: &str = "\
usage: hash-path [OPTIONS] [PATH]

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
  -h, --help           print this help

Git store paths with SHA-256 follow Nix 2.31 and later (Nix 2.26 refuses them).
";

/// The sample store object (a NAR made by `nix-store --dump`) and its store path name.
const SAMPLE_NAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample/sample.nar");
const SAMPLE_NAME: &str = "sample";

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
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (text, None),
        };
        let mut value = |flag: &str| -> Result<String, Failure> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .ok_or_else(|| usage(format!("{flag} needs a value")))?
                    .to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| usage(format!("the value of {flag} is not valid UTF-8"))),
            }
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
                let v = value(flag)?;
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
                let v = value(flag)?;
                opts.algo = Some(v.parse().map_err(|e| usage(format!("--algo: {e}")))?);
            }
            "--format" => {
                let v = value(flag)?;
                opts.format = Some(v.parse().map_err(|e| usage(format!("--format: {e}")))?);
            }
            "--store-path" => {
                no_value(flag)?;
                opts.store_path = true;
            }
            "--name" | "-n" => opts.name = Some(value(flag)?),
            "--store-dir" => opts.store_dir = Some(value(flag)?),
            "--nar" => {
                no_value(flag)?;
                opts.nar = true;
            }
            _ => return Err(usage(format!("unknown option '{flag}'"))),
        }
    }
    if opts.help {
        return Ok(opts);
    }
    if opts.path.as_deref() == Some(OsStr::new("-")) && !opts.nar {
        return Err(usage("'-' (standard input) needs --nar"));
    }
    if opts.nar && opts.path.is_none() {
        return Err(usage(
            "--nar needs a PATH (a NAR file, or - for standard input)",
        ));
    }
    let single = opts.mode.is_some() && !opts.store_path;
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
    Ok(opts)
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

    /// Streams the object into `sink`.
    fn feed(&self, sink: &mut dyn Sink) -> Result<(), Failure> {
        match self {
            Input::Path { resolved, .. } => feed_path(resolved, sink),
            Input::Nar(Some(p)) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| fail(format!("cannot open NAR '{}': {e}", p.display())))?;
                feed_nar(BufReader::with_capacity(1 << 17, file), sink)
            }
            Input::Nar(None) => feed_nar(io::stdin().lock(), sink),
            Input::Sample => {
                let file = std::fs::File::open(SAMPLE_NAR).map_err(|e| {
                    fail(format!(
                        "cannot open the sample examples/sample/sample.nar: {e}"
                    ))
                })?;
                feed_nar(BufReader::new(file), sink)
            }
        }
    }
}

#[cfg(feature = "fs")]
fn feed_path(path: &Path, sink: &mut dyn Sink) -> Result<(), Failure> {
    nix_ingest::fs::dump(path, sink, &nix_ingest::fs::Options::default())
        .map_err(|e| fail(chain(&e)))
}

#[cfg(not(feature = "fs"))]
fn feed_path(path: &Path, _sink: &mut dyn Sink) -> Result<(), Failure> {
    Err(fail(format!(
        "cannot read '{}': built without the \"fs\" feature (use --nar)",
        path.display()
    )))
}

fn feed_nar(reader: impl Read, sink: &mut dyn Sink) -> Result<(), Failure> {
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
// The three outputs
// ---------------------------------------------------------------------------------------------

fn run(opts: &Opts) -> Result<String, Failure> {
    let input = Input::from_opts(opts)?;
    match opts.mode {
        Some(mode) if opts.store_path => store_path_line(opts, &input, mode),
        None if opts.store_path => {
            store_path_line(opts, &input, Mode::File(FileIngestionMethod::Nar))
        }
        Some(Mode::File(method)) => {
            let algo = opts.algo.unwrap_or(Algorithm::Sha256);
            let hash = hash_one(&input, method, algo, FlatSymlink::Follow)?;
            Ok(format!(
                "{}\n",
                hash.encode(opts.format.unwrap_or(Format::Sri))
            ))
        }
        Some(Mode::Text) => Err(usage("--mode text needs --store-path")),
        None => summary(opts, &input),
    }
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
    let mut sink = method.hash_sink(algo).map_err(|e| fail(chain(&e)))?;
    input.feed(&mut sink)?;
    sink.finish()
        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))
}

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
        Mode::File(method) => {
            ContentAddress::fixed(method, hash_one(input, method, algo, FlatSymlink::Refuse)?)
        }
        Mode::Text => {
            // Check first what Nix 2.26 only asserts (it aborts).
            if algo != Algorithm::Sha256 {
                return Err(fail(format!("text hashing must use SHA-256, not {algo}")));
            }
            ContentAddress::text(hash_one(
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
    Ok(format!("{}\n", store.print(&path)))
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
    fn new(method: FileIngestionMethod, algo: Algorithm) -> Result<Slot, Failure> {
        Ok(Slot {
            sink: Some(method.hash_sink(algo).map_err(|e| fail(chain(&e)))?),
            error: None,
        })
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

    let slots = vec![
        Slot::new(Git, Algorithm::Sha1)?,
        Slot::new(Git, Algorithm::Sha256)?,
        Slot::new(Nar, algo)?,
        Slot::new(Flat, algo)?,
    ];
    let mut tee = Tee::new(Stats::default(), slots);
    input.feed(&mut tee)?;
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
