//! The root call and the dispatch path every call takes (call-protocol §8.2): admission
//! (lookup, visibility, access control, input validation), then the handler with its deadline,
//! abort signal and panic isolation, and the error mapping.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::access::{AccessDecision, OwnershipProvider, ResourceTarget};
use crate::context::{AbortPolicy, OperationContext, OperationEnv};
use crate::envelope::{ResponseEnvelope, strip_slash};
use crate::error::CallError;
use crate::identity::Identity;
use crate::observe::{CallFacts, Observed};
use crate::registry::{
    HandlerKind, HandlerResult, OperationLayer, OperationOverlay, RegisteredOperation,
};
use crate::spec::Visibility;
use crate::trace::TraceParent;
use tracing::Instrument;

/// The stream `invoke_streaming` returns: envelopes, the last one an error if the call failed.
pub type ResponseStream = BoxStream<'static, ResponseEnvelope>;

/// The deadline of root Query/Mutation calls unless configured otherwise: 30 s.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a transport knows about a root call before dispatch (call-protocol §8.2–§8.3).
#[derive(Debug, Clone)]
pub struct RootCall {
    /// The envelope id (or a fresh UUID v4 for gateway calls).
    pub request_id: String,
    /// The resolved per-request identity (shared, never copied on the way to the handler).
    pub identity: Option<Arc<Identity>>,
    /// The originator named by a forwarding node (metadata only).
    pub forwarded_for: Option<Identity>,
    /// The composition env; `None` gives a flat env over the base registry.
    pub env: Option<Arc<dyn OperationEnv>>,
    /// The ownership provider of the session, if any.
    pub ownership: Option<Arc<dyn OwnershipProvider>>,
    /// The deadline of Query/Mutation calls, from dispatch (ignored for subscriptions).
    pub timeout: Duration,
    /// Cancelled by the transport to abort the call (`call.aborted`, disconnect).
    pub abort: CancellationToken,
    /// `Last-Event-ID` of a resuming SSE client.
    pub last_event_id: Option<String>,
    /// The surface the call came in on (`gateway`, `mcp`, `ws`, `quic`, …), for the access
    /// log and the call's span.
    pub surface: &'static str,
    /// The caller's trace context (a session's `meta`), parent of the call's span. HTTP
    /// surfaces leave it `None`: their request span is the parent.
    pub trace_parent: Option<TraceParent>,
    /// The surface's own server span for this call, when it has one the call may record
    /// itself on instead of opening a child span (see [`trace::hosts_call`](crate::trace::hosts_call)).
    /// The surface runs the call inside it: a hosted call does not enter it again.
    pub span: Option<tracing::Span>,
    /// The address the call came from, which counts an anonymous caller's calls against the
    /// per-address rate limits.
    pub source: Option<std::net::IpAddr>,
    /// Where the call's progress goes, when the surface can carry it to the caller.
    pub progress: Option<crate::progress::ProgressSink>,
}

impl RootCall {
    /// A root call with a fresh UUID v4 id, no identity and the default 30 s timeout.
    pub fn new() -> Self {
        RootCall::with_id(new_request_id())
    }

    /// A root call with a given request id.
    pub fn with_id(request_id: impl Into<String>) -> Self {
        RootCall {
            request_id: request_id.into(),
            identity: None,
            forwarded_for: None,
            env: None,
            ownership: None,
            timeout: DEFAULT_CALL_TIMEOUT,
            abort: CancellationToken::new(),
            last_event_id: None,
            surface: "call",
            trace_parent: None,
            span: None,
            source: None,
            progress: None,
        }
    }

    /// Sets the identity.
    #[must_use]
    pub fn identity(mut self, identity: Option<Arc<Identity>>) -> Self {
        self.identity = identity;
        self
    }

