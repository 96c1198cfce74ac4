//! Calls and subscriptions this side makes: [`OutgoingCall`], [`Subscription`], and the guard
//! that sends `call.aborted` for one dropped before it finished.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

use super::handle::Handle;
use super::outbound::{Flush, write_now};
use super::{Session, Shared, SubscriptionReceiver, lock};
use crate::envelope::{CallRequested, EventEnvelope};
use crate::error::CallError;
use crate::identity::Identity;
use crate::invoke::new_request_id;
use crate::meta::CallMeta;

/// Per-request options of an outgoing call.
#[derive(Debug, Clone, Default)]
pub struct OutgoingOptions {
    /// A per-request credential for the remote side.
    pub auth_token: Option<String>,
    /// The originator, for the remote's logs and audit.
    pub forwarded_for: Option<Identity>,
    /// The local request this call is made on behalf of.
    pub parent_request_id: Option<String>,
    /// When the call must have answered: the session's call timeout applies when sooner, and
    /// the other side is told the time left (`meta.deadline_ms`, call-protocol §1).
    pub deadline: Option<Instant>,
    /// Context sent with the call (trace context, `x-` keys); `deadline_ms` is set from
    /// `deadline`.
    pub meta: CallMeta,
}

impl Session {
    /// Calls a Query or Mutation on the other side. Resolves on the first `call.responded`.
    ///
    /// Dropping the future before it resolves aborts the call (`call.aborted` is sent).
    pub async fn call(&self, operation: &str, input: Value) -> Result<Value, CallError> {
        self.request(operation, input, OutgoingOptions::default())
            .await
    }

    /// Starts a call with per-request options; the returned future can be aborted explicitly.
    pub fn request(&self, operation: &str, input: Value, options: OutgoingOptions) -> OutgoingCall {
        let id = new_request_id();
        let shared = self.shared.clone();
        let deadline = Instant::now() + shared.options.config.call_timeout;
        let deadline = options.deadline.map_or(deadline, |d| d.min(deadline));
        let mut guard = AbortGuard::new(self, id.clone());
        let receiver = if shared.closed.is_cancelled() {
            None
        } else {
            Some(lock(&shared.pending).register_call(id.clone(), deadline))
        };
        let envelope = requested_envelope(&id, operation, input, options);
        let future = async move {
            let Some(receiver) = receiver else {
                guard.disarm();
                return Err(CallError::connection_closed());
            };
            if !queue_request(&shared, envelope).await {
                guard.disarm();
                lock(&shared.pending).remove(&guard.id);
                return Err(CallError::connection_closed());
            }
            let result = receiver
                .await
                .unwrap_or_else(|_| Err(CallError::connection_closed()));
            guard.disarm();
            result
        }
        .boxed();
        OutgoingCall { id, future }
    }

    /// Subscribes to a Subscription on the other side. The stream ends after `call.completed`,
    /// after one `Err` item (`call.error`, or a local timeout/lag/close), or on `call.aborted`.
    ///
    /// Dropping the stream before it ends aborts the subscription.
    pub async fn subscribe(&self, operation: &str, input: Value) -> Subscription {
        self.subscribe_with(operation, input, OutgoingOptions::default())
            .await
    }

    /// Subscribes with per-request options.
    pub async fn subscribe_with(
        &self,
        operation: &str,
        input: Value,
        options: OutgoingOptions,
    ) -> Subscription {
        let id = new_request_id();
        let shared = &self.shared;
        let closed = || Subscription {
            id: id.clone(),
            state: SubscriptionState::Failed(Some(CallError::connection_closed())),
            guard: AbortGuard::disarmed(self, id.clone()),
        };
        if shared.closed.is_cancelled() {
            return closed();
        }
        let receiver = lock(&shared.pending).register_subscribe(
            id.clone(),
            None,
            shared.options.config.subscription_queue,
        );
        let guard = AbortGuard::new(self, id.clone());
        let envelope = requested_envelope(&id, operation, input, options);
        if !queue_request(shared, envelope).await {
            lock(&shared.pending).remove(&id);
            return closed();
        }
        Subscription {
            id,
            state: SubscriptionState::Open(receiver),
            guard,
        }
    }

