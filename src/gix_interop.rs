//! Conversions between this crate's [`Hash`](struct@Hash) and gitoxide's [`gix_hash::ObjectId`] (feature
//! `gix-hash`, also part of feature `gix`).
//!
//! A git object id is the git ingestion method's digest: what
//! [`GitHasher`](crate::git::GitHasher) computes and what `nix hash path --mode git` prints. Git
//! names objects with SHA-1 or SHA-256 only, so only those convert; an MD5 or SHA-512 [`Hash`](struct@Hash)
//! (which Nix can compute in git mode, though no repository can hold it) gives
//! [`ConversionError::UnsupportedAlgorithm`]. [`Algorithm`] and [`gix_hash::Kind`] convert the same way.
//!
//! ```
//! use gix_hash::ObjectId;
//! use nix_ingest::hash::{Algorithm, Hash};
//!
//! // `nix hash path --mode git --algo sha1` of an empty file: git's empty blob.
//! let hash = Hash::parse("sha1-5p3im7LR1kNLiymud1rYwuSMU5E=")?;
//! let id = ObjectId::try_from(hash)?;
//! assert_eq!(id, ObjectId::empty_blob(gix_hash::Kind::Sha1));
//! assert_eq!(Hash::try_from(id)?, hash);
//!
//! let md5 = Hash::digest(Algorithm::Md5, b"");
//! assert!(ObjectId::try_from(md5).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Both directions are `TryFrom`: gitoxide's `ObjectId` and `Kind` are `#[non_exhaustive]`, so a
//! later gitoxide may add object formats this crate does not know, and those are an error
//! ([`ConversionError::UnsupportedKind`]) rather than a panic.

use gix_hash::{Kind, ObjectId, oid};

use crate::hash::{Algorithm, Hash};

/// Why a hash and a git object id could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// Git object ids are SHA-1 or SHA-256.
    #[error("a {0} hash is not a git object id: git uses sha1 or sha256")]
    UnsupportedAlgorithm(Algorithm),
    /// A gitoxide object format other than SHA-1 and SHA-256 (named as gitoxide prints it).
    #[error("git object format '{0}' is not supported: only sha1 and sha256 are")]
    UnsupportedKind(String),
    /// The digest's length does not fit its algorithm (cannot happen with the types' own
    /// constructors; kept so that no conversion can panic).
    #[error("a {algorithm} digest must be {} bytes, got {got}", .algorithm.len())]
    WrongLength {
        /// The algorithm.
        algorithm: Algorithm,
        /// The length found.
        got: usize,
    },
}

impl TryFrom<Algorithm> for Kind {
    type Error = ConversionError;

    /// [`Algorithm::Sha1`] and [`Algorithm::Sha256`]; any other is an error.
    fn try_from(algorithm: Algorithm) -> Result<Kind, ConversionError> {
        match algorithm {
            Algorithm::Sha1 => Ok(Kind::Sha1),
            Algorithm::Sha256 => Ok(Kind::Sha256),
            other => Err(ConversionError::UnsupportedAlgorithm(other)),
        }
    }
}

impl TryFrom<Kind> for Algorithm {
    type Error = ConversionError;

    /// [`Kind::Sha1`] and [`Kind::Sha256`]; a kind added by a later gitoxide is an error.
    fn try_from(kind: Kind) -> Result<Algorithm, ConversionError> {
        match kind {
            Kind::Sha1 => Ok(Algorithm::Sha1),
            Kind::Sha256 => Ok(Algorithm::Sha256),
            other => Err(ConversionError::UnsupportedKind(other.to_string())),
        }
    }
}

impl TryFrom<&Hash> for ObjectId {
    type Error = ConversionError;

    /// The object id with the same digest; SHA-1 and SHA-256 only.
    fn try_from(hash: &Hash) -> Result<ObjectId, ConversionError> {
        let bytes = hash.as_bytes();
        let wrong_length = || ConversionError::WrongLength {
            algorithm: hash.algorithm(),
            got: bytes.len(),
        };
        match hash.algorithm() {
            Algorithm::Sha1 => <[u8; 20]>::try_from(bytes)
                .map(ObjectId::from)
                .map_err(|_| wrong_length()),
            Algorithm::Sha256 => <[u8; 32]>::try_from(bytes)
                .map(ObjectId::from)
                .map_err(|_| wrong_length()),
            other => Err(ConversionError::UnsupportedAlgorithm(other)),
        }
    }
}

