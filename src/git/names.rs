//! Entry names Nix accepts but `git fsck --strict` rejects: `.git` in any case and the
//! spellings macOS (HFS+) and Windows (NTFS) read as `.git`; a symlink or directory named
//! `.gitmodules` (and, as warnings, symlinks named `.gitattributes`, `.gitignore`, `.mailmap`
//! and a directory named `.gitattributes`). A tree holding one is a valid Nix tree with a well-defined git hash, but git
//! refuses it on fsck, and so does a push to a remote that checks objects (`receive.fsckObjects`).
//!
//! [`fsck_name`] judges one entry; [`FsckNames`] watches an event stream and names the path of
//! every such entry — or refuses the first — so that exporting git objects can warn or refuse.
//!
//! ```
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::git::Mode;
//! use nix_ingest::git::names::{FsckNames, NameProblem, fsck_name};
//!
//! assert_eq!(fsck_name(b".GIT", Mode::File), Some(NameProblem::DotGit));
//! assert_eq!(fsck_name(b"git~1", Mode::Directory), Some(NameProblem::DotGit));
//! assert_eq!(
//!     fsck_name(b".gitmodules", Mode::Symlink),
//!     Some(NameProblem::Symlink { file: ".gitmodules" })
//! );
//! assert_eq!(fsck_name(b".gitignore", Mode::File), None);
//!
//! let mut names = FsckNames::new();
//! names.event(Event::DirectoryStart { name: None })?;
//! names.event(Event::DirectoryStart { name: Some(b"sub") })?;
//! names.event(Event::Symlink { name: Some(b".Git"), target: b"x" })?;
//! names.event(Event::DirectoryEnd)?;
//! names.event(Event::DirectoryEnd)?;
//! assert_eq!(names.found()[0].0, "sub/.Git");
//!
//! // Refusing instead: the first such entry fails the stream.
//! let mut strict = FsckNames::new().refuse(true);
//! strict.event(Event::DirectoryStart { name: None })?;
//! assert!(strict.event(Event::DirectoryStart { name: Some(b".git") }).is_err());
//! # Ok::<(), nix_ingest::event::SinkError>(())
//! ```

use std::fmt;

use crate::event::{Event, Sink, SinkError};
use crate::git::Mode;

/// Why `git fsck --strict` rejects (or warns about) an entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// `.git` in some case or spelling (fsck error `hasDotgit`).
    DotGit,
    /// A symlink named `.gitmodules` (error `gitmodulesSymlink`), or `.gitattributes`,
    /// `.gitignore`, `.mailmap` (warnings `…Symlink`), in some case or spelling.
    Symlink {
        /// The file it reads as, e.g. `.gitmodules`.
        file: &'static str,
    },
    /// A directory named `.gitmodules` or `.gitattributes` (errors `gitmodulesBlob`,
    /// `gitattributesBlob`), in some case or spelling.
    NotBlob {
        /// The file it reads as.
        file: &'static str,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::DotGit => f.write_str("a name git reads as .git (fsck: hasDotgit)"),
            NameProblem::Symlink { file } => write!(f, "a symlink git reads as {file}"),
            NameProblem::NotBlob { file } => write!(f, "a directory git reads as {file}"),
        }
    }
}

/// The special files fsck checks: name, NTFS short-name prefix, NTFS hashed short-name prefix,
/// whether a directory of that name is an error.
const SPECIAL: [(&str, &[u8], &[u8], bool); 4] = [
    (".gitmodules", b"gitmod", b"gi7eba", true),
    (".gitattributes", b"gitatt", b"gi7d29", true),
    (".gitignore", b"gitign", b"gi250a", false),
    (".mailmap", b"mailma", b"maba30", false),
];

/// Whether `git fsck --strict` rejects or warns about a tree entry named `name` of `mode`
/// (git 2.47's `fsck.c`: `verify_path`, `is_hfs_dot*`, `is_ntfs_dot*`).
pub fn fsck_name(name: &[u8], mode: Mode) -> Option<NameProblem> {
    if is_dot(name, b"git", None, None) || is_short(name, b"git", 1, 1) {
        return Some(NameProblem::DotGit);
    }
    for (file, short, hashed, dir_is_error) in SPECIAL {
        let word = file.as_bytes().get(1..).unwrap_or_default();
        if !is_dot(name, word, Some(short), Some(hashed)) {
            continue;
        }
        return match mode {
            Mode::Symlink => Some(NameProblem::Symlink { file }),
            Mode::Directory if dir_is_error => Some(NameProblem::NotBlob { file }),
            _ => None,
        };
    }
    None
}

