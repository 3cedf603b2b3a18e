//! Flat hashing: Nix's `flat` file ingestion method (`nix hash path --mode flat`, content
//! addresses without a method prefix), the plain hash of one regular file's bytes.
//!
//! [`FlatHasher`] takes the [event stream](crate::event) of a single regular file and hashes its
//! contents; the executable bit does not matter (Nix gives a file and an executable with the
//! same bytes the same flat hash).
//!
//! ```
//! use nix_ingest::event::{Event, Sink};
//! use nix_ingest::flat::FlatHasher;
//! use nix_ingest::hash::{Algorithm, Format};
//!
//! let mut flat = FlatHasher::new(Algorithm::Sha256);
//! flat.event(Event::FileStart { name: None, executable: false, size: 13 })?;
//! flat.event(Event::FileData(b"Hello World!\n"))?;
//! flat.event(Event::FileEnd)?;
//! assert_eq!(
//!     flat.finish()?.encode(Format::Base16),
//!     "03ba204e50d126e4674c005e04d82e84c21366780af1f43bd54a37816b6ab340"
//! );
//! # Ok::<(), nix_ingest::event::SinkError>(())
//! ```
//!
//! # Where this differs from Nix
//!
//! - **A symlink root**: `nix hash path --mode flat` follows it and hashes the file it points to
//!   (and fails if the link dangles). An event stream carries only the link's target text, so
//!   [`FlatHasher`] refuses a symlink root with [`SinkError::Unsupported`]; resolve the link
//!   first and hash the file it names.
//! - **A directory root**: Nix fails (`reading from file: Is a directory`); [`FlatHasher`]
//!   refuses it with [`SinkError::Unsupported`], pointing to the `nar` and `git` methods.
//! - **SHA-1 collisions**: detected by default, unlike Nix
//!   ([`FlatHasher::collision_detection`]).

use crate::event::{Event, Sink, SinkError};
use crate::hash::{Algorithm, Hash, Hasher};

/// A [`Sink`] computing the flat hash of a root regular file. See the [module docs](self).
#[derive(Debug)]
pub struct FlatHasher {
    algorithm: Algorithm,
    detect_collisions: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    /// No event yet.
    Start,
    /// Inside the root file.
    File {
        hasher: Hasher,
        declared: u64,
        delivered: u64,
    },
    /// The root file is complete.
    Done(Hash),
    /// An event failed.
    Failed,
}

impl FlatHasher {
    /// A hasher for `algorithm`, detecting SHA-1 collision attacks (see
    /// [`collision_detection`](FlatHasher::collision_detection)).
    pub fn new(algorithm: Algorithm) -> Self {
        FlatHasher {
            algorithm,
            detect_collisions: true,
            state: State::Start,
        }
    }

