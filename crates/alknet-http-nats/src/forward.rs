//! A gateway's side of a call over the bus: the request, its reply (or the replies of a
//! subscription), and what it does when a worker or the bus goes away.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::trace::TraceParent;
use alknet_http_core::{CallError, ErrorCode, OperationContext, OperationType};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::connect::Bus;
use crate::mux::{Mux, Slot};
use crate::wire::{self, DEADLINE_MS, FORWARDED_FOR, Reply, TRACEPARENT, TRACESTATE, WINDOW};

/// How a gateway calls over the bus.
pub(crate) struct Forwarder {
    pub(crate) bus: Bus,
    pub(crate) mux: Mux,
    /// Where aborts go (a `Subject` clones without copying: one is armed per call).
    pub(crate) abort_subject: Subject,
    /// How long a worker may stay silent before it is taken for gone.
    pub(crate) silence: Duration,
    /// How often a Query is sent again after its worker was lost or full.
    pub(crate) query_retries: usize,
    /// A subscription's items unacknowledged at most.
    pub(crate) window: u64,
    /// The import's name, for the upstream metrics.
    pub(crate) import: Arc<str>,
}

/// How waiting for a reply ended.
enum Outcome {
    Result(Bytes),
    Error(CallError),
    NoResponders,
    /// The worker went silent, or the bus connection was lost: it may or may not have run.
    Lost(&'static str),
    Timeout,
}

/// Publishes an abort for a call whose caller went away before it answered.
struct AbortOnDrop {
    client: Option<async_nats::Client>,
    subject: Subject,
    payload: Bytes,
}

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.client = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (subject, payload) = (self.subject.clone(), self.payload.clone());
            runtime.spawn(async move {
                let _ = client.publish(subject, payload).await;
            });
        }
    }
}

/// The error of a call whose worker was lost: a Query never ran to an answer and may be sent
/// again; a Mutation may have run, so it is not, and says so.
fn lost(op_type: OperationType, why: &str) -> CallError {
    match op_type {
        OperationType::Mutation => {
            CallError::internal(format!("{why}; the mutation may or may not have run"))
                .with_details(json!({ "reason": "worker_lost" }))
        }
        _ => wire::unavailable(why).with_details(json!({ "reason": "worker_lost" })),
    }
}

fn is_overloaded(error: &CallError) -> bool {
    error.is(ErrorCode::Unavailable)
        && error
            .details
            .as_ref()
            .is_some_and(|d| d["reason"] == "overloaded")
}

