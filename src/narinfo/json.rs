//! The JSON of `nix path-info --json`, for store objects described by [`NarInfo`]s: whole
//! documents ([`PathInfoJson`]) and single entries without their store path ([`Info`], Nix's
//! `UnkeyedNarInfo`), in every format Nix has written.
//!
//! Nix prints these shapes ([`Format`]); all are read and written here, byte for byte as Nix
//! writes them (`tests/narinfo.rs` and `tests/formats.rs` check against Nix 2.26.3 and 2.34.8):
//!
//! | format | Nix | keys | `ca` | `references`, `deriver` | `signatures` |
//! |---|---|---|---|---|---|
//! | [`Format::V1`] (the default) | 2.34 `--json-format 1`, and `--json` alone | full paths | rendered, `"fixed:git:sha1:…"` | full paths | `"name:base64"` |
//! | [`Format::V2`] | 2.34 `--json-format 2` | base names, under `"info"` beside `"storeDir"` and `"version": 2` | `{"hash": "<SRI>", "method": "git"}` | base names | `"name:base64"` |
//! | [`Format::V3`] | Nix's development branch after 2.34, `--json-format 3` | as V2, `"version": 3` | as V2 | base names | `{"keyName": "name", "sig": "base64"}` |
//! | [`Format::Nix226`] | 2.26 `--json` | full paths | rendered | full paths | `"name:base64"` |
//!
//! V1 is V1 of Nix 2.26 plus `"storeDir"` and `"version": 1` in every entry. Objects from a
//! binary cache (`--store file://…`) carry `url`, `compression`, `downloadHash` and
//! `downloadSize`; a local store's do not, and have a `registrationTime`. With `-S`, Nix adds
//! `closureSize` (and, for a binary cache, `closureDownloadSize`).
//!
//! ```
//! use nix_ingest::narinfo::json::{Format, PathInfoJson};
//!
//! // `nix path-info --json --json-format 2 --store file://… PATH` (Nix 2.34.8)
//! let nix = r#"{"info":{"dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree":{"ca":{"hash":"sha1-PuEjWAHPeM3C12lvh1gJe8OtgIU=","method":"git"},"compression":"none","deriver":null,"downloadHash":"sha256-SHrFlcAcbUmHqSeJnFiltKHmZoutIoZChwmyTmtiW20=","downloadSize":896,"narHash":"sha256-SHrFlcAcbUmHqSeJnFiltKHmZoutIoZChwmyTmtiW20=","narSize":896,"references":[],"registrationTime":null,"signatures":[],"storeDir":"/nix/store","ultimate":false,"url":"nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar","version":2}},"storeDir":"/nix/store","version":2}"#;
//! let mut doc: PathInfoJson = serde_json::from_str(nix)?;
//! assert_eq!(doc.format, Format::V2);
//! let info = &doc.entries[0].info;
//! assert_eq!(info.ca.unwrap().to_string(), "fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y");
//! assert_eq!(serde_json::to_string(&doc)?, nix);
//!
//! // The same in the format `nix path-info --json` prints by default.
//! doc.format = Format::V1;
//! assert!(serde_json::to_string(&doc)?.starts_with(
//!     r#"{"/nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree":{"ca":"fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y","#));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Single entries, pure and impure
//!
//! Nix's unit tests and its store-object-info schema also exchange one entry alone: the object
//! of a document without its key. [`Info`] is that, in two forms:
//!
//! - **impure** (what `nix path-info` prints): with `deriver`, `registrationTime`,
//!   `signatures`, `ultimate` and, for a binary cache's object, `url`, `compression`,
//!   `downloadHash` and `downloadSize`;
//! - **pure** ([`Info::impure`] is `None`): only what the store object's content determines —
//!   `ca`, `narHash`, `narSize`, `references`, `storeDir` and `version`.
//!
//! ```
//! use nix_ingest::narinfo::json::{Format, Info};
//!
//! // Format 3 writes signatures as objects.
//! let json = r#"{"ca":null,"deriver":null,"narHash":"sha256-FePFYIlMuycIXPZbWi7LGEiMmZSX9FMbaQenWBzm1Sc=","narSize":0,"references":[],"registrationTime":null,"signatures":[{"keyName":"k","sig":"AAAA"}],"storeDir":"/nix/store","ultimate":false,"version":3}"#;
//! let mut info: Info = serde_json::from_str(json)?;
//! assert_eq!(info.format, Format::V3);
//! assert!(info.impure.as_ref().unwrap().signatures.contains("k:AAAA"));
//! assert_eq!(serde_json::to_string(&info)?, json);
//!
//! // The pure form leaves out what is not the object's content.
//! info.impure = None;
//! assert_eq!(
//!     serde_json::to_string(&info)?,
//!     r#"{"ca":null,"narHash":"sha256-FePFYIlMuycIXPZbWi7LGEiMmZSX9FMbaQenWBzm1Sc=","narSize":0,"references":[],"storeDir":"/nix/store","version":3}"#
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Where Nix differs
//!
//! - Nix prints `null` for a path that is not valid; such entries are skipped when reading.
//! - Nix 2.34 without `--json-format` prints V1 and warns that a future version will insist on
//!   a format; [`Format::default`] is V1 to match what it prints today.
//! - An entry without `version` reads as [`Format::Nix226`] (Nix reads it as format 1, which is
//!   the same but for `storeDir` and `version`), so that it is written back as it was.
//! - Nix 2.34 refuses format 3; it is read here as Nix's development branch reads it, where a
//!   signature may be an object or the older `"name:base64"` string. Formats 1 and 2 take only
//!   strings, as Nix 2.34. Every signature must be a non-empty key name, `:`, and non-empty
//!   base64, as Nix checks.
//! - An entry with only some of the impure members reads as impure, the missing ones taking
//!   Nix's defaults (`null`, `false`, none).
//! - Hashes may be written in any form [`Hash`](struct@Hash)'s `Deserialize` reads; Nix wants SRI in
//!   format 1.

