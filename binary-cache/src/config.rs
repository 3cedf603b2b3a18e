//! How the service runs: where it keeps objects, whom it trusts, and its bounds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix_ingest::Limits;
use nix_ingest::store_path::StoreDir;

use crate::auth::Users;
use crate::signature::{PublicKey, SecretKey, TrustedKeys};
use crate::storage::S3Location;

/// The service's settings, built as `Config::new(root).max_nar_size(…)…`.
///
/// The defaults suit a cache on the loopback or behind a proxy: 1024 connections and 64 requests
/// at once, of which 16 uploads, 4 verifications at once, NAR files up to 8 GiB, 16 GiB of staged
/// NARs kept for an hour, an upload's body received within an hour (and never silent for a
/// minute), request headers within 30 s.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) root: PathBuf,
    pub(crate) store_dir: StoreDir,
    pub(crate) trusted_keys: TrustedKeys,
    pub(crate) limits: Limits,
    pub(crate) max_nar_size: u64,
    pub(crate) max_narinfo_size: usize,
    pub(crate) max_staged_bytes: u64,
    pub(crate) staging_ttl: Duration,
    pub(crate) max_requests: usize,
    pub(crate) max_verifications: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) max_uploads: usize,
    pub(crate) max_connections: usize,
    pub(crate) xz_memory_limit: u64,
    pub(crate) priority: u32,
    pub(crate) private: bool,
    pub(crate) users: Option<Users>,
    pub(crate) signing_key: Option<SecretKey>,
    pub(crate) user_keys: std::collections::BTreeMap<String, SecretKey>,
    pub(crate) s3: Option<S3Location>,
    pub(crate) git: Option<PathBuf>,
    pub(crate) git_pack_every: u64,
}

impl Config {
    /// A cache kept in the directory `root` (created if missing), with the default settings.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            store_dir: StoreDir::default(),
            trusted_keys: TrustedKeys::default(),
            limits: Limits {
                // Verifying a git address holds a directory's entries until it ends: bound it.
                max_entries_per_directory: 1 << 18,
                ..Limits::default()
            },
            max_nar_size: 8 << 30,
            max_narinfo_size: 64 << 10,
            max_staged_bytes: 16 << 30,
            staging_ttl: Duration::from_secs(3600),
            max_requests: 64,
            max_verifications: 4,
            body_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(30),
            max_uploads: 16,
            max_connections: 1024,
            xz_memory_limit: 256 << 20,
            priority: 40,
            private: false,
            users: None,
            signing_key: None,
            user_keys: Default::default(),
            s3: None,
            git: None,
            git_pack_every: 100,
        }
    }

    /// The store directory paths must be in (default `/nix/store`); the cache's
    /// `nix-cache-info` announces it.
    pub fn store_dir(mut self, dir: StoreDir) -> Self {
        self.store_dir = dir;
        self
    }

    /// Trusts `key` (Nix's `name:base64` public key) to sign paths that carry no content
    /// address. Without any, such paths are refused.
    pub fn trust(mut self, key: PublicKey) -> Self {
        self.trusted_keys.insert(key);
        self
    }

    /// Signs every path the cache accepts with `key` (Nix's secret key format), so that a
    /// client trusting its public half substitutes with `require-sigs`. A signature by another
    /// key of the same name is replaced.
    pub fn sign_with(mut self, key: SecretKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Also signs every path `user` uploads with `key`, so that a reader can trust the paths
    /// some users uploaded and not others (a path is signed once, by whoever published it
    /// first).
    pub fn sign_for_user(mut self, user: impl Into<String>, key: SecretKey) -> Self {
        self.user_keys.insert(user.into(), key);
        self
    }

    /// Publishes into an S3 bucket instead of the directory (which then only holds uploads in
    /// flight and the lock); several services may share one bucket.
    pub fn s3(mut self, location: S3Location) -> Self {
        self.s3 = Some(location);
        self
    }

    /// Publishes into the bare git repository at `repo` instead of the directory (which then
    /// only holds uploads in flight and the lock): see [`git`](crate::git). Created if missing.
    pub fn git(mut self, repo: impl Into<PathBuf>) -> Self {
        self.git = Some(repo.into());
        self
    }

    /// With [`git`](Self::git): pack the repository after every `n` publications (default 100;
    /// 0 never).
    pub fn git_pack_every(mut self, n: u64) -> Self {
        self.git_pack_every = n;
        self
    }

    /// Bounds on each NAR's structure (depth, names, entries, content size).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The largest NAR accepted, in bytes, both as uploaded (compressed) and as unpacked
    /// (`NarSize`).
    pub fn max_nar_size(mut self, bytes: u64) -> Self {
        self.max_nar_size = bytes;
        self
    }

    /// The largest narinfo accepted, in bytes.
    pub fn max_narinfo_size(mut self, bytes: usize) -> Self {
        self.max_narinfo_size = bytes;
        self
    }

    /// How many bytes of NARs may wait (on disk) for their narinfo at once, counting uploads in
    /// flight; further NAR uploads are answered 507 until some are published or expire.
    pub fn max_staged_bytes(mut self, bytes: u64) -> Self {
        self.max_staged_bytes = bytes;
        self
    }

    /// How long an uploaded NAR waits for its narinfo before it is deleted.
    pub fn staging_ttl(mut self, ttl: Duration) -> Self {
        self.staging_ttl = ttl;
        self
    }

    /// How many uploads (PUTs) are received at once, whatever their route; more wait (up to the
    /// body timeout, then 503).
    pub fn max_uploads(mut self, n: usize) -> Self {
        self.max_uploads = n.max(1);
        self
    }

    /// How many connections are open at once; more are closed as they arrive.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The whole time an upload's body may take to arrive, from the request's start to its last
    /// byte, however steadily it trickles (408 after it).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a connection may take to send a request's headers before it is closed.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// How many requests are served at once, all routes together; more wait.
    pub fn max_requests(mut self, n: usize) -> Self {
        self.max_requests = n.max(1);
        self
    }

    /// How many narinfo uploads are verified at once (each reads its whole NAR back).
    pub fn max_verifications(mut self, n: usize) -> Self {
        self.max_verifications = n.max(1);
        self
    }

    /// How long an upload's body may stay silent before the request is refused (408).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The most memory the xz decoder of one NAR may use (the dictionary size the uploader
    /// chose); files that need more are refused.
    pub fn xz_memory_limit(mut self, bytes: u64) -> Self {
        self.xz_memory_limit = bytes;
        self
    }

    /// The `Priority` the cache announces in `nix-cache-info` (lower is preferred).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Who may upload: with users, every request but a GET or HEAD must authenticate as one of
    /// them (401 otherwise, before its body is read); without (the default), anyone may.
    pub fn users(mut self, users: Users) -> Self {
        self.users = Some(users);
        self
    }

    /// Whether reading needs credentials too (by default only uploads do, and only with
    /// [`users`](Self::users)); responses are then marked `Cache-Control: private`.
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// The directory objects are kept in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bounds on each NAR's structure.
    pub fn get_limits(&self) -> Limits {
        self.limits
    }

    /// The store directory.
    pub fn get_store_dir(&self) -> &StoreDir {
        &self.store_dir
    }
}
