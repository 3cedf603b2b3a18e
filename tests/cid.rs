//! IPFS git-raw CIDs of git object ids, checked against the multiformats specs.
//!
//! CIDv1 = varint(1) ‖ varint(codec) ‖ multihash; multihash = varint(code) ‖ varint(length) ‖
//! digest; printed in multibase base32 (prefix 'b', RFC 4648 alphabet in lower case, no
//! padding). From the multicodec table: git-raw = 0x78, sha1 = 0x11, sha2-256 = 0x12.

use nix_ingest::cid::{self, CidError, git_raw_cid, git_raw_cid_bytes, parse_git_raw_cid};
use nix_ingest::hash::{Algorithm, Hash};

fn sha1(hex: &str) -> Hash {
    Hash::parse_unprefixed(hex, Algorithm::Sha1).unwrap()
}

fn sha256(hex: &str) -> Hash {
    Hash::parse_unprefixed(hex, Algorithm::Sha256).unwrap()
}

/// The git-raw CID example of the IPFS git documentation.
#[test]
fn sha1_example_from_ipfs() {
    let id = sha1("95296e419bcf7a7e84efe1396925ac55ee22b1f2");
    assert_eq!(
        git_raw_cid(&id).unwrap(),
        "baf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q"
    );
    assert_eq!(
        parse_git_raw_cid("baf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q").unwrap(),
        id
    );
}

/// Git's empty tree; the expected text was computed by hand from the spec: bytes
/// 01 78 11 14 ‖ digest, base32-encoded (RFC 4648), lower-cased, padding removed, 'b' prepended.
#[test]
fn sha1_empty_tree() {
    let id = sha1("4b825dc642cb6eb9a060e54bf8d69288fbee4904");
    let mut expected = vec![0x01, 0x78, 0x11, 0x14];
    expected.extend_from_slice(id.as_bytes());
    assert_eq!(git_raw_cid_bytes(&id).unwrap(), expected);
    assert_eq!(
        git_raw_cid(&id).unwrap(),
        "baf4bcfclqjo4mqwln242ayhfjp4nneui7pxesba"
    );
}

/// A SHA-256 git blob id (the blob "just a file, 27 bytes long\n", whose id real Nix and git
/// agree on: tests/data/restore/oracle.txt). Expected bytes per the spec: 01 (CIDv1) 78 (git-raw)
/// 12 (sha2-256) 20 (32 bytes) ‖ digest; the text is their base32 as above.
#[test]
fn sha256_blob() {
    let id = sha256("b289c8550b0d7bc08d3de437f26814b58a7148bb1376208af0453a8223fec8e4");
    let mut expected = vec![0x01, 0x78, 0x12, 0x20];
    expected.extend_from_slice(id.as_bytes());
    assert_eq!(git_raw_cid_bytes(&id).unwrap(), expected);
    let text = git_raw_cid(&id).unwrap();
    assert_eq!(
        text,
        "baf4beifsrhefkcynppai2ppeg7zgqffvrjyuroytoyqiv4cfhkbch7wi4q"
    );
    assert_eq!(parse_git_raw_cid(&text).unwrap(), id);
    // base32 of 36 bytes = 58 characters (no padding), plus the multibase prefix.
    assert_eq!(text.len(), 1 + 58);
}

#[test]
fn constants_match_the_multicodec_table() {
    assert_eq!(cid::CID_VERSION, 0x01);
    assert_eq!(cid::GIT_RAW_CODEC, 0x78);
    assert_eq!(cid::MULTIHASH_SHA1, 0x11);
    assert_eq!(cid::MULTIHASH_SHA2_256, 0x12);
}

#[test]
fn other_algorithms_are_refused() {
    for algorithm in [Algorithm::Md5, Algorithm::Sha512] {
        let h = Hash::digest(algorithm, b"x");
        assert_eq!(
            git_raw_cid(&h),
            Err(CidError::UnsupportedAlgorithm(algorithm))
        );
    }
}

#[test]
fn parsing_refuses_what_is_not_a_git_raw_cid() {
    // The CIDv1 example of the IPFS docs: dag-pb (0x70), sha2-256.
    assert!(matches!(
        parse_git_raw_cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
        Err(CidError::NotGitRaw { .. })
    ));
    // Upper case is another multibase ('B'); other prefixes are not base32.
    for bad in [
        "BAF4BCFEVFFXEDG6PPJ7IJ37BHFUSLLCV5YRLD4Q",
        "baf4bcfevffxedg6ppj7ij37bhfusllcv5yrlD4q",
        "zaf4bcfevffxedg6ppj7ij37bhfusllcv5yrld4q",
        "b",
        "",
        "b0",
    ] {
        assert!(parse_git_raw_cid(bad).is_err(), "{bad}");
    }
    // A truncated CID: the digest is shorter than its length byte says.
    assert!(matches!(
        parse_git_raw_cid("baf4bcfevffxedg6ppj7ij37bhfusllcv5yrla"),
        Err(CidError::NotGitRaw { .. } | CidError::NotBase32(_))
    ));
}
