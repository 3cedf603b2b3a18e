//! Random, deliberately nasty file system trees for the differential suite, from a fixed seed.
//!
//! Tree `i` depends only on `(seed, i)`, so one failing tree can be rebuilt alone
//! (`NIX_INGEST_ORACLE_ONLY=i`). The first trees are hand-made edge cases; the rest are random.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// splitmix64: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The generator of tree `index` under `seed`.
    pub fn for_tree(seed: u64, index: usize) -> Self {
        let mut r = Rng(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// `n` bytes, each anything but NUL and `/` (what a file name or link target may hold).
    pub fn name_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| match self.range(1, 254) as u8 {
                b'/' => 0xff,
                b => b,
            })
            .collect()
    }
}

/// A file system object to create.
pub enum Node {
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: Vec<u8>,
    },
    Dir {
        entries: BTreeMap<Vec<u8>, Node>,
        mode: u32,
    },
}

/// One tree of the suite: created at `<trees dir>/<name>`.
pub struct Tree {
    pub index: usize,
    /// The base name of the root (the default store path name).
    pub name: String,
    /// Which generator made it.
    pub kind: &'static str,
    pub root: Node,
}

/// Longest path (relative to the tree's root) a tree may hold: PATH_MAX is 4096, and the tree
/// lives a little below `/tmp` (and `/host-tmp` in the oracle).
const PATH_BUDGET: usize = 3800;

/// Names that sort around `/` (git sorts a directory `a` as `a/`, 0x2f) and other traps.
const TRAP_NAMES: &[&[u8]] = &[
    b"a",
    b"a-",
    b"a.b",
    b"a0",
    b"a=",
    b"a.",
    b"a_",
    b"a~",
    b"a ",
    b"a\x01",
    b"a\x7f",
    b"a\xff",
    b"a\x2e\x2e",
    b"ab",
    b"A",
    b"b",
    b"-",
    b"_",
    b"0",
    b"~",
    b"...",
    b"foo",
    b"foo.txt",
    b"foo-bar",
    b"foo0",
    b"foo=",
    b"foo bar",
    b"a+",
    b"a,",
];

const SPECIAL_NAMES: &[&[u8]] = &[
    b" ",
    b"  ",
    b"\n",
    b"\r",
    b"\t",
    b"\x1b[31mred",
    b"--help",
    b"-rf",
    b"\\",
    b"*",
    b"?",
    b"[a]",
    b"'",
    b"\"",
    b"$HOME",
    b"~",
    b".hidden",
    b"..a",
    b".a",
    b"a..",
    b"CON",
    b"nul",
    b"x\ny",
    b"a\r\n",
    b".git",
    b".GIT",
    b".gitignore",
    b".gitmodules",
    b"git~1",
    b".git.",
    b"nix-archive-1",
    b"(",
    b")",
    b"type",
    b"entry",
    b"\xc3",
    b"\xff\xfe",
    b"\x80",
];

const UTF8_NAMES: &[&str] = &[
    "été",
    "e\u{301}te\u{301}",
    "日本語",
    "🦀",
    "Ω",
    "\u{feff}bom",
    "\u{202e}txt.exe",
    "ß",
    "İ",
    "ﬁ",
    "Ünïcödé ñame",
    "\u{200b}",
];

const FILE_MODES: &[u32] = &[
    0o644, 0o644, 0o644, 0o644, 0o755, 0o755, 0o700, 0o744, 0o654, 0o645, 0o655, 0o600, 0o444,
    0o555, 0o777, 0o475, 0o4755, 0o2755, 0o1644, 0o764, 0o4644, 0o611, 0o677,
];

const DIR_MODES: &[u32] = &[
    0o755, 0o755, 0o755, 0o700, 0o750, 0o777, 0o1777, 0o2755, 0o711,
];

/// A random entry name at most `max_len` bytes long (never empty, `.` or `..`).
pub fn random_name(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let max_len = max_len.clamp(1, 255);
    let mut name = match rng.below(100) {
        0..30 => rng.pick(TRAP_NAMES).to_vec(),
        30..55 => {
            let n = rng.range(1, 8) as usize;
            (0..n)
                .map(|_| rng.range(0x20, 0x7e) as u8)
                .map(|b| if b == b'/' { b'_' } else { b })
                .collect()
        }
        55..75 => {
            let n = rng.range(1, 16) as usize;
            rng.name_bytes(n)
        }
        75..85 => rng.pick(UTF8_NAMES).as_bytes().to_vec(),
        85..92 => {
            let n = rng.range(100, 255) as usize;
            let mut v = rng.name_bytes(n / 2);
            v.extend((0..n - n / 2).map(|i| b'a' + (i % 26) as u8));
            v
        }
        _ => rng.pick(SPECIAL_NAMES).to_vec(),
    };
    name.truncate(max_len);
    if name.is_empty() || name == b"." || name == b".." {
        name = b"dot".to_vec();
        name.truncate(max_len);
    }
    name
}

