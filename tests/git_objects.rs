//! Git object ids from `nix_ingest::git`, judged against real git (`git hash-object`,
//! `git mktree` in sha1 and sha256 repositories), gitoxide's tree encoding, and facts recorded
//! from real Nix in `tests/data/git/oracle.txt`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::git::{
    GitHasher, Mode, ObjectKind, ObjectSink, TreeEntry, blob_id, encode_tree, tree_id, tree_order,
};
use nix_ingest::hash::{Algorithm, Format, Hash};
use proptest::prelude::*;

#[path = "support/git.rs"]
mod git_cli;
use git_cli::git;

// ---------------------------------------------------------------------------------------------
// Helpers: a tiny test-only event source for a directory on disk, and real git.

/// Emits the events of the file system object at `path` (depth-first, entries in byte order),
/// cutting file contents into chunks of `chunk` bytes with an empty chunk in front.
fn emit(
    path: &Path,
    name: Option<&[u8]>,
    chunk: usize,
    sink: &mut dyn Sink,
) -> Result<(), SinkError> {
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).unwrap();
        sink.event(Event::Symlink {
            name,
            target: target.as_os_str().as_bytes(),
        })
    } else if meta.is_dir() {
        sink.event(Event::DirectoryStart { name })?;
        let mut children: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for child in children {
            emit(&path.join(&child), Some(child.as_bytes()), chunk, sink)?;
        }
        sink.event(Event::DirectoryEnd)
    } else {
        let data = std::fs::read(path).unwrap();
        sink.event(Event::FileStart {
            name,
            executable: meta.permissions().mode() & 0o100 != 0,
            size: data.len() as u64,
        })?;
        sink.event(Event::FileData(&[]))?;
        for c in data.chunks(chunk) {
            sink.event(Event::FileData(c))?;
        }
        sink.event(Event::FileEnd)
    }
}

/// The git id of the object at `path`, as `GitHasher` computes it.
fn hash_dir(path: &Path, algorithm: Algorithm) -> Hash {
    let mut git = GitHasher::new(algorithm);
    emit(path, None, 5, &mut git).unwrap();
    git.finish().unwrap()
}

/// A fresh git repository of the object format matching `algorithm` (sha1 or sha256).
fn repo(algorithm: Algorithm) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(
        dir.path(),
        &[
            "init",
            "-q",
            &format!("--object-format={}", algorithm.name()),
        ],
        b"",
    );
    dir
}

fn trim(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// The id real git gives the object at `path`: `git hash-object -w` for files and symlink
/// targets, `git mktree -z` for directories (fed in byte order; mktree sorts itself).
fn git_id(repo: &Path, path: &Path) -> String {
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).unwrap();
        trim(git(
            repo,
            &["hash-object", "-w", "--stdin"],
            target.as_os_str().as_bytes(),
        ))
    } else if meta.is_dir() {
        let mut children: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut input = Vec::new();
        for child in children {
            let p = path.join(&child);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let (mode, kind) = if m.file_type().is_symlink() {
                ("120000", "blob")
            } else if m.is_dir() {
                ("040000", "tree")
            } else if m.permissions().mode() & 0o100 != 0 {
                ("100755", "blob")
            } else {
                ("100644", "blob")
            };
            let id = git_id(repo, &p);
            input.extend_from_slice(format!("{mode} {kind} {id}\t").as_bytes());
            input.extend_from_slice(child.as_bytes());
            input.push(0);
        }
        trim(git(repo, &["mktree", "-z"], &input))
    } else {
        let data = std::fs::read(path).unwrap();
        trim(git(repo, &["hash-object", "-w", "--stdin"], &data))
    }
}

/// Facts recorded from Nix: `(what, algorithm) -> base16 digest`.
fn oracle() -> HashMap<(String, Algorithm), String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/git/oracle.txt"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let what = parts.next().unwrap().to_owned();
            let algo = parts.next().unwrap().parse().unwrap();
            let digest = parts.next().unwrap().to_owned();
            ((what, algo), digest)
        })
        .collect()
}

