//! Every route honours every setting of `Options`: SHA-1 collision detection (with the SHAttered
//! PDF, whose flat SHA-1 is a known collision), strict git roots on one thread and several, and
//! limits; and a method of one's own gets the same options as Nix's.
//!
//! Expected digests come from real tools: `sha1sum tests/data/shattered-1.pdf`,
//! `git hash-object tests/data/shattered-1.pdf`, and Nix 2.26.3
//! `nix hash path --mode nar|git --algo sha1 --base16` of the file and of a directory holding it.
#![cfg(feature = "fs")]

use std::error::Error as StdError;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use nix_ingest::Want;
use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::hash::Hasher;
use nix_ingest::method::{self, HashSink, IngestionMethod};
use nix_ingest::nar::NarWriter;
use nix_ingest::{Algorithm, FileIngestionMethod, Format, Hash, Limits, Options};

const FLAT: &str = "38762cf7f55934b34d179ae6a4c80cadccbb7f0a"; // sha1sum
const NAR: &str = "a7a08e70b8cc28cc7e39c036b557723c1be0b872"; // nix hash path --mode nar
const BLOB: &str = "ba9aaa145ccd24ef760cf31c74d8f7ca1a2e47b0"; // git hash-object
const TREE: &str = "e83561a1556beadde1b9f36889cd1586549be0c7"; // nix hash path --mode git (dir)

fn shattered() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shattered-1.pdf");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shattered-1.pdf"),
        &file,
    )
    .unwrap();
    (dir, file)
}

/// The NAR `nix-store --dump` gives for `path`.
fn nar_of(path: &Path) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    nix_ingest::fs::dump(path, &mut w, &nix_ingest::Settings::default()).unwrap();
    w.finish().unwrap()
}

/// Whether a SHA-1 collision (the built-in sinks' error) is somewhere in `e`'s causes.
fn is_collision(e: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if matches!(
            e.downcast_ref::<SinkError>(),
            Some(SinkError::Sha1Collision { .. })
        ) {
            return true;
        }
        cause = e.source();
    }
    false
}

fn hex(h: &Hash) -> String {
    h.encode(Format::Base16)
}

#[test]
fn collision_detection_reaches_every_route() {
    let (dir, file) = shattered();
    let nar = nar_of(&file);
    let flat = Want::new(FileIngestionMethod::Flat, Algorithm::Sha1);
    let pairs = [
        flat,
        Want::new(FileIngestionMethod::Nar, Algorithm::Sha1),
        Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
    ];
    let pdf = std::fs::read(&file).unwrap();
    for threads in [0, 1, 2] {
        let detect = Options::new().threads(threads);
        let nix = Options::new().threads(threads).collision_detection(false);

        let e = detect.hash_path(&file, flat).unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let e = detect.hash_path_multi(&file, &pairs).unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let e = detect.hash_nar(&nar[..], flat).unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let e = detect.hash_nar_multi(&nar[..], &pairs).unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let e = detect.hash_flat(&pdf[..], Algorithm::Sha1).unwrap_err();
        assert!(is_collision(&e), "{e:?}");

        assert_eq!(hex(&nix.hash_path(&file, flat).unwrap()), FLAT);
        assert_eq!(hex(&nix.hash_nar(&nar[..], flat).unwrap()), FLAT);
        assert_eq!(
            hex(&nix.hash_flat(&pdf[..], Algorithm::Sha1).unwrap()),
            FLAT
        );
        let all = nix.hash_path_multi(&file, &pairs).unwrap();
        assert_eq!(all.iter().map(hex).collect::<Vec<_>>(), [FLAT, NAR, BLOB]);
        let all = nix.hash_nar_multi(&nar[..], &pairs).unwrap();
        assert_eq!(all.iter().map(hex).collect::<Vec<_>>(), [FLAT, NAR, BLOB]);

        // The blob's header moves the attack off its blocks: git (and Nix) hash it either way,
        // on one thread or several.
        for options in [&detect, &nix] {
            let tree = options
                .hash_path(
                    dir.path(),
                    Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
                )
                .unwrap();
            assert_eq!(hex(&tree), TREE);
        }
    }
}