    /// The seed of this root call, composing through `env` (what `self.env` says is the
    /// caller's to decide: it is ignored here).
    pub(crate) fn into_seed(self, env: Arc<dyn OperationEnv>) -> CallSeed {
        // A child: the transport's cancel cascades in, but a timeout or panic inside the call
        // does not look like a transport abort.
        let abort = self.abort.child_token();
        self.into_seed_with(env, abort)
    }

    /// The seed of a root call whose abort token was made for it alone (nobody else cancels
    /// or watches it), so it needs no child token of its own.
    pub(crate) fn into_seed_owning_abort(self, env: Arc<dyn OperationEnv>) -> CallSeed {
        let abort = self.abort.clone();
        self.into_seed_with(env, abort)
    }

    fn into_seed_with(self, env: Arc<dyn OperationEnv>, abort: CancellationToken) -> CallSeed {
        CallSeed {
            request_id: self.request_id,
            parent_request_id: None,
            identity: self.identity,
            forwarded_for: self.forwarded_for,
            env,
            abort_policy: AbortPolicy::AbortDependents,
            deadline: DeadlineRule::Root(self.timeout),
            ownership: self.ownership,
            internal: false,
            abort,
            ancestor_abort: None,
            last_event_id: self.last_event_id,
            surface: Some(self.surface),
            trace_parent: self.trace_parent,
            host_span: self.span,
            source: self.source,
            progress: self.progress,
        }
    }
}

impl Default for RootCall {
    fn default() -> Self {
        RootCall::new()
    }
}

/// How a call's deadline is set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DeadlineRule {
    /// Root call: `now + timeout` for Query/Mutation, none for subscriptions.
    Root(Duration),
    /// Composed call: the parent's deadline.
    Inherit(Option<Instant>),
}

/// Everything dispatch needs besides the registration to build a context.
pub(crate) struct CallSeed {
    pub(crate) request_id: String,
    pub(crate) parent_request_id: Option<String>,
    pub(crate) identity: Option<Arc<Identity>>,
    pub(crate) forwarded_for: Option<Identity>,
    pub(crate) env: Arc<dyn OperationEnv>,
    pub(crate) abort_policy: AbortPolicy,
    pub(crate) deadline: DeadlineRule,
    pub(crate) ownership: Option<Arc<dyn OwnershipProvider>>,
    pub(crate) internal: bool,
    pub(crate) abort: CancellationToken,
    pub(crate) ancestor_abort: Option<CancellationToken>,
    pub(crate) last_event_id: Option<String>,
    /// The surface of a root call (`None` for composed calls): root calls are access-logged.
    pub(crate) surface: Option<&'static str>,
    /// The caller's trace context, for a root call that came with one.
    pub(crate) trace_parent: Option<TraceParent>,
    /// The surface's span the call records itself on, for a root call that came with one.
    pub(crate) host_span: Option<tracing::Span>,
    /// Where a root call came from (see [`RootCall::source`]).
    pub(crate) source: Option<std::net::IpAddr>,
    /// Where the call tree's progress goes.
    pub(crate) progress: Option<crate::progress::ProgressSink>,
}

impl CallSeed {
    /// What observing the call needs to know of it.
    fn facts<'a>(
        &'a self,
        op: &'a Option<Arc<RegisteredOperation>>,
        name: &'a str,
    ) -> CallFacts<'a> {
        CallFacts {
            operation: op.as_ref().map_or(name, |op| op.spec.name.as_str()),
            known: op.is_some(),
            metrics: self.env.metrics(),
            surface: self.surface,
            identity: self.identity.as_deref(),
            request_id: &self.request_id,
            trace_parent: self.trace_parent.as_ref(),
            host_span: self.host_span.as_ref(),
        }
    }

    fn into_context(self, op: &RegisteredOperation) -> OperationContext {
        let deadline = match self.deadline {
            DeadlineRule::Root(_) if op.spec.op_type.is_streaming() => None,
            DeadlineRule::Root(timeout) => Some(Instant::now() + timeout),
            DeadlineRule::Inherit(deadline) => deadline,
        };
        OperationContext {
            request_id: self.request_id,
            parent_request_id: self.parent_request_id,
            identity: self.identity,
            handler_identity: op.handler_identity.clone(),
            forwarded_for: self.forwarded_for,
            capabilities: op.capabilities.clone(),
            metadata: BTreeMap::new(),
            scoped_env: op.scoped_env.clone(),
            env: self.env,
            abort_policy: self.abort_policy,
            deadline,
            ownership: self.ownership,
            internal: self.internal,
            abort: self.abort,
            ancestor_abort: self.ancestor_abort,
            child_counter: Default::default(),
            last_event_id: self.last_event_id,
            progress: self.progress,
        }
    }
}

