//! The HTTP side: routes, uploads, downloads.

pub(crate) mod listing;
pub(crate) mod realisation;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use nix_ingest::hash::{Algorithm, Format, Hash, Hasher};
use nix_ingest::narinfo::NarInfo;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tracing::{info, warn};

use crate::check::{self, Plan};
use crate::config::Config;
use crate::escape::Escaped;
use crate::lock::DirLock;
use crate::metrics::Kind;
use crate::names::{self, NarFile};
use crate::refusal::{Refusal, chain, not_here};
use crate::staging::Staging;
use crate::storage::{Directory, S3, Storage};
use crate::store::{Published, Store};

/// What every request shares.
#[derive(Debug)]
pub struct App {
    pub(crate) config: Config,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) cache_info: String,
    pub(crate) staging: Arc<Staging>,
    pub(crate) metrics: crate::metrics::Metrics,
    pub(crate) verifications: Semaphore,
    uploads: Semaphore,
    publish: tokio::sync::Mutex<()>,
    pub(crate) listings: listing::Pending,
    _lock: DirLock,
}

impl App {
    /// Opens the cache directory (creating it) and clears what an earlier run left in flight.
    pub fn open(config: Config) -> io::Result<Arc<App>> {
        std::fs::create_dir_all(&config.root)?;
        // Before anything is cleared: another server's uploads in flight are not ours to delete.
        let lock = DirLock::acquire(&config.root)?;
        let store = Store::open(&config.root, &config.store_dir, config.priority)?;
        let staging = Arc::new(Staging::open(
            &config.root,
            config.max_staged_bytes,
            config.staging_ttl,
        )?);
        let cache_info = store.cache_info().to_owned();
        let storage: Box<dyn Storage> = match (&config.s3, &config.git) {
            (Some(location), _) => Box::new(S3::open(location)?),
            (None, Some(repo)) => Box::new(crate::git::GitBackend::new(
                crate::git::GitStorage::open(
                    repo,
                    &config.store_dir,
                    config.limits,
                    config.git_pack_every,
                )?,
                config.clone(),
            )),
            (None, None) => Box::new(Directory::new(store)),
        };
        Ok(Arc::new(App {
            metrics: crate::metrics::Metrics::default(),
            storage,
            cache_info,
            verifications: Semaphore::new(config.max_verifications),
            uploads: Semaphore::new(config.max_uploads),
            _lock: lock,
            publish: tokio::sync::Mutex::new(()),
            listings: Default::default(),
            config,
            staging,
        }))
    }

    /// The service's routes, with its bound on concurrent requests (one semaphore for all
    /// routes and methods).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(get_metrics))
            .route("/{name}", get(get_top).put(put_top))
            .route("/nar/{name}", get(get_nar).put(put_nar))
            .route(
                "/realisations/{name}",
                get(get_realisation).put(put_realisation),
            )
            .fallback(fallback)
            .layer(GlobalConcurrencyLimitLayer::new(self.config.max_requests))
            // Outermost: a request without credentials takes no request or upload slot.
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(self),
                authenticate,
            ))
            .with_state(Arc::clone(self))
    }
}

type AppState = State<Arc<App>>;

/// Lets a request through if it may be served: uploads (anything but GET and HEAD) need a user
/// of the auth file, reads too if the cache is private; refusals are 401 and logged with the user
/// the request claimed to be. The user is passed on to the handlers for their logs.
async fn authenticate(
    State(app): AppState,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(users) = &app.config.users else {
        return next.run(request).await;
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if reading && !app.config.private {
        return next.run(request).await;
    }
    match users.authenticate(request.headers()).await {
        Ok(user) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(denied) => {
            if !reading {
                let path = request.uri().path();
                let kind = if path.starts_with("/nar/") {
                    Kind::Nar
                } else if path.ends_with(".narinfo") {
                    Kind::Narinfo
                } else if path.ends_with(".ls") {
                    Kind::Listing
                } else if path.starts_with("/realisations/") {
                    Kind::Realisation
                } else {
                    Kind::Other
                };
                app.metrics
                    .upload(kind, StatusCode::UNAUTHORIZED.as_u16(), 0.0);
            }
            let who = denied.user.as_deref().unwrap_or("-");
            let mut response = refused(
                request.method().as_str(),
                &request.uri().to_string(),
                who,
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "{} needs the credentials of a user of this cache: {}",
                        if reading { "reading" } else { "uploading" },
                        denied.reason
                    ),
                ),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"nix-ingest-binary-cache\""),
            );
            response
        }
    }
}

