//! What a path given to `nix hash path P` or `nix store add P` means: which file system object
//! Nix reads, and the store path name it defaults to.
//!
//! [`resolve`] (or [`resolve_in`], with the working directory given) answers both, by the
//! rules below, checked against real Nix 2.26.3 and 2.34.8 on a table of tricky paths
//! (`tests/nix_path.rs`):
//!
//! 1. A relative path is taken from the working directory.
//! 2. `.` and `..` components, repeated and trailing slashes are removed **as text**, before
//!    any symlink is looked at: `link/../x` is `x` beside `link`, wherever `link` points.
//! 3. The directory holding the last component is resolved through symlinks (it must exist);
//!    the last component itself is **never followed**: `link` and `link/` both name the
//!    symlink, and `nix hash path link/` hashes the symlink, not its target.
//! 4. The default name of `nix store add` is the text after the last `/` of `P` as given (Nix
//!    2.34); Nix 2.26 skips trailing slashes first. Either way `nix store add dir/.` is refused
//!    (the name `.`), and `nix store add link/../x` is named `x`.
//!
//! One exception: `nix hash path --mode flat P` opens `P` as the operating system resolves it
//! (following every symlink, `..` after a symlink going up from the symlink's target), which is
//! [`NixPath::flat_hash_path`]. `nix store add --mode flat` reads [`NixPath::path`] like every
//! other mode, and refuses a symlink there.
//!
//! ```
//! use std::path::Path;
//! use nix_ingest::nix_path;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("other/deep"))?;
//! std::os::unix::fs::symlink("other/deep", dir.path().join("link"))?;
//!
//! // `..` after a symlink is removed as text; the symlink is not followed.
//! let p = nix_path::resolve_in(dir.path(), Path::new("link/../x"));
//! assert_eq!(p.path()?, dir.path().canonicalize()?.join("x"));
//! assert_eq!(p.default_name()?, "x");
//!
//! // A trailing slash still names the symlink itself…
//! let p = nix_path::resolve_in(dir.path(), Path::new("link/"));
//! assert_eq!(p.path()?, dir.path().canonicalize()?.join("link"));
//! // …and leaves Nix 2.34 no name (2.26 takes `link`).
//! assert!(p.default_name().is_err());
//! assert_eq!(p.default_name_2_26()?, "link");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where Nix differs
//!
//! Between versions: `nix store add dir/` is named `dir` by Nix 2.26 and refused by 2.34 (an
//! empty name); [`NixPath::default_name`] follows 2.34, [`NixPath::default_name_2_26`] 2.26.
//! Nix prints a resolved path with a leading `//` when the working directory is `/`; that is
//! the same path.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::store_path::{self, check_name};

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NixPathError {
    /// The working directory is unknown (for a relative path).
    #[error("cannot find the current directory")]
    CurrentDir(#[source] io::Error),
    /// The directory holding the path's last component does not resolve (it, or a symlink
    /// leading to it, is missing or unreadable).
    #[error("cannot resolve the directory of {path:?}")]
    Parent {
        /// The path, made absolute with `.` and `..` removed.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
}

/// What Nix makes of a path given on its command line. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixPath {
    given: OsString,
    /// The path made absolute (as given otherwise).
    flat: PathBuf,
    /// Absolute, `.` and `..` removed as text.
    clean: PathBuf,
}

impl NixPath {
    /// The file system object Nix reads: absolute, its directory resolved through symlinks, its
    /// last component not followed. What `nix hash path` (but `--mode flat`) and
    /// `nix store add` (every mode) ingest. Fails, as Nix does, when that directory does not
    /// resolve.
    pub fn path(&self) -> Result<PathBuf, NixPathError> {
        match (self.clean.parent(), self.clean.file_name()) {
            (Some(parent), Some(name)) => {
                let parent =
                    std::fs::canonicalize(parent).map_err(|source| NixPathError::Parent {
                        path: self.clean.clone(),
                        source,
                    })?;
                Ok(parent.join(name))
            }
            _ => Ok(self.clean.clone()),
        }
    }

    /// What `nix hash path --mode flat` reads: the path as given (relative to the working
    /// directory), opened through every symlink by the operating system.
    pub fn flat_hash_path(&self) -> &Path {
        &self.flat
    }

    /// The path as given.
    pub fn given(&self) -> &OsStr {
        &self.given
    }

    /// The store path name `nix store add` (Nix 2.34) gives it: the text after the last `/` of
    /// the path as given, checked as a store path name (so `dir/`, `.` and `dir/..` are
    /// refused, as by Nix).
    pub fn default_name(&self) -> Result<String, store_path::StorePathError> {
        let bytes = self.given.as_bytes();
        let start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        name(&bytes[start..])
    }

    /// The store path name Nix 2.26 gives it: as [`default_name`](Self::default_name) but with
    /// trailing slashes skipped first (its `baseNameOf`), so `dir/` is named `dir`.
    pub fn default_name_2_26(&self) -> Result<String, store_path::StorePathError> {
        let bytes = self.given.as_bytes();
        let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trimmed = &bytes[..end];
        let start = trimmed
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        name(&trimmed[start..])
    }
}

/// A store path name from bytes (non-UTF-8 bytes become U+FFFD, which the check refuses).
fn name(bytes: &[u8]) -> Result<String, store_path::StorePathError> {
    let name = String::from_utf8_lossy(bytes).into_owned();
    check_name(&name)?;
    Ok(name)
}

/// [`resolve_in`] the current working directory (asked only for a relative path).
pub fn resolve(path: &Path) -> Result<NixPath, NixPathError> {
    if path.is_absolute() {
        return Ok(resolve_in(Path::new("/"), path));
    }
    let cwd = std::env::current_dir().map_err(NixPathError::CurrentDir)?;
    Ok(resolve_in(&cwd, path))
}

/// What Nix makes of `path` given on its command line in the working directory `cwd`. See
/// the [module docs](self) for the rules. This looks at nothing on disk;
/// [`NixPath::path`] does.
pub fn resolve_in(cwd: &Path, path: &Path) -> NixPath {
    let flat = cwd.join(path);
    let mut clean = PathBuf::from("/");
    for c in flat.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::Normal(n) => clean.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    NixPath {
        given: path.as_os_str().to_owned(),
        flat,
        clean,
    }
}