/// Steps 1–5 of call-protocol §8.2: lookup, visibility, access control, input validation.
fn admit(
    op: Option<Arc<RegisteredOperation>>,
    name: &str,
    input: &Value,
    seed: &CallSeed,
) -> Result<Arc<RegisteredOperation>, CallError> {
    let op = op
        .filter(|op| seed.internal || op.spec.visibility == Visibility::External)
        .ok_or_else(|| CallError::not_found(name))?;
    // A session resolved its identity when it opened: a credential that expired since is
    // refused here, before the session's watch closes it.
    if seed.identity.as_deref().is_some_and(Identity::is_expired) {
        return Err(CallError::forbidden(
            crate::credential::Revocation::Expired.reason(),
        ));
    }
    let target = ResourceTarget::extract(op.spec.resource_id_path.as_deref(), input);
    if let AccessDecision::Forbidden(reason) =
        op.spec
            .access_control
            .check(seed.identity.as_deref(), target, seed.ownership.as_deref())
    {
        return Err(refusal(&op, reason, seed.identity.as_deref()));
    }
    // Root calls only: a composed call's root was counted already.
    if seed.surface.is_some()
        && let Some(limits) = seed.env.rate_limits()
    {
        limits.check(&op.spec.name, seed.identity.as_deref(), seed.source)?;
    }
    op.validate_input(input)?;
    Ok(op)
}

/// The `FORBIDDEN` of a refused call; an identified caller short of scopes is told which
/// scopes it needs (`details: {"reason": "insufficient_scope", "scopes": [...]}`), which HTTP
/// renders as an RFC 6750 `insufficient_scope` challenge.
fn refusal(op: &RegisteredOperation, reason: String, identity: Option<&Identity>) -> CallError {
    let error = CallError::forbidden(reason);
    match identity.and_then(|identity| op.spec.access_control.needed_scopes(identity)) {
        Some(scopes) => error.with_details(serde_json::json!({
            "reason": crate::error::INSUFFICIENT_SCOPE,
            "scopes": scopes,
        })),
        None => error,
    }
}

/// Cancels the call's abort signal if the call is dropped before it finished.
struct AbortOnDrop(Option<CancellationToken>);

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

fn panic_error() -> CallError {
    CallError::internal("handler panicked")
}

/// Ends `items` once `abort` is cancelled. The stream is polled first and the abort signal only
/// registered for while it waits, so a busy stream pays one flag check per item rather than a
/// poll of the cancellation future (unlike `take_until`).
fn until_aborted<S>(items: S, abort: CancellationToken) -> impl Stream<Item = S::Item> + Send
where
    S: Stream + Send + 'static,
{
    let mut items = Box::pin(items);
    let mut cancelled = Box::pin(abort.clone().cancelled_owned());
    let mut done = false;
    stream::poll_fn(move |cx| {
        if done || abort.is_cancelled() {
            done = true;
            return Poll::Ready(None);
        }
        match items.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Ready(None) => {
                done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match cancelled.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    done = true;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    })
}

/// A fresh request id: a UUID v4, hyphenated lowercase (encoded without the formatting machinery).
pub(crate) fn new_request_id() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// What an aborted call resolves to locally (no frame is ever sent for it).
pub(crate) fn aborted_error() -> CallError {
    CallError::internal("call aborted")
}

/// Dispatches a request/response call to `op` (already looked up in some layer), counted in
/// the env's metrics when it has any.
pub(crate) fn invoke_once(
    op: Option<Arc<RegisteredOperation>>,
    name: &str,
    input: Value,
    seed: CallSeed,
) -> BoxFuture<'static, ResponseEnvelope> {
    let Some(observed) = Observed::start(seed.facts(&op, name)) else {
        return dispatch_once(op, name, input, seed);
    };
    // A span that is `none` is entered for nothing.
    let span = observed
        .span_to_enter()
        .cloned()
        .unwrap_or_else(tracing::Span::none);
    let call = dispatch_once(op, name, input, seed).instrument(span);
    async move {
        let reply = call.await;
        observed.finish(&reply);
        reply
    }
    .boxed()
}

