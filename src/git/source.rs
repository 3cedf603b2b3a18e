//! Where git objects come from when a git tree is turned back into a file system object
//! ([`events`](crate::git::events)): the [`ObjectSource`] trait, an in-memory store
//! ([`MemoryObjects`], also an [`ObjectSink`] so that hashing fills it) and a git repository on
//! disk ([`Repository`]).
//!
//! Nix restores git-hashed store objects from a git repository too (its fetchers read trees
//! with libgit2); here any source will do. Sources are **not trusted**: a source only says what
//! it holds, and readers check every object's bytes against its id — see [`read_verified`] and
//! [`events`](crate::git::events).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::git::ObjectKind;
//! use nix_ingest::git::source::{read_verified, MemoryObjects};
//! use nix_ingest::hash::{Algorithm, Format};
//!
//! let mut objects = MemoryObjects::new();
//! let id = objects.insert(Algorithm::Sha1, ObjectKind::Blob, b"Hello World!\n".to_vec());
//! assert_eq!(id.encode(Format::Base16), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
//! let (kind, body) = read_verified(&mut objects, &id, 1 << 20)?;
//! assert_eq!((kind, &body[..]), (ObjectKind::Blob, &b"Hello World!\n"[..]));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;

use crate::event::SinkError;
use crate::git::objects_dir::{self, ObjectsDir};
use crate::git::{ObjectHeader, ObjectKind, ObjectSink, object_hasher, object_id};
use crate::hash::{Algorithm, Format, Hash, Hasher};

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The source does not hold the object.
    #[error("git object {} not found{hint}", hex(.id))]
    NotFound {
        /// The object id.
        id: Hash,
        /// Why it may be missing (may be empty).
        hint: &'static str,
    },
    /// Reading the object failed.
    #[error("cannot read git object {} from '{}'", hex(.id), .path.display())]
    Io {
        /// The object id.
        id: Hash,
        /// The file read.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading the object's body failed.
    #[error("cannot read git object {}", hex(.id))]
    Read {
        /// The object id.
        id: Hash,
        /// The cause.
        source: io::Error,
    },
    /// The stored bytes are not a well-formed object (bad zlib stream or header).
    #[error("git object {} is corrupt: {reason}", hex(.id))]
    Corrupt {
        /// The object id.
        id: Hash,
        /// What is wrong.
        reason: String,
    },
    /// The object's bytes do not hash to its id.
    #[error("git object {} is corrupt: its bytes hash to {}", hex(.id), hex(.actual))]
    HashMismatch {
        /// The id asked for.
        id: Hash,
        /// What its bytes hash to (boxed to keep the error small).
        actual: Box<Hash>,
    },
    /// The SHA-1 collision detector found an attack in the object's bytes.
    #[error("git object {} carries a SHA-1 collision attack", hex(.id))]
    Sha1Collision {
        /// The object id.
        id: Hash,
    },
    /// The body is longer or shorter than the header says.
    #[error("git object {} announces {declared} bytes but holds {actual}", hex(.id))]
    SizeMismatch {
        /// The object id.
        id: Hash,
        /// The size in its header.
        declared: u64,
        /// The bytes read (so far, when it overflowed).
        actual: u64,
    },
    /// The object is bigger than the caller allows.
    #[error("git object {} has {size} bytes, more than the limit of {limit}", hex(.id))]
    TooLarge {
        /// The object id.
        id: Hash,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The repository could not be opened.
    #[error(transparent)]
    Open(#[from] objects_dir::LocateError),
    /// An id of another algorithm than the repository's object format.
    #[error("git object {} is not a {expected} id", hex(.id))]
    WrongAlgorithm {
        /// The object id.
        id: Hash,
        /// The repository's object format.
        expected: Algorithm,
    },
    /// The pack reader (feature `gix`) failed.
    #[error("cannot read git object {} from a pack: {message}", hex(.id))]
    Pack {
        /// The object id.
        id: Hash,
        /// What it said.
        message: String,
    },
}

pub(crate) fn hex(id: &Hash) -> String {
    id.encode(Format::Base16)
}

/// An object being read: its kind, its size, and a reader of exactly `size` body bytes.
pub struct Object<'a> {
    /// Its kind.
    pub kind: ObjectKind,
    /// The body size announced by the object's header.
    pub size: u64,
    /// The body. It may fail with [`io::ErrorKind::InvalidData`] when it turns out longer or
    /// shorter than `size`.
    pub body: Box<dyn Read + 'a>,
}

impl std::fmt::Debug for Object<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("kind", &self.kind)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A store of git objects, read one at a time by id.
///
/// Implementations need not check that the bytes match the id: [`read_verified`] and
/// [`events`](crate::git::events) do.
pub trait ObjectSource {
    /// Opens the object `id` for reading, streaming its body.
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError>;

    /// A hint: the objects `ids` (blobs and trees) will be read next, in this order, before any
    /// announced earlier and not read yet. A source may start reading them, and what the trees
    /// hold ([`ReadAhead`](crate::git::read_ahead::ReadAhead) does); the default does nothing.
    fn prefetch(&mut self, ids: &[Hash]) {
        let _ = ids;
    }
}

impl<O: ObjectSource + ?Sized> ObjectSource for &mut O {
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        (**self).read(id)
    }

    fn prefetch(&mut self, ids: &[Hash]) {
        (**self).prefetch(ids)
    }
}

