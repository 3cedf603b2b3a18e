//! The HTTP side: routes, uploads, downloads.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use nix_ingest::hash::{Algorithm, Format, Hasher};
use nix_ingest::narinfo::NarInfo;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimitLayer;
use tracing::{info, warn};

use crate::check::{self, Plan};
use crate::config::Config;
use crate::names::{self, NarFile};
use crate::refusal::{Refusal, chain};
use crate::staging::Staging;
use crate::store::Store;

/// What every request shares.
#[derive(Debug)]
pub struct App {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) staging: Arc<Staging>,
    verifications: Semaphore,
    publish: tokio::sync::Mutex<()>,
    pub(crate) listings: crate::listing::Pending,
}

impl App {
    /// Opens the cache directory (creating it) and clears what an earlier run left in flight.
    pub fn open(config: Config) -> io::Result<Arc<App>> {
        std::fs::create_dir_all(&config.root)?;
        let store = Store::open(&config.root, &config.store_dir, config.priority)?;
        let staging = Arc::new(Staging::open(
            &config.root,
            config.max_staged_bytes,
            config.staging_ttl,
        )?);
        Ok(Arc::new(App {
            verifications: Semaphore::new(config.max_verifications),
            publish: tokio::sync::Mutex::new(()),
            listings: Default::default(),
            config,
            store,
            staging,
        }))
    }

    /// The service's routes, with its bounds on concurrent requests.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/{name}", get(get_top).put(put_top))
            .route("/nar/{name}", get(get_nar).put(put_nar))
            .route(
                "/realisations/{name}",
                get(get_realisation).put(put_realisation),
            )
            .fallback(fallback)
            .layer(ConcurrencyLimitLayer::new(self.config.max_requests))
            .with_state(Arc::clone(self))
    }
}

type AppState = State<Arc<App>>;

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Logs a refusal and turns it into the response.
fn refused(method: &str, uri: &str, refusal: Refusal) -> Response {
    if refusal.status.is_server_error() {
        tracing::error!(%method, %uri, status = refusal.status.as_u16(), reason = %refusal.message, "refused");
    } else {
        warn!(%method, %uri, status = refusal.status.as_u16(), reason = %refusal.message, "refused");
    }
    refusal.into_response()
}

async fn fallback(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    refused(
        method.as_str(),
        &uri.to_string(),
        Refusal::new(
            StatusCode::NOT_FOUND,
            "no such object: this cache serves /nix-cache-info, /<hash>.narinfo, /<hash>.ls, /nar/<file> and /realisations/<id>.doi",
        ),
    )
}

async fn get_top(State(app): AppState, Path(name): Path<String>) -> Response {
    if name == "nix-cache-info" {
        return text(
            StatusCode::OK,
            "text/x-nix-cache-info",
            app.store.cache_info().to_owned(),
        );
    }
    if let Some(hash_part) = crate::listing::listing_name(&name) {
        return crate::listing::get(&app, hash_part).await;
    }
    let hash_part = match names::narinfo_hash_part(&name) {
        Ok(h) => h,
        Err(e) => return Refusal::new(StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    serve_file(&app.store.narinfo_path(hash_part), "text/x-nix-narinfo").await
}

async fn get_nar(State(app): AppState, Path(name): Path<String>) -> Response {
    match NarFile::parse(&name) {
        Ok(file) => serve_file(&app.store.nar_path(&file), "application/x-nix-nar").await,
        Err(e) => Refusal::new(StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

pub(crate) async fn serve_file(path: &std::path::Path, content_type: &'static str) -> Response {
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Refusal::new(StatusCode::NOT_FOUND, "not in this cache").into_response();
        }
        Err(e) => return Refusal::internal("cannot open", &e).into_response(),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return Refusal::internal("cannot stat", &e).into_response(),
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 << 10));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

async fn put_top(
    State(app): AppState,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/{name}");
    let result = if name == "nix-cache-info" {
        put_cache_info(&app, &headers, body).await
    } else if let Some(hash_part) = crate::listing::listing_name(&name) {
        crate::listing::put(&app, hash_part, &headers, body).await
    } else {
        match names::narinfo_hash_part(&name) {
            Ok(hash_part) => put_narinfo(&app, hash_part, &headers, body).await,
            Err(e) => Err(Refusal::bad_request(e.to_string())),
        }
    };
    match result {
        Ok(message) => text(StatusCode::OK, "text/plain; charset=utf-8", message),
        Err(refusal) => refused("PUT", &uri, refusal),
    }
}

async fn put_nar(
    State(app): AppState,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/nar/{name}");
    let result = match NarFile::parse(&name) {
        Ok(file) => stage_nar(&app, &file, &headers, body).await,
        Err(e) => Err(Refusal::bad_request(e.to_string())),
    };
    match result {
        Ok(message) => text(StatusCode::OK, "text/plain; charset=utf-8", message),
        Err(refusal) => refused("PUT", &uri, refusal),
    }
}

/// Bodies must arrive as sent: no `Content-Encoding` (Nix sends NARs and, by default,
/// narinfos without one).
pub(crate) fn check_encoding(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(()),
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"identity") => Ok(()),
        Some(v) => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {v:?} is not accepted; upload the bytes themselves"),
        )),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The next chunk of a body, refusing silence longer than the configured timeout and a body
/// cut short.
async fn next_chunk(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    timeout: Duration,
) -> Result<Option<axum::body::Bytes>, Refusal> {
    match tokio::time::timeout(timeout, stream.next()).await {
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body stalled for {} s", timeout.as_secs()),
        )),
        Ok(None) => Ok(None),
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(e))) => Err(Refusal::bad_request(format!(
            "the body was cut short: {}",
            chain(&e)
        ))),
    }
}

