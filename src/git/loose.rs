//! Writing git objects into a repository as **loose objects**, so that hashing a tree with
//! [`GitHasher::with_objects`](crate::git::GitHasher::with_objects) also stores it where real git
//! can read it (`git cat-file`, `git ls-tree`, `git fsck`).
//!
//! A loose object is the file `objects/<first two hex digits>/<remaining hex digits>` holding the
//! zlib-compressed bytes `<kind> <decimal size>\0<body>`, in SHA-1 and SHA-256 repositories
//! alike (the id's length tells them apart). Nix itself never writes git objects: its
//! `--mode git` only computes the ids. This module is the export half of that; reading them back
//! is [`source`](crate::git::source), and finding a repository's objects directory is
//! [`objects_dir`](crate::git::objects_dir).
//!
//! [`LooseObjectWriter`] streams each blob through zlib into a temporary file in the objects
//! directory and renames it to its id once the id is known, so no blob is ever held whole in
//! memory (small ones stay in a bounded buffer and never touch the disk when already present).
//! Objects already in the repository are not written again. Files are made read-only, as git
//! does, and compressed at git's default level for loose objects (`core.looseCompression` = 1).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::git::GitHasher;
//! use nix_ingest::git::loose::LooseObjectWriter;
//! use nix_ingest::hash::{Algorithm, Format};
//!
//! let repo = tempfile::tempdir()?;
//! std::fs::create_dir_all(repo.path().join(".git/objects"))?;
//! std::fs::write(repo.path().join(".git/HEAD"), "ref: refs/heads/main\n")?;
//!
//! let writer = LooseObjectWriter::open(repo.path())?;
//! let mut hasher = GitHasher::with_objects(Algorithm::Sha1, writer);
//! let data = b"Hello World!\n";
//! hasher.event(Event::FileStart { name: None, executable: false, size: data.len() as u64 })?;
//! hasher.event(Event::FileData(data))?;
//! hasher.event(Event::FileEnd)?;
//! let (id, writer) = hasher.finish_with_objects()?;
//!
//! let hex = id.encode(Format::Base16);
//! assert_eq!(hex, "980a0d5f19a64b4b30a87d4206aade58726b60e3");
//! assert!(repo.path().join(".git/objects").join(&hex[..2]).join(&hex[2..]).is_file());
//! assert_eq!(writer.written(), 1);
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::event::SinkError;
use crate::git::objects_dir::{LocateError, ObjectsDir, object_path};
use crate::git::{ObjectKind, ObjectSink};
use crate::hash::{Algorithm, Hash};

/// Compressed output kept in memory up to this many bytes before it spills to a temporary file.
const SPILL_THRESHOLD: usize = 1 << 20;

/// An [`ObjectSink`] that stores every blob and tree it is given as a loose object.
///
/// See the [module docs](self). Give it to
/// [`GitHasher::with_objects`](crate::git::GitHasher::with_objects); the hasher supplies each
/// object's id, which this writer trusts (it does not hash again).
#[derive(Debug)]
pub struct LooseObjectWriter {
    objects: PathBuf,
    algorithm: Option<Algorithm>,
    level: Compression,
    fsync: bool,
    pending: Option<PendingBlob>,
    written: u64,
    present: u64,
}

#[derive(Debug)]
struct PendingBlob {
    encoder: ZlibEncoder<Spill>,
    declared: u64,
    received: u64,
}

impl LooseObjectWriter {
    /// A writer into the repository at `repo` (work tree or bare), refusing object ids of any
    /// algorithm but the repository's object format.
    pub fn open(repo: &Path) -> Result<Self, LocateError> {
        let dir = ObjectsDir::locate(repo)?;
        Ok(Self::with_objects_dir(dir.path, Some(dir.algorithm)))
    }

    /// A writer into the objects directory `objects` (which must exist), taking ids of
    /// `algorithm` only, or SHA-1 and SHA-256 ids when `None`.
    pub fn with_objects_dir(objects: impl Into<PathBuf>, algorithm: Option<Algorithm>) -> Self {
        LooseObjectWriter {
            objects: objects.into(),
            algorithm,
            level: Compression::new(1),
            fsync: false,
            pending: None,
            written: 0,
            present: 0,
        }
    }

    /// The zlib level (0–9; git's `core.looseCompression`, default 1).
    pub fn compression(mut self, level: u32) -> Self {
        self.level = Compression::new(level.min(9));
        self
    }

    /// Whether to `fsync` each object before renaming it into place (default off, as git's
    /// default `core.fsync`).
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The objects directory written to.
    pub fn objects_dir(&self) -> &Path {
        &self.objects
    }

