//! Where published objects live: a [`Storage`] backend, chosen with `--storage`.
//!
//! Every backend holds the objects of a binary cache under the keys Nix uses — `nix-cache-info`,
//! `<hash part>.narinfo`, `nar/<file hash>.nar[.xz|.bz2|.zst]`, `<hash part>.ls`,
//! `realisations/<id>.doi` — and publishes a path NAR file
//! first, narinfo last, so that a reader never sees a narinfo before its NAR. Uploads are staged
//! and verified on the local disk whatever the backend (see `staging`).
//!
//! - [`Directory`]: a local directory laid out as a `file://` binary cache (the default);
//! - [`S3`]: a bucket of an S3-compatible object store (`s3://BUCKET?endpoint=URL&region=R`),
//!   through the `object_store` crate; several services may share one bucket;
//! - [`git`](crate::git): a bare git repository (`git:PATH`), every path kept as git objects
//!   (files deduplicated across paths) and its NAR rebuilt from them when read.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tower::ServiceExt;

use crate::names::NarFile;
use crate::refusal::{Refusal, not_here};
use crate::store::{Beside, Published, Store};

/// A NAR file on the local disk, to verify: the published file itself, or a downloaded copy
/// (deleted when dropped).
#[derive(Debug)]
pub enum LocalNar {
    /// The published file.
    Published(PathBuf),
    /// A temporary copy.
    Copy(tempfile::TempPath),
}

impl LocalNar {
    /// Where it is.
    pub fn path(&self) -> &Path {
        match self {
            LocalNar::Published(p) => p,
            LocalNar::Copy(t) => t,
        }
    }
}

/// A backend for published objects.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Whether the narinfo of `hash_part` is published.
    fn has_narinfo<'a>(&'a self, hash_part: &'a str) -> BoxFuture<'a, io::Result<bool>>;

    /// Whether the NAR file is published.
    fn has_nar<'a>(&'a self, file: &'a NarFile) -> BoxFuture<'a, io::Result<bool>>;

    /// The bytes of the narinfo of `hash_part` (at most `max`), if published.
    fn narinfo<'a>(
        &'a self,
        hash_part: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>>;

    /// Answers a GET or HEAD of a NAR file: with `Range` requests, and 404 if it is missing.
    fn serve_nar<'a>(&'a self, file: &'a NarFile, request: Request) -> BoxFuture<'a, Response>;

    /// The published NAR file on the local disk, to verify another narinfo against it
    /// (downloaded into `tmp_dir` if need be); `None` if it is not published.
    fn local_nar<'a>(
        &'a self,
        file: &'a NarFile,
        tmp_dir: &'a Path,
    ) -> BoxFuture<'a, io::Result<Option<LocalNar>>>;

    /// Publishes a verified path: its NAR file (`staged`, unless already published), then, if
    /// every reference (hash parts) and the NAR file are there, its narinfo.
    fn publish<'a>(
        &'a self,
        staged: Option<tempfile::TempPath>,
        file: &'a NarFile,
        hash_part: &'a str,
        references: &'a [String],
        narinfo: String,
    ) -> BoxFuture<'a, io::Result<Published>>;

    /// The bytes of a small object (`<hash part>.ls`, `realisations/<id>.doi`; at most `max`),
    /// if published.
    fn object<'a>(&'a self, key: &'a str, max: usize)
    -> BoxFuture<'a, io::Result<Option<Vec<u8>>>>;

    /// Publishes a small object that belongs to the published path with hash part `owner`
    /// (see [`Store::publish_beside`]); never replaces one.
    fn publish_beside<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, io::Result<Beside>>;

    /// Records that the narinfo of `hash_part` was read (for garbage collection), if the backend
    /// keeps track.
    fn accessed(&self, hash_part: &str);

    /// Writes `nix-cache-info` (what the service announces), so that Nix can also read the
    /// storage without the service.
    fn write_cache_info<'a>(&'a self, text: &'a str) -> BoxFuture<'a, io::Result<()>>;
}

/// A local directory (see [`Store`]).
#[derive(Debug)]
pub struct Directory {
    store: Arc<Store>,
}

impl Directory {
    /// The directory backend over an open store.
    pub fn new(store: Store) -> Directory {
        Directory {
            store: Arc::new(store),
        }
    }
}

/// Runs `f` on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

