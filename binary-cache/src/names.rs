//! The names a binary cache holds, checked strictly: anything else in a URL is refused before a
//! file name is ever made from it (no `..`, no `/`, no percent-encoded surprises, one spelling
//! per object).

use nix_ingest::hash::{Algorithm, Format, Hash};
pub use nix_ingest::narinfo::Compression;
use nix_ingest::nix32;
use nix_ingest::store_path::HASH_PART_LEN;

/// Length of a SHA-256 digest in nix32.
const SHA256_NIX32_LEN: usize = nix32::encoded_len(Algorithm::Sha256.len());

/// The compressions this cache can decompress (to verify a NAR file): the ones Nix writes by
/// default (`xz`) or on request.
pub const SUPPORTED: [Compression; 4] = [
    Compression::None,
    Compression::Xz,
    Compression::Bzip2,
    Compression::Zstd,
];

/// Whether this cache can decompress NAR files compressed with `compression`.
pub fn supported(compression: &Compression) -> bool {
    SUPPORTED.contains(compression)
}

/// Why a name in a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not `<32 nix32 characters>.narinfo`.
    #[error("{0:?} is not a narinfo name (<32 nix32 characters>.narinfo)")]
    Narinfo(String),
    /// Not `<52 nix32 characters>.nar[.xz|.bz2|.zst]`.
    #[error("{0:?} is not a NAR file name (<sha256 in nix32>.nar[.xz|.bz2|.zst])")]
    Nar(String),
}

fn is_nix32(s: &str) -> bool {
    s.bytes().all(|b| nix32::ALPHABET.contains(&b))
}

/// The store path hash part a `<hash>.narinfo` name is for.
pub fn narinfo_hash_part(name: &str) -> Result<&str, NameError> {
    match name.strip_suffix(".narinfo") {
        Some(hash) if hash.len() == HASH_PART_LEN && is_nix32(hash) => Ok(hash),
        _ => Err(NameError::Narinfo(name.to_owned())),
    }
}

/// A NAR file of the cache, `nar/<file hash>.nar<extension>`, named as Nix names it: by the
/// SHA-256 of its (compressed) bytes, in nix32.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NarFile {
    file_hash: Hash,
    compression: Compression,
}

impl NarFile {
    /// The file Nix makes for bytes with SHA-256 `file_hash`, compressed with `compression`;
    /// `None` for another hash or a compression this cache does not [support](supported).
    pub fn new(file_hash: Hash, compression: Compression) -> Option<Self> {
        (file_hash.algorithm() == Algorithm::Sha256 && supported(&compression)).then_some(NarFile {
            file_hash,
            compression,
        })
    }

    /// Parses a file name such as `1b8m…0a8z.nar.xz`; refuses every other spelling.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let bad = || NameError::Nar(name.to_owned());
        let (hash, rest) = name.split_at_checked(SHA256_NIX32_LEN).ok_or_else(bad)?;
        if !is_nix32(hash) {
            return Err(bad());
        }
        let compression = SUPPORTED
            .into_iter()
            .find(|c| rest.strip_prefix(".nar") == Some(c.extension()))
            .ok_or_else(bad)?;
        let file_hash = Hash::parse_unprefixed(hash, Algorithm::Sha256).map_err(|_| bad())?;
        // 52 nix32 digits hold 260 bits: the spelling must be the one Nix prints.
        if file_hash.encode(Format::Nix32) != hash {
            return Err(bad());
        }
        Ok(NarFile {
            file_hash,
            compression,
        })
    }

    /// The SHA-256 of the file's bytes.
    pub fn file_hash(&self) -> &Hash {
        &self.file_hash
    }

    /// How the NAR in it is compressed (one this cache [supports](supported)).
    pub fn compression(&self) -> &Compression {
        &self.compression
    }

    /// The file name, `<file hash>.nar<extension>`.
    pub fn file_name(&self) -> String {
        format!(
            "{}.nar{}",
            self.file_hash.encode(Format::Nix32),
            self.compression.extension()
        )
    }

    /// The URL a narinfo names it by, `nar/<file name>`.
    pub fn url(&self) -> String {
        format!("nar/{}", self.file_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> String {
        Hash::digest(Algorithm::Sha256, b"some NAR").encode(Format::Nix32)
    }

    #[test]
    fn nar_names_round_trip_for_every_compression() {
        for c in SUPPORTED {
            let name = format!("{}.nar{}", name(), c.extension());
            let file = NarFile::parse(&name).unwrap();
            assert_eq!(file.compression(), &c);
            assert_eq!(file.file_name(), name);
            assert_eq!(file.url(), format!("nar/{name}"));
            assert_eq!(c.name().parse::<Compression>(), Ok(c.clone()));
            assert!(supported(&c));
        }
    }

    #[test]
    fn odd_nar_names_are_refused() {
        let name = name();
        // 52 nix32 digits hold 260 bits; the first digit carries the top one, so only 0 and 1
        // start a SHA-256.
        assert!(name.starts_with(['0', '1']));
        for name in [
            "",
            "..",
            "../x.nar",
            &format!("{name}.nar.gz"),
            &format!("{name}.nar.xz/"),
            &format!("{name}.narinfo"),
            &format!("{name}.nar.xz.xz"),
            &format!("{}.nar", &name[1..]),
            &format!("{name}0.nar"),
            &format!("{}e.nar", &name[1..]),
            &format!("{}.nar", name.to_uppercase()),
            &format!("z{}.nar", &name[1..]),
            "nar",
            "ü.nar",
        ] {
            assert!(NarFile::parse(name).is_err(), "{name:?} accepted");
        }
    }

    #[test]
    fn narinfo_names() {
        let hash = "9662cgnnyvgqjpjfkbljw002r27yyg64";
        assert_eq!(narinfo_hash_part(&format!("{hash}.narinfo")), Ok(hash));
        for name in [
            "nix-cache-info",
            ".narinfo",
            &format!("{hash}.narinfo.tmp"),
            &format!("{}.narinfo", &hash[1..]),
            &format!("{hash}e.narinfo"),
            &format!("../{}.narinfo", &hash[3..]),
        ] {
            assert!(narinfo_hash_part(name).is_err(), "{name:?} accepted");
        }
    }
}
