//! Restoring from a hostile git object store never panics, and whatever it restores is exactly
//! the object the root id names: the events hash back to the root id, and their NAR parses back
//! to the same events.
//!
//! The input is a little program that builds the store: blobs, well-formed trees of entries
//! pointing at earlier objects (with any mode and name bytes, in any order), raw tree bodies,
//! and objects stored under another object's id. The last object is the root.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::Limits;
use nix_ingest::event::{Event, OwnedEvent, Recorder, Sink, SinkError, replay};
use nix_ingest::git::source::MemoryObjects;
use nix_ingest::git::{GitHasher, Mode, ObjectKind};
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::nar::NarWriter;
use nix_ingest::git::events;

/// Modes a tree entry may carry: the four git writes, a submodule, and non-canonical ones.
const MODES: [&[u8]; 8] = [
    b"100644", b"100755", b"120000", b"40000", b"160000", b"040000", b"100664", b"",
];

/// Stops a stream after a budget of events and bytes: a few objects can describe an
/// exponentially large tree (documented), which is not what this target is after.
struct Budget<S> {
    inner: S,
    left: u64,
}

impl<S: Sink> Sink for Budget<S> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        let cost = match event {
            Event::FileData(d) => d.len() as u64,
            _ => 1,
        };
        self.left = self
            .left
            .checked_sub(cost.max(1))
            .ok_or(SinkError::Unsupported("fuzz budget exhausted".into()))?;
        self.inner.event(event)
    }
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(ctl) = input.byte() else { return };
    let algorithm = if ctl & 1 == 0 {
        Algorithm::Sha1
    } else {
        Algorithm::Sha256
    };
    let root_mode =
        [Mode::Directory, Mode::File, Mode::Executable, Mode::Symlink][usize::from(ctl >> 1 & 3)];
    let limits = Limits {
        max_depth: 64,
        max_total_size: 1 << 20,
        ..Limits::default()
    };

    let mut store = MemoryObjects::new();
    let mut ids: Vec<Hash> = Vec::new();
    while let Some(op) = input.byte() {
        match op % 4 {
            0 => {
                let len = usize::from(input.byte().unwrap_or(0));
                let body = input.bytes(len).to_vec();
                ids.push(store.insert(algorithm, ObjectKind::Blob, body));
            }
            1 => {
                let n = op >> 2 & 7;
                let mut body = Vec::new();
                for _ in 0..n {
                    let (Some(m), Some(name_len), Some(r)) =
                        (input.byte(), input.byte(), input.byte())
                    else {
                        break;
                    };
                    body.extend_from_slice(MODES[usize::from(m % 8)]);
                    body.push(b' ');
                    body.extend(
                        input
                            .bytes(usize::from(name_len % 8))
                            .iter()
                            .filter(|&&b| b != 0),
                    );
                    body.push(0);
                    match ids.get(usize::from(r) % ids.len().max(1)) {
                        Some(id) => body.extend_from_slice(id.as_bytes()),
                        None => body.extend(std::iter::repeat_n(r, algorithm.len())),
                    }
                }
                ids.push(store.insert(algorithm, ObjectKind::Tree, body));
            }
            2 => {
                let len = usize::from(input.byte().unwrap_or(0));
                let body = input.bytes(len).to_vec();
                ids.push(store.insert(algorithm, ObjectKind::Tree, body));
            }
            _ => {
                // Forge: another body under an existing id.
                let (Some(r), Some(len)) = (input.byte(), input.byte()) else {
                    break;
                };
                if let Some(&id) = ids.get(usize::from(r) % ids.len().max(1)) {
                    let kind = if op & 4 == 0 {
                        ObjectKind::Blob
                    } else {
                        ObjectKind::Tree
                    };
                    let body = input.bytes(usize::from(len)).to_vec();
                    store.insert_with_id(id, kind, body);
                }
            }
        }
    }
    let Some(&root) = ids.last() else { return };

    let mut sink = Budget {
        inner: Recorder::default(),
        left: 100_000,
    };
    if events::to_events(&root, root_mode, &mut store, &mut sink, &limits).is_err() {
        return;
    }
    let rec = sink.inner;

    let mut git = GitHasher::new(algorithm);
    replay(&rec.events, &mut git).expect("restored events are a valid stream");
    assert_eq!(
        git.finish().ok(),
        Some(root),
        "restored object hashes to another id"
    );

    // A symlink whose blob is empty or holds NUL has no NAR (nor a place on a file system):
    // the NAR writer must refuse it, and take everything else.
    let nar_can_hold = rec.events.iter().all(|e| match e {
        OwnedEvent::Symlink { target, .. } => !target.is_empty() && !target.contains(&0),
        _ => true,
    });
    let mut nar = NarWriter::new(Vec::new());
    let written = replay(&rec.events, &mut nar);
    assert_eq!(written.is_ok(), nar_can_hold, "{written:?}");
    if written.is_ok() {
        let bytes = nar.finish().expect("a complete stream finishes");
        let mut again = Recorder::default();
        nix_ingest::nar::read(&bytes[..], &mut again, &limits).expect("restored NAR parses");
        assert_eq!(again, rec);
    }
});