impl Storage for Directory {
    fn has_narinfo<'a>(&'a self, hash_part: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { Ok(self.store.has_narinfo(hash_part)) })
    }

    fn has_nar<'a>(&'a self, file: &'a NarFile) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { Ok(self.store.nar_path(file).is_file()) })
    }

    fn narinfo<'a>(
        &'a self,
        hash_part: &'a str,
        _max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            match tokio::fs::read(self.store.narinfo_path(hash_part)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn serve_nar<'a>(&'a self, file: &'a NarFile, request: Request) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            match tower_http::services::ServeFile::new(self.store.nar_path(file))
                .oneshot(request)
                .await
            {
                Ok(r) if r.status() == StatusCode::NOT_FOUND => not_here(),
                Ok(r) => r.map(Body::new),
                Err(e) => Refusal::internal("cannot serve", &e).into_response(),
            }
        })
    }

    fn local_nar<'a>(
        &'a self,
        file: &'a NarFile,
        _tmp_dir: &'a Path,
    ) -> BoxFuture<'a, io::Result<Option<LocalNar>>> {
        Box::pin(async move {
            let path = self.store.nar_path(file);
            Ok(path.is_file().then_some(LocalNar::Published(path)))
        })
    }

    fn publish<'a>(
        &'a self,
        staged: Option<tempfile::TempPath>,
        file: &'a NarFile,
        hash_part: &'a str,
        references: &'a [String],
        narinfo: String,
    ) -> BoxFuture<'a, io::Result<Published>> {
        let (store, file, hash_part, references) = (
            Arc::clone(&self.store),
            file.clone(),
            hash_part.to_owned(),
            references.to_vec(),
        );
        Box::pin(blocking(move || {
            store.publish(staged, &file, &hash_part, &references, &narinfo)
        }))
    }

    fn object<'a>(
        &'a self,
        key: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            let file = match tokio::fs::File::open(self.store.object_path(key)).await {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut bytes = Vec::new();
            file.take(max as u64 + 1).read_to_end(&mut bytes).await?;
            if bytes.len() > max {
                return Err(io::Error::other(format!("{key} is over {max} bytes")));
            }
            Ok(Some(bytes))
        })
    }

    fn publish_beside<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, io::Result<Beside>> {
        let (store, key, owner) = (Arc::clone(&self.store), key.to_owned(), owner.to_owned());
        Box::pin(blocking(move || store.publish_beside(&key, &owner, &data)))
    }

    fn accessed(&self, hash_part: &str) {
        let path = self.store.narinfo_path(hash_part);
        // Off the request's path; a failure only makes the path look older.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::gc::touch(&path) {
                tracing::debug!(error = %e, "cannot record an access");
            }
        });
    }

    fn write_cache_info<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, io::Result<()>> {
        // Written when the store was opened.
        Box::pin(async { Ok(()) })
    }
}

/// Where an S3 bucket is: `s3://BUCKET?endpoint=URL&region=R` (both optional; credentials and
/// anything else from the usual `AWS_*` environment variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The endpoint (an S3-compatible server); AWS's if `None`.
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
}

impl std::str::FromStr for S3Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("storage {s:?} is not s3://BUCKET?endpoint=URL&region=R"))?;
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains('/') {
            return Err(format!("storage {s:?}: no bucket name (s3://BUCKET…)"));
        }
        let mut location = S3Location {
            bucket: bucket.to_owned(),
            endpoint: None,
            region: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) if !v.is_empty() => location.endpoint = Some(v.to_owned()),
                Some(("region", v)) if !v.is_empty() => location.region = Some(v.to_owned()),
                _ => {
                    return Err(format!(
                        "storage {s:?}: unknown parameter {pair:?} (endpoint, region)"
                    ));
                }
            }
        }
        Ok(location)
    }
}

/// Where published objects live, as `--storage` names it: `s3://BUCKET?…` ([`S3Location`]) or
/// `git:PATH` (a bare git repository, see [`git`](crate::git)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An S3 bucket.
    S3(S3Location),
    /// A bare git repository.
    Git(PathBuf),
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("git:") {
            Some("") => Err(format!("storage {s:?}: no repository (git:PATH)")),
            Some(path) => Ok(Location::Git(PathBuf::from(path))),
            None if s.starts_with("s3://") => s.parse().map(Location::S3),
            None => Err(format!(
                "storage {s:?} is neither s3://BUCKET?endpoint=URL&region=R nor git:PATH"
            )),
        }
    }
}