fn random_target(rng: &mut Rng) -> Vec<u8> {
    let t: Vec<u8> = match rng.below(100) {
        0..25 => rng
            .pick(&[
                &b"a"[..],
                b"foo",
                b"a-",
                b".",
                b"..",
                b"../..",
                b"./a",
                b"a/b/c",
                b"foo/",
                b"../t0000",
                b"../t0008",
            ])
            .to_vec(),
        25..38 => rng
            .pick(&[
                &b"/"[..],
                b"/etc/passwd",
                b"/nix/store/00000000000000000000000000000000-x",
                b"/nonexistent/deep/path",
                b"/tmp",
                b"//double//slash",
            ])
            .to_vec(),
        38..55 => {
            let n = rng.range(1, 40) as usize;
            (0..n).map(|_| rng.range(0x20, 0x7e) as u8).collect()
        }
        55..70 => {
            let n = rng.range(1, 64) as usize;
            let mut v = rng.name_bytes(n);
            // Targets may hold slashes too.
            for b in v.iter_mut() {
                if *b == 0xfe {
                    *b = b'/';
                }
            }
            v
        }
        70..82 => {
            let n = rng.range(256, 4095) as usize;
            (0..n)
                .map(|i| {
                    if i % 2 == 1 {
                        b'/'
                    } else {
                        b'a' + (i % 26) as u8
                    }
                })
                .collect()
        }
        82..88 => vec![b'x'; 4095],
        _ => rng
            .pick(&["é/ü", "a\nb", " ", "-", "\r", "🦀/../🦀"])
            .as_bytes()
            .to_vec(),
    };
    if t.is_empty() { b"x".to_vec() } else { t }
}

fn random_content(rng: &mut Rng, allow_big: &mut bool) -> Vec<u8> {
    match rng.below(100) {
        0..25 => Vec::new(),
        25..55 => {
            let n = rng.range(1, 100) as usize;
            rng.bytes(n)
        }
        55..68 => {
            let mut s = String::new();
            for i in 0..rng.range(1, 20) {
                let _ = writeln!(s, "line {i}: the quick brown fox\r");
            }
            s.into_bytes()
        }
        68..78 => {
            let n = *rng.pick(&[1usize, 7, 8, 9, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097]);
            rng.bytes(n)
        }
        78..85 => {
            // Bytes that look like NAR framing, to trip a parser that peeks into file data.
            let mut v = Vec::new();
            for tok in [
                &b"nix-archive-1"[..],
                b"(",
                b"type",
                b"regular",
                b"contents",
                b")",
            ] {
                v.extend_from_slice(&(tok.len() as u64).to_le_bytes());
                v.extend_from_slice(tok);
                v.resize(v.len().div_ceil(8) * 8, 0);
            }
            v
        }
        85..97 => {
            let n = rng.range(1024, 256 * 1024) as usize;
            rng.bytes(n)
        }
        _ if *allow_big => {
            *allow_big = false;
            let n = rng.range(1 << 20, 6 << 20) as usize;
            rng.bytes(n)
        }
        _ => rng.bytes(3),
    }
}

fn random_file(rng: &mut Rng, allow_big: &mut bool) -> Node {
    Node::File {
        data: random_content(rng, allow_big),
        mode: *rng.pick(FILE_MODES),
    }
}

/// A random directory of at most `budget` entries in all, `depth_left` levels deep.
fn random_dir(
    rng: &mut Rng,
    budget: &mut usize,
    depth_left: usize,
    path_len: usize,
    allow_big: &mut bool,
) -> Node {
    let mut entries = BTreeMap::new();
    let n = if rng.chance(12) { 0 } else { rng.range(1, 12) };
    for _ in 0..n {
        if *budget == 0 || path_len + 2 >= PATH_BUDGET {
            break;
        }
        *budget -= 1;
        let name = random_name(rng, PATH_BUDGET - path_len - 1);
        let sub_len = path_len + name.len() + 1;
        let node = match rng.below(100) {
            0..28 if depth_left > 0 && sub_len + 2 < PATH_BUDGET => {
                random_dir(rng, budget, depth_left - 1, sub_len, allow_big)
            }
            28..45 => Node::Symlink {
                target: random_target(rng),
            },
            _ => random_file(rng, allow_big),
        };
        entries.insert(name, node);
    }
    Node::Dir {
        entries,
        mode: *rng.pick(DIR_MODES),
    }
}

