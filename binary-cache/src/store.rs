//! Accepted objects on disk, laid out as a `file://` binary cache that Nix itself can read:
//!
//! ```text
//! <root>/nix-cache-info
//! <root>/<hash part>.narinfo
//! <root>/nar/<file hash>.nar[.xz|.bz2|.zst]
//! <root>/<hash part>.ls                   NAR listings (see `listing`)
//! <root>/realisations/<id>.doi            realisations (see `realisation`)
//! <root>/.staging/…   NARs waiting for their narinfo (see `staging`)
//! <root>/.tmp/…       narinfos being written
//! ```
//!
//! Every file appears by `rename` of a complete, synced temporary file in the same file system,
//! and a narinfo only after its NAR: a reader (or a crash) sees an object whole or not at all.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix_ingest::store_path::StoreDir;

use crate::names::NarFile;

/// What [`Store::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The path is published now.
    Yes,
    /// Its narinfo was there already; nothing changed.
    AlreadyThere,
    /// This reference (a hash part) is not in the cache (collected meanwhile); nothing published.
    MissingReference(String),
    /// Its NAR file was published, but is not any more (collected meanwhile).
    MissingNar,
}

/// What [`Store::publish_beside`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// The object is published now.
    Yes,
    /// An object was there already under that key; nothing changed.
    AlreadyThere,
    /// The path it belongs to is not published (or was collected meanwhile); nothing written.
    MissingOwner,
}

/// The published objects.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    nar: PathBuf,
    tmp: PathBuf,
    cache_info: String,
}

impl Store {
    /// Opens (creating) the cache in `root`, writes its `nix-cache-info`, and removes the
    /// temporary files of an earlier run.
    pub fn open(root: &Path, store_dir: &StoreDir, priority: u32) -> io::Result<Store> {
        let nar = root.join("nar");
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&nar)?;
        match std::fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&tmp)?;
        let store = Store {
            root: root.to_owned(),
            nar,
            tmp,
            cache_info: format!(
                "StoreDir: {}\nWantMassQuery: 1\nPriority: {priority}\n",
                store_dir.as_str()
            ),
        };
        store.write_atomically(&root.join("nix-cache-info"), store.cache_info.as_bytes())?;
        Ok(store)
    }

    /// The `nix-cache-info` the cache serves.
    pub fn cache_info(&self) -> &str {
        &self.cache_info
    }

    /// Where the narinfo of the store path with `hash_part` is kept.
    pub fn narinfo_path(&self, hash_part: &str) -> PathBuf {
        self.root.join(format!("{hash_part}.narinfo"))
    }

    /// Where a NAR file is kept.
    pub fn nar_path(&self, file: &NarFile) -> PathBuf {
        self.nar.join(file.file_name())
    }

    /// Whether the narinfo of `hash_part` is published.
    pub fn has_narinfo(&self, hash_part: &str) -> bool {
        self.narinfo_path(hash_part).is_file()
    }

    /// Publishes a verified path: first its NAR (`staged`, a synced file in the same file
    /// system, renamed into place unless that NAR file is already published), then its
    /// narinfo. Under the publication lock (so that a garbage collection cannot remove them
    /// meanwhile), its `references` (hash parts) and, if nothing is `staged`, its published NAR
    /// file must be there; publishes nothing otherwise.
    pub fn publish(
        &self,
        staged: Option<tempfile::TempPath>,
        file: &NarFile,
        hash_part: &str,
        references: &[String],
        narinfo: &str,
    ) -> io::Result<Published> {
        let _lock = crate::gc::PublishLock::acquire(&self.root)?;
        let narinfo_path = self.narinfo_path(hash_part);
        if narinfo_path.exists() {
            return Ok(Published::AlreadyThere);
        }
        if let Some(missing) = references.iter().find(|r| !self.has_narinfo(r)) {
            return Ok(Published::MissingReference(missing.clone()));
        }
        let nar_path = self.nar_path(file);
        match staged {
            Some(staged) if !nar_path.exists() => {
                staged.persist(&nar_path).map_err(|e| e.error)?;
                sync_dir(&self.nar)?;
            }
            None if !nar_path.exists() => return Ok(Published::MissingNar),
            _ => {}
        }
        self.write_atomically(&narinfo_path, narinfo.as_bytes())?;
        Ok(Published::Yes)
    }

    /// Where a small object (`<hash part>.ls`, `realisations/<id>.doi`) is kept. `key` is one
    /// this crate made from a checked name, never a path from a request.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Publishes a small object that belongs to the published path with hash part `owner` (the
    /// listing of its NAR, a realisation naming it as output): under the publication lock, so
    /// that a garbage collection removing the path either sees the object (and removes it with
    /// the path) or comes first (and the object is not written). Never replaces an object.
    pub fn publish_beside(&self, key: &str, owner: &str, data: &[u8]) -> io::Result<Beside> {
        let _lock = crate::gc::PublishLock::acquire(&self.root)?;
        if !self.has_narinfo(owner) {
            return Ok(Beside::MissingOwner);
        }
        let path = self.object_path(key);
        if path.exists() {
            return Ok(Beside::AlreadyThere);
        }
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::Builder::new()
            .permissions(published_permissions())
            .tempfile_in(&self.tmp)?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(&dir)?;
        Ok(Beside::Yes)
    }

    fn write_atomically(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .permissions(published_permissions())
            .tempfile_in(&self.tmp)?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        sync_dir(&self.root)
    }
}

/// The mode published files are created with: readable and writable by all, less the process's
/// umask (the kernel applies it at creation), as any file a program writes. With the usual umask
/// 022 a web server or a backup user can read them.
pub fn published_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Compression;
    use nix_ingest::hash::{Algorithm, Hash};

    #[test]
    fn a_narinfo_is_published_after_its_nar_and_once() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), &StoreDir::default(), 40).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("nix-cache-info")).unwrap(),
            "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"
        );
        let file = NarFile::new(Hash::digest(Algorithm::Sha256, b"n"), Compression::None).unwrap();
        let staged = tempfile::NamedTempFile::new_in(root.path()).unwrap();
        std::fs::write(staged.path(), b"n").unwrap();
        let hash = "9662cgnnyvgqjpjfkbljw002r27yyg64";
        assert!(!store.has_narinfo(hash));
        let other = "0662cgnnyvgqjpjfkbljw002r27yyg64";
        assert_eq!(
            store
                .publish(None, &file, hash, &[], "StorePath: …\n")
                .unwrap(),
            Published::MissingNar
        );
        let staged = staged.into_temp_path();
        assert_eq!(
            store
                .publish(None, &file, hash, &[other.to_owned()], "StorePath: …\n")
                .unwrap(),
            Published::MissingReference(other.to_owned())
        );
        assert!(!store.has_narinfo(hash));
        assert_eq!(
            store
                .publish(Some(staged), &file, hash, &[], "StorePath: …\n")
                .unwrap(),
            Published::Yes
        );
        assert!(store.has_narinfo(hash));
        assert_eq!(std::fs::read(store.nar_path(&file)).unwrap(), b"n");
        assert_eq!(
            store.publish(None, &file, hash, &[], "other\n").unwrap(),
            Published::AlreadyThere
        );
        assert_eq!(
            std::fs::read_to_string(store.narinfo_path(hash)).unwrap(),
            "StorePath: …\n"
        );
    }
}
