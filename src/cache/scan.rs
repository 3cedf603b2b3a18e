//! One cached scan of a tree: walk it, reuse what the old cache vouches for, read the rest, and
//! assemble the tree ids bottom-up while building the next cache.
//!
//! 1. **walk**, with the same checks as every other route: by levels
//!    ([`fs::levels`](crate::fs::levels)) when only git ids are asked for, else in order
//!    ([`fs::walk`]). Each directory is
//!    listed and merged by name with its entry in the old cache; each regular file is `lstat`ed
//!    and its blob ids reused when its stat data equals the cached one and is old enough to be
//!    trusted; symlinks are read (as cheap as the `lstat` that could vouch for them) and hashed.
//!    With a sink (another method's hasher, e.g. NAR) every file is read and streamed to it in
//!    NAR order, and only the git hashing of unchanged files is saved.
//! 2. **files** not reused are read and hashed, on several threads with the `parallel` feature.
//! 3. **trees**, last node first (so children before parents): a directory whose entries have
//!    the same names, modes and ids as in the old cache keeps its cached tree ids; any other is
//!    encoded and hashed.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use crate::buffer::ReadBuffer;
use crate::event::{Event, Sink, SinkError};
use crate::fs::{self, Visitor, WalkErrorKind};
use crate::hash::{Algorithm, Hash, Hasher};

use super::format::{Kind, Stat, Table, Timestamp};
use super::{CacheError, Stats};
use crate::fs::levels::{Known, Listed, What};
use crate::settings::Settings;
use std::os::unix::ffi::OsStrExt;

/// No node.
const NONE: usize = usize::MAX;

/// How a node of the new table relates to the old one.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// The node of the old table at the same path, or [`NONE`].
    old: usize,
    /// The node has the same kind and ids as `old` (for a directory: the same entries, all of
    /// them the same, recursively).
    same: bool,
    /// A directory's listing has exactly the names the old one had.
    exact: bool,
}

/// A directory being walked.
#[derive(Debug)]
struct Frame {
    /// Its node in the new table.
    node: usize,
    /// The next unmatched entry of its old node, and the end of the old node's subtree.
    cursor: usize,
    end: usize,
    /// No entry was added or removed so far.
    exact: bool,
}

/// A regular file to check against the old cache, and to read and hash if it cannot vouch for
/// it.
struct Job {
    node: usize,
    /// Its node in the old table, or [`NONE`].
    old: usize,
    path: PathBuf,
    /// The walk's `lstat` of the root file.
    lstat: Option<Metadata>,
    /// Whether to `lstat` it and ask the old cache first (`false`: it is known to need reading).
    check: bool,
}

/// What checking (and maybe reading) a file gave.
struct Read {
    ids: Vec<u8>,
    stat: Stat,
    executable: bool,
    /// Whether the ids came from the old cache.
    reused: bool,
    /// Whether the stat data matched but was too recent to trust.
    racy: bool,
}

/// The old cache, when one was loaded.
#[derive(Clone, Copy)]
pub(super) struct Old<'a> {
    pub(super) table: &'a Table,
    pub(super) scan: Timestamp,
}

impl<'a> Known<'a> for Old<'a> {
    fn subtree(self, dir: usize) -> Option<(usize, usize)> {
        let node = self.table.nodes.get(dir)?;
        (node.kind == Kind::Directory).then_some((dir + 1, node.end))
    }

    fn next_sibling(self, i: usize) -> usize {
        self.table
            .nodes
            .get(i)
            .map_or(i + 1, |node| node.end.max(i + 1))
    }

    fn name(self, i: usize) -> Option<&'a [u8]> {
        let table: &'a Table = self.table;
        table.nodes.get(i).map(|node| table.name(node))
    }

    fn vouches(self, i: usize, stat: &crate::fs::Stat) -> (bool, bool) {
        let stat = Stat::from(*stat);
        let Some(node) = self.table.nodes.get(i) else {
            return (false, false);
        };
        if self.table.stat(node) != Some(stat) {
            return (false, false);
        }
        let trusted = stat.trusted(self.scan);
        (trusted, !trusted)
    }
}

