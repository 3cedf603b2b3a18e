//! `path_info` against the binary caches real Nix 2.26.3 and 2.34.8 wrote
//! (tests/data/narinfo): from the NARs Nix wrote, and from the same objects on disk, one pass
//! gives the narinfo Nix wrote, byte for byte.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix_ingest::Options;
use nix_ingest::Want;
use nix_ingest::content_address::ContentAddressMethod;
use nix_ingest::hash::Algorithm;
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::path_info::Request;
use nix_ingest::store_path::{References, StoreDir};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/narinfo")
}

/// Every narinfo of the uncompressed caches, with its NAR.
fn golden() -> Vec<(String, NarInfo, Vec<u8>)> {
    let mut out = Vec::new();
    for version in ["2.26", "2.34"] {
        let dir = data().join(version).join("cache-none");
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
            .collect();
        files.sort();
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            let info = NarInfo::parse(&text, &StoreDir::default()).unwrap();
            let nar = fs::read(dir.join(&info.url)).unwrap();
            out.push((format!("{version}/{}", info.file_name()), info, nar));
        }
    }
    assert_eq!(out.len(), 10);
    out
}

/// The request that describes `info` as Nix made it.
fn request(info: &NarInfo) -> Request<'static> {
    let ca = info.ca.expect("golden objects are content-addressed");
    let mut references = References::new();
    references.others = info.references.clone();
    Request::new(info.store_path.name(), ca.method(), ca.hash().algorithm()).references(references)
}

#[test]
fn one_pass_over_nix_nars_gives_nix_narinfos() {
    let all = [
        Want::new(FileIngestionMethod::Flat, Algorithm::Md5),
        Want::new(FileIngestionMethod::Nar, Algorithm::Sha1),
        Want::new(FileIngestionMethod::Git, Algorithm::Sha256),
    ];
    for (label, nix, nar) in golden() {
        let mut req = request(&nix);
        // A directory (the trees) has no flat hash.
        let flat_ok = !nix.store_path.name().starts_with("tree");
        for &want in &all[usize::from(!flat_ok)..] {
            req = req.digest(want);
        }
        let info = req.from_nar(&nar[..], &Options::default()).unwrap();
        assert_eq!(info.to_narinfo(), nix, "{label}");
        assert_eq!(info.to_narinfo().to_string(), nix.to_string(), "{label}");
        // The extra digests are the one-method answers.
        for (i, &want) in all[usize::from(!flat_ok)..].iter().enumerate() {
            let alone = nix_ingest::Options::default()
                .hash_nar(&nar[..], want)
                .unwrap();
            assert_eq!(info.digests()[i], alone, "{label} digest {i}");
        }
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn one_pass_over_an_async_reader() {
    for (label, nix, nar) in golden() {
        let info: nix_ingest::PathInfo = request(&nix)
            .from_nar_async(&nar[..], &Options::default())
            .await
            .unwrap();
        assert_eq!(info.to_narinfo(), nix, "{label}");
    }
}

/// The objects of tests/data/narinfo/gen.sh, made again on disk.
#[cfg(feature = "fs")]
#[test]
fn one_pass_over_a_path_gives_nix_narinfos() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("bla")).unwrap();
    fs::write(tree.join("foo"), "Hello World!\n").unwrap();
    symlink("foo", tree.join("bar")).unwrap();
    fs::write(tree.join("exe"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(tree.join("exe"), fs::Permissions::from_mode(0o755)).unwrap();
    let hello = t.path().join("hello");
    fs::write(&hello, "hello\n").unwrap();

    for (label, nix, nix_nar) in golden() {
        let source = match nix.store_path.name() {
            "tree" | "tree-nar" => &tree,
            "hello" => &hello,
            _ => continue, // the builtins.toFile texts exist only in the store
        };
        let info = request(&nix)
            .from_path(source, &Options::default())
            .unwrap();
        assert_eq!(info.to_narinfo().to_string(), nix.to_string(), "{label}");
        assert_eq!(
            info.full_path(),
            StoreDir::default().display_path(&nix.store_path)
        );
        // One walk writing the NAR as well: Nix's NAR bytes, and the same path info.
        let mut nar = Vec::new();
        let written = request(&nix)
            .write_nar(source, &mut nar, &Options::default())
            .unwrap();
        assert!(nar == nix_nar, "{label}: the NAR written is not Nix's");
        assert_eq!(written, info, "{label}");
    }
}

#[test]
fn refusals_are_typed() {
    let (_, nix, nar) = golden()
        .into_iter()
        .find(|(_, i, _)| i.store_path.name() == "tree")
        .unwrap();
    // Text content addresses take a regular file; the tree is a directory (refused as the NAR
    // streams, at the root's offset).
    let err = Request::new("tree", ContentAddressMethod::Text, Algorithm::Sha256)
        .from_nar(&nar[..], &Options::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            nix_ingest::path_info::PathInfoError::Nar(nix_ingest::nar::ReadError::Sink { .. })
        ),
        "{err:?}"
    );
    // A name Nix refuses.
    let ca = nix.ca.unwrap();
    let err = Request::new("a b", ca.method(), ca.hash().algorithm())
        .from_nar(&nar[..], &Options::default())
        .unwrap_err();
    assert!(
        matches!(err, nix_ingest::path_info::PathInfoError::StorePath(_)),
        "{err:?}"
    );
    // A truncated NAR names its offset.
    let err = request(&nix)
        .from_nar(&nar[..nar.len() - 8], &Options::default())
        .unwrap_err();
    assert!(
        matches!(err, nix_ingest::path_info::PathInfoError::Nar(_)),
        "{err:?}"
    );
}
