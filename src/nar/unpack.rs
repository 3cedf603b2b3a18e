//! NAR → directory: what `nix-store --restore` and a substituter do, safely and atomically.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::event::{Event, Sink, SinkError};
use crate::limits::Limits;

use super::Parser;

/// Why [`Options::unpack_nar`](crate::Options::unpack_nar) failed. Nothing is left at the target when it does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The archive is malformed, hostile or over a limit (nothing was created for the object
    /// it names).
    #[error("cannot unpack NAR")]
    Nar(#[source] super::ReadError),
    /// The target already exists (it is never followed, replaced or merged into).
    #[error("cannot unpack NAR to {path:?}: it already exists")]
    TargetExists {
        /// The target.
        path: PathBuf,
    },
    /// The target has no file name (`/`, `..`) or no parent directory to unpack beside it.
    #[error("cannot unpack NAR to {path:?}: not a path a new entry can be created at")]
    BadTarget {
        /// The target.
        path: PathBuf,
    },
    /// Creating or writing something on disk failed.
    #[error("cannot unpack NAR: cannot {action} {path:?} (NAR byte {offset})")]
    Io {
        /// What was being done: `create`, `write`, `rename`…
        action: &'static str,
        /// The path (for an object of the archive: where it would have ended up).
        path: PathBuf,
        /// The NAR byte offset reached, when the archive was being read.
        offset: u64,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
}

/// The staging directory beside the target: removed (with what was unpacked into it) when
/// dropped, unless the unpacked object was renamed into place.
struct Staging {
    dir: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        // `remove_dir_all` never follows symlinks. Nothing to report a failure to here.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A sink creating each object as the parser emits it, under `root` (inside the staging
/// directory). Entry names were checked by the parser (never empty, `.`, `..`, no `/` or NUL)
/// before their event, and every create is exclusive, so nothing existing is followed.
struct Creator {
    /// The path of the object being created, for each open directory and the current file.
    path: PathBuf,
    /// Where the unpacked object will be renamed to, for error messages.
    target: PathBuf,
    /// The staging root object.
    root: PathBuf,
    file: Option<File>,
    /// The first failure, with the path (under the target) it happened at.
    failure: Option<(&'static str, PathBuf, io::Error)>,
}

impl Creator {
    fn enter(&mut self, name: Option<&[u8]>) {
        if let Some(name) = name {
            self.path.push(OsStr::from_bytes(name));
        }
    }

    fn leave(&mut self) {
        if self.path != self.root {
            self.path.pop();
        }
    }

    fn fail(&mut self, action: &'static str, e: io::Error) -> SinkError {
        let shown = match self.path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => self.target.clone(),
            Ok(rel) => self.target.join(rel),
            Err(_) => self.path.clone(),
        };
        let err = io::Error::new(e.kind(), "unpacking failed");
        self.failure = Some((action, shown, e));
        SinkError::Io(err)
    }
}

impl Sink for Creator {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { name } => {
                self.enter(name);
                fs::create_dir(&self.path).map_err(|e| self.fail("create directory", e))
            }
            Event::DirectoryEnd => {
                self.leave();
                Ok(())
            }
            Event::FileStart {
                name, executable, ..
            } => {
                self.enter(name);
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o666)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&self.path)
                    .map_err(|e| self.fail("create file", e))?;
                if executable {
                    // As Nix: the mode the umask left, plus every execute bit.
                    let mode = file
                        .metadata()
                        .map_err(|e| self.fail("stat", e))?
                        .permissions()
                        .mode();
                    file.set_permissions(fs::Permissions::from_mode(mode | 0o111))
                        .map_err(|e| self.fail("make executable", e))?;
                }
                self.file = Some(file);
                Ok(())
            }
            Event::FileData(data) => match self.file.as_mut() {
                Some(file) => file.write_all(data).map_err(|e| self.fail("write", e)),
                None => Err(SinkError::Protocol("file data outside a file")),
            },
            Event::FileEnd => {
                self.file = None;
                self.leave();
                Ok(())
            }
            Event::Symlink { name, target } => {
                self.enter(name);
                let made = symlink(OsStr::from_bytes(target), &self.path)
                    .map_err(|e| self.fail("create symlink", e));
                self.leave();
                made
            }
        }
    }
}

/// A name beside `target` no one else uses: `.<target name>.unpack-<pid>-<n>`.
fn staging_dir(parent: &Path, name: &OsStr) -> io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Keep the staging name within NAME_MAX whatever the target's name.
    let mut short = name.as_bytes();
    short = &short[..short.len().min(200)];
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut staging = b".".to_vec();
        staging.extend_from_slice(short);
        staging.extend_from_slice(format!(".unpack-{}-{n}", std::process::id()).as_bytes());
        let dir = parent.join(OsStr::from_bytes(&staging));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free staging name")))
}

use std::os::unix::fs::DirBuilderExt;

/// Moves `from` to `to` unless `to` exists (never replacing it, not even an empty directory).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A file system without RENAME_NOREPLACE: check, then rename (a race with another
        // process creating the target in between is then possible).
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn unpack<R: Read>(
    mut reader: R,
    target: &Path,
    limits: &Limits,
    buffer_size: usize,
) -> Result<u64, UnpackError> {
    let bad_target = || UnpackError::BadTarget {
        path: target.to_owned(),
    };
    let name = target.file_name().ok_or_else(bad_target)?;
    let parent = match target.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Err(bad_target()),
    };
    let exists = |path: &Path| UnpackError::TargetExists {
        path: path.to_owned(),
    };
    if fs::symlink_metadata(target).is_ok() {
        return Err(exists(target));
    }
    let staging = Staging {
        dir: staging_dir(parent, name).map_err(|source| UnpackError::Io {
            action: "create staging directory beside",
            path: target.to_owned(),
            offset: 0,
            source,
        })?,
    };
    let root = staging.dir.join("root");
    let mut creator = Creator {
        path: root.clone(),
        target: target.to_owned(),
        root: root.clone(),
        file: None,
        failure: None,
    };
    let mut parser = Parser::new(*limits);
    let mut buf = crate::buffer::ReadBuffer::new(buffer_size);
    let parsed = (|| loop {
        let read = reader.read(&mut buf);
        if !super::feed(&mut parser, read, &buf, &mut creator)? {
            return parser.finish();
        }
    })();
    let len = match parsed {
        Ok(len) => len,
        Err(e) => {
            return Err(match creator.failure.take() {
                Some((action, path, source)) => UnpackError::Io {
                    action,
                    path,
                    offset: e.offset(),
                    source,
                },
                None => UnpackError::Nar(e),
            });
        }
    };
    drop(creator);
    rename_no_replace(&root, target).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            exists(target)
        } else {
            UnpackError::Io {
                action: "rename the unpacked object to",
                path: target.to_owned(),
                offset: len,
                source,
            }
        }
    })?;
    drop(staging);
    Ok(len)
}