/// An S3 bucket, through `object_store`.
#[derive(Debug)]
pub struct S3 {
    store: Arc<dyn object_store::ObjectStore>,
}

fn s3_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl S3 {
    /// Connects to the bucket at `location` (credentials from the environment).
    pub fn open(location: &S3Location) -> io::Result<S3> {
        let mut builder =
            object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &location.region {
            builder = builder.with_region(region);
        }
        Ok(S3 {
            store: Arc::new(builder.build().map_err(s3_error)?),
        })
    }

    async fn exists(&self, key: &str) -> io::Result<bool> {
        match self.store.head(&object_store::path::Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Uploads a local file (in parts, as it is read: never whole in memory).
    async fn put_file(&self, key: &str, path: &Path) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::open(path).await?;
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            Arc::clone(&self.store),
            object_store::path::Path::from(key),
            8 << 20,
        );
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.shutdown().await
    }
}

/// One `Range: bytes=…` of an object of `size` bytes, as a half-open range; `None` for no (or
/// an unsupported) range, `Some(Err)` if it cannot be satisfied.
pub(crate) fn range(request: &Request, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let value = request.headers().get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (from, to) = spec.split_once('-')?;
    let parsed = if from.is_empty() {
        let n: u64 = to.parse().ok()?;
        (n > 0 && size > 0).then(|| size.saturating_sub(n)..size)
    } else {
        let from: u64 = from.parse().ok()?;
        let to: u64 = if to.is_empty() {
            size.saturating_sub(1)
        } else {
            to.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        (from <= to && from < size).then(|| from..to + 1)
    };
    Some(parsed.ok_or(()))
}

impl Storage for S3 {
    fn has_narinfo<'a>(&'a self, hash_part: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(self.exists_owned(format!("{hash_part}.narinfo")))
    }

    fn has_nar<'a>(&'a self, file: &'a NarFile) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(self.exists_owned(file.url()))
    }

    fn narinfo<'a>(
        &'a self,
        hash_part: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let key = object_store::path::Path::from(format!("{hash_part}.narinfo"));
            match self.store.get(&key).await {
                Ok(result) if result.meta.size > max as u64 => Err(io::Error::other(format!(
                    "{key} has {} bytes, over {max}",
                    result.meta.size
                ))),
                Ok(result) => Ok(Some(result.bytes().await.map_err(s3_error)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error(e)),
            }
        })
    }

    fn serve_nar<'a>(&'a self, file: &'a NarFile, request: Request) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let key = object_store::path::Path::from(file.url());
            let meta = match self.store.head(&key).await {
                Ok(meta) => meta,
                Err(object_store::Error::NotFound { .. }) => return not_here(),
                Err(e) => return Refusal::internal("cannot read the bucket", &e).into_response(),
            };
            let wanted = match range(&request, meta.size) {
                Some(Err(())) => {
                    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                        response.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return response;
                }
                Some(Ok(r)) => Some(r),
                None => None,
            };
            let length = wanted.as_ref().map_or(meta.size, |r| r.end - r.start);
            let mut response = if request.method() == Method::HEAD || length == 0 {
                Response::new(Body::empty())
            } else {
                let options = object_store::GetOptions {
                    range: wanted.clone().map(object_store::GetRange::Bounded),
                    ..Default::default()
                };
                match self.store.get_opts(&key, options).await {
                    Ok(result) => Response::new(Body::from_stream(
                        result
                            .into_stream()
                            .map(|chunk| chunk.map_err(io::Error::other)),
                    )),
                    Err(object_store::Error::NotFound { .. }) => return not_here(),
                    Err(e) => {
                        return Refusal::internal("cannot read the bucket", &e).into_response();
                    }
                }
            };
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if let Some(r) = wanted {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                if let Ok(v) =
                    HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size))
                {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            response
        })
    }

    fn local_nar<'a>(
        &'a self,
        file: &'a NarFile,
        tmp_dir: &'a Path,
    ) -> BoxFuture<'a, io::Result<Option<LocalNar>>> {
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            let key = object_store::path::Path::from(file.url());
            let result = match self.store.get(&key).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(s3_error(e)),
            };
            let tmp = tempfile::Builder::new()
                .prefix(".download")
                .tempfile_in(tmp_dir)?;
            let (std_file, path) = tmp.into_parts();
            let mut out = tokio::fs::File::from_std(std_file);
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(s3_error)?).await?;
            }
            out.flush().await?;
            Ok(Some(LocalNar::Copy(path)))
        })
    }

    fn publish<'a>(
        &'a self,
        staged: Option<tempfile::TempPath>,
        file: &'a NarFile,
        hash_part: &'a str,
        references: &'a [String],
        narinfo: String,
    ) -> BoxFuture<'a, io::Result<Published>> {
        Box::pin(async move {
            let narinfo_key = format!("{hash_part}.narinfo");
            if self.exists(&narinfo_key).await? {
                return Ok(Published::AlreadyThere);
            }
            let nar_key = file.url();
            let nar_there = self.exists(&nar_key).await?;
            match staged {
                Some(staged) if !nar_there => self.put_file(&nar_key, &staged).await?,
                None if !nar_there => return Ok(Published::MissingNar),
                _ => {}
            }
            for reference in references {
                if !self.exists(&format!("{reference}.narinfo")).await? {
                    return Ok(Published::MissingReference(reference.clone()));
                }
            }
            // Last: a reader that sees the narinfo finds its NAR file.
            self.store
                .put(
                    &object_store::path::Path::from(narinfo_key),
                    narinfo.into_bytes().into(),
                )
                .await
                .map_err(s3_error)?;
            Ok(Published::Yes)
        })
    }

    fn object<'a>(
        &'a self,
        key: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let key = object_store::path::Path::from(key);
            match self.store.get(&key).await {
                Ok(result) if result.meta.size > max as u64 => Err(io::Error::other(format!(
                    "{key} has {} bytes, over {max}",
                    result.meta.size
                ))),
                Ok(result) => Ok(Some(result.bytes().await.map_err(s3_error)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error(e)),
            }
        })
    }

    fn publish_beside<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, io::Result<Beside>> {
        Box::pin(async move {
            // No collector runs on a bucket (see `gc`): checking the owner first is enough.
            if !self.exists(&format!("{owner}.narinfo")).await? {
                return Ok(Beside::MissingOwner);
            }
            // Checked, then written: two services racing to keep different objects under one
            // key may both succeed, the later one winning (a conditional put is not supported
            // by every S3-compatible server).
            if self.exists(key).await? {
                return Ok(Beside::AlreadyThere);
            }
            self.store
                .put(&object_store::path::Path::from(key), data.into())
                .await
                .map_err(s3_error)?;
            Ok(Beside::Yes)
        })
    }

    fn accessed(&self, _hash_part: &str) {}

    fn write_cache_info<'a>(&'a self, text: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            self.store
                .put(
                    &object_store::path::Path::from("nix-cache-info"),
                    text.as_bytes().to_vec().into(),
                )
                .await
                .map(|_| ())
                .map_err(s3_error)
        })
    }
}

