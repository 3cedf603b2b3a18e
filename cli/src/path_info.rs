//! `path-info`: the narinfo (or `nix path-info --json`) a binary cache holds for a path, as
//! `nix copy --to file://…?compression=none` writes it.

use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::Tee;
use nix_ingest::hash::{Algorithm, Format};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::NarHasher;
use nix_ingest::narinfo::{NarInfo, json};
use nix_ingest::store_path::References;

use crate::args::{JsonFormat, PathInfoArgs, StoreMode};
use crate::hash::{FlatSymlink, flat_path, sink};
use crate::input::{Input, store_dir};
use crate::{Failure, Settings, chain, fail};

/// `path-info PATH`: NAR hash and size, content address and store path from one pass.
pub fn path_info(settings: &Settings, args: &PathInfoArgs) -> Result<String, Failure> {
    let store = store_dir(&args.store)?;
    let input = Input::new(&args.path, args.source.nar)?;
    let name = input.name(args.name.as_deref())?;
    let algo: Algorithm = args.hash_algo.into();
    let method = match args.mode {
        StoreMode::Flat | StoreMode::Text => FileIngestionMethod::Flat,
        StoreMode::Nar => FileIngestionMethod::Nar,
        StoreMode::Git => FileIngestionMethod::Git,
    };
    if args.mode == StoreMode::Text && algo != Algorithm::Sha256 {
        return Err(fail(format!("text hashing must use SHA-256, not {algo}")));
    }
    if method == FileIngestionMethod::Flat {
        flat_path(&input, FlatSymlink::Refuse)?;
    }
    let mut nar = NarHasher::new(Algorithm::Sha256);
    let mut ca_sink = sink(settings.options(), method, algo)?;
    {
        let mut both = Tee::new(&mut nar, &mut ca_sink);
        input.feed(&mut both, settings.options())?;
    }
    let what = |e: &dyn std::error::Error| fail(format!("{}: {}", input.display(), chain(e)));
    let (nar_hash, nar_size) = nar.finish_with_size().map_err(|e| what(&e))?;
    let ca_hash = ca_sink.finish().map_err(|e| what(&e))?;
    let ca = match args.mode {
        StoreMode::Text => ContentAddress::text(ca_hash),
        _ => ContentAddress::fixed(method, ca_hash),
    };
    let store_path = store
        .make_path_from_ca(&name, &ca, &References::default())
        .map_err(|e| fail(chain(&e)))?;
    let url = format!("nar/{}.nar", nar_hash.encode(Format::Nix32));
    let mut info = NarInfo::new(store.clone(), store_path, url, nar_hash, nar_size);
    // Uncompressed: the file is the NAR.
    info.file_hash = Some(nar_hash);
    info.file_size = Some(nar_size);
    info.ca = Some(ca);
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
