//! Everything a binary cache needs to know about a store object, from one pass over it.
//!
//! A [`Request`] names the store object (its name, its content address method and algorithm,
//! its store directory) and any extra digests wanted; [`Request::from_path`] (a directory, file
//! or symlink on disk), [`Request::from_nar`] (a NAR stream) or `Request::from_nar_async` (a
//! tokio `AsyncRead`, feature `tokio`) reads the object **once** and gives a [`PathInfo`]: the
//! NAR hash (SHA-256) and size, the content address, the store path, and the extra digests.
//! [`PathInfo::to_narinfo`] turns it into the [`NarInfo`] a binary cache serves for the NAR
//! stored uncompressed at `nar/<nix32 NAR hash>.nar`.
//!
//! ```
//! use nix_ingest::path_info::Request;
//! use nix_ingest::{Algorithm, FileIngestionMethod, Options, Want};
//!
//! // The tree from Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`.
//! let dir = tempfile::tempdir()?;
//! let tree = dir.path().join("tree");
//! std::fs::create_dir_all(tree.join("bla"))?;
//! std::fs::write(tree.join("foo"), "Hello World!\n")?;
//! std::os::unix::fs::symlink("foo", tree.join("bar"))?;
//!
//! let info = Request::new("fixed", FileIngestionMethod::Git, Algorithm::Sha1)
//!     .digest(Want::new(FileIngestionMethod::Nar, Algorithm::Sha1))
//!     .from_path(&tree, &Options::default())?;
//! // What `nix store add --mode git --hash-algo sha1 --name fixed` makes of it:
//! assert_eq!(info.ca().to_string(), "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d");
//! assert_eq!(info.full_path(), "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed");
//! // `nix hash path` (NAR, SHA-256) and `nix path-info --json`'s narSize:
//! assert_eq!(info.nar_hash().to_string(), "sha256-Myrs0BElpKWUWJP6CziDc+HbXROi1Jiuj+wkMZo3ucc=");
//! assert_eq!(info.nar_size(), 656);
//! // The extra digest asked for, as `nix hash path --mode nar --algo sha1` prints it:
//! assert_eq!(info.digests()[0].to_string(), "sha1-gA1Zz808BekAy04hS+SPa4hqCN8=");
//!
//! let narinfo = info.to_narinfo();
//! assert!(narinfo.to_string().ends_with("References: \nCA: fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where Nix differs
//!
//! Nix computes a store object's NAR hash when it adds the object, and its content address by a
//! second read (or from the same dump, depending on the method and version); here every digest
//! comes from the same single pass. The answers are the same (checked against Nix 2.26.3 and
//! 2.34.8 in `tests/path_info.rs`, which also has real Nix accept a binary cache written from a
//! `PathInfo`). With the `text` method, the object must be a regular file, hashed with SHA-256,
//! as Nix requires.
// Without `fs`, links to what it adds point at the full documentation.
#![cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[`Request::from_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/path_info/struct.Request.html#method.from_path"
)]

use std::collections::BTreeSet;
use std::io::Read;
#[cfg(feature = "fs")]
use std::path::Path;

use crate::content_address::{ContentAddress, ContentAddressMethod};
use crate::event::{SinkError, Tee};
use crate::hash::{Algorithm, Format, Hash};
use crate::method::{self, FileIngestionMethod, HashSink, IngestionMethod};
use crate::nar::{self, NarHasher};
use crate::narinfo::NarInfo;
use crate::options::Options;
use crate::store_path::{self, References, StoreDir, StorePath};
use crate::want::Want;