pub(crate) fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Logs a refusal and turns it into the response. Every field that may hold input is escaped.
pub(crate) fn refused(method: &str, uri: &str, user: &str, refusal: Refusal) -> Response {
    let (method, uri, user) = (Escaped(method), Escaped(uri), Escaped(user));
    let reason = Escaped(&refusal.message);
    let status = refusal.status.as_u16();
    if refusal.status.is_server_error() {
        tracing::error!(%method, %uri, %user, status, %reason, "refused");
    } else {
        warn!(%method, %uri, %user, status, %reason, "refused");
    }
    refusal.into_response()
}

/// The name of the authenticated uploader, or `-`.
pub(crate) fn user_of(request_user: &Option<axum::Extension<crate::auth::User>>) -> &str {
    request_user.as_ref().map_or("-", |u| u.0.0.as_str())
}

async fn fallback(method: Method, uri: axum::http::Uri) -> Response {
    refused(
        method.as_str(),
        &uri.to_string(),
        "-",
        Refusal::new(
            StatusCode::NOT_FOUND,
            "no such object: this cache serves /nix-cache-info, /<hash>.narinfo, /<hash>.ls, \
             /nar/<file> and /realisations/<id>.doi",
        ),
    )
}

async fn get_metrics(State(app): AppState) -> Response {
    text(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        app.metrics.render(app.staging.used()),
    )
}

