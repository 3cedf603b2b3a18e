//! `serde` support (feature `serde`): hashes, content addresses, store paths and methods in the
//! shapes Nix's own JSON gives them.
//!
//! | type | serialized as | Nix's JSON |
//! |---|---|---|
//! | [`Hash`](struct@Hash) | SRI string, `"sha256-47DEQ…uFU="` | `narHash` of `nix path-info --json`; every hash in Nix 2.33's JSON |
//! | [`ContentAddress`] | `{"hash": "<SRI>", "method": "nar"}` | `ca` of `nix path-info --json --json-format 2` and fixed outputs of derivation JSON v4 (Nix 2.33) |
//! | [`ContentAddressMethod`] | `"text"`, `"flat"`, `"nar"` or `"git"` | `method` in those objects |
//! | [`FileIngestionMethod`] | `"flat"`, `"nar"` or `"git"` | the names `--mode` takes |
//! | [`Algorithm`] | `"md5"`, `"sha1"`, `"sha256"` or `"sha512"` | `hashAlgo` in derivation JSON |
//! | [`Format`] | `"base16"`, `"nix32"`, `"base64"` or `"sri"` | the names `--format` takes |
//! | [`StorePath`] | base name, `"<hash>-<name>"` | Nix's store path JSON (`store-path-v1`); Nix 2.33's path info v2 |
//! | [`StoreDir`] | `"/nix/store"` | `storeDir` of Nix 2.33's path info |
//!
//! Nix has written content addresses in three JSON shapes; deserializing a [`ContentAddress`]
//! reads all of them, and the `with` modules here write the older two:
//!
//! | shape | where Nix writes it | write it with |
//! |---|---|---|
//! | `{"hash": "sha256-…", "method": "nar"}` | path info v2 `ca`, derivation v4 outputs (Nix 2.33 and later) | the default impl |
//! | `"fixed:r:sha256:0sxp…"` | `ca` of `nix path-info --json` (up to Nix 2.32, and format 1 after), narinfo `CA:` | [`rendered`], [`rendered::option`] |
//! | `{"hash": "<base16>", "hashAlgo": "sha256", "method": "nar"}` | fixed outputs of `nix derivation show` (JSON v3, Nix 2.26 to 2.32) | [`derivation_v3`] |
//!
//! Nix's key order (alphabetical, as its JSON library keeps objects) is kept, so what is
//! written matches Nix byte for byte.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::content_address::ContentAddress;
//!
//! // `nix path-info --json` of a git-addressed store object (Nix 2.26.3)…
//! let ca: ContentAddress = serde_json::from_str(r#""fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d""#)?;
//! // …written in Nix 2.33's structured form.
//! assert_eq!(
//!     serde_json::to_string(&ca)?,
//!     r#"{"hash":"sha1-zUS682kV1d7IN0Iy6n4gV/O0SU4=","method":"git"}"#
//! );
//! # Ok(()) }
//! ```
//!
//! Where Nix differs: when reading, Nix ignores members it does not use, and so does this module
//! (a derivation output's `path`, for instance). A hash string may be SRI or `<algo>:<digest>`
//! where Nix 2.33 insists on SRI, and a hash may also be the object
//! `{"algorithm", "format", "hash"}` that development versions of Nix wrote before settling on
//! SRI strings. In formats that are not human readable (CBOR, bincode, …) a content address is
//! a two-field struct (hash, method) and a hash a string; those formats need no other shape.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use ::serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use ::serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::content_address::{ContentAddress, ContentAddressMethod};
use crate::hash::{Algorithm, Format, Hash};
use crate::method::FileIngestionMethod;
use crate::store_path::{StoreDir, StorePath};

// ---------------------------------------------------------------------------------------------
// Types written as one string (`Display`) and read back with `FromStr`.
// ---------------------------------------------------------------------------------------------

/// Reads a string and parses it with `T::from_str`, reporting `T`'s error.
struct FromStrVisitor<T> {
    expecting: &'static str,
    marker: PhantomData<fn() -> T>,
}