    /// Aborts the outgoing request `id`: the local caller gets `INTERNAL` "call aborted" (a
    /// subscription just ends) and the other side is sent `call.aborted`. Unknown ids: `false`.
    pub fn abort(&self, id: &str) -> bool {
        let existed =
            lock(&self.shared.pending).handle_error(id, CallError::internal("call aborted"));
        if existed {
            let _ = self.shared.control_tx.send(EventEnvelope::aborted(id));
        }
        existed
    }
}

/// Sends a request: written at once when it is the session's only call and the transport
/// takes it, else queued (where many calls share one flush). `false` once the session's writer
/// is gone.
async fn queue_request(shared: &Shared, envelope: EventEnvelope) -> bool {
    let envelope = if lock(&shared.pending).len() <= 1 {
        match write_now(shared, envelope, Flush::Now).await {
            Ok(()) => return true,
            Err(envelope) => envelope,
        }
    } else {
        envelope
    };
    shared.data_tx.send(envelope).await.is_ok()
}

fn requested_envelope(
    id: &str,
    operation: &str,
    input: Value,
    options: OutgoingOptions,
) -> EventEnvelope {
    let mut request = CallRequested::new(operation, input);
    request.auth_token = options.auth_token;
    request.forwarded_for = options.forwarded_for;
    let mut meta = options.meta;
    if let Some(deadline) = options.deadline {
        meta = meta.with_deadline(deadline.saturating_duration_since(Instant::now()));
    }
    request.meta = (!meta.is_empty()).then_some(meta);
    EventEnvelope::requested(id, &request)
}

/// Sends `call.aborted` for an outgoing request that is dropped before it finished.
struct AbortGuard {
    shared: Arc<Shared>,
    id: String,
    armed: bool,
    /// Keeps the session open while this call runs.
    _handle: Arc<Handle>,
}

impl AbortGuard {
    fn new(session: &Session, id: String) -> Self {
        AbortGuard {
            shared: session.shared.clone(),
            id,
            armed: true,
            _handle: session.handle.clone(),
        }
    }

    fn disarmed(session: &Session, id: String) -> Self {
        let mut guard = AbortGuard::new(session, id);
        guard.armed = false;
        guard
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed && lock(&self.shared.pending).remove(&self.id) {
            let _ = self
                .shared
                .control_tx
                .send(EventEnvelope::aborted(self.id.clone()));
        }
    }
}

/// An outgoing call in progress: a future of its result, with its wire id.
pub struct OutgoingCall {
    id: String,
    future: BoxFuture<'static, Result<Value, CallError>>,
}

impl fmt::Debug for OutgoingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingCall")
            .field("id", &self.id)
            .finish()
    }
}

impl OutgoingCall {
    /// The wire id of this call.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Future for OutgoingCall {
    type Output = Result<Value, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.poll_unpin(cx)
    }
}

enum SubscriptionState {
    Open(SubscriptionReceiver),
    Failed(Option<CallError>),
    Done,
}

/// An outgoing subscription: a stream of outputs that ends on `call.completed`, after one error
/// item, or on `call.aborted`. Dropping it early aborts the subscription.
pub struct Subscription {
    id: String,
    state: SubscriptionState,
    guard: AbortGuard,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Subscription {
    /// The wire id of this subscription.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Aborts the subscription now (the other side is sent `call.aborted`).
    pub fn abort(mut self) {
        self.state = SubscriptionState::Done;
        // Dropping the armed guard sends the abort.
    }
}

impl Stream for Subscription {
    type Item = Result<Value, CallError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match &mut this.state {
            SubscriptionState::Done => Poll::Ready(None),
            SubscriptionState::Failed(error) => {
                let error = error.take();
                this.state = SubscriptionState::Done;
                Poll::Ready(error.map(Err))
            }
            SubscriptionState::Open(receiver) => match receiver.poll_next_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(value))) => Poll::Ready(Some(Ok(value))),
                Poll::Ready(Some(Err(error))) => {
                    this.guard.disarm();
                    this.state = SubscriptionState::Done;
                    Poll::Ready(Some(Err(error)))
                }
                Poll::Ready(None) => {
                    this.guard.disarm();
                    this.state = SubscriptionState::Done;
                    Poll::Ready(None)
                }
            },
        }
    }
}
