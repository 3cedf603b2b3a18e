//! Nix's `.narinfo`: what a binary cache says about one store object.
//!
//! A binary cache (`nix copy --to file://…`, `https://cache.nixos.org`) keeps each store object
//! as a NAR file under `nar/` and describes it in `<hash part>.narinfo`, a text file of
//! `Name: value` lines:
//!
//! ```text
//! StorePath: /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree
//! URL: nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar
//! Compression: none
//! FileHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8
//! FileSize: 896
//! NarHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8
//! NarSize: 896
//! References:
//! CA: fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y
//! ```
//!
//! [`NarInfo`] renders ([`Display`](std::fmt::Display)) exactly the bytes Nix's
//! `NarInfo::to_string` writes — field order, nix32 hashes, an empty `References: ` line, sorted
//! signatures — and parses ([`NarInfo::parse`]) what Nix's parser accepts, refusing anything
//! malformed with an [`NarInfoError`] that names the line and what is wrong.
//!
//! ```
//! use nix_ingest::narinfo::NarInfo;
//! use nix_ingest::store_path::StoreDir;
//!
//! let text = "StorePath: /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree\n\
//!             URL: nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar\n\
//!             Compression: none\n\
//!             FileHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8\n\
//!             FileSize: 896\n\
//!             NarHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8\n\
//!             NarSize: 896\n\
//!             References: \n\
//!             CA: fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y\n";
//! let info = NarInfo::parse(text, &StoreDir::default())?;
//! assert_eq!(info.store_path.name(), "tree");
//! assert_eq!(info.nar_size, 896);
//! assert_eq!(info.ca.as_ref().unwrap().to_string(), "fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y");
//! assert_eq!(info.to_string(), text);
//!
//! // A malformed one is refused, naming the line.
//! let bad = text.replace("NarSize: 896", "NarSize: 89x");
//! let err = NarInfo::parse(&bad, &StoreDir::default()).unwrap_err();
//! assert_eq!(err.to_string(), "narinfo line 7: NarSize \"89x\" is not a number");
//! # Ok::<(), nix_ingest::narinfo::NarInfoError>(())
//! ```
//!
//! # The format, as Nix reads it
//!
//! - Every line is `Name: value` and ends in `\n`, the last one too.
//! - `StorePath` (a full path in the store directory), `URL`, `NarHash` and `NarSize` (not 0)
//!   are required.
//! - `Compression` defaults to `bzip2` when absent or empty.
//! - `FileHash` and `NarHash` are hashes naming their algorithm (`sha256:<nix32>`, SRI, base16…);
//!   `FileSize` and `NarSize` are decimal.
//! - `References` lists base names separated by spaces (empty for none); `Deriver` is a base name
//!   or `unknown-deriver` (none).
//! - `Sig` may appear any number of times; each is kept as text (`<key name>:<base64>`), and
//!   they are written sorted, as Nix keeps them in a set.
//! - `CA` is a content address (empty for none).
//! - `System` is kept and written after `Deriver` when set; Nix 2.26 and 2.34 neither write nor
//!   read it.
//! - Other names are ignored, as by Nix (newer ones may add fields).
//!
//! # Where Nix differs
//!
//! This parser is stricter than Nix's, never more lenient:
//!
//! - Nix takes the value to start two bytes after the colon whatever the byte after the colon
//!   is; here it must be a space.
//! - Nix lets a later `StorePath`, `URL`, `NarHash`… line silently replace an earlier one, and a
//!   second `References` or `CA` line follow an empty one; here any repeated field but `Sig` is
//!   refused.
//! - Nix reads bytes; here the text must be UTF-8 (store paths, hashes and sizes are ASCII
//!   anyway), at most [`MAX_LEN`] bytes, and lines may not be empty.
//! - A `FileSize` without `FileHash` or the other way round is kept as given; Nix's writer
//!   asserts both are there, this one writes what is set.

mod compression;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod json;

pub use compression::Compression;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::content_address::{self, ContentAddress};
use crate::hash::{self, Format, Hash};
use crate::store_path::{self, StoreDir, StorePath};

