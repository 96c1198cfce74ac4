//! `POST /subscribe`: a subscription projected onto Server-Sent Events (http-surfaces §6).
//!
//! A malformed envelope is `400` (as on `/call`); otherwise `200 text/event-stream` with every
//! error in-band: every item is a default event with an increasing `id:` and a
//! single-line JSON `data:`; an error is one `event: error` and ends the stream; a natural end
//! sends `event: completed` with `{}` first, so a finished stream and a cut connection differ.
//! `: ping` comments keep proxies from timing out. Dropping the response (the client went away)
//! drops the handler's stream, which aborts the subscription and its composed descendants.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use alknet_http_core::credential::{Credential, CredentialCheck};
use alknet_http_core::dispatch::RequestId;
use alknet_http_core::identity::{ResolvedIdentity, bearer_token};
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::{AuthToken, CallError, CallOptions, ResponseEnvelope, ResponseStream};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, header};

use crate::Gateway;
use crate::endpoints::parse_envelope;

/// An event id in decimal, formatted on the stack (no allocation per event).
struct EventId {
    digits: [u8; 20],
    start: usize,
}

impl From<u64> for EventId {
    fn from(mut n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return EventId { digits, start };
            }
        }
    }
}

impl EventId {
    fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or("0")
    }
}

/// Projects envelopes onto SSE events: ids from 1, `error` terminal, `completed` on a clean end.
pub fn project(stream: ResponseStream) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    struct State {
        inner: Option<ResponseStream>,
        next_id: u64,
        json: Vec<u8>,
    }
    futures::stream::unfold(
        State {
            inner: Some(stream),
            next_id: 1,
            json: Vec::new(),
        },
        |mut state| async move {
            let inner = state.inner.as_mut()?;
            let event = match inner.next().await {
                Some(ResponseEnvelope {
                    result: Ok(output), ..
                }) => {
                    // Serialized into one reused buffer and handed over in one piece (axum's
                    // `json_data` scans every small write serde makes for newlines); the id
                    // from a stack buffer.
                    let id = EventId::from(state.next_id);
                    state.json.clear();
                    let data = match serde_json::to_writer(&mut state.json, &output) {
                        Ok(()) => std::str::from_utf8(&state.json).unwrap_or("null"),
                        Err(_) => "null",
                    };
                    let event = Event::default().id(id.as_str()).data(data);
                    state.next_id += 1;
                    event
                }
                Some(ResponseEnvelope {
                    result: Err(error), ..
                }) => {
                    state.inner = None;
                    Event::default()
                        .event("error")
                        .id(EventId::from(state.next_id).as_str())
                        .data(serde_json::to_string(&error).unwrap_or_else(|_| "{}".into()))
                }
                None => {
                    state.inner = None;
                    Event::default().event("completed").data("{}")
                }
            };
            Some((Ok(event), state))
        },
    )
}

/// The stream's items until its credential lapses; then one `FORBIDDEN` error that says why
/// (the subscription is dropped, which aborts it).
fn until_lapsed(stream: ResponseStream, check: CredentialCheck) -> ResponseStream {
    let lapsed = Box::pin(async move { check.lapsed().await });
    futures::stream::unfold(Some((stream, lapsed)), |state| async move {
        let (mut stream, mut lapsed) = state?;
        tokio::select! {
            biased;
            revocation = &mut lapsed => Some((
                ResponseEnvelope::error(String::new(), CallError::forbidden(revocation.reason())),
                None,
            )),
            item = stream.next() => item.map(|item| (item, Some((stream, lapsed)))),
        }
    })
    .boxed()
}

/// Adds a `: ping` comment at every `interval` tick at which no event is ready, so proxies never
/// see a silent stream. Unlike a keep-alive reset on every event, a busy stream pays nothing
/// per event (no clock read, no timer reset).
fn with_pings<S>(events: S, interval: Duration) -> impl Stream<Item = Result<Event, Infallible>>
where
    S: Stream<Item = Result<Event, Infallible>> + Send,
{
    let mut events = Box::pin(events);
    let period = interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures::stream::poll_fn(move |cx| {
        if let Poll::Ready(event) = events.as_mut().poll_next(cx) {
            return Poll::Ready(event);
        }
        ticks
            .poll_tick(cx)
            .map(|_| Some(Ok(Event::default().comment("ping"))))
    })
}

pub(crate) async fn subscribe(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    request_id: Option<RequestId>,
    source: Option<SourceAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A malformed envelope is a bad request, as on /call; dispatch errors are in-band.
    let envelope = match parse_envelope(&body) {
        Ok(envelope) => envelope,
        Err(rejection) => return rejection.into_response(),
    };
    // A stream opened with a token ends when a reload revokes it or it expires.
    let check = identity.clone().and_then(|identity| {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)?;
        Some(CredentialCheck::new(
            gateway.dispatch.identity_provider().clone(),
            Credential::Token(AuthToken::new(token)),
            identity,
        ))
    });
    let stream: ResponseStream = gateway.dispatch.invoke_streaming_with(
        identity,
        &envelope.operation,
        envelope.input,
        CallOptions {
            last_event_id,
            request_id,
            source: source.map(|s| s.0),
            ..CallOptions::default()
        },
    );
    let stream = match check.filter(CredentialCheck::can_lapse) {
        Some(check) => until_lapsed(stream, check),
        None => stream,
    };
    // The stream counts as live in the metrics for as long as the response body lives.
    let live = gateway
        .dispatch
        .registry()
        .metrics()
        .map(|metrics| metrics.session_opened("sse"));
    let events = project(stream).map(move |event| {
        let _live = &live;
        event
    });
    let mut response =
        Sse::new(with_pings(events, gateway.config.sse_ping_interval)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::EventId;

    #[test]
    fn event_ids_are_decimal() {
        for n in [0, 7, 10, 1_234_567_890, u64::MAX] {
            assert_eq!(EventId::from(n).as_str(), n.to_string());
        }
    }
}
