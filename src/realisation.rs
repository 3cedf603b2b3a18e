//! Realisations: which store path an output of a content-addressed derivation was built to.
//!
//! When Nix copies the output of a content-addressed derivation (`__contentAddressed = true`,
//! experimental feature `ca-derivations`) to a binary cache, it uploads, beside the narinfo,
//! `realisations/<derivation output id>.doi`:
//!
//! ```text
//! {"dependentRealisations":{},"id":"sha256:39ed…a7!out","outPath":"941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out","signatures":["cache-1:iDQY…Cw=="]}
//! ```
//!
//! The id ([`DrvOutput`]) is the derivation's hash modulo (`sha256:` and base16) and the output
//! name; `outPath` the output's base name. A signature signs the realisation's
//! [fingerprint](Realisation::fingerprint): the same JSON without `signatures`, as Nix 2.34
//! writes it. With the `serde` feature, a [`Realisation`] reads and writes this JSON
//! (`serde_json::to_string` gives Nix's bytes).
//!
//! ```
//! use nix_ingest::realisation::{DrvOutput, Realisation};
//! use nix_ingest::store_path::StorePath;
//!
//! let id: DrvOutput = "sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out".parse()?;
//! assert_eq!(id.output_name(), "out");
//! assert_eq!(id.file_name(), "realisations/sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out.doi");
//! let r = Realisation::new(id, StorePath::from_base_name("941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out")?);
//! assert_eq!(
//!     r.fingerprint(),
//!     r#"{"dependentRealisations":{},"id":"sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out","outPath":"941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out"}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where Nix differs
//!
//! - Nix 2.26 wrote (and signed) `dependentRealisations`, the realisations of the derivation's
//!   content-addressed inputs; Nix 2.34 reads and ignores them and always writes `{}`. They are
//!   kept here as read and written back, but the fingerprint is 2.34's, with `{}`: a 2.26
//!   realisation with dependents verifies only under 2.26's fingerprint
//!   ([`Realisation::fingerprint_with_dependents`]).
//! - Nix takes any text after `!` as the output name; here it must be a valid store path name
//!   (as every output name Nix accepts in a derivation is).
//! - Nix's development branch (after 2.34) has another shape (`{"key": {"drvPath", "outputName"},
//!   "value": {…}}`), keyed by the derivation's path: [`BuildTraceEntry`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::hash::{self, Format, Hash};
use crate::store_path::{self, StorePath};

/// Why a derivation output id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealisationError {
    /// No `!` between hash and output name.
    #[error("derivation output id {0:?} has no '!' before its output name")]
    NoSeparator(String),
    /// The hash is not a hash naming its algorithm.
    #[error("derivation output id {id:?}: bad hash")]
    Hash {
        /// The id (its first 200 bytes).
        id: String,
        /// Why.
        #[source]
        source: hash::Error,
    },
    /// The output name is not a valid name.
    #[error("derivation output id {id:?}: bad output name")]
    OutputName {
        /// The id (its first 200 bytes).
        id: String,
        /// Why.
        #[source]
        source: store_path::StorePathError,
    },
}

/// A derivation output id: `<hash modulo of the derivation>!<output name>` (Nix's `DrvOutput`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DrvOutput {
    drv_hash: Hash,
    output_name: String,
}

impl DrvOutput {
    /// The id of output `output_name` of the derivation whose hash modulo is `drv_hash`.
    pub fn new(drv_hash: Hash, output_name: &str) -> Result<Self, RealisationError> {
        store_path::check_name(output_name).map_err(|source| RealisationError::OutputName {
            id: format!("{}!{}", drv_hash.to_prefixed(Format::Base16), output_name),
            source,
        })?;
        Ok(DrvOutput {
            drv_hash,
            output_name: output_name.to_owned(),
        })
    }

    /// The derivation's hash modulo.
    pub fn drv_hash(&self) -> &Hash {
        &self.drv_hash
    }

    /// The output's name.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// Where a binary cache keeps its realisation: `realisations/<id>.doi`.
    pub fn file_name(&self) -> String {
        format!("realisations/{self}.doi")
    }
}

impl fmt::Display for DrvOutput {
    /// `sha256:<base16>!<output name>`, as Nix writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}!{}",
            self.drv_hash.to_prefixed(Format::Base16),
            self.output_name
        )
    }
}

impl fmt::Debug for DrvOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DrvOutput({self})")
    }
}

