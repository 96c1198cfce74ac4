//! What travels on the bus besides the input and output JSON: headers, reply kinds and the
//! control messages of a subscription (see the crate docs for the whole exchange).

use alknet_http_core::{CallError, ErrorCode, Identity};
use async_nats::{HeaderMap, HeaderName, Message};
use bytes::Bytes;
use serde_json::{Value, json};

// Header names are `HeaderName`s built once: a `&str` name is checked, matched against the
// standard names and copied into a new buffer at every insert and lookup.

/// The caller's remaining deadline in milliseconds; the worker drops work already expired.
pub(crate) const DEADLINE_MS: HeaderName = HeaderName::from_static("Alknet-Deadline-Ms");
/// The original caller, as JSON (`{"id":…,"scopes":[…]}`), for the worker's audit only.
pub(crate) const FORWARDED_FOR: HeaderName = HeaderName::from_static("Alknet-Forwarded-For");
/// On a request: a subscription, with how many items may be unacknowledged at once.
pub(crate) const WINDOW: HeaderName = HeaderName::from_static("Alknet-Window");
/// On a reply other than a result or an item: what it is (see [`Reply`]). A result has no
/// headers at all, as a NATS service's plain reply: the common answer costs no header block on
/// either side, and any NATS client reads it as the answer. An item carries only its
/// [`SEQ`].
pub(crate) const KIND: HeaderName = HeaderName::from_static("Alknet-Kind");
/// On an item: its number, from 1 (the header that makes a reply an item).
pub(crate) const SEQ: HeaderName = HeaderName::from_static("Alknet-Seq");
/// On the first reply of a subscription: the worker's control subject (acknowledgements and
/// aborts of this stream go there).
pub(crate) const CONTROL: HeaderName = HeaderName::from_static("Alknet-Control");
/// W3C trace context.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// The service API's error headers (ADR-32), so that its tools show failures.
const SERVICE_ERROR: HeaderName = HeaderName::from_static("Nats-Service-Error");
const SERVICE_ERROR_CODE: HeaderName = HeaderName::from_static("Nats-Service-Error-Code");

/// Room left for headers when a payload is checked against the server's `max_payload`.
pub(crate) const HEADER_ALLOWANCE: usize = 2048;

/// What a reply message says.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The output of a Query or Mutation.
    Result(Bytes),
    /// The call failed (terminal, for a subscription too).
    Error(CallError),
    /// Still working (sent when nothing else was for a heartbeat).
    Beat,
    /// One item of a subscription.
    Item(u64, Bytes),
    /// The subscription ended.
    Done,
    /// No worker serves the subject (the server's 503 status).
    NoResponders,
}

/// The id of the call that `reply` (its reply subject) answers: the subject's last two
/// tokens. A gateway's reply subject is `<inbox prefix>.<node>.<n>`, so the id is unique on
/// the bus without travelling in a header of its own; aborts and control messages name it,
/// and the worker's access log shows it.
pub(crate) fn call_id(reply: &str) -> &str {
    let last = reply.rfind('.').unwrap_or(0);
    reply[..last]
        .rfind('.')
        .map_or(reply, |dot| &reply[dot + 1..])
}

pub(crate) fn header(message: &Message, name: HeaderName) -> Option<&str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// The number a subject ends with (`<inbox>.<n>`, `<control>.gone.<n>`): the call it is about.
pub(crate) fn trailing_number(subject: &str) -> Option<u64> {
    subject.rsplit('.').next()?.parse().ok()
}

/// Reads a reply; an unreadable one is a worker speaking another protocol.
pub(crate) fn reply_of(message: Message) -> Reply {
    match message.status {
        None => {}
        Some(async_nats::StatusCode::NO_RESPONDERS) => return Reply::NoResponders,
        // Not a worker's reply (whose only headers are ours): the server's word, which for a
        // request can only be a failure.
        Some(status) => {
            return Reply::Error(CallError::internal(format!(
                "the message bus answered with status {status}"
            )));
        }
    }
    match (header(&message, KIND), header(&message, SEQ)) {
        // An item is a numbered reply: its number is all the header it needs.
        (None | Some("item"), Some(seq)) => match seq.parse() {
            Ok(seq) => Reply::Item(seq, message.payload),
            Err(_) => Reply::Error(CallError::internal(
                "a worker sent an item with a malformed number",
            )),
        },
        (Some("item"), None) => Reply::Error(CallError::internal(
            "a worker sent an item without its number",
        )),
        (None | Some("result"), _) => Reply::Result(message.payload),
        (Some("beat"), _) => Reply::Beat,
        (Some("done"), _) => Reply::Done,
        (Some("error"), _) => Reply::Error(
            serde_json::from_slice(&message.payload).unwrap_or_else(|_| {
                CallError::internal("a worker sent an error that is not a CallError")
            }),
        ),
        (Some(other), _) => Reply::Error(CallError::internal(format!(
            "a worker sent a reply of unknown kind {other:?}"
        ))),
    }
}

