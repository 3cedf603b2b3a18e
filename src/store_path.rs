//! Store paths: `/nix/store/<hash>-<name>`, and how Nix derives them from content addresses.
//!
//! This is Nix's `StorePath` (a 20-byte digest printed as 32 nix32 characters, and a name),
//! `StoreDirConfig::makeStorePath`, `makeFixedOutputPath`, `makeFixedOutputPathFromCA` and
//! `checkName`:
//!
//! * `makeStorePath(type, hash, name)` is the SHA-256 of
//!   `<type>:<algo>:<base16 hash>:<store dir>:<name>`, XOR-folded to 20 bytes (byte `i` of the
//!   digest goes into byte `i % 20`: Nix's `compressHash`).
//! * Text ([`ContentAddressMethod::Text`]): type `text`, followed by `:<path>` for each reference
//!   in order; the hash must be SHA-256 and a self-reference is impossible.
//! * NAR with SHA-256: type `source`, then `:<path>` per reference and `:self` for a
//!   self-reference; the hash is the NAR hash itself.
//! * Every other fixed output (flat, NAR with another algorithm, git): no references; type
//!   `output:out` over the SHA-256 of `fixed:out:<prefix><algo>:<base16 hash>:`.
//! * Names: 1 to 211 bytes of `A-Z a-z 0-9 + - . _ ? =`, not `.` or `..`, and not starting with
//!   `.-` or `..-`.
//!
//! Where Nix differs:
//!
//! * Git ingestion needs SHA-1 or SHA-256, as since Nix 2.31 (SHA-256 git store paths are
//!   checked against `nix store add --dry-run --mode git --hash-algo sha256` of Nix 2.34.8);
//!   Nix 2.26 up to 2.30 refuse SHA-256 ("Git file ingestion must use SHA-1 hash"). Git store
//!   paths also need Nix's `git-hashing` experimental feature. A store path computed for a tree
//!   nested 64 levels or more is one current Nix cannot add (see
//!   [NAR nesting](crate::limits#nar-nesting)).
//! * A base name must have `-` right after its 32-character hash. Nix only checks the length, so
//!   it takes `<hash>X<name>` as a store path named `<name>`; here that is an error rather than a
//!   path that prints back differently.
//! * [`StoreDir::parse_path`] takes exactly `<store dir>/<base name>`. Nix first canonicalises
//!   the path, so it also takes `/nix//store/<base name>/` and the like.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::content_address::ContentAddress;
//! use nix_ingest::store_path::{References, StoreDir};
//!
//! let store = StoreDir::default();
//! // `nix path-info --json` of `builtins.toFile "hello.txt" "hi\n"` (Nix 2.26.3).
//! let ca: ContentAddress = "text:sha256:1r3v22qkypccqifzbww5lrn6hf1chi23m6zzkyvb8bvg457nxslq".parse()?;
//! let path = store.make_path_from_ca("hello.txt", &ca, &References::default())?;
//! assert_eq!(store.display_path(&path), "/nix/store/0n8rj1cflhzhh0min74l7ml0ck57hkcc-hello.txt");
//!
//! let parsed = store.parse_path("/nix/store/0n8rj1cflhzhh0min74l7ml0ck57hkcc-hello.txt")?;
//! assert_eq!(parsed, path);
//! assert_eq!(parsed.name(), "hello.txt");
//! assert_eq!(parsed.hash_part(), "0n8rj1cflhzhh0min74l7ml0ck57hkcc");
//! # Ok(()) }
//! ```

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::content_address::{ContentAddress, ContentAddressMethod};
use data_encoding::HEXLOWER;
use sha2::{Digest as _, Sha256};

use crate::hash::{Algorithm, Format, Hash};
use crate::method::FileIngestionMethod;
use crate::nix32;

/// The longest store path name Nix accepts, in bytes.
pub const MAX_NAME_LEN: usize = 211;

/// The length of a store path's hash part: 20 bytes in nix32.
pub const HASH_PART_LEN: usize = 32;

/// The default store directory.
pub const DEFAULT_STORE_DIR: &str = "/nix/store";