impl FromStr for DrvOutput {
    type Err = RealisationError;
    /// Reads `<algo>:<digest>!<name>` (the digest in any base, or SRI), as Nix's
    /// `DrvOutput::parse`.
    fn from_str(s: &str) -> Result<Self, RealisationError> {
        let echo = || s.chars().take(200).collect::<String>();
        let (hash, name) = s
            .split_once('!')
            .ok_or_else(|| RealisationError::NoSeparator(echo()))?;
        let drv_hash =
            Hash::parse(hash).map_err(|source| RealisationError::Hash { id: echo(), source })?;
        store_path::check_name(name)
            .map_err(|source| RealisationError::OutputName { id: echo(), source })?;
        Ok(DrvOutput {
            drv_hash,
            output_name: name.to_owned(),
        })
    }
}

impl PartialOrd for DrvOutput {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DrvOutput {
    /// By the text Nix writes (the order of its JSON objects' keys).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

/// A realisation: output [`id`](Self::id) was built to [`out_path`](Self::out_path).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Realisation {
    /// `id`.
    pub id: DrvOutput,
    /// `outPath`: the output (a base name in the JSON).
    pub out_path: StorePath,
    /// `signatures`, as `name:base64` text.
    pub signatures: BTreeSet<String>,
    /// `dependentRealisations` (written by Nix 2.26; Nix 2.34 writes none).
    pub dependent_realisations: BTreeMap<DrvOutput, StorePath>,
}

impl Realisation {
    /// A realisation without signatures or dependents.
    pub fn new(id: DrvOutput, out_path: StorePath) -> Self {
        Realisation {
            id,
            out_path,
            signatures: BTreeSet::new(),
            dependent_realisations: BTreeMap::new(),
        }
    }

    /// What a signature of this realisation signs, as Nix 2.34's
    /// `UnkeyedRealisation::fingerprint`: the JSON without `signatures`, and with
    /// `dependentRealisations` empty.
    pub fn fingerprint(&self) -> String {
        // Ids and store path base names need no JSON escaping (checked when made).
        format!(
            r#"{{"dependentRealisations":{{}},"id":"{}","outPath":"{}"}}"#,
            self.id, self.out_path
        )
    }

    /// The fingerprint as Nix 2.26 computed it, with the dependents (the same as
    /// [`fingerprint`](Self::fingerprint) when there are none).
    pub fn fingerprint_with_dependents(&self) -> String {
        let deps: Vec<String> = self
            .dependent_realisations
            .iter()
            .map(|(id, path)| format!(r#""{id}":"{path}""#))
            .collect();
        format!(
            r#"{{"dependentRealisations":{{{}}},"id":"{}","outPath":"{}"}}"#,
            deps.join(","),
            self.id,
            self.out_path
        )
    }
}

#[cfg(feature = "serde")]
mod json {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::de::{self, Deserializer};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::{DrvOutput, Realisation};
    use crate::store_path::StorePath;

    impl Serialize for DrvOutput {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for DrvOutput {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(de::Error::custom)
        }
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        #[serde(default)]
        dependent_realisations: BTreeMap<DrvOutput, StorePath>,
        id: DrvOutput,
        out_path: StorePath,
        #[serde(default)]
        signatures: BTreeSet<String>,
    }

    impl Serialize for Realisation {
        /// `{"dependentRealisations", "id", "outPath", "signatures"}`, as Nix writes a `.doi`.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Raw {
                dependent_realisations: self.dependent_realisations.clone(),
                id: self.id.clone(),
                out_path: self.out_path.clone(),
                signatures: self.signatures.clone(),
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Realisation {
        /// Reads a `.doi`: `id` and `outPath` are required; `signatures` and
        /// `dependentRealisations` may be left out. Each signature must be `name:base64`.
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let raw = Raw::deserialize(deserializer)?;
            for s in &raw.signatures {
                let ok = s.split_once(':').is_some_and(|(name, sig)| {
                    !name.is_empty()
                        && data_encoding::BASE64
                            .decode(sig.as_bytes())
                            .is_ok_and(|b| !b.is_empty())
                });
                if !ok {
                    return Err(de::Error::custom(format!(
                        "signature {s:?} is not name:base64"
                    )));
                }
            }
            Ok(Realisation {
                id: raw.id,
                out_path: raw.out_path,
                signatures: raw.signatures,
                dependent_realisations: raw.dependent_realisations,
            })
        }
    }
}

/// The key of a [`BuildTraceEntry`]: an output of a derivation, by the derivation's store path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct BuildTraceKey {
    /// `drvPath`: the derivation (a base name in the JSON).
    pub drv_path: StorePath,
    /// `outputName`.
    pub output_name: String,
}

impl BuildTraceKey {
    /// Output `output_name` of the derivation `drv_path`.
    pub fn new(drv_path: StorePath, output_name: &str) -> Result<Self, RealisationError> {
        store_path::check_name(output_name).map_err(|source| RealisationError::OutputName {
            id: format!("{drv_path}^{output_name}"),
            source,
        })?;
        Ok(BuildTraceKey {
            drv_path,
            output_name: output_name.to_owned(),
        })
    }
}

impl fmt::Display for BuildTraceKey {
    /// `<drv base name>^<output>`, as Nix's development branch writes a `DrvOutput`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}^{}", self.drv_path, self.output_name)
    }
}

/// A realisation as Nix's development branch (after 2.34) writes it: a build trace entry,
/// version 3 of its schema (`build-trace-entry-v3`), keyed by the derivation's store path
/// instead of its hash modulo, with signatures as `{"keyName", "sig"}` objects:
///
/// ```text
/// {"key":{"drvPath":"<drv base name>","outputName":"out"},"value":{"outPath":"<base name>","signatures":[{"keyName":"…","sig":"…"}]}}
/// ```
///
/// No Nix release writes it yet; it is read and written here from upstream's documentation.
/// Reading takes signatures as objects or as `name:base64` strings.
///
/// ```
/// use nix_ingest::realisation::{BuildTraceEntry, BuildTraceKey};
/// use nix_ingest::store_path::StorePath;
///
/// let key = BuildTraceKey::new(StorePath::from_base_name("81x261y97pl4d4kb65n8z133bjvwd5as-ca-out.drv")?, "out")?;
/// let entry = BuildTraceEntry::new(key, StorePath::from_base_name("941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out")?);
/// assert_eq!(
///     entry.fingerprint(),
///     r#"{"key":{"drvPath":"81x261y97pl4d4kb65n8z133bjvwd5as-ca-out.drv","outputName":"out"},"value":{"outPath":"941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out"}}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildTraceEntry {
    /// `key`.
    pub key: BuildTraceKey,
    /// `value.outPath`.
    pub out_path: StorePath,
    /// `value.signatures`, as `name:base64` text.
    pub signatures: BTreeSet<String>,
}