/// Reads a small body whole (at most `max` bytes).
pub(crate) async fn read_small(
    body: Body,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Refusal> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(chunk) = next_chunk(&mut stream, timeout).await? {
        if data.len() + chunk.len() > max {
            return Err(Refusal::too_large(format!(
                "the body is over the limit of {max} bytes"
            )));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

async fn put_cache_info(app: &App, headers: &HeaderMap, body: Body) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, 4096, app.config.body_timeout).await?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| Refusal::bad_request("nix-cache-info is not UTF-8"))?;
    let ours = app.config.store_dir.as_str();
    for line in text.lines() {
        if let Some(dir) = line.strip_prefix("StoreDir:")
            && dir.trim() != ours
        {
            return Err(Refusal::conflict(format!(
                "this cache is for the store {ours:?}, not {:?}",
                dir.trim()
            )));
        }
    }
    Ok("this cache keeps its own nix-cache-info\n".to_owned())
}

/// Receives a NAR file: streams it to a temporary file in the staging area while hashing it,
/// and stages it if its SHA-256 is the one its name claims.
async fn stage_nar(
    app: &App,
    file: &NarFile,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let max = app.config.max_nar_size;
    let announced = content_length(headers);
    if let Some(len) = announced
        && len > max
    {
        return Err(Refusal::too_large(format!(
            "the NAR file is {len} bytes, over this cache's limit of {max}"
        )));
    }
    if app.store.nar_path(file).exists() {
        return Ok(format!("{} is already in this cache\n", file.url()));
    }
    let too_full =
        |e: crate::staging::Full| Refusal::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string());
    let mut reservation = app
        .staging
        .reserve(announced.unwrap_or(0))
        .map_err(too_full)?;
    let tmp = tempfile::Builder::new()
        .prefix(".upload")
        .tempfile_in(app.staging.tmp_dir())
        .map_err(|e| Refusal::internal("cannot create a staging file", &e))?;
    let (std_file, tmp_path) = tmp.into_parts();
    let mut out =
        tokio::io::BufWriter::with_capacity(256 << 10, tokio::fs::File::from_std(std_file));
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let started = Instant::now();
    while let Some(chunk) = next_chunk(&mut stream, app.config.body_timeout).await? {
        size = size.saturating_add(chunk.len() as u64);
        if size > max {
            return Err(Refusal::too_large(format!(
                "the NAR file is over this cache's limit of {max} bytes"
            )));
        }
        if announced.is_some_and(|len| size > len) {
            return Err(Refusal::bad_request(
                "the body is longer than its Content-Length",
            ));
        }
        // Uploads without a length reserve their space as it arrives.
        reservation.grow_to(size).map_err(too_full)?;
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| Refusal::internal("cannot write the staging file", &e))?;
    }
    if announced.is_some_and(|len| size != len) {
        return Err(Refusal::bad_request(format!(
            "the body has {size} bytes, its Content-Length said {}",
            announced.unwrap_or_default()
        )));
    }
    out.flush()
        .await
        .map_err(|e| Refusal::internal("cannot write the staging file", &e))?;
    let std_file = out.into_inner().into_std().await;
    let actual = hasher
        .finalize()
        .map_err(|e| Refusal::internal("cannot hash", &e))?;
    if &actual != file.file_hash() {
        return Err(Refusal::bad_request(format!(
            "the NAR file's SHA-256 is {}, not the {} its name claims",
            actual.encode(Format::Nix32),
            file.file_hash().encode(Format::Nix32)
        )));
    }
    tokio::task::spawn_blocking(move || std_file.sync_all())
        .await
        .map_err(|e| Refusal::internal("cannot sync the staging file", &e))?
        .map_err(|e| Refusal::internal("cannot sync the staging file", &e))?;
    app.staging
        .keep(tmp_path, file, size, reservation)
        .map_err(|e| Refusal::internal("cannot stage the NAR file", &e))?;
    info!(
        file = %file.url(),
        bytes = size,
        ms = started.elapsed().as_millis() as u64,
        "staged NAR, waiting for its narinfo"
    );
    Ok(format!(
        "{} staged; it is kept once its narinfo verifies\n",
        file.url()
    ))
}