/// The longest narinfo [`NarInfo::parse`] reads, in bytes (4 MiB; real ones are a few hundred
/// bytes, or tens of kilobytes with thousands of references).
pub const MAX_LEN: usize = 4 << 20;

/// How much of an offending value an [`NarInfoError`] echoes, in bytes.
const ECHO_LEN: usize = 100;

/// Why a narinfo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NarInfoError {
    /// Longer than [`MAX_LEN`].
    #[error("narinfo is {len} bytes long; at most {max} are allowed", max = MAX_LEN)]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Bytes that are not UTF-8.
    #[error("narinfo line {line}: not UTF-8")]
    NotUtf8 {
        /// The line (from 1).
        line: usize,
    },
    /// The last line does not end in `\n`.
    #[error("narinfo line {line}: no newline at the end")]
    MissingNewline {
        /// The line (from 1).
        line: usize,
    },
    /// A line that is not `Name: value`.
    #[error("narinfo line {line}: expected 'Name: value', found {text:?}")]
    NotAField {
        /// The line (from 1).
        line: usize,
        /// The line's text (its first 100 bytes).
        text: String,
    },
    /// A field other than `Sig` given twice.
    #[error("narinfo line {line}: second {field} field")]
    Repeated {
        /// The line (from 1) of the second one.
        line: usize,
        /// The field's name.
        field: &'static str,
    },
    /// A hash field that is not a hash.
    #[error("narinfo line {line}: {field} {value:?} is not a hash")]
    Hash {
        /// The line (from 1).
        line: usize,
        /// `NarHash` or `FileHash`.
        field: &'static str,
        /// The value (its first 100 bytes).
        value: String,
        /// What is wrong with it.
        #[source]
        source: hash::Error,
    },
    /// A size field that is not a decimal number that fits in 64 bits.
    #[error("narinfo line {line}: {field} {value:?} is not a number")]
    Size {
        /// The line (from 1).
        line: usize,
        /// `NarSize` or `FileSize`.
        field: &'static str,
        /// The value (its first 100 bytes).
        value: String,
    },
    /// A store path field that is not a store path.
    #[error("narinfo line {line}: {field} {value:?} is not a store path")]
    StorePath {
        /// The line (from 1).
        line: usize,
        /// `StorePath`, `References` or `Deriver`.
        field: &'static str,
        /// The offending path (its first 100 bytes).
        value: String,
        /// What is wrong with it.
        #[source]
        source: store_path::StorePathError,
    },
    /// A `CA` that is not a content address.
    #[error("narinfo line {line}: CA {value:?} is not a content address")]
    ContentAddress {
        /// The line (from 1).
        line: usize,
        /// The value (its first 100 bytes).
        value: String,
        /// What is wrong with it.
        #[source]
        source: content_address::ContentAddressError,
    },
    /// A required field is missing (or, for `URL`, empty).
    #[error("narinfo has no {field} field")]
    Missing {
        /// `StorePath`, `URL`, `NarHash` or `NarSize`.
        field: &'static str,
    },
    /// `NarSize: 0`.
    #[error("narinfo line {line}: NarSize is 0")]
    ZeroNarSize {
        /// The line (from 1).
        line: usize,
    },
}

/// What a binary cache says about one store object: Nix's `NarInfo`.
///
/// Build one with [`NarInfo::new`] and set the optional fields, or read one with
/// [`NarInfo::parse`].
/// `Display` writes the `.narinfo` text exactly as Nix does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NarInfo {
    /// The store directory `store_path` is printed in.
    pub store_dir: StoreDir,
    /// `StorePath`: the store object described.
    pub store_path: StorePath,
    /// `URL`: where the (compressed) NAR is, relative to the cache (`nar/<file hash>.nar.xz`).
    pub url: String,
    /// `Compression`: `none`, `xz`, `bzip2`, `zstd`, `br`…
    pub compression: Compression,
    /// `FileHash`: the hash of the file at `url` (SHA-256 when Nix writes it).
    pub file_hash: Option<Hash>,
    /// `FileSize`: the size of the file at `url`.
    pub file_size: Option<u64>,
    /// `NarHash`: the hash of the uncompressed NAR (SHA-256 when Nix writes it).
    pub nar_hash: Hash,
    /// `NarSize`: the size of the uncompressed NAR.
    pub nar_size: u64,
    /// `References`: the store objects this one refers to (possibly itself).
    pub references: BTreeSet<StorePath>,
    /// `Deriver`: the derivation that built it, if known.
    pub deriver: Option<StorePath>,
    /// `System`: written by old Nix versions; kept as text.
    pub system: Option<String>,
    /// `Sig`: signatures, kept as text (`<key name>:<base64 signature>`).
    pub signatures: BTreeSet<String>,
    /// `CA`: the content address, for a content-addressed store object.
    pub ca: Option<ContentAddress>,
}