impl BuildTraceEntry {
    /// An entry without signatures.
    pub fn new(key: BuildTraceKey, out_path: StorePath) -> Self {
        BuildTraceEntry {
            key,
            out_path,
            signatures: BTreeSet::new(),
        }
    }

    /// What a signature of this entry signs, as the development branch's
    /// `UnkeyedRealisation::fingerprint`: the JSON without `value.signatures`.
    pub fn fingerprint(&self) -> String {
        // Base names and output names need no JSON escaping (checked when made).
        format!(
            r#"{{"key":{{"drvPath":"{}","outputName":"{}"}},"value":{{"outPath":"{}"}}}}"#,
            self.key.drv_path, self.key.output_name, self.out_path
        )
    }
}

#[cfg(feature = "serde")]
mod build_trace_json {
    use serde::de::{self, Deserializer};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::{BuildTraceEntry, BuildTraceKey};
    use crate::narinfo::json::{Format, Sig, sig_from_raw, sigs_to_raw};
    use crate::store_path::{StorePath, check_name};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct RawKey {
        drv_path: StorePath,
        output_name: String,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct RawValue {
        out_path: StorePath,
        #[serde(default)]
        signatures: Vec<Sig>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        key: RawKey,
        value: RawValue,
    }

    impl Serialize for BuildTraceKey {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            RawKey {
                drv_path: self.drv_path.clone(),
                output_name: self.output_name.clone(),
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for BuildTraceKey {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let raw = RawKey::deserialize(deserializer)?;
            check_name(&raw.output_name)
                .map_err(|e| de::Error::custom(format!("outputName: {e}")))?;
            Ok(BuildTraceKey {
                drv_path: raw.drv_path,
                output_name: raw.output_name,
            })
        }
    }

    impl Serialize for BuildTraceEntry {
        /// As the schema's version 3; signatures sorted as Nix's `std::set<Signature>`.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Raw {
                key: RawKey {
                    drv_path: self.key.drv_path.clone(),
                    output_name: self.key.output_name.clone(),
                },
                value: RawValue {
                    out_path: self.out_path.clone(),
                    signatures: sigs_to_raw(&self.signatures, Format::V3)?,
                },
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for BuildTraceEntry {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let raw = Raw::deserialize(deserializer)?;
            check_name(&raw.key.output_name)
                .map_err(|e| de::Error::custom(format!("outputName: {e}")))?;
            let signatures = raw
                .value
                .signatures
                .into_iter()
                .map(|s| sig_from_raw(s, Format::V3).map_err(de::Error::custom))
                .collect::<Result<_, _>>()?;
            Ok(BuildTraceEntry {
                key: BuildTraceKey {
                    drv_path: raw.key.drv_path,
                    output_name: raw.key.output_name,
                },
                out_path: raw.value.out_path,
                signatures,
            })
        }
    }
}
