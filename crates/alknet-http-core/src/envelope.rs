//! Wire envelopes (call-protocol §1): [`EventEnvelope`], its typed payloads, and the local
//! dispatch result [`ResponseEnvelope`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::CallError;
use crate::identity::Identity;
use crate::meta::CallMeta;

/// The `type` strings of the five protocol events.
pub mod event_type {
    /// Caller → handler side: start a call or subscription.
    pub const CALL_REQUESTED: &str = "call.requested";
    /// Handler side → caller: one result.
    pub const CALL_RESPONDED: &str = "call.responded";
    /// Handler side → caller: natural end of a subscription.
    pub const CALL_COMPLETED: &str = "call.completed";
    /// Either side: cancel a request.
    pub const CALL_ABORTED: &str = "call.aborted";
    /// Handler side → caller: terminal error.
    pub const CALL_ERROR: &str = "call.error";
}

/// One message on the wire: `{ "type", "id", "payload" }`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The event type (see [`event_type`]); unknown types are logged and ignored.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The request id, identical for every event of one request.
    pub id: String,
    /// The event's payload.
    #[serde(default)]
    pub payload: Value,
}

/// The payload of `call.requested`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequested {
    /// Wire form of the operation name (`/fs/readFile`); receivers strip one leading slash.
    #[serde(rename = "operationId")]
    pub operation_id: String,
    /// The input; absent means `null`.
    #[serde(default)]
    pub input: Value,
    /// A per-request credential overriding the connection identity when it resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// The originator's identity, for logs and audit only; malformed is treated as absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_identity"
    )]
    pub forwarded_for: Option<Identity>,
    /// Context that travels with the call (trace context, remaining deadline); malformed or
    /// oversized is treated as absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::meta::lenient_meta"
    )]
    pub meta: Option<CallMeta>,
}

fn lenient_identity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Identity>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

impl CallRequested {
    /// A request for `operation` (slash optional) with `input`.
    pub fn new(operation: &str, input: Value) -> Self {
        CallRequested {
            operation_id: format!("/{}", operation.trim_start_matches('/')),
            input,
            auth_token: None,
            forwarded_for: None,
            meta: None,
        }
    }

    /// The registry form of the operation name (one leading slash stripped).
    pub fn operation_name(&self) -> &str {
        strip_slash(&self.operation_id)
    }
}

/// Strips one leading `/` from an operation name.
pub fn strip_slash(name: &str) -> &str {
    name.strip_prefix('/').unwrap_or(name)
}

/// The payload of `call.responded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResponded {
    /// One output value.
    #[serde(default)]
    pub output: Value,
}

/// A decoded event, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `call.requested`.
    Requested(CallRequested),
    /// `call.responded`.
    Responded(Value),
    /// `call.completed`.
    Completed,
    /// `call.aborted`.
    Aborted,
    /// `call.error`.
    Error(CallError),
    /// A type this implementation does not know: log and ignore.
    Unknown(String),
}

/// Why an envelope's payload did not fit its type.
#[derive(Debug, thiserror::Error)]
#[error("malformed `{event_type}` payload: {source}")]
pub struct PayloadError {
    /// The envelope's type.
    pub event_type: String,
    /// The JSON error.
    #[source]
    pub source: serde_json::Error,
}

impl EventEnvelope {
    /// An envelope from its parts.
    pub fn new(event_type: &str, id: impl Into<String>, payload: Value) -> Self {
        EventEnvelope {
            event_type: event_type.to_owned(),
            id: id.into(),
            payload,
        }
    }

    /// `call.requested`.
    pub fn requested(id: impl Into<String>, request: &CallRequested) -> Self {
        EventEnvelope::new(
            event_type::CALL_REQUESTED,
            id,
            serde_json::to_value(request).unwrap_or(Value::Null),
        )
    }

    /// `call.responded` with `{ "output": output }`.
    pub fn responded(id: impl Into<String>, output: Value) -> Self {
        EventEnvelope::new(
            event_type::CALL_RESPONDED,
            id,
            serde_json::json!({ "output": output }),
        )
    }

