//! The storage backend over the repository: NARs rebuilt from trees and streamed, narinfos, listings.

use super::*;

/// The storage backend over a [`GitStorage`], with the service's settings.
#[derive(Debug)]
pub(crate) struct GitBackend {
    storage: GitStorage,
    config: Arc<crate::Config>,
}

impl GitBackend {
    pub(crate) fn new(storage: GitStorage, config: crate::Config) -> Self {
        GitBackend {
            storage,
            config: Arc::new(config),
        }
    }

    pub(super) fn inner(&self) -> Arc<Inner> {
        Arc::clone(&self.storage.inner)
    }
}

/// Writes the bytes `skip..skip + remaining` of what it is given to a channel, in chunks,
/// counting the bytes handed over in `sent` (shared with the retrying caller).
pub(super) struct Window {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    skip: u64,
    remaining: u64,
    buf: Vec<u8>,
    sent: Arc<AtomicU64>,
}

const CHUNK: usize = 64 << 10;

impl Window {
    pub(super) fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let len = chunk.len() as u64;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        self.sent.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Write for Window {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        if self.skip > 0 {
            let n = self.skip.min(rest.len() as u64) as usize;
            self.skip -= n as u64;
            rest = &rest[n..];
        }
        let take = self.remaining.min(rest.len() as u64) as usize;
        self.buf.extend_from_slice(&rest[..take]);
        self.remaining -= take as u64;
        if self.buf.len() >= CHUNK || self.remaining == 0 {
            self.send()?;
        }
        if self.remaining == 0 && take < rest.len() {
            // Everything asked for is sent: stop the walk.
            return Err(io::Error::other("range sent"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether reading the NAR failed because an object was not where it was looked for (a repack
/// moved it meanwhile): worth reading again.
pub(super) fn moved(error: &nix_ingest::git::events::RestoreError) -> bool {
    use nix_ingest::git::source::ObjectError as S;
    matches!(
        error,
        nix_ingest::git::events::RestoreError::Object { source, .. }
            if matches!(**source, S::NotFound { .. } | S::Io { .. } | S::Pack { .. } | S::Read { .. })
    )
}

/// Streams bytes `range` of the NAR of `commit` into `tx`, reading it again from where it was
/// (up to 3 times) when an object was not where it was looked for (moved by a repack).
pub(super) fn stream_nar(
    inner: &Inner,
    commit: &PathCommit,
    range: std::ops::Range<u64>,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    let sent = Arc::new(AtomicU64::new(0));
    let len = range.end - range.start;
    let fail = |message: String| {
        tracing::error!(path = %commit.printed, error = %message, "cannot serve the NAR");
        let _ = tx.blocking_send(Err(io::Error::other(message)));
    };
    for attempt in 0.. {
        let done = sent.load(Ordering::Relaxed);
        let window = Window {
            tx: tx.clone(),
            skip: range.start + done,
            remaining: len - done,
            buf: Vec::with_capacity(CHUNK),
            sent: Arc::clone(&sent),
        };
        // Objects read in this process (gitoxide's pack reader), blobs inflated ahead on other
        // threads while this one writes the NAR.
        let mut repo = match inner.objects() {
            Ok(r) => r,
            Err(e) => return fail(crate::refusal::chain(&e)),
        };
        let mut nar = nix_ingest::nar::NarWriter::new(window).max_depth(inner.limits.max_nar_depth);
        let walked = nix_ingest::git::to_events(
            &commit.root,
            commit.mode,
            &mut repo,
            &mut nar,
            &inner.limits,
        );
        // (whether to read again, why)
        let finished = match walked {
            Ok(()) => nar.finish().map_err(|e| (false, crate::refusal::chain(&e))),
            Err(e) => Err((moved(&e), crate::refusal::chain(&e))),
        };
        // All asked for was sent (the walk was stopped once it was), or nobody listens.
        if sent.load(Ordering::Relaxed) == len || tx.is_closed() {
            return;
        }
        match finished {
            Ok(mut window) => {
                let _ = window.send();
                return;
            }
            Err((true, message)) if attempt < 3 => {
                tracing::info!(path = %commit.printed, error = %message, "reading the NAR again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, message)) => return fail(message),
        }
    }
}

/// The NAR of `commit` (of `size` bytes), streamed from a blocking thread through a bounded
/// channel.
pub(super) fn nar_stream(
    inner: Arc<Inner>,
    commit: PathCommit,
    range: std::ops::Range<u64>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || stream_nar(&inner, &commit, range, tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The NAR of `commit` compressed on the fly with `compression` (at its fastest level), for a
/// client asking for the NAR file it uploaded: its bytes are not the uploaded file's (whose
/// `FileHash` that client's narinfo holds), but they decompress to the same NAR, which is what
/// Nix checks (`NarHash`).
pub(super) fn compressed_nar(
    inner: Arc<Inner>,
    commit: PathCommit,
    size: u64,
    compression: &Compression,
) -> Response {
    use async_compression::Level;
    use async_compression::tokio::bufread::{BzEncoder, XzEncoder, ZstdEncoder};
    let nar = tokio_util::io::StreamReader::new(Box::pin(nar_stream(inner, commit, 0..size)));
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match compression {
        Compression::Xz => Box::new(XzEncoder::with_quality(nar, Level::Fastest)),
        Compression::Zstd => Box::new(ZstdEncoder::with_quality(nar, Level::Fastest)),
        Compression::Bzip2 => Box::new(BzEncoder::with_quality(nar, Level::Fastest)),
        _ => return crate::refusal::not_here(),
    };
    Response::new(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, CHUNK),
    ))
}

impl Storage for GitBackend {
    fn has_narinfo<'a>(&'a self, hash_part: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        let (inner, name) = (self.inner(), format!("{PATHS}{hash_part}"));
        Box::pin(blocking(move || Ok(inner.resolve_one(name)?.is_some())))
    }

    fn has_nar<'a>(&'a self, file: &'a NarFile) -> BoxFuture<'a, io::Result<bool>> {
        let (inner, file) = (self.inner(), file.clone());
        Box::pin(blocking(move || {
            if *file.compression() != Compression::None {
                return Ok(false);
            }
            let name = format!("{NARS}{}", file.file_hash().encode(Format::Nix32));
            Ok(inner.resolve_one(name)?.is_some())
        }))
    }

    fn narinfo<'a>(
        &'a self,
        hash_part: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        let (inner, name) = (self.inner(), format!("{PATHS}{hash_part}"));
        Box::pin(blocking(move || match inner.path_commit(name)? {
            Some(commit) if commit.narinfo.len() > max => Err(io::Error::other(format!(
                "the narinfo of {} is over {max} bytes",
                commit.printed
            ))),
            Some(commit) => Ok(Some(commit.narinfo.into_bytes())),
            None => Ok(None),
        }))
    }

    fn serve_nar<'a>(&'a self, file: &'a NarFile, request: Request) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let (inner, f) = (self.inner(), file.clone());
            let compressed = *file.compression() != Compression::None;
            if compressed && request.method() == Method::HEAD {
                // The file as uploaded is not kept: not announced, so that an upload of it
                // (`nix copy --to` asks with HEAD first) sends it again (see the module docs).
                return crate::refusal::not_here();
            }
            let found = blocking(move || {
                let commit = if *f.compression() == Compression::None {
                    inner.nar_commit(&f)?
                } else {
                    inner.path_commit(format!("{UPLOADS}{}", f.file_name()))?
                };
                let Some(commit) = commit else {
                    return Ok(None);
                };
                let info = NarInfo::parse(&commit.narinfo, &inner.store_dir)
                    .map_err(|e| bad(crate::refusal::chain(&e)))?;
                Ok(Some((commit, info.nar_size)))
            })
            .await;
            let (commit, size) = match found {
                Ok(Some(found)) => found,
                Ok(None) => return crate::refusal::not_here(),
                Err(e) => {
                    return Refusal::internal("cannot read the repository", &e).into_response();
                }
            };
            if compressed {
                return compressed_nar(self.inner(), commit, size, file.compression());
            }
            let (status, wanted) = match crate::storage::range(&request, size) {
                Some(Err(())) => {
                    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                        response.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return response;
                }
                Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, r),
                None => (StatusCode::OK, 0..size),
            };
            let length = wanted.end - wanted.start;
            let body = if request.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::from_stream(nar_stream(self.inner(), commit, wanted.clone()))
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if status == StatusCode::PARTIAL_CONTENT
                && let Ok(v) = HeaderValue::from_str(&format!(
                    "bytes {}-{}/{size}",
                    wanted.start,
                    wanted.end.saturating_sub(1)
                ))
            {
                headers.insert(header::CONTENT_RANGE, v);
            }
            response
        })
    }

    fn local_nar<'a>(
        &'a self,
        file: &'a NarFile,
        tmp_dir: &'a Path,
    ) -> BoxFuture<'a, io::Result<Option<LocalNar>>> {
        let (inner, file, tmp_dir) = (self.inner(), file.clone(), tmp_dir.to_owned());
        Box::pin(blocking(move || {
            let Some(commit) = inner.nar_commit(&file)? else {
                return Ok(None);
            };
            let tmp = tempfile::Builder::new()
                .prefix(".git-nar")
                .tempfile_in(&tmp_dir)?;
            let (file, path) = tmp.into_parts();
            let mut out =
                inner.write_nar(&commit, io::BufWriter::with_capacity(256 << 10, file))?;
            out.flush()?;
            Ok(Some(LocalNar::Copy(path)))
        }))
    }

