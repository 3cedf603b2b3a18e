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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nix_ingest::nar::listing::{Listing, ListingBuilder, Node};
use nix_ingest::narinfo::NarInfo;
use tracing::{info, warn};

use crate::app::{App, check_encoding, read_small, serve_file};
use crate::names::{self, NarFile};
use crate::refusal::Refusal;

/// The largest listing accepted, in bytes of JSON.
pub const MAX_LISTING_SIZE: usize = 16 << 20;

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

/// The hash part of a `<hash part>.ls` name.
pub fn listing_name(name: &str) -> Option<&str> {
    let hash = name.strip_suffix(".ls")?;
    names::narinfo_hash_part(&format!("{hash}.narinfo")).ok()?;
    Some(hash)
}

fn listing_path(app: &App, hash_part: &str) -> std::path::PathBuf {
    app.config.root.join(format!("{hash_part}.ls"))
}

/// GET `<hash part>.ls`.
pub async fn get(app: &App, hash_part: &str) -> Response {
    serve_file(&listing_path(app, hash_part), "application/json").await
}

/// PUT `<hash part>.ls`.
pub async fn put(
    app: &App,
    hash_part: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, MAX_LISTING_SIZE, app.config.body_timeout).await?;
    let listing: Listing = serde_json::from_slice(&data)
        .map_err(|e| Refusal::bad_request(format!("{hash_part}.ls is not a NAR listing: {e}")))?;
    if listing_path(app, hash_part).exists() {
        return Ok(format!("{hash_part}.ls is already in this cache\n"));
    }
    if app.store.has_narinfo(hash_part) {
        check_and_keep(app, hash_part, &listing).await?;
        return Ok(format!("{hash_part}.ls matches its NAR and is kept\n"));
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

/// After the narinfo of `hash_part` was accepted: checks the listing waiting for it, if any.
pub async fn narinfo_accepted(app: &App, hash_part: &str) {
    let Some((_, json)) = app.listings.lock().remove(hash_part) else {
        return;
    };
    // It parsed when it was uploaded.
    let checked = match serde_json::from_slice::<Listing>(&json) {
        Ok(listing) => check_and_keep(app, hash_part, &listing).await,
        Err(e) => Err(Refusal::bad_request(e.to_string())),
    };
    match checked {
        Ok(()) => info!(listing = %format!("{hash_part}.ls"), "listing matches its NAR, kept"),
        Err(refusal) => warn!(
            listing = %format!("{hash_part}.ls"),
            reason = %refusal.message,
            "listing dropped"
        ),
    }
}

/// Computes the listing of the NAR the cache holds for `hash_part`, compares, and keeps it.
async fn check_and_keep(app: &App, hash_part: &str, listing: &Listing) -> Result<(), Refusal> {
    let text = tokio::fs::read_to_string(app.store.narinfo_path(hash_part))
        .await
        .map_err(|e| Refusal::internal("cannot read the narinfo", &e))?;
    let info = NarInfo::parse(&text, &app.config.store_dir)
        .map_err(|e| Refusal::internal("cannot parse the kept narinfo", &e))?;
    let file = info
        .url
        .strip_prefix("nar/")
        .and_then(|n| NarFile::parse(n).ok())
        .ok_or_else(|| Refusal::internal("the kept narinfo names no NAR file", &NoNar))?;
    let nar = tokio::fs::File::open(app.store.nar_path(&file))
        .await
        .map_err(|e| Refusal::internal("cannot open the NAR file", &e))?;
    let reader = tokio::io::AsyncReadExt::take(
        crate::check::decompress(file.compression(), nar, &app.config),
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
    let ours = builder
        .finish()
        .map_err(|e| Refusal::internal("cannot list the kept NAR", &e))?;
    let printed = app.config.store_dir.display_path(&info.store_path);
    if let Some(difference) = difference("", &listing.root, &ours.root) {
        return Err(Refusal::unverified(format!(
            "{hash_part}.ls does not list the NAR of {printed}: {difference}"
        )));
    }
    let json = serde_json::to_string(&ours)
        .map_err(|e| Refusal::internal("cannot write the listing", &e))?;
    let root = app.config.root.clone();
    let hash_part = hash_part.to_owned();
    tokio::task::spawn_blocking(move || write_atomically(&root, &format!("{hash_part}.ls"), &json))
        .await
        .map_err(|e| Refusal::internal("cannot keep the listing", &e))?
        .map_err(|e| Refusal::internal("cannot keep the listing", &e))?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("no nar/<file> URL")]
struct NoNar;

/// Writes `root/name` by rename of a synced temporary file beside it.
pub fn write_atomically(root: &std::path::Path, name: &str, data: &str) -> std::io::Result<()> {
    use std::io::Write;
    let path = root.join(name);
    let dir = path.parent().unwrap_or(root);
    let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    tmp.write_all(data.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The first place where `claimed` and `actual` differ, named by its path.
fn difference(path: &str, claimed: &Node, actual: &Node) -> Option<String> {
    let at = if path.is_empty() { "/" } else { path };
    match (claimed, actual) {
        (Node::Directory { entries: a }, Node::Directory { entries: b }) => {
            for name in a.keys().chain(b.keys()) {
                let child = format!("{path}/{name}");
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = difference(&child, x, y) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{child:?} is not in the NAR")),
                    (None, _) => return Some(format!("{child:?} of the NAR is missing")),
                }
            }
            None
        }
        _ if claimed == actual => None,
        _ => Some(format!(
            "{at:?} is listed as {}, the NAR has {}",
            describe(claimed),
            describe(actual)
        )),
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Regular {
            executable,
            size,
            nar_offset,
        } => format!(
            "a{} file of {} bytes at NAR offset {}",
            if *executable { "n executable" } else { "" },
            size.map_or("?".to_owned(), |s| s.to_string()),
            nar_offset.map_or("?".to_owned(), |s| s.to_string())
        ),
        Node::Symlink { target } => format!("a symlink to {target:?}"),
        Node::Directory { .. } => "a directory".to_owned(),
        _ => "an unknown object".to_owned(),
    }
}
