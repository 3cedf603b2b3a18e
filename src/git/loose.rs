//! Writing git objects into a repository as **loose objects**, so that hashing a tree with
//! [`GitHasher::with_objects`](crate::git::GitHasher::with_objects) also stores it where real git
//! can read it (`git cat-file`, `git ls-tree`, `git fsck`).
//!
//! A loose object is the file `objects/<first two hex digits>/<remaining hex digits>` holding the
//! zlib-compressed bytes `<kind> <decimal size>\0<body>`, in SHA-1 and SHA-256 repositories
//! alike (the id's length tells them apart). Nix itself never writes git objects: its
//! `--mode git` only computes the ids. This module is the export half of that; reading them back
//! is [`source`](crate::git::source).
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
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::event::SinkError;
use crate::git::ObjectSink;
use crate::hash::{Algorithm, Format, Hash};

/// Why a repository could not be opened for writing or reading objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a work tree with `.git`, nor a bare repository (`HEAD` and `objects/`).
    #[error("'{}' is not a git repository (no .git, and no HEAD and objects/)", .path.display())]
    NotARepository {
        /// The path given.
        path: PathBuf,
    },
    /// A repository file could not be read.
    #[error("cannot read '{}': {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A `.git` file or `commondir` that does not say where the repository is.
    #[error("'{}' does not name a git directory", .path.display())]
    BadGitFile {
        /// The file.
        path: PathBuf,
    },
    /// A `.git` file, `commondir` or `config` that is not a regular file (nor a symlink to one):
    /// a FIFO, a device or a directory, which git does not read either.
    #[error("'{}' is not a regular file", .path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// A `.git` file or `commondir` longer than any path it could hold, or a `config` with a
    /// line that long.
    #[error("'{}' is too large: more than {limit} bytes{}", .path.display(), if *.line { " in one line" } else { "" })]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
        /// Whether the limit is on one line (of `config`) rather than the whole file.
        line: bool,
    },
    /// `extensions.objectFormat` names a format other than `sha1` and `sha256`.
    #[error("repository '{}' uses object format '{format}', which is not sha1 or sha256", .path.display())]
    UnsupportedObjectFormat {
        /// The repository's config file.
        path: PathBuf,
        /// The format it names.
        format: String,
    },
}

/// Where a repository keeps its objects, and which hash names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectsDir {
    /// The `objects` directory.
    pub path: PathBuf,
    /// The repository's object format: [`Algorithm::Sha1`] or [`Algorithm::Sha256`].
    pub algorithm: Algorithm,
}

impl ObjectsDir {
    /// Finds the objects directory and object format of the repository at `repo`: a work tree
    /// (with a `.git` directory, or a `.git` file naming one, as linked work trees and
    /// submodules have) or a bare repository.
    pub fn locate(repo: &Path) -> Result<ObjectsDir, Error> {
        let dot_git = repo.join(".git");
        let git_dir = if dot_git.is_dir() {
            dot_git
        } else if dot_git.is_file() {
            // As git: a `.git` that is a regular file (or a symlink to one) says "gitdir: <path>".
            let text = read_small(&dot_git)?.unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let target = text
                .strip_prefix("gitdir:")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::BadGitFile {
                    path: dot_git.clone(),
                })?;
            repo.join(target)
        } else if repo.join("HEAD").is_file() && repo.join("objects").is_dir() {
            repo.to_owned()
        } else {
            return Err(Error::NotARepository {
                path: repo.to_owned(),
            });
        };
        // Linked work trees keep objects and config in the common directory.
        let commondir_file = git_dir.join("commondir");
        let common = match read_small(&commondir_file)? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let target = text.trim();
                if target.is_empty() {
                    return Err(Error::BadGitFile {
                        path: commondir_file,
                    });
                }
                git_dir.join(target)
            }
            None => git_dir,
        };
        let config = common.join("config");
        let algorithm = match open_regular(&config)? {
            Some(file) => config_object_format(&config, file)?,
            None => Algorithm::Sha1,
        };
        let path = common.join("objects");
        if !path.is_dir() {
            return Err(Error::NotARepository {
                path: repo.to_owned(),
            });
        }
        Ok(ObjectsDir { path, algorithm })
    }

    /// The path of the loose object `id` (`<objects>/xx/yyyy…`).
    pub fn object_path(&self, id: &Hash) -> PathBuf {
        object_path(&self.path, id)
    }
}