impl NarInfo {
    /// A narinfo with the required fields; `Compression` is `none` and every optional field
    /// empty.
    ///
    /// ```
    /// use nix_ingest::hash::{Algorithm, Hash};
    /// use nix_ingest::narinfo::NarInfo;
    /// use nix_ingest::store_path::{StoreDir, StorePath};
    ///
    /// let path = StorePath::from_base_name("dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree")?;
    /// let nar_hash = Hash::digest(Algorithm::Sha256, b"not really a NAR");
    /// let mut info = NarInfo::new(StoreDir::default(), path, "nar/x.nar", nar_hash, 16);
    /// info.signatures.insert("cache.example.org-1:c2lnbmF0dXJl".into());
    /// assert!(info.to_string().starts_with("StorePath: /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree\n"));
    /// assert!(info.to_string().ends_with("References: \nSig: cache.example.org-1:c2lnbmF0dXJl\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        store_dir: StoreDir,
        store_path: StorePath,
        url: impl Into<String>,
        nar_hash: Hash,
        nar_size: u64,
    ) -> Self {
        NarInfo {
            store_dir,
            store_path,
            url: url.into(),
            compression: Compression::None,
            file_hash: None,
            file_size: None,
            nar_hash,
            nar_size,
            references: BTreeSet::new(),
            deriver: None,
            system: None,
            signatures: BTreeSet::new(),
            ca: None,
        }
    }

    /// What a signature of this path signs, as Nix's `ValidPathInfo::fingerprint`:
    /// `1;<store path>;<NAR hash, nix32 with its algorithm>;<NAR size>;<references, sorted,
    /// comma-separated>`.
    ///
    /// ```
    /// use nix_ingest::narinfo::NarInfo;
    ///
    /// let info: NarInfo = "StorePath: /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree
    /// URL: nar/x.nar
    /// Compression: none
    /// NarHash: sha256:0mrfc5kcnmlqx4grk2vd7i09pzb4gmx8jb4k4xk0lr2zml5dw8hy
    /// NarSize: 16
    /// References: dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree
    /// ".parse()?;
    /// assert_eq!(
    ///     info.fingerprint(),
    ///     "1;/nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree;\
    ///      sha256:0mrfc5kcnmlqx4grk2vd7i09pzb4gmx8jb4k4xk0lr2zml5dw8hy;16;\
    ///      /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.store_dir,
            &self.store_path,
            &self.nar_hash,
            self.nar_size,
            self.references.iter(),
        )
    }

    /// The name of the file a binary cache keeps this narinfo in: `<hash part>.narinfo`.
    pub fn file_name(&self) -> String {
        format!("{}.narinfo", self.store_path.hash_part())
    }

    /// Parses a `.narinfo` whose store paths are in `store_dir`, as Nix's `NarInfo` constructor
    /// (see the [module docs](self) for the rules and where this is stricter than Nix).
    pub fn parse(text: &str, store_dir: &StoreDir) -> Result<Self, NarInfoError> {
        Parser::new(store_dir).parse(text)
    }

    /// [`NarInfo::parse`] for bytes, which must be UTF-8.
    pub fn parse_bytes(bytes: &[u8], store_dir: &StoreDir) -> Result<Self, NarInfoError> {
        if bytes.len() > MAX_LEN {
            return Err(NarInfoError::TooLong { len: bytes.len() });
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, store_dir),
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                Err(NarInfoError::NotUtf8 { line })
            }
        }
    }
}

