//! Git hashing: Nix's `git` file ingestion method (`nix hash path --mode git`, the `git:` prefix
//! of content addresses), which names a file system object by the id git gives it.
//!
//! A regular file or a symlink is a **blob**, `blob <size>\0` followed by the file's bytes or
//! the link's target; a directory is a **tree**, `tree <size>\0` followed by one entry
//! `<mode> <name>\0<raw id>` per child, in git's order ([`tree_order`]: names as bytes, a
//! directory's name as if it ended in `/`). Modes are `100644` (file), `100755` (executable),
//! `120000` (symlink) and `40000` (directory) — see [`Mode`]. The id is the hash of header and
//! body.
//!
//! [`GitHasher`] computes the id of a whole object from a stream of [events](crate::event);
//! [`blob_id`], [`encode_tree`] and [`tree_id`] are the building blocks, and [`object_hasher`]
//! is the one place any object (header + body) is hashed. An [`ObjectSink`] can watch every
//! object go by, e.g. to store them ([`loose`]).
//!
//! The way back: [`TreeRefIter`] decodes a tree body and [`ObjectHeader::parse`] an object
//! header; [`source`] reads objects from memory or a repository ([`objects_dir`] finds its
//! objects; [`read_ahead`] inflates them ahead on other threads), and [`events`] turns a tree
//! id back into [events](crate::event) or a NAR ([`to_events`], [`to_nar`]), checking every
//! object against its id.
//!
//! ```
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::git::GitHasher;
//! use nix_ingest::hash::{Algorithm, Format};
//!
//! // The tree from Nix's own tests: `bar -> foo`, `bla/` (empty), `foo` = "Hello World!\n".
//! let mut git = GitHasher::new(Algorithm::Sha1);
//! for event in [
//!     Event::DirectoryStart { name: None },
//!     Event::Symlink { name: Some(b"bar"), target: b"foo" },
//!     Event::DirectoryStart { name: Some(b"bla") },
//!     Event::DirectoryEnd,
//!     Event::FileStart { name: Some(b"foo"), executable: false, size: 13 },
//!     Event::FileData(b"Hello World!\n"),
//!     Event::FileEnd,
//!     Event::DirectoryEnd,
//! ] {
//!     git.event(event)?;
//! }
//! assert_eq!(git.finish()?.encode(Format::Base16), "cd44baf36915d5dec8374232ea7e2057f3b4494e");
//! # Ok::<(), nix_ingest::event::SinkError>(())
//! ```
//!
//! # Where Nix and git differ, and what this module does
//!
//! - **Empty directories** are included as the empty tree (`4b825dc…` for SHA-1), as Nix does;
//!   git's index cannot hold them, but its trees can, so `git mktree` agrees.
//! - **The root object** has no mode in git. Nix hashes a root executable like a regular file and
//!   a root symlink as the blob of its target text, so a file, an executable and a symlink with
//!   the same bytes get the same id. [`GitHasher`] matches this by default;
//!   [`GitHasher::strict_root`] refuses the ambiguous roots instead.
//! - **Algorithms**: git has SHA-1 and SHA-256 object formats; Nix computes "git" hashes with any
//!   algorithm (`nix hash path --mode git --algo md5` works, tree entries then carry raw 16-byte
//!   digests), and so does this module. Only store paths restrict git hashing (see
//!   [`store_path`](crate::store_path)).
//! - **SHA-1 collisions**: git detects collision attacks (sha1dc); Nix does not. [`GitHasher`]
//!   detects them by default ([`GitHasher::collision_detection`]); [`blob_id`] and [`tree_id`]
//!   do not.
//! - **Depth**: git hashing is not bound by Nix's NAR nesting limit: `nix hash path --mode git`
//!   of a directory whose entries lie 64 or more levels below it answers (Nix 2.34.8 as 2.26.3),
//!   and so does [`GitHasher`]. Such an object **cannot be added to a current Nix store**: Nix
//!   2.34.7 and later print its store path with `nix store add --dry-run --mode git`, then fail
//!   `nix store add --mode git` ("exceeds maximum NAR directory depth of 64"), since the store
//!   keeps every path as a NAR; the `nar` method refuses it here too (see
//!   [NAR nesting](crate::limits#nar-nesting)).
//! - **Names**: git's fsck refuses entry names that are empty, `.`, `..`, or hold `/` or NUL;
//!   [`GitHasher`] refuses them as a broken event stream (no valid source produces them).

mod hasher;
mod object;

pub use events::{to_events, to_nar};
pub use hasher::{GitHasher, ObjectSink};
#[cfg(feature = "parallel")]
pub(crate) use object::checked_object_id;
#[cfg(feature = "fs")]
pub(crate) use object::{DirEntries, checked_tree_ids, finish_object};
pub use object::{
    HeaderError, Mode, ObjectHeader, ObjectKind, SUBMODULE_MODE, TreeEntry, TreeEntryRef,
    TreeError, TreeErrorKind, TreeRefIter, blob_id, encode_tree, object_hasher, object_id, tree_id,
    tree_order,
};
pub mod events;
pub mod loose;
pub mod names;
pub mod objects_dir;
pub mod read_ahead;
pub mod source;