impl TryFrom<Hash> for ObjectId {
    type Error = ConversionError;

    /// As for `&Hash`.
    fn try_from(hash: Hash) -> Result<ObjectId, ConversionError> {
        ObjectId::try_from(&hash)
    }
}

impl TryFrom<&oid> for Hash {
    type Error = ConversionError;

    /// The SHA-1 or SHA-256 hash with the same digest.
    fn try_from(id: &oid) -> Result<Hash, ConversionError> {
        let algorithm = Algorithm::try_from(id.kind())?;
        let bytes = id.as_bytes();
        Hash::from_bytes(algorithm, bytes).map_err(|_| ConversionError::WrongLength {
            algorithm,
            got: bytes.len(),
        })
    }
}

impl TryFrom<&ObjectId> for Hash {
    type Error = ConversionError;

    /// As for `&oid`.
    fn try_from(id: &ObjectId) -> Result<Hash, ConversionError> {
        Hash::try_from(id.as_ref())
    }
}

impl TryFrom<ObjectId> for Hash {
    type Error = ConversionError;

    /// As for `&oid`.
    fn try_from(id: ObjectId) -> Result<Hash, ConversionError> {
        Hash::try_from(id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_objects_agree_with_nix_and_git() {
        // `nix hash path --mode git --algo A --format base16` of an empty file and of an empty
        // directory (Nix 2.26.3; tests/data/store_paths.txt and tests/data/restore/oracle.txt),
        // against gitoxide's own constants.
        let cases = [
            (
                "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
                Algorithm::Sha1,
                ObjectId::empty_blob(Kind::Sha1),
            ),
            (
                "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813",
                Algorithm::Sha256,
                ObjectId::empty_blob(Kind::Sha256),
            ),
            (
                "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                Algorithm::Sha1,
                ObjectId::empty_tree(Kind::Sha1),
            ),
            (
                "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
                Algorithm::Sha256,
                ObjectId::empty_tree(Kind::Sha256),
            ),
        ];
        for (hex, algorithm, id) in cases {
            let hash = Hash::parse_unprefixed(hex, algorithm).unwrap();
            assert_eq!(ObjectId::try_from(&hash).unwrap(), id, "{hex}");
            assert_eq!(Hash::try_from(&id).unwrap(), hash, "{hex}");
            assert_eq!(Hash::try_from(id.as_ref()).unwrap(), hash, "{hex}");
            assert_eq!(id.to_string(), hex);
        }
    }

    #[test]
    fn other_algorithms_are_errors() {
        for algorithm in [Algorithm::Md5, Algorithm::Sha512] {
            let hash = Hash::digest(algorithm, b"");
            assert_eq!(
                ObjectId::try_from(hash),
                Err(ConversionError::UnsupportedAlgorithm(algorithm))
            );
            assert_eq!(
                Kind::try_from(algorithm),
                Err(ConversionError::UnsupportedAlgorithm(algorithm))
            );
        }
        assert_eq!(
            ObjectId::try_from(Hash::digest(Algorithm::Md5, b""))
                .unwrap_err()
                .to_string(),
            "a md5 hash is not a git object id: git uses sha1 or sha256"
        );
    }

    #[test]
    fn kinds_and_algorithms() {
        for (kind, algorithm) in [
            (Kind::Sha1, Algorithm::Sha1),
            (Kind::Sha256, Algorithm::Sha256),
        ] {
            assert_eq!(Algorithm::try_from(kind), Ok(algorithm));
            assert_eq!(Kind::try_from(algorithm), Ok(kind));
            assert_eq!(kind.len_in_bytes(), algorithm.len());
        }
    }

    proptest! {
        #[test]
        fn round_trips(sha256 in any::<bool>(), bytes in prop::collection::vec(any::<u8>(), 32)) {
            let algorithm = if sha256 { Algorithm::Sha256 } else { Algorithm::Sha1 };
            let hash = Hash::from_bytes(algorithm, &bytes[..algorithm.len()]).unwrap();
            let id = ObjectId::try_from(hash).unwrap();
            prop_assert_eq!(id.as_slice(), hash.as_bytes());
            prop_assert_eq!(Algorithm::try_from(id.kind()), Ok(algorithm));
            prop_assert_eq!(Hash::try_from(id), Ok(hash));
        }
    }
}
