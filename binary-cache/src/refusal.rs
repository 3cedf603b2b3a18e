//! A refused request: an HTTP status and a message that says what was wrong, in plain text.

use std::error::Error;
use std::fmt;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
}

impl Refusal {
    /// A refusal with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is malformed (a name, a narinfo, a truncated body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: well-formed, but the content is not what the narinfo claims.
    pub fn unverified(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 409: something the upload depends on is not in the cache (yet).
    pub fn conflict(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::CONFLICT, message)
    }

    /// 413: over a configured size.
    pub fn too_large(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 500: the service failed (disk full, permissions); nothing was kept.
    pub fn internal(what: &str, error: &dyn Error) -> Self {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what}: {}", chain(error)),
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = self.message;
        body.push('\n');
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

/// The answer for anything this cache does not hold.
pub(crate) fn not_here() -> Response {
    Refusal::new(StatusCode::NOT_FOUND, "not in this cache").into_response()
}

/// An error and its sources, `outer: inner: innermost`, each printed once.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.ends_with(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}
