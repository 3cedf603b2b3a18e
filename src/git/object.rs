//! Git object encoding and decoding: modes, object headers, tree bodies and their order, and
//! the one helper that hashes an object ([`object_hasher`], [`object_id`]).

use std::cmp::Ordering;
use std::fmt;

use crate::hash::{Algorithm, Hash, Hasher};

/// The mode of a tree entry, as git writes it in a tree object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A regular file: `100644`.
    File,
    /// An executable regular file: `100755`.
    Executable,
    /// A symbolic link, whose blob holds the target: `120000`.
    Symlink,
    /// A directory (a tree): `40000` (git writes no leading zero).
    Directory,
}

impl Mode {
    /// The mode as git writes it in a tree: `100644`, `100755`, `120000` or `40000`.
    pub const fn as_bytes(self) -> &'static [u8] {
        match self {
            Mode::File => b"100644",
            Mode::Executable => b"100755",
            Mode::Symlink => b"120000",
            Mode::Directory => b"40000",
        }
    }

    /// The kind of object an entry of this mode names: a tree for [`Mode::Directory`], else a
    /// blob.
    pub const fn kind(self) -> ObjectKind {
        match self {
            Mode::Directory => ObjectKind::Tree,
            _ => ObjectKind::Blob,
        }
    }

    /// Whether this is [`Mode::Directory`] (which sorts as if its name ended in `/`).
    pub const fn is_directory(self) -> bool {
        matches!(self, Mode::Directory)
    }

    /// The mode git spells `mode` in a tree, if it is one of the four this crate writes,
    /// spelled exactly so (`100644`, `100755`, `120000`, `40000`).
    ///
    /// ```
    /// use nix_ingest::git::Mode;
    /// assert_eq!(Mode::from_bytes(b"40000"), Some(Mode::Directory));
    /// assert_eq!(Mode::from_bytes(b"040000"), None);
    /// assert_eq!(Mode::from_bytes(b"160000"), None); // a submodule
    /// ```
    pub fn from_bytes(mode: &[u8]) -> Option<Mode> {
        match mode {
            b"100644" => Some(Mode::File),
            b"100755" => Some(Mode::Executable),
            b"120000" => Some(Mode::Symlink),
            b"40000" => Some(Mode::Directory),
            _ => None,
        }
    }
}

/// The mode of a submodule entry (a gitlink: the id of a commit of another repository).
pub const SUBMODULE_MODE: &[u8] = b"160000";

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The mode bytes are ASCII digits.
        f.write_str(match self {
            Mode::File => "100644",
            Mode::Executable => "100755",
            Mode::Symlink => "120000",
            Mode::Directory => "40000",
        })
    }
}

/// The kinds of git object: the blobs and trees this crate produces, and the commits and tags
/// it reads from repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// File contents or a symlink target.
    Blob,
    /// A directory listing.
    Tree,
    /// A commit: a tree, its parents, author, committer and message.
    Commit,
    /// An annotated tag: an object it points to, a name, a tagger and a message.
    Tag,
}

