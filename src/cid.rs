//! IPFS content identifiers (CIDs) for git objects.
//!
//! A git object's id already is a content address, and IPFS can name the very same object with a
//! [CIDv1](https://github.com/multiformats/cid) whose codec is **git-raw** (multicodec `0x78`)
//! and whose multihash is the git id itself: `sha1` (`0x11`, 20 bytes) for SHA-1 repositories,
//! `sha2-256` (`0x12`, 32 bytes) for SHA-256 ones. Nix has no such notion; this lets a store
//! object hashed with `--mode git` be announced to, or fetched from, IPFS without re-hashing.
//!
//! The binary CID is `<version 1><codec 0x78><hash code><digest length><digest>` (each number an
//! unsigned varint; all of them fit one byte here), printed in multibase base32 (lower case, no
//! padding, prefix `b`), the default of CIDv1.
//!
//! ```
//! use nix_ingest::cid::{git_raw_cid, parse_git_raw_cid};
//! use nix_ingest::hash::{Algorithm, Hash};
//!
//! let id = Hash::parse_unprefixed("95296e419bcf7a7e84efe1396925ac55ee22b1f2", Algorithm::Sha1)?;
//! let cid = git_raw_cid(&id)?;
//! assert_eq!(cid, "baf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q");
//! assert_eq!(parse_git_raw_cid(&cid)?, id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use data_encoding::BASE32_NOPAD;

use crate::hash::{Algorithm, Hash};

/// The CID version written (CIDv1).
pub const CID_VERSION: u8 = 0x01;
/// The multicodec code of a raw git object (`git-raw`).
pub const GIT_RAW_CODEC: u8 = 0x78;
/// The multihash code of SHA-1.
pub const MULTIHASH_SHA1: u8 = 0x11;
/// The multihash code of SHA2-256.
pub const MULTIHASH_SHA2_256: u8 = 0x12;

/// Why a CID could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// Git objects are named by SHA-1 or SHA-256 only.
    #[error("no git-raw CID for a {0} hash: git object ids are sha1 or sha256")]
    UnsupportedAlgorithm(Algorithm),
    /// The text is not multibase base32 (prefix `b`, lower case, no padding).
    #[error("CID '{0}' is not multibase base32 (expected a 'b' prefix and lower-case base32)")]
    NotBase32(String),
    /// The CID decodes, but not to a CIDv1 git-raw sha1/sha2-256 CID of the right length.
    #[error("CID '{cid}' is not a git-raw CIDv1 with a sha1 or sha2-256 multihash: {reason}")]
    NotGitRaw {
        /// The CID text.
        cid: String,
        /// What part did not match.
        reason: &'static str,
    },
}

/// The binary CIDv1 (git-raw codec) of the git object `id`.
pub fn git_raw_cid_bytes(id: &Hash) -> Result<Vec<u8>, CidError> {
    let code = match id.algorithm() {
        Algorithm::Sha1 => MULTIHASH_SHA1,
        Algorithm::Sha256 => MULTIHASH_SHA2_256,
        other => return Err(CidError::UnsupportedAlgorithm(other)),
    };
    let digest = id.as_bytes();
    // Digest lengths (20, 32) are below 0x80, so each varint is the single byte itself.
    let len =
        u8::try_from(digest.len()).map_err(|_| CidError::UnsupportedAlgorithm(id.algorithm()))?;
    let mut out = Vec::with_capacity(4 + digest.len());
    out.extend_from_slice(&[CID_VERSION, GIT_RAW_CODEC, code, len]);
    out.extend_from_slice(digest);
    Ok(out)
}

/// The CIDv1 (git-raw codec, multibase base32) naming the git object `id`, as IPFS prints it.
///
/// `id` must be a SHA-1 or SHA-256 git object id (a blob or tree id from
/// [`GitHasher`](crate::git::GitHasher)); other algorithms give [`CidError::UnsupportedAlgorithm`].
pub fn git_raw_cid(id: &Hash) -> Result<String, CidError> {
    let bytes = git_raw_cid_bytes(id)?;
    let mut text = String::with_capacity(1 + BASE32_NOPAD.encode_len(bytes.len()));
    text.push('b');
    text.push_str(&BASE32_NOPAD.encode(&bytes).to_ascii_lowercase());
    Ok(text)
}

/// The git object id named by a git-raw CIDv1 in multibase base32 (the inverse of
/// [`git_raw_cid`]).
pub fn parse_git_raw_cid(cid: &str) -> Result<Hash, CidError> {
    let not_base32 = || CidError::NotBase32(cid.to_owned());
    let body = cid.strip_prefix('b').ok_or_else(not_base32)?;
    if body.bytes().any(|c| c.is_ascii_uppercase()) {
        return Err(not_base32());
    }
    let bytes = BASE32_NOPAD
        .decode(body.to_ascii_uppercase().as_bytes())
        .map_err(|_| not_base32())?;
    let bad = |reason| CidError::NotGitRaw {
        cid: cid.to_owned(),
        reason,
    };
    let (header, digest) = bytes.split_at_checked(4).ok_or_else(|| bad("too short"))?;
    let [version, codec, code, len] = *header else {
        return Err(bad("too short"));
    };
    if version != CID_VERSION {
        return Err(bad("not CID version 1"));
    }
    if codec != GIT_RAW_CODEC {
        return Err(bad("codec is not git-raw (0x78)"));
    }
    let algorithm = match code {
        MULTIHASH_SHA1 => Algorithm::Sha1,
        MULTIHASH_SHA2_256 => Algorithm::Sha256,
        _ => return Err(bad("multihash is neither sha1 (0x11) nor sha2-256 (0x12)")),
    };
    if usize::from(len) != algorithm.len() || digest.len() != algorithm.len() {
        return Err(bad("digest length does not match its hash function"));
    }
    Hash::from_bytes(algorithm, digest).map_err(|_| bad("digest length does not match"))
}
