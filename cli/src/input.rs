//! What a subcommand reads: a path on disk (resolved as Nix resolves it) or a NAR stream.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use nix_ingest::Limits;
use nix_ingest::event::Sink;
use nix_ingest::store_path::StoreDir;

use crate::args::StoreOpts;
use crate::progress::{Meter, Progress};
use crate::{Failure, chain, fail, usage};

/// A path on disk or a NAR.
pub enum Input {
    /// A path as Nix resolves it (see [`nix_path`]), with the path as given.
    Path { resolved: PathBuf, given: OsString },
    /// A NAR file, or standard input for `None`.
    Nar(Option<PathBuf>),
}

impl Input {
    /// The input named `arg`: a NAR if `nar` (`-` is standard input), else a path on disk.
    pub fn new(arg: &OsStr, nar: bool) -> Result<Input, Failure> {
        match (arg, nar) {
            (p, true) if p == "-" => Ok(Input::Nar(None)),
            (p, true) => Ok(Input::Nar(Some(PathBuf::from(p)))),
            (p, false) if p == "-" => Err(usage("'-' (standard input) needs --nar")),
            (p, false) => Ok(Input::Path {
                resolved: nix_path(Path::new(p))?,
                given: p.to_owned(),
            }),
        }
    }

    /// What to call the input in messages.
    pub fn display(&self) -> String {
        match self {
            Input::Path { given, .. } => format!("{:?}", Path::new(given)),
            Input::Nar(Some(p)) => format!("NAR {p:?}"),
            Input::Nar(None) => "the NAR on standard input".to_owned(),
        }
    }

    /// The default store path name: the text after the last `/` of the path as given (as Nix
    /// 2.34; empty for `dir/`), or the base name of the NAR file without `.nar`; none for
    /// standard input.
    pub fn default_name(&self) -> Option<String> {
        match self {
            Input::Path { given, .. } => {
                let bytes = given.as_encoded_bytes();
                let start = bytes
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(0, |i| i.saturating_add(1));
                Some(String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned())
            }
            Input::Nar(Some(p)) => {
                let base = base_name_of(p.as_os_str());
                Some(base.strip_suffix(".nar").map(str::to_owned).unwrap_or(base))
            }
            Input::Nar(None) => None,
        }
    }

    /// The store path name: `name`, or the default one.
    pub fn name(&self, name: Option<&str>) -> Result<String, Failure> {
        name.map(str::to_owned)
            .or_else(|| self.default_name())
            .ok_or_else(|| usage("a NAR on standard input needs --name for its store path"))
    }

    /// The NAR to read (read straight into the parser's own buffer: no `BufReader`).
    pub fn open_nar(&self) -> Result<Box<dyn Read>, Failure> {
        match self {
            Input::Nar(Some(p)) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| fail(format!("cannot open NAR {p:?}: {e}")))?;
                Ok(Box::new(file))
            }
            Input::Nar(None) => Ok(Box::new(io::stdin().lock())),
            Input::Path { given, .. } => Err(fail(format!(
                "{:?} is not a NAR (give --nar)",
                Path::new(given)
            ))),
        }
    }

    /// Streams the object into `sink`, showing progress on a terminal.
    pub fn feed(&self, sink: &mut dyn Sink) -> Result<(), Failure> {
        let mut sink = Progress::new(sink, Meter::on_terminal("hashing", true));
        match self {
            Input::Path { resolved, .. } => {
                nix_ingest::fs::dump(resolved, &mut sink, &nix_ingest::fs::Options::default())
                    .map_err(|e| fail(chain(&e)))
            }
            Input::Nar(_) => nix_ingest::nar::read(self.open_nar()?, &mut sink, &Limits::default())
                .map(drop)
                .map_err(|e| fail(format!("{}: {}", self.display(), chain(&e)))),
        }
    }
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
                    "cannot resolve the directory of {:?}: {e}",
                    clean.display()
                ))
            })?;
            Ok(parent.join(name))
        }
        _ => Ok(clean),
    }
}

/// The store directory named by `--store URL` (its `store=` parameter) or `--store-dir DIR`.
pub fn store_dir(opts: &StoreOpts) -> Result<StoreDir, Failure> {
    let dir = match (&opts.store, &opts.store_dir) {
        (_, Some(dir)) => dir.clone(),
        (Some(url), None) => match url.split_once('?') {
            Some((_, query)) => match query
                .split('&')
                .find_map(|param| param.strip_prefix("store="))
            {
                Some(dir) => dir.to_owned(),
                None => return Ok(StoreDir::default()),
            },
            None => return Ok(StoreDir::default()),
        },
        (None, None) => return Ok(StoreDir::default()),
    };
    // Nix canonicalises the store directory (`/gnu//store/` is `/gnu/store`).
    let canon = if dir.starts_with('/') {
        let mut canon = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
            canon.push('/');
            canon.push_str(part);
        }
        canon
    } else {
        dir
    };
    StoreDir::new(canon).map_err(|e| usage(chain(&e)))
}
