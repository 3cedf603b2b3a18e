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

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::realisation::{DrvOutput, Realisation};

use crate::app::{App, check_encoding, read_small, serve_file};
use crate::refusal::{Refusal, chain};
use crate::signature::Signature;

/// The largest realisation accepted, in bytes.
const MAX_SIZE: usize = 64 << 10;

/// The id of a `<id>.doi` name.
fn id_of(name: &str) -> Result<DrvOutput, Refusal> {
    name.strip_suffix(".doi")
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("{name:?} is not <id>.doi")))?
        .parse()
        .map_err(|e| Refusal::new(StatusCode::NOT_FOUND, chain(&e)))
}

fn path_of(app: &App, id: &DrvOutput) -> std::path::PathBuf {
    app.config.root.join(id.file_name())
}

/// GET `realisations/<id>.doi`.
pub async fn get(app: &App, name: &str) -> Response {
    match id_of(name) {
        Ok(id) => serve_file(&path_of(app, &id), "application/json").await,
        Err(refusal) => axum::response::IntoResponse::into_response(refusal),
    }
}

/// PUT `realisations/<id>.doi`.
pub async fn put(
    app: &App,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    let id = id_of(name).map_err(|r| Refusal::bad_request(r.message))?;
    check_encoding(headers)?;
    let data = read_small(body, MAX_SIZE, app.config.body_timeout).await?;
    let r: Realisation = serde_json::from_slice(&data)
        .map_err(|e| Refusal::bad_request(format!("{name} is not a realisation: {e}")))?;
    if r.id != id {
        return Err(Refusal::bad_request(format!(
            "the realisation is of {}, but was uploaded as {name}",
            r.id
        )));
    }
    let store_dir = &app.config.store_dir;
    let out = store_dir.display_path(&r.out_path);
    let hash_part = r.out_path.hash_part();
    let held = match tokio::fs::read_to_string(app.store.narinfo_path(&hash_part)).await {
        Ok(text) => {
            NarInfo::parse(&text, store_dir)
                .map_err(|e| Refusal::internal("cannot parse a kept narinfo", &e))?
                .store_path
                == r.out_path
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Refusal::internal("cannot read a kept narinfo", &e)),
    };
    if !held {
        return Err(Refusal::conflict(format!(
            "realisation {id}: its output {out} is not in this cache; upload the output first"
        )));
    }
    let signatures: Vec<Signature> = r
        .signatures
        .iter()
        .map(|s| {
            s.parse::<Signature>()
                .map_err(|e| Refusal::bad_request(format!("realisation {id}: {}", chain(&e))))
        })
        .collect::<Result<_, _>>()?;
    let Some(key) = app
        .config
        .trusted_keys
        .verify(&r.fingerprint(), &signatures)
    else {
        let names: Vec<&str> = signatures.iter().map(|s| s.key_name()).collect();
        let signed = if names.is_empty() {
            "it has no signature".to_owned()
        } else {
            format!("it is signed by {} only", names.join(", "))
        };
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "realisation {id} (output {out}) is not signed by a key this cache trusts: {signed}; \
                 realisations are kept only with a trusted signature"
            ),
        ));
    };
    let path = path_of(app, &id);
    match tokio::fs::read(&path).await {
        Ok(kept) => {
            let kept: Realisation = serde_json::from_slice(&kept)
                .map_err(|e| Refusal::internal("cannot parse a kept realisation", &e))?;
            return if kept.out_path == r.out_path {
                Ok(format!("realisation {id} is already in this cache\n"))
            } else {
                Err(Refusal::conflict(format!(
                    "realisation {id}: this cache keeps output {}, not {out}",
                    store_dir.display_path(&kept.out_path)
                )))
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Refusal::internal("cannot read a kept realisation", &e)),
    }
    let json = serde_json::to_string(&r)
        .map_err(|e| Refusal::internal("cannot write the realisation", &e))?;
    let root = app.config.root.clone();
    let file = id.file_name();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(root.join("realisations"))?;
        crate::listing::write_atomically(&root, &file, &json)
    })
    .await
    .map_err(|e| Refusal::internal("cannot keep the realisation", &e))?
    .map_err(|e| Refusal::internal("cannot keep the realisation", &e))?;
    tracing::info!(realisation = %id, output = %out, key = %key, "accepted");
    Ok(format!(
        "realisation {id} → {out} verified (signed by {key}) and kept\n"
    ))
}