impl Forwarder {
    /// The headers of a request (what is left of the deadline now), or why it cannot be sent.
    fn request(&self, ctx: &OperationContext, payload: usize) -> Result<HeaderMap, CallError> {
        if !self.bus.is_connected() {
            return Err(wire::unavailable("the message bus is not connected"));
        }
        let max = self.bus.max_payload();
        if payload + wire::HEADER_ALLOWANCE > max {
            return Err(wire::too_large("the input", payload, max));
        }
        let mut headers = HeaderMap::new();
        if let Some(deadline) = ctx.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CallError::timeout("the call's deadline passed"));
            }
            headers.insert(DEADLINE_MS, left.as_millis().to_string());
        }
        if let Some(caller) = ctx.forwarded_for().or(ctx.identity()) {
            headers.insert(FORWARDED_FOR, wire::forwarded_for(caller));
        }
        if let Some(trace) = TraceParent::current() {
            headers.insert(TRACEPARENT, trace.traceparent());
            if let Some(state) = trace.tracestate() {
                headers.insert(TRACESTATE, state);
            }
        }
        Ok(headers)
    }

    async fn publish(
        &self,
        subject: &Subject,
        slot: &Slot,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), CallError> {
        self.bus
            .client()
            .publish_with_reply_and_headers(subject.clone(), slot.subject.clone(), headers, payload)
            .await
            .map_err(|e| wire::unavailable(format!("the message bus refused the call: {e}")))
    }

    /// Calls a Query or Mutation on the workers serving `subject`.
    pub(crate) async fn once(
        &self,
        subject: &Subject,
        op_type: OperationType,
        input: Value,
        ctx: &OperationContext,
    ) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let result = self.once_unmetered(subject, op_type, input, ctx).await;
        if let Some(metrics) = ctx.metrics() {
            let error = result.as_ref().err().map(|e| e.code.as_str());
            metrics.upstream_request(&self.import, started.elapsed(), error);
        }
        result
    }

    async fn once_unmetered(
        &self,
        subject: &Subject,
        op_type: OperationType,
        input: Value,
        ctx: &OperationContext,
    ) -> Result<Value, CallError> {
        let payload: Bytes = serde_json::to_vec(&input)
            .map_err(|e| CallError::invalid_input(format!("the input is not JSON: {e}")))?
            .into();
        let mut attempts = 0;
        loop {
            // Each attempt its own id and what is left of the deadline.
            let mut slot = self.mux.slot(8);
            let headers = self.request(ctx, payload.len())?;
            self.publish(subject, &slot, headers, payload.clone())
                .await?;
            let mut abort = AbortOnDrop {
                client: Some(self.bus.client().clone()),
                subject: self.abort_subject.clone(),
                payload: Bytes::copy_from_slice(slot.call_id().as_bytes()),
            };
            let outcome = self.wait(&mut slot, ctx.deadline()).await;
            if !matches!(outcome, Outcome::Timeout) {
                abort.disarm();
            }
            let retry = attempts < self.query_retries && op_type == OperationType::Query;
            match outcome {
                Outcome::Result(body) => {
                    return serde_json::from_slice(&body).map_err(|e| {
                        CallError::internal(format!("a worker answered with invalid JSON: {e}"))
                    });
                }
                Outcome::Error(error) if retry && is_overloaded(&error) => {}
                Outcome::Error(error) => return Err(error),
                Outcome::NoResponders => {
                    return Err(wire::unavailable("no worker serves this operation now"));
                }
                Outcome::Lost(_) if retry && self.bus.is_connected() => {}
                Outcome::Lost(why) => return Err(lost(op_type, why)),
                Outcome::Timeout => {
                    return Err(CallError::timeout("the call's deadline passed"));
                }
            }
            attempts += 1;
            tracing::debug!(
                subject = subject.as_str(),
                attempts,
                "sending a query again"
            );
        }
    }

    /// Waits for the one answer of a Query or Mutation, through the worker's beats.
    async fn wait(&self, slot: &mut Slot, deadline: Option<Instant>) -> Outcome {
        let mut losses = self.bus.losses();
        losses.borrow_and_update();
        // One timer per call: the worker's silence or the deadline, whichever comes first,
        // pushed back by each beat.
        let wake = |now: Instant| {
            let silent = now + self.silence;
            deadline.map_or(silent, |at| at.min(silent))
        };
        let timer = tokio::time::sleep_until(wake(Instant::now()));
        tokio::pin!(timer);
        loop {
            let reply = tokio::select! {
                reply = slot.replies.recv() => reply,
                () = &mut timer => {
                    if deadline.is_some_and(|at| at <= Instant::now()) {
                        return Outcome::Timeout;
                    }
                    return Outcome::Lost("the worker stopped answering");
                }
                _ = losses.changed() => {
                    return Outcome::Lost("the connection to the message bus was lost");
                }
            };
            let Some(reply) = reply else {
                return Outcome::Lost("the reply subscription ended");
            };
            match wire::reply_of(reply) {
                Reply::Result(body) => return Outcome::Result(body),
                Reply::Error(error) => return Outcome::Error(error),
                Reply::NoResponders => return Outcome::NoResponders,
                Reply::Beat => timer.as_mut().reset(wake(Instant::now())),
                Reply::Item(..) | Reply::Done => {
                    return Outcome::Error(CallError::internal(
                        "a worker answered a query with a stream",
                    ));
                }
            }
        }
    }

    /// Calls a subscription on the workers serving `subject`: its items, acknowledged as they
    /// are read (the worker sends at most `window` ahead); dropping the stream aborts it.
    pub(crate) fn stream(
        self: Arc<Self>,
        subject: Subject,
        input: Value,
        ctx: OperationContext,
    ) -> BoxStream<'static, Result<Value, CallError>> {
        let start = State::Start(Box::new((self, subject, input, ctx)));
        stream::unfold(start, |state| async move {
            let mut open = match state {
                State::Ended => return None,
                State::Start(start) => {
                    let (forwarder, subject, input, ctx) = *start;
                    match forwarder.open(&subject, &input, &ctx).await {
                        Ok(open) => open,
                        Err(error) => return Some((Err(error), State::Ended)),
                    }
                }
                State::Open(open) => open,
            };
            let item = open.next().await?;
            let state = if item.is_ok() {
                State::Open(open)
            } else {
                State::Ended
            };
            Some((item, state))
        })
        .boxed()
    }

    /// Sends a subscription's request.
    async fn open(
        self: &Arc<Self>,
        subject: &Subject,
        input: &Value,
        ctx: &OperationContext,
    ) -> Result<Box<Open>, CallError> {
        let payload: Bytes = serde_json::to_vec(input)
            .map_err(|e| CallError::invalid_input(format!("the input is not JSON: {e}")))?
            .into();
        // Room for the window, and for beats between items.
        let slot = self
            .mux
            .slot(usize::try_from(self.window).unwrap_or(1024) + 16);
        let mut headers = self.request(ctx, payload.len())?;
        headers.insert(WINDOW, self.window.to_string());
        self.publish(subject, &slot, headers, payload).await?;
        let id = slot.call_id().to_owned();
        Ok(Box::new(Open {
            forwarder: self.clone(),
            slot,
            abort: AbortOnDrop {
                client: Some(self.bus.client().clone()),
                subject: self.abort_subject.clone(),
                payload: Bytes::copy_from_slice(id.as_bytes()),
            },
            id,
            read: 0,
            acked: 0,
            control: None,
            heard: Instant::now(),
            watch: {
                let mut watch = tokio::time::interval(self.silence);
                watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                watch
            },
        }))
    }
}

