//! One server per cache directory: an exclusive `flock` on `<dir>/.lock`, held while the server
//! runs (the kernel drops it when the process ends, however it ends). A second server on the same
//! directory refuses to start instead of deleting the first one's staged uploads.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// The name of the lock file in the cache directory.
pub const LOCK_FILE: &str = ".lock";

/// Opens (creating it) the lock file at `path` and takes its exclusive `flock`, waiting for it
/// when `wait`, else failing with the kernel's `WouldBlock`; the lock lasts as long as the file.
pub(crate) fn exclusive(path: &Path, wait: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let operation = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    flock(&file, operation)?;
    Ok(file)
}

impl DirLock {
    /// Takes the lock of the cache directory `root`, failing at once (an error of kind
    /// `WouldBlock` naming the directory) if another process holds it.
    pub fn acquire(root: &Path) -> io::Result<DirLock> {
        let path = root.join(LOCK_FILE);
        match exclusive(&path, false) {
            Ok(file) => Ok(DirLock { _file: file }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another server is using this cache directory (it holds {})",
                    path.display()
                ),
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let second = DirLock::acquire(dir.path()).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        assert!(second.to_string().contains(".lock"), "{second}");
        drop(first);
        // A process another test forks meanwhile shares the lock's open file until it execs
        // (which closes it): the lock is free again within moments.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match DirLock::acquire(dir.path()) {
                Ok(_) => break,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("the lock stayed taken once dropped: {e}"),
            }
        }
    }
}
