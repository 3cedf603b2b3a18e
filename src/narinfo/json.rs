//! The JSON of `nix path-info --json`, for store objects described by [`NarInfo`]s.
//!
//! Nix prints three shapes ([`Format`]); all are read and written here, byte for byte as Nix
//! writes them (`tests/narinfo.rs` checks against Nix 2.26.3 and 2.34.8):
//!
//! | format | Nix | keys | `ca` | `references`, `deriver` |
//! |---|---|---|---|---|
//! | [`Format::V1`] (the default) | 2.34 `--json-format 1`, and `--json` alone | full paths | rendered, `"fixed:git:sha1:…"` | full paths |
//! | [`Format::V2`] | 2.34 `--json-format 2` | base names, under `"info"` beside `"storeDir"` and `"version": 2` | `{"hash": "<SRI>", "method": "git"}` | base names |
//! | [`Format::Nix226`] | 2.26 `--json` | full paths | rendered | full paths |
//!
//! V1 is V1 of Nix 2.26 plus `"storeDir"` and `"version": 1` in every entry. Objects from a
//! binary cache (`--store file://…`) carry `url`, `compression`, `downloadHash` and
//! `downloadSize`; a local store's do not, and have a `registrationTime`.
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
//! # Where Nix differs
//!
//! Nix prints `null` for a path that is not valid; such entries are skipped when reading.
//! Nix 2.34 without `--json-format` prints V1 and warns that a future version will insist on a
//! format; [`Format::default`] is V1 to match what it prints today.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
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
    /// Nix 2.26's `--json`: format 1 without `storeDir` and `version` in each entry.
    Nix226,
}

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
}

impl Entry {
    /// An entry of a binary cache's object: no registration time, not ultimate.
    pub fn new(info: NarInfo) -> Self {
        Entry {
            info,
            registration_time: None,
            ultimate: false,
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

/// One entry as Nix writes it; fields in Nix's (alphabetical) order.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw<Ca> {
    ca: Option<Ca>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compression: Option<String>,
    deriver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_hash: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_size: Option<u64>,
    nar_hash: Hash,
    nar_size: u64,
    references: Vec<String>,
    registration_time: Option<u64>,
    signatures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_dir: Option<String>,
    ultimate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
}

/// A rendered content address (`"fixed:git:sha1:…"`).
#[derive(Serialize, Deserialize)]
struct Rendered(#[serde(with = "crate::serde_impls::rendered")] ContentAddress);

fn to_raw<Ca>(entry: &Entry, format: Format, ca: Option<Ca>) -> Raw<Ca> {
    let info = &entry.info;
    let dir = &info.store_dir;
    let path = |p: &StorePath| match format {
        Format::V2 => p.to_string(),
        Format::V1 | Format::Nix226 => dir.display_path(p),
    };
    let cache = !info.url.is_empty();
    Raw {
        ca,
        compression: cache.then(|| info.compression.to_string()),
        deriver: info.deriver.as_ref().map(path),
        download_hash: info.file_hash.filter(|_| cache),
        download_size: info.file_size.filter(|&s| cache && s != 0),
        nar_hash: info.nar_hash,
        nar_size: info.nar_size,
        references: info.references.iter().map(path).collect(),
        registration_time: entry.registration_time,
        signatures: info.signatures.iter().cloned().collect(),
        store_dir: (format != Format::Nix226).then(|| dir.as_str().to_owned()),
        ultimate: entry.ultimate,
        url: cache.then(|| info.url.clone()),
        version: match format {
            Format::V1 => Some(1),
            Format::V2 => Some(2),
            Format::Nix226 => None,
        },
    }
}

impl Serialize for PathInfoJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let key = |e: &Entry| match self.format {
            Format::V2 => e.info.store_path.to_string(),
            Format::V1 | Format::Nix226 => e.info.store_dir.display_path(&e.info.store_path),
        };
        let sorted: BTreeMap<String, &Entry> = self.entries.iter().map(|e| (key(e), e)).collect();
        match self.format {
            Format::V2 => {
                struct Info<'a>(&'a BTreeMap<String, &'a Entry>);
                impl Serialize for Info<'_> {
                    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                        let mut map = serializer.serialize_map(Some(self.0.len()))?;
                        for (k, e) in self.0 {
                            map.serialize_entry(k, &to_raw(e, Format::V2, e.info.ca))?;
                        }
                        map.end()
                    }
                }
                let store_dir = self
                    .entries
                    .first()
                    .map_or_else(StoreDir::default, |e| e.info.store_dir.clone());
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("info", &Info(&sorted))?;
                map.serialize_entry("storeDir", store_dir.as_str())?;
                map.serialize_entry("version", &2)?;
                map.end()
            }
            Format::V1 | Format::Nix226 => {
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (k, e) in &sorted {
                    map.serialize_entry(k, &to_raw(e, self.format, e.info.ca.map(Rendered)))?;
                }
                map.end()
            }
        }
    }
}