fn write_file(path: &Path, data: &[u8], executable: bool) {
    std::fs::write(path, data).unwrap();
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The tree from Nix's own tests (as tests/data/git/make-trees.sh builds it).
fn golden_tree(dir: &Path) {
    std::fs::create_dir(dir.join("bla")).unwrap();
    write_file(&dir.join("foo"), b"Hello World!\n", false);
    symlink("foo", dir.join("bar")).unwrap();
}

/// Odd names, exec bits, symlinks, empty files and directories (as make-trees.sh builds it).
fn odd_tree(o: &Path) {
    for d in ["a", "b", "c/d/e", "c/d-"] {
        std::fs::create_dir_all(o.join(d)).unwrap();
    }
    write_file(&o.join("a/x"), b"x\n", false);
    write_file(&o.join("a-"), b"dash", false);
    write_file(&o.join("a.b"), b"dot", false);
    write_file(&o.join("a0"), b"#!/bin/sh\n", true);
    symlink("a", o.join("a=")).unwrap();
    write_file(&o.join("a b"), b"space", false);
    write_file(
        &o.join(OsStr::from_bytes(b"\xff\xfe")),
        b"non-utf8 name",
        false,
    );
    write_file(&o.join("b.c"), b"", false);
    write_file(&o.join("c/d/f"), b"", true);
    write_file(&o.join("c/d.txt"), b"d.txt", false);
    write_file(&o.join("c/d0"), b"d0", false);
    symlink(OsStr::from_bytes(b"\xe9t\xe9"), o.join("link-nonutf8")).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Against Nix (recorded) and git (live).

#[test]
fn golden_tree_matches_nix_and_git() {
    let dir = tempfile::tempdir().unwrap();
    golden_tree(dir.path());
    let oracle = oracle();
    for algo in Algorithm::ALL {
        assert_eq!(
            hash_dir(dir.path(), algo).encode(Format::Base16),
            oracle[&("golden".to_owned(), algo)],
            "{algo}"
        );
    }
    // The facts in Nix's test suite, in the forms Nix prints them.
    assert_eq!(
        hash_dir(dir.path(), Algorithm::Sha1).to_string(),
        "sha1-zUS682kV1d7IN0Iy6n4gV/O0SU4="
    );
    assert_eq!(
        hash_dir(dir.path(), Algorithm::Sha1).encode(Format::Base16),
        "cd44baf36915d5dec8374232ea7e2057f3b4494e"
    );
    assert_eq!(
        hash_dir(dir.path(), Algorithm::Sha256).encode(Format::Base16),
        "3c957653f90c34c0a8badf343b61393936cddf4a2ca93f64b21f02303ddedcc2"
    );
    assert_eq!(
        hash_dir(dir.path(), Algorithm::Md5).to_string(),
        "md5-QA6eU7/h/nmxJj2tubVmLw=="
    );
    for algo in [Algorithm::Sha1, Algorithm::Sha256] {
        let repo = repo(algo);
        assert_eq!(
            hash_dir(dir.path(), algo).encode(Format::Base16),
            git_id(repo.path(), dir.path()),
            "{algo}"
        );
    }
}

#[test]
fn odd_names_match_nix_and_git() {
    let dir = tempfile::tempdir().unwrap();
    odd_tree(dir.path());
    let oracle = oracle();
    for algo in Algorithm::ALL {
        assert_eq!(
            hash_dir(dir.path(), algo).encode(Format::Base16),
            oracle[&("odd".to_owned(), algo)],
            "{algo}"
        );
    }
    for algo in [Algorithm::Sha1, Algorithm::Sha256] {
        let repo = repo(algo);
        // The whole tree, and every subtree and blob in it.
        for sub in ["", "a", "b", "c", "c/d", "c/d/e", "c/d-", "a0", "a=", "b.c"] {
            let p = dir.path().join(sub);
            assert_eq!(
                hash_dir(&p, algo).encode(Format::Base16),
                git_id(repo.path(), &p),
                "{algo} {sub}"
            );
        }
    }
}

#[test]
fn chunking_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    odd_tree(dir.path());
    let expected = oracle()[&("odd".to_owned(), Algorithm::Sha1)].clone();
    for chunk in [1, 2, 3, 64, 1 << 20] {
        let mut git = GitHasher::new(Algorithm::Sha1);
        emit(dir.path(), None, chunk, &mut git).unwrap();
        assert_eq!(git.finish().unwrap().encode(Format::Base16), expected);
    }
}

#[test]
fn root_files_and_symlinks_match_nix() {
    // Nix gives a file, an executable and a symlink with the same bytes the same id; a symlink
    // root is the blob of its target text.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("file"), b"Hello World!\n", false);
    write_file(&d.join("exe"), b"Hello World!\n", true);
    symlink("file", d.join("link")).unwrap();
    write_file(&d.join("empty"), b"", false);
    std::fs::create_dir(d.join("dir")).unwrap();
    let oracle = oracle();
    for (name, what) in [
        ("file", "file-root"),
        ("exe", "exe-root"),
        ("link", "link-root"),
        ("empty", "empty-root"),
        ("dir", "emptydir-root"),
    ] {
        for algo in [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha256] {
            assert_eq!(
                hash_dir(&d.join(name), algo).encode(Format::Base16),
                oracle[&(what.to_owned(), algo)],
                "{name} {algo}"
            );
        }
        for algo in [Algorithm::Sha1, Algorithm::Sha256] {
            let repo = repo(algo);
            assert_eq!(
                hash_dir(&d.join(name), algo).encode(Format::Base16),
                git_id(repo.path(), &d.join(name)),
                "{name} {algo}"
            );
        }
    }
    // `blob_id` agrees with git hash-object, and with the streaming hasher.
    let repo = repo(Algorithm::Sha256);
    assert_eq!(
        blob_id(Algorithm::Sha256, b"Hello World!\n").encode(Format::Base16),
        trim(git(
            repo.path(),
            &["hash-object", "--stdin"],
            b"Hello World!\n"
        ))
    );
}

#[test]
fn strict_root_refuses_what_nix_conflates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("exe"), b"x", true);
    symlink("x", d.join("link")).unwrap();
    write_file(&d.join("file"), b"x", false);
    for name in ["exe", "link"] {
        let mut git = GitHasher::new(Algorithm::Sha1).strict_root(true);
        let err = emit(&d.join(name), None, 5, &mut git).unwrap_err();
        assert!(matches!(err, SinkError::Unsupported(_)), "{name}: {err:?}");
        assert!(git.finish().is_err());
    }
    let mut git = GitHasher::new(Algorithm::Sha1).strict_root(true);
    emit(&d.join("file"), None, 5, &mut git).unwrap();
    let repo = repo(Algorithm::Sha1);
    assert_eq!(
        git.finish().unwrap().encode(Format::Base16),
        git_id(repo.path(), &d.join("file"))
    );
}