use std::collections::BTreeSet;
use std::fmt;

use data_encoding::BASE64;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{Compression, NarInfo};
use crate::content_address::ContentAddress;
use crate::hash::Hash;
use crate::store_path::{StoreDir, StorePath};

/// The shapes of `nix path-info --json`. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Nix 2.34's format 1 (its default): full paths, rendered content addresses.
    #[default]
    V1,
    /// Nix 2.34's format 2: base names, content addresses as objects.
    V2,
    /// Format 3 of Nix's development branch: format 2 with signatures as
    /// `{"keyName", "sig"}` objects.
    V3,
    /// Nix 2.26's `--json`: format 1 without `storeDir` and `version` in each entry.
    Nix226,
}

impl Format {
    /// The `version` member Nix writes, if any.
    pub const fn version(self) -> Option<u32> {
        match self {
            Format::V1 => Some(1),
            Format::V2 => Some(2),
            Format::V3 => Some(3),
            Format::Nix226 => None,
        }
    }

    /// The format of a `version` member (`None`: none given, as Nix 2.26).
    pub fn from_version(version: Option<u32>) -> Result<Self, UnknownVersion> {
        match version {
            None => Ok(Format::Nix226),
            Some(1) => Ok(Format::V1),
            Some(2) => Ok(Format::V2),
            Some(3) => Ok(Format::V3),
            Some(v) => Err(UnknownVersion(v)),
        }
    }

    /// Whether store paths are written whole (`/nix/store/…`) rather than as base names.
    const fn full_paths(self) -> bool {
        matches!(self, Format::V1 | Format::Nix226)
    }
}

/// A `version` no Nix has written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown path info JSON version {0} (known: 1, 2 and 3)")]
pub struct UnknownVersion(pub u32);

/// One store object of `nix path-info --json`: its narinfo, and what only a store's database
/// knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The store object. An empty [`url`](NarInfo::url) (an object of a local store, not a
    /// binary cache) leaves out `url`, `compression`, `downloadHash` and `downloadSize`.
    pub info: NarInfo,
    /// `registrationTime`: when it was added to the store (`null` in a binary cache).
    pub registration_time: Option<u64>,
    /// `ultimate`: whether it was built locally.
    pub ultimate: bool,
    /// `closureSize` (`nix path-info -S`): the NAR sizes of its closure, added up.
    pub closure_size: Option<u64>,
    /// `closureDownloadSize` (`nix path-info -S` of a binary cache): the file sizes of its
    /// closure, added up.
    pub closure_download_size: Option<u64>,
}

