//! The walk by levels: the tree listed and `stat`ed one level at a time, the directories of a
//! level on several threads (feature `parallel`), every entry `statx`ed relative to its open
//! directory — consulting what a previous walk [knew](Known) (the hash cache's table).
//!
//! This is the walk in order (same checks, limits and errors, through the same system calls)
//! written for the case where almost nothing changed, where its cost is all system calls:
//!
//! - a directory whose own stat data the previous walk vouches for (equal, and trusted by the
//!   cache's racy rule) has the names it had: any entry created, removed or renamed in it
//!   changes its mtime and ctime. Its listing is not read again; only its entries are `statx`ed;
//! - a regular file or symlink whose stat data is vouched for keeps its ids, without being
//!   opened or its target read;
//! - lookups are relative to the open directory (`openat`, `statx`, `readlinkat`), never a
//!   walk of the whole path.
//!
//! Files that must be read are left to the caller by path.

use std::borrow::Cow;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{At, DirBuffer, Kind, Stat, WalkError, WalkErrorKind};
use crate::limits::Limits;

/// What a previous walk of the same tree knew, by entry index (the hash cache's table: entries
/// in NAR order, each directory followed by its subtree).
pub(crate) trait Known<'a>: Copy + Send + Sync {
    /// The indices `(first, end)` of the subtree of entry `dir`, if it was a directory.
    fn subtree(self, dir: usize) -> Option<(usize, usize)>;
    /// The entry after entry `i` and its subtree.
    fn next_sibling(self, i: usize) -> usize;
    /// The name of entry `i`.
    fn name(self, i: usize) -> Option<&'a [u8]>;
    /// Whether entry `i` had exactly this stat data, old enough to trust; and whether it had
    /// this stat data but too recent to trust.
    fn vouches(self, i: usize, stat: &Stat) -> (bool, bool);
}

/// No node.
pub(crate) const NONE: usize = usize::MAX;

/// A directory listed, with its entries in NAR order.
pub(crate) struct Listed<'a> {
    pub(crate) path: PathBuf,
    /// Its stat data, taken before its listing was read (or found unchanged).
    pub(crate) stat: Stat,
    /// Its node in the old table, or [`NONE`].
    pub(crate) old: usize,
    /// It has exactly the names its old node had.
    pub(crate) exact: bool,
    pub(crate) children: Vec<Child<'a>>,
    /// Files whose stat data matched but was too recent to trust.
    pub(crate) racy: u64,
}

pub(crate) struct Child<'a> {
    /// Borrowed from the old table when the directory is unchanged (most of a tree).
    pub(crate) name: Cow<'a, [u8]>,
    pub(crate) stat: Stat,
    /// Its node in the old table, or [`NONE`].
    pub(crate) old: usize,
    pub(crate) what: What,
}

pub(crate) enum What {
    /// A regular file; `true` when the old cache vouches for its ids.
    File(bool),
    /// A symlink: its target, or `None` when the old cache vouches for its ids.
    Symlink(Option<Vec<u8>>),
    /// A directory: its index in the listing.
    Directory(usize),
}

