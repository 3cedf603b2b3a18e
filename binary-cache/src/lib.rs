//! A Nix binary cache that verifies every upload before it keeps it.
//!
//! `nix copy --to http://HOST:PORT PATH` uploads a path as three HTTP PUTs: `/nix-cache-info`
//! (if the cache has none), the NAR file `/nar/<file hash>.nar[.xz|.bz2|.zst]`, then
//! `/<hash part>.narinfo`. An ordinary binary cache stores whatever arrives. This one keeps a
//! path only once it has checked, in one streaming pass over the NAR, that:
//!
//! - the NAR file's SHA-256 is the one its name claims (`FileHash`) and its size is `FileSize`;
//! - it decompresses (none, xz, bzip2 or zstd) to a well-formed NAR of `NarSize` bytes that
//!   hashes to `NarHash`;
//! - the path is believed: its `CA` (git, NAR, flat or text) is the hash of that content *and*
//!   makes the store path the narinfo names, with its name and references; a path without a
//!   `CA` must carry a signature by a configured trusted key (ed25519, as Nix signs);
//! - every reference is already in the cache.
//!
//! Until then nothing is published: a NAR waits in a bounded staging area on disk (it arrives
//! before its narinfo and expires if none comes), and a path appears by two atomic renames, its
//! NAR first, then its narinfo. The cache directory is laid out as a `file://` binary cache.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use nix_ingest_binary_cache::{Config, Service};
//!
//! let service = Service::open(Config::new("/var/cache/nix-ingest-binary-cache"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! service.serve(listener, std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod check;
mod config;
mod listing;
pub mod names;
mod realisation;
mod refusal;
pub mod signature;
mod staging;
mod store;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
pub use refusal::Refusal;

/// An open cache, ready to serve.
#[derive(Debug, Clone)]
pub struct Service {
    app: Arc<app::App>,
}

impl Service {
    /// Opens (creating) the cache directory of `config`, removing what an earlier run left
    /// half-done (staged NARs, temporary files).
    pub fn open(config: Config) -> io::Result<Service> {
        Ok(Service {
            app: app::App::open(config)?,
        })
    }

    /// The routes, to serve with axum or to test with tower.
    pub fn router(&self) -> axum::Router {
        self.app.router()
    }

    /// Deletes staged NARs that waited longer than the configured time for their narinfo;
    /// returns how many. [`serve`](Self::serve) does it periodically.
    pub fn expire_staged(&self) -> usize {
        self.app.staging.expire()
    }

    /// Serves on `listener` until `shutdown` completes, expiring staged NARs meanwhile.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let app = Arc::clone(&self.app);
        let period =
            (app.config.staging_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let expiry = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let n = app.staging.expire();
                if n > 0 {
                    tracing::info!(count = n, "expired staged NARs that got no narinfo");
                }
            }
        });
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        expiry.abort();
        result
    }
}
