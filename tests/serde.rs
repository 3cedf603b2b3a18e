//! The `serde` impls against JSON written by real Nix (tests/data/serde, see its README).
#![cfg(feature = "serde")]

use std::collections::BTreeMap;

use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::serde_impls::{derivation_v3, full_path, rendered};
use nix_ingest::store_path::{References, StoreDir, StorePath};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const PATH_INFO: &str = include_str!("data/serde/path-info.json");
const DERIVATIONS: &str = include_str!("data/serde/derivation-show.json");

/// A store path written in full, as `nix path-info --json` (Nix 2.26) writes keys and references.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct FullPath(#[serde(with = "full_path")] StorePath);

/// The members of `nix path-info --json` (Nix 2.26) the crate has types for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathInfo {
    #[serde(with = "rendered::option")]
    ca: Option<ContentAddress>,
    nar_hash: Hash,
    nar_size: u64,
    references: Vec<FullPath>,
}

fn path_infos() -> BTreeMap<FullPath, PathInfo> {
    serde_json::from_str(PATH_INFO).unwrap()
}

#[test]
fn path_info_content_addresses_make_nix_store_paths() {
    let infos = path_infos();
    assert_eq!(infos.len(), 24);
    let store = StoreDir::default();
    let mut methods = std::collections::BTreeSet::new();
    for (FullPath(path), info) in &infos {
        let ca = info
            .ca
            .expect("every path in the file is content addressed");
        methods.insert((ca.method(), ca.hash().algorithm()));
        let mut refs = References::default();
        for FullPath(r) in &info.references {
            if r == path {
                refs.self_ref = true;
            } else {
                refs.others.insert(r.clone());
            }
        }
        // Nix made the path from the name, the content address and the references: so must we,
        // from what was read.
        let made = store.make_path_from_ca(path.name(), &ca, &refs).unwrap();
        assert_eq!(&made, path, "{ca}");
    }
    // Every method, and every algorithm with NAR.
    assert!(methods.contains(&(ContentAddressMethod::Text, Algorithm::Sha256)));
    for a in Algorithm::ALL {
        assert!(
            methods.contains(&(FileIngestionMethod::Nar.into(), a)),
            "{a}"
        );
        assert!(
            methods.contains(&(FileIngestionMethod::Flat.into(), a)),
            "{a}"
        );
    }
    assert!(methods.contains(&(FileIngestionMethod::Git.into(), Algorithm::Sha1)));
}

#[test]
fn path_info_fields_are_written_back_as_nix_wrote_them() {
    let original: BTreeMap<String, Value> = serde_json::from_str(PATH_INFO).unwrap();
    for (key, info) in path_infos() {
        let written = serde_json::to_value(&info).unwrap();
        let nix = &original[&serde_json::to_value(&key)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()];
        for field in ["ca", "narHash", "narSize", "references"] {
            assert_eq!(written[field], nix[field], "{field} of {key:?}");
        }
        // The NAR hash Nix prints is SRI, and it is what a hash serializes to.
        assert!(nix["narHash"].as_str().unwrap().starts_with("sha256-"));
    }
}

#[test]
fn derivation_outputs_are_the_content_addresses_of_their_paths() {
    // `nix derivation show` (JSON v3) of fixed-output derivations whose outputs are in
    // path-info.json: the `{"hash", "hashAlgo", "method"}` object must read as the same
    // content address as the path's `ca` string.
    let infos = path_infos();
    let drvs: BTreeMap<String, Value> = serde_json::from_str(DERIVATIONS).unwrap();
    assert_eq!(drvs.len(), 6);
    for (drv, value) in &drvs {
        let out = &value["outputs"]["out"];
        let path: FullPath = serde_json::from_value(out["path"].clone()).unwrap();
        let ca: ContentAddress = serde_json::from_value(out.clone()).unwrap();
        assert_eq!(Some(ca), infos[&path].ca, "{drv}");

        // Written back in the v3 shape, it is Nix's object without the path.
        let mut nix = out.clone();
        nix.as_object_mut().unwrap().remove("path");
        let written = derivation_v3::serialize(&ca, serde_json::value::Serializer).unwrap();
        assert_eq!(written, nix, "{drv}");
        // And as text too: Nix's key order is kept.
        let mut text = serde_json::Serializer::new(Vec::new());
        derivation_v3::serialize(&ca, &mut text).unwrap();
        assert_eq!(
            String::from_utf8(text.into_inner()).unwrap(),
            serde_json::to_string(&nix).unwrap()
        );
    }
}

#[test]
fn nix_2_33_structured_content_addresses() {
    // The example of Nix 2.33's release notes (path info JSON format 2); the oracle's
    // `nix hash convert --to base16` of the hash gives ba7816bf…, which is SHA-256("abc").
    let json =
        r#"{"method": "nar", "hash": "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="}"#;
    let ca: ContentAddress = serde_json::from_str(json).unwrap();
    assert_eq!(ca.method(), FileIngestionMethod::Nar.into());
    assert_eq!(
        ca.hash().encode(Format::Base16),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // `nix hash convert --to nix32` of it.
    assert_eq!(
        ca.to_string(),
        "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
    );
    assert_eq!(
        serde_json::to_string(&ca).unwrap(),
        r#"{"hash":"sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=","method":"nar"}"#
    );

    // Nix's libstore test data `content-address/text.json` as first written (hash object,
    // base16), and the SRI string `nix hash convert --to sri` gives for it, which is what
    // Nix's later test data holds.
    let draft = r#"{"hash":{"algorithm":"sha256","format":"base16","hash":"f0e4c2f76c58916ec258f246851bea091d14d4247a2fc3e18694461b1816e13b"},"method":"text"}"#;
    let ca: ContentAddress = serde_json::from_str(draft).unwrap();
    assert_eq!(ca.method(), ContentAddressMethod::Text);
    assert_eq!(
        serde_json::to_string(&ca).unwrap(),
        r#"{"hash":"sha256-8OTC92xYkW7CWPJGhRvqCR0U1CR6L8PhhpRGGxgW4Ts=","method":"text"}"#
    );
}

#[test]
fn path_info_v1_to_v2() {
    // What Nix 2.33's `--json-format 2` makes of a path info: base names, structured `ca`.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PathInfoV2 {
        ca: Option<ContentAddress>,
        nar_hash: Hash,
        references: Vec<StorePath>,
    }
    for (FullPath(path), info) in path_infos() {
        let v2 = PathInfoV2 {
            ca: info.ca,
            nar_hash: info.nar_hash,
            references: info.references.iter().map(|r| r.0.clone()).collect(),
        };
        let json = serde_json::to_value(&v2).unwrap();
        let ca = info.ca.unwrap();
        assert_eq!(json["ca"]["method"], ca.method().name());
        assert_eq!(json["ca"]["hash"], ca.hash().encode(Format::Sri));
        for (r, FullPath(full)) in json["references"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&info.references)
        {
            assert_eq!(r.as_str().unwrap(), full.to_string());
        }
        let back: PathInfoV2 = serde_json::from_value(json).unwrap();
        assert_eq!(back.ca, info.ca, "{path}");
        assert_eq!(back.nar_hash, info.nar_hash);
    }
}