fn dir(entries: Vec<(&[u8], Node)>) -> Node {
    Node::Dir {
        entries: entries.into_iter().map(|(n, e)| (n.to_vec(), e)).collect(),
        mode: 0o755,
    }
}

fn file(data: &[u8], mode: u32) -> Node {
    Node::File {
        data: data.to_vec(),
        mode,
    }
}

fn link(target: &[u8]) -> Node {
    Node::Symlink {
        target: target.to_vec(),
    }
}

/// Tree `index` of the suite under `seed`.
pub fn generate(seed: u64, index: usize) -> Tree {
    let mut rng = Rng::for_tree(seed, index);
    let mut name = format!("t{index:04}");
    let (kind, root) = match index {
        0 => (
            "nix-test-tree",
            dir(vec![
                (b"bla", dir(vec![])),
                (b"foo", file(b"Hello World!\n", 0o644)),
                (b"bar", link(b"foo")),
            ]),
        ),
        1 => {
            // Every trap name as a file, and again as a directory one level down, and both
            // kinds mixed, so git's "directories sort as name/" rule is exercised.
            let mut files: Vec<(&[u8], Node)> = Vec::new();
            let mut mixed: Vec<(&[u8], Node)> = Vec::new();
            for (i, n) in TRAP_NAMES.iter().enumerate() {
                files.push((n, file(n, 0o644)));
                let node = match i % 3 {
                    0 => dir(vec![(b"x", file(b"x", 0o644))]),
                    1 => file(n, 0o755),
                    _ => link(n),
                };
                mixed.push((n, node));
            }
            let dirs: Vec<(&[u8], Node)> = TRAP_NAMES
                .iter()
                .map(|n| (*n, dir(vec![(&b"f"[..], file(b"", 0o644))])))
                .collect();
            (
                "sort-traps",
                dir(vec![
                    (b"files", dir(files)),
                    (b"dirs", dir(dirs)),
                    (b"mixed", dir(mixed)),
                ]),
            )
        }
        2 => ("empty-dir-root", dir(vec![])),
        3 => {
            // A chain of 200 directories. (Nix slows down steeply with depth: one
            // `nix hash path` of a 400-deep chain takes 2.4 s, of a 1000-deep one about 26 s.)
            let mut node = file(b"bottom\n", 0o755);
            for _ in 0..200 {
                node = dir(vec![(b"d", node)]);
            }
            ("deep-chain", node)
        }
        4 => {
            let mut entries = BTreeMap::new();
            for i in 0..5000u32 {
                let node = match i % 4 {
                    0 => file(&i.to_le_bytes(), 0o644),
                    1 => file(b"", 0o755),
                    2 => link(format!("{i}").as_bytes()),
                    _ => dir(vec![]),
                };
                entries.insert(format!("entry-{i}").into_bytes(), node);
            }
            (
                "wide-dir",
                Node::Dir {
                    entries,
                    mode: 0o755,
                },
            )
        }
        5 => {
            // A file named by every byte git and Nix allow, and two-byte names around '/'.
            let mut entries = BTreeMap::new();
            for b in 1..=255u8 {
                if b == b'/' {
                    continue;
                }
                if b != b'.' {
                    entries.insert(vec![b], file(&[b], if b % 2 == 0 { 0o755 } else { 0o644 }));
                }
                entries.insert(
                    vec![b'a', b],
                    if b % 3 == 0 { dir(vec![]) } else { link(&[b]) },
                );
                entries.insert(vec![b, b'.', b], dir(vec![(b"z", file(b"", 0o644))]));
            }
            (
                "every-byte-names",
                Node::Dir {
                    entries,
                    mode: 0o755,
                },
            )
        }
        6 => {
            let mut entries = BTreeMap::new();
            for len in [1usize, 255, 256, 1000, 4094, 4095] {
                entries.insert(format!("x{len}").into_bytes(), link(&vec![b'x'; len]));
                let t: Vec<u8> = (0..len)
                    .map(|i| if i % 3 == 2 { b'/' } else { b'.' })
                    .collect();
                entries.insert(format!("dots{len}").into_bytes(), link(&t));
            }
            entries.insert(b"to-dir".to_vec(), link(b"."));
            entries.insert(b"to-parent".to_vec(), link(b".."));
            entries.insert(b"self".to_vec(), link(b"self"));
            entries.insert(b"dangling".to_vec(), link(b"does/not/exist"));
            entries.insert(b"absolute".to_vec(), link(b"/etc/hostname"));
            entries.insert(b"newline".to_vec(), link(b"a\nb\n"));
            entries.insert(b"non-utf8".to_vec(), link(b"\xff\xfe\x80"));
            (
                "symlink-targets",
                Node::Dir {
                    entries,
                    mode: 0o755,
                },
            )
        }
        7 => (
            "big-file-root",
            file(&rng.bytes(5 * 1024 * 1024 + 3), 0o644),
        ),
        8 => ("empty-file-root", file(b"", 0o644)),
        9 => ("executable-root", file(b"#!/bin/sh\necho hi\n", 0o755)),
        10 => ("group-exec-root", file(b"not mine to run\n", 0o654)),
        11 => ("other-exec-root", file(b"not mine to run\n", 0o645)),
        12 => ("symlink-root-to-dir", link(b"t0000")),
        13 => ("symlink-root-to-file", link(b"t0008")),
        14 => ("dangling-symlink-root", link(b"nowhere")),
        15 => ("long-symlink-root", link(&vec![b'y'; 4095])),
        16 => (
            "nested-empty-dirs",
            dir(vec![
                (b"a", dir(vec![(b"b", dir(vec![(b"c", dir(vec![]))]))])),
                (b"a-", dir(vec![])),
                (b"a0", dir(vec![])),
            ]),
        ),
        17 => {
            // Files whose bytes are NAR framing, and a multi-MB file inside a directory.
            let mut nar = Vec::new();
            for tok in [&b"nix-archive-1"[..], b"(", b"type", b"directory", b")"] {
                nar.extend_from_slice(&(tok.len() as u64).to_le_bytes());
                nar.extend_from_slice(tok);
                nar.resize(nar.len().div_ceil(8) * 8, 0);
            }
            (
                "nar-lookalikes",
                dir(vec![
                    (b"fake.nar", file(&nar, 0o644)),
                    (b"big", file(&rng.bytes(3 * 1024 * 1024), 0o755)),
                    (b"padding-7", file(&[0; 7], 0o644)),
                    (b"padding-8", file(&[0; 8], 0o644)),
                    (b"padding-9", file(&[0; 9], 0o644)),
                ]),
            )
        }
        _ => {
            let r = rng.below(100);
            let mut allow_big = rng.chance(15);
            let node = match r {
                0..72 => {
                    let mut budget = *rng.pick(&[3usize, 10, 25, 60, 150]);
                    let depth = rng.range(0, 8) as usize;
                    random_dir(&mut rng, &mut budget, depth, 0, &mut allow_big)
                }
                72..84 => random_file(&mut rng, &mut allow_big),
                84..90 => {
                    let n = rng.range(0, 40) as usize;
                    file(&rng.bytes(n), *rng.pick(FILE_MODES))
                }
                _ => {
                    let t = if rng.chance(50) {
                        format!("t{:04}", rng.below(index as u64)).into_bytes()
                    } else {
                        random_target(&mut rng)
                    };
                    link(&t)
                }
            };
            // Root names: mostly plain; some with every character a store path name allows;
            // a few that Nix refuses as store path names.
            match rng.below(100) {
                0..8 => name.push_str("-A+b=c?d_e.f"),
                8..10 => name.insert(0, '.'),
                10..12 => name.push_str(" space"),
                12..13 => name.push_str("-é"),
                13..14 => name.push_str(&"x".repeat(207)),
                _ => {}
            }
            ("random", node)
        }
    };
    if index == 18 {
        name = format!("t0018{}", "y".repeat(206)); // 211 bytes: the longest name Nix allows
    }
    Tree {
        index,
        name,
        kind,
        root,
    }
}