    /// `call.completed` with `{}`.
    pub fn completed(id: impl Into<String>) -> Self {
        EventEnvelope::new(event_type::CALL_COMPLETED, id, serde_json::json!({}))
    }

    /// `call.aborted` with `{}`.
    pub fn aborted(id: impl Into<String>) -> Self {
        EventEnvelope::new(event_type::CALL_ABORTED, id, serde_json::json!({}))
    }

    /// `call.error` carrying `error` (`details` omitted when `None`).
    pub fn error(id: impl Into<String>, error: &CallError) -> Self {
        EventEnvelope::new(
            event_type::CALL_ERROR,
            id,
            serde_json::to_value(error).unwrap_or(Value::Null),
        )
    }

    /// Decodes the payload by type.
    pub fn event(&self) -> Result<Event, PayloadError> {
        self.clone().into_event()
    }

    /// Decodes the payload by type, consuming the envelope (the input moves, nothing is
    /// copied); the id stays with the caller.
    pub fn into_event(self) -> Result<Event, PayloadError> {
        let EventEnvelope {
            event_type: kind,
            payload,
            ..
        } = self;
        let wrap = |source| PayloadError {
            event_type: kind.clone(),
            source,
        };
        Ok(match kind.as_str() {
            event_type::CALL_REQUESTED => {
                Event::Requested(serde_json::from_value(payload).map_err(wrap)?)
            }
            event_type::CALL_RESPONDED => Event::Responded(
                serde_json::from_value::<CallResponded>(payload)
                    .map_err(wrap)?
                    .output,
            ),
            event_type::CALL_COMPLETED => Event::Completed,
            event_type::CALL_ABORTED => Event::Aborted,
            event_type::CALL_ERROR => Event::Error(serde_json::from_value(payload).map_err(wrap)?),
            other => Event::Unknown(other.to_owned()),
        })
    }
}

/// The result of a local dispatch: the request id and the output or error.
///
/// ```
/// use alknet_http_core::{CallError, ResponseEnvelope};
/// use serde_json::json;
///
/// let ok = ResponseEnvelope::ok("c1", json!({"n": 1}));
/// assert_eq!(ok.to_event().event_type, "call.responded");
/// let err = ResponseEnvelope::error("c2", CallError::not_found("x/y"));
/// assert_eq!(err.to_event().payload["code"], "NOT_FOUND");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEnvelope {
    /// The request id.
    pub request_id: String,
    /// Output or error.
    pub result: Result<Value, CallError>,
}

impl ResponseEnvelope {
    /// A successful result.
    pub fn ok(request_id: impl Into<String>, output: Value) -> Self {
        ResponseEnvelope {
            request_id: request_id.into(),
            result: Ok(output),
        }
    }

    /// A failed result.
    pub fn error(request_id: impl Into<String>, error: CallError) -> Self {
        ResponseEnvelope {
            request_id: request_id.into(),
            result: Err(error),
        }
    }

    /// A `NOT_FOUND` result for `operation`.
    pub fn not_found(request_id: impl Into<String>, operation: &str) -> Self {
        ResponseEnvelope::error(request_id, CallError::not_found(operation))
    }

    /// A `FORBIDDEN` result.
    pub fn forbidden(request_id: impl Into<String>, reason: impl Into<String>) -> Self {
        ResponseEnvelope::error(request_id, CallError::forbidden(reason))
    }

    /// The wire form: `call.responded` for `Ok`, `call.error` for `Err`.
    pub fn to_event(&self) -> EventEnvelope {
        match &self.result {
            Ok(output) => EventEnvelope::responded(self.request_id.clone(), output.clone()),
            Err(e) => EventEnvelope::error(self.request_id.clone(), e),
        }
    }

    /// Consumes the envelope into its wire form without cloning the output.
    pub fn into_event(self) -> EventEnvelope {
        match self.result {
            Ok(output) => EventEnvelope::responded(self.request_id, output),
            Err(e) => EventEnvelope::error(self.request_id, &e),
        }
    }
}