    /// Whether to detect SHA-1 collision attacks (default `true`; set before the first event).
    ///
    /// With detection a file carrying a known collision attack fails with
    /// [`SinkError::Sha1Collision`] instead of yielding a digest its author chose; Nix does not
    /// detect, so turning detection off matches it exactly (and is faster).
    pub fn collision_detection(mut self, detect: bool) -> Self {
        self.detect_collisions = detect;
        self
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hash of the file, once the stream is complete.
    pub fn finish(self) -> Result<Hash, SinkError> {
        match self.state {
            State::Done(hash) => Ok(hash),
            State::Failed => Err(SinkError::Protocol(
                "the flat hasher was finished after an event failed",
            )),
            State::Start | State::File { .. } => Err(SinkError::Protocol(
                "the event stream ended before the root file was complete",
            )),
        }
    }

    fn step(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match (&mut self.state, event) {
            (
                State::Start,
                Event::FileStart {
                    name: None, size, ..
                },
            ) => {
                self.state = State::File {
                    hasher: Hasher::with_collision_detection(
                        self.algorithm,
                        self.detect_collisions,
                    ),
                    declared: size,
                    delivered: 0,
                };
                Ok(())
            }
            (
                State::Start,
                Event::FileStart { name: Some(_), .. }
                | Event::Symlink { name: Some(_), .. }
                | Event::DirectoryStart { name: Some(_) },
            ) => Err(SinkError::Protocol("the root object must not have a name")),
            (State::Start, Event::DirectoryStart { name: None }) => Err(SinkError::Unsupported(
                "flat hashing takes a single regular file, but the root is a directory \
                     (hash it with the nar or git method)"
                    .into(),
            )),
            (State::Start, Event::Symlink { name: None, target }) => {
                Err(SinkError::Unsupported(format!(
                    "flat hashing takes a single regular file, but the root is a symlink to \
                     '{}' (Nix follows a symlink root and hashes the file it points to: resolve \
                     the link and hash that file)",
                    String::from_utf8_lossy(target.get(..200).unwrap_or(target)).escape_debug()
                )))
            }
            (
                State::File {
                    hasher,
                    declared,
                    delivered,
                },
                Event::FileData(data),
            ) => {
                let total = delivered.saturating_add(data.len() as u64);
                if total > *declared {
                    return Err(SinkError::SizeMismatch {
                        declared: *declared,
                        actual: total,
                    });
                }
                *delivered = total;
                hasher.update(data);
                Ok(())
            }
            (
                State::File {
                    declared,
                    delivered,
                    ..
                },
                Event::FileEnd,
            ) => {
                if delivered != declared {
                    return Err(SinkError::SizeMismatch {
                        declared: *declared,
                        actual: *delivered,
                    });
                }
                let State::File { hasher, .. } = std::mem::replace(&mut self.state, State::Failed)
                else {
                    return Err(SinkError::Protocol("file end outside a file"));
                };
                let hash = hasher
                    .finalize()
                    .map_err(|e| SinkError::from_hash(e, "file"))?;
                self.state = State::Done(hash);
                Ok(())
            }
            (State::File { .. }, _) => Err(SinkError::Protocol(
                "a file's data must end with FileEnd before the next event",
            )),
            (State::Done(_), _) => Err(SinkError::Protocol("event after the root file ended")),
            (State::Start, Event::FileData(_)) => {
                Err(SinkError::Protocol("file data outside a file"))
            }
            (State::Start, Event::FileEnd) => Err(SinkError::Protocol("file end outside a file")),
            (State::Start, Event::DirectoryEnd) => Err(SinkError::Protocol(
                "directory end without an open directory",
            )),
            (State::Failed, _) => Err(SinkError::Protocol(
                "the flat hasher refuses events after one failed",
            )),
        }
    }
}

impl Sink for FlatHasher {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        let result = self.step(event);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Format;

    fn file(flat: &mut FlatHasher, executable: bool, chunks: &[&[u8]]) -> Result<(), SinkError> {
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        flat.event(Event::FileStart {
            name: None,
            executable,
            size,
        })?;
        for c in chunks {
            flat.event(Event::FileData(c))?;
        }
        flat.event(Event::FileEnd)
    }

    fn hex(flat: FlatHasher) -> String {
        flat.finish().unwrap().encode(Format::Base16)
    }

