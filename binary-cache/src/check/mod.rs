//! Deciding whether a narinfo and its NAR may be kept.
//!
//! In two steps: [`check_narinfo`] looks only at the narinfo (names, sizes, and why the path
//! may be believed: a content address that makes its store path, or a trusted signature);
//! [`check_nar`] then streams the NAR file from disk through its decompressor and the crate's
//! NAR parser once, computing the content address's hash, the NAR hash and the NAR size, and
//! compares all three.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use nix_ingest::Options;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::hash::Algorithm;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::store_path::{References, StorePath};
use nix_ingest::verify::{self, Claim};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};

use crate::config::Config;
use crate::names::{self, Compression, NarFile};
use crate::refusal::{Refusal, chain};
use crate::signature::Signature;

pub(crate) mod listing;
pub(crate) mod realisation;

/// Why a narinfo's path is believed.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Its content address makes its store path; the NAR must hash to it.
    ContentAddressed(ContentAddress),
    /// No content address, but a trusted key signed its fingerprint.
    Signed(String),
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::ContentAddressed(ca) => write!(f, "CA {ca}"),
            Trust::Signed(key) => write!(f, "signed by {key}"),
        }
    }
}

/// What the narinfo alone establishes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The NAR file it names.
    pub file: NarFile,
    /// Why the path is believed.
    pub trust: Trust,
    /// The references other than the path itself.
    pub references: Vec<StorePath>,
}

