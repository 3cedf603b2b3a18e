//! Until the crate's `Options`, `verify::Claim` and `verify_nar_async` land.
#![allow(missing_docs, dead_code)]

use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Hash, Hasher};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::store_path::{References, StoreDir, StorePath};
use nix_ingest::{Limits, nar};
use tokio::io::AsyncRead;

pub trait Display {
    fn display_path(&self, p: &StorePath) -> String;
}
impl Display for StoreDir {
    fn display_path(&self, p: &StorePath) -> String {
        StoreDir::display_path(self, p)
    }
}

#[derive(Default)]
pub struct Options {
    limits: Limits,
}
impl Options {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
}

pub struct Claim {
    name: String,
    ca: ContentAddress,
    references: References,
    nar_hash: Option<Hash>,
    nar_size: Option<u64>,
}
impl Claim {
    pub fn new(name: &str, ca: ContentAddress) -> Self {
        Claim {
            name: name.into(),
            ca,
            references: References::default(),
            nar_hash: None,
            nar_size: None,
        }
    }
    pub fn references(mut self, r: References) -> Self {
        self.references = r;
        self
    }
    pub fn nar_hash(mut self, h: Hash) -> Self {
        self.nar_hash = Some(h);
        self
    }
    pub fn nar_size(mut self, n: u64) -> Self {
        self.nar_size = Some(n);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid store object")]
    StorePath(#[from] nix_ingest::store_path::Error),
    #[error("invalid NAR")]
    Nar(#[from] nar::Error),
    #[error("mismatch: {0}")]
    Mismatch(String),
}

struct Raw<R> {
    inner: R,
    hasher: Hasher,
    size: u64,
}
impl<R: AsyncRead + Unpin> AsyncRead for Raw<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = buf.filled()[before..].to_vec();
        self.hasher.update(&new);
        self.size += new.len() as u64;
        poll
    }
}

pub async fn verify_nar_async<R: AsyncRead + Unpin>(
    reader: R,
    claim: &Claim,
    store: &StoreDir,
    options: &Options,
) -> Result<StorePath, Error> {
    let path = store.make_path_from_ca(&claim.name, &claim.ca, &claim.references)?;
    let method = match claim.ca.method() {
        ContentAddressMethod::Text => FileIngestionMethod::Flat,
        ContentAddressMethod::Fixed(m) => m,
    };
    let mut sink = nix_ingest::Options::default()
        .sink(&method, claim.ca.hash().algorithm())
        .unwrap();
    let mut raw = Raw {
        inner: reader,
        hasher: Hasher::new(claim.nar_hash.unwrap().algorithm()),
        size: 0,
    };
    nar::tokio::read(&mut raw, &mut *sink, &options.limits).await?;
    let got = sink.finish().map_err(|e| Error::Mismatch(e.to_string()))?;
    if &got != claim.ca.hash() {
        return Err(Error::Mismatch(format!(
            "content address mismatch: expected {}, got {got}",
            claim.ca.hash()
        )));
    }
    if Some(raw.size) != claim.nar_size {
        return Err(Error::Mismatch(format!(
            "NAR size mismatch: got {}",
            raw.size
        )));
    }
    let h = raw.hasher.finalize().unwrap();
    if Some(h) != claim.nar_hash {
        return Err(Error::Mismatch(format!("NAR hash mismatch: got {h}")));
    }
    Ok(path)
}