impl ObjectKind {
    /// The name git writes in the object header: `blob`, `tree`, `commit` or `tag`.
    pub const fn name(self) -> &'static str {
        match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
            ObjectKind::Commit => "commit",
            ObjectKind::Tag => "tag",
        }
    }

    /// The kind git names `name` in an object header, if any.
    ///
    /// ```
    /// use nix_ingest::git::ObjectKind;
    /// assert_eq!(ObjectKind::from_name(b"commit"), Some(ObjectKind::Commit));
    /// assert_eq!(ObjectKind::from_name(b"Blob"), None);
    /// ```
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"blob" => Some(ObjectKind::Blob),
            b"tree" => Some(ObjectKind::Tree),
            b"commit" => Some(ObjectKind::Commit),
            b"tag" => Some(ObjectKind::Tag),
            _ => None,
        }
    }

    /// The header git hashes before an object's body: `<kind> <size>\0`.
    ///
    /// ```
    /// use nix_ingest::git::ObjectKind;
    /// assert_eq!(ObjectKind::Blob.header(13).as_bytes(), b"blob 13\0");
    /// assert_eq!(ObjectKind::Tree.header(0).as_bytes(), b"tree 0\0");
    /// ```
    pub fn header(self, size: u64) -> ObjectHeader {
        let mut buf = [0u8; ObjectHeader::MAX_LEN];
        let kind = self.name().as_bytes();
        // "commit" + ' ' + at most 20 digits + NUL fits in MAX_LEN.
        let mut len = 0;
        for (dst, src) in buf.iter_mut().zip(kind.iter().chain(b" ")) {
            *dst = *src;
            len += 1;
        }
        let mut digits = [0u8; 20];
        let mut n = size;
        let mut start = digits.len();
        loop {
            start -= 1;
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        for (dst, src) in buf
            .iter_mut()
            .skip(len)
            .zip(digits.iter().skip(start).chain(b"\0"))
        {
            *dst = *src;
            len += 1;
        }
        ObjectHeader {
            buf,
            len: len as u8,
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A git object header, `<kind> <size>\0`, formatted on the stack. See [`ObjectKind::header`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ObjectHeader {
    buf: [u8; ObjectHeader::MAX_LEN],
    len: u8,
}

impl ObjectHeader {
    /// The longest header: `commit `, 20 digits of `u64::MAX`, NUL.
    pub const MAX_LEN: usize = 28;

    /// The header bytes, ending in NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Parses the header at the start of `data` (the inflated bytes of a loose object):
    /// `<kind> <decimal size>\0`, the size without sign or leading zeros and at most
    /// `u64::MAX`, as git writes it. Returns the kind, the body size and the header's length
    /// (where the body starts).
    ///
    /// ```
    /// use nix_ingest::git::{HeaderError, ObjectHeader, ObjectKind};
    /// assert_eq!(ObjectHeader::parse(b"blob 13\0Hello World!\n"), Ok((ObjectKind::Blob, 13, 8)));
    /// assert_eq!(ObjectHeader::parse(b"blob 013\0"), Err(HeaderError::BadSize));
    /// assert_eq!(ObjectHeader::parse(b"blob 13"), Err(HeaderError::Truncated));
    /// ```
    pub fn parse(data: &[u8]) -> Result<(ObjectKind, u64, usize), HeaderError> {
        let window = data.get(..Self::MAX_LEN).unwrap_or(data);
        let Some(end) = window.iter().position(|&b| b == 0) else {
            return Err(if data.len() >= Self::MAX_LEN {
                HeaderError::TooLong
            } else {
                HeaderError::Truncated
            });
        };
        let header = window.get(..end).unwrap_or_default();
        let space = header
            .iter()
            .position(|&b| b == b' ')
            .ok_or(HeaderError::NoSpace)?;
        let (kind, digits) = header.split_at(space);
        let digits = digits.get(1..).unwrap_or_default();
        let kind = ObjectKind::from_name(kind).ok_or(HeaderError::UnknownKind)?;
        if digits.is_empty() || (digits.len() > 1 && digits.first() == Some(&b'0')) {
            return Err(HeaderError::BadSize);
        }
        let mut size: u64 = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return Err(HeaderError::BadSize);
            }
            size = size
                .checked_mul(10)
                .and_then(|s| s.checked_add(u64::from(d - b'0')))
                .ok_or(HeaderError::BadSize)?;
        }
        Ok((kind, size, end.saturating_add(1)))
    }
}

/// Why bytes are not a git object header ([`ObjectHeader::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The bytes end before the header's NUL.
    #[error("truncated object header")]
    Truncated,
    /// No NUL within the longest header git writes.
    #[error("object header too long")]
    TooLong,
    /// No space between kind and size.
    #[error("object header without a space")]
    NoSpace,
    /// A kind other than `blob`, `tree`, `commit` and `tag`.
    #[error("unknown object kind in header")]
    UnknownKind,
    /// A size that is not canonical decimal (digits only, no leading zero) or exceeds `u64`.
    #[error("malformed object size in header")]
    BadSize,
}

impl AsRef<[u8]> for ObjectHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ObjectHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ObjectHeader({:?})",
            self.as_bytes().escape_ascii().to_string()
        )
    }
}