impl Entry {
    /// An entry of a binary cache's object: no registration time, not ultimate.
    pub fn new(info: NarInfo) -> Self {
        Entry {
            info,
            registration_time: None,
            ultimate: false,
            closure_size: None,
            closure_download_size: None,
        }
    }
}

/// A whole `nix path-info --json` answer. Serializes in its [`format`](Self::format);
/// deserializing tells the format from the shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PathInfoJson {
    /// The store objects (in any order; written sorted, as Nix does).
    pub entries: Vec<Entry>,
    /// The shape.
    pub format: Format,
}

impl PathInfoJson {
    /// A document of `entries` in `format`.
    pub fn new(entries: Vec<Entry>, format: Format) -> Self {
        PathInfoJson { entries, format }
    }
}

/// One entry alone, without its store path: Nix's `UnkeyedNarInfo` (and
/// `UnkeyedValidPathInfo`, which has no binary cache members). See the
/// [module docs](self#single-entries-pure-and-impure).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// `storeDir` (left out in [`Format::Nix226`]).
    pub store_dir: StoreDir,
    /// `narHash`.
    pub nar_hash: Hash,
    /// `narSize`.
    pub nar_size: u64,
    /// `references`.
    pub references: BTreeSet<StorePath>,
    /// `ca`.
    pub ca: Option<ContentAddress>,
    /// The impure members; `None` for the pure form.
    pub impure: Option<Impure>,
    /// The shape it is written in.
    pub format: Format,
}

/// The members of an [`Info`] that are not the store object's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Impure {
    /// `deriver`.
    pub deriver: Option<StorePath>,
    /// `registrationTime`.
    pub registration_time: Option<u64>,
    /// `ultimate`.
    pub ultimate: bool,
    /// `signatures`, as `name:base64` text (whatever the format writes).
    pub signatures: BTreeSet<String>,
    /// `url` (a binary cache's object).
    pub url: Option<String>,
    /// `compression` (a binary cache's object).
    pub compression: Option<String>,
    /// `downloadHash` (a binary cache's object).
    pub download_hash: Option<Hash>,
    /// `downloadSize` (a binary cache's object).
    pub download_size: Option<u64>,
    /// `closureSize` (`nix path-info -S`).
    pub closure_size: Option<u64>,
    /// `closureDownloadSize` (`nix path-info -S` of a binary cache).
    pub closure_download_size: Option<u64>,
}

impl Info {
    /// The impure entry of `entry`, as `nix path-info` writes it.
    pub fn from_entry(entry: &Entry, format: Format) -> Self {
        let info = &entry.info;
        let cache = !info.url.is_empty();
        Info {
            store_dir: info.store_dir.clone(),
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references: info.references.clone(),
            ca: info.ca,
            impure: Some(Impure {
                deriver: info.deriver.clone(),
                registration_time: entry.registration_time,
                ultimate: entry.ultimate,
                signatures: info.signatures.clone(),
                url: cache.then(|| info.url.clone()),
                compression: cache.then(|| info.compression.to_string()),
                download_hash: info.file_hash.filter(|_| cache),
                download_size: info.file_size.filter(|&s| cache && s != 0),
                closure_size: entry.closure_size,
                closure_download_size: entry.closure_download_size,
            }),
            format,
        }
    }

