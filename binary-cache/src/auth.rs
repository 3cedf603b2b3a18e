//! Who may upload (and, for a private cache, read): the users of an auth file.
//!
//! The file (`--auth-file`) has one `user:password` a line; blank lines and lines starting with
//! `#` are skipped. The password is either an Argon2 hash in the PHC format (what
//! `nix-ingest-binary-cache hash-password` or the reference `argon2 SALT -id -e` print, starting
//! with `$argon2`) — the recommended form, so that the file does not hold the secret — or, for
//! anything else, the password in plain text. User names may not contain `:`.
//!
//! A request authenticates with HTTP Basic (what Nix sends for a `netrc-file` entry) or with
//! `Authorization: Bearer USER:PASSWORD`. A hash is checked once per credentials; later requests
//! with the same ones are recognised from a SHA-256 kept in memory, so a `nix copy` of many paths
//! costs one Argon2 computation. Checks of new credentials run two at a time, off the async
//! threads, so failed guesses cannot take the service's CPU.
//!
//! ```
//! use nix_ingest_binary_cache::auth::Users;
//!
//! let users: Users = "# uploaders\nalice:correct horse\n\
//!     bob:$argon2id$v=19$m=4096,t=2,p=1$bml4LWluZ2VzdC1zYWx0$vpvpfLXHjxO3duqD5YWOMny85eGj9SMu1wPCPkmT398\n"
//!     .parse()
//!     .unwrap();
//! assert_eq!(users.names().collect::<Vec<_>>(), ["alice", "bob"]);
//! assert!("alice".parse::<Users>().is_err()); // no password
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::PasswordHash;
use axum::http::{HeaderMap, header};
use data_encoding::BASE64;
use nix_ingest::hash::{Algorithm, Hash};
use tokio::sync::Semaphore;

/// The user a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User(pub String);

/// How many credentials recognised without rehashing are kept before the memory is cleared.
const REMEMBERED: usize = 4096;

/// A line of an auth file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

#[derive(Clone)]
enum Secret {
    Plain(String),
    Hashed(String),
}

/// The users of an auth file (see the [module docs](self)).
#[derive(Clone)]
pub struct Users {
    users: BTreeMap<String, Secret>,
    remembered: Arc<Mutex<HashSet<Hash>>>,
    hashing: Arc<Semaphore>,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: never a password or a hash.
        f.debug_struct("Users")
            .field("names", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FromStr for Users {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let mut users = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let problem = |problem: String| ParseError {
                line: line_no,
                problem,
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, password) = line
                .split_once(':')
                .ok_or_else(|| problem("not of the form user:password".into()))?;
            if name.is_empty() || password.is_empty() {
                return Err(problem("an empty user name or password".into()));
            }
            let secret = if password.starts_with("$argon2") {
                let hash = PasswordHash::new(password)
                    .map_err(|e| problem(format!("not an Argon2 hash in the PHC format: {e}")))?;
                if argon2::Algorithm::try_from(hash.algorithm).is_err()
                    || argon2::Params::try_from(&hash).is_err()
                    || hash.salt.is_none()
                    || hash.hash.is_none()
                {
                    return Err(problem(
                        "not an Argon2 hash in the PHC format ($argon2id$v=19$m=…,t=…,p=…$salt$hash)"
                            .into(),
                    ));
                }
                Secret::Hashed(password.to_owned())
            } else {
                Secret::Plain(password.to_owned())
            };
            if users.insert(name.to_owned(), secret).is_some() {
                return Err(problem(format!(
                    "user {:?} is already given above",
                    crate::escape::Escaped(name).to_string()
                )));
            }
        }
        Ok(Users {
            users,
            remembered: Arc::default(),
            hashing: Arc::new(Semaphore::new(2)),
        })
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The user it claimed to be, if it claimed one.
    pub user: Option<String>,
    /// What was wrong.
    pub reason: &'static str,
}

impl Users {
    /// Reads an auth file.
    pub fn load(path: &std::path::Path) -> Result<Users, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
        text.parse()
            .map_err(|e| format!("auth file {}: {e}", path.display()))
    }

    /// The user names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// The user whose credentials `headers` carry (`Authorization: Basic …` or `Bearer
    /// USER:PASSWORD`).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<User, Denied> {
        let denied = |user: Option<&str>, reason| Denied {
            user: user.map(str::to_owned),
            reason,
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(denied(None, "no credentials"));
        };
        let value = value
            .to_str()
            .map_err(|_| denied(None, "unreadable Authorization header"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let pair = if scheme.eq_ignore_ascii_case("basic") {
            let bytes = BASE64
                .decode(rest.trim().as_bytes())
                .map_err(|_| denied(None, "Basic credentials are not base64"))?;
            String::from_utf8(bytes).map_err(|_| denied(None, "Basic credentials are not UTF-8"))?
        } else if scheme.eq_ignore_ascii_case("bearer") {
            rest.trim().to_owned()
        } else {
            return Err(denied(None, "neither Basic nor Bearer credentials"));
        };
        let (name, password) = pair
            .split_once(':')
            .ok_or_else(|| denied(None, "credentials are not user:password"))?;
        let Some(secret) = self.users.get(name) else {
            return Err(denied(Some(name), "no such user"));
        };
        let key = Hash::digest(Algorithm::Sha256, format!("{name}\0{password}").as_bytes());
        if self.remembered().contains(&key) {
            return Ok(User(name.to_owned()));
        }
        let good = match secret {
            // Compared as digests: no early exit on the first differing byte of the password.
            Secret::Plain(expected) => {
                Hash::digest(Algorithm::Sha256, expected.as_bytes())
                    == Hash::digest(Algorithm::Sha256, password.as_bytes())
            }
            Secret::Hashed(phc) => {
                let _permit = self
                    .hashing
                    .acquire()
                    .await
                    .map_err(|_| denied(Some(name), "shutting down"))?;
                let (phc, password) = (phc.clone(), password.to_owned());
                tokio::task::spawn_blocking(move || {
                    use argon2::PasswordVerifier;
                    PasswordHash::new(&phc).is_ok_and(|hash| {
                        argon2::Argon2::default()
                            .verify_password(password.as_bytes(), &hash)
                            .is_ok()
                    })
                })
                .await
                .unwrap_or(false)
            }
        };
        if !good {
            return Err(denied(Some(name), "wrong password"));
        }
        let mut remembered = self.remembered();
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key);
        Ok(User(name.to_owned()))
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashSet<Hash>> {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An Argon2id hash of `password` in the PHC format, with a random salt and the crate's default
/// parameters, for an auth file.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}
