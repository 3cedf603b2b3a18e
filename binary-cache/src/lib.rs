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
//! NAR first, then its narinfo. The cache directory is laid out as a `file://` binary cache; an
//! S3 bucket ([`storage`]) or a git repository ([`git`]: every path as git objects, files shared
//! by all paths, replicated between caches with `git fetch` or `git push` and verified again)
//! can hold the published objects instead.
//!
//! Uploads can be limited to the users of an auth file ([`auth`]), every accepted path signed by
//! the cache's own key ([`Config::sign_with`]), the directory collected by last read ([`gc`]),
//! and the service watched through Prometheus metrics at `/metrics`.
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
pub mod auth;
mod check;
mod config;
pub mod escape;
pub mod gc;
pub mod git;
mod lock;
mod metrics;
pub mod names;
mod refusal;
pub mod signature;
mod staging;
pub mod storage;
pub mod store;

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
    ///
    /// Each connection must send a request's headers within the configured header timeout, and at
    /// most the configured number of connections are open at once (more are closed at once). On
    /// shutdown, requests under way get 30 s to finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
        self.app
            .storage
            .write_cache_info(&self.app.cache_info)
            .await?;
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
        let service = hyper_util::service::TowerToHyperService::new(self.router());
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.app.config.header_timeout);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let connections = Arc::new(tokio::sync::Semaphore::new(self.app.config.max_connections));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for some to be closed.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                tracing::warn!(
                    max = self.app.config.max_connections,
                    "too many connections: one closed"
                );
                continue;
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended");
                }
                drop(permit);
            });
        }
        drop(listener);
        expiry.abort();
        if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still under way after 30 s were cut off");
        }
        Ok(())
    }
}
