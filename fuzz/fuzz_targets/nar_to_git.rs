//! NAR → git never panics; an accepted NAR hashes the same directly and through a recorded
//! replay, and its git objects restore to exactly the same NAR (NAR → git → NAR is the identity).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nix_ingest::Limits;
use nix_ingest::event::{OwnedEvent, Recorder, Tee, replay};
use nix_ingest::git::source::MemoryObjects;
use nix_ingest::git::{GitHasher, Mode};
use nix_ingest::hash::Algorithm;
use nix_ingest::git::events;

fuzz_target!(|data: &[u8]| {
    let mut tee = Tee::new(
        GitHasher::with_objects(Algorithm::Sha1, MemoryObjects::new()),
        Tee::new(GitHasher::new(Algorithm::Sha256), Recorder::default()),
    );
    if nix_ingest::nar::read(data, &mut tee, &Limits::default()).is_err() {
        return;
    }
    let (git, Tee { a: git256, b: rec }) = (tee.a, tee.b);
    // Nothing in a fuzzer's reach carries a SHA-1 collision attack: both must finish.
    let (id, mut objects) = git
        .finish_with_objects()
        .expect("an accepted NAR has a git id");
    let id256 = git256.finish().expect("an accepted NAR has a git id");

    for (algorithm, direct) in [(Algorithm::Sha1, id), (Algorithm::Sha256, id256)] {
        let mut again = GitHasher::new(algorithm);
        replay(&rec.events, &mut again).expect("a recorded valid stream replays");
        assert_eq!(again.finish().ok(), Some(direct));
    }

    let mode = match rec.events.first() {
        Some(OwnedEvent::DirectoryStart { .. }) => Mode::Directory,
        Some(OwnedEvent::Symlink { .. }) => Mode::Symlink,
        Some(OwnedEvent::FileStart {
            executable: true, ..
        }) => Mode::Executable,
        _ => Mode::File,
    };
    let restored = events::to_nar(&id, mode, &mut objects, Vec::new(), &Limits::default())
        .expect("the objects of an accepted NAR restore");
    assert_eq!(restored, data, "git objects restore to a different NAR");
});
