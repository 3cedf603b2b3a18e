//! Nix's file ingestion methods — **flat**, **NAR** (recursive) and **git** — as exact, fast, pure
//! functions, with the content addresses and store paths Nix derives from them.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::hash::{Algorithm, Format};
//! use nix_ingest::method::FileIngestionMethod;
//! use nix_ingest::content_address::ContentAddress;
//! use nix_ingest::store_path::{References, StoreDir};
//!
//! // The tree from Nix's own tests: `bla/` (empty), `foo` = "Hello World!\n", `bar -> foo`.
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("bla"))?;
//! std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
//! std::os::unix::fs::symlink("foo", dir.path().join("bar"))?;
//!
//! let hash = nix_ingest::hash_path(dir.path(), FileIngestionMethod::Git, Algorithm::Sha1)?;
//! assert_eq!(hash.encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//!
//! let ca = ContentAddress::fixed(FileIngestionMethod::Git, hash);
//! assert_eq!(ca.to_string(), "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d");
//!
//! let store = StoreDir::default();
//! let path = store.make_path_from_ca("fixed", &ca, &References::default())?;
//! assert_eq!(store.print(&path), "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed");
//! # Ok(()) }
//! ```
//!
//! # Data flow
//!
//! Data flows one way: a **source** emits a file system object as a stream of
//! [`event::Event`]s in NAR order into a **sink**, which ends in a digest.
//!
//! ```text
//! fs (directory walk) ─┐                 ┌─ git::GitHasher  → git blob/tree id
//! nar::Parser (push)  ─┼─ event::Event ──┼─ nar::NarWriter  → NAR bytes / NAR hash
//!                      │                 ├─ flat::FlatHasher → flat hash
//!                      │  (event::Tee)   └─ your own Sink
//! ```
//!
//! [`method::IngestionMethod`] names a method and makes its sink; [`hash_path`] and [`hash_nar`]
//! run a whole pass in one call. [`content_address`] and [`store_path`] turn the digest into what
//! Nix prints and stores.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cid;
pub mod content_address;
pub mod event;
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
pub mod nix32;
#[cfg(feature = "parallel")]
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
pub mod parallel;
pub mod restore;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod serde_impls;
pub mod store_path;
pub mod verify;

pub use ingest::hash_nar;
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub use ingest::hash_path;
pub use limits::Limits;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
