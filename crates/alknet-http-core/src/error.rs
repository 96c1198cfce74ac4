//! The error model: [`CallError`], the protocol codes, and the HTTP mapping both ways.
//!
//! # How errors work
//!
//! Every failed call ends in one [`CallError`]: a machine `code` clients branch on, a `message`
//! for humans, a `retryable` flag and optional structured `details`. Eight codes belong to the
//! protocol ([`ErrorCode`]); every other code is a *domain* code declared by the operation in its
//! `error_schemas` (for example `FILE_NOT_FOUND`, or `HTTP_404` for an imported REST call).
//!
//! HTTP surfaces turn a `CallError` into a status with [`call_error_to_http_status`] (no identity
//! needed), [`call_error_to_http_status_with_identity`] (splits `FORBIDDEN` into 401/403) or
//! [`call_error_to_http_response`] (status, headers and JSON body). Importers go the other way
//! with [`call_error_from_http`].

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::ErrorDefinition;

/// The protocol-level error codes (call-protocol §11).
///
/// Any other code is an operation-level (domain) code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Unknown operation, `Internal` operation called from the wire, unreachable in a scoped env.
    NotFound,
    /// Access control denied the call (`authentication required` when there is no identity).
    Forbidden,
    /// The input violates the operation's `input_schema`, or the request is malformed.
    InvalidInput,
    /// The operation was called on the wrong dispatch path for its type.
    InvalidOperationType,
    /// Handler failure, panic, undeclared error code, or a closed connection.
    Internal,
    /// A deadline or pending-call timeout expired. Always retryable.
    Timeout,
    /// The caller is over a configured rate limit; `retry_after_ms` says when to retry.
    RateLimited,
    /// No live route to the operation right now (a peer or worker gone, the bus down).
    Unavailable,
}

