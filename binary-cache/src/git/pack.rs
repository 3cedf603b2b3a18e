//! Packing the repository with git's deltas, safe while the service runs.

use super::*;

/// Packs the repository at `repo` with git's own `git repack -a -d -k` (deltas; unreachable
/// objects kept, so that a path being written meanwhile loses nothing), then packs its refs under
/// the publication lock. Safe while the service runs.
pub fn pack(repo: &Path) -> io::Result<()> {
    {
        let _packing = pack_lock(repo)?;
        git_ok(repo, &["repack", "-a", "-d", "-k", "-q"], None)?;
    }
    let _lock = PublishLock::acquire(repo)?;
    git_ok(repo, &["pack-refs", "--all"], None)?;
    Ok(())
}

/// The lock that keeps two repacks (a packing, a collection's `git gc`) from running at once on
/// `repo`: `PATH/nix-ingest/pack.lock`, held while the file lives.
pub(super) fn pack_lock(repo: &Path) -> io::Result<std::fs::File> {
    let dir = repo.join("nix-ingest");
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("pack.lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}
