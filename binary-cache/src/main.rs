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
use nix_ingest_binary_cache::auth::Users;
use nix_ingest_binary_cache::escape::Escaped;
use nix_ingest_binary_cache::git::GitStorage;
use nix_ingest_binary_cache::signature::{PublicKey, SecretKey};
use nix_ingest_binary_cache::storage::Location;
use nix_ingest_binary_cache::{Config, Service};

/// A Nix binary cache that verifies every upload before it keeps it: content addresses
/// recomputed, NAR hashes and sizes checked, and a trusted signature required for paths without
/// a content address.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Reads a password from standard input (one line) and prints its Argon2id hash, for a line
    /// `user:HASH` of an --auth-file.
    HashPassword,
    /// Removes the least recently read paths of a cache directory (or git repository), never
    /// one that a kept path refers to; safe while the service runs on it.
    Gc(GcArgs),
    /// Packs a git storage (`git repack` with deltas, refs packed); safe while the service runs.
    Pack(PackArgs),
    /// Fetches the paths of another git cache into a git storage, verifies every one again
    /// (narinfo, commit, and the NAR rebuilt from the fetched tree) and publishes those that
    /// pass, then its listings (checked against the NAR of their path) and realisations (their
    /// output here, signed by a trusted key); safe while the service runs. With --incoming,
    /// verifies what another cache pushed instead, the same way.
    Replicate(ReplicateArgs),
    /// Pushes the paths, listings and realisations of a git storage into another cache's
    /// incoming refs (`refs/nix-incoming/`), which that cache serves only once its
    /// `replicate --incoming` has verified them.
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
struct PushArgs {
    /// The git storage to push from: `git:PATH`.
    #[arg(long, value_name = "git:PATH")]
    storage: Location,
    /// The cache to push to: any URL or path `git push` takes (its repository).
    #[arg(long, value_name = "URL")]
    to: String,
}

#[derive(Debug, clap::Args)]
struct PackArgs {
    /// The git storage: `git:PATH`.
    #[arg(long, value_name = "git:PATH")]
    storage: Location,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from", "incoming"])))]
struct ReplicateArgs {
    /// The git storage to replicate into: `git:PATH` (created if missing).
    #[arg(long, value_name = "git:PATH")]
    storage: Location,
    /// The cache to replicate from: any URL or path `git fetch` takes (its repository).
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// Verify and publish what other caches pushed (`push --to`) into this one's
    /// `refs/nix-incoming/` instead of fetching; run it after each push, or from cron.
    #[arg(long)]
    incoming: bool,
    /// Trust this public key to sign paths without a content address, and realisations.
    /// Repeatable.
    #[arg(
        long = "trusted-public-key",
        visible_alias = "trusted-key",
        value_name = "KEY"
    )]
    trusted_keys: Vec<PublicKey>,
    /// The store directory paths must be in.
    #[arg(long, value_name = "DIR", default_value = "/nix/store")]
    store_dir: String,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("policy").required(true).args(["max_size", "older_than"])))]
#[command(group(clap::ArgGroup::new("where").required(true).args(["dir", "storage"])))]
struct GcArgs {
    /// The cache directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// A git storage (`git:PATH`) instead of a directory.
    #[arg(long, value_name = "git:PATH")]
    storage: Option<Location>,
    /// With a git storage: unreachable objects older than this are pruned (git's dates:
    /// `now`, `1.hour.ago`, `2.weeks.ago`…). Readers of a removed path may still be streaming
    /// it: keep a margin while the service runs.
    #[arg(long, value_name = "DATE", default_value = "1.hour.ago")]
    prune_expire: String,
    /// The store directory paths are in (for a git storage).
    #[arg(long, value_name = "DIR", default_value = "/nix/store")]
    store_dir: String,
    /// Keep the most recently read paths (with their closures) that fit in BYTES.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    /// Keep the paths read (or uploaded) within DAYS (with their closures); fractions allowed.
    #[arg(long, value_name = "DAYS")]
    older_than: Option<f64>,
    /// Only say what would be removed.
    #[arg(long)]
    dry_run: bool,
}

