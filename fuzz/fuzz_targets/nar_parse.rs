//! The push parser never panics, and gives the same verdict, the same events and the same error
//! (variant and byte offset) however the input is split and whether it is pushed or read through
//! `nar::read`. ReadError offsets lie inside the input; an accepted archive is the whole input.
//!
//! The first input byte picks the split size and, with its top bit, tight limits (so that every
//! limit error is reachable from small inputs); the rest is the archive.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::Limits;
use nix_ingest::event::Recorder;
use nix_ingest::nar::{self, ReadError, Parser};

/// Small enough that short inputs cross every limit.
const TIGHT: Limits = Limits {
    max_depth: 3,
    max_nar_depth: 3,
    max_name_len: 8,
    max_target_len: 8,
    max_entries_per_directory: 4,
    max_entries_total: 16,
    max_total_size: 64,
};

/// Pushes `data` in pieces of `chunk` bytes; bytes after the archive give `TrailingData`, as
/// `nar::read` reports them.
fn parse_in_chunks(data: &[u8], chunk: usize, limits: Limits) -> (Result<u64, ReadError>, Recorder) {
    let mut rec = Recorder::default();
    let mut parser = Parser::new(limits);
    for piece in data.chunks(chunk.max(1)) {
        match parser.push(piece, &mut rec) {
            Ok(n) if n < piece.len() => {
                assert!(parser.is_done(), "bytes left over before the archive ended");
                let offset = parser.offset();
                return (Err(ReadError::TrailingData { offset }), rec);
            }
            Ok(_) => {}
            Err(e) => return (Err(e), rec),
        }
    }
    (parser.finish(), rec)
}

/// Errors hold `io::Error`s, so compare their debug form (variant, offset and every field).
fn verdict(r: &Result<u64, ReadError>) -> String {
    format!("{r:?}")
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, data)) = input.split_first() else {
        return;
    };
    let limits = if ctl & 0x80 != 0 {
        TIGHT
    } else {
        Limits::default()
    };
    let chunk = usize::from(ctl & 0x0f) + 1;

    let (whole, rec_whole) = parse_in_chunks(data, data.len(), limits);
    let (split, rec_split) = parse_in_chunks(data, chunk, limits);
    assert_eq!(
        verdict(&whole),
        verdict(&split),
        "split into {chunk}-byte pieces"
    );
    assert_eq!(rec_whole, rec_split, "split into {chunk}-byte pieces");

    let mut rec_read = Recorder::default();
    let read = nar::read(data, &mut rec_read, &limits);
    assert_eq!(verdict(&whole), verdict(&read), "nar::read");
    assert_eq!(rec_whole, rec_read, "nar::read");

    let len = data.len() as u64;
    match &whole {
        Ok(n) => assert_eq!(*n, len, "an accepted archive is the whole input"),
        Err(ReadError::Truncated { offset }) => assert_eq!(*offset, len),
        Err(ReadError::TrailingData { offset }) => assert!(*offset < len),
        Err(e) => assert!(
            e.offset() < len,
            "offset {} past the input: {e}",
            e.offset()
        ),
    }
});
