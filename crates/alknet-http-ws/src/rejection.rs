//! [`WsRejection`]: every refused WebSocket upgrade, each with its one status, rendered in one
//! place.

use alknet_http_core::{CallError, ErrorCode};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

/// Why an upgrade at the WebSocket path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WsRejection {
    /// No valid token, by `Authorization: Bearer` or the `alknet.bearer.` subprotocol: `401`
    /// with `WWW-Authenticate: Bearer` (the core's one rendering of it).
    #[error("authentication required")]
    Unauthenticated,
    /// A plain request where an upgrade was expected: `426` with `Upgrade: websocket`.
    #[error("WebSocket upgrade required")]
    NotAnUpgrade,
    /// An HTTP/1.1 upgrade request whose WebSocket headers do not hold: `400`.
    #[error("invalid WebSocket upgrade request")]
    InvalidUpgrade,
    /// An HTTP/2 extended CONNECT without `:protocol websocket` or version 13: `400`.
    #[error("extended CONNECT needs :protocol websocket and sec-websocket-version 13")]
    BadExtendedConnect,
    /// Too many upgrade attempts from the client's address (a configured upgrade limit),
    /// checked before its credentials: `429` with `Retry-After` and a `RATE_LIMITED` body.
    #[error("too many upgrade attempts; retry later")]
    TooManyUpgrades {
        /// How long to wait, in milliseconds.
        retry_after_ms: u64,
    },
}

impl WsRejection {
    /// The status this rejection answers with.
    pub fn status(self) -> StatusCode {
        match self {
            WsRejection::Unauthenticated => StatusCode::UNAUTHORIZED,
            WsRejection::NotAnUpgrade => StatusCode::UPGRADE_REQUIRED,
            WsRejection::InvalidUpgrade | WsRejection::BadExtendedConnect => {
                StatusCode::BAD_REQUEST
            }
            WsRejection::TooManyUpgrades { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl IntoResponse for WsRejection {
    fn into_response(self) -> Response {
        match self {
            WsRejection::Unauthenticated => {
                alknet_http_core::error::unauthorized_response().map(Body::from)
            }
            WsRejection::NotAnUpgrade => (
                self.status(),
                [(header::UPGRADE, "websocket")],
                self.to_string(),
            )
                .into_response(),
            WsRejection::InvalidUpgrade | WsRejection::BadExtendedConnect => {
                (self.status(), self.to_string()).into_response()
            }
            WsRejection::TooManyUpgrades { retry_after_ms } => {
                let error = CallError::protocol(ErrorCode::RateLimited, self.to_string())
                    .with_retry_after(std::time::Duration::from_millis(retry_after_ms));
                alknet_http_core::error::call_error_to_http_response(&error, false, &[])
                    .map(Body::from)
            }
        }
    }
}