/// Serving (the default command).
#[derive(Debug, clap::Args)]
struct Args {
    /// The directory objects are kept in (created if missing); it is laid out as a file://
    /// binary cache.
    #[arg(long, value_name = "DIR", required = true)]
    dir: Option<PathBuf>,
    /// Uploads need the credentials of a user in FILE: one `user:password` a line, the password
    /// an Argon2 hash (`$argon2id$…`, see `hash-password`) or else plain text. Nix sends them
    /// from its netrc-file as HTTP Basic; `Authorization: Bearer user:password` works too.
    #[arg(long, value_name = "FILE")]
    auth_file: Option<PathBuf>,
    /// Reading needs credentials too (needs --auth-file).
    #[arg(long, requires = "auth_file")]
    private: bool,
    /// Publish into an S3 bucket or a git repository instead of --dir (which then only holds
    /// uploads in flight): `s3://BUCKET?endpoint=URL&region=R`, credentials from the AWS_*
    /// environment variables (several services, each with its own --dir, may share one
    /// bucket); or `git:PATH`, a bare git repository (created if missing), every path kept as
    /// git objects.
    #[arg(long, value_name = "URL")]
    storage: Option<Location>,
    /// With `--storage git:PATH`: pack the repository after every N publications (0: never).
    #[arg(long, value_name = "N")]
    git_pack_every: Option<u64>,
    /// The address to listen on; port 0 picks a free one (printed on standard error).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Trust this public key (Nix's `name:base64`, as `nix key convert-secret-to-public`
    /// prints) to sign paths without a content address. Repeatable.
    #[arg(
        long = "trusted-public-key",
        visible_alias = "trusted-key",
        value_name = "KEY"
    )]
    trusted_keys: Vec<PublicKey>,
    /// Sign every accepted path with this Nix secret key (as `nix key generate-secret` writes
    /// it), so that clients trusting its public half substitute with require-sigs on.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Also sign the paths USER uploads with the Nix secret key in FILE, so that readers can
    /// trust some uploaders and not others. Repeatable.
    #[arg(long, value_name = "USER=FILE", requires = "auth_file")]
    user_signing_key: Vec<String>,
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
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        return hash_password();
    }
    if let Some(Command::Gc(args)) = cli.command {
        return gc(args);
    }
    if let Some(Command::Pack(args)) = cli.command {
        return pack(args);
    }
    if let Some(Command::Replicate(args)) = cli.command {
        return replicate(args);
    }
    if let Some(Command::Push(args)) = cli.command {
        return push(args);
    }
    let args = cli.serve;
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

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("nix-ingest-binary-cache: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        eprintln!("nix-ingest-binary-cache: the password is empty");
        return ExitCode::FAILURE;
    }
    match nix_ingest_binary_cache::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nix-ingest-binary-cache: {e}");
            ExitCode::FAILURE
        }
    }
}

