//! Upload verification never panics and accepts exactly the NARs whose contents hash to the
//! claimed content address (and, when given, NAR hash and size): the honest claim passes and
//! returns the store path the content address makes; any other digest or size is refused with
//! the matching error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::{Options, Want};
use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::store_path::{References, StoreDir};
use nix_ingest::verify::{self, Claim, Digest, verify_nar};

const CLAIMS: [(ContentAddressMethod, Algorithm); 6] = [
    (ContentAddressMethod::Text, Algorithm::Sha256),
    (
        ContentAddressMethod::Fixed(FileIngestionMethod::Flat),
        Algorithm::Md5,
    ),
    (
        ContentAddressMethod::Fixed(FileIngestionMethod::Nar),
        Algorithm::Sha256,
    ),
    (
        ContentAddressMethod::Fixed(FileIngestionMethod::Nar),
        Algorithm::Sha1,
    ),
    (
        ContentAddressMethod::Fixed(FileIngestionMethod::Git),
        Algorithm::Sha1,
    ),
    (
        ContentAddressMethod::Fixed(FileIngestionMethod::Git),
        Algorithm::Sha256,
    ),
];

fn flip(h: &Hash) -> Hash {
    let mut bytes = h.as_bytes().to_vec();
    bytes[0] ^= 1;
    Hash::from_bytes(h.algorithm(), &bytes).expect("same length")
}

fuzz_target!(|data: &[u8]| {
    let store = StoreDir::default();
    let refs = References::default();
    let nar_hash = Hash::digest(Algorithm::Sha256, data);
    let nar_size = data.len() as u64;
    let options = Options::default();
    let honest = |ca| Claim::new("x", ca).nar_hash(nar_hash).nar_size(nar_size);

    for (method, algorithm) in CLAIMS {
        let want = Want::new(method.file_ingestion_method(), algorithm);
        let hashed = options.hash_nar(data, want);
        let Ok(hash) = hashed else {
            // Whatever the claim, a NAR that cannot be hashed this way is refused as a NAR.
            let any = ContentAddress::new(method, Hash::digest(algorithm, b""));
            let err = verify_nar(data, &honest(any), &store, &options).unwrap_err();
            assert!(
                matches!(err, verify::VerifyError::Nar(_)),
                "{err:?} for {hashed:?}"
            );
            continue;
        };
        let ca = ContentAddress::new(method, hash);
        let ok = verify_nar(data, &honest(ca), &store, &options).expect("honest claim");
        assert_eq!(
            ok.path,
            store.make_path_from_ca("x", &ca, &refs).expect("a path")
        );
        assert_eq!(ok.nar_size, nar_size);
        assert_eq!(ok.nar_hash, Some(nar_hash));

        let forged = ContentAddress::new(method, flip(&hash));
        match verify_nar(data, &honest(forged), &store, &options) {
            Err(verify::VerifyError::HashMismatch {
                what: Digest::ContentAddress,
                expected,
                actual,
            }) => {
                assert_eq!((*expected, *actual), (*forged.hash(), hash));
            }
            other => panic!("forged content address: {other:?}"),
        }
        let wrong_size = honest(ca).nar_size(nar_size ^ 8);
        assert!(matches!(
            verify_nar(data, &wrong_size, &store, &options),
            Err(verify::VerifyError::SizeMismatch { .. })
        ));
        let wrong_hash = honest(ca).nar_hash(flip(&nar_hash));
        assert!(matches!(
            verify_nar(data, &wrong_hash, &store, &options),
            Err(verify::VerifyError::HashMismatch {
                what: Digest::Nar,
                ..
            })
        ));
    }
});