/// Headers of a reply of `kind`.
pub(crate) fn kind(kind: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(KIND, kind);
    headers
}

/// The reply of a failed call: its CallError as JSON, with the service API's error headers.
pub(crate) fn error_reply(error: &CallError, status: u16) -> (HeaderMap, Bytes) {
    let mut headers = kind("error");
    headers.insert(SERVICE_ERROR, error.code.as_str());
    headers.insert(SERVICE_ERROR_CODE, status.to_string());
    let body = serde_json::to_vec(error).unwrap_or_default();
    (headers, body.into())
}

/// The status the service API reports for a protocol code (a domain code: 500).
pub(crate) fn status_of(error: &CallError) -> u16 {
    match error.protocol_code() {
        Some(ErrorCode::NotFound) => 404,
        Some(ErrorCode::Forbidden) => 403,
        Some(ErrorCode::InvalidInput | ErrorCode::InvalidOperationType) => 400,
        Some(ErrorCode::Timeout) => 504,
        Some(ErrorCode::RateLimited) => 429,
        Some(ErrorCode::Unavailable) => 503,
        Some(ErrorCode::Internal) | None => 500,
    }
}

/// The caller named in [`FORWARDED_FOR`].
pub(crate) fn forwarded_for(identity: &Identity) -> String {
    // Scopes and resources say what the caller held at the gateway; never a token.
    serde_json::to_string(identity).unwrap_or_default()
}

/// A control message to a worker about stream `id`.
pub(crate) fn control(id: &str, ack: Option<u64>, abort: bool) -> Bytes {
    let mut message = json!({ "id": id });
    if let Some(ack) = ack {
        message["ack"] = Value::from(ack);
    }
    if abort {
        message["abort"] = Value::Bool(true);
    }
    serde_json::to_vec(&message).unwrap_or_default().into()
}

/// `UNAVAILABLE`: nothing on the bus can take the call now.
pub(crate) fn unavailable(message: impl Into<String>) -> CallError {
    CallError::protocol(ErrorCode::Unavailable, message)
}

/// The error of a payload the bus would refuse.
pub(crate) fn too_large(what: &str, len: usize, max: usize) -> CallError {
    CallError::invalid_input(format!(
        "{what} of {len} bytes is larger than the message bus takes ({max} bytes)"
    ))
    .with_details(json!({ "reason": "payload_too_large", "bytes": len, "max_payload": max }))
}

/// The error of an output the bus would refuse: the worker's fault, not the caller's.
pub(crate) fn output_too_large(len: usize, max: usize) -> CallError {
    let mut error = too_large("the output", len, max);
    error.code = ErrorCode::Internal.as_str().to_owned();
    error
}

/// The subject aborts of `service`'s calls are broadcast on (every worker listens).
pub(crate) fn abort_subject(service: &str) -> String {
    format!("_ALKNET.{service}.abort")
}

#[cfg(test)]
mod tests {
    use async_nats::{HeaderMap, Message, StatusCode};

    use super::{KIND, Reply, SEQ, call_id, reply_of};

    fn reply(headers: &[(async_nats::HeaderName, &str)], status: Option<StatusCode>) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name.clone(), *value);
        }
        reply_of(Message {
            subject: "_INBOX.node.1".into(),
            reply: None,
            payload: "7".into(),
            headers: (!headers.is_empty()).then_some(map),
            status,
            description: None,
            length: 0,
        })
    }

    #[test]
    fn replies_are_told_apart_by_their_headers() {
        assert!(matches!(reply(&[], None), Reply::Result(body) if body == "7"));
        assert!(matches!(reply(&[(SEQ, "3")], None), Reply::Item(3, _)));
        assert!(matches!(
            reply(&[(KIND, "item"), (SEQ, "4")], None),
            Reply::Item(4, _)
        ));
        assert!(matches!(reply(&[(KIND, "beat")], None), Reply::Beat));
        assert!(matches!(reply(&[(KIND, "done")], None), Reply::Done));
        for bad in [
            reply(&[(KIND, "item")], None),
            reply(&[(SEQ, "x")], None),
            reply(&[(KIND, "what")], None),
            reply(&[], Some(StatusCode::TIMEOUT)),
        ] {
            assert!(
                matches!(&bad, Reply::Error(e) if e.code == "INTERNAL"),
                "{bad:?}"
            );
        }
        assert!(matches!(
            reply(&[], Some(StatusCode::NO_RESPONDERS)),
            Reply::NoResponders
        ));
    }

    #[test]
    fn a_call_id_is_the_reply_subjects_last_two_tokens() {
        assert_eq!(call_id("_INBOX.Nn0de.42"), "Nn0de.42");
        assert_eq!(call_id("_INBOX.a.b.c.7"), "c.7");
        assert_eq!(call_id("node.7"), "node.7");
        assert_eq!(call_id("single"), "single");
    }
}
