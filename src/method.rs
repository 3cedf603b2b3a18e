//! File ingestion methods: how Nix turns a file system object into the bytes it hashes.
//!
//! This is Nix's `FileIngestionMethod`: **flat** (the contents of one regular file), **NAR**
//! (the Nix Archive serialisation of any file system object, called "recursive" in older Nix) and
//! **git** (git's blob or tree object id; needs Nix's `git-hashing` experimental feature).
//!
//! The names are the ones Nix's `--mode` option takes (`flat`, `nar`, `git`), and the prefixes
//! the ones content addresses carry (`""`, `r:`, `git:`).
//!
//! Where Nix differs: `parseFileIngestionMethod` accepts exactly `flat`, `nar` and `git`; the old
//! name `recursive` is only understood in a derivation's `outputHashMode` attribute, so
//! [`FileIngestionMethod::from_str`](std::str::FromStr::from_str) refuses it and
//! [`FileIngestionMethod::from_output_hash_mode`] accepts it.
//!
//! ```
//! use nix_ingest::method::FileIngestionMethod;
//!
//! let m: FileIngestionMethod = "nar".parse().unwrap();
//! assert_eq!(m, FileIngestionMethod::Nar);
//! assert_eq!(m.prefix(), "r:");
//! assert_eq!(FileIngestionMethod::Git.to_string(), "git");
//! assert!("recursive".parse::<FileIngestionMethod>().is_err());
//! assert_eq!(
//!     FileIngestionMethod::from_output_hash_mode("recursive").unwrap(),
//!     FileIngestionMethod::Nar
//! );
//! ```

use std::fmt;
use std::str::FromStr;

/// Why a file ingestion method could not be named or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodError {
    /// A method name Nix does not know.
    #[error("unknown file ingestion method '{0}' (expected flat, nar or git)")]
    UnknownMethod(String),
    /// The method cannot hash with this algorithm.
    #[error("ingestion method '{method}' does not support hash algorithm '{algorithm}'")]
    UnsupportedAlgorithm {
        /// The method's name.
        method: String,
        /// The algorithm asked for.
        algorithm: crate::hash::Algorithm,
    },
    /// Any other reason a method implemented outside this crate refuses to start.
    #[error("{0}")]
    Other(String),
}

/// One of Nix's three ways to ingest a file system object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FileIngestionMethod {
    /// The contents of a single regular file, hashed as they are.
    Flat,
    /// The Nix Archive (NAR) serialisation of the object ("recursive" in older Nix).
    Nar,
    /// The git object id of the object: a blob for a file, a tree for a directory.
    Git,
}

impl FileIngestionMethod {
    /// Every method, in Nix's order.
    pub const ALL: [FileIngestionMethod; 3] = [
        FileIngestionMethod::Flat,
        FileIngestionMethod::Nar,
        FileIngestionMethod::Git,
    ];

    /// The name Nix's `--mode` option takes and prints: `flat`, `nar` or `git`.
    pub const fn name(self) -> &'static str {
        match self {
            FileIngestionMethod::Flat => "flat",
            FileIngestionMethod::Nar => "nar",
            FileIngestionMethod::Git => "git",
        }
    }

    /// The prefix content addresses carry before the algorithm, as Nix's
    /// `makeFileIngestionPrefix`: `""` (flat), `"r:"` (NAR) or `"git:"`.
    pub const fn prefix(self) -> &'static str {
        match self {
            FileIngestionMethod::Flat => "",
            FileIngestionMethod::Nar => "r:",
            FileIngestionMethod::Git => "git:",
        }
    }

    /// Parses a derivation's `outputHashMode` value as Nix does for file ingestion: the names
    /// `FromStr` takes, plus the older `recursive` for NAR. (`text` is a content address method,
    /// not a file ingestion method: see
    /// [`ContentAddressMethod::from_output_hash_mode`](crate::content_address::ContentAddressMethod::from_output_hash_mode).)
    pub fn from_output_hash_mode(s: &str) -> Result<Self, MethodError> {
        match s {
            "recursive" => Ok(FileIngestionMethod::Nar),
            other => other.parse(),
        }
    }
}