impl ErrorCode {
    /// Every protocol code, in spec order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::NotFound,
        ErrorCode::Forbidden,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidOperationType,
        ErrorCode::Internal,
        ErrorCode::Timeout,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
    ];

    /// The exact wire string of this code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::InvalidOperationType => "INVALID_OPERATION_TYPE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }

    /// Parses a wire code; `None` for domain codes.
    pub fn from_wire(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Whether errors with this code are retryable by default (`TIMEOUT`, `RATE_LIMITED`
    /// and `UNAVAILABLE` are).
    pub const fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Timeout | ErrorCode::RateLimited | ErrorCode::Unavailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminal call error, as carried by `call.error` and every HTTP error body.
///
/// ```
/// use alknet_http_core::{CallError, ErrorCode};
///
/// let e = CallError::not_found("fs/readFile");
/// assert_eq!(e.code, "NOT_FOUND");
/// assert_eq!(e.message, "operation not found: /fs/readFile");
/// assert_eq!(e.protocol_code(), Some(ErrorCode::NotFound));
///
/// let domain = CallError::new("FILE_NOT_FOUND", "no such file")
///     .with_details(serde_json::json!({ "path": "/nope" }));
/// assert_eq!(domain.protocol_code(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallError {
    /// Machine-readable code; clients branch on it.
    pub code: String,
    /// Human-readable message; never parsed.
    pub message: String,
    /// Whether the same call may succeed if retried.
    #[serde(default)]
    pub retryable: bool,
    /// Structured details; conform to the declared schema for domain codes. Never secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// How long to wait before retrying, in milliseconds (with `retryable`): set by rate limits
    /// and carried from an imported upstream's `Retry-After` (call-protocol §1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl CallError {
    /// A non-retryable error with any code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        let retryable = ErrorCode::from_wire(&code).is_some_and(ErrorCode::default_retryable);
        CallError {
            code,
            message: message.into(),
            retryable,
            details: None,
            retry_after_ms: None,
        }
    }

    /// An error with one of the protocol codes.
    pub fn protocol(code: ErrorCode, message: impl Into<String>) -> Self {
        CallError::new(code.as_str(), message)
    }

    /// `NOT_FOUND` for an operation name (with or without its leading slash).
    pub fn not_found(operation: &str) -> Self {
        CallError::protocol(
            ErrorCode::NotFound,
            format!(
                "operation not found: /{}",
                operation.trim_start_matches('/')
            ),
        )
    }

    /// `FORBIDDEN` with the access-control reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        CallError::protocol(ErrorCode::Forbidden, reason)
    }

    /// `INVALID_INPUT`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        CallError::protocol(ErrorCode::InvalidInput, message)
    }

    /// `INVALID_OPERATION_TYPE`.
    pub fn invalid_operation_type(message: impl Into<String>) -> Self {
        CallError::protocol(ErrorCode::InvalidOperationType, message)
    }

    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        CallError::protocol(ErrorCode::Internal, message)
    }

    /// `TIMEOUT`, retryable.
    pub fn timeout(message: impl Into<String>) -> Self {
        CallError::protocol(ErrorCode::Timeout, message)
    }

    /// `INTERNAL` `"connection closed"`: what pending calls get when their session ends.
    pub fn connection_closed() -> Self {
        CallError::internal("connection closed")
    }

    /// Sets `details`.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets `retryable`.
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Says when to retry: sets `retry_after_ms` (rounded up to whole milliseconds) and makes
    /// the error retryable.
    #[must_use]
    pub fn with_retry_after(mut self, delay: std::time::Duration) -> Self {
        self.retry_after_ms = Some(delay.as_nanos().div_ceil(1_000_000) as u64);
        self.retryable = true;
        self
    }

    /// The protocol code, or `None` for a domain code.
    pub fn protocol_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_wire(&self.code)
    }

    /// Whether `code` is this protocol code.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.as_str()
    }

    /// The upstream status of an `HTTP_<nnn>` code, if this is one.
    pub fn upstream_http_status(&self) -> Option<u16> {
        let digits = self.code.strip_prefix("HTTP_")?;
        if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CallError {}

/// Maps a call error to an HTTP status, without knowing the caller (`FORBIDDEN` → 403).
///
/// `declared` is the called operation's `error_schemas`: a domain code with a declared
/// `http_status` maps to it.
pub fn call_error_to_http_status(error: &CallError, declared: &[ErrorDefinition]) -> StatusCode {
    call_error_to_http_status_with_identity(error, true, declared)
}

/// Maps a call error to an HTTP status (http-surfaces §5).
///
/// `FORBIDDEN` is 401 when the caller had no identity and 403 otherwise. An upstream
/// `HTTP_401`/`HTTP_403`/`HTTP_407` becomes 502 so that a client never mistakes an upstream
/// credential problem for its own (architecture §6).
///
/// ```
/// use alknet_http_core::{CallError, error::call_error_to_http_status_with_identity};
///
/// let status = |e: &CallError, id| call_error_to_http_status_with_identity(e, id, &[]).as_u16();
/// assert_eq!(status(&CallError::forbidden("authentication required"), false), 401);
/// assert_eq!(status(&CallError::forbidden("missing scope"), true), 403);
/// assert_eq!(status(&CallError::new("HTTP_404", "HTTP 404: Not Found"), true), 404);
/// assert_eq!(status(&CallError::new("HTTP_401", "HTTP 401: Unauthorized"), true), 502);
/// assert_eq!(status(&CallError::new("SOMETHING_ELSE", "?"), true), 500);
/// ```
pub fn call_error_to_http_status_with_identity(
    error: &CallError,
    has_identity: bool,
    declared: &[ErrorDefinition],
) -> StatusCode {
    if let Some(code) = error.protocol_code() {
        return match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden if has_identity => StatusCode::FORBIDDEN,
            ErrorCode::Forbidden => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidOperationType => StatusCode::BAD_REQUEST,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    if let Some(status) = error.upstream_http_status() {
        return match status {
            401 | 403 | 407 => StatusCode::BAD_GATEWAY,
            400..=599 => StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            _ => StatusCode::BAD_GATEWAY,
        };
    }
    declared
        .iter()
        .find(|d| d.code == error.code)
        .and_then(|d| d.http_status)
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The full HTTP rendering of a call error: status, `WWW-Authenticate` and `Retry-After` where
/// the rules ask for them, and the CallError as a JSON body.
///
/// `WWW-Authenticate: Bearer` is set only for the protocol `FORBIDDEN` without identity (never
/// for domain codes such as `HTTP_401`). `Retry-After: <s>` is set when the status is 429 or
/// 503, the error is retryable and carries `retry_after_ms` (rounded up to whole seconds) or,
/// failing that, seconds in `details.retry_after`.
pub fn call_error_to_http_response(
    error: &CallError,
    has_identity: bool,
    declared: &[ErrorDefinition],
) -> http::Response<Bytes> {
    let status = call_error_to_http_status_with_identity(error, has_identity, declared);
    http_error_response(error, status)
}

/// The one `401 Unauthorized` of every surface: `WWW-Authenticate: Bearer` and the CallError
/// `FORBIDDEN` "authentication required" as its body (http-surfaces §3).
pub fn unauthorized_response() -> http::Response<Bytes> {
    call_error_to_http_response(&CallError::forbidden("authentication required"), false, &[])
}

/// The HTTP rendering of a call error whose status is already known (the headers of
/// [`call_error_to_http_response`] follow from the status and the error).
pub fn http_error_response(error: &CallError, status: StatusCode) -> http::Response<Bytes> {
    let body = serde_json::to_vec(error).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED && error.is(ErrorCode::Forbidden) {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::FORBIDDEN
        && let Some(challenge) = insufficient_scope_challenge(error)
    {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = retry_after_seconds(error, status) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `details.reason` of a `FORBIDDEN` whose caller lacks scopes; `details.scopes` names them.
pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";

/// `Bearer error="insufficient_scope", scope="a b"` (RFC 6750 §3.1) for a `FORBIDDEN` that
/// names the scopes its caller lacks. Scope tokens that cannot be quoted are left out.
fn insufficient_scope_challenge(error: &CallError) -> Option<HeaderValue> {
    let details = error.details.as_ref()?;
    if !error.is(ErrorCode::Forbidden) || details.get("reason")? != INSUFFICIENT_SCOPE {
        return None;
    }
    let scopes = details
        .get("scopes")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        // RFC 6749 §3.3 scope tokens: printable ASCII but space, `"` and `\`.
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b > 0x20 && b < 0x7f && b != b'"' && b != b'\\')
        })
        .collect::<Vec<_>>()
        .join(" ");
    HeaderValue::from_str(&format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scopes}\""
    ))
    .ok()
}

fn retry_after_seconds(error: &CallError, status: StatusCode) -> Option<u64> {
    if !error.retryable
        || !(status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
    {
        return None;
    }
    if let Some(ms) = error.retry_after_ms {
        return Some(ms.div_ceil(1000));
    }
    match error.details.as_ref()?.get("retry_after")? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.ceil() as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Builds the CallError an importer reports for a non-2xx upstream reply (http-surfaces §5):
/// code `HTTP_<status>`, message `HTTP <status>: <reason>`, `details` = the body parsed as JSON
/// (else as a string, absent when empty), retryable for 429/502/503/504.
///
/// ```
/// use alknet_http_core::error::call_error_from_http;
///
/// let e = call_error_from_http(404, br#"{"message":"no pet"}"#);
/// assert_eq!(e.code, "HTTP_404");
/// assert_eq!(e.message, "HTTP 404: Not Found");
/// assert_eq!(e.details.unwrap()["message"], "no pet");
/// assert!(call_error_from_http(503, b"busy").retryable);
/// ```
pub fn call_error_from_http(status: u16, body: &[u8]) -> CallError {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown Status");
    let details = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice::<Value>(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
        )
    };
    CallError {
        code: http_error_code(status),
        message: format!("HTTP {status}: {reason}"),
        retryable: matches!(status, 429 | 502 | 503 | 504),
        details,
        retry_after_ms: None,
    }
}

/// The imported error code for an HTTP status: `HTTP_<status>`. Never equals a protocol code.
pub fn http_error_code(status: u16) -> String {
    format!("HTTP_{status:03}")
}

/// The error definition an importer declares for a documented non-2xx status.
pub fn http_error_definition(status: u16, description: impl Into<String>) -> ErrorDefinition {
    ErrorDefinition {
        code: http_error_code(status),
        description: description.into(),
        schema: Value::Object(Default::default()),
        http_status: Some(status),
    }
}
