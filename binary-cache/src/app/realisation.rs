//! Realisations (`realisations/<derivation output id>.doi`), as `nix copy` of the output of a
//! content-addressed derivation (`nix copy --to http://… /nix/store/…drv^out`) uploads them.
//!
//! A realisation says which store path a derivation's output was built to. Nothing in the
//! output proves that claim, so a realisation is kept only when
//!
//! - its output path is already in this cache (Nix uploads the path first), and
//! - one of its signatures, over its [fingerprint](nix_ingest::realisation::Realisation::fingerprint),
//!   verifies under a trusted key (`--trusted-public-key`; Nix signs realisations with its
//!   `secret-key-files` when it builds).
//!
//! Otherwise it is refused: 409 when the output is missing (or another realisation of the same
//! output is kept), 403 when no trusted key signed it. A kept realisation is served as Nix wrote
//! it.
//!
//! Realisations live in the storage (a directory or a bucket) under their key
//! `realisations/<id>.doi`, are uploaded with the same credentials as the rest, and are counted
//! in `/metrics` as kind `realisation`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::realisation::{DrvOutput, Realisation};

use super::{App, Deadline, check_encoding, read_small, serve_object};
use crate::escape::Escaped;
use crate::refusal::{Refusal, chain};
use crate::signature::Signature;
use crate::store::Beside;

/// The largest realisation accepted, in bytes.
pub(crate) const MAX_SIZE: usize = 64 << 10;

/// The id of a `<id>.doi` name.
fn id_of(name: &str) -> Result<DrvOutput, Refusal> {
    name.strip_suffix(".doi")
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("{name:?} is not <id>.doi")))?
        .parse()
        .map_err(|e| Refusal::new(StatusCode::NOT_FOUND, chain(&e)))
}

/// GET or HEAD `realisations/<id>.doi`.
pub async fn get(app: &App, name: &str, request: Request) -> Response {
    match id_of(name) {
        Ok(id) => serve_object(app, &id.file_name(), MAX_SIZE, "application/json", request).await,
        Err(refusal) => axum::response::IntoResponse::into_response(refusal),
    }
}

/// PUT `realisations/<id>.doi` by `user`.
pub async fn put(
    app: &App,
    name: &str,
    user: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
) -> Result<String, Refusal> {
    let id = id_of(name).map_err(|r| Refusal::bad_request(r.message))?;
    check_encoding(headers)?;
    let data = read_small(body, MAX_SIZE, deadline).await?;
    let r = parse(name, &data)?;
    if r.id != id {
        return Err(Refusal::bad_request(format!(
            "the realisation is of {}, but was uploaded as {name}",
            r.id
        )));
    }
    let store_dir = &app.config.store_dir;
    let out = store_dir.display_path(&r.out_path);
    let hash_part = r.out_path.hash_part().to_string();
    let held = match app
        .storage
        .narinfo(&hash_part, app.config.max_narinfo_size)
        .await
    {
        Ok(Some(text)) => {
            NarInfo::parse_bytes(&text, store_dir)
                .map_err(|e| Refusal::internal("cannot parse a kept narinfo", &e))?
                .store_path
                == r.out_path
        }
        Ok(None) => false,
        Err(e) => return Err(Refusal::internal("cannot read a kept narinfo", &e)),
    };
    let missing = || missing(&r, &out);
    if !held {
        return Err(missing());
    }
    let key = trusted(&app.config, &r, &out)?;
    let object = id.file_name();
    let json = serde_json::to_vec(&r)
        .map_err(|e| Refusal::internal("cannot write the realisation", &e))?;
    match app
        .storage
        .publish_beside(&object, &hash_part, json)
        .await
        .map_err(|e| Refusal::internal("cannot keep the realisation", &e))?
    {
        Beside::Yes => {}
        Beside::MissingOwner => return Err(missing()),
        Beside::AlreadyThere => {
            let kept = app
                .storage
                .object(&object, MAX_SIZE)
                .await
                .map_err(|e| Refusal::internal("cannot read a kept realisation", &e))?
                .ok_or_else(missing)?;
            let kept: Realisation = serde_json::from_slice(&kept)
                .map_err(|e| Refusal::internal("cannot parse a kept realisation", &e))?;
            return match same_output(&kept, &r, store_dir) {
                Ok(()) => Ok(format!("realisation {id} is already in this cache\n")),
                Err(refusal) => Err(refusal),
            };
        }
    }
    tracing::info!(realisation = %id, output = %out, key = %key, user = %Escaped(user), "accepted");
    Ok(format!(
        "realisation {id} → {out} verified (signed by {key}) and kept\n"
    ))
}

/// Parses `data`, given as the realisation `name`.
pub(crate) fn parse(name: &str, data: &[u8]) -> Result<Realisation, Refusal> {
    serde_json::from_slice(data)
        .map_err(|e| Refusal::bad_request(format!("{name} is not a realisation: {e}")))
}

/// 409: the output of `r` (printed `out`) is not in this cache.
pub(crate) fn missing(r: &Realisation, out: &str) -> Refusal {
    Refusal::conflict(format!(
        "realisation {}: its output {out} is not in this cache; upload the output first",
        r.id
    ))
}

/// The name of the trusted key that signed `r` (output printed `out`), or 403 (400 for a
/// signature that does not parse).
pub(crate) fn trusted<'a>(
    config: &'a crate::config::Config,
    r: &Realisation,
    out: &str,
) -> Result<&'a str, Refusal> {
    let id = &r.id;
    let signatures: Vec<Signature> = r
        .signatures
        .iter()
        .map(|s| {
            s.parse::<Signature>()
                .map_err(|e| Refusal::bad_request(format!("realisation {id}: {}", chain(&e))))
        })
        .collect::<Result<_, _>>()?;
    config
        .trusted_keys
        .verify(&r.fingerprint(), &signatures)
        .ok_or_else(|| {
            let names: Vec<&str> = signatures.iter().map(|s| s.key_name()).collect();
            let signed = if names.is_empty() {
                "it has no signature".to_owned()
            } else {
                format!("it is signed by {} only", names.join(", "))
            };
            Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "realisation {id} (output {out}) is not signed by a key this cache trusts: {signed}; \
                     realisations are kept only with a trusted signature"
                ),
            )
        })
}

/// Whether `kept`, the realisation this cache keeps under the id of `r`, has the same output
/// (409 if not).
pub(crate) fn same_output(
    kept: &Realisation,
    r: &Realisation,
    store_dir: &nix_ingest::store_path::StoreDir,
) -> Result<(), Refusal> {
    if kept.out_path == r.out_path {
        return Ok(());
    }
    Err(Refusal::conflict(format!(
        "realisation {}: this cache keeps output {}, not {}",
        r.id,
        store_dir.display_path(&kept.out_path),
        store_dir.display_path(&r.out_path)
    )))
}