/// Only spaces and dots (what NTFS strips from the end of a name), or a `:stream` suffix.
fn ntfs_tail(rest: &[u8]) -> bool {
    rest.first() == Some(&b':') || rest.iter().all(|&b| b == b' ' || b == b'.')
}

/// `<prefix>~<digit from lo to hi>` and an NTFS tail, case-insensitively.
fn is_short(name: &[u8], prefix: &[u8], lo: u8, hi: u8) -> bool {
    let n = prefix.len();
    name.get(..n)
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        && name.get(n) == Some(&b'~')
        && name
            .get(n + 1)
            .is_some_and(|d| (b'0' + lo..=b'0' + hi).contains(d))
        && ntfs_tail(name.get(n + 2..).unwrap_or_default())
}

/// `.<word>` as HFS+ (case-insensitive, ignoring invisible code points) or NTFS
/// (case-insensitive, trailing spaces and dots, `:stream`, 8.3 short names) reads it.
fn is_dot(name: &[u8], word: &[u8], short: Option<&[u8]>, hashed: Option<&[u8]>) -> bool {
    let hfs: Vec<u8> = match std::str::from_utf8(name) {
        Ok(text) => text
            .chars()
            .filter(|&c| !is_hfs_ignorable(c))
            .collect::<String>()
            .into_bytes(),
        Err(_) => name.to_vec(),
    };
    if hfs.first() == Some(&b'.') && hfs.get(1..).is_some_and(|r| r.eq_ignore_ascii_case(word)) {
        return true;
    }
    if name.first() == Some(&b'.')
        && name
            .get(1..=word.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(word))
        && ntfs_tail(name.get(word.len() + 1..).unwrap_or_default())
    {
        return true;
    }
    short.is_some_and(|s| is_short(name, s, 1, 4))
        || hashed.is_some_and(|h| is_short(name, h, 1, 9))
}

/// The code points HFS+ ignores in names (git's `utf8.c: next_hfs_char`).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(c as u32, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// An event [`Sink`] that finds entries `git fsck --strict` rejects ([`fsck_name`]), naming
/// their paths (relative to the root, `/`-separated). It keeps at most 1000 paths; with
/// [`FsckNames::refuse`] it fails on the first.
#[derive(Debug, Clone, Default)]
pub struct FsckNames {
    refuse: bool,
    path: Vec<Vec<u8>>,
    found: Vec<(String, NameProblem)>,
    count: u64,
}

impl FsckNames {
    /// The most paths kept.
    const MAX_KEPT: usize = 1000;

    /// A watcher that records and accepts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to refuse the first such entry with [`SinkError::Unsupported`] naming it.
    pub fn refuse(mut self, refuse: bool) -> Self {
        self.refuse = refuse;
        self
    }

    /// The entries found: path and problem (at most 1000).
    pub fn found(&self) -> &[(String, NameProblem)] {
        &self.found
    }

    /// How many were found in all.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn check(&mut self, name: Option<&[u8]>, mode: Mode) -> Result<(), SinkError> {
        let Some(name) = name else { return Ok(()) };
        let Some(problem) = fsck_name(name, mode) else {
            return Ok(());
        };
        let mut path = Vec::new();
        for part in self.path.iter().map(Vec::as_slice).chain([name]) {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(part);
        }
        let path = String::from_utf8_lossy(&path).escape_debug().to_string();
        if self.refuse {
            return Err(SinkError::Unsupported(format!(
                "'{path}' is {problem}: git fsck --strict rejects the tree holding it"
            )));
        }
        self.count += 1;
        if self.found.len() < Self::MAX_KEPT {
            self.found.push((path, problem));
        }
        Ok(())
    }
}

impl Sink for FsckNames {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { name } => {
                self.check(name, Mode::Directory)?;
                if let Some(name) = name {
                    self.path.push(name.to_vec());
                }
            }
            Event::DirectoryEnd => {
                self.path.pop();
            }
            Event::FileStart { name, .. } => self.check(name, Mode::File)?,
            Event::Symlink { name, .. } => self.check(name, Mode::Symlink)?,
            _ => {}
        }
        Ok(())
    }
}