#[test]
fn size_mismatch_and_broken_streams_fail() {
    let mut git = GitHasher::new(Algorithm::Sha256);
    git.event(Event::DirectoryStart { name: None }).unwrap();
    git.event(Event::FileStart {
        name: Some(b"f"),
        executable: false,
        size: 10,
    })
    .unwrap();
    git.event(Event::FileData(b"short")).unwrap();
    assert!(matches!(
        git.event(Event::FileEnd),
        Err(SinkError::SizeMismatch {
            declared: 10,
            actual: 5
        })
    ));
    assert!(git.finish().is_err());

    let mut git = GitHasher::new(Algorithm::Sha256);
    git.event(Event::DirectoryStart { name: None }).unwrap();
    git.event(Event::Symlink {
        name: Some(b"b"),
        target: b"x",
    })
    .unwrap();
    assert!(matches!(
        git.event(Event::Symlink {
            name: Some(b"a"),
            target: b"x",
        }),
        Err(SinkError::Protocol(_))
    ));
}

#[test]
fn sha1_collision_detection_does_not_misfire_on_blobs() {
    // The SHAttered PDFs collide as raw bytes, not as git blobs (the header moves the colliding
    // blocks): git (which detects collisions) and Nix both hash them; so must we, with
    // detection on or off.
    let oracle = oracle();
    for n in [1, 2] {
        let path = format!(
            "{}/tests/data/shattered-{n}.pdf",
            env!("CARGO_MANIFEST_DIR")
        );
        for detect in [true, false] {
            let mut git = GitHasher::new(Algorithm::Sha1).collision_detection(detect);
            emit(Path::new(&path), None, 8192, &mut git).unwrap();
            assert_eq!(
                git.finish().unwrap().encode(Format::Base16),
                oracle[&(format!("shattered-{n}-git"), Algorithm::Sha1)]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The objects handed to an ObjectSink are git's.

#[derive(Default)]
struct Collect {
    blobs: Vec<(Hash, Vec<u8>)>,
    trees: Vec<(Hash, Vec<u8>)>,
    current: Option<(u64, Vec<u8>)>,
}

impl ObjectSink for Collect {
    fn begin_blob(&mut self, size: u64) -> Result<(), SinkError> {
        assert!(self.current.is_none());
        self.current = Some((size, Vec::new()));
        Ok(())
    }
    fn blob_data(&mut self, data: &[u8]) -> Result<(), SinkError> {
        self.current.as_mut().unwrap().1.extend_from_slice(data);
        Ok(())
    }
    fn end_blob(&mut self, id: &Hash) -> Result<(), SinkError> {
        let (size, data) = self.current.take().unwrap();
        assert_eq!(size, data.len() as u64);
        self.blobs.push((*id, data));
        Ok(())
    }
    fn tree(&mut self, id: &Hash, body: &[u8]) -> Result<(), SinkError> {
        self.trees.push((*id, body.to_vec()));
        Ok(())
    }
}

#[test]
fn object_sink_sees_gits_objects() {
    let dir = tempfile::tempdir().unwrap();
    odd_tree(dir.path());
    for algo in [Algorithm::Sha1, Algorithm::Sha256] {
        let repo = repo(algo);
        let mut hasher = GitHasher::with_objects(algo, Collect::default());
        emit(dir.path(), None, 3, &mut hasher).unwrap();
        let (root, objects) = hasher.finish_with_objects().unwrap();
        // 10 files + 2 symlinks; 7 directories, the root last.
        assert_eq!(objects.blobs.len(), 12);
        assert_eq!(objects.trees.len(), 7);
        assert_eq!(objects.trees.last().unwrap().0, root);
        for (id, data) in &objects.blobs {
            let out = git(repo.path(), &["hash-object", "-w", "--stdin"], data);
            assert_eq!(id.encode(Format::Base16), trim(out));
        }
        // Children come first, so each tree's entries exist when git checks it (hash-object
        // -t tree runs git's fsck checks on the body: order, names, modes).
        for (id, body) in &objects.trees {
            let out = git(
                repo.path(),
                &["hash-object", "-t", "tree", "-w", "--stdin"],
                body,
            );
            assert_eq!(id.encode(Format::Base16), trim(out));
        }
        assert_eq!(root.encode(Format::Base16), git_id(repo.path(), dir.path()));
    }
}

#[test]
fn wide_directory_matches_git() {
    // 50,000 entries of every mode, named so that many directories sort out of byte order.
    let algo = Algorithm::Sha1;
    let file = blob_id(algo, b"");
    let mut git = GitHasher::new(algo).collision_detection(false);
    git.event(Event::DirectoryStart { name: None }).unwrap();
    let mut names: Vec<Vec<u8>> = (0..12_500u32)
        .flat_map(|i| {
            let base = format!("n{i}");
            [
                base.clone(),
                format!("{base}-"),
                format!("{base}.x"),
                format!("{base}~"),
            ]
        })
        .map(String::into_bytes)
        .collect();
    names.sort();
    let mut mktree = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (mode, kind) = match i % 4 {
            0 => {
                git.event(Event::DirectoryStart { name: Some(name) })
                    .unwrap();
                git.event(Event::DirectoryEnd).unwrap();
                ("040000", "tree")
            }
            1 => {
                git.event(Event::FileStart {
                    name: Some(name),
                    executable: true,
                    size: 0,
                })
                .unwrap();
                git.event(Event::FileEnd).unwrap();
                ("100755", "blob")
            }
            2 => {
                git.event(Event::Symlink {
                    name: Some(name),
                    target: b"",
                })
                .unwrap();
                ("120000", "blob")
            }
            _ => {
                git.event(Event::FileStart {
                    name: Some(name),
                    executable: false,
                    size: 0,
                })
                .unwrap();
                git.event(Event::FileEnd).unwrap();
                ("100644", "blob")
            }
        };
        let id = if kind == "tree" {
            tree_id(algo, &mut [])
        } else {
            file
        };
        mktree
            .extend_from_slice(format!("{mode} {kind} {}\t", id.encode(Format::Base16)).as_bytes());
        mktree.extend_from_slice(name);
        mktree.push(0);
    }
    git.event(Event::DirectoryEnd).unwrap();
    let repo = repo(algo);
    assert_eq!(
        git.finish().unwrap().encode(Format::Base16),
        trim(self::git(
            repo.path(),
            &["mktree", "-z", "--missing"],
            &mktree
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Against gitoxide, on generated entry lists and trees.

fn gix_kind(algo: Algorithm) -> gix_hash::Kind {
    match algo {
        Algorithm::Sha1 => gix_hash::Kind::Sha1,
        Algorithm::Sha256 => gix_hash::Kind::Sha256,
        _ => unreachable!(),
    }
}

fn gix_mode(mode: Mode) -> gix_object::tree::EntryMode {
    match mode {
        Mode::File => gix_object::tree::EntryKind::Blob,
        Mode::Executable => gix_object::tree::EntryKind::BlobExecutable,
        Mode::Symlink => gix_object::tree::EntryKind::Link,
        Mode::Directory => gix_object::tree::EntryKind::Tree,
    }
    .into()
}

fn gix_encode(entries: &[TreeEntry]) -> Vec<u8> {
    use gix_object::WriteTo;
    let mut tree = gix_object::Tree {
        entries: entries
            .iter()
            .map(|e| gix_object::tree::Entry {
                mode: gix_mode(e.mode),
                filename: e.name.clone().into(),
                oid: gix_hash::ObjectId::from_bytes_or_panic(e.id.as_bytes()),
            })
            .collect(),
    };
    tree.entries.sort();
    let mut out = Vec::new();
    tree.write_to(&mut out).unwrap();
    out
}

/// Names that share prefixes and straddle '/': the bytes around it, a space, non-UTF-8.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b'-', b'.', b'0', b'=', b' ', 0x7f, 0xff]),
        1..4,
    )
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn mode() -> impl Strategy<Value = Mode> {
    prop::sample::select(vec![
        Mode::File,
        Mode::Executable,
        Mode::Symlink,
        Mode::Directory,
    ])
}

fn algo() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(vec![Algorithm::Sha1, Algorithm::Sha256])
}

fn entries() -> impl Strategy<Value = (Algorithm, Vec<TreeEntry>)> {
    (
        algo(),
        prop::collection::btree_map(name(), (mode(), any::<[u8; 32]>()), 0..24),
    )
        .prop_map(|(algo, map)| {
            let entries = map
                .into_iter()
                .map(|(name, (mode, id))| TreeEntry {
                    mode,
                    name,
                    id: Hash::from_bytes(algo, &id[..algo.len()]).unwrap(),
                })
                .collect();
            (algo, entries)
        })
}

/// A generated file system object.
#[derive(Debug, Clone)]
enum Node {
    File(bool, Vec<u8>),
    Link(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Node>),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(x, d)| Node::File(x, d)),
        prop::collection::vec(any::<u8>(), 0..10).prop_map(Node::Link),
    ];
    leaf.prop_recursive(5, 48, 8, |inner| {
        prop::collection::btree_map(name(), inner, 0..8).prop_map(Node::Dir)
    })
}

fn emit_node(node: &Node, name: Option<&[u8]>, sink: &mut dyn Sink) -> Result<(), SinkError> {
    match node {
        Node::File(executable, data) => {
            sink.event(Event::FileStart {
                name,
                executable: *executable,
                size: data.len() as u64,
            })?;
            for c in data.chunks(7) {
                sink.event(Event::FileData(c))?;
            }
            sink.event(Event::FileEnd)
        }
        Node::Link(target) => sink.event(Event::Symlink { name, target }),
        Node::Dir(children) => {
            sink.event(Event::DirectoryStart { name })?;
            for (n, child) in children {
                emit_node(child, Some(n), sink)?;
            }
            sink.event(Event::DirectoryEnd)
        }
    }
}

/// The id gitoxide gives `node` (recursively; its mode is the caller's business).
fn gix_id(algo: Algorithm, node: &Node) -> gix_hash::ObjectId {
    let kind = gix_kind(algo);
    match node {
        Node::File(_, data) => gix_object::compute_hash(kind, gix_object::Kind::Blob, data),
        Node::Link(target) => gix_object::compute_hash(kind, gix_object::Kind::Blob, target),
        Node::Dir(children) => {
            let entries: Vec<TreeEntry> = children
                .iter()
                .map(|(name, child)| TreeEntry {
                    mode: match child {
                        Node::File(false, _) => Mode::File,
                        Node::File(true, _) => Mode::Executable,
                        Node::Link(_) => Mode::Symlink,
                        Node::Dir(_) => Mode::Directory,
                    },
                    name: name.clone(),
                    id: Hash::from_bytes(algo, gix_id(algo, child).as_bytes()).unwrap(),
                })
                .collect();
            gix_object::compute_hash(kind, gix_object::Kind::Tree, &gix_encode(&entries))
        }
    }
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tree_encoding_matches_gitoxide((algo, mut entries) in entries()) {
        let expected = gix_encode(&entries);
        let body = encode_tree(&mut entries);
        prop_assert_eq!(&body, &expected);
        // Sorted in place into git order.
        for pair in entries.windows(2) {
            prop_assert!(tree_order(
                &pair[0].name, pair[0].mode.is_directory(),
                &pair[1].name, pair[1].mode.is_directory(),
            ).is_lt());
        }
        let id = gix_object::compute_hash(gix_kind(algo), gix_object::Kind::Tree, &expected).unwrap();
        let ours = tree_id(algo, &mut entries);
        prop_assert_eq!(ours.as_bytes(), id.as_bytes());
    }

    #[test]
    fn streamed_ids_match_gitoxide(algo in algo(), node in node()) {
        let mut git = GitHasher::new(algo);
        emit_node(&node, None, &mut git).unwrap();
        let id = git.finish().unwrap();
        let theirs = gix_id(algo, &node);
        prop_assert_eq!(id.as_bytes(), theirs.as_bytes());
    }

    #[test]
    fn blob_ids_match_gitoxide(algo in algo(), data in prop::collection::vec(any::<u8>(), 0..300)) {
        let id = gix_object::compute_hash(gix_kind(algo), gix_object::Kind::Blob, &data).unwrap();
        let ours = blob_id(algo, &data);
        prop_assert_eq!(ours.as_bytes(), id.as_bytes());
        let header = ObjectKind::Blob.header(data.len() as u64);
        let expected = format!("blob {}\0", data.len());
        prop_assert_eq!(header.as_bytes(), expected.as_bytes());
    }
}

#[test]
fn streamed_md5_and_sha512_follow_the_same_encoding() {
    // Nix computes git ids with any algorithm; check against a reference built from the same
    // encoding on another generated tree (the oracle facts above pin md5 and sha512 to Nix).
    let dir = tempfile::tempdir().unwrap();
    odd_tree(dir.path());
    let mut file = Vec::new();
    std::fs::File::open(dir.path().join("a-"))
        .unwrap()
        .read_to_end(&mut file)
        .unwrap();
    for algo in [Algorithm::Md5, Algorithm::Sha512] {
        assert_eq!(hash_dir(&dir.path().join("a-"), algo), blob_id(algo, &file));
        let mut entries = vec![
            TreeEntry {
                mode: Mode::Directory,
                name: b"e".to_vec(),
                id: tree_id(algo, &mut []),
            },
            TreeEntry {
                mode: Mode::Executable,
                name: b"f".to_vec(),
                id: blob_id(algo, b""),
            },
        ];
        assert_eq!(
            hash_dir(&dir.path().join("c/d"), algo),
            tree_id(algo, &mut entries)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding: `TreeRefIter` and `ObjectHeader::parse` against what real git writes and lists.

/// A tree written by real `git mktree` (files, an executable, a symlink, a subtree, a submodule,
/// names that sort differently as directories) decodes to exactly what `git ls-tree` lists, and
/// `git cat-file` headers parse to git's kind and size.
#[test]
fn tree_decoder_reads_what_git_lists() {
    use nix_ingest::git::{ObjectHeader, TreeRefIter};
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
        let dir = repo(algorithm);
        let blob =
            String::from_utf8(git(dir.path(), &["hash-object", "-w", "--stdin"], b"x\n")).unwrap();
        let blob = blob.trim();
        let empty = String::from_utf8(git(dir.path(), &["mktree"], b"")).unwrap();
        let empty = empty.trim();
        // A gitlink may name any commit id; git does not need it to exist.
        let commit = "1".repeat(algorithm.len() * 2);
        let listing = format!(
            "100644 blob {blob}\ta.b\n040000 tree {empty}\ta\n100755 blob {blob}\ta0\n\
             120000 blob {blob}\tlink\n160000 commit {commit}\tsub\n100644 blob {blob}\t\u{e9}\n"
        );
        let tree = String::from_utf8(git(dir.path(), &["mktree"], listing.as_bytes())).unwrap();
        let tree = tree.trim();
        let body = git(dir.path(), &["cat-file", "tree", tree], b"");
        let ls = String::from_utf8(git(
            dir.path(),
            &["ls-tree", "--full-tree", "-z", tree],
            b"",
        ))
        .unwrap();
        let expected: Vec<(String, String, String)> = ls
            .split('\0')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (meta, name) = l.split_once('\t').unwrap();
                let mut f = meta.split(' ');
                let mode = f.next().unwrap().trim_start_matches('0').to_owned();
                let _kind = f.next();
                (mode, name.to_owned(), f.next().unwrap().to_owned())
            })
            .collect();
        let decoded: Vec<(String, String, String)> = TreeRefIter::new(&body, algorithm)
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8(e.mode.to_vec()).unwrap(),
                    String::from_utf8(e.name.to_vec()).unwrap(),
                    Hash::from_bytes(algorithm, e.id)
                        .unwrap()
                        .encode(Format::Base16),
                )
            })
            .collect();
        assert_eq!(decoded, expected, "{algorithm}");
        let subs: Vec<bool> = TreeRefIter::new(&body, algorithm)
            .map(|e| e.unwrap().is_submodule())
            .collect();
        assert_eq!(subs, [false, false, false, false, true, false]);

        for (id, kind) in [(blob, "blob"), (tree, "tree")] {
            let size: u64 = git_cli::git_text(dir.path(), &["cat-file", "-s", id])
                .parse()
                .unwrap();
            let mut header = format!("{kind} {size}\0").into_bytes();
            header.extend_from_slice(b"body");
            let (parsed, parsed_size, len) = ObjectHeader::parse(&header).unwrap();
            assert_eq!(
                (parsed.name(), parsed_size, len),
                (kind, size, header.len() - 4)
            );
        }
    }
}