/// Why path info could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathInfoError {
    /// Walking the object on disk failed (it names the path).
    #[cfg(feature = "fs")]
    #[error(transparent)]
    Walk(#[from] crate::fs::WalkError),
    /// The NAR is malformed or over a limit (it names the byte offset).
    #[error(transparent)]
    Nar(#[from] nar::ReadError),
    /// A method cannot hash with the algorithm asked for.
    #[error(transparent)]
    Method(#[from] method::MethodError),
    /// The NAR being written (`Request::write_nar`) could not be finished.
    #[error("cannot finish writing the NAR")]
    WriteNar(#[source] SinkError),
    /// A digest could not be finished (an incomplete object, a SHA-1 collision attack, a flat or
    /// text hash of something other than a regular file).
    #[error("cannot compute the {what}")]
    Digest {
        /// `content address`, `NAR hash`, or `<method name> digest` for an extra digest.
        what: String,
        /// Why.
        #[source]
        source: SinkError,
    },
    /// The name, or the content address (e.g. text with an algorithm other than SHA-256), makes
    /// no store path.
    #[error("cannot make the store path")]
    StorePath(#[source] store_path::StorePathError),
}

/// What to compute about a store object: its name and content address method (required), the
/// store directory, references (for `text`) and extra digests. See the [module docs](self).
#[derive(Clone)]
pub struct Request<'a> {
    name: String,
    method: ContentAddressMethod,
    algorithm: Algorithm,
    store_dir: StoreDir,
    references: References,
    digests: Vec<Want<'a>>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("algorithm", &self.algorithm)
            .field("store_dir", &self.store_dir)
            .field(
                "digests",
                &self
                    .digests
                    .iter()
                    .map(|w| format!("{}:{}", w.method().name(), w.algorithm()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<'a> Request<'a> {
    /// Path info for a store object called `name`, content-addressed by `method` with
    /// `algorithm` (a [`FileIngestionMethod`], or [`ContentAddressMethod::Text`]), in
    /// `/nix/store`, with no references and no extra digests.
    pub fn new(
        name: impl Into<String>,
        method: impl Into<ContentAddressMethod>,
        algorithm: Algorithm,
    ) -> Self {
        Request {
            name: name.into(),
            method: method.into(),
            algorithm,
            store_dir: StoreDir::default(),
            references: References::default(),
            digests: Vec::new(),
        }
    }

    /// The store directory (default `/nix/store`).
    pub fn store_dir(mut self, store_dir: StoreDir) -> Self {
        self.store_dir = store_dir;
        self
    }

    /// The object's references (default none). Only `text` content addresses may have them
    /// (as `builtins.toFile`); Nix's fixed-output methods take none but itself.
    pub fn references(mut self, references: References) -> Self {
        self.references = references;
        self
    }

    /// Also compute the digest `want` names in the same pass (any number, of Nix's methods or of
    /// your own; they come back in [`PathInfo::digests`] in the order asked).
    pub fn digest(mut self, want: Want<'a>) -> Self {
        self.digests.push(want);
        self
    }

    fn sinks(&self, options: &Options) -> Result<Sinks, PathInfoError> {
        let ca_method = match self.method {
            ContentAddressMethod::Fixed(m) => m,
            ContentAddressMethod::Text => FileIngestionMethod::Flat,
        };
        let settings = options.settings();
        let ca = ca_method.hash_sink(self.algorithm, settings)?;
        let nar = NarHasher::new(Algorithm::Sha256).max_depth(settings.limits().max_nar_depth);
        let extra = crate::ingest::sinks(&self.digests, settings)?;
        Ok(Tee::new(nar, Tee::new(ca, extra)))
    }

    fn finish(&self, sinks: Sinks) -> Result<PathInfo, PathInfoError> {
        let (nar, (ca, extra)) = {
            let (nar, rest) = sinks.into_inner();
            (nar, rest.into_inner())
        };
        let digest = |what: String| move |source| PathInfoError::Digest { what, source };
        let (nar_hash, nar_size) = nar.finish_with_size().map_err(digest("NAR hash".into()))?;
        let ca = ContentAddress::new(
            self.method,
            ca.finish().map_err(digest("content address".into()))?,
        );
        let digests = extra
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let name = self.digests.get(i).map_or("extra", |w| w.method().name());
                s.finish()
                    .map_err(digest(format!("{} digest", name.escape_debug())))
            })
            .collect::<Result<_, _>>()?;
        let store_path = self
            .store_dir
            .make_path_from_ca(&self.name, &ca, &self.references)
            .map_err(PathInfoError::StorePath)?;
        let mut references = self.references.others.clone();
        if self.references.self_ref {
            references.insert(store_path.clone());
        }
        Ok(PathInfo {
            store_dir: self.store_dir.clone(),
            store_path,
            nar_hash,
            nar_size,
            ca,
            references,
            digests,
        })
    }

    /// Path info of the file system object at `path` (never following a symlink, not even at
    /// `path`; see [`nix_path`](crate::nix_path) for what Nix makes of a path on its command
    /// line), read once.
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    pub fn from_path(&self, path: &Path, options: &Options) -> Result<PathInfo, PathInfoError> {
        let mut sinks = self.sinks(options)?;
        crate::fs::dump(path, &mut sinks, options.settings())?;
        self.finish(sinks)
    }

    /// Writes the NAR of the file system object at `path` to `out` (what
    /// [`Options::dump_nar`] writes) and returns its path info, both from **one** walk: the NAR
    /// a binary cache stores and the narinfo that describes it cannot disagree, and no file is
    /// read twice.
    ///
    /// ```
    /// use nix_ingest::path_info::Request;
    /// use nix_ingest::{Algorithm, FileIngestionMethod, Hash, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
    /// let mut nar = Vec::new();
    /// let info = Request::new("foo", FileIngestionMethod::Nar, Algorithm::Sha256)
    ///     .write_nar(dir.path(), &mut nar, &Options::new())?;
    /// // The narinfo's NarHash and NarSize are those of the bytes written.
    /// assert_eq!(*info.nar_hash(), Hash::digest(Algorithm::Sha256, &nar));
    /// assert_eq!(info.nar_size(), nar.len() as u64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    pub fn write_nar<W: std::io::Write>(
        &self,
        path: &Path,
        out: W,
        options: &Options,
    ) -> Result<PathInfo, PathInfoError> {
        let writer = nar::NarWriter::new(out).max_depth(options.settings().limits().max_nar_depth);
        let mut sinks = Tee::new(writer, self.sinks(options)?);
        crate::fs::dump(path, &mut sinks, options.settings())?;
        let (writer, sinks) = sinks.into_inner();
        writer.finish().map_err(PathInfoError::WriteNar)?;
        self.finish(sinks)
    }

    /// Path info of the object a NAR holds, read once from `reader` (which must end where the
    /// archive ends).
    pub fn from_nar<R: Read>(
        &self,
        reader: R,
        options: &Options,
    ) -> Result<PathInfo, PathInfoError> {
        let mut sinks = self.sinks(options)?;
        nar::read(reader, &mut sinks, options.settings().limits())?;
        self.finish(sinks)
    }

    /// [`from_nar`](Self::from_nar) from a tokio `AsyncRead`.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn from_nar_async<R>(
        &self,
        reader: R,
        options: &Options,
    ) -> Result<PathInfo, PathInfoError>
    where
        R: ::tokio::io::AsyncRead + Unpin,
    {
        let mut sinks = self.sinks(options)?;
        nar::tokio::read(reader, &mut sinks, options.settings().limits()).await?;
        self.finish(sinks)
    }
}

/// The sinks of one pass: the NAR hasher, the content address's sink, the extra digests.
type Sinks = Tee<NarHasher, Tee<Box<dyn HashSink>, Vec<Box<dyn HashSink>>>>;

/// What [`Request`] computed: a content-addressed store object's path info. See the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    store_dir: StoreDir,
    store_path: StorePath,
    nar_hash: Hash,
    nar_size: u64,
    ca: ContentAddress,
    references: BTreeSet<StorePath>,
    digests: Vec<Hash>,
}

impl PathInfo {
    /// The store directory.
    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// The store path (its base name; [`full_path`](Self::full_path) prints it in its
    /// directory).
    pub fn store_path(&self) -> &StorePath {
        &self.store_path
    }

    /// The store path in its store directory, e.g. `/nix/store/<hash>-<name>`.
    pub fn full_path(&self) -> String {
        self.store_dir.display_path(&self.store_path)
    }

    /// The SHA-256 of the object's NAR (Nix's `narHash`).
    pub fn nar_hash(&self) -> &Hash {
        &self.nar_hash
    }

    /// The size of the object's NAR in bytes (Nix's `narSize`).
    pub fn nar_size(&self) -> u64 {
        self.nar_size
    }

    /// The content address.
    pub fn ca(&self) -> &ContentAddress {
        &self.ca
    }

    /// The references (with the object itself if it refers to itself).
    pub fn references(&self) -> &BTreeSet<StorePath> {
        &self.references
    }

    /// The extra digests, in the order [`Request::digest`] asked for them.
    pub fn digests(&self) -> &[Hash] {
        &self.digests
    }

    /// The URL a binary cache keeps the uncompressed NAR at: `nar/<nix32 NAR hash>.nar`, as
    /// `nix copy --to 'file://…?compression=none'` names it.
    pub fn nar_url(&self) -> String {
        format!("nar/{}.nar", self.nar_hash.encode(Format::Nix32))
    }

    /// The narinfo for the NAR stored uncompressed at [`nar_url`](Self::nar_url): `Compression:
    /// none`, `FileHash` and `FileSize` equal to the NAR's, the references and the `CA`; no
    /// deriver, no signature (a content-addressed path needs none).
    pub fn to_narinfo(&self) -> NarInfo {
        let mut info = NarInfo::new(
            self.store_dir.clone(),
            self.store_path.clone(),
            self.nar_url(),
            self.nar_hash,
            self.nar_size,
        );
        info.file_hash = Some(self.nar_hash);
        info.file_size = Some(self.nar_size);
        info.references = self.references.clone();
        info.ca = Some(self.ca);
        info
    }
}
