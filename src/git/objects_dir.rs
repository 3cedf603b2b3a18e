//! Finding a git repository's objects directory and object format: shared by reading objects
//! ([`source`](crate::git::source)) and writing them ([`loose`](crate::git::loose)).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nix_ingest::git::objects_dir::ObjectsDir;
//! use nix_ingest::hash::Algorithm;
//!
//! let repo = tempfile::tempdir()?;
//! std::fs::create_dir_all(repo.path().join(".git/objects"))?;
//! std::fs::write(repo.path().join(".git/HEAD"), "ref: refs/heads/main\n")?;
//! let dir = ObjectsDir::locate(repo.path())?;
//! assert_eq!(dir.algorithm, Algorithm::Sha1);
//! assert!(dir.path.ends_with(".git/objects"));
//! # Ok(()) }
//! ```

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::hash::{Algorithm, Format, Hash};

/// Why a repository could not be opened for writing or reading objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// Neither a work tree with `.git`, nor a bare repository (`HEAD` and `objects/`).
    #[error("'{}' is not a git repository (no .git, and no HEAD and objects/)", .path.display())]
    NotARepository {
        /// The path given.
        path: PathBuf,
    },
    /// A repository file could not be read.
    #[error("cannot read '{}'", .path.display())]
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
    pub fn locate(repo: &Path) -> Result<ObjectsDir, LocateError> {
        locate_dirs(repo).map(|dirs| dirs.objects)
    }

    /// The path of the loose object `id` (`<objects>/xx/yyyy…`).
    pub fn object_path(&self, id: &Hash) -> PathBuf {
        object_path(&self.path, id)
    }
}

/// A repository's directories: its git directory (`HEAD`), its common directory (refs, config,
/// `modules/`, `shallow`) and its objects.
#[derive(Debug, Clone)]
pub(crate) struct GitDirs {
    // Read by the fetcher (feature `gix`) only.
    #[cfg_attr(not(feature = "gix"), allow(dead_code))]
    pub(crate) git_dir: PathBuf,
    #[cfg_attr(not(feature = "gix"), allow(dead_code))]
    pub(crate) common: PathBuf,
    pub(crate) objects: ObjectsDir,
}

/// Finds the directories of the repository at `repo` (see [`ObjectsDir::locate`]).
pub(crate) fn locate_dirs(repo: &Path) -> Result<GitDirs, LocateError> {
    {
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
                .ok_or_else(|| LocateError::BadGitFile {
                    path: dot_git.clone(),
                })?;
            repo.join(target)
        } else if repo.join("HEAD").is_file() && repo.join("objects").is_dir() {
            repo.to_owned()
        } else {
            return Err(LocateError::NotARepository {
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
                    return Err(LocateError::BadGitFile {
                        path: commondir_file,
                    });
                }
                git_dir.join(target)
            }
            None => git_dir.clone(),
        };
        let config = common.join("config");
        let algorithm = match open_regular(&config)? {
            Some(file) => config_object_format(&config, file)?,
            None => Algorithm::Sha1,
        };
        let path = common.join("objects");
        if !path.is_dir() {
            return Err(LocateError::NotARepository {
                path: repo.to_owned(),
            });
        }
        Ok(GitDirs {
            git_dir,
            common,
            objects: ObjectsDir { path, algorithm },
        })
    }
}

/// The most bytes read from a `.git` file or `commondir` (each holds one path), and from one
/// line of `config`.
const MAX_SMALL_FILE: u64 = 64 * 1024;

/// Opens `path` if it is a regular file (following symlinks, as git does); `None` if it does
/// not exist. The type is checked before opening, so that a FIFO is never opened (which would
/// block) and a device never read.
fn open_regular(path: &Path) -> Result<Option<File>, LocateError> {
    let io_err = |source| LocateError::Io {
        path: path.to_owned(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(LocateError::NotAFile {
                path: path.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    }
    let file = File::open(path).map_err(io_err)?;
    // It may have been replaced since it was looked at.
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(LocateError::NotAFile {
            path: path.to_owned(),
        });
    }
    Ok(Some(file))
}

/// Reads a regular file of at most [`MAX_SMALL_FILE`] bytes whole; `None` if it does not exist.
pub(crate) fn read_small(path: &Path) -> Result<Option<Vec<u8>>, LocateError> {
    let Some(file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| LocateError::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(LocateError::TooLarge {
            path: path.to_owned(),
            limit: MAX_SMALL_FILE,
            line: false,
        });
    }
    Ok(Some(bytes))
}

/// The object format the git config `file` names, read a line at a time (each at most
/// [`MAX_SMALL_FILE`] bytes), so that memory stays bounded whatever its size.
fn config_object_format(path: &Path, file: File) -> Result<Algorithm, LocateError> {
    let mut reader = BufReader::new(file);
    let mut scan = FormatScan::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_SMALL_FILE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| LocateError::Io {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            break;
        }
        if line.len() as u64 > MAX_SMALL_FILE {
            return Err(LocateError::TooLarge {
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
fn object_format(path: &Path, config: &str) -> Result<Algorithm, LocateError> {
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

    fn finish(self, path: &Path) -> Result<Algorithm, LocateError> {
        match self.format.as_deref() {
            None | Some("sha1") => Ok(Algorithm::Sha1),
            Some("sha256") => Ok(Algorithm::Sha256),
            Some(other) => Err(LocateError::UnsupportedObjectFormat {
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
            Err(LocateError::UnsupportedObjectFormat { .. })
        ));
        // The key only counts in the `extensions` section.
        assert_eq!(
            object_format(p, "[core]\nobjectformat = sha256\n").unwrap(),
            Algorithm::Sha1
        );
    }
}