fn gc(args: GcArgs) -> ExitCode {
    use nix_ingest_binary_cache::gc::{Policy, collect};
    let policy = match (args.max_size, args.older_than) {
        (Some(bytes), _) => Policy::MaxSize(bytes),
        (None, Some(days)) if days.is_finite() && days >= 0.0 => {
            Policy::OlderThan(Duration::from_secs_f64(days * 86400.0))
        }
        _ => {
            eprintln!("nix-ingest-binary-cache gc: --older-than needs a number of days >= 0");
            return ExitCode::FAILURE;
        }
    };
    let (result, place) = match (&args.dir, &args.storage) {
        (_, Some(Location::Git(repo))) => {
            if !repo.join("HEAD").is_file() {
                eprintln!(
                    "nix-ingest-binary-cache gc: {} is not a git repository",
                    repo.display()
                );
                return ExitCode::FAILURE;
            }
            let store_dir = match StoreDir::canonical(&args.store_dir) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("nix-ingest-binary-cache gc: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = GitStorage::open(repo, &store_dir, Default::default(), 0)
                .and_then(|git| git.collect(policy, args.dry_run, &args.prune_expire));
            (result, repo.clone())
        }
        (_, Some(Location::S3(_))) => {
            eprintln!("nix-ingest-binary-cache gc: an S3 bucket is not collected");
            return ExitCode::FAILURE;
        }
        (Some(dir), None) => (collect(dir, policy, args.dry_run), dir.clone()),
        (None, None) => {
            eprintln!("nix-ingest-binary-cache gc: --dir or --storage is required");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(report) => {
            for hash in &report.removed {
                println!(
                    "{} {hash}",
                    if args.dry_run {
                        "would remove"
                    } else {
                        "removed"
                    }
                );
            }
            println!(
                "{} paths, {} bytes {}; {} paths, {} bytes kept",
                report.removed.len(),
                report.freed,
                if args.dry_run { "to remove" } else { "removed" },
                report.kept,
                report.remaining
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "nix-ingest-binary-cache gc: cannot collect {}: {e}",
                place.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn git_repo(location: &Location, command: &str) -> Result<PathBuf, ExitCode> {
    match location {
        Location::Git(repo) => Ok(repo.clone()),
        Location::S3(_) => {
            eprintln!("nix-ingest-binary-cache {command}: --storage must be git:PATH");
            Err(ExitCode::FAILURE)
        }
    }
}

fn pack(args: PackArgs) -> ExitCode {
    let repo = match git_repo(&args.storage, "pack") {
        Ok(r) => r,
        Err(code) => return code,
    };
    if !repo.join("HEAD").is_file() {
        eprintln!(
            "nix-ingest-binary-cache pack: {} is not a git repository",
            repo.display()
        );
        return ExitCode::FAILURE;
    }
    match nix_ingest_binary_cache::git::pack(&repo) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "nix-ingest-binary-cache pack: cannot pack {}: {e}",
                repo.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn replicate(args: ReplicateArgs) -> ExitCode {
    let repo = match git_repo(&args.storage, "replicate") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let fail = |message: String| {
        eprintln!("nix-ingest-binary-cache replicate: {message}");
        ExitCode::FAILURE
    };
    let store_dir = match StoreDir::canonical(&args.store_dir) {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    let mut config = Config::new(&repo).store_dir(store_dir.clone());
    for key in args.trusted_keys {
        config = config.trust(key);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let git = GitStorage::open(&repo, &store_dir, config.get_limits(), 0)?;
        match &args.from {
            Some(from) => git.replicate(&config, from).await,
            None => git.receive(&config).await,
        }
    });
    match result {
        Ok(report) => {
            for hash in &report.published {
                println!("verified and published {hash}");
            }
            for (hash, reason) in &report.refused {
                println!("refused {hash}: {reason}");
            }
            for (what, objects) in [
                ("listing", &report.listings),
                ("realisation", &report.realisations),
            ] {
                for name in &objects.published {
                    println!("verified and published {what} {}", Escaped(name));
                }
                for (name, reason) in &objects.refused {
                    println!("refused {what} {}: {}", Escaped(name), Escaped(reason));
                }
            }
            println!(
                "{} paths published, {} already here, {} refused",
                report.published.len(),
                report.already,
                report.refused.len()
            );
            let (l, r) = (&report.listings, &report.realisations);
            println!(
                "{} listings published, {} already here, {} skipped (their path is not here), {} refused",
                l.published.len(),
                l.already,
                l.skipped,
                l.refused.len()
            );
            println!(
                "{} realisations published, {} already here, {} refused",
                r.published.len(),
                r.already,
                r.refused.len()
            );
            if report.refused.is_empty() && l.refused.is_empty() && r.refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => match &args.from {
            Some(from) => fail(format!("cannot replicate from {from:?}: {e}")),
            None => fail(format!("cannot verify the incoming refs: {e}")),
        },
    }
}

fn push(args: PushArgs) -> ExitCode {
    let repo = match git_repo(&args.storage, "push") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let fail = |message: String| {
        eprintln!("nix-ingest-binary-cache push: {message}");
        ExitCode::FAILURE
    };
    if !repo.join("HEAD").is_file() {
        return fail(format!("{} is not a git repository", repo.display()));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let git = GitStorage::open(&repo, &StoreDir::default(), Default::default(), 0)?;
        git.push(&args.to).await
    });
    match result {
        Ok((paths, objects)) => {
            println!(
                "{paths} paths and {objects} listings and realisations pushed to {}",
                Escaped(&args.to)
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("cannot push to {:?}: {e}", args.to)),
    }
}

fn run(args: Args) -> Result<(), String> {
    let dir = args.dir.ok_or("--dir is required")?;
    let store_dir = StoreDir::canonical(&args.store_dir).map_err(|e| e.to_string())?;
    let mut config = Config::new(&dir).store_dir(store_dir);
    match args.storage {
        Some(Location::S3(location)) => config = config.s3(location),
        Some(Location::Git(repo)) => config = config.git(repo),
        None => {}
    }
    if let Some(n) = args.git_pack_every {
        config = config.git_pack_every(n);
    }
    let mut user_names = Vec::new();
    match &args.auth_file {
        Some(file) => {
            let users = Users::load(file)?;
            user_names = users.names().map(str::to_owned).collect();
            tracing::info!(
                users = users.names().count(),
                private = args.private,
                "uploads need credentials"
            );
            config = config.users(users).private(args.private);
        }
        None => tracing::warn!("no --auth-file: anyone who reaches this cache may upload"),
    }
    if let Some(file) = &args.signing_key {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the signing key {}: {e}", file.display()))?;
        let key: SecretKey = text
            .parse()
            .map_err(|e| format!("signing key {}: {e}", file.display()))?;
        tracing::info!(public_key = %key.public(), "signing accepted paths");
        config = config.sign_with(key);
    }
    for spec in &args.user_signing_key {
        let (user, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--user-signing-key {spec:?} is not USER=FILE"))?;
        if !user_names.iter().any(|u| u == user) {
            return Err(format!(
                "--user-signing-key: {user:?} is not a user of the auth file"
            ));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the signing key {file}: {e}"))?;
        let key: SecretKey = text
            .parse()
            .map_err(|e| format!("signing key {file}: {e}"))?;
        tracing::info!(user, public_key = %key.public(), "signing the user's uploads");
        config = config.sign_for_user(user, key);
    }
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
    let service =
        Service::open(config).map_err(|e| format!("cannot open the cache in {dir:?}: {e}"))?;
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
