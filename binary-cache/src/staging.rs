//! NARs waiting for their narinfo.
//!
//! Nix uploads a path's NAR before its narinfo, and only the narinfo says what the NAR must
//! be. So an uploaded NAR is first *staged*: streamed to a temporary file while its SHA-256 is
//! taken, kept only if that hash is the one its name claims, and held (on disk, never in
//! memory) until a narinfo naming it arrives, is verified, and publishes it. Staged NARs that no
//! narinfo claims expire. The bytes staged and in flight are bounded; an upload that would pass
//! the bound is refused before it is read.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::names::NarFile;

/// The staging area: `<root>/.staging`, with uploads in flight in `<root>/.staging/tmp`.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
    max_bytes: u64,
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Staged files by name: size and when they were staged.
    files: HashMap<String, (u64, Instant)>,
    /// Bytes reserved: staged files plus uploads in flight.
    used: u64,
}

/// The staging area is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the staging area is full ({used} of {max} bytes waiting for their narinfo)")]
pub struct Full {
    /// Bytes in use.
    pub used: u64,
    /// The bound.
    pub max: u64,
}

/// Bytes of the staging area held by one upload in flight; given back on drop unless the
/// upload is [`Staging::keep`]t.
#[derive(Debug)]
pub struct Reservation {
    staging: Arc<Staging>,
    bytes: u64,
}

