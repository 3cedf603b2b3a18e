//! Content addresses: how a store object's contents determine its store path.
//!
//! This is Nix's `ContentAddress` (a [`ContentAddressMethod`] and a [`struct@Hash`]), written the way
//! Nix prints it in `nix path-info --json`'s `ca` field, in narinfo `CA:` lines and in its
//! database:
//!
//! | method | rendered |
//! |---|---|
//! | text (`builtins.toFile`, `nix store add --mode text`) | `text:sha256:<nix32>` |
//! | flat | `fixed:<algo>:<nix32>` |
//! | NAR | `fixed:r:<algo>:<nix32>` |
//! | git | `fixed:git:<algo>:<nix32>` |
//!
//! Parsing follows Nix's `ContentAddress::parse`: the digest may be written in base16, nix32 or
//! base64, told apart by length (not SRI).
//!
//! Where Nix differs: Nix refuses `fixed:git:` unless its `git-hashing` experimental feature is
//! on; this module always accepts it. Like Nix, parsing accepts any algorithm with `text:`; only
//! [making a store path](crate::store_path::StoreDir::make_path_from_ca) insists on SHA-256.
//!
//! ```
//! use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
//! use nix_ingest::hash::{Algorithm, Format};
//! use nix_ingest::method::FileIngestionMethod;
//!
//! let ca: ContentAddress = "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d".parse().unwrap();
//! assert_eq!(ca.method(), ContentAddressMethod::Fixed(FileIngestionMethod::Git));
//! assert_eq!(ca.hash().algorithm(), Algorithm::Sha1);
//! assert_eq!(ca.hash().encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//!
//! // Any encoding is read; Nix's own (nix32) is written.
//! let hex: ContentAddress =
//!     "fixed:git:sha1:cd44baf36915d5dec8374232ea7e2057f3b4494e".parse().unwrap();
//! assert_eq!(hex, ca);
//! assert_eq!(hex.to_string(), "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::hash::{self, Algorithm, Format, Hash};
use crate::method::FileIngestionMethod;

/// Why a content address (or its method) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentAddressError {
    /// No `:` at all.
    #[error("{input:?} is not a content address: it is not of the form '<prefix>:<rest>'")]
    MissingPrefix {
        /// The whole input.
        input: String,
    },
    /// A prefix other than `text` or `fixed`.
    #[error("content address {input:?} has unknown prefix {prefix:?} (expected 'text' or 'fixed')")]
    UnknownPrefix {
        /// The prefix found.
        prefix: String,
        /// The whole input.
        input: String,
    },
    /// The algorithm is not followed by `:`.
    #[error("content address {input:?} must end in '<algo>:<hash>'")]
    MissingAlgorithm {
        /// The whole input.
        input: String,
    },
    /// The algorithm name or the digest is bad.
    #[error("invalid content address {input:?}{hint}", hint = address_hint(input))]
    Hash {
        /// The whole input.
        input: String,
        /// What is wrong with the algorithm or digest.
        #[source]
        source: hash::Error,
    },
    /// Text after `<method>:<algo>` where nothing may follow.
    #[error("content address method {input:?} has text after the algorithm")]
    TrailingText {
        /// The whole input.
        input: String,
    },
    /// A method name that is neither `text` nor a file ingestion method.
    #[error("unknown content address method {0:?} (expected text, flat, nar or git){hint}", hint = method_hint(.0))]
    UnknownMethod(String),
}

/// A hint for a method name a user likely meant as another.
fn method_hint(method: &str) -> &'static str {
    match method {
        "recursive" => {
            "; a NAR hash is written with the method prefix 'r:', as in 'fixed:r:sha256:<hash>'"
        }
        _ => "",
    }
}

/// A hint for a content address a user likely meant as another.
fn address_hint(input: &str) -> &'static str {
    match input
        .strip_prefix("fixed:")
        .and_then(|r| r.split(':').next())
    {
        Some(method) => method_hint(method),
        None => "",
    }
}

/// How the hash in a content address was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ContentAddressMethod {
    /// Flat hashing of a file that may refer to other store paths, but not to itself: what
    /// `builtins.toFile` and derivation files use. Store paths need SHA-256.
    Text,
    /// A fixed-output file ingestion method (flat, NAR or git).
    Fixed(FileIngestionMethod),
}

