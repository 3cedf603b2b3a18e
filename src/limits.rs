//! Resource limits that bound what a source accepts, so hostile input cannot exhaust memory or
//! the stack.
//!
//! Every source ([NAR parser](crate::nar), [directory walk](crate::fs),
//! [git events](crate::git::events)) checks these as it streams and fails with an error naming the
//! limit and where it was crossed. The defaults accept everything a real Nix can restore on Linux
//! and refuse what it cannot:
//!
//! | limit | default | why |
//! |---|---|---|
//! | [`max_depth`](Limits::max_depth) | 4096 | nesting; Linux `PATH_MAX` (4096) allows at most 2048 levels of one-byte names |
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

/// Bounds on what a source accepts. See the [module docs](self) for the defaults and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of directories (the root directory is depth 1).
    pub max_depth: usize,
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
        max_name_len: 255,
        max_target_len: 4095,
        max_entries_per_directory: 1_000_000,
        max_entries_total: 100_000_000,
        max_total_size: u64::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
