//! The names a binary cache holds, checked strictly: anything else in a URL is refused before a
//! file name is ever made from it (no `..`, no `/`, no percent-encoded surprises, one spelling
//! per object).

use std::fmt;

use nix_ingest::hash::{Algorithm, Format, Hash};

/// Nix's base-32 alphabet (no `e`, `o`, `u`, `t`).
const NIX32: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of a store path's hash part in nix32 (160 bits).
const HASH_PART_LEN: usize = 32;

/// Length of a SHA-256 digest in nix32.
const SHA256_NIX32_LEN: usize = 52;

/// How a NAR file is compressed: the ones Nix writes by default (`xz`) or on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `compression=none`: the NAR itself.
    None,
    /// `xz`, Nix's default.
    Xz,
    /// `bzip2`, the default of old caches.
    Bzip2,
    /// `zstd`.
    Zstd,
}

impl Compression {
    /// Every supported compression.
    pub const ALL: [Compression; 4] = [
        Compression::None,
        Compression::Xz,
        Compression::Bzip2,
        Compression::Zstd,
    ];

    /// The name a narinfo's `Compression:` field uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
        }
    }

    /// The suffix Nix appends to `.nar` in the file name.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Xz => ".xz",
            Compression::Bzip2 => ".bz2",
            Compression::Zstd => ".zst",
        }
    }

    /// The compression a narinfo's `Compression:` field names, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
    s.bytes().all(|b| NIX32.contains(&b))
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
    /// The file Nix makes for bytes with SHA-256 `file_hash`, compressed with `compression`.
    pub fn new(file_hash: Hash, compression: Compression) -> Option<Self> {
        (file_hash.algorithm() == Algorithm::Sha256).then_some(NarFile {
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
        let compression = Compression::ALL
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

    /// How the NAR in it is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
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
        for c in Compression::ALL {
            let name = format!("{}.nar{}", name(), c.extension());
            let file = NarFile::parse(&name).unwrap();
            assert_eq!(file.compression(), c);
            assert_eq!(file.file_name(), name);
            assert_eq!(file.url(), format!("nar/{name}"));
            assert_eq!(Compression::from_name(c.name()), Some(c));
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