/// What a signature of a store path signs, as Nix's `ValidPathInfo::fingerprint` (see
/// [`NarInfo::fingerprint`]): references are printed in `store`, sorted and deduplicated.
pub fn fingerprint<'a>(
    store: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: impl IntoIterator<Item = &'a StorePath>,
) -> String {
    let refs: BTreeSet<String> = references
        .into_iter()
        .map(|r| store.display_path(r))
        .collect();
    format!(
        "1;{};{};{};{}",
        store.display_path(path),
        nar_hash.to_prefixed(Format::Nix32),
        nar_size,
        refs.into_iter().collect::<Vec<_>>().join(",")
    )
}

impl FromStr for NarInfo {
    type Err = NarInfoError;

    /// [`NarInfo::parse`] in the default store directory, `/nix/store`.
    fn from_str(s: &str) -> Result<Self, NarInfoError> {
        NarInfo::parse(s, &StoreDir::default())
    }
}

impl fmt::Display for NarInfo {
    /// The `.narinfo` text, as Nix's `NarInfo::to_string` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "StorePath: {}",
            self.store_dir.display_path(&self.store_path)
        )?;
        writeln!(f, "URL: {}", self.url)?;
        writeln!(f, "Compression: {}", self.compression)?;
        if let Some(hash) = &self.file_hash {
            writeln!(f, "FileHash: {}", hash.to_prefixed(Format::Nix32))?;
        }
        if let Some(size) = self.file_size {
            writeln!(f, "FileSize: {size}")?;
        }
        writeln!(f, "NarHash: {}", self.nar_hash.to_prefixed(Format::Nix32))?;
        writeln!(f, "NarSize: {}", self.nar_size)?;
        f.write_str("References: ")?;
        for (i, r) in self.references.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{r}")?;
        }
        f.write_str("\n")?;
        if let Some(deriver) = &self.deriver {
            writeln!(f, "Deriver: {deriver}")?;
        }
        if let Some(system) = &self.system {
            writeln!(f, "System: {system}")?;
        }
        for sig in &self.signatures {
            writeln!(f, "Sig: {sig}")?;
        }
        if let Some(ca) = &self.ca {
            writeln!(f, "CA: {ca}")?;
        }
        Ok(())
    }
}