/// Either shape of the top level.
#[derive(Deserialize)]
#[serde(untagged)]
enum Top {
    V2 {
        info: BTreeMap<String, Option<Raw<ContentAddress>>>,
        #[serde(rename = "storeDir")]
        store_dir: String,
        version: u32,
    },
    V1(BTreeMap<String, Option<Raw<Rendered>>>),
}

fn from_raw<Ca, E: de::Error>(
    key: &str,
    raw: Raw<Ca>,
    ca: Option<ContentAddress>,
    store_dir: Option<&str>,
) -> Result<Entry, E> {
    let dir = StoreDir::new(
        raw.store_dir
            .as_deref()
            .or(store_dir)
            .unwrap_or(crate::store_path::DEFAULT_STORE_DIR),
    )
    .map_err(E::custom)?;
    // Full paths in format 1, base names in format 2.
    let path = |p: &str| {
        if p.starts_with('/') {
            dir.parse_path(p)
        } else {
            StorePath::from_base_name(p)
        }
        .map_err(E::custom)
    };
    let mut info = NarInfo::new(
        dir.clone(),
        path(key)?,
        raw.url.unwrap_or_default(),
        raw.nar_hash,
        raw.nar_size,
    );
    // Absent (a local store's path info): no compression is known, kept as the empty name.
    info.compression = Compression::from(raw.compression.as_deref().unwrap_or_default());
    info.file_hash = raw.download_hash;
    info.file_size = raw.download_size;
    info.references = raw
        .references
        .iter()
        .map(|r| path(r))
        .collect::<Result<_, _>>()?;
    info.deriver = raw.deriver.as_deref().map(path).transpose()?;
    info.signatures = raw.signatures.into_iter().collect();
    info.ca = ca;
    Ok(Entry {
        info,
        registration_time: raw.registration_time,
        ultimate: raw.ultimate,
    })
}

impl<'de> Deserialize<'de> for PathInfoJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Top::deserialize(deserializer)? {
            Top::V2 {
                info,
                store_dir,
                version,
            } => {
                if version != 2 {
                    return Err(de::Error::custom(format!(
                        "unknown path info JSON version {version}"
                    )));
                }
                let entries = info
                    .into_iter()
                    .filter_map(|(k, raw)| raw.map(|raw| (k, raw)))
                    .map(|(k, raw)| {
                        let ca = raw.ca;
                        from_raw(&k, raw_without_ca(raw), ca, Some(&store_dir))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(PathInfoJson {
                    entries,
                    format: Format::V2,
                })
            }
            Top::V1(map) => {
                let mut format = Format::Nix226;
                let entries = map
                    .into_iter()
                    .filter_map(|(k, raw)| raw.map(|raw| (k, raw)))
                    .map(|(k, raw)| {
                        if raw.version.is_some() {
                            format = Format::V1;
                        }
                        let ca = raw.ca.as_ref().map(|r| r.0);
                        from_raw(&k, raw, ca, None)
                    })
                    .collect::<Result<_, _>>()?;
                Ok(PathInfoJson { entries, format })
            }
        }
    }
}

/// `raw` with its content address moved out (the caller keeps it).
fn raw_without_ca<Ca>(raw: Raw<Ca>) -> Raw<()> {
    Raw {
        ca: None,
        compression: raw.compression,
        deriver: raw.deriver,
        download_hash: raw.download_hash,
        download_size: raw.download_size,
        nar_hash: raw.nar_hash,
        nar_size: raw.nar_size,
        references: raw.references,
        registration_time: raw.registration_time,
        signatures: raw.signatures,
        store_dir: raw.store_dir,
        ultimate: raw.ultimate,
        url: raw.url,
        version: raw.version,
    }
}