impl fmt::Display for FileIngestionMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FileIngestionMethod {
    type Err = MethodError;

    /// Parses `flat`, `nar` or `git`, exactly as Nix's `parseFileIngestionMethod`.
    fn from_str(s: &str) -> Result<Self, MethodError> {
        FileIngestionMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| MethodError::UnknownMethod(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Pluggable ingestion: the `HashSink` and `IngestionMethod` traits (implemented for
// `FileIngestionMethod`).
// ---------------------------------------------------------------------------------------------

use crate::event::{Sink, SinkError};
use crate::flat::FlatHasher;
use crate::git::{GitHasher, ObjectSink};
use crate::hash::{Algorithm, Hash};
use crate::nar::NarHasher;
use crate::settings::Settings;

/// A [`Sink`] that ends in a digest: what an [`IngestionMethod`] makes.
///
/// `finish` takes the sink boxed, so that sinks of different types can be chosen at run time and
/// finished through `Box<dyn HashSink>`. A `Vec<Box<dyn HashSink>>` is itself a sink, feeding
/// every event to each (see [`Options::hash_path_multi`][crate::Options::hash_path_multi]).
///
/// Hash sinks are `Send`, so an async caller can hold one across `.await` points.
// Without `fs`, links to what it adds point at the full documentation.
#[cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[crate::Options::hash_path_multi]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi"
)]
pub trait HashSink: Sink + Send {
    /// The digest of the complete object; fails if the stream was incomplete or (with SHA-1
    /// collision detection) if a collision attack was found.
    fn finish(self: Box<Self>) -> Result<Hash, SinkError>;
}

impl<O: ObjectSink + Send> HashSink for GitHasher<O> {
    fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
        GitHasher::finish(*self)
    }
}

impl HashSink for NarHasher {
    fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
        NarHasher::finish(*self)
    }
}

impl HashSink for FlatHasher {
    fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
        FlatHasher::finish(*self)
    }
}

/// A way of hashing a file system object: Nix's three [`FileIngestionMethod`]s, or one of your
/// own. Object safe, so methods can be chosen at run time as `&dyn IngestionMethod`; a route is
/// given one with an algorithm as a [`Want`](crate::Want) ([`Want::custom`](crate::Want::custom)).
///
/// Every source ([directory walk][crate::fs], [NAR parser](crate::nar)) and every route of
/// [`Options`](crate::Options) works with any method: routes make their sinks through
/// [`hash_sink`](IngestionMethod::hash_sink) with the options' [`Settings`], so a method of your
/// own honours them as Nix's do. It only has to turn [`Event`](crate::event::Event)s into a
/// digest:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use nix_ingest::event::{Event, Sink, SinkError};
/// use nix_ingest::hash::{Algorithm, Hash, Hasher};
/// use nix_ingest::method::{self, FileIngestionMethod, HashSink, IngestionMethod};
/// use nix_ingest::{Options, Settings, Want};
///
/// /// A toy method: the hash of all file contents in NAR order, ignoring names and modes.
/// struct Contents;
///
/// struct ContentsSink(Hasher);
///
/// impl Sink for ContentsSink {
///     fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
///         if let Event::FileData(data) = event {
///             self.0.update(data);
///         }
///         Ok(())
///     }
/// }
///
/// impl HashSink for ContentsSink {
///     fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
///         self.0.finalize().map_err(|e| SinkError::Other(Box::new(e)))
///     }
/// }
///
/// impl IngestionMethod for Contents {
///     fn name(&self) -> &str {
///         "contents"
///     }
///     fn hash_sink(
///         &self,
///         algorithm: Algorithm,
///         settings: &Settings,
///     ) -> Result<Box<dyn HashSink>, method::MethodError> {
///         let hasher = Hasher::with_collision_detection(algorithm, settings.collision_detection());
///         Ok(Box::new(ContentsSink(hasher)))
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a"), "Hello ")?;
/// std::fs::write(dir.path().join("b"), "World!\n")?;
///
/// let contents = Want::custom(&Contents, Algorithm::Sha256);
/// let hash = Options::new().hash_path(dir.path(), contents)?;
/// assert_eq!(hash, Hash::digest(Algorithm::Sha256, b"Hello World!\n"));
///
/// // Mixed with Nix's methods in one walk:
/// let git = Want::new(FileIngestionMethod::Git, Algorithm::Sha1);
/// let both = Options::new().hash_path_multi(dir.path(), &[contents, git])?;
/// assert_eq!(both[0], hash);
/// # Ok(()) }
/// ```
// Without `fs`, links to what it adds point at the full documentation.
#[cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[crate::fs]: https://docs.rs/nix-ingest/latest/nix_ingest/fs/index.html"
)]
pub trait IngestionMethod {
    /// The method's name, e.g. `flat`, `nar` or `git`.
    fn name(&self) -> &str;

