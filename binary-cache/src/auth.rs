//! Who may upload.

/// The user a request was authenticated as.
#[derive(Debug, Clone)]
pub struct User(pub String);
