//! [`GatewayRejection`]: every way a gateway request can be malformed, each answered `400` with
//! a `CallError` `INVALID_INPUT` body (http-surfaces §4), rendered in one place.

use alknet_http_core::CallError;
use alknet_http_core::dispatch::BatchTooLarge;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A malformed gateway request. Every variant is `400 Bad Request` with a `CallError`
/// (`INVALID_INPUT`) body; `422` is kept for input that fails an operation's schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayRejection {
    /// The body is not JSON.
    #[error("request body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not a call envelope `{"operation", "input"}`.
    #[error("expected an object {{\"operation\": \"/ns/op\", \"input\": ...}}")]
    NotAnObject,
    /// The envelope has the wrong shape (a missing or non-string `operation`, …).
    #[error("malformed call envelope: {0}")]
    MalformedEnvelope(String),
    /// `operation` is the empty string.
    #[error("`operation` is empty")]
    EmptyOperation,
    /// A `/batch` body that is not a JSON array.
    #[error("a batch is a JSON array of {{\"operation\", \"input\"}}")]
    BatchNotAnArray,
    /// A `/batch` element that is not a call envelope.
    #[error("batch element {index}: {reason}")]
    BatchElement {
        /// Its position.
        index: usize,
        /// What is wrong with it.
        reason: Box<GatewayRejection>,
    },
    /// A `/batch` past the configured length.
    #[error(transparent)]
    BatchTooLarge(#[from] BatchTooLarge),
    /// A query string that does not parse.
    #[error("{0}")]
    BadQuery(String),
    /// `/schema` without `operation`.
    #[error("missing query parameter `operation`")]
    MissingOperation,
}

impl GatewayRejection {
    /// The status of every rejection.
    pub const STATUS: StatusCode = StatusCode::BAD_REQUEST;

    /// The error the client is sent.
    pub fn to_call_error(&self) -> CallError {
        CallError::invalid_input(self.to_string())
    }
}

impl IntoResponse for GatewayRejection {
    fn into_response(self) -> Response {
        (Self::STATUS, Json(self.to_call_error())).into_response()
    }
}