impl Tree {
    /// Creates the tree at `parent/<name>`.
    pub fn write(&self, parent: &Path) -> io::Result<PathBuf> {
        let path = parent.join(&self.name);
        write_node(&self.root, &path)?;
        Ok(path)
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.root, Node::Dir { .. })
    }

    pub fn is_file(&self) -> bool {
        matches!(self.root, Node::File { .. })
    }

    pub fn is_symlink(&self) -> bool {
        matches!(self.root, Node::Symlink { .. })
    }

    /// Whether `git add` can represent the tree: no empty directories, no names git's index
    /// refuses or treats specially.
    pub fn index_safe(&self) -> bool {
        fn ok(node: &Node) -> bool {
            match node {
                Node::Dir { entries, .. } => {
                    !entries.is_empty()
                        && entries.iter().all(|(name, n)| {
                            let lower = name.to_ascii_lowercase();
                            !lower.starts_with(b".git") && !lower.starts_with(b"git~") && ok(n)
                        })
                }
                _ => true,
            }
        }
        self.is_dir() && ok(&self.root)
    }

    /// How many levels below the root its deepest object lies (Nix 2.34's NAR rule refuses 64).
    pub fn nar_depth(&self) -> usize {
        fn walk(n: &Node, depth: usize) -> usize {
            match n {
                Node::Dir { entries, .. } => entries
                    .values()
                    .map(|e| walk(e, depth + 1))
                    .max()
                    .unwrap_or(depth),
                _ => depth,
            }
        }
        walk(&self.root, 0)
    }

    /// A one-line description for mismatch reports.
    pub fn describe(&self) -> String {
        #[derive(Default)]
        struct S {
            files: usize,
            exec: usize,
            links: usize,
            dirs: usize,
            empty_dirs: usize,
            depth: usize,
            longest_name: usize,
            longest_target: usize,
            largest_file: usize,
            non_utf8: bool,
        }
        fn walk(n: &Node, depth: usize, s: &mut S) {
            s.depth = s.depth.max(depth);
            match n {
                Node::File { data, mode } => {
                    s.files += 1;
                    s.exec += usize::from(mode & 0o100 != 0);
                    s.largest_file = s.largest_file.max(data.len());
                }
                Node::Symlink { target } => {
                    s.links += 1;
                    s.longest_target = s.longest_target.max(target.len());
                }
                Node::Dir { entries, .. } => {
                    s.dirs += 1;
                    s.empty_dirs += usize::from(entries.is_empty());
                    for (name, e) in entries {
                        s.longest_name = s.longest_name.max(name.len());
                        s.non_utf8 |= std::str::from_utf8(name).is_err();
                        walk(e, depth + 1, s);
                    }
                }
            }
        }
        let mut s = S::default();
        walk(&self.root, 0, &mut s);
        let root = match &self.root {
            Node::Dir { .. } => "directory",
            Node::File { mode, .. } => {
                return format!(
                    "tree #{} '{}' ({}): regular file, mode {mode:o}, {} bytes",
                    self.index, self.name, self.kind, s.largest_file
                );
            }
            Node::Symlink { target } => {
                return format!(
                    "tree #{} '{}' ({}): symlink to \"{}\" ({} bytes)",
                    self.index,
                    self.name,
                    self.kind,
                    target
                        .escape_ascii()
                        .to_string()
                        .chars()
                        .take(80)
                        .collect::<String>(),
                    target.len()
                );
            }
        };
        format!(
            "tree #{} '{}' ({}): {root}, {} files ({} executable), {} symlinks, {} dirs ({} empty), \
             depth {}, longest name {} B, longest target {} B, largest file {} B{}",
            self.index,
            self.name,
            self.kind,
            s.files,
            s.exec,
            s.links,
            s.dirs,
            s.empty_dirs,
            s.depth,
            s.longest_name,
            s.longest_target,
            s.largest_file,
            if s.non_utf8 { ", non-UTF-8 names" } else { "" }
        )
    }

    /// Every entry, one per line (names escaped), for a mismatch report.
    pub fn listing(&self) -> String {
        fn walk(n: &Node, path: &mut Vec<u8>, out: &mut String) {
            let shown = path.escape_ascii().to_string();
            match n {
                Node::File { data, mode } => {
                    let _ = writeln!(out, "file {mode:o} {:>9} {shown}", data.len());
                }
                Node::Symlink { target } => {
                    let _ = writeln!(out, "link            {shown} -> {}", target.escape_ascii());
                }
                Node::Dir { entries, mode } => {
                    let _ = writeln!(out, "dir  {mode:o}           {shown}/");
                    for (name, e) in entries {
                        let len = path.len();
                        path.push(b'/');
                        path.extend_from_slice(name);
                        walk(e, path, out);
                        path.truncate(len);
                    }
                }
            }
        }
        let mut out = String::new();
        walk(&self.root, &mut b".".to_vec(), &mut out);
        out
    }
}

fn write_node(node: &Node, path: &Path) -> io::Result<()> {
    match node {
        Node::File { data, mode } => {
            fs::write(path, data)?;
            fs::set_permissions(path, fs::Permissions::from_mode(*mode))
        }
        Node::Symlink { target } => symlink(OsStr::from_bytes(target), path),
        Node::Dir { entries, mode } => {
            fs::create_dir(path)?;
            for (name, e) in entries {
                write_node(e, &path.join(OsStr::from_bytes(name)))?;
            }
            fs::set_permissions(path, fs::Permissions::from_mode(*mode))
        }
    }
}
