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
use axum::http::HeaderMap;
use axum::response::Response;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::realisation::Realisation;

use super::{App, Deadline, check_encoding, read_small, serve_object};
use crate::check::realisation::{MAX_SIZE, id_of, missing, parse, same_output, trusted};
use crate::escape::Escaped;
use crate::refusal::Refusal;
use crate::store::Beside;

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
