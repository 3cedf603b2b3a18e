//! What a subcommand reads: a path on disk (resolved as Nix resolves it) or a NAR stream.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use nix_ingest::Options;
use nix_ingest::event::Sink;
use nix_ingest::nix_path::{self, NixPath};
use nix_ingest::store_path::StoreDir;

use crate::args::StoreOpts;
use crate::progress::{Meter, Progress, ProgressReader};
use crate::{Failure, chain, chain_with, fail, quote_path, usage};

/// A path on disk or a NAR.
pub enum Input {
    /// A path given on the command line, as Nix reads it.
    Path(NixPath),
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
            (p, false) => nix_path::resolve(Path::new(p))
                .map(Input::Path)
                .map_err(|e| fail(chain(&e))),
        }
    }

    /// What to call the input in messages.
    pub fn display(&self) -> String {
        match self {
            Input::Path(p) => quote_path(Path::new(p.given())),
            Input::Nar(Some(p)) => format!("NAR {}", quote_path(p)),
            Input::Nar(None) => "the NAR on standard input".to_owned(),
        }
    }

    /// A path inside the input, as the user would write it: from the path as given, not the
    /// resolved one.
    pub fn path_text(&self, path: &Path) -> String {
        if let Input::Path(p) = self
            && let Ok(root) = p.path()
            && let Ok(rest) = path.strip_prefix(&root)
        {
            let given = Path::new(p.given());
            return quote_path(&if rest.as_os_str().is_empty() {
                given.to_path_buf()
            } else {
                given.join(rest)
            });
        }
        quote_path(path)
    }

    /// An error reading the input, and its causes, on one line: paths inside the input as the
    /// user wrote them, and the input named first unless the error names a path itself.
    pub fn error(&self, e: &(dyn std::error::Error + 'static)) -> String {
        match chain_with(e, &|p| self.path_text(p)) {
            (text, true) => text,
            (text, false) => format!("{}: {text}", self.display()),
        }
    }

    /// The object on disk Nix reads for a path: its directory resolved, its last component not
    /// followed.
    pub fn path(&self) -> Result<Option<PathBuf>, Failure> {
        match self {
            Input::Path(p) => p.path().map(Some).map_err(|e| match e {
                nix_path::NixPathError::Parent { source, .. } => fail(format!(
                    "cannot resolve the directory of {}: {source}",
                    self.display()
                )),
                e => fail(chain(&e)),
            }),
            Input::Nar(_) => Ok(None),
        }
    }

    /// The store path name: `name`, else Nix's default (the text after the last `/` of the path
    /// as given, as Nix 2.34), or the base name of the NAR file without `.nar`; standard input
    /// needs a name.
    pub fn name(&self, name: Option<&str>) -> Result<String, Failure> {
        if let Some(name) = name {
            return Ok(name.to_owned());
        }
        match self {
            Input::Path(p) => p.default_name().map_err(|e| {
                fail(format!(
                    "{}: no store path name (give --name): {}",
                    self.display(),
                    chain(&e)
                ))
            }),
            Input::Nar(Some(p)) => {
                let base = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(base.strip_suffix(".nar").map(str::to_owned).unwrap_or(base))
            }
            Input::Nar(None) => Err(usage(
                "a NAR on standard input needs --name for its store path",
            )),
        }
    }

    /// The NAR to read (read straight into the parser's own buffer: no `BufReader`).
    pub fn open_nar(&self) -> Result<Box<dyn Read>, Failure> {
        match self {
            Input::Nar(Some(p)) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| fail(format!("cannot open NAR {}: {e}", quote_path(p))))?;
                Ok(Box::new(file))
            }
            Input::Nar(None) => Ok(Box::new(io::stdin().lock())),
            Input::Path(_) => Err(fail(format!(
                "{} is not a NAR (give --nar)",
                self.display()
            ))),
        }
    }

    /// Progress for reading the NAR, on a terminal: entries and bytes, and of a NAR file the
    /// share done.
    pub fn nar_meter(&self, label: &str) -> Option<Meter> {
        let meter = Meter::on_terminal(label, true)?;
        Some(match self {
            Input::Nar(Some(p)) => match std::fs::metadata(p) {
                Ok(meta) if meta.is_file() => meter.with_total(meta.len()),
                _ => meter,
            },
            _ => meter,
        })
    }

    /// The NAR to read, counted by the progress shown on a terminal.
    pub fn open_nar_with_progress(
        &self,
        label: &str,
    ) -> Result<ProgressReader<Box<dyn Read>>, Failure> {
        Ok(ProgressReader::nar(self.open_nar()?, self.nar_meter(label)))
    }

    /// Streams the object into `sink`, showing progress on a terminal.
    pub fn feed(&self, sink: &mut dyn Sink, options: &Options) -> Result<(), Failure> {
        match self.path()? {
            Some(path) => {
                let mut sink = Progress::new(sink, Meter::on_terminal("hashing", true));
                nix_ingest::fs::dump(&path, &mut sink, options.settings())
                    .map_err(|e| fail(self.error(&e)))
            }
            None => nix_ingest::nar::read(
                self.open_nar_with_progress("hashing")?,
                sink,
                options.settings().limits(),
            )
            .map(drop)
            .map_err(|e| fail(self.error(&e))),
        }
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
    StoreDir::canonical(&dir).map_err(|e| usage(chain(&e)))
}