/// Why a store path, store path name, store directory or content-addressed path is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorePathError {
    /// An empty name.
    #[error("store path name must not be empty")]
    EmptyName,
    /// A name longer than [`MAX_NAME_LEN`].
    #[error("store path name '{name}' is {len} bytes long; at most 211 are allowed")]
    NameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The name `.` or `..`.
    #[error("store path name '{name}' is not valid")]
    DotName {
        /// The name.
        name: String,
    },
    /// A name whose first dash-separated component is `.` or `..`.
    #[error(
        "store path name '{name}' is not valid: first dash-separated component must not be '{component}'"
    )]
    DotComponent {
        /// The name.
        name: String,
        /// `.` or `..`.
        component: &'static str,
    },
    /// A character outside `A-Z a-z 0-9 + - . _ ? =`.
    #[error("store path name '{name}' contains illegal character {character:?} at byte {index}")]
    IllegalCharacter {
        /// The name.
        name: String,
        /// The character.
        character: char,
        /// Its byte offset in the name.
        index: usize,
    },
    /// A base name too short to hold a hash, a dash and a name.
    #[error("'{base_name}' is too short to be a store path (expected <32-character hash>-<name>)")]
    TooShort {
        /// The base name.
        base_name: String,
    },
    /// A character outside the nix32 alphabet in the hash part.
    #[error(
        "store path '{base_name}' contains illegal nix32 character {character:?} at index {index}"
    )]
    IllegalHashCharacter {
        /// The base name.
        base_name: String,
        /// The character.
        character: char,
        /// Its byte offset in the base name.
        index: usize,
    },
    /// The character after the hash part is not `-`.
    #[error("store path '{base_name}' has {found:?} where '-' must follow the 32-character hash")]
    MissingDash {
        /// The base name.
        base_name: String,
        /// The character found instead.
        found: char,
    },
    /// A store path whose base name is invalid (the source says why).
    #[error("path {path:?} is not a valid store path")]
    InvalidPath {
        /// The whole path.
        path: String,
        /// What is wrong with it.
        #[source]
        source: Box<StorePathError>,
    },
    /// A path that is not directly inside the store directory.
    #[error("path '{path}' is not in the Nix store '{store_dir}'")]
    NotInStore {
        /// The path.
        path: String,
        /// The store directory.
        store_dir: String,
    },
    /// A store directory that is not a canonical absolute path.
    #[error("store directory '{dir}' is not valid: {reason}")]
    InvalidStoreDir {
        /// The directory.
        dir: String,
        /// Why.
        reason: &'static str,
    },
    /// Git ingestion with an algorithm other than SHA-1 or SHA-256.
    #[error("git file ingestion must use SHA-1 or SHA-256, not {algorithm}")]
    GitAlgorithm {
        /// The algorithm used.
        algorithm: Algorithm,
    },
    /// A text content address with an algorithm other than SHA-256.
    #[error("text hashing must use SHA-256, not {algorithm}")]
    TextAlgorithm {
        /// The algorithm used.
        algorithm: Algorithm,
    },
    /// A text content address with a self-reference.
    #[error("text store object '{name}' cannot refer to itself")]
    TextSelfReference {
        /// The store path name.
        name: String,
    },
    /// References on a fixed output other than NAR with SHA-256.
    #[error(
        "fixed-output store object '{name}' ({method}) cannot have references: only NAR hashing with SHA-256 allows them"
    )]
    FixedOutputReferences {
        /// The store path name.
        name: String,
        /// The content address method and algorithm, e.g. `fixed:r:sha1`.
        method: String,
    },
}

/// Checks a store path name as Nix's `checkName`, in Nix's order of checks.
///
/// ```
/// use nix_ingest::store_path::check_name;
/// assert!(check_name("hello-2.12.1").is_ok());
/// assert!(check_name(".foo").is_ok());
/// assert!(check_name("..").is_err());
/// assert!(check_name(".-foo").is_err());
/// assert!(check_name("foo bar").is_err());
/// ```
pub fn check_name(name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    // "." and "..", alone or as the first dash-separated component.
    let b = name.as_bytes();
    if b.first() == Some(&b'.') {
        let dot_name = || StorePathError::DotName {
            name: name.to_owned(),
        };
        let component = |component| StorePathError::DotComponent {
            name: name.to_owned(),
            component,
        };
        match (b.get(1), b.get(2)) {
            (None, _) => return Err(dot_name()),
            (Some(b'-'), _) => return Err(component(".")),
            (Some(b'.'), None) => return Err(dot_name()),
            (Some(b'.'), Some(b'-')) => return Err(component("..")),
            _ => {}
        }
    }
    if let Some((index, character)) = name.char_indices().find(|&(_, c)| !is_name_char(c)) {
        return Err(StorePathError::IllegalCharacter {
            name: name.to_owned(),
            character,
            index,
        });
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '?' | '=')
}