/// Where a subscription over the bus is.
enum State {
    Start(Box<(Arc<Forwarder>, Subject, Value, OperationContext)>),
    Open(Box<Open>),
    Ended,
}

/// A subscription whose request went out.
struct Open {
    forwarder: Arc<Forwarder>,
    slot: Slot,
    /// Aborts the stream when it is dropped before its end.
    abort: AbortOnDrop,
    id: String,
    /// The last item read, and the last one acknowledged.
    read: u64,
    acked: u64,
    /// The worker's control subject, once it said it.
    control: Option<String>,
    /// When the worker was last heard, and the tick that looks at it.
    heard: Instant,
    watch: tokio::time::Interval,
}

impl Open {
    /// The next item or the terminal error; `None` when the stream is done.
    async fn next(&mut self) -> Option<Result<Value, CallError>> {
        loop {
            // Not a timer per item: the watch ticks every `silence` and looks at when the
            // worker was last heard.
            let reply = loop {
                tokio::select! {
                    reply = self.slot.replies.recv() => break reply,
                    _ = self.watch.tick() => {
                        if self.heard.elapsed() >= self.forwarder.silence {
                            break None;
                        }
                    }
                }
            };
            self.heard = Instant::now();
            let Some(reply) = reply else {
                self.abort.disarm();
                return Some(Err(lost(
                    OperationType::Subscription,
                    "the worker stopped answering",
                )));
            };
            if self.control.is_none()
                && let Some(control) = wire::header(&reply, wire::CONTROL)
            {
                // Acknowledgements and the abort go to the worker itself from now on.
                self.control = Some(control.to_owned());
                self.abort.subject = control.into();
                self.abort.payload = wire::control(&self.id, None, true);
            }
            let ended = |abort: &mut AbortOnDrop, error: CallError| {
                abort.disarm();
                Some(Err(error))
            };
            match wire::reply_of(reply) {
                Reply::Beat => {}
                Reply::Item(seq, body) => {
                    if seq != self.read + 1 {
                        let error = CallError::internal(format!(
                            "the stream lost items: item {seq} after {}",
                            self.read
                        ));
                        return ended(&mut self.abort, error);
                    }
                    self.read = seq;
                    self.acknowledge().await;
                    return Some(serde_json::from_slice(&body).map_err(|e| {
                        CallError::internal(format!("a worker sent an item that is not JSON: {e}"))
                    }));
                }
                Reply::Done => {
                    self.abort.disarm();
                    return None;
                }
                Reply::Error(error) => return ended(&mut self.abort, error),
                Reply::NoResponders => {
                    let error = wire::unavailable("no worker serves this operation now");
                    return ended(&mut self.abort, error);
                }
                Reply::Result(_) => {
                    let error = CallError::internal("a worker answered a subscription once");
                    return ended(&mut self.abort, error);
                }
            }
        }
    }

    /// Tells the worker what was read, every half window.
    async fn acknowledge(&mut self) {
        let Some(control) = &self.control else {
            return;
        };
        if self.read - self.acked < (self.forwarder.window / 2).max(1) {
            return;
        }
        self.acked = self.read;
        let _ = self
            .forwarder
            .bus
            .client()
            .publish(
                control.clone(),
                wire::control(&self.id, Some(self.read), false),
            )
            .await;
    }
}