/// One entry of a tree object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeEntry {
    /// The entry's mode.
    pub mode: Mode,
    /// The entry's name: raw bytes, non-empty, without `/` or NUL, neither `.` nor `..`.
    pub name: Vec<u8>,
    /// The id of the blob or tree the entry names (raw digest bytes go into the tree).
    pub id: Hash,
}

/// One entry of a tree body as [`TreeRefIter`] decodes it, borrowing from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntryRef<'a> {
    /// The mode as written: octal digits (see [`Mode::from_bytes`] and [`SUBMODULE_MODE`]).
    pub mode: &'a [u8],
    /// The name: non-empty, without `/` or NUL, neither `.` nor `..`.
    pub name: &'a [u8],
    /// The raw id (as many bytes as the algorithm's digest).
    pub id: &'a [u8],
    /// Where the entry starts in the body.
    pub offset: usize,
}

impl TreeEntryRef<'_> {
    /// The entry's mode if it is one this crate writes ([`Mode::from_bytes`]).
    pub fn known_mode(&self) -> Option<Mode> {
        Mode::from_bytes(self.mode)
    }

    /// Whether the entry is a submodule (mode `160000`, naming a commit).
    pub fn is_submodule(&self) -> bool {
        self.mode == SUBMODULE_MODE
    }

    /// Whether the entry is a directory, for git's order ([`tree_order`]). Git sorts every
    /// entry whose mode says "tree" (`40000`, however spelled) as a directory.
    pub fn sorts_as_directory(&self) -> bool {
        let digits = self.mode.iter().skip_while(|&&d| d == b'0').copied();
        digits.eq(b"40000".iter().copied())
    }
}

/// Why a tree body could not be decoded ([`TreeRefIter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed git tree at byte {offset}: {reason}")]
pub struct TreeError {
    /// Where in the body.
    pub offset: usize,
    /// What is wrong.
    pub reason: TreeErrorKind,
}

/// What is wrong with a tree body ([`TreeError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeErrorKind {
    /// A mode that is not an octal number of one to six digits followed by a space.
    #[error("malformed mode (not an octal number of at most 6 digits)")]
    BadMode,
    /// A name that is empty, `.` or `..`, or holds `/`.
    #[error("invalid entry name")]
    BadName,
    /// The body ends inside a name.
    #[error("entry name not terminated")]
    UnterminatedName,
    /// The body ends inside an id.
    #[error("truncated object id")]
    TruncatedId,
    /// An entry not after the one before it in git's order ([`tree_order`]), or repeating it.
    #[error("entry out of git order or duplicated")]
    OutOfOrder,
}

/// Decodes a tree body (without its header) entry by entry, like gitoxide's `TreeRefIter`:
/// each item is an entry borrowing from the body, or the first error, after which the iterator
/// ends. Modes must be octal numbers of at most six digits, names valid file names, ids
/// `algorithm`'s length, and entries in strictly increasing git order ([`tree_order`]) — what
/// `git fsck` asks of a tree, except that any octal mode is passed on for the caller to judge.
///
/// ```
/// use nix_ingest::git::{Mode, TreeEntry, TreeRefIter, blob_id, encode_tree};
/// use nix_ingest::hash::Algorithm;
///
/// let id = blob_id(Algorithm::Sha1, b"");
/// let body = encode_tree(&mut [TreeEntry { mode: Mode::Executable, name: b"run".to_vec(), id }]);
/// let entries: Vec<_> = TreeRefIter::new(&body, Algorithm::Sha1).collect::<Result<_, _>>()?;
/// assert_eq!(entries.len(), 1);
/// assert_eq!((entries[0].known_mode(), entries[0].name), (Some(Mode::Executable), &b"run"[..]));
/// assert_eq!(entries[0].id, id.as_bytes());
///
/// assert!(TreeRefIter::new(b"100644 a", Algorithm::Sha1).next().unwrap().is_err());
/// # Ok::<(), nix_ingest::git::TreeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TreeRefIter<'a> {
    body: &'a [u8],
    offset: usize,
    hash_len: usize,
    previous: Option<(&'a [u8], bool)>,
    failed: bool,
}

