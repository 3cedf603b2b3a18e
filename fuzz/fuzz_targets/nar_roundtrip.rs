//! What parses re-serialises to exactly the same bytes, and its NAR hash is the hash of those
//! bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::Limits;
use nix_ingest::event::{Recorder, replay};
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::nar::{NarHasher, NarWriter};

fuzz_target!(|data: &[u8]| {
    let mut rec = Recorder::default();
    if nix_ingest::nar::read(data, &mut rec, &Limits::default()).is_ok() {
        let mut writer = NarWriter::new(Vec::new());
        replay(&rec.events, &mut writer).expect("a parsed stream re-serialises");
        assert_eq!(writer.bytes_written(), data.len() as u64);
        let out = writer.finish().expect("a complete stream finishes");
        assert_eq!(out, data);

        let mut hasher = NarHasher::new(Algorithm::Sha256);
        replay(&rec.events, &mut hasher).expect("a parsed stream hashes");
        let (hash, size) = hasher.finish_with_size().expect("a complete stream hashes");
        assert_eq!(hash, Hash::digest(Algorithm::Sha256, data));
        assert_eq!(size, data.len() as u64);
    }
});