/// Checks everything that can be checked without the NAR: the narinfo uploaded as
/// `<hash_part>.narinfo` must describe that store path, name its NAR file the way Nix does
/// (`nar/<FileHash>.nar<ext>`, with `FileHash`, `FileSize` and a supported `Compression`), stay
/// within the size bounds, and either carry a content address that makes its store path from
/// its name and references, or a signature by a trusted key.
pub fn check_narinfo(info: &NarInfo, hash_part: &str, config: &Config) -> Result<Plan, Refusal> {
    let store = &config.store_dir;
    let path = &info.store_path;
    if path.hash_part() != hash_part {
        return Err(Refusal::bad_request(format!(
            "the narinfo for {} was uploaded as {hash_part}.narinfo",
            store.display_path(path)
        )));
    }
    if !names::supported(&info.compression) {
        return Err(Refusal::bad_request(format!(
            "Compression {:?} is not supported (none, xz, bzip2, zstd)",
            info.compression.name()
        )));
    }
    let compression = info.compression.clone();
    let file_hash = info
        .file_hash
        .ok_or_else(|| Refusal::bad_request("the narinfo has no FileHash"))?;
    let file = NarFile::new(file_hash, compression)
        .ok_or_else(|| Refusal::bad_request("FileHash must be a SHA-256"))?;
    if info.url != file.url() {
        return Err(Refusal::bad_request(format!(
            "URL {:?} is not where this cache keeps that NAR file ({:?}, after FileHash and \
             Compression)",
            info.url,
            file.url()
        )));
    }
    let file_size = info
        .file_size
        .ok_or_else(|| Refusal::bad_request("the narinfo has no FileSize"))?;
    for (what, size) in [("FileSize", file_size), ("NarSize", info.nar_size)] {
        if size > config.max_nar_size {
            return Err(Refusal::too_large(format!(
                "{what} {size} is over this cache's limit of {} bytes",
                config.max_nar_size
            )));
        }
    }
    if info.nar_hash.algorithm() != Algorithm::Sha256 {
        return Err(Refusal::bad_request("NarHash must be a SHA-256"));
    }
    let references: Vec<StorePath> = info
        .references
        .iter()
        .filter(|r| *r != path)
        .cloned()
        .collect();
    let self_ref = references.len() != info.references.len();

    let trust = match &info.ca {
        Some(ca) => {
            if self_ref {
                return Err(Refusal::unverified(format!(
                    "{} refers to itself; self-referencing content-addressed paths are not \
                     accepted",
                    store.display_path(path)
                )));
            }
            let refs = References {
                others: references.iter().cloned().collect(),
                self_ref,
            };
            let made = store
                .make_path_from_ca(path.name(), ca, &refs)
                .map_err(|e| {
                    Refusal::unverified(format!(
                        "CA {ca} makes no store path for {:?}: {}",
                        path.name(),
                        chain(&e)
                    ))
                })?;
            if &made != path {
                return Err(Refusal::unverified(format!(
                    "CA {ca} with these references is the address of {}, not of {}",
                    store.display_path(&made),
                    store.display_path(path)
                )));
            }
            Trust::ContentAddressed(*ca)
        }
        None => {
            let signatures = info
                .signatures
                .iter()
                .map(|s| s.parse::<Signature>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Refusal::bad_request(format!("bad Sig: {e}")))?;
            let fingerprint = info.fingerprint();
            match config.trusted_keys.verify(&fingerprint, &signatures) {
                Some(key) => Trust::Signed(key.to_owned()),
                None => {
                    return Err(Refusal::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{} has no content address and no valid signature by a key this \
                             cache trusts{}",
                            store.display_path(path),
                            if config.trusted_keys.is_empty() {
                                " (it trusts none)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
        }
    };
    Ok(Plan {
        file,
        trust,
        references,
    })
}

/// The NAR in a file compressed with `compression`, decompressed as it is read.
///
/// Fails for a compression this cache does not [support](names::supported) (a [`NarFile`] has
/// only supported ones).
pub(crate) fn decompress(
    compression: &Compression,
    file: impl AsyncRead + Unpin + Send + 'static,
    config: &Config,
) -> std::io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    use async_compression::tokio::bufread::{BzDecoder, XzDecoder, ZstdDecoder};
    const BUFFER: usize = 256 << 10;
    let input = BufReader::with_capacity(BUFFER, file);
    Ok(match compression {
        Compression::None => Box::new(input),
        Compression::Xz => {
            let mut d = XzDecoder::with_mem_limit(input, config.xz_memory_limit);
            d.multiple_members(true);
            Box::new(d)
        }
        Compression::Bzip2 => {
            let mut d = BzDecoder::new(input);
            d.multiple_members(true);
            Box::new(d)
        }
        Compression::Zstd => {
            // zstd's decoder refuses windows over 2^27 bytes (128 MiB) unless told otherwise.
            let mut d = ZstdDecoder::new(input);
            d.multiple_members(true);
            Box::new(d)
        }
        other => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("compression {:?} is not supported", other.name()),
            ));
        }
    })
}

