//! `Options::dump_nar` and `Options::unpack_nar`: dump → unpack → dump is byte-identical on random trees;
//! hostile archives are refused with a typed error and leave nothing behind; and (with
//! `NIX_INGEST_ORACLE=1`) unpacked trees equal what `nix-store --restore` of Nix 2.26.3 and
//! 2.34.8 makes, and every hostile archive Nix refuses is refused here too.
//!
//! ```sh
//! NIX_INGEST_ORACLE=1 cargo test --test nar_unpack -- --nocapture
//! ```
#![cfg(feature = "fs")]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix_ingest::nar::UnpackError;
use nix_ingest::{Limits, Options};
use proptest::prelude::*;

#[path = "support/nar.rs"]
mod nar_support;
use nar_support::Nar;

#[path = "differential/tree.rs"]
#[allow(dead_code)]
mod tree;

fn options() -> Options {
    Options::default()
}

/// The options that read NARs as Nix `version` does: Nix 2.26 has no NAR nesting limit.
fn options_for(version: &str) -> Options {
    match version {
        "2.26" => Options::new().limits(Limits::NIX_2_26),
        _ => options(),
    }
}

/// The NAR of `path`, however deep (Nix 2.26's limits).
fn dump(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let len = options_for("2.26").dump_nar(path, &mut bytes).unwrap();
    assert_eq!(len, bytes.len() as u64);
    bytes
}

/// What is on disk under `root`, symlinks not followed: one line per object, with its kind,
/// permission bits (not for symlinks) and contents or target.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_root_links(false)
        .sort_by_file_name()
    {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.file_type().is_symlink() {
            format!("symlink {:?}", fs::read_link(entry.path()).unwrap())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else {
            let data = fs::read(entry.path()).unwrap();
            format!(
                "file {mode:o} {} {:x?}",
                data.len(),
                &data[..data.len().min(64)]
            )
        };
        out.push(format!(
            "{:?} {what}",
            rel.as_os_str().as_bytes().escape_ascii().to_string()
        ));
    }
    out
}

/// Nothing but `keep` is left in `dir` (no staging directory, no half tree).
fn assert_only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, keep, "left in {}", dir.display());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn dump_unpack_dump_is_byte_identical(seed in any::<u64>(), index in 0usize..400) {
        let t = tempfile::tempdir().unwrap();
        let tree = tree::generate(seed, index);
        let root = tree.write(t.path()).unwrap();
        let bytes = dump(&root);
        let out = t.path().join("unpacked");
        let len = options_for("2.26").unpack_nar(&bytes[..], &out).unwrap();
        prop_assert_eq!(len, bytes.len() as u64);
        prop_assert_eq!(dump(&out), bytes);
    }
}

#[test]
fn golden_nars_unpack_and_dump_back() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nar");
    for name in ["t1", "t2", "file", "exec", "root-link", "empty"] {
        let bytes = fs::read(dir.join(format!("{name}.nar"))).unwrap();
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join(name);
        options().unpack_nar(&bytes[..], &out).unwrap();
        assert_eq!(dump(&out), bytes, "{name}");
        assert_only(t.path(), &[name]);
    }
}

