//! Throughput of nix-ingest's hot paths.
//!
//! ```sh
//! cargo bench --features parallel                    # everything (a few minutes)
//! cargo bench --features parallel -- blob/           # one group
//! cargo bench -- --sample-size 10 --measurement-time 1
//! ```
//!
//! Groups:
//! - `blob/*`: a git blob id over 16 B … 64 MiB, SHA-1 with and without collision detection and
//!   SHA-256, next to a raw SHA-1 of the same bytes;
//! - `nar/*`: a NAR parsed into a sink that does nothing, into a git SHA-1 hasher, and a raw
//!   SHA-1 over the same NAR bytes (the ceiling for NAR → git);
//! - `dir/*`: a directory → git SHA-1 for three shapes of tree (many small files, a few large
//!   files, a deep tree), walked sequentially and, with the `parallel` feature, on every core;
//! - `tree/*`: git tree encoding, in entries per second.
//!
//! Inputs are generated once per group in a temporary directory; directory benchmarks read from
//! a warm page cache (the first, warm-up iterations fill it).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use nix_ingest::Limits;
use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::fs;
use nix_ingest::git::{self, GitHasher, Mode, ObjectKind, TreeEntry};
use nix_ingest::hash::{Algorithm, Hash, Hasher};
use nix_ingest::nar::{self, NarWriter};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Deterministic, incompressible-looking bytes (xorshift64*).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= MIB => format!("{}MiB", s / MIB),
        s if s >= KIB => format!("{}KiB", s / KIB),
        s => format!("{s}B"),
    }
}

/// A git blob id with an explicit collision-detection choice (`git::blob_id` never detects).
fn blob_id_checked(algorithm: Algorithm, data: &[u8]) -> Hash {
    let mut hasher = git::object_hasher(algorithm, ObjectKind::Blob, data.len() as u64, true);
    hasher.update(data);
    hasher
        .finalize()
        .expect("generated data is no SHA-1 collision")
}

fn raw(algorithm: Algorithm, data: &[u8]) -> Hash {
    let mut hasher = Hasher::new_unchecked(algorithm);
    hasher.update(data);
    hasher.finalize().expect("an unchecked hasher cannot fail")
}