impl<O: ObjectSource + ?Sized> ObjectSource for Box<O> {
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        (**self).read(id)
    }

    fn prefetch(&mut self, ids: &[Hash]) {
        (**self).prefetch(ids)
    }
}

/// Reads the whole object `id` from `source` and checks that its header and body hash to `id`
/// (with SHA-1 collision detection) and that it has at most `max_size` bytes.
///
/// Memory grows with the bytes actually read, never with the size a header claims.
pub fn read_verified<O: ObjectSource + ?Sized>(
    source: &mut O,
    id: &Hash,
    max_size: u64,
) -> Result<(ObjectKind, Vec<u8>), ObjectError> {
    let object = source.read(id)?;
    if object.size > max_size {
        return Err(ObjectError::TooLarge {
            id: *id,
            size: object.size,
            limit: max_size,
        });
    }
    let mut check = Verifier::new(id, object.kind, object.size);
    let mut body = Vec::new();
    object
        .body
        .take(object.size.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| read_error(id, e))?;
    check.update(&body);
    check.finish(body.len() as u64)?;
    Ok((object.kind, body))
}

/// Maps an error from an object's body reader.
pub(crate) fn read_error(id: &Hash, e: io::Error) -> ObjectError {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            ObjectError::Corrupt {
                id: *id,
                reason: e.to_string(),
            }
        }
        _ => ObjectError::Read { id: *id, source: e },
    }
}

/// Hashes `<kind> <size>\0<body>` as it streams and checks it against the id at the end.
#[derive(Debug)]
pub(crate) struct Verifier {
    id: Hash,
    declared: u64,
    hasher: Hasher,
}

impl Verifier {
    pub(crate) fn new(id: &Hash, kind: ObjectKind, size: u64) -> Self {
        let hasher = object_hasher(id.algorithm(), kind, size, true);
        Verifier {
            id: *id,
            declared: size,
            hasher,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    pub(crate) fn finish(self, actual_size: u64) -> Result<(), ObjectError> {
        if actual_size != self.declared {
            return Err(ObjectError::SizeMismatch {
                id: self.id,
                declared: self.declared,
                actual: actual_size,
            });
        }
        match self.hasher.finalize() {
            Ok(actual) if actual == self.id => Ok(()),
            Ok(actual) => Err(ObjectError::HashMismatch {
                id: self.id,
                actual: Box::new(actual),
            }),
            Err(_) => Err(ObjectError::Sha1Collision { id: self.id }),
        }
    }
}

/// Git objects kept in memory, by id.
///
/// As an [`ObjectSink`] it stores every object a [`GitHasher`](crate::git::GitHasher) hashes
/// (so hashing a tree and restoring it needs no disk); as an [`ObjectSource`] it serves them
/// back. Blobs are held whole, so this suits trees that fit in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjects {
    objects: HashMap<Hash, (ObjectKind, Vec<u8>)>,
    pending: Option<Vec<u8>>,
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object `id`, if held.
    pub fn get(&self, id: &Hash) -> Option<(ObjectKind, &[u8])> {
        self.objects.get(id).map(|(k, b)| (*k, &b[..]))
    }

    /// Whether it holds object `id`.
    pub fn contains(&self, id: &Hash) -> bool {
        self.objects.contains_key(id)
    }

    /// Stores an object, naming it by its `algorithm` git id, which is returned.
    pub fn insert(&mut self, algorithm: Algorithm, kind: ObjectKind, body: Vec<u8>) -> Hash {
        let id = object_id(algorithm, kind, &body);
        self.objects.insert(id, (kind, body));
        id
    }

    /// Stores `body` under `id` without checking that it hashes to `id` (for objects copied
    /// from elsewhere; readers verify). Returns what was stored under `id` before.
    pub fn insert_with_id(
        &mut self,
        id: Hash,
        kind: ObjectKind,
        body: Vec<u8>,
    ) -> Option<(ObjectKind, Vec<u8>)> {
        self.objects.insert(id, (kind, body))
    }

    /// Removes object `id`, returning it.
    pub fn remove(&mut self, id: &Hash) -> Option<(ObjectKind, Vec<u8>)> {
        self.objects.remove(id)
    }

    /// Every object held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Hash, ObjectKind, &[u8])> {
        self.objects.iter().map(|(id, (k, b))| (id, *k, &b[..]))
    }
}