/// Archives Nix's format forbids, or that fail part way: `(label, archive)`.
fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    let dir = || {
        let mut n = Nar::magic();
        n.dir_open();
        n
    };
    let one = |name: &[u8]| {
        let mut n = dir();
        n.entry(name).file(false, b"x").close().close();
        n.bytes
    };
    let mut cases = vec![
        ("bad magic", {
            let mut n = Nar::empty();
            n.s(b"nix-archive-2");
            n.file(false, b"");
            n.bytes
        }),
        ("name ..", one(b"..")),
        ("name .", one(b".")),
        ("name with slash", one(b"a/b")),
        ("empty name", one(b"")),
        ("name with NUL", one(b"a\0b")),
        ("unsorted entries", {
            let mut n = dir();
            n.entry(b"b").file(false, b"").close();
            n.entry(b"a").file(false, b"").close().close();
            n.bytes
        }),
        ("duplicate entries", {
            let mut n = dir();
            n.entry(b"a").file(false, b"").close();
            n.entry(b"a").symlink(b"x").close().close();
            n.bytes
        }),
        ("directory then file of the same name", {
            let mut n = dir();
            n.entry(b"a").dir_open().close().close();
            n.entry(b"a").file(false, b"").close().close();
            n.bytes
        }),
        ("empty symlink target", {
            let mut n = dir();
            n.entry(b"l").symlink(b"").close().close();
            n.bytes
        }),
        ("unknown type", {
            let mut n = dir();
            n.entry(b"f");
            n.ss(&[b"(", b"type", b"fifo", b")"]);
            n.close().close();
            n.bytes
        }),
        ("executable marker with a value", {
            let mut n = Nar::magic();
            n.ss(&[
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"yes",
                b"contents",
                b"",
                b")",
            ]);
            n.bytes
        }),
        ("file cut short after good entries", {
            let mut n = dir();
            n.entry(b"a").file(false, b"fine").close();
            n.entry(b"b").dir_open();
            n.entry(b"c");
            n.ss(&[b"(", b"type", b"regular", b"contents"]);
            n.len_field(100);
            n.raw(b"only a few bytes");
            n.bytes
        }),
        ("bad name deep inside after good entries", {
            let mut n = dir();
            n.entry(b"a").file(true, b"fine").close();
            n.entry(b"b").dir_open();
            n.entry(b"..")
                .symlink(b"/etc")
                .close()
                .close()
                .close()
                .close();
            n.bytes
        }),
        ("length u64::MAX", {
            let mut n = Nar::magic();
            n.ss(&[b"(", b"type", b"regular", b"contents"]);
            n.len_field(u64::MAX);
            n.bytes
        }),
        ("garbage", b"\x00\x01\x02 not an archive at all".to_vec()),
        ("empty input", Vec::new()),
    ];
    // Stricter than Nix (see the nar module docs): bytes after the archive, NUL in a target.
    cases.push(("trailing bytes", {
        let mut n = Nar::magic();
        n.file(false, b"x");
        n.raw(b"extra!!!");
        n.bytes
    }));
    cases.push(("NUL in a symlink target", {
        let mut n = Nar::magic();
        n.symlink(b"a\0b");
        n.bytes
    }));
    cases
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    for (label, bytes) in hostile() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let err = options().unpack_nar(&bytes[..], &out).unwrap_err();
        assert!(matches!(err, UnpackError::Nar(_)), "{label}: {err:?}");
        assert_only(t.path(), &[]);
        // The typed error names where in the archive.
        let UnpackError::Nar(inner) = err else {
            unreachable!()
        };
        assert!(inner.offset() <= bytes.len() as u64, "{label}");
    }
}

#[test]
fn nothing_existing_is_followed_or_replaced() {
    let nar_bytes =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nar/t1.nar")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let victim = t.path().join("victim");
    fs::create_dir(&victim).unwrap();
    // An existing empty directory, a symlink to a directory, a dangling symlink, a file.
    fs::create_dir(t.path().join("empty")).unwrap();
    symlink("victim", t.path().join("link")).unwrap();
    symlink("nowhere", t.path().join("dangling")).unwrap();
    fs::write(t.path().join("file"), "keep me").unwrap();
    for name in ["empty", "link", "dangling", "file", "victim"] {
        let err = options()
            .unpack_nar(&nar_bytes[..], t.path().join(name))
            .unwrap_err();
        assert!(
            matches!(err, UnpackError::TargetExists { .. }),
            "{name}: {err:?}"
        );
    }
    assert_only(t.path(), &["dangling", "empty", "file", "link", "victim"]);
    assert_only(&victim, &[]);
    assert_only(&t.path().join("empty"), &[]);
    assert_eq!(fs::read(t.path().join("file")).unwrap(), b"keep me");
    assert_eq!(
        fs::read_link(t.path().join("dangling")).unwrap(),
        Path::new("nowhere")
    );
    // Into a directory that does not exist: an I/O error naming the target, nothing created.
    let err = options()
        .unpack_nar(&nar_bytes[..], t.path().join("no/such/dir"))
        .unwrap_err();
    assert!(matches!(err, UnpackError::Io { .. }), "{err:?}");
    assert_only(t.path(), &["dangling", "empty", "file", "link", "victim"]);
}

#[test]
fn executable_bits_as_nix_sets_them() {
    let mut n = Nar::magic();
    n.dir_open();
    n.entry(b"exe").file(true, b"#!/bin/sh\n").close();
    n.entry(b"plain").file(false, b"text").close().close();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    options().unpack_nar(&n.bytes[..], &out).unwrap();
    let mode = |p: &str| fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o111;
    assert_eq!(mode("exe"), 0o111);
    assert_eq!(mode("plain"), 0);
}

// ---------------------------------------------------------------------------------------------
// Against real Nix (NIX_INGEST_ORACLE=1)
// ---------------------------------------------------------------------------------------------

