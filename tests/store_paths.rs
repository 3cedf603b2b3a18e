//! Store paths and content addresses against golden data from real Nix 2.26.3
//! (`tests/data/store_paths.txt`) and Nix 2.34.8 (`tests/data/store_paths-2.34.txt`), made by
//! `tests/data/store_paths.gen.sh` (its header explains every line). The test needs no Nix: it
//! reads the hashes Nix printed and recomputes the paths. Every check runs on both files; the
//! SHA-256 git store paths 2.26 refuses are checked against the formula, those 2.34 made (and
//! added to its store) directly.

use std::collections::BTreeSet;

use data_encoding::HEXLOWER;
use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nix32;
use nix_ingest::store_path::{self, References, StoreDir, StorePath, check_name};
use sha2::{Digest, Sha256};

const DATA: [&str; 2] = [
    include_str!("data/store_paths.txt"),
    include_str!("data/store_paths-2.34.txt"),
];

/// The lines of one kind (from both files), split into `fields` fields (the last takes the rest
/// of the line).
fn lines(kind: &str, fields: usize) -> Vec<Vec<&'static str>> {
    let found: Vec<Vec<&str>> = DATA
        .iter()
        .flat_map(|d| d.lines())
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))
        .map(|rest| rest.splitn(fields, ' ').collect::<Vec<_>>())
        .collect();
    for f in &found {
        let is_error = f.iter().any(|field| field.starts_with("error:"));
        assert!(
            f.len() == fields || is_error,
            "malformed '{kind}' line: {f:?}"
        );
    }
    assert!(!found.is_empty(), "no '{kind}' lines in the golden data");
    found
}

fn content_address_method(mode: &str) -> ContentAddressMethod {
    match mode {
        "text" => ContentAddressMethod::Text,
        other => ContentAddressMethod::Fixed(other.parse().unwrap()),
    }
}

/// The git SHA-256 store path computed by hand from the documented formula, with nothing from
/// the crate but nix32: the SHA-256 of `output:out:sha256:<hex of inner>:/nix/store:<name>`,
/// where inner is the SHA-256 of `fixed:out:git:sha256:<hex of the git hash>:`, XOR-folded to 20
/// bytes.
fn git_sha256_path_by_hand(git_hash_hex: &str, name: &str) -> String {
    let inner = Sha256::digest(format!("fixed:out:git:sha256:{git_hash_hex}:").as_bytes());
    let outer = Sha256::digest(
        format!(
            "output:out:sha256:{}:/nix/store:{name}",
            HEXLOWER.encode(&inner)
        )
        .as_bytes(),
    );
    let mut folded = [0u8; 20];
    for (i, b) in outer.iter().enumerate() {
        folded[i % 20] ^= b;
    }
    format!("/nix/store/{}-{name}", nix32::encode(&folded))
}

#[test]
fn hashes_in_every_format() {
    let mut checked = 0;
    for f in lines("hash", 7) {
        let (algorithm, digests) = (f[2].parse::<Algorithm>().unwrap(), &f[3..]);
        if digests[0] == "error:" {
            continue;
        }
        let h = Hash::parse_unprefixed(digests[0], algorithm).unwrap();
        let formats = [Format::Base16, Format::Nix32, Format::Base64, Format::Sri];
        for (format, expected) in formats.into_iter().zip(digests) {
            assert_eq!(h.encode(format), *expected, "{f:?}");
            assert_eq!(Hash::parse_any(expected, Some(algorithm)), Ok(h), "{f:?}");
        }
        for format in [Format::Base16, Format::Nix32, Format::Base64] {
            assert_eq!(Hash::parse(&h.to_prefixed(format)), Ok(h));
        }
        checked += 1;
    }
    assert!(checked >= 90, "only {checked} hash lines checked");
}

