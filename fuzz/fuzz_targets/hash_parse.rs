//! Hash, nix32, content-address and CID parsing never panic, and what parses renders back to an
//! equal value (and, where the rendering is canonical, to the same text).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::cid;
use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::nix32;

fn roundtrips(h: &Hash) {
    for f in [Format::Base16, Format::Nix32, Format::Base64, Format::Sri] {
        assert_eq!(Hash::parse(&h.to_prefixed(f)).ok(), Some(*h), "{f:?}");
        assert_eq!(
            Hash::parse_unprefixed(&h.encode(f), h.algorithm()).ok(),
            (f != Format::Sri).then_some(*h),
            "unprefixed {f:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(h) = Hash::parse(s) {
        roundtrips(&h);
    }
    for a in Algorithm::ALL {
        if let Ok(h) = Hash::parse_any(s, Some(a)) {
            assert_eq!(h.algorithm(), a);
            roundtrips(&h);
        }
        if let Ok(h) = Hash::parse_unprefixed(s, a) {
            assert_eq!(h.algorithm(), a);
            roundtrips(&h);
        }
    }

    // nix32 refuses non-canonical strings, so a decoded string of a full length re-encodes to
    // itself.
    if let Ok(bytes) = nix32::decode(s) {
        assert_eq!(bytes.len(), nix32::decoded_len(s.len()));
        if nix32::encoded_len(bytes.len()) == s.len() {
            assert_eq!(nix32::encode(&bytes), s);
        }
    }

    if let Ok(ca) = s.parse::<ContentAddress>() {
        let text = ca.to_string();
        let again: ContentAddress = text.parse().expect("a rendered content address parses");
        assert_eq!(again, ca);
        assert_eq!(again.to_string(), text);
    }
    if let Ok((method, algorithm)) = ContentAddressMethod::parse_with_algo(s) {
        assert_eq!(method.render_with_algo(algorithm), s);
    }
    if let Ok(method) = s.parse::<ContentAddressMethod>() {
        assert_eq!(method.to_string(), s);
    }

    if let Ok(id) = cid::parse_git_raw_cid(s) {
        assert_eq!(cid::git_raw_cid(&id).as_deref(), Ok(s));
    }
});