    #[test]
    fn file_and_executable_hash_alike() {
        // `nix hash path --mode flat --algo sha256 --format base16` of a file holding
        // "Hello World!\n", and of a copy with chmod +x: both print this.
        const NIX: &str = "03ba204e50d126e4674c005e04d82e84c21366780af1f43bd54a37816b6ab340";
        for executable in [false, true] {
            let mut flat = FlatHasher::new(Algorithm::Sha256);
            file(&mut flat, executable, &[b"Hello ", b"", b"World!\n"]).unwrap();
            assert_eq!(hex(flat), NIX);
        }
        // And of an empty file: the sha256 of no bytes.
        let mut flat = FlatHasher::new(Algorithm::Sha256);
        file(&mut flat, false, &[]).unwrap();
        assert_eq!(
            hex(flat),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn directory_and_symlink_roots_are_unsupported() {
        // Nix: "error: reading from file: Is a directory" for a directory; for a symlink it
        // follows the link, which a stream cannot.
        let mut flat = FlatHasher::new(Algorithm::Sha256);
        let err = flat
            .event(Event::DirectoryStart { name: None })
            .unwrap_err();
        assert!(matches!(&err, SinkError::Unsupported(m) if m.contains("directory")));
        let mut flat = FlatHasher::new(Algorithm::Sha256);
        let err = flat
            .event(Event::Symlink {
                name: None,
                target: b"file",
            })
            .unwrap_err();
        assert!(
            matches!(&err, SinkError::Unsupported(m) if m.contains("symlink") && m.contains("'file'"))
        );
        assert!(flat.finish().is_err());
    }

    /// A flat hasher that was told of a 3-byte file and given "ab".
    fn two_of_three() -> FlatHasher {
        let mut flat = FlatHasher::new(Algorithm::Sha256);
        flat.event(Event::FileStart {
            name: None,
            executable: false,
            size: 3,
        })
        .unwrap();
        flat.event(Event::FileData(b"ab")).unwrap();
        flat
    }

    #[test]
    fn sizes_must_match() {
        let mut flat = two_of_three();
        assert!(matches!(
            flat.event(Event::FileEnd),
            Err(SinkError::SizeMismatch {
                declared: 3,
                actual: 2
            })
        ));
        assert!(flat.finish().is_err());

        let mut flat = two_of_three();
        assert!(matches!(
            flat.event(Event::FileData(b"cd")),
            Err(SinkError::SizeMismatch {
                declared: 3,
                actual: 4
            })
        ));
        // Poisoned: even a well-formed end is refused, and there is no hash.
        assert!(matches!(
            flat.event(Event::FileEnd),
            Err(SinkError::Protocol(_))
        ));
        assert!(flat.finish().is_err());
    }

    #[test]
    fn broken_grammar_is_a_protocol_error() {
        let cases: &[&[Event<'_>]] = &[
            &[Event::FileData(b"x")],
            &[Event::FileEnd],
            &[Event::DirectoryEnd],
            &[Event::FileStart {
                name: Some(b"x"),
                executable: false,
                size: 0,
            }],
            &[
                Event::FileStart {
                    name: None,
                    executable: false,
                    size: 0,
                },
                Event::DirectoryEnd,
            ],
            &[
                Event::FileStart {
                    name: None,
                    executable: false,
                    size: 0,
                },
                Event::FileEnd,
                Event::FileEnd,
            ],
        ];
        for events in cases {
            let mut flat = FlatHasher::new(Algorithm::Sha1);
            let result = events.iter().try_for_each(|e| flat.event(*e));
            assert!(
                matches!(result, Err(SinkError::Protocol(_))),
                "{events:?}: {result:?}"
            );
            assert!(flat.finish().is_err());
        }
        // An unfinished stream has no hash.
        let mut flat = FlatHasher::new(Algorithm::Sha1);
        flat.event(Event::FileStart {
            name: None,
            executable: false,
            size: 0,
        })
        .unwrap();
        assert!(matches!(flat.finish(), Err(SinkError::Protocol(_))));
        assert!(matches!(
            FlatHasher::new(Algorithm::Sha1).finish(),
            Err(SinkError::Protocol(_))
        ));
    }

    #[test]
    fn every_algorithm() {
        // `nix hash path --mode flat --algo ALGO --format base16` agrees with the plain digest
        // of the bytes; these are the standard test vectors for "abc".
        for (algo, hex_digest) in [
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                Algorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ] {
            let mut flat = FlatHasher::new(algo);
            file(&mut flat, false, &[b"a", b"bc"]).unwrap();
            assert_eq!(hex(flat), hex_digest);
        }
    }

    fn shattered(n: u8) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/shattered-{n}.pdf",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn sha1_collisions_are_detected_unless_disabled() {
        // `nix hash path --mode flat --algo sha1 --format base16` prints this for both PDFs
        // (Nix does not detect collisions).
        const NIX: &str = "38762cf7f55934b34d179ae6a4c80cadccbb7f0a";
        for n in [1, 2] {
            let pdf = shattered(n);
            let mut flat = FlatHasher::new(Algorithm::Sha1);
            let err = file(&mut flat, false, &[&pdf]).unwrap_err();
            assert!(
                matches!(&err, SinkError::Sha1Collision { object: "file", digest } if digest == NIX),
                "{err:?}"
            );
            assert!(flat.finish().is_err());

            let mut flat = FlatHasher::new(Algorithm::Sha1).collision_detection(false);
            file(&mut flat, false, &[&pdf]).unwrap();
            assert_eq!(hex(flat), NIX);
        }
    }
}
