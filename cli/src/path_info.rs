//! `path-info`: the narinfo (or `nix path-info --json`) a binary cache holds for a path, as
//! `nix copy --to file://…?compression=none` writes it.

use nix_ingest::content_address::ContentAddressMethod;
use nix_ingest::hash::Algorithm;
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::narinfo::json;
use nix_ingest::path_info::Request;

use crate::args::{JsonFormat, PathInfoArgs, StoreMode};
use crate::hash::{FlatSymlink, flat_source};
use crate::input::{Input, store_dir};
use crate::progress::with_background_progress;
use crate::{Failure, Settings, fail};

/// `path-info PATH`: NAR hash and size, content address and store path from one pass, by the
/// library's [`Request`].
pub fn path_info(settings: &Settings, args: &PathInfoArgs) -> Result<String, Failure> {
    let store = store_dir(&args.store)?;
    let input = Input::new(&args.path, args.source.nar)?;
    let name = input.name(args.name.as_deref())?;
    let algo: Algorithm = args.hash_algo.into();
    let method = match args.mode {
        StoreMode::Text => ContentAddressMethod::Text,
        StoreMode::Flat => FileIngestionMethod::Flat.into(),
        StoreMode::Nar => FileIngestionMethod::Nar.into(),
        StoreMode::Git => FileIngestionMethod::Git.into(),
    };
    if args.mode == StoreMode::Text && algo != Algorithm::Sha256 {
        return Err(fail(format!("text hashing must use SHA-256, not {algo}")));
    }
    if matches!(args.mode, StoreMode::Flat | StoreMode::Text) {
        flat_source(&input, FlatSymlink::Refuse)?;
    }
    let request = Request::new(name, method, algo).store_dir(store);
    let options = settings.options();
    let info = match input.path()? {
        Some(path) => with_background_progress("hashing", || request.from_path(&path, options)),
        None => request.from_nar(input.open_nar_with_progress("hashing")?, options),
    }
    .map_err(|e| fail(input.error(&e)))?;
    // Uncompressed, as `nix copy --to 'file://…?compression=none'` writes it.
    let info = info.to_narinfo();
    if !args.json {
        return Ok(info.to_string());
    }
    // `nix path-info --json [--json-format N] --store file://…`.
    let format = match args.json_format {
        JsonFormat::V1 => json::Format::V1,
        JsonFormat::V2 => json::Format::V2,
    };
    let doc = json::PathInfoJson::new(vec![json::Entry::new(info)], format);
    let text = serde_json::to_string(&doc).map_err(|e| fail(e.to_string()))?;
    Ok(format!("{text}\n"))
}