impl Reservation {
    /// Grows the reservation to at least `bytes`.
    pub fn grow_to(&mut self, bytes: u64) -> Result<(), Full> {
        if bytes > self.bytes {
            self.staging.take(bytes - self.bytes)?;
            self.bytes = bytes;
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.staging.give_back(self.bytes);
    }
}

impl Staging {
    /// Opens the staging area under `root`, deleting whatever an earlier run left there:
    /// a staged NAR is only ever a promise of a narinfo to come, and those clients are gone.
    pub fn open(root: &Path, max_bytes: u64, ttl: Duration) -> io::Result<Staging> {
        let dir = root.join(".staging");
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        Ok(Staging {
            dir,
            tmp,
            max_bytes,
            ttl,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, bytes: u64) -> Result<(), Full> {
        let mut state = self.state();
        let used = state.used.saturating_add(bytes);
        if used > self.max_bytes {
            return Err(Full {
                used: state.used,
                max: self.max_bytes,
            });
        }
        state.used = used;
        Ok(())
    }

    fn give_back(&self, bytes: u64) {
        let mut state = self.state();
        state.used = state.used.saturating_sub(bytes);
    }

    /// Whether `bytes` more would fit now (reserving nothing).
    pub fn check_room(&self, bytes: u64) -> Result<(), Full> {
        let state = self.state();
        if state.used.saturating_add(bytes) > self.max_bytes {
            return Err(Full {
                used: state.used,
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Reserves `bytes` for an upload (the service reserves 0, then grows the reservation as
    /// bytes arrive).
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, Full> {
        self.take(bytes)?;
        Ok(Reservation {
            staging: Arc::clone(self),
            bytes,
        })
    }

    /// Where uploads in flight are written (a temporary file there is deleted when dropped).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Where a staged file lives.
    #[cfg(test)]
    fn path(&self, file: &NarFile) -> PathBuf {
        self.dir.join(file.file_name())
    }

    /// Keeps a completed upload of `size` bytes, already written (and synced) to `tmp`, as the
    /// staged `file`; its reservation becomes the staged file's.
    pub fn keep(
        &self,
        tmp: tempfile::TempPath,
        file: &NarFile,
        size: u64,
        mut reservation: Reservation,
    ) -> io::Result<()> {
        let name = file.file_name();
        let mut state = self.state();
        tmp.persist(self.dir.join(&name)).map_err(|e| e.error)?;
        // The reservation's bytes now belong to the file (the same name staged twice has the
        // same bytes: its name is their hash).
        let held = std::mem::take(&mut reservation.bytes);
        let previous = state.files.insert(name, (size, Instant::now()));
        let release = held.saturating_sub(size) + previous.map_or(0, |(s, _)| s);
        state.used = state.used.saturating_sub(release);
        Ok(())
    }

    /// Whether `file` is staged.
    #[cfg(test)]
    fn contains(&self, file: &NarFile) -> bool {
        self.state().files.contains_key(&file.file_name())
    }

    /// A private name (a hard link) for the staged `file`, so that it can be verified and
    /// published even if it expires meanwhile; `None` if it is not staged. The link is deleted
    /// when dropped unless persisted.
    pub fn claim(&self, file: &NarFile) -> io::Result<Option<tempfile::TempPath>> {
        let name = file.file_name();
        let _state = self.state();
        let link = tempfile::Builder::new()
            .prefix(".claim")
            .make_in(&self.tmp, |path| {
                std::fs::hard_link(self.dir.join(&name), path)
            });
        match link {
            Ok(link) => Ok(Some(link.into_temp_path())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the staged `file` (once published under another name).
    pub fn remove(&self, file: &NarFile) {
        let name = file.file_name();
        let mut state = self.state();
        if let Some((size, _)) = state.files.remove(&name) {
            state.used = state.used.saturating_sub(size);
            let _ = std::fs::remove_file(self.dir.join(&name));
        }
    }

    /// Deletes staged files older than the time to live; returns how many.
    pub fn expire(&self) -> usize {
        let now = Instant::now();
        let mut state = self.state();
        let old: Vec<String> = state
            .files
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) > self.ttl)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &old {
            if let Some((size, _)) = state.files.remove(name) {
                state.used = state.used.saturating_sub(size);
            }
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        old.len()
    }

    /// Bytes reserved now (staged plus in flight).
    pub fn used(&self) -> u64 {
        self.state().used
    }

    /// Number of staged files.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Compression;
    use nix_ingest::hash::{Algorithm, Hash};

    fn file(content: &[u8]) -> NarFile {
        NarFile::new(Hash::digest(Algorithm::Sha256, content), Compression::None).unwrap()
    }

    fn staged(staging: &Arc<Staging>, content: &[u8]) -> NarFile {
        let mut reservation = staging.reserve(0).unwrap();
        reservation.grow_to(content.len() as u64).unwrap();
        let tmp = tempfile::NamedTempFile::new_in(staging.tmp_dir()).unwrap();
        std::fs::write(tmp.path(), content).unwrap();
        let f = file(content);
        staging
            .keep(tmp.into_temp_path(), &f, content.len() as u64, reservation)
            .unwrap();
        f
    }

    #[test]
    fn bytes_are_bounded_and_given_back() {
        let root = tempfile::tempdir().unwrap();
        let staging = Arc::new(Staging::open(root.path(), 12, Duration::from_secs(60)).unwrap());
        let a = staged(&staging, b"abcdef");
        assert_eq!(staging.used(), 6);
        assert!(staging.contains(&a));
        assert!(staging.path(&a).exists());
        // 6 + 7 > 12.
        assert!(staging.reserve(7).is_err());
        {
            let mut r = staging.reserve(6).unwrap();
            assert_eq!(staging.used(), 12);
            assert!(r.grow_to(7).is_err());
        }
        // A dropped reservation (an upload that failed) gives its bytes back.
        assert_eq!(staging.used(), 6);
        // Staging the same name again does not count it twice.
        staged(&staging, b"abcdef");
        assert_eq!(staging.used(), 6);
        let claim = staging.claim(&a).unwrap().unwrap();
        staging.remove(&a);
        assert_eq!(staging.used(), 0);
        assert!(!staging.path(&a).exists());
        // A claim outlives the staged name, and is deleted when dropped.
        assert_eq!(std::fs::read(&claim).unwrap(), b"abcdef");
        let claimed = claim.to_path_buf();
        drop(claim);
        assert!(!claimed.exists());
        assert!(staging.claim(&a).unwrap().is_none());
    }

    #[test]
    fn old_files_expire_and_a_restart_starts_empty() {
        let root = tempfile::tempdir().unwrap();
        let staging = Arc::new(Staging::open(root.path(), 100, Duration::ZERO).unwrap());
        let a = staged(&staging, b"abc");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(staging.expire(), 1);
        assert!(!staging.path(&a).exists());
        assert_eq!(staging.used(), 0);

        let b = staged(&staging, b"xyz");
        let leftover = staging.path(&b);
        drop(staging);
        let staging = Staging::open(root.path(), 100, Duration::ZERO).unwrap();
        assert!(!leftover.exists());
        assert_eq!(staging.len(), 0);
    }
}