impl<T> FromStrVisitor<T> {
    const fn new(expecting: &'static str) -> Self {
        FromStrVisitor {
            expecting,
            marker: PhantomData,
        }
    }
}

impl<T> Visitor<'_> for FromStrVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(FromStrVisitor::<$ty>::new($expecting))
            }
        }
    };
}

string_serde!(
    FileIngestionMethod,
    "a file ingestion method: \"flat\", \"nar\" or \"git\""
);
string_serde!(
    ContentAddressMethod,
    "a content address method: \"text\", \"flat\", \"nar\" or \"git\""
);
string_serde!(
    Algorithm,
    "a hash algorithm: \"md5\", \"sha1\", \"sha256\" or \"sha512\""
);
string_serde!(
    StorePath,
    "a store path base name \"<32 nix32 characters>-<name>\""
);

impl Serialize for Format {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<Format>::new(
            "a hash format: \"base16\", \"nix32\", \"base64\" or \"sri\"",
        ))
    }
}

impl Serialize for StoreDir {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StoreDir {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StoreDir;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a store directory, an absolute path such as \"/nix/store\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StoreDir, E> {
                StoreDir::new(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Hash: an SRI string (or, when reading, `<algo>:<digest>` or `{"algorithm","format","hash"}`).
// ---------------------------------------------------------------------------------------------

impl Serialize for Hash {
    /// The SRI form, `<algo>-<base64>`, as Nix writes hashes in JSON.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode(Format::Sri))
    }
}

impl<'de> Deserialize<'de> for Hash {
    /// Reads an SRI string or `<algo>:<digest>` (digest in base16, nix32 or base64), or, in
    /// human-readable formats, an object `{"algorithm", "format", "hash"}`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(HashVisitor)
        } else {
            deserializer.deserialize_str(HashVisitor)
        }
    }
}

struct HashVisitor;