async fn get_top(State(app): AppState, Path(name): Path<String>, request: Request) -> Response {
    if name == "nix-cache-info" {
        let mut response = text(
            StatusCode::OK,
            "text/x-nix-cache-info",
            app.cache_info.clone(),
        );
        set_cache_control(&app, &mut response, CacheFor::Info);
        return response;
    }
    if let Some(hash_part) = listing::listing_name(&name) {
        return listing::get(&app, hash_part, request).await;
    }
    let hash_part = match names::narinfo_hash_part(&name) {
        Ok(h) => h,
        Err(e) => return Refusal::new(StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    let read = app
        .storage
        .narinfo(hash_part, app.config.max_narinfo_size)
        .await;
    let response = small_object(
        &app,
        read,
        "text/x-nix-narinfo",
        CacheFor::Narinfo,
        &request,
    );
    if response.status().is_success() {
        // For garbage collection by last access.
        app.storage.accessed(hash_part);
    }
    response
}

async fn get_nar(State(app): AppState, Path(name): Path<String>, request: Request) -> Response {
    match NarFile::parse(&name) {
        Ok(file) => {
            // A NAR file's name is the hash of its bytes: that is its tag.
            let etag = file.file_hash().encode(Format::Nix32);
            let mut response = match tagged(&etag, &request) {
                Err(response) => response,
                Ok(etag) => {
                    let mut response = app.storage.serve_nar(&file, request).await;
                    let status = response.status();
                    if status.is_success() {
                        let headers = response.headers_mut();
                        headers.insert(header::ETAG, etag);
                        headers.insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/x-nix-nar"),
                        );
                    }
                    response
                }
            };
            set_cache_control(&app, &mut response, CacheFor::Nar);
            response
        }
        Err(e) => Refusal::new(StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

/// Answers a GET or HEAD of a small object of the storage (a listing, a realisation): its bytes
/// (at most `max`), tagged with their hash, or 404.
pub(crate) async fn serve_object(
    app: &App,
    key: &str,
    max: usize,
    content_type: &'static str,
    request: Request,
) -> Response {
    let read = app.storage.object(key, max).await;
    small_object(app, read, content_type, CacheFor::Object, &request)
}

/// The answer for a small stored object that was just read: its bytes tagged with their hash
/// (or 304 when the request already has them), 404 when it is not there, with the
/// Cache-Control of `what`. A stored object is never rewritten once kept, so its tag is the hash
/// of its bytes.
fn small_object(
    app: &App,
    read: io::Result<Option<Vec<u8>>>,
    content_type: &'static str,
    what: CacheFor,
    request: &Request,
) -> Response {
    let bytes = match read {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let mut response = not_here();
            set_cache_control(app, &mut response, what);
            return response;
        }
        Err(e) => return Refusal::internal("cannot read", &e).into_response(),
    };
    let etag = Hash::digest(Algorithm::Sha256, &bytes).encode(Format::Nix32);
    let mut response = match tagged(&etag, request) {
        Err(response) => response,
        Ok(etag) => {
            let len = bytes.len();
            let body = if request.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(header::ETAG, etag);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
    };
    set_cache_control(app, &mut response, what);
    response
}

/// The `ETag` header for `etag`, or the 304 answer if the request's `If-None-Match` has it.
#[allow(clippy::result_large_err)]
pub(crate) fn tagged(etag: &str, request: &Request) -> Result<HeaderValue, Response> {
    let etag = match HeaderValue::from_str(&format!("\"{etag}\"")) {
        Ok(v) => v,
        Err(e) => return Err(Refusal::internal("bad tag", &e).into_response()),
    };
    let matches = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        });
    if matches {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        return Err(response);
    }
    Ok(etag)
}

/// What a response's `Cache-Control` is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CacheFor {
    /// `nix-cache-info`: may change when the service is restarted with other settings.
    Info,
    /// A narinfo: never changes, but may be collected.
    Narinfo,
    /// A NAR file: named by the hash of its bytes, so it never changes.
    Nar,
    /// A NAR listing or a realisation: never changes once kept, but may be collected.
    Object,
}

pub(crate) fn set_cache_control(app: &App, response: &mut Response, what: CacheFor) {
    if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    let scope = if app.config.private {
        "private"
    } else {
        "public"
    };
    let value = match what {
        CacheFor::Info => format!("{scope}, max-age=3600"),
        CacheFor::Narinfo | CacheFor::Object => format!("{scope}, max-age=3600"),
        CacheFor::Nar => format!("{scope}, max-age=31536000, immutable"),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
}

pub(crate) type MaybeUser = Option<axum::Extension<crate::auth::User>>;

/// When the body of an upload must have arrived, whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: tokio::time::Instant,
    /// The longest silence allowed between two chunks.
    silence: Duration,
    /// The whole time allowed, for messages.
    whole: Duration,
}

impl Deadline {
    pub(crate) fn new(config: &Config) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + config.request_timeout,
            silence: config.body_timeout,
            whole: config.request_timeout,
        }
    }
}

/// Waits for one of the upload slots (all routes together), at most as long as a body may stay
/// silent: 503 after that.
pub(crate) async fn upload_slot(
    app: &App,
    deadline: Deadline,
) -> Result<tokio::sync::SemaphorePermit<'_>, Refusal> {
    let until = deadline
        .at
        .min(tokio::time::Instant::now() + deadline.silence);
    match tokio::time::timeout_at(until, app.uploads.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(e)) => Err(Refusal::internal("shutting down", &e)),
        Err(_) => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "all {} upload slots stayed busy; try again later",
                app.config.max_uploads
            ),
        )),
    }
}

