//! Envelopes from the other side: answers routed to pending outgoing calls, and incoming
//! `call.requested` dispatched against the local registry (call-protocol §4–§6).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::outbound::write_now;
use super::{Delivery, InFlight, Shared, lock, send, send_alone, watch_credential};
use crate::credential::{Credential, CredentialCheck};
use crate::envelope::{CallRequested, Event, EventEnvelope, event_type, strip_slash};
use crate::error::CallError;
use crate::identity::AuthToken;
use crate::invoke::{RootCall, invoke_once, invoke_stream};
use crate::meta::CallMeta;
use crate::spec::OperationType;
use crate::trace::TraceParent;

pub(super) async fn route(shared: &Arc<Shared>, mut envelope: EventEnvelope) {
    let id = std::mem::take(&mut envelope.id);
    let event = match envelope.into_event() {
        Ok(event) => event,
        Err(e) => {
            tracing::debug!(error = %e, "malformed envelope");
            if e.event_type == event_type::CALL_REQUESTED {
                send_alone(
                    shared,
                    EventEnvelope::error(id, &CallError::invalid_input(e.to_string())),
                )
                .await;
            }
            return;
        }
    };
    match event {
        Event::Requested(request) => dispatch(shared, id, request).await,
        Event::Aborted => {
            let in_flight = lock(&shared.in_flight).remove(&id);
            match in_flight {
                Some(in_flight) => in_flight.abort.cancel(),
                None => {
                    lock(&shared.pending).handle_aborted(&id);
                }
            }
        }
        Event::Responded(output) => {
            let delivery = lock(&shared.pending).handle_responded(&id, output);
            if delivery == Delivery::Lagged {
                let _ = shared.control_tx.send(EventEnvelope::aborted(id));
            }
        }
        Event::Completed => {
            lock(&shared.pending).handle_completed(&id);
        }
        Event::Error(error) => {
            lock(&shared.pending).handle_error(&id, error);
        }
        Event::Unknown(kind) => tracing::debug!(%kind, "ignoring unknown envelope type"),
    }
}

async fn dispatch(shared: &Arc<Shared>, id: String, request: CallRequested) {
    let generation = shared.generation.fetch_add(1, Ordering::Relaxed);
    let abort = CancellationToken::new();
    // One lookup: the operation decides the path (stream or once) and whether it outlives
    // the session (a Mutation not opted in to cancellation, call-protocol §5).
    let CallRequested {
        operation_id,
        input,
        auth_token,
        forwarded_for,
        meta,
    } = request;
    let name = strip_slash(&operation_id);
    let op = shared.options.registry.route(name);
    let streaming = op
        .as_ref()
        .is_some_and(|op| op.spec.op_type == OperationType::Subscription);
    let spared = op
        .as_ref()
        .is_some_and(|op| !op.spec.cancels_on_disconnect());
    let refusal = {
        let mut in_flight = lock(&shared.in_flight);
        if in_flight.contains_key(&id) {
            Some(CallError::invalid_input(format!(
                "request id {id} is already in flight"
            )))
        } else if in_flight.len() >= shared.options.config.max_concurrent_requests {
            Some(
                CallError::internal("too many concurrent requests on this session")
                    .with_retryable(true)
                    .with_details(json!({ "reason": "overloaded" })),
            )
        } else {
            in_flight.insert(
                id.clone(),
                InFlight {
                    generation,
                    abort: abort.clone(),
                    spared,
                },
            );
            None
        }
    };
    if let Some(error) = refusal {
        send_alone(shared, EventEnvelope::error(id, &error)).await;
        return;
    }
    let options = &shared.options;
    let identity = match auth_token.as_deref() {
        Some(token) => {
            let token = AuthToken::new(token);
            let identity = options.identity_provider.resolve_from_token(&token);
            if let (Some(identity), None) = (&identity, &options.connection_identity)
                && !shared.credential_watched.load(Ordering::Relaxed)
            {
                let check = CredentialCheck::new(
                    options.identity_provider.clone(),
                    Credential::Token(token),
                    identity.clone(),
                );
                watch_credential(shared, check);
            }
            identity
        }
        None => None,
    }
    .or_else(|| options.connection_identity.clone());
    let root = RootCall {
        request_id: id.clone(),
        identity,
        forwarded_for,
        env: None,
        ownership: options.ownership.clone(),
        // The caller's remaining deadline shortens ours, never lengthens it (call-protocol §1).
        timeout: meta
            .as_ref()
            .and_then(CallMeta::deadline)
            .map_or(options.config.call_timeout, |remaining| {
                remaining.min(options.config.call_timeout)
            }),
        abort: abort.clone(),
        last_event_id: None,
        surface: options.surface,
        trace_parent: meta.as_ref().and_then(TraceParent::from_meta),
        span: None,
        source: options.source,
        // The call protocol carries no progress for a request.
        progress: None,
    };
    let seed = root.into_seed(shared.env.clone());
    if streaming {
        let mut items = invoke_stream(op, name, input, seed);
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut failed = false;
            while let Some(item) = items.next().await {
                if abort.is_cancelled() {
                    break;
                }
                failed = item.result.is_err();
                tokio::select! {
                    biased;
                    () = abort.cancelled() => break,
                    () = send(&shared, item.into_event()) => {}
                }
            }
            drop(items);
            if !failed && !abort.is_cancelled() {
                send(&shared, EventEnvelope::completed(id.clone())).await;
            }
            finished(&shared, &id, generation);
        });
        return;
    }
    let mut call = invoke_once(op, name, input, seed);
    // A handler that is done on its first poll is answered inline: no task, no hand-off, and
    // written at once if the transport takes it. The reader never waits for the transport or
    // for queue space here (two peers flooding each other must not block both readers): a
    // full queue hands the reply to a task, and the request stays in flight (counted against
    // the concurrency limit) until it is queued.
    if let Poll::Ready(reply) = futures::poll!(&mut call) {
        if abort.is_cancelled() {
            finished(shared, &id, generation);
            return;
        }
        let Err(reply) = write_now(
            shared,
            reply.into_event(),
            shared.outbound.inline_reply_flush(),
        )
        .await
        else {
            finished(shared, &id, generation);
            return;
        };
        match shared.data_tx.try_send(reply) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {
                finished(shared, &id, generation);
            }
            Err(mpsc::error::TrySendError::Full(reply)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    send(&shared, reply).await;
                    finished(&shared, &id, generation);
                });
            }
        }
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let reply = call.await;
        if !abort.is_cancelled() {
            send_alone(&shared, reply.into_event()).await;
        }
        finished(&shared, &id, generation);
    });
}

/// Forgets an incoming request once it is answered (unless its id was reused since).
fn finished(shared: &Shared, id: &str, generation: u64) {
    let mut in_flight = lock(&shared.in_flight);
    if in_flight
        .get(id)
        .is_some_and(|f| f.generation == generation)
    {
        in_flight.remove(id);
    }
}