    /// The entry of the store object at `store_path` this describes (a pure one gets Nix's
    /// defaults: no deriver, no signatures, not ultimate).
    pub fn into_entry(self, store_path: StorePath) -> Entry {
        let impure = self.impure.unwrap_or_default();
        let mut info = NarInfo::new(
            self.store_dir,
            store_path,
            impure.url.unwrap_or_default(),
            self.nar_hash,
            self.nar_size,
        );
        // Absent (a local store's path info): no compression is known, kept as the empty name.
        info.compression = Compression::from(impure.compression.as_deref().unwrap_or_default());
        info.file_hash = impure.download_hash;
        info.file_size = impure.download_size;
        info.references = self.references;
        info.deriver = impure.deriver;
        info.signatures = impure.signatures;
        info.ca = self.ca;
        Entry {
            info,
            registration_time: impure.registration_time,
            ultimate: impure.ultimate,
            closure_size: impure.closure_size,
            closure_download_size: impure.closure_download_size,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One entry as Nix writes it.
// ---------------------------------------------------------------------------------------------

/// `Some` when present, even as `null` (for `Option<Option<T>>` members).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// One entry as Nix writes it; members in Nix's (alphabetical) order. `Option<Option<_>>`
/// members are left out when `None` and `null` when `Some(None)`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    ca: Option<Ca>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closure_download_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closure_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compression: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    deriver: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_hash: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_size: Option<u64>,
    nar_hash: Hash,
    nar_size: u64,
    references: Vec<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    registration_time: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signatures: Option<Vec<Sig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ultimate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
}

/// A content address, rendered (formats 1 and 2.26) or as an object (2 and 3).
enum Ca {
    Rendered(ContentAddress),
    Structured(ContentAddress),
}

impl Serialize for Ca {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Ca::Rendered(ca) => serializer.collect_str(ca),
            Ca::Structured(ca) => ca.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Ca {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ca;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a content address: \"fixed:…\"/\"text:…\" or {\"hash\", \"method\"}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ca, E> {
                s.parse().map(Ca::Rendered).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ca, A::Error> {
                ContentAddress::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Ca::Structured)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A signature: `"name:base64"` (formats 1 and 2) or `{"keyName", "sig"}` (format 3).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Sig {
    Text(String),
    Object {
        #[serde(rename = "keyName")]
        key_name: String,
        sig: String,
    },
}

/// Checks a signature as Nix's `Signature::parse`: a non-empty key name, `:`, non-empty
/// base64. Returns the name and the decoded bytes.
fn check_signature(name: &str, sig: &str) -> Result<Vec<u8>, String> {
    let bytes = BASE64
        .decode(sig.as_bytes())
        .map_err(|_| format!("signature of key {name:?} is not base64: {sig:?}"))?;
    if name.is_empty() || bytes.is_empty() {
        return Err(format!("signature {name:?}:{sig:?} is corrupt"));
    }
    Ok(bytes)
}

pub(crate) fn sig_from_raw(sig: Sig, format: Format) -> Result<String, String> {
    match sig {
        Sig::Text(text) => {
            let (name, data) = text
                .split_once(':')
                .ok_or_else(|| format!("signature {text:?} is not name:base64"))?;
            check_signature(name, data)?;
            Ok(text)
        }
        Sig::Object { key_name, sig } if format == Format::V3 => {
            check_signature(&key_name, &sig)?;
            Ok(format!("{key_name}:{sig}"))
        }
        Sig::Object { .. } => Err(format!(
            "signature objects are written only in path info JSON version 3, not {}",
            format.version().unwrap_or(1)
        )),
    }
}

pub(crate) fn sigs_to_raw<E: serde::ser::Error>(
    signatures: &BTreeSet<String>,
    format: Format,
) -> Result<Vec<Sig>, E> {
    if format != Format::V3 {
        // A set of strings, sorted as strings.
        return Ok(signatures.iter().cloned().map(Sig::Text).collect());
    }
    // Nix's `std::set<Signature>`: sorted by key name, then by the signature's bytes.
    let mut sigs = signatures
        .iter()
        .map(|s| {
            let (name, data) = s
                .split_once(':')
                .ok_or_else(|| E::custom(format!("signature {s:?} is not name:base64")))?;
            let bytes = check_signature(name, data).map_err(E::custom)?;
            Ok((name.to_owned(), bytes, data.to_owned()))
        })
        .collect::<Result<Vec<_>, E>>()?;
    sigs.sort();
    Ok(sigs
        .into_iter()
        .map(|(key_name, _, sig)| Sig::Object { key_name, sig })
        .collect())
}

impl Info {
    fn to_raw<E: serde::ser::Error>(&self) -> Result<Raw, E> {
        let format = self.format;
        let path = |p: &StorePath| {
            if format.full_paths() {
                self.store_dir.display_path(p)
            } else {
                p.to_string()
            }
        };
        let mut raw = Raw {
            ca: self.ca.map(|ca| {
                if format.full_paths() {
                    Ca::Rendered(ca)
                } else {
                    Ca::Structured(ca)
                }
            }),
            closure_download_size: None,
            closure_size: None,
            compression: None,
            deriver: None,
            download_hash: None,
            download_size: None,
            nar_hash: self.nar_hash,
            nar_size: self.nar_size,
            references: self.references.iter().map(path).collect(),
            registration_time: None,
            signatures: None,
            store_dir: (format != Format::Nix226).then(|| self.store_dir.as_str().to_owned()),
            ultimate: None,
            url: None,
            version: format.version(),
        };
        if let Some(imp) = &self.impure {
            raw.closure_download_size = imp.closure_download_size;
            raw.closure_size = imp.closure_size;
            raw.compression = imp.compression.clone();
            raw.deriver = Some(imp.deriver.as_ref().map(path));
            raw.download_hash = imp.download_hash;
            raw.download_size = imp.download_size;
            raw.registration_time = Some(imp.registration_time);
            raw.signatures = Some(sigs_to_raw(&imp.signatures, format)?);
            raw.ultimate = Some(imp.ultimate);
            raw.url = imp.url.clone();
        }
        Ok(raw)
    }

    /// Reads `raw`; `format` is the document's when the entry has no `version`, and
    /// `store_dir` the document's `storeDir`.
    fn from_raw(raw: Raw, format: Option<Format>, store_dir: Option<&str>) -> Result<Self, String> {
        let format = match (raw.version, format) {
            (None, Some(f)) => f,
            (v, _) => Format::from_version(v).map_err(|e| e.to_string())?,
        };
        let store_dir = StoreDir::new(
            raw.store_dir
                .as_deref()
                .or(store_dir)
                .unwrap_or(crate::store_path::DEFAULT_STORE_DIR),
        )
        .map_err(|e| format!("storeDir: {e}"))?;
        let path = |what: &str, p: &str| {
            if format.full_paths() {
                store_dir.parse_path(p)
            } else {
                StorePath::from_base_name(p)
            }
            .map_err(|e| format!("{what}: {e}"))
        };
        let ca = match (raw.ca, format.full_paths()) {
            (None, _) => None,
            (Some(Ca::Rendered(ca)), true) | (Some(Ca::Structured(ca)), false) => Some(ca),
            (Some(Ca::Rendered(_)), false) => {
                return Err(
                    "ca: a rendered content address, where this version has an object".to_owned(),
                );
            }
            (Some(Ca::Structured(_)), true) => {
                return Err(
                    "ca: an object, where this version has a rendered content address".to_owned(),
                );
            }
        };
        let references = raw
            .references
            .iter()
            .map(|r| path("references", r))
            .collect::<Result<_, _>>()?;
        let impure = raw.deriver.is_some()
            || raw.registration_time.is_some()
            || raw.signatures.is_some()
            || raw.ultimate.is_some()
            || raw.url.is_some()
            || raw.compression.is_some()
            || raw.download_hash.is_some()
            || raw.download_size.is_some()
            || raw.closure_size.is_some()
            || raw.closure_download_size.is_some();
        let impure = if impure {
            Some(Impure {
                deriver: raw
                    .deriver
                    .flatten()
                    .map(|d| path("deriver", &d))
                    .transpose()?,
                registration_time: raw.registration_time.flatten(),
                ultimate: raw.ultimate.unwrap_or(false),
                signatures: raw
                    .signatures
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| sig_from_raw(s, format).map_err(|e| format!("signatures: {e}")))
                    .collect::<Result<_, _>>()?,
                url: raw.url,
                compression: raw.compression,
                download_hash: raw.download_hash,
                download_size: raw.download_size,
                closure_size: raw.closure_size,
                closure_download_size: raw.closure_download_size,
            })
        } else {
            None
        };
        Ok(Info {
            store_dir,
            nar_hash: raw.nar_hash,
            nar_size: raw.nar_size,
            references,
            ca,
            impure,
            format,
        })
    }
}

impl Serialize for Info {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_raw()?.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Info {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Info::from_raw(Raw::deserialize(deserializer)?, None, None).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Whole documents.
// ---------------------------------------------------------------------------------------------

impl PathInfoJson {
    fn key(&self, e: &Entry) -> String {
        if self.format.full_paths() {
            e.info.store_dir.display_path(&e.info.store_path)
        } else {
            e.info.store_path.to_string()
        }
    }
}

/// The entries of a document, keyed and sorted.
struct Entries(Vec<(String, Info)>);

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, info) in &self.0 {
            map.serialize_entry(k, info)?;
        }
        map.end()
    }
}

impl Serialize for PathInfoJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(String, Info)> = self
            .entries
            .iter()
            .map(|e| (self.key(e), Info::from_entry(e, self.format)))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let entries = Entries(sorted);
        if self.format.full_paths() {
            return entries.serialize(serializer);
        }
        let store_dir = self
            .entries
            .first()
            .map_or_else(StoreDir::default, |e| e.info.store_dir.clone());
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("info", &entries)?;
        map.serialize_entry("storeDir", store_dir.as_str())?;
        map.serialize_entry("version", &self.format.version())?;
        map.end()
    }
}