async fn put_top(
    State(app): AppState,
    Path(name): Path<String>,
    user: MaybeUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/{name}");
    let who = user_of(&user);
    let deadline = Deadline::new(&app.config);
    let started = Instant::now();
    let listing = listing::listing_name(&name);
    let kind = if names::narinfo_hash_part(&name).is_ok() {
        Kind::Narinfo
    } else if listing.is_some() {
        Kind::Listing
    } else {
        Kind::Other
    };
    let result = match upload_slot(&app, deadline).await {
        Err(refusal) => Err(refusal),
        Ok(_slot) if name == "nix-cache-info" => {
            put_cache_info(&app, &headers, body, deadline).await
        }
        Ok(_slot) => match (listing, names::narinfo_hash_part(&name)) {
            (Some(hash_part), _) => {
                listing::put(&app, hash_part, who, &headers, body, deadline).await
            }
            (None, Ok(hash_part)) => {
                put_narinfo(&app, hash_part, who, &headers, body, deadline).await
            }
            (None, Err(e)) => Err(Refusal::bad_request(e.to_string())),
        },
    };
    answer_upload(&app, &uri, who, kind, started, result)
}

/// The answer to an upload, logged (with the user) when refused and counted in the metrics.
fn answer_upload(
    app: &App,
    uri: &str,
    who: &str,
    kind: Kind,
    started: Instant,
    result: Result<String, Refusal>,
) -> Response {
    let response = match result {
        Ok(message) => text(StatusCode::OK, "text/plain; charset=utf-8", message),
        Err(refusal) => refused("PUT", uri, who, refusal),
    };
    app.metrics.upload(
        kind,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn put_nar(
    State(app): AppState,
    Path(name): Path<String>,
    user: MaybeUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/nar/{name}");
    let who = user_of(&user);
    let deadline = Deadline::new(&app.config);
    let started = Instant::now();
    let result = match NarFile::parse(&name) {
        Ok(file) => match upload_slot(&app, deadline).await {
            Ok(_slot) => stage_nar(&app, &file, who, &headers, body, deadline).await,
            Err(refusal) => Err(refusal),
        },
        Err(e) => Err(Refusal::bad_request(e.to_string())),
    };
    answer_upload(&app, &uri, who, Kind::Nar, started, result)
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

/// The next chunk of a body, refusing silence longer than the configured timeout, a body not
/// whole by the deadline (however steadily it trickles), and a body cut short.
async fn next_chunk(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    deadline: Deadline,
) -> Result<Option<axum::body::Bytes>, Refusal> {
    let silent_until = tokio::time::Instant::now() + deadline.silence;
    match tokio::time::timeout_at(deadline.at.min(silent_until), stream.next()).await {
        Err(_) if silent_until < deadline.at => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body stalled for {} s", deadline.silence.as_secs()),
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive whole within {} s",
                deadline.whole.as_secs()
            ),
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
    deadline: Deadline,
) -> Result<Vec<u8>, Refusal> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(chunk) = next_chunk(&mut stream, deadline).await? {
        if data.len() + chunk.len() > max {
            return Err(Refusal::too_large(format!(
                "the body is over the limit of {max} bytes"
            )));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

async fn put_cache_info(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, 4096, deadline).await?;
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
    user: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
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
    if app
        .storage
        .has_nar(file)
        .await
        .map_err(|e| Refusal::internal("cannot read the storage", &e))?
    {
        return Ok(format!("{} is already in this cache\n", file.url()));
    }
    let too_full =
        |e: crate::staging::Full| Refusal::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string());
    // Space is taken as bytes arrive, never on a Content-Length's word (announcing 8 GiB and
    // sending one byte would hold 8 GiB); an announced length that could not fit now is refused
    // at once, holding nothing.
    if let Some(len) = announced {
        app.staging.check_room(len).map_err(too_full)?;
    }
    let mut reservation = app.staging.reserve(0).map_err(too_full)?;
    // Created readable as the umask allows, as every published file (it is renamed into place).
    let tmp = tempfile::Builder::new()
        .prefix(".upload")
        .permissions(crate::store::published_permissions())
        .tempfile_in(app.staging.tmp_dir())
        .map_err(|e| Refusal::internal("cannot create a staging file", &e))?;
    let (std_file, tmp_path) = tmp.into_parts();
    let mut out =
        tokio::io::BufWriter::with_capacity(256 << 10, tokio::fs::File::from_std(std_file));
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let started = Instant::now();
    while let Some(chunk) = next_chunk(&mut stream, deadline).await? {
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
    app.metrics.received(size);
    info!(
        file = %file.url(),
        user = %Escaped(user),
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
    user: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
) -> Result<String, Refusal> {
    check_encoding(headers)?;
    let data = read_small(body, app.config.max_narinfo_size, deadline).await?;
    let info = NarInfo::parse_bytes(&data, &app.config.store_dir)
        .map_err(|e| Refusal::bad_request(chain(&e)))?;
    let plan = check::check_narinfo(&info, hash_part, &app.config)?;
    let printed = app.config.store_dir.display_path(&info.store_path);
    let storage_error = |e: io::Error| Refusal::internal("cannot read the storage", &e);
    if app
        .storage
        .has_narinfo(hash_part)
        .await
        .map_err(storage_error)?
    {
        return Ok(format!("{printed} is already in this cache\n"));
    }
    for reference in &plan.references {
        if !app
            .storage
            .has_narinfo(&reference.hash_part().to_string())
            .await
            .map_err(storage_error)?
        {
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
    let published = app
        .storage
        .local_nar(&plan.file, app.staging.tmp_dir())
        .await
        .map_err(storage_error)?;
    let (nar_path, claimed) = match &published {
        Some(local) => (local.path().to_owned(), None),
        None => match app
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
        },
    };
    check::check_nar(&nar_path, &info, &plan, &app.config).await?;
    drop(published);
    let kept = finish(app, &info, &plan, hash_part, user, claimed, started).await?;
    listing::narinfo_accepted(app, hash_part, user).await;
    Ok(kept)
}

async fn get_realisation(
    State(app): AppState,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    realisation::get(&app, &name, request).await
}

async fn put_realisation(
    State(app): AppState,
    Path(name): Path<String>,
    user: MaybeUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uri = format!("/realisations/{name}");
    let who = user_of(&user);
    let deadline = Deadline::new(&app.config);
    let started = Instant::now();
    let result = match upload_slot(&app, deadline).await {
        Ok(_slot) => realisation::put(&app, &name, who, &headers, body, deadline).await,
        Err(refusal) => Err(refusal),
    };
    answer_upload(&app, &uri, who, Kind::Realisation, started, result)
}

async fn finish(
    app: &Arc<App>,
    info: &NarInfo,
    plan: &Plan,
    hash_part: &str,
    user: &str,
    claimed: Option<tempfile::TempPath>,
    started: Instant,
) -> Result<String, Refusal> {
    let printed = app.config.store_dir.display_path(&info.store_path);
    let _publishing = app.publish.lock().await;
    // References were checked before verifying; publishing checks them again under the lock a
    // garbage collection takes.
    let narinfo = check::published_narinfo(info, user, &app.config).to_string();
    let references: Vec<String> = plan
        .references
        .iter()
        .map(|r| r.hash_part().to_string())
        .collect();
    let published = app
        .storage
        .publish(claimed, &plan.file, hash_part, &references, narinfo)
        .await
        .map_err(|e| Refusal::internal("cannot publish", &e))?;
    match published {
        Published::Yes => {
            app.staging.remove(&plan.file);
            info!(
                path = %printed,
                user = %Escaped(user),
                trust = %plan.trust,
                nar = %plan.file.url(),
                nar_size = info.nar_size,
                ms = started.elapsed().as_millis() as u64,
                "accepted"
            );
            Ok(format!("{printed} verified ({}) and kept\n", plan.trust))
        }
        Published::AlreadyThere => Ok(format!("{printed} is already in this cache\n")),
        Published::MissingReference(hash) => Err(Refusal::conflict(format!(
            "{printed} refers to the path with hash {hash}, which was collected meanwhile; \
             upload it again"
        ))),
        Published::MissingNar => Err(Refusal::conflict(format!(
            "{} was collected meanwhile; upload it again",
            plan.file.url()
        ))),
    }
}