impl<'a> TreeRefIter<'a> {
    /// An iterator over the entries of the tree `body`, whose ids are `algorithm` digests.
    pub fn new(body: &'a [u8], algorithm: Algorithm) -> Self {
        TreeRefIter {
            body,
            offset: 0,
            hash_len: algorithm.len(),
            previous: None,
            failed: false,
        }
    }

    fn fail(
        &mut self,
        offset: usize,
        reason: TreeErrorKind,
    ) -> Option<Result<TreeEntryRef<'a>, TreeError>> {
        self.failed = true;
        Some(Err(TreeError { offset, reason }))
    }
}

impl<'a> Iterator for TreeRefIter<'a> {
    type Item = Result<TreeEntryRef<'a>, TreeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.offset;
        let rest = self.body.get(start..).unwrap_or_default();
        if self.failed || rest.is_empty() {
            return None;
        }
        let Some(space) = rest.iter().take(7).position(|&b| b == b' ') else {
            return self.fail(start, TreeErrorKind::BadMode);
        };
        let (mode, rest) = rest.split_at(space);
        if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return self.fail(start, TreeErrorKind::BadMode);
        }
        let rest = rest.get(1..).unwrap_or_default();
        let name_at = start.saturating_add(space).saturating_add(1);
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return self.fail(name_at, TreeErrorKind::UnterminatedName);
        };
        let (name, rest) = rest.split_at(nul);
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return self.fail(name_at, TreeErrorKind::BadName);
        }
        let id_at = name_at.saturating_add(nul).saturating_add(1);
        let Some(id) = rest.get(1..).and_then(|r| r.get(..self.hash_len)) else {
            return self.fail(id_at, TreeErrorKind::TruncatedId);
        };
        let entry = TreeEntryRef {
            mode,
            name,
            id,
            offset: start,
        };
        let is_dir = entry.sorts_as_directory();
        if let Some((prev, prev_dir)) = self.previous
            && tree_order(prev, prev_dir, name, is_dir) != Ordering::Less
        {
            return self.fail(start, TreeErrorKind::OutOfOrder);
        }
        self.previous = Some((name, is_dir));
        self.offset = id_at.saturating_add(self.hash_len);
        Some(Ok(entry))
    }
}

/// Git's order of tree entries: names compared as bytes, a directory's name compared as if it
/// were followed by `/` (so file `a.b` < directory `a` < file `a0`).
///
/// ```
/// use std::cmp::Ordering;
/// use nix_ingest::git::tree_order;
/// assert_eq!(tree_order(b"a", true, b"a.b", false), Ordering::Greater);
/// assert_eq!(tree_order(b"a", true, b"a0", false), Ordering::Less);
/// assert_eq!(tree_order(b"a", false, b"a.b", false), Ordering::Less);
/// ```
pub fn tree_order(a: &[u8], a_is_tree: bool, b: &[u8], b_is_tree: bool) -> Ordering {
    let common = a.len().min(b.len());
    let (a_head, a_tail) = a.split_at(common);
    let (b_head, b_tail) = b.split_at(common);
    a_head.cmp(b_head).then_with(|| {
        // The end of a file name compares as NUL (below every byte a name may hold), the end
        // of a directory name as '/'.
        let a = a_tail.first().copied().or(a_is_tree.then_some(b'/'));
        let b = b_tail.first().copied().or(b_is_tree.then_some(b'/'));
        a.cmp(&b)
    })
}

/// Appends one encoded tree entry, `<mode> <name>\0<raw id>`, to `out`.
#[inline]
pub(crate) fn push_entry(out: &mut Vec<u8>, mode: Mode, name: &[u8], id: &[u8]) {
    out.extend_from_slice(mode.as_bytes());
    out.push(b' ');
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(id);
}