/// A store path without its directory: a 20-byte digest and a valid name.
///
/// `Display` prints the base name, `<nix32 digest>-<name>`. Paths order as Nix orders them (by
/// base name), which is the order references take in a store path's type string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StorePath {
    digest: [u8; 20],
    name: String,
}

impl StorePath {
    /// A store path from its digest and name; the name is checked as by [`check_name`].
    pub fn new(digest: [u8; 20], name: &str) -> Result<Self, StorePathError> {
        check_name(name)?;
        Ok(StorePath {
            digest,
            name: name.to_owned(),
        })
    }

    /// Parses a base name `<32 nix32 characters>-<name>`.
    ///
    /// ```
    /// use nix_ingest::store_path::StorePath;
    /// let p = StorePath::from_base_name("9662cgnnyvgqjpjfkbljw002r27yyg64-fixed").unwrap();
    /// assert_eq!(p.name(), "fixed");
    /// assert!(StorePath::from_base_name("9662cgnnyvgqjpjfkbljw002r27yyg6e-fixed").is_err());
    /// ```
    pub fn from_base_name(base_name: &str) -> Result<Self, StorePathError> {
        let bytes = base_name.as_bytes();
        if bytes.len() < HASH_PART_LEN + 1 {
            return Err(StorePathError::TooShort {
                base_name: base_name.to_owned(),
            });
        }
        if let Some((index, character)) = base_name
            .char_indices()
            .take_while(|&(i, _)| i < HASH_PART_LEN)
            .find(|&(_, c)| !c.is_ascii() || !nix32::ALPHABET.contains(&(c as u8)))
        {
            return Err(StorePathError::IllegalHashCharacter {
                base_name: base_name.to_owned(),
                character,
                index,
            });
        }
        // The first 32 bytes are ASCII now, so this split is on a char boundary.
        let (hash_part, rest) =
            base_name
                .split_at_checked(HASH_PART_LEN)
                .ok_or_else(|| StorePathError::TooShort {
                    base_name: base_name.to_owned(),
                })?;
        let name = match rest.strip_prefix('-') {
            Some(name) => name,
            None => {
                return Err(StorePathError::MissingDash {
                    base_name: base_name.to_owned(),
                    found: rest.chars().next().unwrap_or('\0'),
                });
            }
        };
        // 32 checked characters are exactly 160 bits: decoding cannot fail.
        let decoded =
            nix32::decode(hash_part).map_err(|e| StorePathError::IllegalHashCharacter {
                base_name: base_name.to_owned(),
                character: match e {
                    nix32::DecodeError::InvalidCharacter { byte, .. } => char::from(byte),
                    _ => '?',
                },
                index: match e {
                    nix32::DecodeError::InvalidCharacter { index, .. } => index,
                    _ => 0,
                },
            })?;
        let digest = <[u8; 20]>::try_from(decoded).map_err(|_| StorePathError::TooShort {
            base_name: base_name.to_owned(),
        })?;
        StorePath::new(digest, name)
    }

    /// The 20-byte digest.
    pub fn digest(&self) -> &[u8; 20] {
        &self.digest
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The digest in nix32: the 32 characters before the name.
    pub fn hash_part(&self) -> String {
        nix32::encode(&self.digest)
    }

    /// Whether the name ends in `.drv`.
    pub fn is_derivation(&self) -> bool {
        self.name.ends_with(".drv")
    }
}

impl Ord for StorePath {
    /// Orders by base name, as Nix does. Since nix32 prints the digest as a little-endian number
    /// from its most significant digit, with exactly 160 bits in 32 digits, comparing hash parts
    /// is comparing the digests' bytes from the last.
    fn cmp(&self, other: &Self) -> Ordering {
        self.digest
            .iter()
            .rev()
            .cmp(other.digest.iter().rev())
            .then_with(|| self.name.as_bytes().cmp(other.name.as_bytes()))
    }
}

impl PartialOrd for StorePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.hash_part(), self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({self})")
    }
}

impl FromStr for StorePath {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, StorePathError> {
        StorePath::from_base_name(s)
    }
}