/// A keyed entry of a document: `None` for Nix's `null` (an invalid path).
type RawEntries = Vec<(String, Option<Raw>)>;

/// The `info` object of formats 2 and 3.
struct RawInfo(RawEntries);

impl<'de> Deserialize<'de> for RawInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of store path base names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawInfo, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map
                        .next_value::<Option<Raw>>()
                        .map_err(|e| de::Error::custom(format!("path info of {key:?}: {e}")))?;
                    out.push((key, value));
                }
                Ok(RawInfo(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for PathInfoJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathInfoJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the JSON object of nix path-info --json")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathInfoJson, A::Error> {
                // Format 1: keys are full paths. Formats 2 and 3: `info`, `storeDir`, `version`.
                let mut paths: RawEntries = Vec::new();
                let mut info: Option<RawEntries> = None;
                let mut store_dir: Option<String> = None;
                let mut version: Option<u32> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "info" => info = Some(map.next_value::<RawInfo>()?.0),
                        "storeDir" => store_dir = Some(map.next_value()?),
                        "version" => version = Some(map.next_value()?),
                        _ => {
                            let value = map.next_value::<Option<Raw>>().map_err(|e| {
                                de::Error::custom(format!("path info of {key:?}: {e}"))
                            })?;
                            paths.push((key, value));
                        }
                    }
                }
                let nested = info.is_some() || store_dir.is_some() || version.is_some();
                if nested && !paths.is_empty() {
                    return Err(de::Error::custom(
                        "path info JSON has both store paths and `info` at the top level",
                    ));
                }
                let (raws, doc_format) = if nested {
                    let format = match version {
                        Some(2) => Format::V2,
                        Some(3) => Format::V3,
                        Some(v) => return Err(de::Error::custom(UnknownVersion(v))),
                        None => return Err(de::Error::missing_field("version")),
                    };
                    let raws = info.ok_or_else(|| de::Error::missing_field("info"))?;
                    if store_dir.is_none() {
                        return Err(de::Error::missing_field("storeDir"));
                    }
                    (raws, Some(format))
                } else {
                    (paths, None)
                };
                let mut format = doc_format.unwrap_or(Format::Nix226);
                let mut entries = Vec::new();
                for (key, raw) in raws {
                    let Some(raw) = raw else { continue };
                    let ctx = |e: String| de::Error::custom(format!("path info of {key:?}: {e}"));
                    let info =
                        Info::from_raw(raw, doc_format, store_dir.as_deref()).map_err(ctx)?;
                    if doc_format.is_none() && info.format == Format::V1 {
                        format = Format::V1;
                    }
                    if info.format.full_paths() != format.full_paths() {
                        return Err(ctx(format!(
                            "an entry of version {} in a document of version {}",
                            info.format.version().unwrap_or(1),
                            format.version().unwrap_or(1)
                        )));
                    }
                    let path = if format.full_paths() {
                        info.store_dir.parse_path(&key)
                    } else {
                        StorePath::from_base_name(&key)
                    }
                    .map_err(|e| ctx(e.to_string()))?;
                    entries.push(info.into_entry(path));
                }
                Ok(PathInfoJson { entries, format })
            }
        }
        deserializer.deserialize_map(V)
    }
}