/// The flat hash of a pipe, whose length is known only at its end: what `sha1sum` prints for
/// the bytes, read through the options' small buffer in many reads, and refused past the
/// options' size limit.
#[test]
fn flat_hash_of_a_pipe() {
    use std::io::Write;
    let (_dir, file) = shattered();
    let pdf = std::fs::read(&file).unwrap();
    let len = pdf.len() as u64;
    for (limit, fits) in [(u64::MAX, true), (len, true), (len - 1, false)] {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let bytes = pdf.clone();
        let feeder = std::thread::spawn(move || {
            // Odd chunks, so that reads end anywhere; a refused stream closes the pipe early.
            for chunk in bytes.chunks(1000) {
                if writer.write_all(chunk).is_err() {
                    break;
                }
            }
        });
        let options = Options::new()
            .collision_detection(false)
            .buffer_size(1)
            .limits(Limits {
                max_total_size: limit,
                ..Limits::default()
            });
        let got = options.hash_flat(reader, Algorithm::Sha1);
        feeder.join().unwrap();
        match got {
            Ok(hash) if fits => assert_eq!(hex(&hash), FLAT),
            Err(nix_ingest::ingest::IngestError::TotalSizeExceeded { limit: l }) if !fits => {
                assert_eq!(l, limit)
            }
            other => panic!("limit {limit}: {other:?}"),
        }
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn collision_detection_reaches_the_async_routes() {
    let (_dir, file) = shattered();
    let nar = nar_of(&file);
    let e = Options::new()
        .hash_nar_async(
            &nar[..],
            Want::new(FileIngestionMethod::Flat, Algorithm::Sha1),
        )
        .await
        .unwrap_err();
    assert!(is_collision(&e), "{e:?}");
    let nix = Options::new().collision_detection(false);
    let got = nix
        .hash_nar_async(
            &nar[..],
            Want::new(FileIngestionMethod::Flat, Algorithm::Sha1),
        )
        .await
        .unwrap();
    assert_eq!(hex(&got), FLAT);
    let all = nix
        .hash_nar_multi_async(
            &nar[..],
            &[
                Want::new(FileIngestionMethod::Nar, Algorithm::Sha1),
                Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(all.iter().map(hex).collect::<Vec<_>>(), [NAR, BLOB]);
}

#[test]
fn collision_detection_reaches_verify() {
    use nix_ingest::verify::{self, Claim};
    use nix_ingest::{ContentAddress, StoreDir};
    let (_dir, file) = shattered();
    let nar = nar_of(&file);
    let hash = Hash::parse_unprefixed(FLAT, Algorithm::Sha1).unwrap();
    let claim = Claim::new(
        "shattered-1.pdf",
        ContentAddress::fixed(FileIngestionMethod::Flat, hash),
    );
    let store = StoreDir::default();
    let e = verify::verify_nar(&nar[..], &claim, &store, &Options::new()).unwrap_err();
    assert!(is_collision(&e), "{e:?}");
    let nix = Options::new().collision_detection(false);
    assert!(verify::verify_nar(&nar[..], &claim, &store, &nix).is_ok());
}

#[test]
fn strict_root_on_one_thread_and_several() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("exe");
    std::fs::write(&exe, "Hello World!\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = dir.path().join("link");
    symlink("Hello World!\n", &link).unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "Hello World!\n").unwrap();
    for threads in [0, 1, 2] {
        let strict = Options::new().threads(threads).strict_root(true);
        let lax = Options::new().threads(threads);
        for path in [&exe, &link, &plain] {
            // Like Nix, all three give the blob id of "Hello World!\n" (`git hash-object`).
            let id = lax
                .hash_path(path, Want::new(FileIngestionMethod::Git, Algorithm::Sha1))
                .unwrap();
            assert_eq!(hex(&id), "980a0d5f19a64b4b30a87d4206aade58726b60e3");
            let got = strict.hash_path(path, Want::new(FileIngestionMethod::Git, Algorithm::Sha1));
            if path == &plain {
                assert_eq!(got.unwrap(), id);
            } else {
                let e = got.unwrap_err();
                let refused = format!("{:?}", e.source().unwrap_or(&e));
                assert!(refused.contains("strict mode"), "{path:?} {threads}: {e:?}");
            }
        }
        // Directories are never ambiguous.
        assert!(
            strict
                .hash_path(
                    dir.path(),
                    Want::new(FileIngestionMethod::Git, Algorithm::Sha1)
                )
                .is_ok()
        );
    }
}

#[test]
fn limits_reach_every_route() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), "12345").unwrap();
    std::fs::write(dir.path().join("b"), "12345").unwrap();
    let nar = nar_of(dir.path());
    let tight = Limits {
        max_total_size: 9,
        ..Limits::default()
    };
    for threads in [0, 1] {
        let options = Options::new().threads(threads).limits(tight);
        for method in FileIngestionMethod::ALL {
            if method == FileIngestionMethod::Flat {
                continue;
            }
            assert!(
                options
                    .hash_path(dir.path(), Want::new(method, Algorithm::Sha256))
                    .is_err()
            );
            assert!(
                options
                    .hash_nar(&nar[..], Want::new(method, Algorithm::Sha256))
                    .is_err()
            );
            let roomy = Options::new().threads(threads);
            assert!(
                roomy
                    .hash_path(dir.path(), Want::new(method, Algorithm::Sha256))
                    .is_ok()
            );
        }
    }
}

/// A method of one's own: the SHA-1 of file contents in NAR order. Its sink reads the options it
/// was made with, so collision detection reaches it like Nix's methods, and a collision in it is
/// the same error.
struct Contents;

struct ContentsSink(Hasher);

impl Sink for ContentsSink {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Event::FileData(data) = event {
            self.0.update(data);
        }
        Ok(())
    }
}

impl HashSink for ContentsSink {
    fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
        self.0
            .finalize()
            .map_err(|e| SinkError::from_hash(e, "contents"))
    }
}

impl IngestionMethod for Contents {
    fn name(&self) -> &str {
        "contents"
    }
    fn hash_sink(
        &self,
        algorithm: Algorithm,
        settings: &nix_ingest::Settings,
    ) -> Result<Box<dyn HashSink>, method::MethodError> {
        Ok(Box::new(ContentsSink(Hasher::with_collision_detection(
            algorithm,
            settings.collision_detection(),
        ))))
    }
}

#[test]
fn custom_methods_get_the_options() {
    let (_dir, file) = shattered();
    let nar = nar_of(&file);
    for threads in [0, 1] {
        let e = Options::new()
            .threads(threads)
            .hash_path(&file, Want::custom(&Contents, Algorithm::Sha1))
            .unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let e = Options::new()
            .hash_nar(&nar[..], Want::custom(&Contents, Algorithm::Sha1))
            .unwrap_err();
        assert!(is_collision(&e), "{e:?}");
        let nix = Options::new().threads(threads).collision_detection(false);
        // With git in the same pass (git alone could take the parallel route; a custom method
        // never does).
        let all = nix
            .hash_path_multi(
                &file,
                &[
                    Want::custom(&Contents, Algorithm::Sha1),
                    Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
                ],
            )
            .unwrap();
        assert_eq!(all.iter().map(hex).collect::<Vec<_>>(), [FLAT, BLOB]);
    }
}