    /// A fresh sink computing this method's hash with `algorithm`, honouring `settings` where
    /// they apply (e.g. [`Settings::collision_detection`]): the one factory every route makes
    /// its sinks with.
    fn hash_sink(
        &self,
        algorithm: Algorithm,
        settings: &Settings,
    ) -> Result<Box<dyn HashSink>, MethodError>;

    /// The Nix method this one computes exactly, if any (`None` by default). Nix's own
    /// [`FileIngestionMethod`]s answer themselves; routes use the answer to take faster paths
    /// (e.g. git hashing on several threads with the `parallel` feature), so answer `Some` only
    /// for a method whose every hash equals that method's.
    fn file_ingestion_method(&self) -> Option<FileIngestionMethod> {
        None
    }
}

/// [`FlatHasher`], [`NarHasher`] or [`GitHasher`], with the settings' collision detection (and,
/// for git, strict root; for NAR, the NAR nesting limit). Every algorithm works with every method, as in `nix hash path`; only
/// store paths restrict git hashing to SHA-1 and SHA-256.
impl IngestionMethod for FileIngestionMethod {
    fn name(&self) -> &str {
        FileIngestionMethod::name(*self)
    }

    fn hash_sink(
        &self,
        algorithm: Algorithm,
        settings: &Settings,
    ) -> Result<Box<dyn HashSink>, MethodError> {
        let detect = settings.collision_detection;
        Ok(match self {
            FileIngestionMethod::Flat => {
                Box::new(FlatHasher::new(algorithm).collision_detection(detect))
            }
            FileIngestionMethod::Nar => Box::new(
                NarHasher::new(algorithm)
                    .collision_detection(detect)
                    .max_depth(settings.limits.max_nar_depth),
            ),
            FileIngestionMethod::Git => Box::new(
                GitHasher::new(algorithm)
                    .collision_detection(detect)
                    .strict_root(settings.strict_root),
            ),
        })
    }

    fn file_ingestion_method(&self) -> Option<FileIngestionMethod> {
        Some(*self)
    }
}

/// Forwards [`IngestionMethod`] through a pointer type: one body for `&T`, `Box<T>` and `Arc<T>`.
macro_rules! forward_ingestion_method {
    ($($pointer:ty),*) => {$(
        impl<T: IngestionMethod + ?Sized> IngestionMethod for $pointer {
            fn name(&self) -> &str {
                (**self).name()
            }

            fn hash_sink(
                &self,
                algorithm: Algorithm,
                settings: &Settings,
            ) -> Result<Box<dyn HashSink>, MethodError> {
                (**self).hash_sink(algorithm, settings)
            }

            fn file_ingestion_method(&self) -> Option<FileIngestionMethod> {
                (**self).file_ingestion_method()
            }
        }
    )*};
}

forward_ingestion_method!(&T, Box<T>, std::sync::Arc<T>);

#[cfg(test)]
mod ingestion_method_tests {
    use super::*;
    use crate::event::Event;
    use crate::hash::Format;

