//! Nix's file ingestion methods — **flat**, **NAR** (recursive) and **git** — as exact, fast, pure
//! functions, with the content addresses and store paths Nix derives from them.
//!
//! # The front door
//!
//! [`Options`] is the entry point: it says how (threads, SHA-1 collision detection, strict git
//! roots, [`Limits`], a hash cache) and every route is one of its methods:
//! [`Options::hash_path`] and [`Options::hash_nar`] answer what `nix hash path` answers for the
//! [`Want`] (a method and an algorithm) they are given, several hashes come from one pass
//! ([`Options::hash_path_multi`], [`Options::hash_nar_multi`]: a slice of wants), a stream of
//! unknown length is hashed flat ([`Options::hash_flat`]), a NAR is read from a reader or
//! (feature `tokio`) an `AsyncRead`, dumped ([`Options::dump_nar`]) and restored
//! ([`Options::unpack_nar`]), and methods of your own stand beside Nix's.
//! [`path_info::Request`] gives everything a binary cache records (content address, store path,
//! NAR hash and size, a narinfo) from one pass, and [`verify::verify_nar`] checks an upload.
//! The everyday types are here at the root.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::store_path::References;
//! use nix_ingest::{Algorithm, ContentAddress, FileIngestionMethod, Format, Options, StoreDir, Want};
//!
//! // The tree from Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`.
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("bla"))?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//! std::os::unix::fs::symlink("foo", dir.path().join("bar"))?;
//!
//! // `nix hash path --mode git --algo sha1 --base16`:
//! let git = Want::new(FileIngestionMethod::Git, Algorithm::Sha1);
//! let hash = Options::new().hash_path(dir.path(), git)?;
//! assert_eq!(hash.encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//!
//! // Its content address and store path, as `nix store add --mode git` makes them:
//! let ca = ContentAddress::fixed(FileIngestionMethod::Git, hash);
//! assert_eq!(ca.to_string(), "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d");
//! let store = StoreDir::default();
//! let path = store.make_path_from_ca("fixed", &ca, &References::default())?;
//! assert_eq!(
//!     store.display_path(&path),
//!     "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed"
//! );
//!
//! // Several answers from one walk, exactly as Nix (no collision detection), on one thread:
//! let options = Options::new().collision_detection(false).threads(1);
//! let hashes = options.hash_path_multi(
//!     dir.path(),
//!     &[
//!         Want::new(FileIngestionMethod::Git, Algorithm::Sha256),
//!         Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
//!     ],
//! )?;
//! // `nix hash path --mode git --algo sha256` and `nix hash path` (NAR, SHA-256):
//! assert_eq!(
//!     hashes[0].encode(Format::Base16),
//!     "3c957653f90c34c0a8badf343b61393936cddf4a2ca93f64b21f02303ddedcc2"
//! );
//! assert_eq!(hashes[1].to_string(), "sha256-Myrs0BElpKWUWJP6CziDc+HbXROi1Jiuj+wkMZo3ucc=");
//! # Ok(()) }
//! ```
//!
//! # Data flow
//!
//! Data flows one way: a **source** emits a file system object as a depth-first stream of
//! [`event::Event`]s in NAR order into a **sink**, which ends in a digest or bytes. [`Options`]
//! sits on top and hands the layers below only the plain [`Settings`] they need. No module
//! imports one above it.
//!
//! ```text
//! fs::dump (directory)   ─┐                  ┌─ git::GitHasher   → git blob/tree id (+ objects)
//! nar::Parser (push)     ─┼─ event::Event ───┼─ nar::NarWriter   → NAR bytes, NAR hash
//! git::events (objects) ─┘   (event::Tee)   ├─ flat::FlatHasher → flat hash
//!                                            └─ your own event::Sink
//! ```
//!
//! - Sources: [`fs`] walks a directory; [`nar`] parses a NAR pushed to it in chunks (blocking
//!   and tokio adapters are thin loops over the same state machine); [`git::events`] reads git trees
//!   and blobs back, checking every object's id.
//! - Sinks: [`git`] (and its object sinks, e.g. loose objects in a repository), [`nar`]'s writer
//!   and hasher, [`flat`]. [`event::Tee`] feeds several in one pass.
//! - [`method::IngestionMethod`] names a method and makes its sink from the [`Settings`], for
//!   flat, NAR, git or a method of your own: the one factory every route makes its sinks with.
//! - The routes of [`Options`] (module [`ingest`]) run a whole pass in one call, choosing the
//!   strategy of a directory walk in one place: on the calling thread, on every core (feature
//!   `parallel`), or through the persistent git-id [`cache`].
//! - [`content_address`] and [`store_path`] turn the digest into what Nix prints and stores;
//!   [`verify`] checks an upload against a claimed content address in one pass; [`cid`] gives
//!   the IPFS CID of a git object.
//! - [`Limits`] bound what any source accepts from untrusted input.
//!
//! # Where this crate and Nix differ
//!
//! Each module's docs say so in detail. In short: bytes after a NAR archive and symlink targets
//! with NUL are refused (Nix ignores the first and truncates the second); SHA-1 collision attacks
//! are detected by default (Nix does not detect them; git does); git store paths with SHA-256
//! follow Nix 2.31 (2.26 refuses them); `nix hash path --mode git --algo md5` is matched, though
//! git itself knows only SHA-1 and SHA-256. Like Nix, a regular file, an executable and a symlink
//! whose target equals the file's bytes get the same git hash as a root;
//! [`Options::strict_root`] refuses the ambiguous roots instead.
//!
//! # Features
//!
//! `fs` (default): the directory walk. `parallel`: directory → git on several threads (rayon).
//! `tokio`: `nar::tokio::read`. `serde`: Nix's JSON shapes. `gix-hash`: conversions to and
//! from gitoxide's `ObjectId`. `gix`: packed objects of git repositories through gitoxide.
// Without `fs`, links to what it adds point at the full documentation.
#![cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[`hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/fn.hash_path.html",
    doc = "[`fs`]: https://docs.rs/nix-ingest/latest/nix_ingest/fs/index.html",
    doc = "[`Options::hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path",
    doc = "[`Options::hash_path_multi`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi",
    doc = "[`Options::dump_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.dump_nar",
    doc = "[`Options::unpack_nar`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.unpack_nar",
    doc = "[`cache`]: https://docs.rs/nix-ingest/latest/nix_ingest/cache/index.html"
)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod buffer;
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub mod cache;
pub mod cid;
pub mod content_address;
pub mod event;
#[cfg(feature = "gix")]
#[cfg_attr(docsrs, doc(cfg(feature = "gix")))]
pub mod fetch;
pub mod flat;
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub mod fs;
pub mod git;
#[cfg(feature = "gix-hash")]
#[cfg_attr(docsrs, doc(cfg(feature = "gix-hash")))]
pub mod gix_interop;
pub mod hash;
pub mod ingest;
pub mod limits;
pub mod method;
pub mod nar;
pub mod narinfo;
pub mod nix32;
pub mod nix_path;
pub mod options;
pub mod path_info;
pub mod realisation;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod serde_impls;
pub mod settings;
pub mod store_path;
pub mod verify;
mod want;

pub use content_address::ContentAddress;
pub use hash::{Algorithm, Format, Hash};
pub use limits::Limits;
pub use method::FileIngestionMethod;
pub use narinfo::NarInfo;
pub use options::Options;
pub use path_info::PathInfo;
pub use settings::Settings;
pub use store_path::{StoreDir, StorePath};
pub use want::Want;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
