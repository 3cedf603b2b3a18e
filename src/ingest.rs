//! (in progress)
/// placeholder
pub fn hash_nar() {}
/// placeholder
#[cfg(feature = "fs")]
pub fn hash_path() {}
