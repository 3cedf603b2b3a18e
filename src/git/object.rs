//! Git object encoding: modes, object headers, tree bodies and their order.

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
}

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

/// The kinds of git object this crate produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// File contents or a symlink target.
    Blob,
    /// A directory listing.
    Tree,
}

impl ObjectKind {
    /// The name git writes in the object header: `blob` or `tree`.
    pub const fn name(self) -> &'static str {
        match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
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
        // "blob"/"tree" + ' ' + at most 20 digits + NUL fits in MAX_LEN.
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
    /// The longest header: `blob ` or `tree `, 20 digits of `u64::MAX`, NUL.
    const MAX_LEN: usize = 26;

    /// The header bytes, ending in NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
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

/// The id of the object of `kind` with `body`, without SHA-1 collision detection.
fn object_id(algorithm: Algorithm, kind: ObjectKind, body: &[u8]) -> Hash {
    let mut hasher = Hasher::new_unchecked(algorithm);
    hasher.update(kind.header(body.len() as u64).as_bytes());
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