/// Receives a narinfo: checks it, finds its NAR (staged or already published), verifies the
/// NAR against it in one streaming pass, and publishes both.
async fn put_narinfo(
    app: &Arc<App>,
    hash_part: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, app.config.max_narinfo_size, app.config.body_timeout).await?;
    let info = NarInfo::parse_bytes(&data, &app.config.store_dir)
        .map_err(|e| Refusal::bad_request(chain(&e)))?;
    let plan = check::check_narinfo(&info, hash_part, &app.config)?;
    let printed = app.config.store_dir.display_path(&info.store_path);
    if app.store.has_narinfo(hash_part) {
        return Ok(format!("{printed} is already in this cache\n"));
    }
    for reference in &plan.references {
        if !app.store.has_narinfo(&reference.hash_part()) {
            return Err(Refusal::conflict(format!(
                "{printed} refers to {}, which is not in this cache; upload it first",
                app.config.store_dir.display_path(reference)
            )));
        }
    }
    let started = Instant::now();
    let _permit = app
        .verifications
        .acquire()
        .await
        .map_err(|e| Refusal::internal("shutting down", &e))?;
    // The NAR file: already published (another path with the same NAR), or staged. A staged
    // one is claimed under a private name first, so that it cannot expire under us.
    let published = app.store.nar_path(&plan.file);
    let (nar_path, claimed) = if published.exists() {
        (published, None)
    } else {
        match app
            .staging
            .claim(&plan.file)
            .map_err(|e| Refusal::internal("cannot claim the staged NAR", &e))?
        {
            Some(link) => (link.to_path_buf(), Some(link)),
            None => {
                return Err(Refusal::conflict(format!(
                    "{} has not been uploaded (or waited too long for its narinfo)",
                    plan.file.url()
                )));
            }
        }
    };
    check::check_nar(&nar_path, &info, &plan, &app.config).await?;
    let kept = finish(app, &info, &plan, hash_part, claimed, &printed, started).await?;
    crate::listing::narinfo_accepted(app, hash_part).await;
    Ok(kept)
}

async fn get_realisation(State(app): AppState, Path(name): Path<String>) -> Response {
    crate::realisation::get(&app, &name).await
}

async fn put_realisation(
    State(app): AppState,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/realisations/{name}");
    match crate::realisation::put(&app, &name, &headers, body).await {
        Ok(message) => text(StatusCode::OK, "text/plain; charset=utf-8", message),
        Err(refusal) => refused("PUT", &uri, refusal),
    }
}

async fn finish(
    app: &Arc<App>,
    info: &NarInfo,
    plan: &Plan,
    hash_part: &str,
    claimed: Option<tempfile::TempPath>,
    printed: &str,
    started: Instant,
) -> Result<String, Refusal> {
    let _publishing = app.publish.lock().await;
    // References may only have been checked before: they are never removed, so still there.
    let (task_app, file, hash_part, narinfo) = (
        Arc::clone(app),
        plan.file.clone(),
        hash_part.to_owned(),
        info.to_string(),
    );
    let published = tokio::task::spawn_blocking(move || {
        task_app.store.publish(claimed, &file, &hash_part, &narinfo)
    })
    .await
    .map_err(|e| Refusal::internal("cannot publish", &e))?
    .map_err(|e| Refusal::internal("cannot publish", &e))?;
    if published {
        app.staging.remove(&plan.file);
        info!(
            path = %printed,
            trust = %plan.trust,
            nar = %plan.file.url(),
            nar_size = info.nar_size,
            ms = started.elapsed().as_millis() as u64,
            "accepted"
        );
        Ok(format!("{printed} verified ({}) and kept\n", plan.trust))
    } else {
        Ok(format!("{printed} is already in this cache\n"))
    }
}