impl S3 {
    async fn exists_owned(&self, key: String) -> io::Result<bool> {
        self.exists(&key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations() {
        assert_eq!(
            "s3://cache?endpoint=http://127.0.0.1:9000&region=eu-1"
                .parse::<S3Location>()
                .unwrap(),
            S3Location {
                bucket: "cache".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: Some("eu-1".into()),
            }
        );
        assert_eq!("s3://cache".parse::<S3Location>().unwrap().endpoint, None);
        for bad in [
            "cache",
            "s3://",
            "s3://a/b",
            "s3://a?x=1",
            "s3://a?endpoint=",
        ] {
            assert!(bad.parse::<S3Location>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let req = |r: &str| {
            Request::get("/")
                .header("range", r)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(range(&req("bytes=10-19"), 100), Some(Ok(10..20)));
        assert_eq!(range(&req("bytes=90-"), 100), Some(Ok(90..100)));
        assert_eq!(range(&req("bytes=-5"), 100), Some(Ok(95..100)));
        assert_eq!(range(&req("bytes=95-200"), 100), Some(Ok(95..100)));
        assert_eq!(range(&req("bytes=100-"), 100), Some(Err(())));
        assert_eq!(range(&req("bytes=0-1,5-6"), 100), None);
        assert_eq!(range(&req("lines=1-2"), 100), None);
    }
}
