//! `nix_path` against real Nix 2.26.3 and 2.34.8: what `nix hash path P` and `nix store add P`
//! answered for tricky paths P (tests/data/nix_path, made by its gen.sh on the same tree).
#![cfg(feature = "fs")]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use nix_ingest::Want;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nix_path::{self, NixPath};
use nix_ingest::store_path::{References, StoreDir};

/// The tree of gen.sh: `T/w` is the working directory.
fn make_tree(t: &Path) {
    let w = t.join("w");
    fs::create_dir_all(w.join("tree/bla")).unwrap();
    fs::create_dir_all(w.join("sub")).unwrap();
    fs::create_dir_all(w.join("other/deep")).unwrap();
    fs::write(w.join("tree/foo"), "Hello World!\n").unwrap();
    symlink("foo", w.join("tree/bar")).unwrap();
    fs::write(w.join("x"), "y\n").unwrap();
    fs::write(w.join("other/x"), "otherx\n").unwrap();
    fs::write(w.join("other/deep/x"), "deep\n").unwrap();
    symlink("tree", w.join("link")).unwrap();
    symlink("other/deep", w.join("ldeep")).unwrap();
    symlink("other/deep/x", w.join("lfile")).unwrap();
    symlink("nowhere", w.join("dangling")).unwrap();
}

fn show<E: std::fmt::Display>(r: Result<String, E>) -> String {
    r.unwrap_or_else(|_| "error".to_owned())
}

/// Our four answers for `p`, in the columns of gen.sh.
fn answers(w: &Path, p: &str, nix_2_26: bool) -> [String; 4] {
    let resolved = nix_path::resolve_in(w, Path::new(p));
    let hash = |r: &NixPath, method| {
        let path = r.path().map_err(|e| e.to_string())?;
        nix_ingest::Options::default()
            .hash_path(&path, Want::new(method, Algorithm::Sha256))
            .map_err(|e| e.to_string())
    };
    let hash_nar = hash(&resolved, FileIngestionMethod::Nar).map(|h| h.to_string());
    // `nix hash path --mode flat` reads the path through the operating system.
    let hash_flat = fs::read(resolved.flat_hash_path())
        .map(|bytes| Hash::digest(Algorithm::Sha256, &bytes).to_string());
    let store = StoreDir::default();
    let store_add = |method| {
        let r = &resolved;
        let name = if nix_2_26 {
            r.default_name_2_26()
        } else {
            r.default_name()
        }
        .map_err(|e| e.to_string())?;
        let hash = hash(r, method)?;
        let ca = ContentAddress::fixed(method, hash);
        let path = store
            .make_path_from_ca(&name, &ca, &References::default())
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(store.display_path(&path))
    };
    [
        show(hash_nar),
        show(hash_flat),
        show(store_add(FileIngestionMethod::Nar)),
        show(store_add(FileIngestionMethod::Flat)),
    ]
}

fn check(version: &str) {
    let golden = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/nix_path/{version}.txt")),
    )
    .unwrap();
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    let w = t.path().join("w");
    let mut rows = 0;
    for line in golden.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{line}");
        let ours = answers(&w, cols[0], version == "2.26");
        assert_eq!(ours, cols[1..], "Nix {version}, path {:?}", cols[0]);
        rows += 1;
    }
    assert!(rows >= 25);
}

#[test]
fn paths_as_nix_2_34_reads_them() {
    check("2.34");
}

#[test]
fn paths_as_nix_2_26_reads_them() {
    check("2.26");
}
