//! Sinks fed by a foreign, possibly broken event stream never panic, and agree on what a valid
//! stream is: the NAR writer and the git hasher accept the same streams (except symlink targets
//! that are empty or hold NUL, which only NAR refuses), the flat hasher accepts exactly the valid
//! streams whose root is a file, and what the NAR writer writes parses back to the same events
//! and the same git id.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::Limits;
use nix_ingest::event::{OwnedEvent, Recorder, Sink, replay};
use nix_ingest::flat::FlatHasher;
use nix_ingest::git::GitHasher;
use nix_ingest::hash::Algorithm;
use nix_ingest::nar::{self, NarWriter};

/// Name and target bytes: ordinary ones, and each byte some rule is about.
const ALPHABET: [u8; 6] = [b'a', b'b', b'.', b'/', 0, 0xff];

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    /// `None` (1 in 8), else up to 3 bytes of the alphabet.
    fn name(&mut self) -> Option<Vec<u8>> {
        let b = self.byte()?;
        (b & 7 != 0).then(|| self.text(usize::from(b >> 3 & 3)))
    }
    fn text(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map_while(|_| self.byte())
            .map(|b| ALPHABET[usize::from(b % 6)])
            .collect()
    }
}

fn decode(data: &[u8]) -> Vec<OwnedEvent> {
    let mut input = Input(data);
    let mut events = Vec::new();
    while let Some(op) = input.byte() {
        events.push(match op % 6 {
            0 => OwnedEvent::DirectoryStart { name: input.name() },
            1 => OwnedEvent::DirectoryEnd,
            2 => OwnedEvent::FileStart {
                name: input.name(),
                executable: op & 8 != 0,
                size: u64::from(op >> 4),
            },
            3 => OwnedEvent::FileData(
                input
                    .0
                    .get(..usize::from(op >> 4))
                    .unwrap_or_default()
                    .to_vec(),
            ),
            4 => OwnedEvent::FileEnd,
            _ => OwnedEvent::Symlink {
                name: input.name(),
                target: input.text(usize::from(op >> 4 & 3)),
            },
        });
        if let Some(OwnedEvent::FileData(d)) = events.last() {
            input.0 = input.0.get(d.len()..).unwrap_or_default();
        }
    }
    events
}

/// Feeds every event; `Ok` only if each was taken and the sink then finishes.
fn feed<S: Sink>(sink: &mut S, events: &[OwnedEvent]) -> bool {
    events.iter().all(|e| sink.event(e.as_event()).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let events = decode(data);

    let mut writer = NarWriter::new(Vec::new());
    let nar_ok = feed(&mut writer, &events);
    let nar = if nar_ok { writer.finish().ok() } else { None };

    let mut git = GitHasher::new(Algorithm::Sha1);
    let git_ok = feed(&mut git, &events);
    let id = if git_ok { git.finish().ok() } else { None };

    let mut flat = FlatHasher::new(Algorithm::Sha256);
    let flat_ok = feed(&mut flat, &events);
    let flat_hash = if flat_ok { flat.finish().ok() } else { None };

    let nar_expressible = events.iter().all(|e| match e {
        OwnedEvent::Symlink { target, .. } => !target.is_empty() && !target.contains(&0),
        _ => true,
    });
    assert_eq!(
        nar.is_some(),
        id.is_some() && nar_expressible,
        "NAR {nar_ok}, git {git_ok}"
    );
    let file_root = matches!(events.first(), Some(OwnedEvent::FileStart { .. }));
    assert_eq!(
        flat_hash.is_some(),
        id.is_some() && file_root,
        "flat {flat_ok}, git {git_ok}"
    );

    if let Some(bytes) = nar {
        let mut rec = Recorder::default();
        nar::read(&bytes[..], &mut rec, &Limits::default()).expect("written NAR parses");
        let mut expected = Recorder::default();
        replay(&events, &mut expected).expect("recorder takes anything");
        assert_eq!(rec, expected);
        let mut again = GitHasher::new(Algorithm::Sha1);
        replay(&rec.events, &mut again).expect("parsed events hash");
        assert_eq!(again.finish().ok(), id);
    }
});