impl ContentAddressMethod {
    /// The name Nix's `ContentAddressMethod::render` prints: `text`, `flat`, `nar` or `git`.
    pub const fn name(self) -> &'static str {
        match self {
            ContentAddressMethod::Text => "text",
            ContentAddressMethod::Fixed(m) => m.name(),
        }
    }

    /// What a rendered content address starts with, before the algorithm: `text:`, `fixed:`,
    /// `fixed:r:` or `fixed:git:`.
    pub const fn prefix(self) -> &'static str {
        match self {
            ContentAddressMethod::Text => "text:",
            ContentAddressMethod::Fixed(FileIngestionMethod::Flat) => "fixed:",
            ContentAddressMethod::Fixed(FileIngestionMethod::Nar) => "fixed:r:",
            ContentAddressMethod::Fixed(FileIngestionMethod::Git) => "fixed:git:",
        }
    }

    /// The file ingestion method that produces the hashed bytes ([`Flat`] for text).
    ///
    /// [`Flat`]: FileIngestionMethod::Flat
    pub const fn file_ingestion_method(self) -> FileIngestionMethod {
        match self {
            ContentAddressMethod::Text => FileIngestionMethod::Flat,
            ContentAddressMethod::Fixed(m) => m,
        }
    }

    /// The method and algorithm as Nix's `renderWithAlgo` writes them, e.g. `fixed:r:sha256`
    /// or `text:sha256`.
    pub fn render_with_algo(self, algorithm: Algorithm) -> String {
        format!("{}{}", self.prefix(), algorithm)
    }

    /// Parses what [`render_with_algo`](Self::render_with_algo) writes, as Nix's
    /// `parseWithAlgo`.
    pub fn parse_with_algo(s: &str) -> Result<(Self, Algorithm), ContentAddressError> {
        let with_colon = format!("{s}:");
        match parse_method_and_algorithm(&with_colon, s)? {
            (method, algorithm, "") => Ok((method, algorithm)),
            // Nix ignores the rest; it would be lost here, so refuse it.
            _ => Err(ContentAddressError::TrailingText {
                input: s.to_owned(),
            }),
        }
    }

    /// Parses a derivation's `outputHashMode` as Nix does: `text`, `flat`, `nar`, `git`, or the
    /// older `recursive` for NAR.
    pub fn from_output_hash_mode(s: &str) -> Result<Self, ContentAddressError> {
        match s {
            "recursive" => Ok(ContentAddressMethod::Fixed(FileIngestionMethod::Nar)),
            other => other.parse(),
        }
    }
}

impl From<FileIngestionMethod> for ContentAddressMethod {
    fn from(m: FileIngestionMethod) -> Self {
        ContentAddressMethod::Fixed(m)
    }
}

impl fmt::Display for ContentAddressMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContentAddressMethod {
    type Err = ContentAddressError;

    /// Parses `text`, `flat`, `nar` or `git`, as Nix's `ContentAddressMethod::parse`.
    fn from_str(s: &str) -> Result<Self, ContentAddressError> {
        if s == "text" {
            return Ok(ContentAddressMethod::Text);
        }
        s.parse::<FileIngestionMethod>()
            .map(ContentAddressMethod::Fixed)
            .map_err(|_| ContentAddressError::UnknownMethod(s.to_owned()))
    }
}