/// Bodies git's fsck refuses as malformed trees are refused with the offset of the bad entry.
#[test]
fn tree_decoder_refuses_malformed_bodies() {
    use nix_ingest::git::{TreeErrorKind, TreeRefIter};
    let id = [7u8; 20];
    let entry = |mode: &str, name: &str| {
        let mut e = format!("{mode} {name}\0").into_bytes();
        e.extend_from_slice(&id);
        e
    };
    let cases: Vec<(Vec<u8>, usize, TreeErrorKind)> = vec![
        (
            [entry("100644", "b"), entry("100644", "a")].concat(),
            29,
            TreeErrorKind::OutOfOrder,
        ),
        (
            [entry("100644", "a"), entry("100644", "a")].concat(),
            29,
            TreeErrorKind::OutOfOrder,
        ),
        // A directory `a` sorts after the file `a.b`.
        (
            [entry("40000", "a"), entry("100644", "a.b")].concat(),
            28,
            TreeErrorKind::OutOfOrder,
        ),
        (entry("100644", ".."), 7, TreeErrorKind::BadName),
        (entry("100644", ""), 7, TreeErrorKind::BadName),
        (entry("1006440", "a"), 0, TreeErrorKind::BadMode),
        (entry("10064x", "a"), 0, TreeErrorKind::BadMode),
        (b"100644 a".to_vec(), 7, TreeErrorKind::UnterminatedName),
        (
            entry("100644", "a")[..20].to_vec(),
            9,
            TreeErrorKind::TruncatedId,
        ),
    ];
    for (body, offset, reason) in cases {
        let errors: Vec<_> = TreeRefIter::new(&body, Algorithm::Sha1)
            .filter_map(Result::err)
            .collect();
        assert_eq!(errors.len(), 1, "{:?}", body.escape_ascii().to_string());
        assert_eq!((errors[0].offset, errors[0].reason), (offset, reason));
    }
}

