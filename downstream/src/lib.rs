//! A stand-in for a crate that depends on `nix-ingest`: its tests (`tests/uses.rs`) do, in a few
//! lines each and through the public API only, what the library's users do: write a narinfo for
//! a directory, hash a NAR file several ways in one pass, plug in an ingestion method of their
//! own, handle content addresses, and read NARs from tokio. Every expected value comes from real
//! Nix (the golden data under `tests/data/` of the library).
//!
//! The one piece of code users would write themselves lives here: a custom method.

use nix_ingest::event::{Event, Sink, SinkError};
use nix_ingest::hash::Hasher;
use nix_ingest::method::{self, HashSink, IngestionMethod};
use nix_ingest::nar::NarWriter;
use nix_ingest::{Algorithm, Hash, Settings};

/// The hash of an object's NAR with any algorithm, computed by serialising the NAR into a
/// hasher: what `nix hash path --mode nar` answers, written as a user would write a method of
/// their own (the library's `nar` method does the same faster).
pub struct NarOf;

/// [`NarOf`]'s sink: a NAR writer whose output is a hasher.
pub struct NarOfSink(NarWriter<Hasher>);

impl Sink for NarOfSink {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        self.0.event(event)
    }
}

impl HashSink for NarOfSink {
    fn finish(self: Box<Self>) -> Result<Hash, SinkError> {
        let hasher = self.0.finish()?;
        // A SHA-1 collision becomes the error the library's own methods report.
        hasher
            .finalize()
            .map_err(|e| SinkError::from_hash(e, "NAR"))
    }
}

impl IngestionMethod for NarOf {
    fn name(&self) -> &str {
        "nar-of"
    }

    fn hash_sink(
        &self,
        algorithm: Algorithm,
        settings: &Settings,
    ) -> Result<Box<dyn HashSink>, method::MethodError> {
        let hasher = Hasher::with_collision_detection(algorithm, settings.collision_detection());
        Ok(Box::new(NarOfSink(NarWriter::new(hasher))))
    }
}

/// The hash of every regular file's contents, in NAR order, ignoring names, modes and symlinks:
/// a toy method of one's own. For a single file it is the file's flat hash.
pub struct Contents;

/// [`Contents`]' sink.
pub struct ContentsSink(Hasher);

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
            .map_err(|e| SinkError::from_hash(e, "file"))
    }
}

impl IngestionMethod for Contents {
    fn name(&self) -> &str {
        "contents"
    }

    fn hash_sink(
        &self,
        algorithm: Algorithm,
        settings: &Settings,
    ) -> Result<Box<dyn HashSink>, method::MethodError> {
        let hasher = Hasher::with_collision_detection(algorithm, settings.collision_detection());
        Ok(Box::new(ContentsSink(hasher)))
    }
}