/// The first [`ECHO_LEN`] bytes of `s` (cut at a character boundary).
fn echo(s: &str) -> String {
    let mut end = s.len().min(ECHO_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The fields seen so far.
struct Parser<'a> {
    store_dir: &'a StoreDir,
    store_path: Option<StorePath>,
    url: Option<String>,
    compression: Option<String>,
    file_hash: Option<Hash>,
    file_size: Option<u64>,
    nar_hash: Option<Hash>,
    nar_size: Option<u64>,
    references: Option<BTreeSet<StorePath>>,
    deriver: Option<Option<StorePath>>,
    system: Option<String>,
    signatures: BTreeSet<String>,
    ca: Option<Option<ContentAddress>>,
}

/// Sets a field once; a second time is an error.
fn once<T>(
    slot: &mut Option<T>,
    value: T,
    line: usize,
    field: &'static str,
) -> Result<(), NarInfoError> {
    if slot.is_some() {
        return Err(NarInfoError::Repeated { line, field });
    }
    *slot = Some(value);
    Ok(())
}

impl<'a> Parser<'a> {
    fn new(store_dir: &'a StoreDir) -> Self {
        Parser {
            store_dir,
            store_path: None,
            url: None,
            compression: None,
            file_hash: None,
            file_size: None,
            nar_hash: None,
            nar_size: None,
            references: None,
            deriver: None,
            system: None,
            signatures: BTreeSet::new(),
            ca: None,
        }
    }

    fn parse(mut self, text: &str) -> Result<NarInfo, NarInfoError> {
        if text.len() > MAX_LEN {
            return Err(NarInfoError::TooLong { len: text.len() });
        }
        let mut rest = text;
        let mut line = 0;
        while !rest.is_empty() {
            line += 1;
            let Some((l, after)) = rest.split_once('\n') else {
                return Err(NarInfoError::MissingNewline { line });
            };
            rest = after;
            let Some((name, value)) = l.split_once(": ") else {
                return Err(NarInfoError::NotAField {
                    line,
                    text: echo(l),
                });
            };
            if name.is_empty() || name.contains(':') {
                return Err(NarInfoError::NotAField {
                    line,
                    text: echo(l),
                });
            }
            self.field(name, value, line)?;
        }
        self.finish()
    }

    fn base_name(
        &self,
        value: &str,
        line: usize,
        field: &'static str,
    ) -> Result<StorePath, NarInfoError> {
        StorePath::from_base_name(value).map_err(|source| NarInfoError::StorePath {
            line,
            field,
            value: echo(value),
            source,
        })
    }

    fn field(&mut self, name: &str, value: &str, line: usize) -> Result<(), NarInfoError> {
        let hash = |field| {
            Hash::parse(value).map_err(|source| NarInfoError::Hash {
                line,
                field,
                value: echo(value),
                source,
            })
        };
        let size = |field| {
            // Decimal digits only: no sign, no spaces (`u64::from_str` allows a '+').
            value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| NarInfoError::Size {
                    line,
                    field,
                    value: echo(value),
                })
        };
        match name {
            "StorePath" => {
                let path =
                    self.store_dir
                        .parse_path(value)
                        .map_err(|source| NarInfoError::StorePath {
                            line,
                            field: "StorePath",
                            value: echo(value),
                            source,
                        })?;
                once(&mut self.store_path, path, line, "StorePath")
            }
            "URL" => once(&mut self.url, value.to_owned(), line, "URL"),
            "Compression" => once(&mut self.compression, value.to_owned(), line, "Compression"),
            "FileHash" => once(&mut self.file_hash, hash("FileHash")?, line, "FileHash"),
            "FileSize" => once(&mut self.file_size, size("FileSize")?, line, "FileSize"),
            "NarHash" => once(&mut self.nar_hash, hash("NarHash")?, line, "NarHash"),
            "NarSize" => {
                let n = size("NarSize")?;
                if n == 0 {
                    return Err(NarInfoError::ZeroNarSize { line });
                }
                once(&mut self.nar_size, n, line, "NarSize")
            }
            "References" => {
                let refs = value
                    .split(' ')
                    .filter(|r| !r.is_empty())
                    .map(|r| self.base_name(r, line, "References"))
                    .collect::<Result<_, _>>()?;
                once(&mut self.references, refs, line, "References")
            }
            "Deriver" => {
                let deriver = match value {
                    "unknown-deriver" => None,
                    _ => Some(self.base_name(value, line, "Deriver")?),
                };
                once(&mut self.deriver, deriver, line, "Deriver")
            }
            "System" => once(&mut self.system, value.to_owned(), line, "System"),
            "Sig" => {
                self.signatures.insert(value.to_owned());
                Ok(())
            }
            "CA" => {
                let ca = match value {
                    "" => None,
                    _ => Some(ContentAddress::parse(value).map_err(|source| {
                        NarInfoError::ContentAddress {
                            line,
                            value: echo(value),
                            source,
                        }
                    })?),
                };
                once(&mut self.ca, ca, line, "CA")
            }
            _ => Ok(()),
        }
    }

    fn finish(self) -> Result<NarInfo, NarInfoError> {
        let missing = |field| NarInfoError::Missing { field };
        let store_path = self.store_path.ok_or(missing("StorePath"))?;
        let nar_hash = self.nar_hash.ok_or(missing("NarHash"))?;
        let url = self.url.filter(|u| !u.is_empty()).ok_or(missing("URL"))?;
        let nar_size = self.nar_size.ok_or(missing("NarSize"))?;
        Ok(NarInfo {
            store_dir: self.store_dir.clone(),
            store_path,
            url,
            compression: self
                .compression
                .filter(|c| !c.is_empty())
                .map_or(Compression::Bzip2, |c| Compression::from(c.as_str())),
            file_hash: self.file_hash,
            file_size: self.file_size,
            nar_hash,
            nar_size,
            references: self.references.unwrap_or_default(),
            deriver: self.deriver.flatten(),
            system: self.system,
            signatures: self.signatures,
            ca: self.ca.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &str = "StorePath: /nix/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree\n\
        URL: nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar\n\
        Compression: none\n\
        FileHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8\n\
        FileSize: 896\n\
        NarHash: sha256:0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8\n\
        NarSize: 896\n\
        References: \n\
        CA: fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y\n";

    fn parse(s: &str) -> Result<NarInfo, NarInfoError> {
        NarInfo::parse(s, &StoreDir::default())
    }

    #[test]
    fn malformed_lines_are_named() {
        let cases: &[(String, &str)] = &[
            (
                GIT.replace("URL: ", "URL:"),
                "narinfo line 2: expected 'Name: value', found \"URL:nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar\"",
            ),
            (
                GIT.trim_end().to_owned(),
                "narinfo line 9: no newline at the end",
            ),
            (
                GIT.replace("Compression: none\n", "\n"),
                "narinfo line 3: expected 'Name: value', found \"\"",
            ),
            (
                format!("{GIT}CA: fixed:git:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y\n"),
                "narinfo line 10: second CA field",
            ),
            (
                GIT.replace("NarSize: 896", "NarSize: +896"),
                "narinfo line 7: NarSize \"+896\" is not a number",
            ),
            (
                GIT.replace("NarSize: 896", "NarSize: 18446744073709551616"),
                "narinfo line 7: NarSize \"18446744073709551616\" is not a number",
            ),
            (
                GIT.replace("NarSize: 896", "NarSize: 0"),
                "narinfo line 7: NarSize is 0",
            ),
            (
                GIT.replace("FileHash: sha256:0", "FileHash: sha256:e"),
                "narinfo line 4: FileHash \"sha256:evavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8\" is not a hash",
            ),
            (
                GIT.replace("/nix/store/dz5", "/gnu/store/dz5"),
                "narinfo line 1: StorePath \"/gnu/store/dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz-tree\" is not a store path",
            ),
            (
                GIT.replace("References: ", "References: x\n"),
                "narinfo line 8: References \"x\" is not a store path",
            ),
            (
                GIT.replace("CA: fixed:git", "CA: fixed:gut"),
                "narinfo line 9: CA \"fixed:gut:sha1:hn0avhvv15c8fvv9sz1csy6g05c27q9y\" is not a content address",
            ),
            (
                GIT.replace("URL: nar/", "URL: \u{1b}[31mnar/\n"),
                "narinfo line 3: expected 'Name: value', found \"0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar\"",
            ),
            (
                GIT.replace(
                    "URL: nar/0vavc9mlxch9hx18c8mdidkfd8dllmc9r297m63ljv8wq2awayj8.nar",
                    "URL: ",
                ),
                "narinfo has no URL field",
            ),
            (
                GIT.replace("NarHash", "NarHosh"),
                "narinfo has no NarHash field",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), *expected, "{text}");
        }
    }

    #[test]
    fn echoed_input_is_escaped_and_bounded() {
        let long = "x".repeat(1000);
        let text = GIT.replace("NarSize: 896", &format!("NarSize: \u{1b}[31m\r{long}"));
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.starts_with("narinfo line 7: NarSize \"\\u{1b}[31m\\r"));
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn bounded_and_utf8() {
        let big = format!("{GIT}X: {}\n", "y".repeat(MAX_LEN));
        assert_eq!(
            parse(&big).unwrap_err(),
            NarInfoError::TooLong { len: big.len() }
        );
        let mut bytes = GIT.as_bytes().to_vec();
        bytes[GIT.find("URL").unwrap() + 6] = 0xff;
        assert_eq!(
            NarInfo::parse_bytes(&bytes, &StoreDir::default()).unwrap_err(),
            NarInfoError::NotUtf8 { line: 2 }
        );
    }
}