    /// The tree from Nix's git-hashing tests (golden values in the crate docs).
    fn feed(sink: &mut dyn HashSink) {
        for event in [
            Event::DirectoryStart { name: None },
            Event::Symlink {
                name: Some(b"bar"),
                target: b"foo",
            },
            Event::DirectoryStart { name: Some(b"bla") },
            Event::DirectoryEnd,
            Event::FileStart {
                name: Some(b"foo"),
                executable: false,
                size: 13,
            },
            Event::FileData(b"Hello World!\n"),
            Event::FileEnd,
            Event::DirectoryEnd,
        ] {
            sink.event(event).unwrap();
        }
    }

    #[test]
    fn git_sinks_match_nix() {
        let method: &dyn IngestionMethod = &FileIngestionMethod::Git;
        assert_eq!(method.name(), "git");
        for (algorithm, expected) in [
            // `nix hash path --mode git --algo sha1|sha256 --format base16`
            (Algorithm::Sha1, "cd44baf36915d5dec8374232ea7e2057f3b4494e"),
            (
                Algorithm::Sha256,
                "3c957653f90c34c0a8badf343b61393936cddf4a2ca93f64b21f02303ddedcc2",
            ),
        ] {
            let mut sink = method.hash_sink(algorithm, &Settings::default()).unwrap();
            feed(&mut *sink);
            assert_eq!(sink.finish().unwrap().encode(Format::Base16), expected);
        }
        // `nix hash path --mode git --algo md5` prints md5-QA6eU7/h/nmxJj2tubVmLw==
        let mut sink = FileIngestionMethod::Git
            .hash_sink(Algorithm::Md5, &Settings::default())
            .unwrap();
        feed(&mut *sink);
        assert_eq!(
            sink.finish().unwrap().to_string(),
            "md5-QA6eU7/h/nmxJj2tubVmLw=="
        );
    }

    #[test]
    fn flat_sink_refuses_directories() {
        let mut sink = FileIngestionMethod::Flat
            .hash_sink(Algorithm::Sha256, &Settings::default())
            .unwrap();
        assert!(matches!(
            sink.event(Event::DirectoryStart { name: None }),
            Err(SinkError::Unsupported(_))
        ));
    }

    #[test]
    fn names() {
        for m in FileIngestionMethod::ALL {
            let boxed: Box<dyn IngestionMethod> = Box::new(m);
            assert_eq!(IngestionMethod::name(&boxed), m.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in FileIngestionMethod::ALL {
            assert_eq!(m.to_string().parse::<FileIngestionMethod>(), Ok(m));
        }
    }

    #[test]
    fn names_and_prefixes_match_nix() {
        // parseFileIngestionMethod / makeFileIngestionPrefix in Nix's content-address code.
        assert_eq!("flat".parse(), Ok(FileIngestionMethod::Flat));
        assert_eq!("nar".parse(), Ok(FileIngestionMethod::Nar));
        assert_eq!("git".parse(), Ok(FileIngestionMethod::Git));
        assert_eq!(FileIngestionMethod::Flat.prefix(), "");
        assert_eq!(FileIngestionMethod::Nar.prefix(), "r:");
        assert_eq!(FileIngestionMethod::Git.prefix(), "git:");
    }

    #[test]
    fn recursive_only_as_output_hash_mode() {
        // Nix 2.26 `nix store add --mode recursive` fails: "Unknown file ingestion method".
        assert_eq!(
            "recursive".parse::<FileIngestionMethod>(),
            Err(MethodError::UnknownMethod("recursive".into()))
        );
        assert_eq!(
            FileIngestionMethod::from_output_hash_mode("recursive"),
            Ok(FileIngestionMethod::Nar)
        );
        assert_eq!(
            FileIngestionMethod::from_output_hash_mode("flat"),
            Ok(FileIngestionMethod::Flat)
        );
        assert!(FileIngestionMethod::from_output_hash_mode("text").is_err());
        assert!("Nar".parse::<FileIngestionMethod>().is_err());
        assert!("".parse::<FileIngestionMethod>().is_err());
    }
}