impl ObjectSink for MemoryObjects {
    fn begin_blob(&mut self, _size: u64) -> Result<(), SinkError> {
        if self.pending.is_some() {
            return Err(SinkError::Protocol("begin_blob inside a blob"));
        }
        self.pending = Some(Vec::new());
        Ok(())
    }

    fn blob_data(&mut self, data: &[u8]) -> Result<(), SinkError> {
        self.pending
            .as_mut()
            .ok_or(SinkError::Protocol("blob data outside a blob"))?
            .extend_from_slice(data);
        Ok(())
    }

    fn end_blob(&mut self, id: &Hash) -> Result<(), SinkError> {
        let body = self
            .pending
            .take()
            .ok_or(SinkError::Protocol("end_blob outside a blob"))?;
        self.objects.insert(*id, (ObjectKind::Blob, body));
        Ok(())
    }

    fn tree(&mut self, id: &Hash, body: &[u8]) -> Result<(), SinkError> {
        self.objects
            .entry(*id)
            .or_insert_with(|| (ObjectKind::Tree, body.to_vec()));
        Ok(())
    }
}

impl ObjectSource for MemoryObjects {
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        let (kind, body) = self
            .objects
            .get(id)
            .ok_or(ObjectError::NotFound { id: *id, hint: "" })?;
        Ok(Object {
            kind: *kind,
            size: body.len() as u64,
            body: Box::new(&body[..]),
        })
    }
}

/// The objects of a git repository on disk (work tree or bare, SHA-1 or SHA-256).
///
/// Loose objects are streamed through zlib (a blob is never held whole). Objects in packs need
/// the `gix` feature, which reads them with gitoxide; without it a packed object is reported
/// [`NotFound`](ObjectError::NotFound) with a hint saying so. A packed object's kind and size come
/// from the pack's entry headers (following its delta chain) without inflating it, so a reader
/// that refuses it by size, as [`read_verified`] and [`events`](crate::git::events) do, costs
/// nothing more; once its body is read, it is inflated and held whole, as delta resolution
/// requires.
pub struct Repository {
    objects: ObjectsDir,
    #[cfg(feature = "gix")]
    odb: gix_odb::Handle,
    #[cfg(feature = "gix")]
    buffer: Vec<u8>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("objects", &self.objects)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// Opens the repository at `repo` (a work tree or a bare repository).
    pub fn open(repo: &Path) -> Result<Self, ObjectError> {
        Self::from_objects_dir(ObjectsDir::locate(repo)?)
    }

    /// Opens a repository's objects directory directly.
    pub fn from_objects_dir(objects: ObjectsDir) -> Result<Self, ObjectError> {
        #[cfg(feature = "gix")]
        let odb = {
            let kind = match objects.algorithm {
                Algorithm::Sha256 => gix_hash::Kind::Sha256,
                _ => gix_hash::Kind::Sha1,
            };
            gix_odb::at(objects.path.clone(), kind).map_err(|source| {
                objects_dir::LocateError::Io {
                    path: objects.path.clone(),
                    source,
                }
            })?
        };
        Ok(Repository {
            objects,
            #[cfg(feature = "gix")]
            odb,
            #[cfg(feature = "gix")]
            buffer: Vec::new(),
        })
    }

    /// This repository, reading the blobs a walk announces ahead on other threads, each with a
    /// handle of its own on the objects directory (see
    /// [`ReadAhead`](crate::git::read_ahead::ReadAhead) for its settings).
    pub fn read_ahead(self) -> crate::git::read_ahead::ReadAhead<Self> {
        let objects = self.objects.clone();
        crate::git::read_ahead::ReadAhead::new(self, move || {
            Self::from_objects_dir(objects.clone())
        })
    }

    /// The repository's object format.
    pub fn algorithm(&self) -> Algorithm {
        self.objects.algorithm
    }

