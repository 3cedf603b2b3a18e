//! [`Want`]: one hash asked of a route, as an ingestion method and an algorithm.

use std::fmt;

use crate::hash::Algorithm;
use crate::method::{FileIngestionMethod, IngestionMethod};

/// One hash to compute: an ingestion method (Nix's `--mode`) and an algorithm (`--algo`).
///
/// Every hashing route of [`Options`] takes wants in the same shape: one [`Want`] for one answer
/// ([`Options::hash_path`], [`Options::hash_nar`]), a slice of them for several answers from one
/// pass, in the same order ([`Options::hash_path_multi`], [`Options::hash_nar_multi`]). A want
/// is a small `Copy` value, so one list serves several routes; a path info
/// [`Request`](crate::path_info::Request) takes extra digests in the same shape.
///
/// [`Want::new`] names one of Nix's methods; [`Want::custom`] takes a method of your own (any
/// [`IngestionMethod`]), which stands beside Nix's in every route.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use nix_ingest::{Algorithm, FileIngestionMethod, Format, Options, Want};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("foo"), "Hello World!\n")?;
/// let options = Options::new();
///
/// let git = Want::new(FileIngestionMethod::Git, Algorithm::Sha1);
/// let nar = Want::new(FileIngestionMethod::Nar, Algorithm::Sha256);
/// // One answer…
/// let id = options.hash_path(dir.path(), git)?;
/// // `git write-tree` of the same tree:
/// assert_eq!(id.encode(Format::Base16), "6fc242ca27b60d870ed6a71eeebcacb1da1fcb97");
/// // …or several from one walk, in the order asked.
/// let both = options.hash_path_multi(dir.path(), &[git, nar])?;
/// assert_eq!(both[0], id);
///
/// // The NAR of the same tree gives the same answers.
/// let mut bytes = Vec::new();
/// options.dump_nar(dir.path(), &mut bytes)?;
/// assert_eq!(options.hash_nar_multi(&bytes[..], &[git, nar])?, both);
/// # Ok(()) }
/// ```
///
/// [`Options`]: crate::Options
/// [`Options::hash_nar`]: crate::Options::hash_nar
/// [`Options::hash_nar_multi`]: crate::Options::hash_nar_multi
// Without `fs`, links to what it adds point at the full documentation.
#[cfg_attr(
    feature = "fs",
    doc = "[`Options::hash_path`]: crate::Options::hash_path",
    doc = "[`Options::hash_path_multi`]: crate::Options::hash_path_multi"
)]
#[cfg_attr(
    not(feature = "fs"),
    doc = "[`Options::hash_path`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path",
    doc = "[`Options::hash_path_multi`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.hash_path_multi"
)]
#[derive(Clone, Copy)]
pub struct Want<'m> {
    method: &'m (dyn IngestionMethod + Sync),
    algorithm: Algorithm,
}

impl Want<'static> {
    /// One of Nix's methods with `algorithm`: what `nix hash path --mode METHOD --algo
    /// ALGORITHM` prints.
    pub const fn new(method: FileIngestionMethod, algorithm: Algorithm) -> Self {
        let method: &'static (dyn IngestionMethod + Sync) = match method {
            FileIngestionMethod::Flat => &FileIngestionMethod::Flat,
            FileIngestionMethod::Nar => &FileIngestionMethod::Nar,
            FileIngestionMethod::Git => &FileIngestionMethod::Git,
        };
        Want { method, algorithm }
    }
}

impl<'m> Want<'m> {
    /// Any method, e.g. one of your own, with `algorithm` (see [`IngestionMethod`] for an
    /// example). The method is borrowed, and must be `Sync` so that a want can go with a route
    /// to other threads or across `.await`s.
    pub const fn custom(method: &'m (dyn IngestionMethod + Sync), algorithm: Algorithm) -> Self {
        Want { method, algorithm }
    }

    /// The ingestion method.
    pub const fn method(&self) -> &'m (dyn IngestionMethod + Sync) {
        self.method
    }

    /// The hash algorithm.
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl fmt::Debug for Want<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Want")
            .field("method", &self.method.name())
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_nix_methods() {
        for m in FileIngestionMethod::ALL {
            for a in Algorithm::ALL {
                let want = Want::new(m, a);
                assert_eq!(want.method().file_ingestion_method(), Some(m));
                assert_eq!(want.method().name(), m.name());
                assert_eq!(want.algorithm(), a);
                assert_eq!(
                    format!("{want:?}"),
                    format!("Want {{ method: {:?}, algorithm: {a:?} }}", m.name())
                );
            }
        }
    }

    #[test]
    fn wants_are_send_and_sync() {
        fn check<T: Send + Sync + Copy>() {}
        check::<Want<'_>>();
    }
}