/// Sorts `entries` into git order ([`tree_order`]) and returns the tree body they make (without
/// the `tree <size>\0` header).
///
/// Entries are taken as given: their names must be valid (see [`TreeEntry::name`]) and distinct,
/// and their ids of one algorithm; [`GitHasher`](super::GitHasher) checks all that for streams.
///
/// ```
/// use nix_ingest::git::{Mode, TreeEntry, blob_id, encode_tree};
/// use nix_ingest::hash::Algorithm;
///
/// let id = blob_id(Algorithm::Sha1, b"");
/// let mut entries = vec![TreeEntry { mode: Mode::File, name: b"e".to_vec(), id }];
/// let body = encode_tree(&mut entries);
/// assert_eq!(&body[..9], b"100644 e\0");
/// assert_eq!(&body[9..], id.as_bytes());
/// ```
pub fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    entries.sort_unstable_by(|a, b| {
        tree_order(
            &a.name,
            a.mode.is_directory(),
            &b.name,
            b.mode.is_directory(),
        )
    });
    let len = entries
        .iter()
        .map(|e| {
            e.mode
                .as_bytes()
                .len()
                .saturating_add(e.name.len())
                .saturating_add(e.id.as_bytes().len())
                .saturating_add(2)
        })
        .fold(0usize, usize::saturating_add);
    let mut out = Vec::with_capacity(len);
    for e in entries.iter() {
        push_entry(&mut out, e.mode, &e.name, e.id.as_bytes());
    }
    out
}

/// The id of the tree holding `entries` (sorted into git order in place), hashed with
/// `algorithm` and without SHA-1 collision detection.
///
/// ```
/// use nix_ingest::git::tree_id;
/// use nix_ingest::hash::{Algorithm, Format};
/// assert_eq!(
///     tree_id(Algorithm::Sha1, &mut []).encode(Format::Base16),
///     "4b825dc642cb6eb9a060e54bf8d69288fbee4904" // git's empty tree
/// );
/// ```
pub fn tree_id(algorithm: Algorithm, entries: &mut [TreeEntry]) -> Hash {
    object_id(algorithm, ObjectKind::Tree, &encode_tree(entries))
}

/// The id of the blob holding `data`, hashed with `algorithm` and without SHA-1 collision
/// detection (as `git hash-object` prints it for sha1 and sha256 repositories).
///
/// ```
/// use nix_ingest::git::blob_id;
/// use nix_ingest::hash::{Algorithm, Format};
/// assert_eq!(
///     blob_id(Algorithm::Sha1, b"").encode(Format::Base16),
///     "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391" // git's empty blob
/// );
/// ```
pub fn blob_id(algorithm: Algorithm, data: &[u8]) -> Hash {
    object_id(algorithm, ObjectKind::Blob, data)
}

/// THE way to hash a git object: a [`Hasher`] for `algorithm` that has already taken the header
/// of an object of `kind` with a body of `size` bytes; feed it the body and finalize it for the
/// object's id. With `collision_detection`, SHA-1 detects collision attacks (finalizing then
/// fails on one, as git does); other algorithms ignore the flag.
///
/// Every id this crate computes — [`GitHasher`](super::GitHasher), [`blob_id`], [`tree_id`],
/// the checks of objects read back — goes through here.
///
/// ```
/// use nix_ingest::git::{ObjectKind, object_hasher};
/// use nix_ingest::hash::{Algorithm, Format};
/// let mut hasher = object_hasher(Algorithm::Sha1, ObjectKind::Blob, 13, true);
/// hasher.update(b"Hello World!\n");
/// assert_eq!(
///     hasher.finalize()?.encode(Format::Base16),
///     "980a0d5f19a64b4b30a87d4206aade58726b60e3" // git hash-object
/// );
/// # Ok::<(), nix_ingest::hash::Error>(())
/// ```
pub fn object_hasher(
    algorithm: Algorithm,
    kind: ObjectKind,
    size: u64,
    collision_detection: bool,
) -> Hasher {
    let mut hasher = Hasher::with_collision_detection(algorithm, collision_detection);
    hasher.update(kind.header(size).as_bytes());
    hasher
}