    /// The objects directory read from.
    pub fn objects_dir(&self) -> &Path {
        &self.objects.path
    }

    /// The one object whose id starts with the hex digits `prefix` (at least 4):
    /// `Some(Ok(id))`, `Some(Err(()))` when several do, `None` when none does.
    #[cfg(feature = "gix")]
    pub fn lookup_prefix(&self, prefix: &str) -> Result<Option<Result<Hash, ()>>, ObjectError> {
        let pack_err = |message: String| ObjectError::Corrupt {
            id: Hash::digest(self.objects.algorithm, prefix.as_bytes()),
            reason: message,
        };
        // The prefix of an id of the repository's object format: gitoxide's `Prefix::from_hex`
        // would take any prefix of 40 digits or fewer as a SHA-1 one.
        let kind = match self.objects.algorithm {
            Algorithm::Sha256 => gix_hash::Kind::Sha256,
            _ => gix_hash::Kind::Sha1,
        };
        let digits = kind.len_in_hex();
        if prefix.len() < 4 || prefix.len() > digits {
            return Err(pack_err(format!(
                "an abbreviation has 4 to {digits} hex digits"
            )));
        }
        let padded = format!("{prefix:0<digits$}");
        let full =
            gix_hash::ObjectId::from_hex(padded.as_bytes()).map_err(|e| pack_err(e.to_string()))?;
        let prefix =
            gix_hash::Prefix::new(&full, prefix.len()).map_err(|e| pack_err(e.to_string()))?;
        let found = self
            .odb
            .lookup_prefix(prefix, None)
            .map_err(|e| pack_err(e.to_string()))?;
        Ok(match found {
            None => None,
            Some(Err(())) => Some(Err(())),
            Some(Ok(oid)) => Some(
                Hash::from_bytes(self.objects.algorithm, oid.as_bytes())
                    .map_err(|e| pack_err(e.to_string())),
            )
            .map(|r| r.map_err(|_| ())),
        })
    }

    fn read_loose(&self, id: &Hash, file: File, path: PathBuf) -> Result<Object<'_>, ObjectError> {
        let mut body = ZlibDecoder::new(file);
        // The header: `<kind> <decimal size>\0`, at most `ObjectHeader::MAX_LEN` bytes.
        let mut header = [0u8; ObjectHeader::MAX_LEN];
        let mut len: usize = 0;
        let corrupt = |reason: &str| ObjectError::Corrupt {
            id: *id,
            reason: format!("{reason} in loose object '{}'", path.display()),
        };
        loop {
            let Some(slot) = header.get_mut(len..len.saturating_add(1)) else {
                return Err(corrupt("header too long"));
            };
            let n = body.read(slot).map_err(|e| match e.kind() {
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    corrupt(&format!("bad zlib stream ({e})"))
                }
                _ => ObjectError::Io {
                    id: *id,
                    path: path.clone(),
                    source: e,
                },
            })?;
            if n == 0 {
                return Err(corrupt("truncated header"));
            }
            len += 1;
            if slot.first() == Some(&0) {
                break;
            }
        }
        let (kind, size, _) = ObjectHeader::parse(header.get(..len).unwrap_or_default())
            .map_err(|e| corrupt(&e.to_string()))?;
        Ok(Object {
            kind,
            size,
            body: Box::new(ExactReader {
                inner: body,
                remaining: size,
            }),
        })
    }

    /// Opens a packed object from its header (kind and size, found without inflating it), so
    /// that a caller refusing its size never has it inflated; the body is inflated whole (delta
    /// resolution needs it) on its first read.
    #[cfg(feature = "gix")]
    fn read_packed(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        use gix_object::FindHeader as _;
        let pack_err = |e: &dyn std::fmt::Display| ObjectError::Pack {
            id: *id,
            message: e.to_string(),
        };
        let oid = gix_hash::oid::try_from_bytes(id.as_bytes()).map_err(|e| pack_err(&e))?;
        let header = self
            .odb
            .try_header(oid)
            .map_err(|e| pack_err(&e))?
            .ok_or(ObjectError::NotFound { id: *id, hint: "" })?;
        let kind = object_kind(header.kind);
        Ok(Object {
            kind,
            size: header.size,
            body: Box::new(PackedBody {
                odb: &self.odb,
                buffer: &mut self.buffer,
                id: *id,
                kind: header.kind,
                size: header.size,
                inflated: None,
            }),
        })
    }
}

