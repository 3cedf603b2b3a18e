//! How a NAR file in a binary cache is compressed: a narinfo's `Compression` field.

use std::fmt;
use std::str::FromStr;

/// A narinfo's `Compression` field: the names Nix's binary caches write, and any other kept as
/// text (a narinfo is read whatever it names; only a cache that must decompress cares).
///
/// ```
/// use nix_ingest::narinfo::Compression;
///
/// let xz: Compression = "xz".parse().unwrap();
/// assert_eq!(xz, Compression::Xz);
/// assert_eq!(xz.extension(), ".xz");
/// assert_eq!(Compression::Zstd.to_string(), "zstd");
/// assert_eq!("brotli-9".parse::<Compression>().unwrap(), Compression::Other("brotli-9".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// `none`: the NAR itself.
    #[default]
    None,
    /// `xz`, the default of `nix copy --to file://…`.
    Xz,
    /// `bzip2`, the default of old caches (and what a narinfo without the field means).
    Bzip2,
    /// `zstd`.
    Zstd,
    /// `br` (brotli).
    Br,
    /// `lzip`.
    Lzip,
    /// `lz4`.
    Lz4,
    /// Any other name, as written.
    Other(String),
}

impl Compression {
    /// The named compressions, in the order above.
    pub const KNOWN: [Compression; 7] = [
        Compression::None,
        Compression::Xz,
        Compression::Bzip2,
        Compression::Zstd,
        Compression::Br,
        Compression::Lzip,
        Compression::Lz4,
    ];

    /// The name the `Compression:` field and the `compression=` store setting use.
    pub fn name(&self) -> &str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
            Compression::Br => "br",
            Compression::Lzip => "lzip",
            Compression::Lz4 => "lz4",
            Compression::Other(name) => name,
        }
    }

    /// The suffix Nix's binary caches append to `.nar` in a NAR file's name (`nar/<file
    /// hash>.nar.xz`): empty for `none` and for names without one.
    pub fn extension(&self) -> &'static str {
        match self {
            Compression::Xz => ".xz",
            Compression::Bzip2 => ".bz2",
            Compression::Zstd => ".zst",
            Compression::Br => ".br",
            Compression::Lzip => ".lzip",
            Compression::Lz4 => ".lz4",
            Compression::None | Compression::Other(_) => "",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<&str> for Compression {
    /// Any name: a known one as its variant, another as [`Compression::Other`].
    fn from(s: &str) -> Self {
        Compression::KNOWN
            .into_iter()
            .find(|c| c.name() == s)
            .unwrap_or_else(|| Compression::Other(s.to_owned()))
    }
}

impl FromStr for Compression {
    type Err = std::convert::Infallible;

    /// As [`From<&str>`](Compression#impl-From%3C%26str%3E-for-Compression): never fails.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Compression::from(s))
    }
}