/// Finishes an object's hash started by [`object_hasher`], turning a detected SHA-1 collision
/// into the [`SinkError`](crate::event::SinkError) every sink of the crate reports: the one
/// place an object id is finished.
pub(crate) fn finish_object(
    hasher: crate::hash::Hasher,
    kind: ObjectKind,
) -> Result<Hash, crate::event::SinkError> {
    hasher
        .finalize()
        .map_err(|e| crate::event::SinkError::from_hash(e, kind.name()))
}

/// The id of the object of `kind` with `body`, with SHA-1 collision detection if `detect`: the
/// hasher every walk (serial, parallel, cached) uses for a whole object in memory.
#[cfg(feature = "fs")]
pub(crate) fn checked_object_id(
    algorithm: Algorithm,
    kind: ObjectKind,
    body: &[u8],
    detect: bool,
) -> Result<Hash, crate::event::SinkError> {
    let mut hasher = object_hasher(algorithm, kind, body.len() as u64, detect);
    hasher.update(body);
    finish_object(hasher, kind)
}

/// The entries of one directory as the walks hold them, to be hashed as git trees: the one
/// tree encoder of the parallel, read-ahead and cached walks ([`checked_tree_ids`]).
#[cfg(feature = "fs")]
pub(crate) trait DirEntries {
    /// The number of entries.
    fn count(&self) -> usize;
    /// Entry `i`'s mode and name.
    fn entry(&self, i: usize) -> (Mode, &[u8]);
    /// Entry `i`'s raw id under the `j`-th algorithm (`None` leaves the entry out: only an
    /// entry whose walk failed has none, and then no tree id is used).
    fn id(&self, i: usize, j: usize) -> Option<&[u8]>;
}

/// The ids of the directory holding `entries` under each of `algorithms` (in that order): the
/// entries sorted into git order once, then one tree body per algorithm, hashed with SHA-1
/// collision detection if `detect`.
#[cfg(feature = "fs")]
pub(crate) fn checked_tree_ids<E: DirEntries + ?Sized>(
    entries: &E,
    algorithms: &[Algorithm],
    detect: bool,
) -> Result<Vec<Hash>, crate::event::SinkError> {
    let mut order: Vec<usize> = (0..entries.count()).collect();
    // The walks list in byte order; git's order differs only where a directory's name is a
    // prefix of another name, so this sort mostly confirms the order.
    order.sort_by(|&a, &b| {
        let (a_mode, a_name) = entries.entry(a);
        let (b_mode, b_name) = entries.entry(b);
        tree_order(a_name, a_mode.is_directory(), b_name, b_mode.is_directory())
    });
    let mut body = Vec::new();
    algorithms
        .iter()
        .enumerate()
        .map(|(j, &algorithm)| {
            body.clear();
            for &i in &order {
                let (mode, name) = entries.entry(i);
                if let Some(id) = entries.id(i, j) {
                    push_entry(&mut body, mode, name, id);
                }
            }
            checked_object_id(algorithm, ObjectKind::Tree, &body, detect)
        })
        .collect()
}

