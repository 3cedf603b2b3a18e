//! Verified uploads: golden NARs from real Nix against the content addresses and store paths
//! real Nix gave them (tests/data/restore/oracle.txt, tests/data/store_paths.txt), and every
//! one-byte change of them refused.

use std::fs;
use std::path::Path;

use nix_ingest::Limits;
use nix_ingest::Options;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{Event, Sink};
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::nar::NarWriter;
use nix_ingest::store_path::{References, StoreDir, StorePath};
use nix_ingest::verify::{self, Claim, Digest, verify_nar};

struct Added {
    nar: Vec<u8>,
    nar_file: String,
    name: String,
    ca: ContentAddress,
    path: String,
}

fn data(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// The `add` lines of tests/data/restore/oracle.txt: `nix store add` of the trees of the golden
/// NARs, with the content address `nix path-info` reports.
fn added() -> Vec<Added> {
    let text = fs::read_to_string(data("restore/oracle.txt")).unwrap();
    let out: Vec<Added> = text
        .lines()
        .filter_map(|l| l.strip_prefix("add "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Added {
                nar: fs::read(data("nar").join(f[0])).unwrap(),
                nar_file: f[0].to_owned(),
                name: f[3].to_owned(),
                ca: f[4].parse().unwrap(),
                path: f[5].to_owned(),
            }
        })
        .collect();
    assert_eq!(out.len(), 10);
    out
}

fn verify(nar: &[u8], ca: &ContentAddress, name: &str) -> Result<StorePath, verify::VerifyError> {
    verify_nar(
        nar,
        &Claim::new(name, *ca),
        &StoreDir::default(),
        &Options::default(),
    )
    .map(|v| v.path)
}

#[test]
fn genuine_nars_give_the_store_paths_nix_gives() {
    for a in added() {
        let path = verify(&a.nar, &a.ca, &a.name)
            .unwrap_or_else(|e| panic!("{} {}: {e}", a.nar_file, a.ca));
        assert_eq!(
            StoreDir::default().display_path(&path),
            a.path,
            "{} {}",
            a.nar_file,
            a.ca
        );
    }
}

/// `nix store add --mode text` of the file "hello\n" (tests/data/store_paths.txt).
#[test]
fn text_content_addresses_hash_the_file() {
    let mut w = NarWriter::new(Vec::new());
    for e in [
        Event::FileStart {
            name: None,
            executable: false,
            size: 6,
        },
        Event::FileData(b"hello\n"),
        Event::FileEnd,
    ] {
        w.event(e).unwrap();
    }
    let nar = w.finish().unwrap();
    let hash = Hash::parse_unprefixed(
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        Algorithm::Sha256,
    )
    .unwrap();
    let path = verify(&nar, &ContentAddress::text(hash), "hello.txt").unwrap();
    assert_eq!(
        StoreDir::default().display_path(&path),
        "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt"
    );
}

#[test]
fn every_one_byte_change_is_refused() {
    for a in added() {
        for pos in 0..a.nar.len() {
            for flip in [0x01u8, 0xff] {
                let mut bad = a.nar.clone();
                bad[pos] ^= flip;
                if let Ok(p) = verify(&bad, &a.ca, &a.name) {
                    panic!(
                        "{} {}: byte {pos} ^ {flip:#04x} accepted as {p}",
                        a.nar_file, a.ca
                    );
                }
            }
        }
    }
}

#[test]
fn truncated_and_extended_nars_are_refused() {
    for a in added() {
        for len in 0..a.nar.len() {
            assert!(
                verify(&a.nar[..len], &a.ca, &a.name).is_err(),
                "{} cut at {len}",
                a.nar_file
            );
        }
        let mut longer = a.nar.clone();
        longer.push(0);
        assert!(matches!(
            verify(&longer, &a.ca, &a.name),
            Err(verify::VerifyError::Nar(_))
        ));
    }
}

/// A mismatch carries both hashes: the claimed one, and the one Nix computes for the NAR sent.
#[test]
fn mismatch_carries_expected_and_actual() {
    let all = added();
    let t1 = all
        .iter()
        .find(|a| a.nar_file == "t1.nar" && a.ca.to_string().starts_with("fixed:git:sha1"))
        .unwrap();
    let t2 = all.iter().find(|a| a.nar_file == "t2.nar").unwrap();
    match verify(&t2.nar, &t1.ca, "t1") {
        Err(verify::VerifyError::HashMismatch {
            what,
            expected,
            actual,
        }) => {
            assert_eq!(what, Digest::ContentAddress);
            assert_eq!(&*expected, t1.ca.hash());
            // t2's git id, as real Nix computes it (tests/data/restore/oracle.txt).
            assert_eq!(*actual, *t2.ca.hash());
            assert_eq!(
                actual.encode(nix_ingest::hash::Format::Base16),
                "c2b6c17dbf44d63cb4724e20b33e71757c608826"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nar_hash_and_size_are_checked_in_the_same_pass() {
    // `nix-hash --type sha256 --base16` of the t1 tree (tests/data/nar/sha256.txt).
    let nar_hash = Hash::parse_unprefixed(
        "30b7c12c1d5cad08b41c7d57d8beff6dbe20078a2138bc5c119b185a486ab76b",
        Algorithm::Sha256,
    )
    .unwrap();
    let t1 = added()
        .into_iter()
        .find(|a| a.nar_file == "t1.nar")
        .unwrap();
    let store = StoreDir::default();
    let options = Options::default();
    let claim = Claim::new(&t1.name, t1.ca);
    let good = claim
        .clone()
        .nar_hash(nar_hash)
        .nar_size(t1.nar.len() as u64);
    let v = verify_nar(&t1.nar[..], &good, &store, &options).unwrap();
    assert_eq!(store.display_path(&v.path), t1.path);
    assert_eq!(v.nar_hash, Some(nar_hash));
    assert_eq!(v.nar_size, 4760);

    let wrong_hash = claim
        .clone()
        .nar_hash(Hash::digest(Algorithm::Sha256, b"not it"));
    assert!(matches!(
        verify_nar(&t1.nar[..], &wrong_hash, &store, &options),
        Err(verify::VerifyError::HashMismatch { what: Digest::Nar, actual, .. }) if *actual == nar_hash
    ));
    let wrong_size = claim.clone().nar_size(4761);
    assert!(matches!(
        verify_nar(&t1.nar[..], &wrong_size, &store, &options),
        Err(verify::VerifyError::SizeMismatch {
            expected: 4761,
            actual: 4760
        })
    ));
    // Limits apply to the parse.
    let tight = Options::new().limits(Limits {
        max_total_size: 10,
        ..Limits::default()
    });
    assert!(matches!(
        verify_nar(&t1.nar[..], &claim, &store, &tight),
        Err(verify::VerifyError::Nar(_))
    ));
}

#[test]
fn what_can_have_no_store_path_is_refused_before_reading() {
    let all = added();
    let file_flat = all
        .iter()
        .find(|a| a.nar_file == "file.nar" && a.ca.to_string().starts_with("fixed:sha256"))
        .unwrap();
    let t1_nar = all
        .iter()
        .find(|a| a.nar_file == "t1.nar" && a.ca.to_string().starts_with("fixed:r:sha256"))
        .unwrap();
    let t1_git = all
        .iter()
        .find(|a| a.nar_file == "t1.nar" && a.ca.to_string().starts_with("fixed:git:"))
        .unwrap();
    // An invalid name.
    assert!(matches!(
        verify(&file_flat.nar, &file_flat.ca, "bad/name"),
        Err(verify::VerifyError::StorePath(_))
    ));
    // A flat address for a directory: the hasher refuses it while parsing.
    let flat_ca = file_flat.ca;
    assert!(verify(&t1_nar.nar, &flat_ca, "t1").is_err());
    // Self-references are not supported.
    let self_ref = References {
        self_ref: true,
        ..References::default()
    };
    assert!(matches!(
        verify_nar(
            &t1_nar.nar[..],
            &Claim::new("t1", t1_nar.ca).references(self_ref),
            &StoreDir::default(),
            &Options::default()
        ),
        Err(verify::VerifyError::SelfReference)
    ));
    // Git addresses cannot have references (Nix: only NAR+SHA-256 and text can).
    let other: StorePath = t1_nar.path.rsplit('/').next().unwrap().parse().unwrap();
    let refs = References {
        others: [other].into_iter().collect(),
        ..References::default()
    };
    assert!(matches!(
        verify_nar(
            &t1_git.nar[..],
            &Claim::new("t1", t1_git.ca).references(refs),
            &StoreDir::default(),
            &Options::default()
        ),
        Err(verify::VerifyError::StorePath(_))
    ));
}
