//! Resource limits that bound what a source accepts, so hostile input cannot exhaust memory or
//! the stack.
//!
//! Every source ([NAR parser](crate::nar), directory walk (module `fs`),
//! [git events](crate::git::events)) checks these as it streams and fails with an error naming the
//! limit and where it was crossed. The defaults accept everything a real Nix can restore on Linux
//! and refuse what it cannot:
//!
//! | limit | default | why |
//! |---|---|---|
//! | [`max_depth`](Limits::max_depth) | 4096 | nesting; Linux `PATH_MAX` (4096) allows at most 2048 levels of one-byte names |
//! | [`max_nar_depth`](Limits::max_nar_depth) | 64 | Nix's NAR nesting limit (Nix 2.34.7 and later): objects 64 levels below the root are refused |
//! | [`max_name_len`](Limits::max_name_len) | 255 | `NAME_MAX` on every Linux file system |
//! | [`max_target_len`](Limits::max_target_len) | 4095 | `PATH_MAX - 1`, the longest symlink target Linux stores |
//! | [`max_entries_per_directory`](Limits::max_entries_per_directory) | 1,000,000 | far above any real directory; bounds the memory an open directory costs (below) |
//! | [`max_entries_total`](Limits::max_entries_total) | 100,000,000 | bounds the work of [restoring](crate::git::events) a git tree whose objects form a DAG |
//! | [`max_total_size`](Limits::max_total_size) | `u64::MAX` | unbounded by default; set it to cap what an upload may cost |
//!
//! What `max_entries_per_directory` bounds: the [git hasher](crate::git::GitHasher) keeps, for
//! each entry of an open directory, 24 bytes of bookkeeping plus the name and the raw id — about
//! 88 bytes for a 32-byte name and a SHA-256 id, at most `24 + max_name_len + 64` bytes — so one
//! directory of a million entries costs about 88 MB. [`git::events`](crate::git::events) keeps the same
//! per entry for each open tree, and refuses a tree whose header announces more bytes than
//! `max_entries_per_directory` canonical entries can take (`8 + max_name_len + digest length`
//! each: about 283 MB for SHA-1 with the defaults) before reading it.
//!
//! Memory used while streaming is bounded by `max_depth × max_entries_per_directory × (max_name_len
//! + a digest)` in the worst case, and never by a length written into the stream.
//!
//! ```
//! use nix_ingest::Limits;
//! let strict = Limits { max_total_size: 1 << 30, ..Limits::default() };
//! assert_eq!(strict.max_name_len, 255);
//! ```
//!
//! # NAR nesting
//!
//! Current Nix refuses to read or write a NAR nested too deep: `nix-store --restore` fails with
//! "NAR directory nesting exceeds maximum depth of 64", and `nix hash path --mode nar`,
//! `nix store add` and `nix-store --dump` of such a directory fail naming the path. Nix numbers
//! the root 0 and each entry one more than its directory, and refuses any object (directory,
//! file or symlink) numbered 64 or more: a path may have at most 63 components below the root,
//! so 64 nested directories (the root counts) are accepted only if the innermost is empty. Nix
//! 2.34.7 brought the rule (as did 2.28.7, 2.29.4, 2.30.5, 2.31.5, 2.32.8 and 2.33.6); Nix 2.26.3
//! has no such limit. [`max_nar_depth`](Limits::max_nar_depth) is that rule: it binds the
//! [NAR parser](crate::nar::Parser), the [NAR writer](crate::nar::NarWriter) and the
//! [NAR hasher](crate::nar::NarHasher), so the `nar` ingestion method and every route to a NAR
//! refuse what current Nix refuses.
//!
//! Git hashing is not a NAR route: `nix hash path --mode git` of a deeper directory answers, and
//! so does this crate (bounded only by [`max_depth`](Limits::max_depth)). But such an object
//! cannot be added to a current Nix store: `nix store add --dry-run --mode git` prints its store
//! path, while `nix store add --mode git` then fails, because the store keeps every path as a
//! NAR.
//!
//! [`Limits::NIX_2_26`] is the older rule: no NAR nesting limit beyond
//! [`max_depth`](Limits::max_depth), as Nix 2.26.3 accepts.
//!
//! ```
//! use nix_ingest::Limits;
//! assert_eq!(Limits::DEFAULT.max_nar_depth, 64);
//! // The older, deeper rule: only `max_depth` (4,096 directories) bounds nesting.
//! let old = Limits::NIX_2_26;
//! assert_eq!(old.max_nar_depth, usize::MAX);
//! assert_eq!(old.max_depth, Limits::DEFAULT.max_depth);
//! ```
/// Bounds on what a source accepts. See the [module docs](self) for the defaults and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of directories (the root directory is depth 1), for every source:
    /// bounds the memory of an open path whatever the method.
    pub max_depth: usize,
    /// NAR nesting: an object (of any type) this many levels or more below the root is refused
    /// wherever a NAR is read, written or hashed; the root is level 0, its entries level 1.
    /// Nix 2.34.7 and later refuse at 64 (see [NAR nesting](self#nar-nesting));
    /// `usize::MAX` turns the rule off. Git hashing does not check it.
    pub max_nar_depth: usize,
    /// The longest entry name, in bytes.
    pub max_name_len: usize,
    /// The longest symlink target, in bytes.
    pub max_target_len: usize,
    /// The most entries one directory may hold.
    pub max_entries_per_directory: u64,
    /// The most entries (files, symlinks and directories, the root not counted) the whole
    /// object may hold.
    ///
    /// Checked by [`git::events`](crate::git::events), where a few git objects can name one subtree
    /// many times over and so describe a tree exponentially larger than themselves (empty
    /// files and directories count nothing towards [`max_total_size`](Self::max_total_size)).
    /// The NAR parser and the directory walk do work in proportion to their input, and do not
    /// check it.
    pub max_entries_total: u64,
    /// The most content bytes (files plus symlink targets) the whole object may hold.
    pub max_total_size: u64,
}

impl Limits {
    /// The defaults: see the [module docs](self).
    pub const DEFAULT: Limits = Limits {
        max_depth: 4096,
        max_nar_depth: 64,
        max_name_len: 255,
        max_target_len: 4095,
        max_entries_per_directory: 1_000_000,
        max_entries_total: 100_000_000,
        max_total_size: u64::MAX,
    };

    /// The defaults with Nix 2.26's NAR rule: no NAR nesting limit
    /// ([`max_nar_depth`](Self::max_nar_depth) is `usize::MAX`), so NARs and directories up to
    /// [`max_depth`](Self::max_depth) levels are read, written and hashed, as Nix 2.26.3 does
    /// and Nix 2.34.7 and later refuse. See [NAR nesting](self#nar-nesting).
    pub const NIX_2_26: Limits = Limits {
        max_nar_depth: usize::MAX,
        ..Limits::DEFAULT
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
