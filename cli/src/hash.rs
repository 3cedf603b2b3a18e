//! `hash path`, `hash multi`, `store add --dry-run`, `cid` and `verify`.

use std::fmt::Write as _;
use std::path::PathBuf;

use nix_ingest::Want;
use nix_ingest::cache::{HashCache, LoadStatus, Outcome, SaveStatus};
use nix_ingest::content_address::ContentAddress;
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::store_path::References;

use crate::args::{CidArgs, HashMultiArgs, HashPathArgs, StoreAddArgs, StoreMode, VerifyArgs};
use crate::input::{Input, store_dir};
use crate::progress::with_background_progress;
use crate::{Failure, Settings, chain, fail, quote_path, usage};

/// `hash path`: one line per path, as `nix hash path`.
pub fn path(settings: &Settings, args: &HashPathArgs) -> Result<String, Failure> {
    let want = Want::new(args.mode.into(), args.algo.into());
    let mut out = String::new();
    for path in &args.paths {
        let input = Input::new(path, args.source.nar)?;
        let hash = hash_one(settings, &input, want, FlatSymlink::Follow)?;
        let _ = writeln!(
            out,
            "{}",
            hash.encode(args.legacy_format.or(args.format).into())
        );
    }
    Ok(out)
}

/// `hash multi`: one `METHOD-ALGO HASH` line per hash asked for, from one pass.
pub fn multi(settings: &Settings, args: &HashMultiArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, args.source.nar)?;
    let hashes = hash_input(settings, &input, input.path()?, &args.hashes)?;
    let format: Format = args.format.into();
    let mut out = String::new();
    for (want, hash) in args.hashes.iter().zip(&hashes) {
        let (method, algo) = (want.method().name(), want.algorithm());
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
            let want = Want::new(FileIngestionMethod::Flat, algo);
            ContentAddress::text(hash_one(settings, &input, want, FlatSymlink::Refuse)?)
        }
        mode => {
            let method = match mode {
                StoreMode::Flat => FileIngestionMethod::Flat,
                StoreMode::Git => FileIngestionMethod::Git,
                StoreMode::Nar | StoreMode::Text => FileIngestionMethod::Nar,
            };
            let want = Want::new(method, algo);
            ContentAddress::fixed(
                method,
                hash_one(settings, &input, want, FlatSymlink::Refuse)?,
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
    let want = Want::new(FileIngestionMethod::Git, args.algo.into());
    let id = hash_one(settings, &input, want, FlatSymlink::Follow)?;
    let cid = nix_ingest::cid::git_raw_cid(&id).map_err(|e| fail(chain(&e)))?;
    Ok(format!("{cid}\n"))
}

/// `verify CA NAR`: the store path of the NAR, if it has content address `ca`.
pub fn verify(settings: &Settings, args: &VerifyArgs) -> Result<String, Failure> {
    let ca: ContentAddress = args.ca.parse().map_err(|e| usage(chain(&e)))?;
    let store = store_dir(&args.store)?;
    let input = Input::new(&args.nar, true)?;
    let name = input.name(args.name.as_deref())?;
    let reader = input.open_nar_with_progress("verifying")?;
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

/// A failed hash of `input`: errors of the walk name the path themselves.
fn ingest_error(input: &Input, e: &nix_ingest::ingest::IngestError) -> Failure {
    use nix_ingest::cache::CacheError;
    use nix_ingest::ingest::IngestError;
    match e {
        IngestError::Cache(CacheError::Foreign { path, reason }) => fail(format!(
            "refusing to overwrite {} with a cache: {reason} (give --cache-overwrite to replace it)",
            quote_path(path)
        )),
        _ => fail(input.error(e)),
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

/// What flat hashing reads for a path on disk.
pub enum FlatSource {
    /// A regular file, hashed by the library (Nix's path: last component not followed).
    Path(PathBuf),
    /// Anything else that can be read (a pipe, `/dev/stdin`, `/dev/null`…), hashed to its end as
    /// Nix reads it.
    Stream(std::fs::File),
}

/// The object flat hashing reads for `input` on disk (`None` for a NAR): what the operating
/// system opens for the path as given, following every symlink (`nix hash path --mode flat`),
/// or Nix's path, refused if it is a symlink (`nix store add --mode flat|text`). A directory is
/// refused; a pipe or a device is read to its end, as Nix does.
pub fn flat_source(input: &Input, symlink: FlatSymlink) -> Result<Option<FlatSource>, Failure> {
    let Input::Path(p) = input else {
        return Ok(None);
    };
    let given = input.display();
    let (path, file) = match symlink {
        FlatSymlink::Follow => {
            let path = p.flat_hash_path().to_path_buf();
            let file = std::fs::File::open(&path)
                .map_err(|e| fail(format!("cannot open {given}: {e}")))?;
            (path, file)
        }
        FlatSymlink::Refuse => {
            let path = input.path()?.unwrap_or_default();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| fail(format!("cannot read {given}: {e}")))?;
            if meta.file_type().is_symlink() {
                return Err(fail(format!(
                    "{given} is a symlink (flat and text hashing take a regular file)"
                )));
            }
            let file = std::fs::File::open(&path)
                .map_err(|e| fail(format!("cannot open {given}: {e}")))?;
            (path, file)
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read {given}: {e}")))?;
    if meta.is_dir() {
        return Err(fail(format!(
            "{given} is a directory: flat and text hashing take a single file \
             (hash a directory with --mode nar or --mode git)"
        )));
    }
    if meta.is_file() && symlink == FlatSymlink::Refuse {
        return Ok(Some(FlatSource::Path(path)));
    }
    Ok(Some(FlatSource::Stream(file)))
}

/// The hash of `input` that `want` names.
fn hash_one(
    settings: &Settings,
    input: &Input,
    want: Want<'_>,
    symlink: FlatSymlink,
) -> Result<Hash, Failure> {
    let flat = want.method().file_ingestion_method() == Some(FileIngestionMethod::Flat);
    let path = if flat {
        match flat_source(input, symlink)? {
            Some(FlatSource::Stream(file)) => {
                use nix_ingest::ingest::IngestError;
                let options = settings.options();
                return with_background_progress("hashing", || {
                    options.hash_flat(file, want.algorithm())
                })
                .map_err(|e| match e {
                    IngestError::Read { source, .. } => {
                        fail(format!("cannot read {}: {source}", input.display()))
                    }
                    IngestError::Sink(e) => fail(format!("{}: {}", input.display(), chain(&e))),
                    e => fail(input.error(&e)),
                });
            }
            Some(FlatSource::Path(path)) => Some(path),
            None => None,
        }
    } else {
        input.path()?
    };
    let hashes = hash_input(settings, input, path, &[want])?;
    hashes.into_iter().next().ok_or_else(|| fail("no result"))
}

/// Several hashes of `input` from one pass, through the library's routes: a path on disk
/// through the one that chooses the cache, the threads or the calling thread from the options,
/// a NAR through the parser. What the hash cache did is said on standard error.
fn hash_input(
    settings: &Settings,
    input: &Input,
    path: Option<PathBuf>,
    wants: &[Want<'_>],
) -> Result<Vec<Hash>, Failure> {
    let options = settings.options();
    match path {
        Some(path) => {
            let report =
                with_background_progress("hashing", || options.hash_path_report(&path, wants))
                    .map_err(|e| ingest_error(input, &e))?;
            if let (Some(outcome), Some(cache)) = (&report.cache, options.hash_cache()) {
                warn_cache(cache, outcome);
            }
            Ok(report.hashes)
        }
        None => options
            .hash_nar_multi(input.open_nar_with_progress("hashing")?, wants)
            .map_err(|e| match e {
                // A sink that cannot finish says why itself.
                nix_ingest::ingest::IngestError::Sink(e) => fail(input.error(&e)),
                e => fail(input.error(&e)),
            }),
    }
}

/// Says on standard error when the cache file could not be used or saved.
fn warn_cache(cache: &HashCache, outcome: &Outcome) {
    let file = quote_path(cache.path());
    match &outcome.loaded {
        LoadStatus::Rebuilt(why) => crate::warn(&format!(
            "cache file {file} was not trusted ({}); rebuilt",
            chain(why)
        )),
        LoadStatus::Unreadable(e) => {
            crate::warn(&format!("cannot read cache file {file} ({e}); rebuilt"))
        }
        _ => {}
    }
    match &outcome.saved {
        SaveStatus::Failed(e) => crate::warn(&format!("cannot write cache file {file}: {e}")),
        SaveStatus::TooLarge { size, max } => crate::warn(&format!(
            "cache file {file} not written: {size} bytes, over the cap of {max}"
        )),
        _ => {}
    }
}