    fn publish<'a>(
        &'a self,
        staged: Option<tempfile::TempPath>,
        file: &'a NarFile,
        hash_part: &'a str,
        references: &'a [String],
        narinfo: String,
    ) -> BoxFuture<'a, io::Result<Published>> {
        let (inner, config, file, hash_part, references) = (
            self.inner(),
            Arc::clone(&self.config),
            file.clone(),
            hash_part.to_owned(),
            references.to_vec(),
        );
        Box::pin(async move {
            // The staged file, decompressed as the blocking publication reads it.
            let reader = match &staged {
                Some(staged) => {
                    let file_in = tokio::fs::File::open(staged).await?;
                    let reader = crate::check::decompress(file.compression(), file_in, &config)?;
                    Some(tokio_util::io::SyncIoBridge::new(reader))
                }
                None => None,
            };
            let done = {
                let inner = Arc::clone(&inner);
                blocking(move || {
                    let done = inner.publish(reader, &file, &hash_part, &references, &narinfo);
                    drop(staged);
                    done
                })
                .await?
            };
            if done == Published::Yes && inner.pack_every > 0 {
                let n = inner.published.fetch_add(1, Ordering::Relaxed) + 1;
                if n % inner.pack_every == 0 {
                    inner.pack_in_background();
                }
            }
            Ok(done)
        })
    }

    fn object<'a>(
        &'a self,
        key: &'a str,
        max: usize,
    ) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        let (inner, key) = (self.inner(), key.to_owned());
        Box::pin(blocking(move || inner.object(&key, max)))
    }

    fn publish_beside<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, io::Result<Beside>> {
        let (inner, key, owner) = (self.inner(), key.to_owned(), owner.to_owned());
        Box::pin(blocking(move || inner.publish_beside(&key, &owner, data)))
    }

    fn accessed(&self, hash_part: &str) {
        let path = self.storage.inner.access_file(hash_part);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::gc::touch(&path) {
                tracing::debug!(error = %e, "cannot record an access");
            }
        });
    }

    fn write_cache_info<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
