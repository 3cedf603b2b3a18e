//! `narinfo` against the `.narinfo` files real Nix 2.26.3 and 2.34.8 wrote with
//! `nix copy --to file://…` (tests/data/narinfo, made by its gen.sh).

use std::fs;
use std::path::{Path, PathBuf};

use nix_ingest::Want;
use nix_ingest::content_address::ContentAddressMethod;
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::narinfo::NarInfo;
use nix_ingest::store_path::{References, StoreDir};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/narinfo")
}

/// Every `.narinfo` Nix wrote: (version, compression, path, text).
fn golden() -> Vec<(String, String, PathBuf, String)> {
    let mut out = Vec::new();
    for version in ["2.26", "2.34"] {
        for compression in ["none", "xz"] {
            let dir = data().join(version).join(format!("cache-{compression}"));
            let mut files: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
                .collect();
            files.sort();
            assert_eq!(files.len(), 5, "{}", dir.display());
            for file in files {
                let text = fs::read_to_string(&file).unwrap();
                out.push((version.into(), compression.into(), file, text));
            }
        }
    }
    out
}

#[test]
fn nix_narinfos_round_trip_byte_for_byte() {
    for (_, compression, file, text) in golden() {
        let info = NarInfo::parse(&text, &StoreDir::default()).unwrap();
        assert_eq!(info.to_string(), text, "{}", file.display());
        assert_eq!(info.compression.name(), compression);
        assert_eq!(
            file.file_name().unwrap().to_str().unwrap(),
            info.file_name()
        );
        // The parsed text from the byte API is the same.
        assert_eq!(
            NarInfo::parse_bytes(text.as_bytes(), &StoreDir::default()).unwrap(),
            info
        );
    }
}

/// The narinfo's claims hold for the NAR Nix wrote beside it: its NarHash/FileHash and sizes,
/// its content address (hashed from the NAR by this crate) and the store path that address
/// makes.
#[test]
fn nix_narinfos_describe_their_nars() {
    let store = StoreDir::default();
    for (version, compression, file, text) in golden() {
        if compression != "none" {
            continue;
        }
        let info = NarInfo::parse(&text, &store).unwrap();
        let nar = fs::read(data().join(&version).join("cache-none").join(&info.url)).unwrap();
        assert_eq!(info.nar_size, nar.len() as u64);
        assert_eq!(info.file_size, Some(nar.len() as u64));
        assert_eq!(info.nar_hash, Hash::digest(Algorithm::Sha256, &nar));
        assert_eq!(info.file_hash, Some(info.nar_hash));
        let ca = info.ca.expect("every golden object is content-addressed");
        let ContentAddressMethod::Fixed(method) = ca.method() else {
            // text: the NAR of a regular file holds its bytes; the store path needs references.
            let mut refs = References::new();
            refs.others = info.references.clone();
            let made = store
                .make_path_from_ca(info.store_path.name(), &ca, &refs)
                .unwrap();
            assert_eq!(made, info.store_path, "{}", file.display());
            continue;
        };
        let hash = nix_ingest::Options::default()
            .hash_nar(&nar[..], Want::new(method, ca.hash().algorithm()))
            .unwrap();
        assert_eq!(&hash, ca.hash(), "{}", file.display());
        let made = store
            .make_path_from_ca(info.store_path.name(), &ca, &References::new())
            .unwrap();
        assert_eq!(made, info.store_path, "{}", file.display());
    }
}

#[test]
fn defaults_follow_nix() {
    // Nix reads a missing Compression as bzip2, `unknown-deriver` as none and an empty CA as
    // none (nar-info.cc).
    let (_, _, _, text) = golden().remove(0);
    let text = text.replace("Compression: none\n", "").replace(
        "References: \n",
        "References: \nDeriver: unknown-deriver\nCA: \n",
    );
    let text = text.replacen("CA: fixed", "Unknown: fixed", 1);
    let info = NarInfo::parse(&text, &StoreDir::default()).unwrap();
    assert_eq!(info.compression, nix_ingest::narinfo::Compression::Bzip2);
    assert_eq!(info.deriver, None);
    assert_eq!(info.ca, None);
}

/// `nix path-info --json` in every format both versions print: read back and written again
/// byte for byte; a binary cache's entries are the narinfos of that cache.
#[cfg(feature = "serde")]
#[test]
fn path_info_json_as_nix_prints_it() {
    use nix_ingest::narinfo::json::{Format, PathInfoJson};
    let cases = [
        ("2.26", "path-info.json", Format::Nix226, None),
        (
            "2.26",
            "path-info-cache-none.json",
            Format::Nix226,
            Some("none"),
        ),
        (
            "2.26",
            "path-info-cache-xz.json",
            Format::Nix226,
            Some("xz"),
        ),
        ("2.34", "path-info.json", Format::V1, None),
        ("2.34", "path-info-format-1.json", Format::V1, None),
        ("2.34", "path-info-format-2.json", Format::V2, None),
        (
            "2.34",
            "path-info-cache-none.json",
            Format::V1,
            Some("none"),
        ),
        ("2.34", "path-info-cache-xz.json", Format::V1, Some("xz")),
        (
            "2.34",
            "path-info-cache-none-format-1.json",
            Format::V1,
            Some("none"),
        ),
        (
            "2.34",
            "path-info-cache-none-format-2.json",
            Format::V2,
            Some("none"),
        ),
    ];
    for (version, file, format, cache) in cases {
        let text = fs::read_to_string(data().join(version).join(file)).unwrap();
        let doc: PathInfoJson = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.format, format, "{version}/{file}");
        // The four paths of paths.txt (not their reference `a`).
        assert_eq!(doc.entries.len(), 4, "{version}/{file}");
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            text.trim_end(),
            "{version}/{file}"
        );
        if let Some(compression) = cache {
            let dir = data().join(version).join(format!("cache-{compression}"));
            for entry in &doc.entries {
                let narinfo = fs::read_to_string(dir.join(entry.info.file_name())).unwrap();
                let parsed = NarInfo::parse(&narinfo, &StoreDir::default()).unwrap();
                assert_eq!(entry.info, parsed, "{version}/{file}");
                assert_eq!(entry.registration_time, None);
            }
        }
    }
}