impl<'de> Visitor<'de> for HashVisitor {
    type Value = Hash;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a hash: an SRI string \"<algo>-<base64>\", \"<algo>:<digest>\", \
             or an object {\"algorithm\", \"format\", \"hash\"}",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Hash, E> {
        Hash::parse(v).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hash, A::Error> {
        let mut algorithm: Option<Algorithm> = None;
        let mut format: Option<Format> = None;
        let mut digest: Option<String> = None;
        while let Some(key) = map.next_key::<HashKey>()? {
            match key {
                HashKey::Algorithm => set_once(&mut algorithm, "algorithm", map.next_value()?)?,
                HashKey::Format => set_once(&mut format, "format", map.next_value()?)?,
                HashKey::Hash => set_once(&mut digest, "hash", map.next_value()?)?,
                HashKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let algorithm = algorithm.ok_or_else(|| de::Error::missing_field("algorithm"))?;
        let format = format.ok_or_else(|| de::Error::missing_field("format"))?;
        let digest = digest.ok_or_else(|| de::Error::missing_field("hash"))?;
        hash_in_format(&digest, algorithm, format).map_err(de::Error::custom)
    }
}

/// Parses `digest`, which must be written in `format`, as a digest of `algorithm`.
fn hash_in_format(digest: &str, algorithm: Algorithm, format: Format) -> Result<Hash, String> {
    let hash = match format {
        Format::Sri if !digest.starts_with(&format!("{algorithm}-")) => {
            return Err(format!(
                "hash '{digest}' is not an SRI hash for hash algorithm '{algorithm}'"
            ));
        }
        Format::Sri => Hash::parse_any(digest, Some(algorithm)),
        _ => Hash::parse_unprefixed(digest, algorithm),
    }
    .map_err(|e| e.to_string())?;
    // `parse_unprefixed` tells the encodings apart by length, and for a given algorithm the
    // three lengths differ: the length must be the one `format` gives.
    if format != Format::Sri && hash.encode(format).len() != digest.len() {
        return Err(format!(
            "hash '{digest}' is not {} for hash algorithm '{algorithm}'",
            format.name()
        ));
    }
    Ok(hash)
}

fn set_once<T, E: de::Error>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

/// The members of a hash object.
enum HashKey {
    Algorithm,
    Format,
    Hash,
    Other,
}

impl<'de> Deserialize<'de> for HashKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HashKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HashKey, E> {
                Ok(match v {
                    "algorithm" => HashKey::Algorithm,
                    "format" => HashKey::Format,
                    "hash" => HashKey::Hash,
                    _ => HashKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(V)
    }
}

// ---------------------------------------------------------------------------------------------
// ContentAddress: `{"hash": <SRI>, "method": <name>}`; reads the rendered string and
// derivation JSON v3's `{"hash", "hashAlgo", "method"}` too.
// ---------------------------------------------------------------------------------------------

const CONTENT_ADDRESS_FIELDS: &[&str] = &["hash", "method"];

impl Serialize for ContentAddress {
    /// `{"hash": "<SRI>", "method": "<text|flat|nar|git>"}`, Nix 2.33's content address JSON.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ContentAddress", 2)?;
        s.serialize_field("hash", self.hash())?;
        s.serialize_field("method", &self.method())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for ContentAddress {
    /// Reads any of Nix's three shapes (see the [module docs](self)): the structured object, the
    /// rendered string, or a derivation JSON v3 output.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(ContentAddressVisitor)
        } else {
            deserializer.deserialize_struct(
                "ContentAddress",
                CONTENT_ADDRESS_FIELDS,
                ContentAddressVisitor,
            )
        }
    }
}

struct ContentAddressVisitor;

/// The members of a content address object.
enum CaKey {
    Hash,
    HashAlgo,
    Method,
    Other,
}

impl<'de> Deserialize<'de> for CaKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CaKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CaKey, E> {
                Ok(match v {
                    "hash" => CaKey::Hash,
                    "hashAlgo" => CaKey::HashAlgo,
                    "method" => CaKey::Method,
                    _ => CaKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(V)
    }
}

/// The `hash` member before it is known whether `hashAlgo` says how to read it.
enum HashMember {
    Parsed(Hash),
    Text(String),
}

impl<'de> Deserialize<'de> for HashMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HashMember;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                HashVisitor.expecting(f)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HashMember, E> {
                Ok(HashMember::Text(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HashMember, A::Error> {
                HashVisitor.visit_map(map).map(HashMember::Parsed)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(V)
        } else {
            deserializer.deserialize_str(V)
        }
    }
}

impl<'de> Visitor<'de> for ContentAddressVisitor {
    type Value = ContentAddress;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a content address: {\"hash\", \"method\"}, {\"hash\", \"hashAlgo\", \"method\"} \
             or a string such as \"fixed:r:sha256:<nix32>\"",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ContentAddress, E> {
        ContentAddress::parse(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ContentAddress, A::Error> {
        let hash: Hash = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let method: ContentAddressMethod = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok(ContentAddress::new(method, hash))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ContentAddress, A::Error> {
        let mut hash: Option<HashMember> = None;
        let mut hash_algo: Option<Algorithm> = None;
        let mut method: Option<ContentAddressMethod> = None;
        while let Some(key) = map.next_key::<CaKey>()? {
            match key {
                CaKey::Hash => set_once(&mut hash, "hash", map.next_value()?)?,
                CaKey::HashAlgo => set_once(&mut hash_algo, "hashAlgo", map.next_value()?)?,
                CaKey::Method => set_once(&mut method, "method", map.next_value()?)?,
                CaKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let method = method.ok_or_else(|| de::Error::missing_field("method"))?;
        let hash = hash.ok_or_else(|| de::Error::missing_field("hash"))?;
        let hash = match (hash, hash_algo) {
            // Derivation JSON v3: a bare digest of `hashAlgo` (Nix writes base16; like Nix's
            // `parseNonSRIUnprefixed`, nix32 and base64 are read too).
            (HashMember::Text(s), Some(algorithm)) => {
                Hash::parse_unprefixed(&s, algorithm).map_err(de::Error::custom)?
            }
            (HashMember::Text(s), None) => Hash::parse(&s).map_err(de::Error::custom)?,
            (HashMember::Parsed(h), algorithm) => {
                if let Some(a) = algorithm.filter(|&a| a != h.algorithm()) {
                    return Err(de::Error::custom(format!(
                        "content address has hashAlgo '{a}' but a {} hash",
                        h.algorithm()
                    )));
                }
                h
            }
        };
        Ok(ContentAddress::new(method, hash))
    }
}

/// A content address as the string Nix renders (`fixed:r:sha256:<nix32>`, `text:sha256:…`):
/// the `ca` of `nix path-info --json` up to Nix 2.32 (and of `--json-format 1` after), and narinfo
/// `CA:` lines. For `#[serde(with = "nix_ingest::serde_impls::rendered")]`.
///
/// ```
/// use nix_ingest::content_address::ContentAddress;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct PathInfo {
///     #[serde(with = "nix_ingest::serde_impls::rendered")]
///     ca: ContentAddress,
/// }
/// # fn main() -> Result<(), serde_json::Error> {
/// let json = r#"{"ca":"fixed:r:sha256:0sxpd945l64v25fbqf11i83j1gkdzyzdhmvx3js0ibaw3lnc3drh"}"#;
/// let info: PathInfo = serde_json::from_str(json)?;
/// assert_eq!(serde_json::to_string(&info)?, json);
/// # Ok(()) }
/// ```
///
/// Reading accepts only the string (with the digest in base16, nix32 or base64, as Nix's
/// parser); the default impl reads the string and the other shapes.
pub mod rendered {
    use super::*;

    /// Writes the rendered string.
    pub fn serialize<S: Serializer>(ca: &ContentAddress, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(ca)
    }

    /// Reads the rendered string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ContentAddress, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<ContentAddress>::new(
            "a content address such as \"fixed:r:sha256:<nix32>\"",
        ))
    }

    /// [`rendered`](super) for `Option<ContentAddress>`: `None` is `null`, as the `ca`
    /// of an input-addressed store object in `nix path-info --json`.
    pub mod option {
        use super::*;

        /// Writes the rendered string, or `null`.
        pub fn serialize<S: Serializer>(
            ca: &Option<ContentAddress>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match ca {
                Some(ca) => serializer.collect_str(ca),
                None => serializer.serialize_none(),
            }
        }

        /// Reads the rendered string, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<ContentAddress>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Option<ContentAddress>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("null or a content address such as \"fixed:r:sha256:<nix32>\"")
                }
                fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                    super::deserialize(d).map(Some)
                }
            }
            deserializer.deserialize_option(V)
        }
    }
}

/// A content address as a fixed output of a derivation in Nix's derivation JSON version 3
/// (`nix derivation show`, Nix 2.26 to 2.32): `{"hash": "<base16>", "hashAlgo": "sha256",
/// "method": "nar"}`. Nix adds the output's `path` beside these; reading ignores it. For
/// `#[serde(with = "nix_ingest::serde_impls::derivation_v3")]`.
///
/// ```
/// use nix_ingest::content_address::ContentAddress;
///
/// // An output of `nix derivation show` (Nix 2.26.3) and `nix path-info --json` of its path.
/// let json = r#"{"hash":"f271bd966e4f70ed06c74b36b34c916a656e4fc7","hashAlgo":"sha1","method":"git","path":"/nix/store/la84lh5vcayjw0zas3ra6w5m6lcrylj3-t1"}"#;
/// let ca: ContentAddress = serde_json::from_str(json).unwrap();
/// assert_eq!(ca.to_string(), "fixed:git:sha1:qx7nwrbaj56b6djbqw3fsw2gdsbbswgj");
///
/// let mut out = serde_json::Serializer::new(Vec::new());
/// nix_ingest::serde_impls::derivation_v3::serialize(&ca, &mut out).unwrap();
/// assert_eq!(
///     String::from_utf8(out.into_inner()).unwrap(),
///     r#"{"hash":"f271bd966e4f70ed06c74b36b34c916a656e4fc7","hashAlgo":"sha1","method":"git"}"#
/// );
/// ```
pub mod derivation_v3 {
    use super::*;

    /// Writes `{"hash": "<base16>", "hashAlgo": "<algo>", "method": "<method>"}`.
    pub fn serialize<S: Serializer>(ca: &ContentAddress, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("DerivationOutput", 3)?;
        s.serialize_field("hash", &ca.hash().encode(Format::Base16))?;
        s.serialize_field("hashAlgo", &ca.hash().algorithm())?;
        s.serialize_field("method", &ca.method())?;
        s.end()
    }

    /// Reads a content address in any shape, as the default impl does.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ContentAddress, D::Error> {
        ContentAddress::deserialize(deserializer)
    }
}

/// A store path as a full path in the default store directory, `/nix/store/<hash>-<name>`: the
/// keys and `references` of `nix path-info --json` up to Nix 2.32. For
/// `#[serde(with = "nix_ingest::serde_impls::full_path")]`. Reading refuses a path outside
/// `/nix/store`; for another store directory, read a string and use
/// [`StoreDir::parse_path`].
pub mod full_path {
    use super::*;

    /// Writes `/nix/store/<base name>`.
    pub fn serialize<S: Serializer>(path: &StorePath, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&StoreDir::default().display_path(path))
    }

    /// Reads `/nix/store/<base name>`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StorePath, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StorePath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a store path \"/nix/store/<32 nix32 characters>-<name>\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StorePath, E> {
                StoreDir::default().parse_path(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn empty_sha256() -> Hash {
        Hash::digest(Algorithm::Sha256, b"")
    }

    #[test]
    fn hash_is_an_sri_string() {
        // `nix hash path --mode flat` of an empty file (Nix 2.26.3, tests/data/store_paths.txt).
        let json = serde_json::to_string(&empty_sha256()).unwrap();
        assert_eq!(
            json,
            r#""sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=""#
        );
        for s in [
            json.as_str(),
            r#""sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73""#,
            r#""sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#,
        ] {
            assert_eq!(
                serde_json::from_str::<Hash>(s).unwrap(),
                empty_sha256(),
                "{s}"
            );
        }
    }

    #[test]
    fn hash_object_form_checks_the_format() {
        // Nix's libutil test data (`hash/sha256-base16.json`, the draft hash JSON), a SHA-256
        // of "abc".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let json = format!(r#"{{"algorithm":"sha256","format":"base16","hash":"{abc}"}}"#);
        let h: Hash = serde_json::from_str(&json).unwrap();
        assert_eq!(h, Hash::digest(Algorithm::Sha256, b"abc"));
        // The digest must be in the format named.
        let wrong = format!(r#"{{"algorithm":"sha256","format":"nix32","hash":"{abc}"}}"#);
        let err = serde_json::from_str::<Hash>(&wrong).unwrap_err();
        assert!(err.to_string().contains("is not nix32"), "{err}");
        let dup = r#"{"algorithm":"sha256","algorithm":"sha1","format":"base16","hash":""}"#;
        assert!(serde_json::from_str::<Hash>(dup).is_err());
        let missing = format!(r#"{{"algorithm":"sha256","hash":"{abc}"}}"#);
        assert!(serde_json::from_str::<Hash>(&missing).is_err());
    }

    #[test]
    fn bad_hashes_are_errors() {
        for s in [
            r#""sha256-""#,
            r#""blake3-abc""#,
            r#""e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#,
            "17",
            "[]",
        ] {
            assert!(serde_json::from_str::<Hash>(s).is_err(), "{s}");
        }
    }

    #[test]
    fn names_as_strings() {
        for m in FileIngestionMethod::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
            assert_eq!(
                serde_json::from_str::<FileIngestionMethod>(&json).unwrap(),
                m
            );
        }
        assert!(serde_json::from_str::<FileIngestionMethod>(r#""recursive""#).is_err());
        assert!(serde_json::from_str::<ContentAddressMethod>(r#""recursive""#).is_err());
        assert_eq!(
            serde_json::from_str::<ContentAddressMethod>(r#""text""#).unwrap(),
            ContentAddressMethod::Text
        );
        for a in Algorithm::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(serde_json::to_string(&Format::Nix32).unwrap(), r#""nix32""#);
        assert_eq!(
            serde_json::from_str::<Format>(r#""base32""#).unwrap(),
            Format::Nix32
        );
        let dir: StoreDir = serde_json::from_str(r#""/nix/store""#).unwrap();
        assert_eq!(dir, StoreDir::default());
        assert!(serde_json::from_str::<StoreDir>(r#""nix/store""#).is_err());
    }

    #[test]
    fn store_path_is_its_base_name() {
        let base = "9662cgnnyvgqjpjfkbljw002r27yyg64-fixed";
        let p: StorePath = serde_json::from_str(&format!("\"{base}\"")).unwrap();
        assert_eq!(p.name(), "fixed");
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{base}\""));
        assert!(serde_json::from_str::<StorePath>(&format!("\"/nix/store/{base}\"")).is_err());

        #[derive(::serde::Serialize, ::serde::Deserialize)]
        struct Full(#[serde(with = "full_path")] StorePath);
        let full: Full = serde_json::from_str(&format!("\"/nix/store/{base}\"")).unwrap();
        assert_eq!(full.0, p);
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            format!("\"/nix/store/{base}\"")
        );
        assert!(serde_json::from_str::<Full>(&format!("\"/gnu/store/{base}\"")).is_err());
    }

    #[test]
    fn content_address_reads_every_shape() {
        // Nix's libstore test data `content-address/nar.json` (hash object, base16) and the
        // same hash as SRI (`nix hash convert --to sri`, Nix 2.26.3).
        let nar_object = r#"{"hash":{"algorithm":"sha256","format":"base16","hash":"f6f2ea8f45d8a057c9566a33f99474da2e5c6a6604d736121650e2730c6fb0a3"},"method":"nar"}"#;
        let sri =
            r#"{"hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM=","method":"nar"}"#;
        let a: ContentAddress = serde_json::from_str(nar_object).unwrap();
        let b: ContentAddress = serde_json::from_str(sri).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.method(), FileIngestionMethod::Nar.into());
        assert_eq!(serde_json::to_string(&a).unwrap(), sri);

        // Members in any order; unknown members ignored, as Nix does.
        let reordered = r#"{"method":"nar","path":"x","hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}"#;
        assert_eq!(
            serde_json::from_str::<ContentAddress>(reordered).unwrap(),
            a
        );
    }

    #[test]
    fn content_address_errors() {
        for s in [
            r#"{"hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}"#,
            r#"{"method":"nar"}"#,
            r#"{"method":"recursive","hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}"#,
            r#"{"method":"nar","method":"nar","hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}"#,
            // `hashAlgo` disagreeing with the hash object.
            r#"{"method":"nar","hashAlgo":"sha1","hash":{"algorithm":"sha256","format":"sri","hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}}"#,
            // A v3 digest must not carry its own prefix.
            r#"{"method":"nar","hashAlgo":"sha256","hash":"sha256-9vLqj0XYoFfJVmoz+ZR02i5camYE1zYSFlDicwxvsKM="}"#,
            r#""fixed:nar:sha256:0sxpd945l64v25fbqf11i83j1gkdzyzdhmvx3js0ibaw3lnc3drh""#,
            "null",
            "[1]",
        ] {
            assert!(serde_json::from_str::<ContentAddress>(s).is_err(), "{s}");
        }
    }

    #[test]
    fn rendered_option_takes_null() {
        #[derive(Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        struct Info {
            #[serde(with = "rendered::option")]
            ca: Option<ContentAddress>,
        }
        let none: Info = serde_json::from_str(r#"{"ca":null}"#).unwrap();
        assert_eq!(none, Info { ca: None });
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"ca":null}"#);
        let json = r#"{"ca":"text:sha256:1r3v22qkypccqifzbww5lrn6hf1chi23m6zzkyvb8bvg457nxslq"}"#;
        let some: Info = serde_json::from_str(json).unwrap();
        assert_eq!(
            some.ca.unwrap().hash(),
            &Hash::digest(Algorithm::Sha256, b"hi\n")
        );
        assert_eq!(serde_json::to_string(&some).unwrap(), json);
        assert!(serde_json::from_str::<Info>(r#"{"ca":{"method":"nar"}}"#).is_err());
    }

    fn any_hash() -> impl Strategy<Value = Hash> {
        (
            prop::sample::select(Algorithm::ALL.to_vec()),
            prop::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(a, bytes)| Hash::from_bytes(a, &bytes[..a.len()]).unwrap())
    }

    fn any_method() -> impl Strategy<Value = ContentAddressMethod> {
        prop::sample::select(vec![
            ContentAddressMethod::Text,
            ContentAddressMethod::Fixed(FileIngestionMethod::Flat),
            ContentAddressMethod::Fixed(FileIngestionMethod::Nar),
            ContentAddressMethod::Fixed(FileIngestionMethod::Git),
        ])
    }

    fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    proptest! {
        #[test]
        fn every_shape_round_trips(h in any_hash(), m in any_method()) {
            let ca = ContentAddress::new(m, h);
            let json = serde_json::to_string(&ca).unwrap();
            prop_assert_eq!(
                &json,
                &format!(r#"{{"hash":"{}","method":"{}"}}"#, h.encode(Format::Sri), m.name())
            );
            prop_assert_eq!(serde_json::from_str::<ContentAddress>(&json).unwrap(), ca);

            let rendered_json = format!("\"{ca}\"");
            prop_assert_eq!(serde_json::from_str::<ContentAddress>(&rendered_json).unwrap(), ca);

            let v3 = format!(
                r#"{{"hash":"{}","hashAlgo":"{}","method":"{}"}}"#,
                h.encode(Format::Base16), h.algorithm(), m.name()
            );
            let mut out = serde_json::Serializer::new(Vec::new());
            derivation_v3::serialize(&ca, &mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out.into_inner()).unwrap(), v3.clone());
            prop_assert_eq!(serde_json::from_str::<ContentAddress>(&v3).unwrap(), ca);

            for f in [Format::Base16, Format::Nix32, Format::Base64, Format::Sri] {
                let object = format!(
                    r#"{{"algorithm":"{}","format":"{}","hash":"{}"}}"#,
                    h.algorithm(), f.name(), h.encode(f)
                );
                prop_assert_eq!(serde_json::from_str::<Hash>(&object).unwrap(), h);
            }
        }

        #[test]
        fn not_human_readable_round_trips(h in any_hash(), m in any_method()) {
            // CBOR (ciborium) is not human readable: a struct of (hash, method).
            let ca = ContentAddress::new(m, h);
            let bytes = cbor(&ca);
            prop_assert_eq!(ciborium::from_reader::<ContentAddress, _>(&bytes[..]).unwrap(), ca);
            let bytes = cbor(&h);
            prop_assert_eq!(ciborium::from_reader::<Hash, _>(&bytes[..]).unwrap(), h);
        }

        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,80}") {
            let _ = serde_json::from_str::<ContentAddress>(&s);
            let _ = serde_json::from_str::<Hash>(&s);
            let _ = serde_json::from_str::<StorePath>(&s);
        }
    }
}