proptest! {
    /// Decoding what `encode_tree` wrote gives back its entries, in git order.
    #[test]
    fn tree_decoder_inverts_the_encoder(
        names in proptest::collection::btree_set("[a-c.]{1,3}", 0..8),
        dirs in proptest::collection::vec(any::<bool>(), 8),
    ) {
        use nix_ingest::git::TreeRefIter;
        let names: Vec<String> = names.into_iter().filter(|n| n != "." && n != "..").collect();
        let mut entries: Vec<TreeEntry> = names
            .iter()
            .zip(&dirs)
            .map(|(n, &d)| TreeEntry {
                mode: if d { Mode::Directory } else { Mode::File },
                name: n.as_bytes().to_vec(),
                id: blob_id(Algorithm::Sha1, n.as_bytes()),
            })
            .collect();
        let body = encode_tree(&mut entries);
        let decoded: Vec<TreeEntry> = TreeRefIter::new(&body, Algorithm::Sha1)
            .map(|e| {
                let e = e.unwrap();
                TreeEntry {
                    mode: e.known_mode().unwrap(),
                    name: e.name.to_vec(),
                    id: Hash::from_bytes(Algorithm::Sha1, e.id).unwrap(),
                }
            })
            .collect();
        prop_assert_eq!(decoded, entries);
    }
}

