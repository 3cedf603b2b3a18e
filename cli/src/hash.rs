//! `hash path`, `hash multi`, `store add --dry-run`, `cid` and `verify`.

use std::fmt::Write as _;
use std::path::PathBuf;

use nix_ingest::cache::{HashCache, LoadStatus, Outcome, SaveStatus};
use nix_ingest::content_address::ContentAddress;
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::{FileIngestionMethod, HashSink, IngestionMethod};
use nix_ingest::store_path::References;

use crate::args::{CidArgs, HashMultiArgs, HashPathArgs, StoreAddArgs, StoreMode, VerifyArgs};
use crate::input::{Input, store_dir};
use crate::progress::{Meter, ProgressReader, with_background_progress};
use crate::{Failure, Settings, chain, fail, usage};

/// `hash path`: one line per path, as `nix hash path`.
pub fn path(settings: &Settings, args: &HashPathArgs) -> Result<String, Failure> {
    let method = args.mode.into();
    let mut out = String::new();
    for path in &args.paths {
        let input = Input::new(path, args.source.nar)?;
        let hash = hash_one(
            settings,
            &input,
            method,
            args.algo.into(),
            FlatSymlink::Follow,
        )?;
        let _ = writeln!(out, "{}", hash.encode(args.format.into()));
    }
    Ok(out)
}

/// `hash multi`: one `METHOD-ALGO HASH` line per hash asked for, from one pass.
pub fn multi(settings: &Settings, args: &HashMultiArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, args.source.nar)?;
    let list = &args.hashes;
    let methods: Vec<(&dyn IngestionMethod, Algorithm)> = list
        .iter()
        .map(|(m, a)| (m as &dyn IngestionMethod, *a))
        .collect();
    let hashes = hash_input(settings, &input, input.path()?, &methods)?;
    let format: Format = args.format.into();
    let mut out = String::new();
    for (&(method, algo), hash) in list.iter().zip(&hashes) {
        let _ = writeln!(out, "{method}-{algo} {}", hash.encode(format));
    }
    Ok(out)
}

/// `store add --dry-run`: the store path, as `nix store add --dry-run`.
pub fn store_add(settings: &Settings, args: &StoreAddArgs) -> Result<String, Failure> {
    let store = store_dir(&args.store)?;
    let input = Input::new(&args.path, args.source.nar)?;
    let name = input.name(args.name.as_deref())?;
    let algo: Algorithm = args.hash_algo.into();
    let ca = match args.mode {
        StoreMode::Text => {
            // Check first what Nix 2.26 only asserts (it aborts).
            if algo != Algorithm::Sha256 {
                return Err(fail(format!("text hashing must use SHA-256, not {algo}")));
            }
            ContentAddress::text(hash_one(
                settings,
                &input,
                FileIngestionMethod::Flat,
                algo,
                FlatSymlink::Refuse,
            )?)
        }
        mode => {
            let method = match mode {
                StoreMode::Flat => FileIngestionMethod::Flat,
                StoreMode::Git => FileIngestionMethod::Git,
                StoreMode::Nar | StoreMode::Text => FileIngestionMethod::Nar,
            };
            ContentAddress::fixed(
                method,
                hash_one(settings, &input, method, algo, FlatSymlink::Refuse)?,
            )
        }
    };
    let path = store
        .make_path_from_ca(&name, &ca, &References::default())
        .map_err(|e| fail(chain(&e)))?;
    Ok(format!("{}\n", store.display_path(&path)))
}

/// `cid`: the git-raw CIDv1 of the git hash.
pub fn cid(settings: &Settings, args: &CidArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, args.source.nar)?;
    let id = hash_one(
        settings,
        &input,
        FileIngestionMethod::Git,
        args.algo.into(),
        FlatSymlink::Follow,
    )?;
    let cid = nix_ingest::cid::git_raw_cid(&id).map_err(|e| fail(chain(&e)))?;
    Ok(format!("{cid}\n"))
}

/// `verify CA NAR`: the store path of the NAR, if it has content address `ca`.
pub fn verify(settings: &Settings, args: &VerifyArgs) -> Result<String, Failure> {
    let ca: ContentAddress = args.ca.parse().map_err(|e| usage(chain(&e)))?;
    let store = store_dir(&args.store)?;
    let input = Input::new(&args.nar, true)?;
    let name = input.name(args.name.as_deref())?;
    let reader = ProgressReader::new(input.open_nar()?, Meter::on_terminal("verifying", false));
    let claim = nix_ingest::verify::Claim::new(&name, ca);
    let verified = nix_ingest::verify::verify_nar(reader, &claim, &store, settings.options())
        .map_err(|e| {
            fail(format!(
                "cannot verify {} as {ca}: {}",
                input.display(),
                chain(&e)
            ))
        })?;
    Ok(format!("{}\n", store.display_path(&verified.path)))
}