fn blob(c: &mut Criterion) {
    let mut group = c.benchmark_group("blob");
    for size in [16, KIB, 64 * KIB, MIB, 64 * MIB] {
        let data = bytes(size, size as u64);
        group.throughput(Throughput::Bytes(size as u64));
        let label = size_label(size);
        group.bench_with_input(BenchmarkId::new("git-sha1", &label), &data, |b, d| {
            b.iter(|| git::blob_id(Algorithm::Sha1, black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("git-sha1-dc", &label), &data, |b, d| {
            b.iter(|| blob_id_checked(Algorithm::Sha1, black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("git-sha256", &label), &data, |b, d| {
            b.iter(|| git::blob_id(Algorithm::Sha256, black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("raw-sha1", &label), &data, |b, d| {
            b.iter(|| raw(Algorithm::Sha1, black_box(d)))
        });
    }
    group.finish();
}

/// A sink that accepts every event and does nothing: the parser's own cost.
struct NullSink;

impl Sink for NullSink {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        black_box(event);
        Ok(())
    }
}

/// The chunk size NAR input arrives in (as from a socket or a file read).
const NAR_CHUNK: usize = 64 * KIB;

fn push_nar<S: Sink>(nar_bytes: &[u8], sink: &mut S) -> u64 {
    let mut parser = nar::Parser::new(Limits::default());
    for chunk in nar_bytes.chunks(NAR_CHUNK) {
        parser.push(chunk, sink).expect("a valid NAR");
    }
    parser.finish().expect("a complete NAR")
}

fn nar_of(path: &Path) -> Vec<u8> {
    let mut writer = NarWriter::new(Vec::new());
    fs::dump(path, &mut writer, &nix_ingest::Settings::default()).expect("dump the generated tree");
    writer.finish().expect("a complete NAR")
}

fn nar(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let small = dir.path().join("small");
    many_small_files(&small, 20, 100);
    let large = dir.path().join("large");
    std::fs::write(&large, bytes(64 * MIB, 7)).expect("write the large file");
    let inputs = [
        ("small-files", nar_of(&small)),
        ("64MiB-file", nar_of(&large)),
    ];
    drop(dir);

    let mut group = c.benchmark_group("nar");
    for (label, nar_bytes) in &inputs {
        group.throughput(Throughput::Bytes(nar_bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", label), nar_bytes, |b, n| {
            b.iter(|| push_nar(black_box(n), &mut NullSink))
        });
        group.bench_with_input(BenchmarkId::new("to-git-sha1", label), nar_bytes, |b, n| {
            b.iter(|| {
                let mut git = GitHasher::new(Algorithm::Sha1).collision_detection(false);
                push_nar(black_box(n), &mut git);
                git.finish().expect("a git id")
            })
        });
        group.bench_with_input(
            BenchmarkId::new("to-git-sha1-dc", label),
            nar_bytes,
            |b, n| {
                b.iter(|| {
                    let mut git = GitHasher::new(Algorithm::Sha1);
                    push_nar(black_box(n), &mut git);
                    git.finish().expect("a git id")
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("raw-sha1", label), nar_bytes, |b, n| {
            b.iter(|| raw(Algorithm::Sha1, black_box(n)))
        });
    }
    group.finish();
}

/// `dirs` directories of `files` files each, 64 B … ~4 KiB.
fn many_small_files(root: &Path, dirs: usize, files: usize) -> (u64, u64) {
    let mut total = 0u64;
    for d in 0..dirs {
        let sub = root.join(format!("d{d:04}"));
        std::fs::create_dir_all(&sub).expect("create a directory");
        for f in 0..files {
            let size = 64 + (d * 7919 + f * 104_729) % (4 * KIB);
            total += size as u64;
            let name = sub.join(format!("f{f:05}"));
            std::fs::write(name, bytes(size, (d * files + f) as u64)).expect("write a file");
        }
    }
    ((dirs * files) as u64, total)
}

fn few_large_files(root: &Path, count: usize, size: usize) -> (u64, u64) {
    std::fs::create_dir_all(root).expect("create a directory");
    for i in 0..count {
        std::fs::write(root.join(format!("large{i}")), bytes(size, i as u64 + 1))
            .expect("write a file");
    }
    (count as u64, (count * size) as u64)
}

/// A chain of `depth` directories, each with `files` small files and a symlink.
fn deep_tree(root: &Path, depth: usize, files: usize) -> (u64, u64) {
    let mut dir = root.to_path_buf();
    let mut total = 0u64;
    for level in 0..depth {
        std::fs::create_dir_all(&dir).expect("create a directory");
        for f in 0..files {
            let size = 100 + (level * 31 + f * 17) % 900;
            total += size as u64;
            std::fs::write(
                dir.join(format!("file{f}")),
                bytes(size, (level * files + f) as u64),
            )
            .expect("write a file");
        }
        std::os::unix::fs::symlink("file0", dir.join("link")).expect("create a symlink");
        dir = dir.join("sub");
    }
    ((depth * (files + 1)) as u64, total)
}

fn git_sequential(path: &Path, detect: bool) -> Hash {
    let mut git = GitHasher::new(Algorithm::Sha1).collision_detection(detect);
    fs::dump(path, &mut git, &nix_ingest::Settings::default()).expect("walk the tree");
    git.finish().expect("a git id")
}

#[cfg(feature = "parallel")]
fn git_parallel(path: &Path, threads: usize, detect: bool) -> Hash {
    let options = nix_ingest::Options::new()
        .threads(threads)
        .collision_detection(detect);
    options
        .hash_path(
            path,
            nix_ingest::Want::new(nix_ingest::FileIngestionMethod::Git, Algorithm::Sha1),
        )
        .expect("walk the tree")
}

fn dir(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let trees: Vec<(&str, PathBuf, Throughput)> = {
        let small = tmp.path().join("small-files");
        let (n, _) = many_small_files(&small, 50, 200);
        let large = tmp.path().join("large-files");
        let (_, bytes) = few_large_files(&large, 4, 32 * MIB);
        let deep = tmp.path().join("deep");
        let (m, _) = deep_tree(&deep, 500, 4);
        vec![
            ("small-files-10k", small, Throughput::Elements(n)),
            ("large-files-4x32MiB", large, Throughput::Bytes(bytes)),
            ("deep-500", deep, Throughput::Elements(m)),
        ]
    };

    let mut group = c.benchmark_group("dir");
    for (label, path, throughput) in &trees {
        group.throughput(throughput.clone());
        group.bench_with_input(BenchmarkId::new("git-sha1-seq", label), path, |b, p| {
            b.iter(|| git_sequential(p, false))
        });
        group.bench_with_input(BenchmarkId::new("git-sha1-dc-seq", label), path, |b, p| {
            b.iter(|| git_sequential(p, true))
        });
        #[cfg(feature = "parallel")]
        {
            group.bench_with_input(BenchmarkId::new("git-sha1-par1", label), path, |b, p| {
                b.iter(|| git_parallel(p, 1, false))
            });
            group.bench_with_input(BenchmarkId::new("git-sha1-par", label), path, |b, p| {
                b.iter(|| git_parallel(p, 0, false))
            });
            group.bench_with_input(BenchmarkId::new("git-sha1-dc-par", label), path, |b, p| {
                b.iter(|| git_parallel(p, 0, true))
            });
        }
    }
    group.finish();
    drop(tmp);
}

/// `n` entries, in the byte order a directory walk delivers them: files, executables,
/// symlinks and directories (some of whose names are prefixes of others, which git orders
/// differently).
fn tree_entries(n: usize) -> Vec<TreeEntry> {
    let id = git::blob_id(Algorithm::Sha1, b"");
    let mut entries: Vec<TreeEntry> = (0..n)
        .map(|i| TreeEntry {
            mode: match i % 10 {
                0 => Mode::Directory,
                1 => Mode::Executable,
                2 => Mode::Symlink,
                _ => Mode::File,
            },
            name: format!("entry-{i:06}{}", if i % 10 == 3 { ".c" } else { "" }).into_bytes(),
            id,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree");
    for n in [10, 100, 1000, 10_000] {
        let entries = tree_entries(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("encode", n), &entries, |b, e| {
            b.iter_batched(
                || e.clone(),
                |mut e| git::encode_tree(&mut e),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("id-sha1", n), &entries, |b, e| {
            b.iter_batched(
                || e.clone(),
                |mut e| git::tree_id(Algorithm::Sha1, &mut e),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Two shared cores: short runs, few samples; the command line can override each.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = blob, nar, dir, tree
}
criterion_main!(benches);