/// The walk's visitor and the state of phases 2 and 3.
pub(super) struct Scan<'a, 's> {
    settings: &'a Settings,
    algorithms: &'a [Algorithm],
    old: Option<Old<'a>>,
    new: Table,
    links: Vec<Link>,
    frames: Vec<Frame>,
    jobs: Vec<Job>,
    /// The path of every directory node, for errors found when its tree is hashed.
    dir_paths: Vec<(usize, PathBuf)>,
    /// Where every event goes, when another method is hashed in the same pass.
    sink: Option<&'s mut (dyn Sink + 's)>,
    buf: Option<ReadBuffer>,
    /// File and symlink bytes counted towards `Limits::max_total_size`.
    total: u64,
    stats: Stats,
}

/// The result of a scan.
pub(super) struct Done {
    pub(super) ids: Vec<Hash>,
    pub(super) table: Table,
    pub(super) stats: Stats,
    /// Whether the new table differs from the old one (or there was none), so that writing it
    /// is worth it.
    pub(super) changed: bool,
}

impl<'a, 's> Scan<'a, 's> {
    pub(super) fn new(
        settings: &'a Settings,
        algorithms: &'a [Algorithm],
        old: Option<Old<'a>>,
        sink: Option<&'s mut (dyn Sink + 's)>,
    ) -> Self {
        let buf = sink
            .is_some()
            .then(|| ReadBuffer::new(settings.buffer_size()));
        Scan {
            settings,
            algorithms,
            old,
            new: Table::new(algorithms),
            links: Vec::new(),
            frames: Vec::new(),
            jobs: Vec::new(),
            dir_paths: Vec::new(),
            sink,
            buf,
            total: 0,
            stats: Stats::default(),
        }
    }

    /// Whether every event goes to a sink (so the walk must be [`fs::walk`], in NAR order).
    pub(super) fn streaming(&self) -> bool {
        self.sink.is_some()
    }

    /// The old node at the path of the entry `name` of the directory being walked (the root for
    /// `None`), moving past the old entries that sort before it (removed ones).
    fn lookup(&mut self, name: Option<&[u8]>) -> usize {
        let Some(old) = &self.old else {
            return NONE;
        };
        let table = old.table;
        let (Some(name), Some(frame)) = (name, self.frames.last_mut()) else {
            return if name.is_none() && !table.nodes.is_empty() {
                0
            } else {
                NONE
            };
        };
        while let Some(node) = table
            .nodes
            .get(frame.cursor)
            .filter(|_| frame.cursor < frame.end)
        {
            let index = frame.cursor;
            match table.name(node).cmp(name) {
                std::cmp::Ordering::Less => {
                    // An entry that is gone.
                    frame.exact = false;
                    frame.cursor = node.end.max(index + 1);
                }
                std::cmp::Ordering::Equal => {
                    frame.cursor = node.end.max(index + 1);
                    return index;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        // A new entry.
        frame.exact = false;
        NONE
    }

    fn push(&mut self, kind: Kind, name: Option<&[u8]>, stat: Option<&Stat>, old: usize) -> usize {
        let index = self.new.push(kind, name.unwrap_or_default(), stat);
        self.links.push(Link {
            old,
            same: false,
            exact: false,
        });
        index
    }

    fn old_node(&self, index: usize) -> Option<(&Table, super::format::Node, Timestamp)> {
        let old = self.old.as_ref()?;
        let node = *old.table.nodes.get(index)?;
        Some((old.table, node, old.scan))
    }

    /// The old ids of a regular file whose stat data is `stat` now, when the old cache vouches
    /// for them; counts racily clean entries.
    fn reusable(&mut self, old: usize, stat: &Stat) -> Option<Vec<u8>> {
        let (table, node, scan) = self.old_node(old)?;
        if table.stat(&node)? != *stat {
            return None;
        }
        if !stat.trusted(scan) {
            self.stats.files_racy += 1;
            return None;
        }
        Some(table.ids(&node).to_vec())
    }

    /// Records a node's ids and whether it equals its old node.
    fn set_ids(&mut self, index: usize, ids: &[u8]) {
        if let Some(dst) = self.new.ids_mut(index).get_mut(..ids.len()) {
            dst.copy_from_slice(ids);
        }
        let kind = self.new.nodes.get(index).map(|n| n.kind);
        let same = self.links.get(index).is_some_and(|link| {
            self.old_node(link.old)
                .is_some_and(|(table, node, _)| Some(node.kind) == kind && table.ids(&node) == ids)
        });
        if let Some(link) = self.links.get_mut(index) {
            link.same = same;
        }
    }

    fn count(&mut self, bytes: u64, path: &Path) -> Result<(), fs::WalkError> {
        self.count_at(bytes, || path.to_path_buf())
    }

    /// [`count`](Self::count), making the path only for the error: most entries of a tree
    /// that did not change are counted without ever needing theirs.
    fn count_at(
        &mut self,
        bytes: u64,
        path: impl FnOnce() -> PathBuf,
    ) -> Result<(), fs::WalkError> {
        let max = self.settings.limits.max_total_size;
        match self.total.checked_add(bytes) {
            Some(t) if t <= max => {
                self.total = t;
                Ok(())
            }
            _ => Err(fs::WalkError::new(path(), WalkErrorKind::TooLarge { max })),
        }
    }

    /// Records a node's ids copied from its old node (when the old cache vouched for them).
    fn reuse_ids(&mut self, index: usize, old: usize) {
        let Some(o) = self.old.as_ref() else {
            return;
        };
        let table: &'a Table = o.table;
        if let Some(node) = table.nodes.get(old) {
            self.set_ids(index, table.ids(node));
        }
    }

    fn emit(&mut self, event: Event<'_>, path: &Path) -> Result<(), fs::WalkError> {
        match self.sink.as_mut() {
            Some(sink) => sink
                .event(event)
                .map_err(|e| fs::WalkError::new(path, WalkErrorKind::Sink(e))),
            None => Ok(()),
        }
    }

    /// Streaming mode: reads an opened regular file, feeding the sink every byte and hashing
    /// it only when the old cache cannot vouch for its ids.
    fn stream_file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        opened: fs::OpenFile,
    ) -> Result<(), fs::WalkError> {
        let fs::OpenFile {
            mut file,
            size,
            executable,
        } = opened;
        let meta = stat_opened(&file, path)?;
        let stat = Stat::of(&meta);
        let old = self.lookup(name);
        let reused = self.reusable(old, &stat);
        self.count(size, path)?;
        self.emit(
            Event::FileStart {
                name,
                executable,
                size,
            },
            path,
        )?;
        let mut hashers = match reused {
            Some(_) => Vec::new(),
            None => fs::blob_hashers(self.algorithms, self.settings.collision_detection, size),
        };
        let mut buf = self
            .buf
            .take()
            .unwrap_or_else(|| ReadBuffer::new(self.settings.buffer_size()));
        let mut sink = self.sink.as_mut();
        let result = fs::read_file(
            &mut file,
            size,
            &mut buf,
            || path.to_path_buf(),
            |data| {
                hashers.iter_mut().for_each(|h| h.update(data));
                match sink.as_mut() {
                    Some(sink) => sink.event(Event::FileData(data)),
                    None => Ok(()),
                }
            },
        );
        self.buf = Some(buf);
        result?;
        self.emit(Event::FileEnd, path)?;
        let kind = if executable {
            Kind::Executable
        } else {
            Kind::File
        };
        let index = self.push(kind, name, Some(&stat), old);
        let ids = match reused {
            Some(ids) => {
                self.stats.files_reused += 1;
                ids
            }
            None => {
                self.stats.files_hashed += 1;
                self.stats.bytes_hashed += size;
                finish(hashers, path)?
            }
        };
        self.set_ids(index, &ids);
        Ok(())
    }

    /// Phase 1 from a [listing](crate::fs::levels::list_tree) of a directory tree: the new table in
    /// NAR order, reused ids copied, symlinks hashed, files to read queued.
    pub(super) fn add_listing(&mut self, listing: Vec<Listed<'_>>) -> Result<(), fs::WalkError> {
        let Some(root) = listing.first() else {
            return Ok(());
        };
        self.stats.files_racy += listing.iter().map(|l| l.racy).sum::<u64>();
        let nodes = 1 + listing.iter().map(|l| l.children.len()).sum::<usize>();
        let bytes = match &self.old {
            Some(old) => old.table.records_len(),
            None => nodes.saturating_mul(64),
        };
        self.new.reserve(nodes, bytes);
        self.links.reserve(nodes);
        let node = self.push(
            Kind::Directory,
            None,
            Some(&Stat::from(root.stat)),
            root.old,
        );
        self.dir_paths.push((node, root.path.clone()));
        // (listing index, next child, node)
        let mut stack = vec![(0usize, 0usize, node)];
        while let Some((d, pos, node)) = stack.last_mut() {
            let Some(dir) = listing.get(*d) else {
                break;
            };
            let Some(child) = dir.children.get(*pos) else {
                self.new.close_directory(*node);
                if let Some(link) = self.links.get_mut(*node) {
                    link.exact = dir.exact;
                }
                stack.pop();
                continue;
            };
            *pos += 1;
            let name = Some(&*child.name);
            let child_path = || dir.path.join(std::ffi::OsStr::from_bytes(&child.name));
            match &child.what {
                What::File(true) => {
                    self.count_at(child.stat.size, child_path)?;
                    let kind = if child.stat.mode & 0o100 != 0 {
                        Kind::Executable
                    } else {
                        Kind::File
                    };
                    let index = self.push(kind, name, Some(&Stat::from(child.stat)), child.old);
                    self.reuse_ids(index, child.old);
                    self.stats.files_reused += 1;
                }
                What::File(false) => {
                    let index = self.push(Kind::File, name, None, child.old);
                    self.jobs.push(Job {
                        node: index,
                        old: child.old,
                        path: child_path(),
                        lstat: None,
                        check: false,
                    });
                }
                What::Symlink(None) => {
                    self.count_at(child.stat.size, child_path)?;
                    let index = self.push(
                        Kind::Symlink,
                        name,
                        Some(&Stat::from(child.stat)),
                        child.old,
                    );
                    self.reuse_ids(index, child.old);
                    self.stats.symlinks_reused += 1;
                }
                What::Symlink(Some(target)) => {
                    let path = child_path();
                    self.count(target.len() as u64, &path)?;
                    let mut hashers = fs::blob_hashers(
                        self.algorithms,
                        self.settings.collision_detection,
                        target.len() as u64,
                    );
                    hashers.iter_mut().for_each(|h| h.update(target));
                    let ids = finish(hashers, &path)?;
                    let index = self.push(
                        Kind::Symlink,
                        name,
                        Some(&Stat::from(child.stat)),
                        child.old,
                    );
                    self.set_ids(index, &ids);
                    self.stats.symlinks += 1;
                }
                What::Directory(i) => {
                    let Some(sub) = listing.get(*i) else {
                        continue;
                    };
                    let index =
                        self.push(Kind::Directory, name, Some(&Stat::from(sub.stat)), sub.old);
                    self.dir_paths.push((index, sub.path.clone()));
                    stack.push((*i, 0, index));
                }
            }
        }
        Ok(())
    }

    /// Phases 2 and 3: reads the files not reused, then assembles the trees. Returns the
    /// root's ids (one per algorithm) and the new table.
    pub(super) fn finish(mut self, root: &Path) -> Result<Done, CacheError> {
        let jobs = std::mem::take(&mut self.jobs);
        let reads = self.read_all(&jobs)?;
        for (job, read) in jobs.iter().zip(reads) {
            self.count(read.stat.size, &job.path)?;
            let kind = if read.executable {
                Kind::Executable
            } else {
                Kind::File
            };
            self.new.set_file(job.node, kind, &read.stat);
            self.set_ids(job.node, &read.ids);
            if read.reused {
                self.stats.files_reused += 1;
            } else {
                self.stats.files_hashed += 1;
                self.stats.bytes_hashed += read.stat.size;
            }
            self.stats.files_racy += u64::from(read.racy);
        }

        // Trees, children before parents.
        let mut paths = std::mem::take(&mut self.dir_paths);
        for index in (0..self.new.nodes.len()).rev() {
            let Some(node) = self.new.nodes.get(index).copied() else {
                continue;
            };
            if node.kind != Kind::Directory {
                continue;
            }
            let path = match paths.pop() {
                Some((i, path)) if i == index => path,
                _ => root.to_path_buf(),
            };
            self.tree(index, node.end, &path)?;
        }

        let root_node = self.new.nodes.first().copied();
        if self.settings.strict_root
            && let Some(node) = root_node
            && matches!(node.kind, Kind::Executable | Kind::Symlink)
        {
            let what = if node.kind == Kind::Symlink {
                "git hashing refuses a symlink as the root object in strict mode: its id is the \
                 blob id of the target text, which equals the id of a regular file holding \
                 those bytes"
            } else {
                "git hashing refuses an executable file as the root object in strict mode: a \
                 blob id does not record the mode, so it would equal the id of a regular file \
                 with the same bytes"
            };
            return Err(fs::WalkError::new(
                root,
                WalkErrorKind::Sink(SinkError::Unsupported(what.into())),
            )
            .into());
        }
        let ids = match root_node {
            Some(node) => split_ids(self.algorithms, self.new.ids(&node)),
            None => unreachable!("a successful walk visits a root"),
        };
        let changed = !self.links.first().is_some_and(|l| l.same) || self.stats.files_hashed > 0;
        Ok(Done {
            ids,
            table: self.new,
            stats: self.stats,
            changed,
        })
    }

    /// Phase 3 for one directory.
    fn tree(&mut self, index: usize, end: usize, path: &Path) -> Result<(), fs::WalkError> {
        let link = self.links.get(index).copied().unwrap_or(Link {
            old: NONE,
            same: false,
            exact: false,
        });
        let mut children = Vec::new();
        let mut child = index + 1;
        while let Some(node) = self.new.nodes.get(child).filter(|_| child < end) {
            children.push(child);
            child = node.end.max(child + 1);
        }
        let unchanged = link.exact
            && children
                .iter()
                .all(|&c| self.links.get(c).is_some_and(|l| l.same));
        if unchanged && let Some((table, node, _)) = self.old_node(link.old) {
            let ids = table.ids(&node).to_vec();
            self.set_ids(index, &ids);
            self.stats.trees_reused += 1;
            return Ok(());
        }
        let entries = Entries {
            table: &self.new,
            children: &children,
            algorithms: self.algorithms,
        };
        let ids: Vec<u8> = crate::git::checked_tree_ids(
            &entries,
            self.algorithms,
            self.settings.collision_detection,
        )
        .map_err(|e| fs::WalkError::new(path, WalkErrorKind::Sink(e)))?
        .iter()
        .flat_map(|id| id.as_bytes().iter().copied())
        .collect();
        self.set_ids(index, &ids);
        self.stats.trees_hashed += 1;
        Ok(())
    }

    /// Phase 2: checks every file against the old cache, and reads and hashes those it cannot
    /// vouch for, on several threads where allowed (`lstat` is most of the work of a tree
    /// that did not change).
    fn read_all(&self, jobs: &[Job]) -> Result<Vec<Read>, CacheError> {
        let reader = Reader {
            algorithms: self.algorithms,
            detect: self.settings.collision_detection,
            buffer_size: self.settings.buffer_size(),
            old: self.old.as_ref(),
        };
        #[cfg(feature = "parallel")]
        if jobs.len() > 1 && self.settings.threads != 1 {
            use rayon::prelude::*;
            let all = || {
                jobs.par_iter()
                    .with_max_len(64)
                    .map_init(
                        || None,
                        |buf: &mut Option<ReadBuffer>, job| reader.check(job, buf),
                    )
                    .collect::<Result<Vec<_>, fs::WalkError>>()
            };
            // On the pool the whole scan runs in (see `HashCache::run`).
            return Ok(all()?);
        }
        let mut buf = None;
        Ok(jobs
            .iter()
            .map(|job| reader.check(job, &mut buf))
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// A directory's entries in the new table, as the tree encoder takes them.
struct Entries<'t> {
    table: &'t Table,
    children: &'t [usize],
    algorithms: &'t [Algorithm],
}

impl crate::git::DirEntries for Entries<'_> {
    fn count(&self) -> usize {
        self.children.len()
    }

    fn entry(&self, i: usize) -> (crate::git::Mode, &[u8]) {
        match self.children.get(i).and_then(|&c| self.table.nodes.get(c)) {
            Some(node) => (node.kind.mode(), self.table.name(node)),
            None => (crate::git::Mode::File, &[]),
        }
    }

    fn id(&self, i: usize, j: usize) -> Option<&[u8]> {
        let node = self.table.nodes.get(*self.children.get(i)?)?;
        let offset: usize = self.algorithms.iter().take(j).map(|a| a.len()).sum();
        let len = self.algorithms.get(j)?.len();
        self.table.ids(node).get(offset..offset + len)
    }
}

impl Visitor for Scan<'_, '_> {
    fn directory_start(&mut self, name: Option<&[u8]>, path: &Path) -> Result<(), fs::WalkError> {
        let mut old = self.lookup(name);
        let old_dir = self
            .old_node(old)
            .filter(|(_, n, _)| n.kind == Kind::Directory);
        let (cursor, end) = match old_dir {
            Some((_, node, _)) => (old + 1, node.end),
            None => {
                old = NONE;
                (0, 0)
            }
        };
        let node = self.push(Kind::Directory, name, None, old);
        self.frames.push(Frame {
            node,
            cursor,
            end,
            exact: old != NONE,
        });
        self.dir_paths.push((node, path.to_path_buf()));
        self.emit(Event::DirectoryStart { name }, path)
    }

    fn directory_end(&mut self, path: &Path) -> Result<(), fs::WalkError> {
        if let Some(frame) = self.frames.pop() {
            self.new.close_directory(frame.node);
            if let Some(link) = self.links.get_mut(frame.node) {
                // Entries left over in the old listing are gone.
                link.exact = frame.exact && frame.cursor >= frame.end;
            }
        }
        self.emit(Event::DirectoryEnd, path)
    }

    fn symlink(
        &mut self,
        name: Option<&[u8]>,
        target: &[u8],
        path: &Path,
    ) -> Result<(), fs::WalkError> {
        self.count(target.len() as u64, path)?;
        let old = self.lookup(name);
        let mut hashers = fs::blob_hashers(
            self.algorithms,
            self.settings.collision_detection,
            target.len() as u64,
        );
        hashers.iter_mut().for_each(|h| h.update(target));
        let ids = finish(hashers, path)?;
        let index = self.push(Kind::Symlink, name, None, old);
        self.set_ids(index, &ids);
        self.stats.symlinks += 1;
        self.emit(Event::Symlink { name, target }, path)
    }

    fn file(
        &mut self,
        name: Option<&[u8]>,
        path: &Path,
        file: fs::FileRef<'_>,
    ) -> Result<(), fs::WalkError> {
        if self.sink.is_some() {
            return self.stream_file(name, path, file.open()?);
        }
        let old = self.lookup(name);
        // Checked (and maybe read) in phase 2; kind and stat are set then.
        let node = self.push(Kind::File, name, None, old);
        self.jobs.push(Job {
            node,
            old,
            path: path.to_path_buf(),
            // Taken again in phase 2 (the walk `lstat`s only a root file).
            lstat: None,
            check: true,
        });
        Ok(())
    }
}

/// Checks, reads and hashes files (phase 2); shared by the threads.
struct Reader<'a> {
    algorithms: &'a [Algorithm],
    detect: bool,
    buffer_size: usize,
    old: Option<&'a Old<'a>>,
}

impl Reader<'_> {
    /// The old ids of a regular file whose stat data is `stat` now, if the old cache vouches
    /// for them; and whether it would have but for the racy rule.
    fn reusable(&self, old: usize, stat: &Stat) -> (Option<Vec<u8>>, bool) {
        let Some((table, node)) = self
            .old
            .and_then(|o| Some((o.table, *o.table.nodes.get(old)?)))
        else {
            return (None, false);
        };
        if table.stat(&node) != Some(*stat) {
            return (None, false);
        }
        if self.old.is_some_and(|o| !stat.trusted(o.scan)) {
            return (None, true);
        }
        (Some(table.ids(&node).to_vec()), false)
    }

    fn check(&self, job: &Job, buf: &mut Option<ReadBuffer>) -> Result<Read, fs::WalkError> {
        if !job.check {
            let buf = buf.get_or_insert_with(|| ReadBuffer::new(self.buffer_size));
            return self.read(&job.path, None, buf);
        }
        let meta = match &job.lstat {
            Some(m) => m.clone(),
            None => std::fs::symlink_metadata(&job.path).map_err(|source| {
                fs::WalkError::new(&job.path, WalkErrorKind::Io { op: "stat", source })
            })?,
        };
        let mut racy = false;
        if meta.is_file() {
            let stat = Stat::of(&meta);
            let (ids, was_racy) = self.reusable(job.old, &stat);
            racy = was_racy;
            if let Some(ids) = ids {
                return Ok(Read {
                    ids,
                    stat,
                    executable: stat.mode & 0o100 != 0,
                    reused: true,
                    racy: false,
                });
            }
        }
        // Anything else (even what is no longer a regular file: `open_file` says what it is).
        let buf = buf.get_or_insert_with(|| ReadBuffer::new(self.buffer_size));
        let mut read = self.read(&job.path, Some(&meta), buf)?;
        read.racy = racy;
        Ok(read)
    }

    fn read(
        &self,
        path: &Path,
        lstat: Option<&Metadata>,
        buf: &mut [u8],
    ) -> Result<Read, fs::WalkError> {
        let fs::OpenFile {
            mut file,
            size,
            executable,
        } = fs::open_path(path, lstat)?;
        // What was opened, not what was listed: a file changed in between is recorded as it
        // is read.
        let meta = stat_opened(&file, path)?;
        let mut stat = Stat::of(&meta);
        // `open_file` took the size and mode from its own `fstat`; keep the record consistent
        // with the bytes hashed (a file changed in between gets recent timestamps, so it is
        // not trusted next time anyway).
        stat.size = size;
        let mut hashers = fs::blob_hashers(self.algorithms, self.detect, size);
        fs::read_file(
            &mut file,
            size,
            buf,
            || path.to_path_buf(),
            |data| {
                hashers.iter_mut().for_each(|h| h.update(data));
                Ok(())
            },
        )?;
        Ok(Read {
            ids: finish(hashers, path)?,
            stat,
            executable,
            reused: false,
            racy: false,
        })
    }
}

/// The concatenated blob ids `hashers` give, or the path's error for a detected SHA-1 collision.
fn finish(hashers: Vec<Hasher>, path: &Path) -> Result<Vec<u8>, fs::WalkError> {
    Ok(fs::blob_ids(hashers, path)?
        .iter()
        .flat_map(|id| id.as_bytes().iter().copied())
        .collect())
}

/// The metadata of a file this scan opened (what was opened, not what was listed).
fn stat_opened(file: &std::fs::File, path: &Path) -> Result<Metadata, fs::WalkError> {
    file.metadata().map_err(|source| {
        fs::WalkError::new(
            path,
            WalkErrorKind::Io {
                op: "stat file",
                source,
            },
        )
    })
}

/// Splits a node's concatenated ids into one hash per algorithm.
fn split_ids(algorithms: &[Algorithm], raw: &[u8]) -> Vec<Hash> {
    let mut offset = 0;
    algorithms
        .iter()
        .filter_map(|&a| {
            let id = raw.get(offset..offset + a.len())?;
            offset += a.len();
            Hash::from_bytes(a, id).ok()
        })
        .collect()
}