/// Streams the NAR file at `nar_path` through its decompressor and the NAR parser once and
/// checks that its size is `FileSize`, and that the NAR has `NarSize` bytes, hashes to
/// `NarHash`, and (for a content-addressed path) to its content address. Reads at most
/// `NarSize + 1` decompressed bytes, whatever the file expands to.
pub async fn check_nar(
    nar_path: &Path,
    info: &NarInfo,
    plan: &Plan,
    config: &Config,
) -> Result<(), Refusal> {
    let file = tokio::fs::File::open(nar_path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Refusal::conflict(format!(
                "{} was collected meanwhile; upload it again",
                plan.file.url()
            ))
        } else {
            Refusal::internal("cannot open the NAR file", &e)
        }
    })?;
    let len = file
        .metadata()
        .await
        .map_err(|e| Refusal::internal("cannot stat the NAR file", &e))?
        .len();
    if Some(len) != info.file_size {
        return Err(Refusal::unverified(format!(
            "FileSize is {}, but {} has {len} bytes",
            info.file_size.unwrap_or_default(),
            plan.file.url()
        )));
    }
    let compression = plan.file.compression();
    // How much of the file the decompressor consumed: all of it, when a decompressor fails,
    // means the file ends before its compressed stream does.
    let consumed = Arc::new(AtomicU64::new(0));
    let file = SharedCountingReader {
        inner: file,
        count: Arc::clone(&consumed),
    };
    let nar = decompress(compression, file, config)
        .map_err(|e| Refusal::bad_request(format!("{}: {e}", plan.file.url())))?
        .take(info.nar_size.saturating_add(1));
    let decompressed = Arc::new(AtomicU64::new(0));
    let mut nar = SharedCountingReader {
        inner: nar,
        count: Arc::clone(&decompressed),
    };
    let limits = nix_ingest::Limits {
        max_total_size: config.limits.max_total_size.min(info.nar_size),
        ..config.limits
    };
    let options = Options::new().limits(limits);
    let ca = match &plan.trust {
        Trust::ContentAddressed(ca) => *ca,
        // Without a content address the NAR still has to be one: its NAR hash in the NAR
        // method is the hash of its bytes, which the claim also checks.
        Trust::Signed(_) => {
            ContentAddress::fixed(nix_ingest::method::FileIngestionMethod::Nar, info.nar_hash)
        }
    };
    let claim = Claim::new(info.store_path.name(), ca)
        .references(References {
            others: plan.references.iter().cloned().collect(),
            self_ref: false,
        })
        .nar_hash(info.nar_hash)
        .nar_size(info.nar_size);
    let result = verify::verify_nar_async(&mut nar, &claim, &config.store_dir, &options).await;
    if decompressed.load(Ordering::Relaxed) > info.nar_size {
        return Err(Refusal::unverified(format!(
            "the NAR is longer than NarSize ({} bytes)",
            info.nar_size
        )));
    }
    match result {
        Ok(_) => Ok(()),
        Err(verify::VerifyError::Nar(nix_ingest::nar::ReadError::Io { offset, .. }))
            if *compression != Compression::None && consumed.load(Ordering::Relaxed) >= len =>
        {
            // xz reports a stream cut short as "out of memory" (liblzma's LZMA_BUF_ERROR).
            Err(Refusal::unverified(format!(
                "{} ({compression}) is truncated: its {len} bytes end before the compressed \
                 stream does (at NAR byte {offset})",
                plan.file.url()
            )))
        }
        Err(verify::VerifyError::Nar(nix_ingest::nar::ReadError::Io {
            offset, source, ..
        })) if *compression != Compression::None => Err(Refusal::unverified(format!(
            "cannot decompress {} ({compression}) at NAR byte {offset}: {}",
            plan.file.url(),
            chain(&source)
        ))),
        // The path of a signed NAR was not computed from its content: only the digests count.
        Err(verify::VerifyError::StorePath(_)) if matches!(plan.trust, Trust::Signed(_)) => Ok(()),
        Err(e) => Err(Refusal::unverified(chain(&e))),
    }
}

/// Counts the bytes read through it into a counter shared with its owner.
struct SharedCountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for SharedCountingReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        poll
    }
}

/// The narinfo the cache publishes for a verified upload: only what it can vouch for. `Deriver`
/// and `System` are dropped (nothing the cache checked says they are true), of the signatures
/// only those a trusted key made over the path's fingerprint are kept, and the cache's own
/// signature is added if it has a key, and that of the uploader's own key if it has one.
pub fn published_narinfo(info: &NarInfo, user: &str, config: &Config) -> NarInfo {
    let mut out = info.clone();
    out.deriver = None;
    out.system = None;
    let fingerprint = info.fingerprint();
    out.signatures = info
        .signatures
        .iter()
        .filter(|text| {
            text.parse::<Signature>()
                .is_ok_and(|sig| config.trusted_keys.verify(&fingerprint, [&sig]).is_some())
        })
        .cloned()
        .collect();
    for key in [config.signing_key.as_ref(), config.user_keys.get(user)]
        .into_iter()
        .flatten()
    {
        out.signatures
            .retain(|s| s.split_once(':').is_none_or(|(name, _)| name != key.name()));
        out.signatures.insert(key.sign(&fingerprint));
    }
    out
}