/// The most bytes read from a `.git` file or `commondir` (each holds one path), and from one
/// line of `config`.
const MAX_SMALL_FILE: u64 = 64 * 1024;

/// Opens `path` if it is a regular file (following symlinks, as git does); `None` if it does
/// not exist. The type is checked before opening, so that a FIFO is never opened (which would
/// block) and a device never read.
fn open_regular(path: &Path) -> Result<Option<File>, Error> {
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(Error::NotAFile {
                path: path.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    }
    let file = File::open(path).map_err(io_err)?;
    // It may have been replaced since it was looked at.
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    Ok(Some(file))
}

/// Reads a regular file of at most [`MAX_SMALL_FILE`] bytes whole; `None` if it does not exist.
fn read_small(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let Some(file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit: MAX_SMALL_FILE,
            line: false,
        });
    }
    Ok(Some(bytes))
}

/// The object format the git config `file` names, read a line at a time (each at most
/// [`MAX_SMALL_FILE`] bytes), so that memory stays bounded whatever its size.
fn config_object_format(path: &Path, file: File) -> Result<Algorithm, Error> {
    let mut reader = BufReader::new(file);
    let mut scan = FormatScan::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_SMALL_FILE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            break;
        }
        if line.len() as u64 > MAX_SMALL_FILE {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                limit: MAX_SMALL_FILE,
                line: true,
            });
        }
        scan.line(&String::from_utf8_lossy(&line));
    }
    scan.finish(path)
}

/// The object format a git config names in `extensions.objectFormat` (SHA-1 when absent).
#[cfg(test)]
fn object_format(path: &Path, config: &str) -> Result<Algorithm, Error> {
    let mut scan = FormatScan::default();
    for line in config.lines() {
        scan.line(line);
    }
    scan.finish(path)
}

/// Finds `extensions.objectFormat` in a git config, line by line.
#[derive(Debug, Default)]
struct FormatScan {
    in_extensions: bool,
    format: Option<String>,
}

impl FormatScan {
    fn line(&mut self, line: &str) {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[') {
            let name = section.split([']', ' ', '"']).next().unwrap_or("");
            self.in_extensions =
                name.eq_ignore_ascii_case("extensions") && !section.contains(['"', '.']);
            return;
        }
        if !self.in_extensions {
            return;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, "true"));
        if key.trim().eq_ignore_ascii_case("objectformat") {
            let value = value.split(['#', ';']).next().unwrap_or("").trim();
            self.format = Some(value.trim_matches('"').to_ascii_lowercase());
        }
    }

    fn finish(self, path: &Path) -> Result<Algorithm, Error> {
        match self.format.as_deref() {
            None | Some("sha1") => Ok(Algorithm::Sha1),
            Some("sha256") => Ok(Algorithm::Sha256),
            Some(other) => Err(Error::UnsupportedObjectFormat {
                path: path.to_owned(),
                format: other.to_owned(),
            }),
        }
    }
}

pub(crate) fn object_path(objects: &Path, id: &Hash) -> PathBuf {
    let hex = id.encode(Format::Base16);
    let (dir, file) = hex.split_at(2);
    objects.join(dir).join(file)
}

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
    pub fn open(repo: &Path) -> Result<Self, Error> {
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
        encoder.write_all(format!("blob {size}\0").as_bytes())?;
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
        encoder.write_all(format!("tree {}\0", body.len()).as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_format_from_config() {
        let p = Path::new("config");
        let sha256 =
            "[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = sha256\n";
        assert_eq!(object_format(p, sha256).unwrap(), Algorithm::Sha256);
        assert_eq!(
            object_format(p, "[core]\n\tbare = false\n").unwrap(),
            Algorithm::Sha1
        );
        assert_eq!(
            object_format(p, "[Extensions]\n ObjectFormat = SHA256 # comment\n").unwrap(),
            Algorithm::Sha256
        );
        assert!(matches!(
            object_format(p, "[extensions]\nobjectformat = blake3\n"),
            Err(Error::UnsupportedObjectFormat { .. })
        ));
        // The key only counts in the `extensions` section.
        assert_eq!(
            object_format(p, "[core]\nobjectformat = sha256\n").unwrap(),
            Algorithm::Sha1
        );
    }
}