fn dispatch_once(
    op: Option<Arc<RegisteredOperation>>,
    name: &str,
    input: Value,
    seed: CallSeed,
) -> BoxFuture<'static, ResponseEnvelope> {
    let request_id = seed.request_id.clone();
    let op = match admit(op, name, &input, &seed) {
        Ok(op) => op,
        Err(e) => return futures::future::ready(ResponseEnvelope::error(request_id, e)).boxed(),
    };
    let HandlerKind::Once(handler) = &op.handler else {
        let e = CallError::invalid_operation_type(format!(
            "{} is a subscription: use the streaming path",
            op.spec.path()
        ));
        return futures::future::ready(ResponseEnvelope::error(request_id, e)).boxed();
    };
    let handler = handler.clone();
    let ctx = seed.into_context(&op);
    let deadline = ctx.deadline;
    let abort = ctx.abort.clone();
    let mut guard = AbortOnDrop(Some(ctx.abort.clone()));
    async move {
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| handler(input, ctx)));
        let result = match started {
            Err(_) => Err(panic_error()),
            Ok(future) => {
                let future = AssertUnwindSafe(future).catch_unwind();
                let future = async {
                    match deadline {
                        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
                        None => Some(future.await),
                    }
                };
                if abort.is_cancelled() {
                    return ResponseEnvelope::error(request_id, aborted_error());
                }
                // The handler first: one that is done at once never registers for the abort
                // signal nor arms its deadline timer (`timeout_at` polls its future first).
                let outcome = tokio::select! {
                    biased;
                    outcome = future => outcome,
                    () = abort.cancelled() => return ResponseEnvelope::error(request_id, aborted_error()),
                };
                match outcome {
                    None => {
                        return ResponseEnvelope::error(
                            request_id,
                            CallError::timeout(format!("{} exceeded its deadline", op.spec.path())),
                        );
                    }
                    Some(Err(_)) => Err(panic_error()),
                    Some(Ok(result)) => {
                        guard.disarm();
                        result.map_err(|e| op.map_error(e))
                    }
                }
            }
        };
        ResponseEnvelope { request_id, result }
    }
    .boxed()
}

/// Dispatches a subscription to `op`. Pre-handler failures are a one-item error stream; an `Err`
/// item ends the stream at once. Counted in the env's metrics when it has any.
pub(crate) fn invoke_stream(
    op: Option<Arc<RegisteredOperation>>,
    name: &str,
    input: Value,
    seed: CallSeed,
) -> ResponseStream {
    let Some(observed) = Observed::start(seed.facts(&op, name)) else {
        return dispatch_stream(op, name, input, seed);
    };
    // The handler's stream runs whenever its reader polls it (an SSE body, a session's pump),
    // outside any span of its own: each poll enters the call's span, so that what the handler
    // does meanwhile (a composed call, an upstream's `traceparent`) is the call's child.
    let items = match observed.span_to_enter().cloned() {
        Some(span) => {
            let mut items = span.in_scope(|| dispatch_stream(op, name, input, seed));
            stream::poll_fn(move |cx| span.in_scope(|| items.poll_next_unpin(cx))).boxed()
        }
        None => dispatch_stream(op, name, input, seed),
    };
    stream::unfold(
        (items, Some(observed)),
        |(mut items, mut observed)| async move {
            let Some(item) = items.next().await else {
                if let Some(observed) = observed.take() {
                    observed.finish_stream();
                }
                return None;
            };
            match (&item.result, observed.take()) {
                (Err(_), Some(done)) => done.finish(&item),
                (Ok(_), Some(running)) => {
                    running.item();
                    observed = Some(running);
                }
                (_, None) => {}
            }
            Some((item, (items, observed)))
        },
    )
    .boxed()
}