/// The hash a sink computed for `input`.
fn finish(input: &Input, sink: Box<dyn HashSink>) -> Result<Hash, Failure> {
    sink.finish()
        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))
}

/// A failed hash of `input`: errors of the walk name the path themselves.
fn ingest_error(input: &Input, e: &nix_ingest::ingest::Error) -> Failure {
    match e {
        nix_ingest::ingest::Error::Fs(_) => fail(chain(e)),
        _ => fail(format!("{}: {}", input.display(), chain(e))),
    }
}

/// What flat hashing does with a symlink root on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatSymlink {
    /// Hash the file it points to (`nix hash path --mode flat`).
    Follow,
    /// Refuse it (`nix store add --mode flat|text`).
    Refuse,
}

/// The file flat hashing reads for a path on disk: what the operating system opens for the path
/// as given (`nix hash path --mode flat`), or Nix's path, refused if it is a symlink
/// (`nix store add --mode flat|text`). `None` for a NAR.
pub fn flat_path(input: &Input, symlink: FlatSymlink) -> Result<Option<PathBuf>, Failure> {
    let Input::Path(p) = input else {
        return Ok(None);
    };
    match symlink {
        FlatSymlink::Follow => {
            let given = p.flat_hash_path();
            std::fs::canonicalize(given)
                .map(Some)
                .map_err(|e| fail(format!("cannot open {:?}: {e}", p.given())))
        }
        FlatSymlink::Refuse => {
            let path = input.path()?.unwrap_or_default();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| fail(format!("cannot read {path:?}: {e}")))?;
            if meta.file_type().is_symlink() {
                return Err(fail(format!(
                    "path {path:?} is a symlink (flat and text hashing take a regular file)"
                )));
            }
            Ok(Some(path))
        }
    }
}

/// The hash of `input` by one method.
fn hash_one(
    settings: &Settings,
    input: &Input,
    method: FileIngestionMethod,
    algo: Algorithm,
    symlink: FlatSymlink,
) -> Result<Hash, Failure> {
    let path = if method == FileIngestionMethod::Flat {
        flat_path(input, symlink)?
    } else {
        input.path()?
    };
    let hashes = hash_input(settings, input, path, &[(&method, algo)])?;
    hashes.into_iter().next().ok_or_else(|| fail("no result"))
}

/// Several hashes of `input` from one pass: a path on disk through the library's one route
/// (which chooses the cache, the threads or the calling thread from the options), a NAR through
/// the parser. What the hash cache did is said on standard error.
fn hash_input(
    settings: &Settings,
    input: &Input,
    path: Option<PathBuf>,
    methods: &[(&dyn IngestionMethod, Algorithm)],
) -> Result<Vec<Hash>, Failure> {
    let options = settings.options();
    match path {
        Some(path) => {
            let report =
                with_background_progress("hashing", || options.hash_path_report(&path, methods))
                    .map_err(|e| ingest_error(input, &e))?;
            if let (Some(outcome), Some(cache)) = (&report.cache, options.hash_cache()) {
                warn_cache(cache, outcome);
            }
            Ok(report.hashes)
        }
        None => {
            let mut sinks = methods
                .iter()
                .map(|&(m, a)| {
                    m.hash_sink(a, options.settings())
                        .map_err(|e| fail(chain(&e)))
                })
                .collect::<Result<Vec<Box<dyn HashSink>>, Failure>>()?;
            input.feed(&mut sinks, options)?;
            sinks.into_iter().map(|s| finish(input, s)).collect()
        }
    }
}

/// Says on standard error when the cache file could not be used or saved.
fn warn_cache(cache: &HashCache, outcome: &Outcome) {
    let file = cache.path();
    match &outcome.loaded {
        LoadStatus::Rebuilt(why) => crate::warn(&format!(
            "cache file {file:?} was not trusted ({}); rebuilt",
            chain(why)
        )),
        LoadStatus::Unreadable(e) => {
            crate::warn(&format!("cannot read cache file {file:?} ({e}); rebuilt"))
        }
        _ => {}
    }
    match &outcome.saved {
        SaveStatus::Failed(e) => crate::warn(&format!("cannot write cache file {file:?}: {e}")),
        SaveStatus::TooLarge { size, max } => crate::warn(&format!(
            "cache file {file:?} not written: {size} bytes, over the cap of {max}"
        )),
        _ => {}
    }
}