/// Lists the directory tree under `root` (a directory whose old node is `old_root`), one level
/// at a time. `listing[0]` is the root.
pub(crate) fn list_tree<'a, K: Known<'a>>(
    root: &Path,
    old_root: usize,
    old: Option<K>,
    limits: &Limits,
    parallel: bool,
) -> Result<Vec<Listed<'a>>, WalkError> {
    if limits.max_depth == 0 {
        return Err(WalkError::new(root, WalkErrorKind::TooDeep { max: 0 }));
    }
    let mut listing = vec![Listed {
        path: root.to_path_buf(),
        stat: Stat::default(),
        old: old_root,
        exact: false,
        children: Vec::new(),
        racy: 0,
    }];
    let mut level = vec![0usize];
    let mut depth = 1;
    while !level.is_empty() {
        let list = |&i: &usize| {
            let dir = listing.get(i).map(|d| (d.path.as_path(), d.old));
            match dir {
                Some((path, old_dir)) => list_dir(path, old_dir, old, limits, parallel),
                None => unreachable!("levels name listed directories"),
            }
        };
        #[cfg(feature = "parallel")]
        let results: Vec<Result<Listed<'a>, WalkError>> = if parallel && level.len() > 1 {
            use rayon::prelude::*;
            level.par_iter().map(list).collect()
        } else {
            level.iter().map(list).collect()
        };
        #[cfg(not(feature = "parallel"))]
        let results: Vec<Result<Listed<'a>, WalkError>> = {
            let _ = parallel;
            level.iter().map(list).collect()
        };
        let mut next = Vec::new();
        for (&i, result) in level.iter().zip(results) {
            let mut listed = result?;
            for child in &mut listed.children {
                if let What::Directory(index) = &mut child.what {
                    if depth >= limits.max_depth {
                        return Err(WalkError::new(
                            listed.path.join(std::ffi::OsStr::from_bytes(&child.name)),
                            WalkErrorKind::TooDeep {
                                max: limits.max_depth,
                            },
                        ));
                    }
                    *index = listing.len() + next.len();
                    next.push(Listed {
                        path: listed.path.join(std::ffi::OsStr::from_bytes(&child.name)),
                        stat: Stat::default(),
                        old: child.old,
                        exact: false,
                        children: Vec::new(),
                        racy: 0,
                    });
                }
            }
            if let Some(slot) = listing.get_mut(i) {
                *slot = listed;
            }
        }
        let first = listing.len();
        listing.extend(next);
        level = (first..listing.len()).collect();
        depth += 1;
    }
    Ok(listing)
}