fn dispatch_stream(
    op: Option<Arc<RegisteredOperation>>,
    name: &str,
    input: Value,
    seed: CallSeed,
) -> ResponseStream {
    let request_id = seed.request_id.clone();
    let one = |e: CallError| {
        stream::once(futures::future::ready(ResponseEnvelope::error(
            request_id.clone(),
            e,
        )))
        .boxed()
    };
    let op = match admit(op, name, &input, &seed) {
        Ok(op) => op,
        Err(e) => return one(e),
    };
    let HandlerKind::Stream(handler) = &op.handler else {
        return one(CallError::invalid_operation_type(format!(
            "{} is not a subscription: use the request/response path",
            op.spec.path()
        )));
    };
    let ctx = seed.into_context(&op);
    let guard = AbortOnDrop(Some(ctx.abort.clone()));
    let abort = ctx.abort.clone();
    let inner = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(input, ctx))) {
        // An aborted subscription just stops: no further items, no terminal item.
        Ok(inner) => until_aborted(AssertUnwindSafe(inner).catch_unwind(), abort).boxed(),
        Err(_) => return one(panic_error()),
    };
    struct State {
        inner: Option<BoxStream<'static, std::thread::Result<HandlerResult>>>,
        guard: AbortOnDrop,
        op: Arc<RegisteredOperation>,
        request_id: String,
    }
    let state = State {
        inner: Some(inner),
        guard,
        op,
        request_id,
    };
    stream::unfold(state, |mut state| async move {
        let inner = state.inner.as_mut()?;
        let result = match inner.next().await {
            Some(Ok(Ok(output))) => Ok(output),
            Some(Ok(Err(e))) => Err(state.op.map_error(e)),
            Some(Err(_)) => Err(panic_error()),
            None => {
                state.inner = None;
                state.guard.disarm();
                return None;
            }
        };
        if result.is_err() {
            // Terminal: drop the handler's stream at once.
            state.inner = None;
            state.guard.disarm();
        }
        let envelope = ResponseEnvelope {
            request_id: state.request_id.clone(),
            result,
        };
        Some((envelope, state))
    })
    .boxed()
}

impl OperationOverlay {
    /// Calls an operation of this overlay the way hub-side code composes it: `Internal`
    /// operations (every import) are reachable, and access control checks `call.identity` —
    /// the authority the calling code acts as — against the operation's own ACL.
    pub fn invoke_as(
        &self,
        name: &str,
        input: Value,
        call: RootCall,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let name = strip_slash(name);
        // Overlay operations are imported leaves: they compose nothing, so they need no env.
        let mut seed = call.into_seed(NO_COMPOSITION.clone());
        seed.internal = true;
        invoke_once(self.lookup(name), name, input, seed)
    }
}

/// The env of calls that compose nothing: every composed call is `NOT_FOUND`.
#[derive(Debug)]
struct NoComposition;

static NO_COMPOSITION: LazyLock<Arc<dyn OperationEnv>> = LazyLock::new(|| Arc::new(NoComposition));

impl OperationEnv for NoComposition {
    fn invoke_with_policy(
        &self,
        name: &str,
        _input: Value,
        parent: &OperationContext,
        _policy: AbortPolicy,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let reply = ResponseEnvelope::error(parent.next_child_id(), CallError::not_found(name));
        futures::future::ready(reply).boxed()
    }

    fn contains(&self, _name: &str) -> bool {
        false
    }
}