/// Splits `<prefix>:[r:|git:]<algo>:` off `rest`, as Nix's `parseContentAddressMethodPrefix`.
/// `input` is what errors quote.
fn parse_method_and_algorithm<'a>(
    rest: &'a str,
    input: &str,
) -> Result<(ContentAddressMethod, Algorithm, &'a str), ContentAddressError> {
    let (prefix, rest) =
        rest.split_once(':')
            .ok_or_else(|| ContentAddressError::MissingPrefix {
                input: input.to_owned(),
            })?;
    let (method, rest) = match prefix {
        // No ingestion method after `text:`: text is always flat.
        "text" => (ContentAddressMethod::Text, rest),
        "fixed" => {
            if let Some(rest) = rest.strip_prefix("r:") {
                (ContentAddressMethod::Fixed(FileIngestionMethod::Nar), rest)
            } else if let Some(rest) = rest.strip_prefix("git:") {
                (ContentAddressMethod::Fixed(FileIngestionMethod::Git), rest)
            } else {
                (ContentAddressMethod::Fixed(FileIngestionMethod::Flat), rest)
            }
        }
        _ => {
            return Err(ContentAddressError::UnknownPrefix {
                prefix: prefix.to_owned(),
                input: input.to_owned(),
            });
        }
    };
    let (algo, rest) =
        rest.split_once(':')
            .ok_or_else(|| ContentAddressError::MissingAlgorithm {
                input: input.to_owned(),
            })?;
    let algorithm = Algorithm::from_name(algo).map_err(|source| ContentAddressError::Hash {
        input: input.to_owned(),
        source,
    })?;
    Ok((method, algorithm, rest))
}

/// A content address: a method and the hash it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentAddress {
    method: ContentAddressMethod,
    hash: Hash,
}

impl ContentAddress {
    /// A content address from its parts.
    pub fn new(method: ContentAddressMethod, hash: Hash) -> Self {
        ContentAddress { method, hash }
    }

    /// A fixed-output content address (`fixed:…`).
    pub fn fixed(method: FileIngestionMethod, hash: Hash) -> Self {
        Self::new(ContentAddressMethod::Fixed(method), hash)
    }

    /// A text content address (`text:…`). Only SHA-256 makes a store path.
    pub fn text(hash: Hash) -> Self {
        Self::new(ContentAddressMethod::Text, hash)
    }

    /// The method.
    pub fn method(&self) -> ContentAddressMethod {
        self.method
    }

    /// The hash.
    pub fn hash(&self) -> &Hash {
        &self.hash
    }

    /// Parses a content address as Nix's `ContentAddress::parse`.
    pub fn parse(s: &str) -> Result<Self, ContentAddressError> {
        let (method, algorithm, digest) = parse_method_and_algorithm(s, s)?;
        let hash = Hash::parse_unprefixed(digest, algorithm).map_err(|source| {
            ContentAddressError::Hash {
                input: s.to_owned(),
                source,
            }
        })?;
        Ok(ContentAddress { method, hash })
    }
}

impl fmt::Display for ContentAddress {
    /// Renders as Nix: `<prefix><algo>:<nix32 digest>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            self.method.prefix(),
            self.hash.to_prefixed(Format::Nix32)
        )
    }
}