/// What a store object refers to: other store paths, and perhaps itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct References {
    /// The other store paths referred to.
    pub others: BTreeSet<StorePath>,
    /// Whether the object refers to its own path.
    pub self_ref: bool,
}

impl References {
    /// No references.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no references at all.
    pub fn is_empty(&self) -> bool {
        self.others.is_empty() && !self.self_ref
    }
}

/// A store directory such as `/nix/store`: an absolute path in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir(DEFAULT_STORE_DIR.to_owned())
    }
}

impl StoreDir {
    /// A store directory; it must be absolute and canonical (no trailing `/`, no empty, `.` or
    /// `..` components, no NUL), and not `/` itself.
    ///
    /// ```
    /// use nix_ingest::store_path::StoreDir;
    /// assert!(StoreDir::new("/gnu/store").is_ok());
    /// assert!(StoreDir::new("/nix/store/").is_err());
    /// assert!(StoreDir::new("nix/store").is_err());
    /// ```
    pub fn new(dir: impl Into<String>) -> Result<Self, StorePathError> {
        let dir = dir.into();
        let reason = if !dir.starts_with('/') {
            Some("it must be an absolute path")
        } else if dir == "/" {
            Some("it must not be the root directory")
        } else if dir.ends_with('/') {
            Some("it must not end in '/'")
        } else if dir.contains('\0') {
            Some("it must not contain NUL")
        } else if dir
            .split('/')
            .skip(1)
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            Some("it must not have empty, '.' or '..' components")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StorePathError::InvalidStoreDir { dir, reason }),
            None => Ok(StoreDir(dir)),
        }
    }

    /// The store directory a setting names, canonicalised as Nix canonicalises its `store`
    /// setting and a store URL's `store=` parameter (`canonPath`): repeated and trailing `/` and
    /// `.` components dropped, `..` taking away the component before it. What remains must be a
    /// store directory ([`StoreDir::new`]). Every tool of this project reads `--store-dir`
    /// through this, so they agree on one spelling.
    ///
    /// ```
    /// use nix_ingest::store_path::StoreDir;
    /// assert_eq!(StoreDir::canonical("/gnu//store/")?.as_str(), "/gnu/store");
    /// assert_eq!(StoreDir::canonical("/nix/./var/../store")?.as_str(), "/nix/store");
    /// assert!(StoreDir::canonical("nix/store").is_err());
    /// assert!(StoreDir::canonical("/nix/..").is_err());
    /// # Ok::<(), nix_ingest::store_path::StorePathError>(())
    /// ```
    pub fn canonical(dir: &str) -> Result<Self, StorePathError> {
        if !dir.starts_with('/') {
            return StoreDir::new(dir);
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in dir.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                part => parts.push(part),
            }
        }
        if parts.is_empty() {
            return StoreDir::new("/");
        }
        StoreDir::new(parts.iter().fold(String::new(), |mut out, part| {
            out.push('/');
            out.push_str(part);
            out
        }))
    }

    /// The directory.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full path of `path` in this store, `<store dir>/<base name>`, as Nix's
    /// `printStorePath` (the inverse of [`parse_path`](StoreDir::parse_path)). A
    /// [`StorePath`] alone displays as its base name.
    ///
    /// ```
    /// use nix_ingest::{StoreDir, StorePath};
    /// let path: StorePath = "9662cgnnyvgqjpjfkbljw002r27yyg64-fixed".parse().unwrap();
    /// assert_eq!(
    ///     StoreDir::default().display_path(&path),
    ///     "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed"
    /// );
    /// ```
    pub fn display_path(&self, path: &StorePath) -> String {
        format!("{}/{}", self.0, path)
    }

    /// Parses a full store path `<store dir>/<base name>`.
    ///
    /// ```
    /// use nix_ingest::store_path::StoreDir;
    /// let store = StoreDir::default();
    /// let p = store.parse_path("/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed").unwrap();
    /// assert_eq!(p.to_string(), "9662cgnnyvgqjpjfkbljw002r27yyg64-fixed");
    /// assert!(store.parse_path("/gnu/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed").is_err());
    /// ```
    pub fn parse_path(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base_name = path
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|base| !base.is_empty() && !base.contains('/'))
            .ok_or_else(|| StorePathError::NotInStore {
                path: path.to_owned(),
                store_dir: self.0.clone(),
            })?;
        StorePath::from_base_name(base_name).map_err(|e| StorePathError::InvalidPath {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Nix's `makeStorePath`: the path whose digest is the SHA-256 of
    /// `<type>:<algo>:<base16 inner hash>:<store dir>:<name>`, XOR-folded to 20 bytes.
    ///
    /// ```
    /// use nix_ingest::hash::{Algorithm, Hash};
    /// use nix_ingest::store_path::StoreDir;
    /// let store = StoreDir::default();
    /// let inner = Hash::digest(Algorithm::Sha256, b"fixed:out:sha256:0000:");
    /// let p = store.make_store_path("output:out", &inner, "foo").unwrap();
    /// assert_eq!(p.name(), "foo");
    /// ```
    pub fn make_store_path(
        &self,
        type_: &str,
        inner_hash: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        check_name(name)?;
        let digest = self.store_path_digest(
            type_,
            inner_hash.algorithm(),
            &inner_hash.encode(Format::Base16),
            name,
        );
        StorePath::new(digest, name)
    }

    /// The SHA-256 of `<type>:<algo>:<hex>:<store dir>:<name>`, XOR-folded to 20 bytes (Nix's
    /// `compressHash`: byte `i` goes into byte `i % 20`).
    fn store_path_digest(
        &self,
        type_: &str,
        algorithm: Algorithm,
        hex: &str,
        name: &str,
    ) -> [u8; 20] {
        let full = sha256(&[
            type_,
            ":",
            algorithm.name(),
            ":",
            hex,
            ":",
            &self.0,
            ":",
            name,
        ]);
        compress(&full)
    }

    /// Nix's `makeFixedOutputPathFromCA`: the store path of a content-addressed object.
    ///
    /// Errors: git with an algorithm other than SHA-1 or SHA-256; text with an algorithm other
    /// than SHA-256, or with a self-reference; references on any fixed output other than NAR
    /// with SHA-256; an invalid name.
    pub fn make_path_from_ca(
        &self,
        name: &str,
        ca: &ContentAddress,
        references: &References,
    ) -> Result<StorePath, StorePathError> {
        check_name(name)?;
        let hash = ca.hash();
        let algorithm = hash.algorithm();
        match ca.method() {
            ContentAddressMethod::Text => {
                if algorithm != Algorithm::Sha256 {
                    return Err(StorePathError::TextAlgorithm { algorithm });
                }
                if references.self_ref {
                    return Err(StorePathError::TextSelfReference {
                        name: name.to_owned(),
                    });
                }
                let type_ = self.make_type("text", references);
                self.make_store_path(&type_, hash, name)
            }
            ContentAddressMethod::Fixed(method) => {
                if method == FileIngestionMethod::Git
                    && !matches!(algorithm, Algorithm::Sha1 | Algorithm::Sha256)
                {
                    return Err(StorePathError::GitAlgorithm { algorithm });
                }
                if method == FileIngestionMethod::Nar && algorithm == Algorithm::Sha256 {
                    let type_ = self.make_type("source", references);
                    return self.make_store_path(&type_, hash, name);
                }
                if !references.is_empty() {
                    return Err(StorePathError::FixedOutputReferences {
                        name: name.to_owned(),
                        method: ca.method().render_with_algo(algorithm),
                    });
                }
                let inner = sha256(&[
                    "fixed:out:",
                    method.prefix(),
                    algorithm.name(),
                    ":",
                    &hash.encode(Format::Base16),
                    ":",
                ]);
                let digest = self.store_path_digest(
                    "output:out",
                    Algorithm::Sha256,
                    &HEXLOWER.encode(&inner),
                    name,
                );
                StorePath::new(digest, name)
            }
        }
    }

    /// `type` followed by `:<store path>` for each reference in order, and `:self`.
    fn make_type(&self, type_: &str, references: &References) -> String {
        let mut s = type_.to_owned();
        for r in &references.others {
            s.push(':');
            s.push_str(&self.display_path(r));
        }
        if references.self_ref {
            s.push_str(":self");
        }
        s
    }
}

/// The SHA-256 of the concatenated `parts`.
fn sha256(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Nix's `compressHash` to 20 bytes: byte `i` is XORed into byte `i % 20`.
fn compress(hash: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in hash.iter().enumerate() {
        out[i % 20] ^= b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_as_nix_checks_them() {
        // `nix store add --dry-run --name NAME` in Nix 2.26.3.
        for ok in [
            ".foo",
            "...",
            "..foo",
            "-foo",
            "foo-",
            "foo-.-bar",
            "?=+_.",
            "a",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_name(&"a".repeat(211)), Ok(()));
        assert_eq!(check_name(""), Err(StorePathError::EmptyName));
        assert_eq!(
            check_name(&"a".repeat(212)),
            Err(StorePathError::NameTooLong {
                name: "a".repeat(212),
                len: 212
            })
        );
        for dot in [".", ".."] {
            assert_eq!(
                check_name(dot),
                Err(StorePathError::DotName { name: dot.into() })
            );
        }
        for (name, component) in [(".-", "."), (".-foo", "."), ("..-foo", "..")] {
            assert_eq!(
                check_name(name),
                Err(StorePathError::DotComponent {
                    name: name.into(),
                    component
                })
            );
        }
        for (name, character, index) in [
            ("foo bar", ' ', 3),
            ("foo/bar", '/', 3),
            ("é", 'é', 0),
            ("foo\\", '\\', 3),
            ("foo:bar", ':', 3),
            ("a@b", '@', 1),
            ("x~", '~', 1),
        ] {
            assert_eq!(
                check_name(name),
                Err(StorePathError::IllegalCharacter {
                    name: name.into(),
                    character,
                    index
                })
            );
        }
    }

    #[test]
    fn base_names_as_nix_parses_them() {
        let f = "f".repeat(32);
        assert!(StorePath::from_base_name(&format!("{f}-x")).is_ok());
        assert!(StorePath::from_base_name(&format!("{f}--")).is_ok());
        assert!(StorePath::from_base_name(&format!("{}-x", "z".repeat(32))).is_ok());
        assert_eq!(
            StorePath::from_base_name(&f),
            Err(StorePathError::TooShort {
                base_name: f.clone()
            })
        );
        assert_eq!(
            StorePath::from_base_name(&format!("{f}-")),
            Err(StorePathError::EmptyName)
        );
        assert!(matches!(
            StorePath::from_base_name(&format!("{}e-x", "f".repeat(31))),
            Err(StorePathError::IllegalHashCharacter {
                character: 'e',
                index: 31,
                ..
            })
        ));
        assert!(matches!(
            StorePath::from_base_name(&format!("{}Ff-x", "f".repeat(30))),
            Err(StorePathError::IllegalHashCharacter {
                character: 'F',
                index: 30,
                ..
            })
        ));
        // A multi-byte character inside the hash part must not split a char boundary.
        assert!(matches!(
            StorePath::from_base_name(&format!("{}é{}-x", "f".repeat(20), "f".repeat(10))),
            Err(StorePathError::IllegalHashCharacter {
                character: 'é',
                index: 20,
                ..
            })
        ));
        assert!(matches!(
            StorePath::from_base_name(&format!("{}éf-x", "f".repeat(31))),
            Err(StorePathError::IllegalHashCharacter {
                character: 'é',
                index: 31,
                ..
            })
        ));
        // Nix accepts this one (as a path named "x"); see the module documentation.
        assert_eq!(
            StorePath::from_base_name(&format!("{f}Xx")),
            Err(StorePathError::MissingDash {
                base_name: format!("{f}Xx"),
                found: 'X'
            })
        );
        assert!(matches!(
            StorePath::from_base_name(&format!("{f}éx")),
            Err(StorePathError::MissingDash { found: 'é', .. })
        ));
    }

    #[test]
    fn store_dirs() {
        for bad in [
            "",
            "nix/store",
            "/",
            "/nix/store/",
            "/nix//store",
            "/nix/./store",
            "/nix/../store",
            "/a\0b",
        ] {
            assert!(StoreDir::new(bad).is_err(), "{bad:?}");
        }
        let store = StoreDir::new("/gnu/store").unwrap();
        assert_eq!(store.as_str(), "/gnu/store");
        assert_eq!(StoreDir::default().as_str(), "/nix/store");
    }

    #[test]
    fn parse_path_is_strict() {
        let store = StoreDir::default();
        let f = "f".repeat(32);
        assert!(store.parse_path(&format!("/nix/store/{f}-x")).is_ok());
        for bad in [
            format!("/nix/store/{f}-x/"),
            format!("/nix/store/{f}-x/sub"),
            format!("/nix//store/{f}-x"),
            format!("/nix/storex/{f}-x"),
            format!("/other/{f}-x"),
            format!("nix/store/{f}-x"),
            "/nix/store".to_owned(),
            "/nix/store/".to_owned(),
        ] {
            assert!(
                matches!(
                    store.parse_path(&bad),
                    Err(StorePathError::NotInStore { .. })
                ),
                "{bad}"
            );
        }
        let err = store.parse_path(&format!("/nix/store/{f}-.")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("path \"/nix/store/{f}-.\" is not a valid store path")
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("store path name '.' is not valid"));
    }

    #[test]
    fn compress_folds_as_nix() {
        // Nix's compressHash: byte i goes into byte i % 20.
        let bytes: Vec<u8> = (0u8..32).collect();
        let mut expected = [0u8; 20];
        for i in 0..32u8 {
            expected[usize::from(i) % 20] ^= i;
        }
        assert_eq!(compress(&bytes), expected);
    }

    #[test]
    fn errors_for_impossible_content_addresses() {
        let store = StoreDir::default();
        let none = References::default();
        let one = References {
            others: [
                StorePath::from_base_name("0n8rj1cflhzhh0min74l7ml0ck57hkcc-hello.txt").unwrap(),
            ]
            .into_iter()
            .collect(),
            self_ref: false,
        };
        let me = References {
            others: BTreeSet::new(),
            self_ref: true,
        };
        for algorithm in [Algorithm::Md5, Algorithm::Sha512] {
            let ca = ContentAddress::fixed(FileIngestionMethod::Git, Hash::digest(algorithm, b""));
            assert_eq!(
                store.make_path_from_ca("x", &ca, &none),
                Err(StorePathError::GitAlgorithm { algorithm })
            );
        }
        let text = ContentAddress::text(Hash::digest(Algorithm::Sha1, b""));
        assert_eq!(
            store.make_path_from_ca("x", &text, &none),
            Err(StorePathError::TextAlgorithm {
                algorithm: Algorithm::Sha1
            })
        );
        let text = ContentAddress::text(Hash::digest(Algorithm::Sha256, b""));
        assert!(store.make_path_from_ca("x", &text, &one).is_ok());
        assert_eq!(
            store.make_path_from_ca("x", &text, &me),
            Err(StorePathError::TextSelfReference { name: "x".into() })
        );
        for (method, algorithm) in [
            (FileIngestionMethod::Flat, Algorithm::Sha256),
            (FileIngestionMethod::Nar, Algorithm::Sha1),
            (FileIngestionMethod::Git, Algorithm::Sha1),
            (FileIngestionMethod::Git, Algorithm::Sha256),
        ] {
            let ca = ContentAddress::fixed(method, Hash::digest(algorithm, b""));
            assert!(store.make_path_from_ca("x", &ca, &none).is_ok());
            for refs in [&one, &me] {
                assert!(matches!(
                    store.make_path_from_ca("x", &ca, refs),
                    Err(StorePathError::FixedOutputReferences { .. })
                ));
            }
        }
        let nar = ContentAddress::fixed(
            FileIngestionMethod::Nar,
            Hash::digest(Algorithm::Sha256, b""),
        );
        assert!(store.make_path_from_ca("x", &nar, &one).is_ok());
        assert!(store.make_path_from_ca("x", &nar, &me).is_ok());
        assert!(matches!(
            store.make_path_from_ca("a b", &nar, &none),
            Err(StorePathError::IllegalCharacter { .. })
        ));
    }

    fn any_store_path() -> impl Strategy<Value = StorePath> {
        (any::<[u8; 20]>(), "[a-zA-Z0-9+._?=-]{1,40}")
            .prop_filter_map("valid name", |(d, n)| StorePath::new(d, &n).ok())
    }

    proptest! {
        #[test]
        fn base_name_round_trips(p in any_store_path()) {
            let s = p.to_string();
            prop_assert_eq!(&s[..32], p.hash_part());
            prop_assert_eq!(StorePath::from_base_name(&s), Ok(p.clone()));
            let store = StoreDir::default();
            prop_assert_eq!(store.parse_path(&store.display_path(&p)), Ok(p));
        }

        #[test]
        fn order_is_base_name_order(a in any_store_path(), b in any_store_path()) {
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
            let _ = StorePath::from_base_name(&s);
            let _ = StoreDir::default().parse_path(&s);
            let _ = StoreDir::default().parse_path(&format!("/nix/store/{s}"));
            let _ = check_name(&s);
            let _ = StoreDir::new(s);
        }
    }
}