/// `git::names::fsck_name` says what `git fsck --strict` says of a tree holding one entry of
/// each name and mode: rejected (or warned about) exactly when flagged.
#[test]
fn fsck_names_agree_with_git_fsck() {
    use nix_ingest::git::names::fsck_name;
    let names = [
        ".git",
        ".GIT",
        ".Git",
        ".git.",
        ".git ",
        ".git. .",
        ".git:x",
        "git~1",
        "GIT~1 ",
        "git~2",
        ".g\u{200c}it",
        "\u{feff}.git",
        ".gitx",
        "x.git",
        "..git",
        ".gi",
        "git",
        ".gitmodules",
        ".GITMODULES",
        ".gitmodules.",
        "gitmod~1",
        "gitmod~5",
        "gi7eba~9",
        ".gitattributes",
        "gitatt~1",
        "gi7d29~1",
        ".gitignore",
        ".GITIGNORE",
        "gi250a~1",
        ".mailmap",
        "maba30~2",
        "mailma~1",
        ".gitmodulesx",
        "a",
    ];
    for name in names {
        for mode in [Mode::File, Mode::Symlink, Mode::Directory] {
            let dir = repo(Algorithm::Sha1);
            let (kind, id) = if mode == Mode::Directory {
                ("tree", trim(git(dir.path(), &["mktree"], b"")))
            } else {
                (
                    "blob",
                    trim(git(dir.path(), &["hash-object", "-w", "--stdin"], b"")),
                )
            };
            let line = format!(
                "{} {kind} {id}\t{name}\n",
                String::from_utf8_lossy(mode.as_bytes())
            );
            git(dir.path(), &["mktree"], line.as_bytes());
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["fsck", "--strict"])
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            let flagged = said.contains("error in tree") || said.contains("warning in tree");
            assert_eq!(
                fsck_name(name.as_bytes(), mode).is_some(),
                flagged,
                "{name:?} as {mode}: git fsck says {said:?}"
            );
        }
    }
}