/// Lists one directory: its stat data, and each entry's stat data (and symlink target, when
/// the old cache does not vouch for it).
fn list_dir<'a, K: Known<'a>>(
    path: &Path,
    old_dir: usize,
    old: Option<K>,
    limits: &Limits,
    parallel: bool,
) -> Result<Listed<'a>, WalkError> {
    let path_bytes = path.as_os_str().as_bytes();
    let fd: OwnedFd = super::open_dir(At::Path(path_bytes))?;
    let stat = super::stat_dir(fd.as_fd(), path_bytes)?;
    // The old node's entries: `(index, end)` of its subtree.
    let old_range = old.and_then(|o| o.subtree(old_dir).map(|(start, end)| (o, start, end)));
    let unchanged = old_range.is_some_and(|(o, _, _)| o.vouches(old_dir, &stat).0);
    if unchanged && let Some((o, start, end)) = old_range {
        let mut names = Vec::new();
        let mut i = start;
        while let Some(name) = o.name(i).filter(|_| i < end) {
            names.push((Cow::Borrowed(name), i));
            i = o.next_sibling(i);
        }
        // A name gone although the directory's stat data says nothing changed: the file
        // system broke its promise; read the listing after all.
        let dir = Dir {
            path,
            fd: &fd,
            stat,
            old_dir,
        };
        if let Ok(listed) = entries(&dir, names, Some(o), limits, true, parallel) {
            return Ok(listed);
        }
    }
    // Read the listing (the walk's lister: names checked against the limits, sorted).
    let listing = super::list(fd.as_fd(), path_bytes, limits, &mut DirBuffer::new())?;
    let mut names: Vec<(Cow<'a, [u8]>, usize)> = listing
        .iter()
        .map(|(name, _)| (Cow::Owned(name.to_vec()), NONE))
        .collect();
    // Match the names with the old entries (both sorted by bytes).
    let mut exact = old_range.is_some();
    if let Some((o, start, end)) = old_range {
        let mut i = start;
        for (name, slot) in &mut names {
            while let Some(old_name) = o.name(i).filter(|_| i < end) {
                match old_name.cmp(name) {
                    std::cmp::Ordering::Less => {
                        exact = false;
                        i = o.next_sibling(i);
                    }
                    std::cmp::Ordering::Equal => {
                        *slot = i;
                        i = o.next_sibling(i);
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            if *slot == NONE {
                exact = false;
            }
        }
        if i < end {
            exact = false;
        }
    }
    let dir = Dir {
        path,
        fd: &fd,
        stat,
        old_dir,
    };
    entries(&dir, names, old, limits, exact, parallel)
}

/// An open directory being listed.
struct Dir<'a> {
    path: &'a Path,
    fd: &'a OwnedFd,
    /// Its stat data.
    stat: Stat,
    /// Its node in the old table, or [`NONE`].
    old_dir: usize,
}

/// Entries of one directory from which on its entries are `statx`ed on several threads (with
/// `parallel`): a directory that large would otherwise keep one thread busy while the others
/// have finished the rest of its level (`/usr/share/man/man1` has about 18,000 entries).
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(crate) const PARALLEL_ENTRIES: usize = 2048;

/// `statx`es each named entry of the open directory (names sorted, each with its old node or
/// [`NONE`]); a large directory's entries on several threads when `parallel`, the first error in
/// name order reported either way.
fn entries<'a, K: Known<'a>>(
    dir: &Dir<'_>,
    names: Vec<(Cow<'a, [u8]>, usize)>,
    old: Option<K>,
    limits: &Limits,
    exact: bool,
    parallel: bool,
) -> Result<Listed<'a>, WalkError> {
    let _ = parallel;
    #[cfg(feature = "parallel")]
    let results: Vec<Result<(Child<'a>, bool), WalkError>> =
        if parallel && names.len() >= PARALLEL_ENTRIES {
            use rayon::prelude::*;
            names
                .into_par_iter()
                .with_min_len(256)
                .map(|(name, index)| entry(dir, name, index, old, limits))
                .collect()
        } else {
            names
                .into_iter()
                .map(|(name, index)| entry(dir, name, index, old, limits))
                .collect()
        };
    #[cfg(not(feature = "parallel"))]
    let results: Vec<Result<(Child<'a>, bool), WalkError>> = names
        .into_iter()
        .map(|(name, index)| entry(dir, name, index, old, limits))
        .collect();
    let mut children = Vec::with_capacity(results.len());
    let mut racy = 0;
    for result in results {
        let (child, was_racy) = result?;
        racy += u64::from(was_racy);
        children.push(child);
    }
    Ok(Listed {
        path: dir.path.to_path_buf(),
        stat: dir.stat,
        old: dir.old_dir,
        exact,
        children,
        racy,
    })
}

/// One entry of an open directory, and whether it was a racily clean regular file.
fn entry<'a, K: Known<'a>>(
    dir: &Dir<'_>,
    name: Cow<'a, [u8]>,
    old_index: usize,
    old: Option<K>,
    limits: &Limits,
) -> Result<(Child<'a>, bool), WalkError> {
    let at = At::Dir {
        dir: dir.fd.as_fd(),
        dir_path: dir.path.as_os_str().as_bytes(),
        name: &name,
    };
    let stat = super::stat_at(at)?;
    let (vouched, was_racy) = old.map_or((false, false), |o| o.vouches(old_index, &stat));
    let mut racy = false;
    let what = match Kind::of_mode(stat.mode) {
        Kind::File => {
            racy = was_racy;
            What::File(vouched)
        }
        Kind::Symlink if vouched => What::Symlink(None),
        Kind::Symlink => What::Symlink(Some(super::read_target(at, limits)?)),
        Kind::Directory => What::Directory(NONE),
        Kind::Other(file_type) => {
            return Err(WalkError::new(
                at.path(),
                WalkErrorKind::UnsupportedType { file_type },
            ));
        }
    };
    Ok((
        Child {
            name,
            stat,
            old: old_index,
            what,
        },
        racy,
    ))
}