#[test]
fn store_paths_of_added_objects() {
    let store = StoreDir::default();
    let mut paths = 0;
    let mut git_sha256 = 0;
    let mut git_sha256_by_nix = 0;
    for f in lines("add", 6) {
        let [_tree, mode, algo, name, hex, result] = [f[0], f[1], f[2], f[3], f[4], f[5]];
        if hex == "-" {
            // Nix could not hash the object in this mode (flat of a directory).
            assert!(result.starts_with("error: "), "{f:?}");
            continue;
        }
        let algorithm: Algorithm = algo.parse().unwrap();
        let hash = Hash::parse_unprefixed(hex, algorithm).unwrap();
        let ca = ContentAddress::new(content_address_method(mode), hash);
        let ours = store.make_path_from_ca(name, &ca, &References::default());
        if result.starts_with("/nix/store/") {
            assert_eq!(
                ours.map(|p| store.display_path(&p)).as_deref(),
                Ok(result),
                "{f:?}"
            );
            paths += 1;
            git_sha256_by_nix += usize::from(mode == "git" && algorithm == Algorithm::Sha256);
        } else if result.starts_with("error: Git file ingestion must use SHA-1 or SHA-256 hash") {
            // Nix 2.31 and later.
            assert_eq!(
                ours,
                Err(store_path::StorePathError::GitAlgorithm { algorithm }),
                "{f:?}"
            );
        } else if result == "error: Git file ingestion must use SHA-1 hash" {
            if algorithm == Algorithm::Sha256 {
                // Nix 2.26 refuses what Nix 2.31 allows; check against the formula instead.
                let expected = git_sha256_path_by_hand(hex, name);
                assert_eq!(ours.map(|p| store.display_path(&p)), Ok(expected), "{f:?}");
                git_sha256 += 1;
            } else {
                assert_eq!(
                    ours,
                    Err(store_path::StorePathError::GitAlgorithm { algorithm }),
                    "{f:?}"
                );
            }
        } else if result.ends_with("' is a symlink") {
            // `nix store add --mode flat` of a symlink: refused before any store path is made
            // (`nix hash path` hashes the target). Not a store path question.
        } else {
            panic!("unexpected Nix answer in {f:?}");
        }
    }
    assert!(paths >= 90, "only {paths} store paths checked");
    assert!(
        git_sha256 >= 9,
        "only {git_sha256} git SHA-256 paths checked against the formula"
    );
    assert!(
        git_sha256_by_nix >= 9,
        "only {git_sha256_by_nix} git SHA-256 paths checked against Nix 2.34"
    );
}

#[test]
fn content_addresses_and_references() {
    let store = StoreDir::default();
    let mut with_refs = 0;
    let mut with_self = 0;
    for f in lines("ca", 3) {
        let [path, ca_text, refs] = [f[0], f[1], f[2]];
        let ca: ContentAddress = ca_text.parse().unwrap();
        assert_eq!(ca.to_string(), ca_text);
        let path = store.parse_path(path).unwrap();
        let mut references = References::default();
        let listed: Vec<&str> = if refs == "-" {
            vec![]
        } else {
            refs.split(',').collect()
        };
        for r in &listed {
            let r = store.parse_path(r).unwrap();
            if r == path {
                references.self_ref = true;
            } else {
                references.others.insert(r);
            }
        }
        // Nix lists references in its own order (by base name); ours must agree.
        let ordered: Vec<String> = references
            .others
            .iter()
            .map(|p| store.display_path(p))
            .chain(references.self_ref.then(|| store.display_path(&path)))
            .collect();
        let mut nix_order: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        if references.self_ref {
            // Put the self reference last, as `ordered` does, keeping the others in Nix's order.
            let me = store.display_path(&path);
            nix_order.retain(|p| *p != me);
            nix_order.push(me);
        }
        assert_eq!(ordered, nix_order, "reference order for {path}");
        let distinct: BTreeSet<&str> = listed.iter().copied().collect();
        assert_eq!(distinct.len(), listed.len());

        let made = store.make_path_from_ca(path.name(), &ca, &references);
        assert_eq!(made, Ok(path.clone()), "{f:?}");
        with_refs += usize::from(!references.others.is_empty());
        with_self += usize::from(references.self_ref);
    }
    assert!(with_refs >= 5, "only {with_refs} paths with references");
    assert!(
        with_self >= 3,
        "only {with_self} paths with self references"
    );
}

#[test]
fn the_golden_example_from_nix() {
    // Nix's own test tree (`bla/`, `foo`, `bar -> foo`), git SHA-1, name "fixed".
    let store = StoreDir::default();
    let hash = Hash::parse("sha1:cd44baf36915d5dec8374232ea7e2057f3b4494e").unwrap();
    let ca = ContentAddress::fixed(FileIngestionMethod::Git, hash);
    assert_eq!(
        ca.to_string(),
        "fixed:git:sha1:9r4v9wsp41zflcj26z4dxm8md7rvli6d"
    );
    let path = store
        .make_path_from_ca("fixed", &ca, &References::default())
        .unwrap();
    assert_eq!(
        store.display_path(&path),
        "/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed"
    );
    // Its git SHA-256 hash (from Nix's tests and `nix hash path`), by the 2.31 rule.
    let hex = "3c957653f90c34c0a8badf343b61393936cddf4a2ca93f64b21f02303ddedcc2";
    let ca = ContentAddress::fixed(
        FileIngestionMethod::Git,
        Hash::parse_unprefixed(hex, Algorithm::Sha256).unwrap(),
    );
    let path = store
        .make_path_from_ca("fixed", &ca, &References::default())
        .unwrap();
    assert_eq!(
        store.display_path(&path),
        git_sha256_path_by_hand(hex, "fixed")
    );
}