impl FromStr for ContentAddress {
    type Err = ContentAddressError;
    fn from_str(s: &str) -> Result<Self, ContentAddressError> {
        ContentAddress::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn methods() -> [ContentAddressMethod; 4] {
        [
            ContentAddressMethod::Text,
            ContentAddressMethod::Fixed(FileIngestionMethod::Flat),
            ContentAddressMethod::Fixed(FileIngestionMethod::Nar),
            ContentAddressMethod::Fixed(FileIngestionMethod::Git),
        ]
    }

    #[test]
    fn renders_as_nix() {
        // `nix path-info --json` of `builtins.toFile "hello.txt" "hi\n"` and of `nix store add`
        // of a file holding "hello\n" (Nix 2.26.3).
        let text: ContentAddress =
            "text:sha256:1r3v22qkypccqifzbww5lrn6hf1chi23m6zzkyvb8bvg457nxslq"
                .parse()
                .unwrap();
        assert_eq!(text.method(), ContentAddressMethod::Text);
        assert_eq!(text.hash(), &Hash::digest(Algorithm::Sha256, b"hi\n"));
        let flat = ContentAddress::fixed(
            FileIngestionMethod::Flat,
            Hash::digest(Algorithm::Sha1, b"hello\n"),
        );
        assert_eq!(
            flat.to_string(),
            "fixed:sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm"
        );
    }

    #[test]
    fn method_names_and_prefixes() {
        let names = ["text", "flat", "nar", "git"];
        let prefixes = ["text:", "fixed:", "fixed:r:", "fixed:git:"];
        for ((m, name), prefix) in methods().into_iter().zip(names).zip(prefixes) {
            assert_eq!(m.to_string(), name);
            assert_eq!(name.parse(), Ok(m));
            assert_eq!(m.prefix(), prefix);
            let with_algo = m.render_with_algo(Algorithm::Sha256);
            assert_eq!(with_algo, format!("{prefix}sha256"));
            assert_eq!(
                ContentAddressMethod::parse_with_algo(&with_algo),
                Ok((m, Algorithm::Sha256))
            );
        }
        assert_eq!(
            ContentAddressMethod::from_output_hash_mode("recursive"),
            Ok(ContentAddressMethod::Fixed(FileIngestionMethod::Nar))
        );
        assert_eq!(
            ContentAddressMethod::from_output_hash_mode("text"),
            Ok(ContentAddressMethod::Text)
        );
        assert_eq!(
            "recursive".parse::<ContentAddressMethod>(),
            Err(ContentAddressError::UnknownMethod("recursive".into()))
        );
    }

    #[test]
    fn parse_errors_say_what() {
        let h = "1r3v22qkypccqifzbww5lrn6hf1chi23m6zzkyvb8bvg457nxslq";
        assert!(matches!(
            ContentAddress::parse("sha256"),
            Err(ContentAddressError::MissingPrefix { .. })
        ));
        assert!(matches!(
            ContentAddress::parse(&format!("ipfs:sha256:{h}")),
            Err(ContentAddressError::UnknownPrefix { prefix, .. }) if prefix == "ipfs"
        ));
        assert!(matches!(
            ContentAddress::parse("fixed:r:sha256"),
            Err(ContentAddressError::MissingAlgorithm { .. })
        ));
        // Text takes no ingestion method: `r` is read as the algorithm.
        assert!(matches!(
            ContentAddress::parse(&format!("text:r:sha256:{h}")),
            Err(ContentAddressError::Hash { source: hash::Error::UnknownAlgorithm(a), .. }) if a == "r"
        ));
        assert!(matches!(
            ContentAddress::parse(&format!("fixed:nar:sha256:{h}")),
            Err(ContentAddressError::Hash { source: hash::Error::UnknownAlgorithm(a), .. }) if a == "nar"
        ));
        // Wrong length for the algorithm; SRI is not accepted in a content address.
        assert!(matches!(
            ContentAddress::parse(&format!("fixed:sha1:{h}")),
            Err(ContentAddressError::Hash {
                source: hash::Error::WrongLength { .. },
                ..
            })
        ));
        assert!(
            ContentAddress::parse(
                "fixed:sha256:sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
            )
            .is_err()
        );
        assert_eq!(
            ContentAddressMethod::parse_with_algo("fixed:r:sha256:x"),
            Err(ContentAddressError::TrailingText {
                input: "fixed:r:sha256:x".into()
            })
        );
        let err = ContentAddress::parse(&format!("fixed:r:sha256:{h}x")).unwrap_err();
        assert!(
            err.to_string().contains(&format!("fixed:r:sha256:{h}x")),
            "{err}"
        );
    }

    fn any_hash() -> impl Strategy<Value = Hash> {
        (
            prop::sample::select(Algorithm::ALL.to_vec()),
            prop::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(a, bytes)| Hash::from_bytes(a, &bytes[..a.len()]).unwrap())
    }

    proptest! {
        #[test]
        fn round_trips_in_every_encoding(
            h in any_hash(),
            m in prop::sample::select(methods().to_vec()),
        ) {
            let ca = ContentAddress::new(m, h);
            let rendered = ca.to_string();
            prop_assert_eq!(
                &rendered,
                &format!("{}{}:{}", m.prefix(), h.algorithm(), h.encode(Format::Nix32))
            );
            prop_assert_eq!(rendered.parse::<ContentAddress>(), Ok(ca));
            for f in [Format::Base16, Format::Nix32, Format::Base64] {
                let s = format!("{}{}", m.prefix(), h.to_prefixed(f));
                prop_assert_eq!(ContentAddress::parse(&s), Ok(ca));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in "(text:|fixed:|fixed:r:|fixed:git:)?\\PC{0,100}") {
            let _ = ContentAddress::parse(&s);
            let _ = ContentAddressMethod::parse_with_algo(&s);
        }
    }
}