    /// How many objects this writer added to the repository.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// How many objects were already present and so not written again.
    pub fn already_present(&self) -> u64 {
        self.present
    }

    fn check_id(&self, id: &Hash) -> Result<(), SinkError> {
        let algorithm = id.algorithm();
        let ok = match self.algorithm {
            Some(expected) => algorithm == expected,
            None => matches!(algorithm, Algorithm::Sha1 | Algorithm::Sha256),
        };
        if ok {
            Ok(())
        } else {
            Err(SinkError::Unsupported(format!(
                "cannot store a {algorithm} object id in a {} git repository",
                self.algorithm.map_or("sha1 or sha256", Algorithm::name)
            )))
        }
    }

    /// Moves finished compressed bytes into place as object `id`, unless it is there already.
    fn persist(&mut self, id: &Hash, spill: Spill) -> Result<(), SinkError> {
        let dest = object_path(&self.objects, id);
        if dest.exists() {
            self.present += 1;
            return Ok(()); // `spill` drops, removing its temporary file
        }
        let mut temp = match spill {
            Spill::File(temp) => temp,
            Spill::Memory(bytes) => {
                let mut temp = TempFile::create(&self.objects)?;
                temp.file.write_all(&bytes)?;
                temp
            }
        };
        if self.fsync {
            temp.file.sync_all()?;
        }
        let mut perms = temp.file.metadata()?.permissions();
        perms.set_readonly(true);
        temp.file.set_permissions(perms)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&temp.path, &dest)?;
        temp.persisted = true;
        self.written += 1;
        Ok(())
    }
}

impl ObjectSink for LooseObjectWriter {
    fn begin_blob(&mut self, size: u64) -> Result<(), SinkError> {
        if self.pending.is_some() {
            return Err(SinkError::Protocol("begin_blob inside a blob"));
        }
        let mut encoder = ZlibEncoder::new(Spill::Memory(Vec::new()), self.level);
        encoder.write_all(ObjectKind::Blob.header(size).as_bytes())?;
        self.pending = Some(PendingBlob {
            encoder,
            declared: size,
            received: 0,
        });
        Ok(())
    }

    fn blob_data(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let objects = &self.objects;
        let pending = self
            .pending
            .as_mut()
            .ok_or(SinkError::Protocol("blob data outside a blob"))?;
        pending.received = pending.received.saturating_add(data.len() as u64);
        if pending.received > pending.declared {
            return Err(SinkError::SizeMismatch {
                declared: pending.declared,
                actual: pending.received,
            });
        }
        pending.encoder.get_mut().spill_if_large(objects)?;
        pending.encoder.write_all(data)?;
        Ok(())
    }

    fn end_blob(&mut self, id: &Hash) -> Result<(), SinkError> {
        let pending = self
            .pending
            .take()
            .ok_or(SinkError::Protocol("end_blob outside a blob"))?;
        self.check_id(id)?;
        if pending.received != pending.declared {
            return Err(SinkError::SizeMismatch {
                declared: pending.declared,
                actual: pending.received,
            });
        }
        let spill = pending.encoder.finish()?;
        self.persist(id, spill)
    }

    fn tree(&mut self, id: &Hash, body: &[u8]) -> Result<(), SinkError> {
        self.check_id(id)?;
        if object_path(&self.objects, id).exists() {
            self.present += 1;
            return Ok(());
        }
        let mut encoder = ZlibEncoder::new(Spill::Memory(Vec::new()), self.level);
        encoder.write_all(ObjectKind::Tree.header(body.len() as u64).as_bytes())?;
        encoder.write_all(body)?;
        let spill = encoder.finish()?;
        self.persist(id, spill)
    }
}

/// Compressed object bytes: in memory while small, then in a temporary file.
#[derive(Debug)]
enum Spill {
    Memory(Vec<u8>),
    File(TempFile),
}

impl Spill {
    fn spill_if_large(&mut self, objects: &Path) -> io::Result<()> {
        if let Spill::Memory(bytes) = self
            && bytes.len() >= SPILL_THRESHOLD
        {
            let mut temp = TempFile::create(objects)?;
            temp.file.write_all(bytes)?;
            *self = Spill::File(temp);
        }
        Ok(())
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Spill::Memory(bytes) => {
                bytes.extend_from_slice(buf);
                Ok(buf.len())
            }
            Spill::File(temp) => temp.file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Spill::Memory(_) => Ok(()),
            Spill::File(temp) => temp.file.flush(),
        }
    }
}

/// A temporary file in the objects directory, removed on drop unless persisted.
#[derive(Debug)]
struct TempFile {
    file: File,
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    fn create(objects: &Path) -> io::Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = objects.join(format!("tmp_obj_{}_{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        file,
                        path,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}
