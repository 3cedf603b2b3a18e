//! NAR listings (`<hash part>.ls`), as `nix copy --to 'http://…?write-nar-listing=1'` uploads
//! them and `nix store ls --store http://…` reads them.
//!
//! Nix uploads a path's listing first, then its NAR, then its narinfo. A listing is kept only
//! once it matches the NAR the cache holds for that path: one uploaded after its narinfo is
//! checked at once (and refused, 422, if it differs); one uploaded before waits in memory
//! (bounded, for as long as a staged NAR may wait) and is checked when the narinfo is accepted
//! — kept if it matches, dropped with a warning if not. Either way the listing checked is the
//! one this cache computes from the NAR in one streaming pass; what is served is that listing
//! (the same bytes Nix writes).
//!
//! Listings live in the storage beside their narinfo (a directory or a bucket), are uploaded
//! with the same credentials as the rest, and are counted in `/metrics` as kind `listing`. A
//! garbage collection removes a path's listing with its narinfo.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nix_ingest::nar::listing::{Listing, ListingBuilder};
use nix_ingest::narinfo::NarInfo;
use tracing::{info, warn};

use super::{App, Deadline, check_encoding, read_small, serve_object};
pub use crate::check::listing::{MAX_LISTING_SIZE, key, listing_name};
use crate::check::listing::{matching, parse};
use crate::escape::Escaped;
use crate::names::NarFile;
use crate::refusal::Refusal;
use crate::store::Beside;

/// The most listing JSON held in memory while waiting for narinfos, in bytes.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// Listings waiting for their narinfo, as uploaded (JSON, so that what is held is what is
/// counted): hash part → (when, JSON).
#[derive(Debug, Default)]
pub struct Pending {
    listings: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<u8>)>> {
        self.listings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// GET or HEAD `<hash part>.ls`.
pub async fn get(app: &App, hash_part: &str, request: Request) -> Response {
    serve_object(
        app,
        &key(hash_part),
        MAX_LISTING_SIZE,
        "application/json",
        request,
    )
    .await
}

/// PUT `<hash part>.ls` by `user`.
pub async fn put(
    app: &App,
    hash_part: &str,
    user: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, MAX_LISTING_SIZE, deadline).await?;
    let listing = parse(hash_part, &data)?;
    let has_narinfo = app
        .storage
        .has_narinfo(hash_part)
        .await
        .map_err(|e| Refusal::internal("cannot read the storage", &e))?;
    if has_narinfo {
        let _permit = app
            .verifications
            .acquire()
            .await
            .map_err(|e| Refusal::internal("shutting down", &e))?;
        return match check_and_keep(app, hash_part, &listing).await? {
            Beside::Yes => {
                info!(listing = %key(hash_part), user = %Escaped(user), "listing matches its NAR, kept");
                Ok(format!("{hash_part}.ls matches its NAR and is kept\n"))
            }
            Beside::AlreadyThere => Ok(format!("{hash_part}.ls is already in this cache\n")),
            Beside::MissingOwner => Err(collected(hash_part)),
        };
    }
    let mut pending = app.listings.lock();
    let now = Instant::now();
    pending.retain(|_, (when, _)| now.duration_since(*when) < app.config.staging_ttl);
    let held: usize = pending.values().map(|(_, json)| json.len()).sum();
    if held + data.len() > MAX_PENDING_BYTES {
        return Err(Refusal::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "{hash_part}.ls: {held} bytes of listings already wait for their narinfos; upload it after its narinfo"
            ),
        ));
    }
    drop(listing);
    pending.insert(hash_part.to_owned(), (now, data));
    Ok(format!(
        "{hash_part}.ls held; it is kept once its narinfo is accepted and it matches the NAR\n"
    ))
}

fn collected(hash_part: &str) -> Refusal {
    Refusal::conflict(format!(
        "{hash_part}.ls: its path was collected meanwhile; upload the path again"
    ))
}

/// After the narinfo of `hash_part` was accepted (uploaded by `user`, whose request holds a
/// verification slot): checks the listing waiting for it, if any.
pub async fn narinfo_accepted(app: &App, hash_part: &str, user: &str) {
    let Some((_, json)) = app.listings.lock().remove(hash_part) else {
        return;
    };
    // It parsed when it was uploaded.
    let checked = match serde_json::from_slice::<Listing>(&json) {
        Ok(listing) => check_and_keep(app, hash_part, &listing).await,
        Err(e) => Err(Refusal::bad_request(e.to_string())),
    };
    let user = Escaped(user);
    match checked {
        Ok(Beside::Yes) => info!(listing = %key(hash_part), %user, "listing matches its NAR, kept"),
        Ok(Beside::AlreadyThere) => {}
        Ok(Beside::MissingOwner) => warn!(
            listing = %key(hash_part),
            %user,
            reason = %Escaped(&collected(hash_part).message),
            "listing dropped"
        ),
        Err(refusal) => warn!(
            listing = %key(hash_part),
            %user,
            reason = %Escaped(&refusal.message),
            "listing dropped"
        ),
    }
}

/// Computes the listing of the NAR the cache holds for `hash_part`, compares, and keeps it.
/// The caller holds a verification slot.
async fn check_and_keep(app: &App, hash_part: &str, listing: &Listing) -> Result<Beside, Refusal> {
    let text = app
        .storage
        .narinfo(hash_part, app.config.max_narinfo_size)
        .await
        .map_err(|e| Refusal::internal("cannot read the narinfo", &e))?
        .ok_or_else(|| collected(hash_part))?;
    let info = NarInfo::parse_bytes(&text, &app.config.store_dir)
        .map_err(|e| Refusal::internal("cannot parse the kept narinfo", &e))?;
    let file = info
        .url
        .strip_prefix("nar/")
        .and_then(|n| NarFile::parse(n).ok())
        .ok_or_else(|| Refusal::internal("the kept narinfo names no NAR file", &NoNar))?;
    let local = app
        .storage
        .local_nar(&file, app.staging.tmp_dir())
        .await
        .map_err(|e| Refusal::internal("cannot read the storage", &e))?
        .ok_or_else(|| collected(hash_part))?;
    let nar = tokio::fs::File::open(local.path())
        .await
        .map_err(|e| Refusal::internal("cannot open the NAR file", &e))?;
    let reader = tokio::io::AsyncReadExt::take(
        crate::check::decompress(file.compression(), nar, &app.config)
            .map_err(|e| Refusal::internal("cannot read the kept NAR", &e))?,
        info.nar_size.saturating_add(1),
    );
    let limits = nix_ingest::Limits {
        max_total_size: app.config.limits.max_total_size.min(info.nar_size),
        ..app.config.limits
    };
    let mut builder = ListingBuilder::new();
    nix_ingest::nar::tokio::read(reader, &mut builder, &limits)
        .await
        .map_err(|e| Refusal::internal("cannot read the kept NAR", &e))?;
    drop(local);
    let ours = builder
        .finish()
        .map_err(|e| Refusal::internal("cannot list the kept NAR", &e))?;
    let printed = app.config.store_dir.display_path(&info.store_path);
    let json = matching(hash_part, &printed, listing, &ours)?;
    app.storage
        .publish_beside(&key(hash_part), hash_part, json)
        .await
        .map_err(|e| Refusal::internal("cannot keep the listing", &e))
}

#[derive(Debug, thiserror::Error)]
#[error("no nar/<file> URL")]
struct NoNar;