/// Splits `name NAME RESULT` where NAME may contain spaces but RESULT starts with `error: ` or
/// `/nix/store/`.
fn name_lines() -> Vec<(&'static str, &'static str)> {
    let found: Vec<_> = DATA
        .iter()
        .flat_map(|d| d.lines())
        .filter_map(|l| l.strip_prefix("name "))
        .map(|rest| {
            let at = rest
                .find(" error: ")
                .or_else(|| rest.rfind(" /nix/store/"))
                .unwrap_or_else(|| panic!("malformed name line: {rest}"));
            (&rest[..at], &rest[at + 1..])
        })
        .collect();
    assert!(found.len() >= 15);
    found
}

#[test]
fn names() {
    let store = StoreDir::default();
    // The file every `name` line adds: "hello\n", flat SHA-256.
    let hash = Hash::digest(Algorithm::Sha256, b"hello\n");
    let ca = ContentAddress::fixed(FileIngestionMethod::Flat, hash);
    for (name, result) in name_lines() {
        let ours = store.make_path_from_ca(name, &ca, &References::default());
        if result.starts_with("/nix/store/") {
            assert_eq!(check_name(name), Ok(()));
            assert_eq!(ours.map(|p| store.display_path(&p)).as_deref(), Ok(result));
            continue;
        }
        let err = check_name(name).unwrap_err();
        assert_eq!(ours, Err(err.clone()));
        use store_path::StorePathError::*;
        let matches = if result.contains("name must not be empty") {
            matches!(err, EmptyName)
        } else if result.contains("must be no longer than 211 characters") {
            matches!(err, NameTooLong { .. })
        } else if result.contains("first dash-separated component must not be") {
            matches!(err, DotComponent { .. })
        } else if result.contains("contains illegal character") {
            matches!(err, IllegalCharacter { .. })
        } else if result.ends_with("is not valid") {
            matches!(err, DotName { .. })
        } else {
            false
        };
        assert!(matches, "{name:?}: Nix said {result:?}, we said {err:?}");
    }
}

#[test]
fn parsing_store_paths() {
    let store = StoreDir::default();
    for f in lines("parse", 2) {
        let [path, result] = [f[0], f[1]];
        let ours = store.parse_path(path);
        if result == path {
            if path.as_bytes().get(11 + 32) != Some(&b'-') {
                // Nix 2.26 does not check the dash after the hash; we do (see the docs).
                assert!(matches!(
                    ours,
                    Err(store_path::StorePathError::InvalidPath { ref source, .. })
                        if matches!(**source, store_path::StorePathError::MissingDash { .. })
                ));
                continue;
            }
            assert_eq!(ours.map(|p| store.display_path(&p)).as_deref(), Ok(path));
            continue;
        }
        let err = ours.unwrap_err();
        use store_path::StorePathError::*;
        let inner = match &err {
            InvalidPath { source, .. } => Some(&**source),
            _ => None,
        };
        let matches = if result.contains("is not in the Nix store") {
            matches!(err, NotInStore { .. })
        } else if result.contains("is too short to be a valid store path") {
            matches!(inner, Some(TooShort { .. }))
        } else if result.contains("contains illegal base-32 character") {
            matches!(inner, Some(IllegalHashCharacter { .. }))
        } else if result.contains("name must not be empty") {
            matches!(inner, Some(EmptyName))
        } else if result.ends_with("is not valid") {
            matches!(inner, Some(DotName { .. }))
        } else {
            false
        };
        assert!(matches, "{path}: Nix said {result:?}, we said {err:?}");
    }
}

#[test]
fn from_base_name_agrees_with_parse_path() {
    let store = StoreDir::default();
    for f in lines("ca", 3) {
        let path = store.parse_path(f[0]).unwrap();
        let base = f[0].strip_prefix("/nix/store/").unwrap();
        assert_eq!(StorePath::from_base_name(base), Ok(path.clone()));
        assert_eq!(path.to_string(), base);
    }
}
