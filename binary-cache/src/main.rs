//! `nix-ingest-binary-cache`: a Nix binary cache that verifies every upload before it keeps it.
//!
//! ```text
//! nix-ingest-binary-cache --dir /srv/cache --listen 127.0.0.1:8080
//! nix copy --to http://127.0.0.1:8080 /nix/store/…-tree
//! nix copy --from http://127.0.0.1:8080 /nix/store/…-tree
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nix_ingest::store_path::StoreDir;
use nix_ingest_binary_cache::signature::PublicKey;
use nix_ingest_binary_cache::{Config, Service};

/// A Nix binary cache that verifies every upload before it keeps it: content addresses
/// recomputed, NAR hashes and sizes checked, and a trusted signature required for paths without
/// a content address.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The directory objects are kept in (created if missing); it is laid out as a file://
    /// binary cache.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The address to listen on; port 0 picks a free one (printed on standard error).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Trust this public key (Nix's `name:base64`, as `nix key convert-secret-to-public`
    /// prints) to sign paths without a content address. Repeatable.
    #[arg(long = "trusted-public-key", value_name = "KEY")]
    trusted_keys: Vec<PublicKey>,
    /// The store directory paths must be in.
    #[arg(long, value_name = "DIR", default_value = "/nix/store")]
    store_dir: String,
    /// The largest NAR accepted, compressed or not, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_nar_size: Option<u64>,
    /// The most bytes of NARs waiting for their narinfo at once.
    #[arg(long, value_name = "BYTES")]
    max_staged_bytes: Option<u64>,
    /// Seconds a NAR waits for its narinfo before it is deleted.
    #[arg(long, value_name = "SECONDS")]
    staging_ttl: Option<u64>,
    /// Requests served at once, all routes and methods together.
    #[arg(long, value_name = "N")]
    max_requests: Option<usize>,
    /// Uploads (PUTs) received at once; more wait for a slot (503 after --body-timeout).
    #[arg(long, value_name = "N")]
    max_uploads: Option<usize>,
    /// Connections open at once; more are closed as they arrive.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds an upload's body may take to arrive whole, however steadily it trickles.
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<u64>,
    /// Seconds an upload's body may stay silent.
    #[arg(long, value_name = "SECONDS")]
    body_timeout: Option<u64>,
    /// Seconds a connection may take to send a request's headers.
    #[arg(long, value_name = "SECONDS")]
    header_timeout: Option<u64>,
    /// Narinfo uploads verified at once.
    #[arg(long, value_name = "N")]
    max_verifications: Option<usize>,
    /// The Priority announced in nix-cache-info.
    #[arg(long, value_name = "N")]
    priority: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nix-ingest-binary-cache: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let store_dir = StoreDir::new(args.store_dir).map_err(|e| e.to_string())?;
    let mut config = Config::new(&args.dir).store_dir(store_dir);
    for key in args.trusted_keys {
        config = config.trust(key);
    }
    if let Some(n) = args.max_nar_size {
        config = config.max_nar_size(n);
    }
    if let Some(n) = args.max_staged_bytes {
        config = config.max_staged_bytes(n);
    }
    if let Some(s) = args.staging_ttl {
        config = config.staging_ttl(Duration::from_secs(s));
    }
    if let Some(n) = args.max_requests {
        config = config.max_requests(n);
    }
    if let Some(n) = args.max_uploads {
        config = config.max_uploads(n);
    }
    if let Some(n) = args.max_connections {
        config = config.max_connections(n);
    }
    if let Some(s) = args.request_timeout {
        config = config.request_timeout(Duration::from_secs(s));
    }
    if let Some(s) = args.body_timeout {
        config = config.body_timeout(Duration::from_secs(s));
    }
    if let Some(s) = args.header_timeout {
        config = config.header_timeout(Duration::from_secs(s));
    }
    if let Some(n) = args.max_verifications {
        config = config.max_verifications(n);
    }
    if let Some(n) = args.priority {
        config = config.priority(n);
    }
    let service = Service::open(config)
        .map_err(|e| format!("cannot open the cache in {:?}: {e}", args.dir))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        eprintln!("listening on http://{addr}");
        service
            .serve(listener, shutdown())
            .await
            .map_err(|e| format!("serving failed: {e}"))
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