/// The oracle's view of a host path under `/tmp`.
fn inside(host: &Path) -> String {
    let rest = host
        .strip_prefix("/tmp")
        .expect("oracle trees live under /tmp");
    format!("/host-tmp/{}", rest.display())
}

/// `nix-store --restore OUT < NAR` in the oracle of `version` for each `(NAR, OUT)`, in one
/// call: did each succeed?
fn nix_restore_all(version: &str, jobs: &[(PathBuf, PathBuf)]) -> Vec<bool> {
    let mut script = String::new();
    for (nar_file, out) in jobs {
        script.push_str(&format!(
            "if nix-store --restore '{}' < '{}' 2>/dev/null; then echo ok; else echo refused; fi\n",
            inside(out),
            inside(nar_file)
        ));
    }
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nix-oracle.sh"))
        .args(["run", "--nix", version, "sh", "-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/nix-oracle.sh runs");
    let answers: Vec<bool> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l == "ok")
        .collect();
    assert_eq!(answers.len(), jobs.len(), "one answer per archive");
    answers
}

/// A scratch directory under /tmp (the oracle sees /tmp).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nix-ingest-unpack.")
        .tempdir_in("/tmp")
        .unwrap()
}

#[test]
fn unpacked_trees_equal_nix_store_restore() {
    if !nix_ingest_test_support::oracle_or_skip("compare with nix-store --restore") {
        return;
    }
    let t = scratch();
    let mut nars: Vec<(String, PathBuf)> = Vec::new();
    for name in ["t1", "t2", "file", "exec", "root-link", "empty"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/nar/{name}.nar"));
        let copy = t.path().join(format!("{name}.nar"));
        fs::copy(p, &copy).unwrap();
        nars.push((name.to_owned(), copy));
    }
    let seed = 0x756e_7061_636b;
    for index in 0..16 {
        let tree = tree::generate(seed, index);
        let src = t.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let root = tree.write(&src).unwrap();
        let file = t.path().join(format!("tree{index}.nar"));
        fs::write(&file, dump(&root)).unwrap();
        fs::remove_dir_all(&src).unwrap();
        nars.push((format!("tree {index} ({})", tree.kind), file));
    }
    for version in ["2.26", "2.34"] {
        let jobs: Vec<(PathBuf, PathBuf)> = (0..nars.len())
            .map(|i| {
                (
                    nars[i].1.clone(),
                    t.path().join(format!("nix-{version}-{i}")),
                )
            })
            .collect();
        let nix_ok = nix_restore_all(version, &jobs);
        for (i, (label, file)) in nars.iter().enumerate() {
            let ours = t.path().join(format!("ours-{version}-{i}"));
            let bytes = fs::read(file).unwrap();
            let ok = options_for(version).unpack_nar(&bytes[..], &ours).is_ok();
            assert_eq!(
                ok, nix_ok[i],
                "Nix {version}, {label}: ours ok={ok}, Nix ok={}",
                nix_ok[i]
            );
            if ok {
                assert_eq!(
                    listing(&ours),
                    listing(&jobs[i].1),
                    "Nix {version}, {label}"
                );
            }
        }
        eprintln!("Nix {version}: {} archives restored alike", nars.len());
    }
}

#[test]
fn hostile_archives_nix_refuses_are_refused() {
    if !nix_ingest_test_support::oracle_or_skip("compare with nix-store --restore") {
        return;
    }
    let t = scratch();
    let cases = hostile();
    let mut jobs = Vec::new();
    for (i, (_, bytes)) in cases.iter().enumerate() {
        let file = t.path().join(format!("h{i}.nar"));
        fs::write(&file, bytes).unwrap();
        jobs.push((file, PathBuf::new()));
    }
    for version in ["2.26", "2.34"] {
        for (i, job) in jobs.iter_mut().enumerate() {
            job.1 = t.path().join(format!("nix-{version}-{i}"));
        }
        let nix_ok = nix_restore_all(version, &jobs);
        for (i, (label, bytes)) in cases.iter().enumerate() {
            let ours = options_for(version)
                .unpack_nar(&bytes[..], t.path().join(format!("ours-{version}-{i}")));
            let verdict = if nix_ok[i] { "accepts" } else { "refuses" };
            eprintln!("Nix {version}: {label}: Nix {verdict}");
            if !nix_ok[i] {
                assert!(ours.is_err(), "Nix {version} refuses {label}, we accept it");
            }
            assert!(ours.is_err(), "{label} is refused here");
        }
    }
}
