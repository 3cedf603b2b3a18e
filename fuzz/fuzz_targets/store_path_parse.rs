//! Store path and store name parsing never panic; what parses prints back to the same string,
//! and a valid name's check agrees with the parse of a path made of it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::store_path::{StoreDir, StorePath, check_name};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let store = StoreDir::default();
    if let Ok(p) = store.parse_path(s) {
        assert_eq!(store.display_path(&p), s);
        assert_eq!(
            StorePath::from_base_name(&p.to_string()).ok(),
            Some(p.clone())
        );
        assert!(check_name(p.name()).is_ok());
    }
    if let Ok(p) = StorePath::from_base_name(s) {
        assert_eq!(p.to_string(), s);
    }
    // Any name: a path built from it parses exactly when the name is valid.
    let base = format!("00000000000000000000000000000000-{s}");
    assert_eq!(
        StorePath::from_base_name(&base).is_ok(),
        check_name(s).is_ok(),
        "{s:?}"
    );
    if let Ok(dir) = StoreDir::new(s) {
        let p = StorePath::new([0; 20], "x").expect("a valid name");
        assert_eq!(dir.parse_path(&dir.display_path(&p)).ok(), Some(p));
    }
});