/// The id of the object of `kind` with `body`, without SHA-1 collision detection: one call of
/// [`object_hasher`].
///
/// ```
/// use nix_ingest::git::{ObjectKind, object_id};
/// use nix_ingest::hash::{Algorithm, Format};
/// assert_eq!(
///     object_id(Algorithm::Sha1, ObjectKind::Tree, b"").encode(Format::Base16),
///     "4b825dc642cb6eb9a060e54bf8d69288fbee4904" // git's empty tree
/// );
/// ```
pub fn object_id(algorithm: Algorithm, kind: ObjectKind, body: &[u8]) -> Hash {
    let mut hasher = object_hasher(algorithm, kind, body.len() as u64, false);
    hasher.update(body);
    match hasher.finalize() {
        Ok(hash) => hash,
        // Only collision detection fails, and this hasher does not detect.
        Err(_) => unreachable!("a hasher without collision detection cannot fail"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Format;

    #[test]
    fn headers_spell_the_size_in_decimal() {
        // The header format is git's: "<type> <decimal size>\0" (gitformat-loose(5)).
        for (size, text) in [
            (0u64, "0"),
            (9, "9"),
            (10, "10"),
            (1234567890, "1234567890"),
            (u64::MAX, "18446744073709551615"),
        ] {
            assert_eq!(
                ObjectKind::Blob.header(size).as_bytes(),
                format!("blob {text}\0").as_bytes()
            );
            assert_eq!(
                ObjectKind::Tree.header(size).as_bytes(),
                format!("tree {text}\0").as_bytes()
            );
        }
    }

    #[test]
    fn headers_parse_only_canonical_sizes() {
        // gitformat-loose(5): "<type> <decimal size>\0"; git writes no sign or leading zero.
        let parse = |h: &[u8]| ObjectHeader::parse(h).map(|(k, s, l)| (k.name(), s, l));
        assert_eq!(parse(b"blob 12\0"), Ok(("blob", 12, 8)));
        assert_eq!(parse(b"tree 0\0rest"), Ok(("tree", 0, 7)));
        assert_eq!(parse(b"commit 1\0"), Ok(("commit", 1, 9)));
        assert_eq!(parse(b"tag 3\0"), Ok(("tag", 3, 6)));
        assert_eq!(parse(b"blob 012\0"), Err(HeaderError::BadSize));
        assert_eq!(parse(b"blob \0"), Err(HeaderError::BadSize));
        assert_eq!(parse(b"blob -1\0"), Err(HeaderError::BadSize));
        assert_eq!(
            parse(b"blob 99999999999999999999\0"),
            Err(HeaderError::BadSize)
        );
        assert_eq!(parse(b"blob12\0"), Err(HeaderError::NoSpace));
        assert_eq!(parse(b"bloc 1\0"), Err(HeaderError::UnknownKind));
        assert_eq!(parse(b"blob 1"), Err(HeaderError::Truncated));
        assert_eq!(
            parse(b"commit 123456789012345678901"),
            Err(HeaderError::TooLong)
        );
        for kind in [
            ObjectKind::Blob,
            ObjectKind::Tree,
            ObjectKind::Commit,
            ObjectKind::Tag,
        ] {
            let h = kind.header(u64::MAX);
            assert_eq!(
                ObjectHeader::parse(h.as_bytes()),
                Ok((kind, u64::MAX, h.as_bytes().len()))
            );
        }
    }

    #[test]
    fn empty_objects_are_gits() {
        // `git hash-object -t blob /dev/null` and `git mktree </dev/null`, in sha1 and sha256
        // repositories.
        assert_eq!(
            blob_id(Algorithm::Sha1, b"").encode(Format::Base16),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            tree_id(Algorithm::Sha1, &mut []).encode(Format::Base16),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        assert_eq!(
            blob_id(Algorithm::Sha256, b"").encode(Format::Base16),
            "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
        );
        assert_eq!(
            tree_id(Algorithm::Sha256, &mut []).encode(Format::Base16),
            "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
        );
    }

    #[test]
    fn order_is_gits_base_name_compare() {
        // git's base_name_compare: the end of a name compares as '/' for trees, NUL otherwise.
        use Ordering::*;
        assert_eq!(tree_order(b"a", false, b"a", false), Equal);
        assert_eq!(tree_order(b"a", true, b"a", true), Equal);
        assert_eq!(tree_order(b"a", false, b"a", true), Less);
        assert_eq!(tree_order(b"a", true, b"a-", false), Greater);
        assert_eq!(tree_order(b"a", true, b"a.b", false), Greater);
        assert_eq!(tree_order(b"a", true, b"a0", false), Less);
        assert_eq!(tree_order(b"a", false, b"a-", false), Less);
        assert_eq!(tree_order(b"ab", true, b"a", true), Greater);
        assert_eq!(tree_order(b"\xff", false, b"a", true), Greater);
    }
}
