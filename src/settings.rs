//! The plain settings a pass honours, handed down from [`Options`](crate::Options).
//!
//! [`Options`](crate::Options) is the builder users hold; a [`Settings`] is the small `Copy`
//! value it hands to the layers below it (the directory walk (module `fs`), the
//! [NAR reader](crate::nar), the sinks [`IngestionMethod`](crate::method::IngestionMethod)s make,
//! the parallel and cached strategies). Each setting is defined here once, with its default, and
//! read back through these getters; no lower layer knows about `Options`.
//!
//! ```
//! use nix_ingest::{Limits, Options, Settings};
//!
//! let options = Options::new().threads(1).collision_detection(false).buffer_size(1);
//! let settings: &Settings = options.settings();
//! assert_eq!(settings.threads(), 1);
//! assert!(!settings.collision_detection());
//! // Raised to the smallest buffer used.
//! assert_eq!(settings.buffer_size(), Settings::MIN_BUFFER_SIZE);
//! assert_eq!(settings.limits(), &Limits::DEFAULT);
//! assert_eq!(Settings::default(), *Options::new().settings());
//! ```
use crate::limits::Limits;

/// Threads, SHA-1 collision detection, strict git roots, [`Limits`] and the read buffer size.
/// Build one with [`Options`](crate::Options); see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub(crate) threads: usize,
    pub(crate) collision_detection: bool,
    pub(crate) strict_root: bool,
    pub(crate) limits: Limits,
    pub(crate) buffer_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threads: 0,
            collision_detection: true,
            strict_root: false,
            limits: Limits::DEFAULT,
            buffer_size: Settings::DEFAULT_BUFFER_SIZE,
        }
    }
}

impl Settings {
    /// The default read buffer: 128 KiB.
    pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;

    /// The smallest read buffer used: 4 KiB.
    pub const MIN_BUFFER_SIZE: usize = 4 * 1024;

    /// How many threads a pass may use: `0` every core, `1` the calling thread only, `n` a pool
    /// of `n` (see [`Options::threads`](crate::Options::threads)).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether SHA-1 collision attacks are detected (see
    /// [`Options::collision_detection`](crate::Options::collision_detection)).
    pub fn collision_detection(&self) -> bool {
        self.collision_detection
    }

    /// Whether git hashing refuses ambiguous roots (see
    /// [`Options::strict_root`](crate::Options::strict_root)).
    pub fn strict_root(&self) -> bool {
        self.strict_root
    }

    /// The bounds on what a source accepts.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The read buffer size in bytes, never below [`Settings::MIN_BUFFER_SIZE`].
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Sets the read buffer size, raised to [`Settings::MIN_BUFFER_SIZE`]: the one place the
    /// minimum is applied.
    pub(crate) fn set_buffer_size(&mut self, bytes: usize) {
        self.buffer_size = bytes.max(Settings::MIN_BUFFER_SIZE);
    }
}