#[cfg(feature = "gix")]
pub(crate) fn object_kind(kind: gix_object::Kind) -> ObjectKind {
    match kind {
        gix_object::Kind::Blob => ObjectKind::Blob,
        gix_object::Kind::Tree => ObjectKind::Tree,
        gix_object::Kind::Commit => ObjectKind::Commit,
        gix_object::Kind::Tag => ObjectKind::Tag,
    }
}

/// The body of a packed object, inflated on its first read.
#[cfg(feature = "gix")]
struct PackedBody<'a> {
    odb: &'a gix_odb::Handle,
    buffer: &'a mut Vec<u8>,
    id: Hash,
    /// What the header said.
    kind: gix_object::Kind,
    size: u64,
    /// Once inflated: the body's length in `buffer` and how much of it was read.
    inflated: Option<(usize, usize)>,
}

#[cfg(feature = "gix")]
impl PackedBody<'_> {
    fn inflate(&mut self) -> io::Result<usize> {
        use gix_object::Find as _;
        let oid = gix_hash::oid::try_from_bytes(self.id.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let found = |buffer: &mut Vec<u8>| -> io::Result<(gix_object::Kind, *const u8, usize)> {
            let data = self
                .odb
                .try_find(oid, buffer)
                .map_err(|e| io::Error::other(e.to_string()))?
                .ok_or_else(|| {
                    io::Error::other("the packed object vanished once its header was read")
                })?;
            Ok((data.kind, data.data.as_ptr(), data.data.len()))
        };
        let (kind, ptr, len) = found(self.buffer)?;
        if kind != self.kind || len as u64 != self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "packed object is a {kind} of {len} bytes, its header said a {} of {}",
                    self.kind, self.size
                ),
            ));
        }
        // Gitoxide decodes into the buffer it is given; should it ever hand back other memory,
        // copy that into the buffer.
        if self.buffer.get(..len).is_none_or(|b| b.as_ptr() != ptr) {
            let mut copy = Vec::new();
            let data = self
                .odb
                .try_find(oid, &mut copy)
                .map_err(|e| io::Error::other(e.to_string()))?
                .ok_or_else(|| {
                    io::Error::other("the packed object vanished once its header was read")
                })?;
            let bytes = data.data.to_vec();
            if bytes.len() != len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "packed object changed while read",
                ));
            }
            *self.buffer = bytes;
        }
        Ok(len)
    }
}

#[cfg(feature = "gix")]
impl Read for PackedBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (len, pos) = match self.inflated {
            Some(state) => state,
            None => (self.inflate()?, 0),
        };
        let rest = self.buffer.get(pos..len).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.inflated = Some((len, pos.saturating_add(n)));
        Ok(n)
    }
}

impl ObjectSource for Repository {
    fn read(&mut self, id: &Hash) -> Result<Object<'_>, ObjectError> {
        if id.algorithm() != self.objects.algorithm {
            return Err(ObjectError::WrongAlgorithm {
                id: *id,
                expected: self.objects.algorithm,
            });
        }
        let path = self.objects.object_path(id);
        match File::open(&path) {
            Ok(file) => return self.read_loose(id, file, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ObjectError::Io {
                    id: *id,
                    path,
                    source,
                });
            }
        }
        #[cfg(feature = "gix")]
        {
            self.read_packed(id)
        }
        #[cfg(not(feature = "gix"))]
        {
            let packed = std::fs::read_dir(self.objects.path.join("pack"))
                .map(|mut dir| {
                    dir.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pack")))
                })
                .unwrap_or(false);
            Err(ObjectError::NotFound {
                id: *id,
                hint: if packed {
                    " as a loose object (it may be in a pack: reading packs needs the `gix` feature)"
                } else {
                    ""
                },
            })
        }
    }
}

/// Reads exactly `remaining` bytes from `inner`, failing with `InvalidData` if it holds more or
/// fewer.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "object body longer than its header says",
                )),
            };
        }
        let max = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let len = buf.len().min(max);
        let n = self.inner.read(buf.get_mut(..len).unwrap_or_default())?;
        if n == 0 && len > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "object body {} bytes shorter than its header says",
                    self.remaining
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_rejects_long_and_short_bodies() {
        let mut out = Vec::new();
        let mut r = ExactReader {
            inner: &b"abc"[..],
            remaining: 2,
        };
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut r = ExactReader {
            inner: &b"abc"[..],
            remaining: 4,
        };
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut r = ExactReader {
            inner: &b"abc"[..],
            remaining: 3,
        };
        out.clear();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
