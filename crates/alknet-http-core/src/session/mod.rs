//! The transport-agnostic bidirectional call session (call-protocol §3–§6).
//!
//! A [`Session`] runs over anything that moves whole envelopes both ways: a byte stream framed
//! with [`FrameCodec`] ([`Session::over_io`]) or a message transport
//! such as a WebSocket ([`Session::spawn`] with a `Stream`/`Sink` of envelopes). Both sides may
//! call: incoming `call.requested` are dispatched against the local registry; outgoing calls
//! and subscriptions are correlated by id in a [`PendingRequestMap`].
//!
//! ```
//! use alknet_http_core::session::{Session, SessionOptions};
//! use alknet_http_core::{HandlerKind, OperationRegistry, OperationSpec};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = OperationRegistry::builder()
//!     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|i, _| async move { Ok(i) }), Default::default())
//!     .build()
//!     .unwrap();
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let server = Session::over_io(a, SessionOptions::new(registry));
//! let client = Session::over_io(b, SessionOptions::new(OperationRegistry::builder().build().unwrap()));
//! assert_eq!(client.call("/demo/echo", json!({"x": 1})).await.unwrap(), json!({"x": 1}));
//! client.close();
//! server.closed().await;
//! # });
//! ```

pub mod pending;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::access::OwnershipProvider;
use crate::env::{OperationEnv, PeerCompositeEnv, PeerTable};
use crate::envelope::{CallRequested, Event, EventEnvelope, event_type};
use crate::error::CallError;
use crate::frame::{DEFAULT_MAX_FRAME_SIZE, FrameCodec, FrameError};
use crate::identity::{AnonymousOnly, AuthToken, Identity, IdentityProvider};
use crate::registry::{DEFAULT_CALL_TIMEOUT, OperationOverlay, OperationRegistry, RootCall};
use crate::spec::OperationType;

pub use pending::{Delivery, PendingRequestMap, SubscriptionReceiver};

/// Limits and timeouts of a session, each with a documented default.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Timeout of outgoing calls, and deadline of incoming Query/Mutation calls. Default 30 s.
    pub call_timeout: Duration,
    /// How often expired outgoing calls are swept. Default 10 s.
    pub sweep_interval: Duration,
    /// Items an outgoing subscription may buffer before it ends as `lagged`. Default 256.
    pub subscription_queue: usize,
    /// Largest frame or message accepted or sent. Default 16 MiB.
    pub max_frame_size: usize,
    /// Incoming requests running at once; more are refused with a retryable error. Default 1024.
    pub max_concurrent_requests: usize,
    /// Frames queued for the writer before senders wait. Default 1024.
    pub outbound_queue: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            call_timeout: DEFAULT_CALL_TIMEOUT,
            sweep_interval: Duration::from_secs(10),
            subscription_queue: 256,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_concurrent_requests: 1024,
            outbound_queue: 1024,
        }
    }
}

/// What a session serves and who is on the other end.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The base layer incoming calls are dispatched against.
    pub registry: OperationRegistry,
    /// Resolves per-request `auth_token`s.
    pub identity_provider: Arc<dyn IdentityProvider>,
    /// The connection-level identity (TLS fingerprint, bearer on upgrade), if any.
    pub connection_identity: Option<Identity>,
    /// The node's peer table: this session's overlay is attached under the connection
    /// identity's id. Sessions without an identity are never attached.
    pub peers: Option<Arc<PeerTable>>,
    /// The ownership provider for resource-typed access control.
    pub ownership: Option<Arc<dyn OwnershipProvider>>,
    /// Limits and timeouts.
    pub config: SessionConfig,
}

impl SessionOptions {
    /// Options serving `registry` to an anonymous peer with default limits.
    pub fn new(registry: OperationRegistry) -> Self {
        SessionOptions {
            registry,
            identity_provider: Arc::new(AnonymousOnly),
            connection_identity: None,
            peers: None,
            ownership: None,
            config: SessionConfig::default(),
        }
    }

    /// Sets the identity provider for per-request tokens.
    #[must_use]
    pub fn with_identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.identity_provider = provider;
        self
    }

    /// Sets the connection identity.
    #[must_use]
    pub fn with_connection_identity(mut self, identity: Option<Identity>) -> Self {
        self.connection_identity = identity;
        self
    }

    /// Sets the peer table.
    #[must_use]
    pub fn with_peers(mut self, peers: Arc<PeerTable>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed the transport.
    PeerClosed,
    /// This side called [`Session::close`].
    Local,
    /// Reading or writing failed; carries the WebSocket close code that fits and a message.
    Transport {
        /// The close code for message transports (1003, 1007, 1009, 1011…).
        close_code: u16,
        /// What happened.
        message: String,
    },
}

impl CloseReason {
    fn from_error(error: &FrameError) -> Self {
        CloseReason::Transport {
            close_code: error.close_code(),
            message: error.to_string(),
        }
    }
}

/// Per-request options of an outgoing call.
#[derive(Debug, Clone, Default)]
pub struct OutgoingOptions {
    /// A per-request credential for the remote side.
    pub auth_token: Option<String>,
    /// The originator, for the remote's logs and audit.
    pub forwarded_for: Option<Identity>,
    /// The local request this call is made on behalf of.
    pub parent_request_id: Option<String>,
}

struct InFlight {
    generation: u64,
    abort: CancellationToken,
}

struct Shared {
    data_tx: mpsc::Sender<EventEnvelope>,
    control_tx: mpsc::UnboundedSender<EventEnvelope>,
    pending: Mutex<PendingRequestMap>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    generation: AtomicU64,
    closed: CancellationToken,
    reason: watch::Sender<Option<CloseReason>>,
    overlay: Arc<OperationOverlay>,
    env: Arc<dyn OperationEnv>,
    options: SessionOptions,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field(
                "identity",
                &self.options.connection_identity.as_ref().map(|i| &i.id),
            )
            .field("closed", &self.closed.is_cancelled())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle to a running session; cheap to clone. The session ends when the transport ends,
/// when [`Session::close`] is called, or when the last handle is dropped (outgoing calls and
/// subscriptions still running count as handles), like dropping a client closes its
/// connection.
#[derive(Debug, Clone)]
pub struct Session {
    shared: Arc<Shared>,
    handle: Arc<Handle>,
}

/// Closes the session when the last [`Session`] (or outgoing call) holding it is dropped.
#[derive(Debug)]
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        shutdown(&self.0, CloseReason::Local);
    }
}

impl Session {
    /// Runs a session over a byte stream with length-prefixed frames.
    pub fn over_io<T>(io: T, options: SessionOptions) -> Session
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let framed = Framed::new(io, FrameCodec::new(options.config.max_frame_size));
        Session::spawn(framed, options)
    }

    /// Runs a session over any transport of whole envelopes (a message transport, or a
    /// multiplexed one merged into one stream). Must be called inside a tokio runtime.
    pub fn spawn<T>(transport: T, options: SessionOptions) -> Session
    where
        T: Stream<Item = Result<EventEnvelope, FrameError>>
            + Sink<EventEnvelope, Error = FrameError>
            + Send
            + 'static,
    {
        let (sink, stream) = transport.split();
        let (data_tx, data_rx) = mpsc::channel(options.config.outbound_queue.max(1));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let overlay = Arc::new(OperationOverlay::new());
        let mut env = PeerCompositeEnv::new(options.registry.clone());
        if let Some(peers) = &options.peers {
            env = env.with_peers(peers.clone());
            if let Some(identity) = &options.connection_identity {
                peers.attach(identity.id.clone(), overlay.clone());
            }
        }
        let shared = Arc::new(Shared {
            data_tx,
            control_tx,
            pending: Mutex::new(PendingRequestMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            closed: CancellationToken::new(),
            reason: watch::channel(None).0,
            overlay,
            env: Arc::new(env),
            options,
        });
        tokio::spawn(write_loop(shared.clone(), sink, data_rx, control_rx));
        tokio::spawn(read_loop(shared.clone(), stream));
        tokio::spawn(sweep_loop(shared.clone()));
        let handle = Arc::new(Handle(shared.clone()));
        Session { shared, handle }
    }

    /// Calls a Query or Mutation on the other side. Resolves on the first `call.responded`.
    ///
    /// Dropping the future before it resolves aborts the call (`call.aborted` is sent).
    pub async fn call(&self, operation: &str, input: Value) -> Result<Value, CallError> {
        self.request(operation, input, OutgoingOptions::default())
            .await
    }

    /// Starts a call with per-request options; the returned future can be aborted explicitly.
    pub fn request(&self, operation: &str, input: Value, options: OutgoingOptions) -> OutgoingCall {
        let id = crate::registry::new_request_id();
        let shared = self.shared.clone();
        let deadline = Instant::now() + shared.options.config.call_timeout;
        let mut guard = AbortGuard::new(self, id.clone());
        let receiver = if shared.closed.is_cancelled() {
            None
        } else {
            Some(lock(&shared.pending).register_call(
                id.clone(),
                deadline,
                options.parent_request_id.clone(),
            ))
        };
        let envelope = requested_envelope(&id, operation, input, options);
        let future = async move {
            let Some(receiver) = receiver else {
                guard.disarm();
                return Err(CallError::connection_closed());
            };
            if shared.data_tx.send(envelope).await.is_err() {
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
        let id = crate::registry::new_request_id();
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
            options.parent_request_id.clone(),
            shared.options.config.subscription_queue,
        );
        let guard = AbortGuard::new(self, id.clone());
        let envelope = requested_envelope(&id, operation, input, options);
        if shared.data_tx.send(envelope).await.is_err() {
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

    /// This session's connection-local overlay (Layer 2): operations imported from the other
    /// side live here and are dropped with the session.
    pub fn overlay(&self) -> &Arc<OperationOverlay> {
        &self.shared.overlay
    }

    /// The connection-level identity of the other side.
    pub fn connection_identity(&self) -> Option<&Identity> {
        self.shared.options.connection_identity.as_ref()
    }

    /// The session's limits.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.options.config
    }

    /// Outgoing requests awaiting an answer.
    pub fn pending_len(&self) -> usize {
        lock(&self.shared.pending).len()
    }

    /// Incoming requests running now.
    pub fn in_flight_len(&self) -> usize {
        lock(&self.shared.in_flight).len()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Ends the session: pending calls fail with `INTERNAL` "connection closed", incoming work
    /// is aborted with its cascade, the overlay is dropped, the transport is closed.
    pub fn close(&self) {
        shutdown(&self.shared, CloseReason::Local);
    }

    /// Waits until the session has ended and says why.
    pub async fn closed(&self) -> CloseReason {
        self.on_close().await
    }

    /// Resolves when the session has ended, without holding it open (unlike a clone awaiting
    /// [`Session::closed`]).
    pub fn on_close(&self) -> impl std::future::Future<Output = CloseReason> + Send + 'static {
        let mut rx = self.shared.reason.subscribe();
        async move {
            loop {
                if let Some(reason) = rx.borrow_and_update().clone() {
                    return reason;
                }
                if rx.changed().await.is_err() {
                    return CloseReason::Local;
                }
            }
        }
    }
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

fn shutdown(shared: &Arc<Shared>, reason: CloseReason) {
    if shared.closed.is_cancelled() {
        return;
    }
    shared.closed.cancel();
    tracing::debug!(?reason, "session closed");
    lock(&shared.pending).fail_all(&CallError::connection_closed());
    for (_, in_flight) in lock(&shared.in_flight).drain() {
        in_flight.abort.cancel();
    }
    if let (Some(peers), Some(identity)) =
        (&shared.options.peers, &shared.options.connection_identity)
    {
        peers.detach(&identity.id);
    }
    shared.overlay.clear();
    shared.reason.send_replace(Some(reason));
}

async fn write_loop<S>(
    shared: Arc<Shared>,
    mut sink: S,
    mut data: mpsc::Receiver<EventEnvelope>,
    mut control: mpsc::UnboundedReceiver<EventEnvelope>,
) where
    S: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => break,
            Some(envelope) = control.recv() => envelope,
            Some(envelope) = data.recv() => envelope,
            else => break,
        };
        // `feed` + opportunistic batching: flush when nothing else is queued.
        if let Err(e) = sink.feed(next).await {
            shutdown(&shared, CloseReason::from_error(&e));
            break;
        }
        while let Ok(more) = control.try_recv().or_else(|_| data.try_recv()) {
            if let Err(e) = sink.feed(more).await {
                shutdown(&shared, CloseReason::from_error(&e));
                return;
            }
        }
        if let Err(e) = sink.flush().await {
            shutdown(&shared, CloseReason::from_error(&e));
            break;
        }
    }
    let _ = sink.close().await;
}

async fn read_loop<S>(shared: Arc<Shared>, mut stream: S)
where
    S: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
{
    let reason = loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            None => break CloseReason::PeerClosed,
            Some(Err(e)) => break CloseReason::from_error(&e),
            Some(Ok(envelope)) => route(&shared, envelope).await,
        }
    };
    shutdown(&shared, reason);
}

async fn sweep_loop(shared: Arc<Shared>) {
    let period = shared
        .options
        .config
        .sweep_interval
        .max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let expired = lock(&shared.pending).evict_expired(Instant::now());
        for id in expired {
            let _ = shared.control_tx.send(EventEnvelope::aborted(id));
        }
    }
}

/// Queues a frame, unless the session closed.
async fn send(shared: &Shared, envelope: EventEnvelope) {
    tokio::select! {
        biased;
        () = shared.closed.cancelled() => {}
        _ = shared.data_tx.send(envelope) => {}
    }
}

async fn route(shared: &Arc<Shared>, mut envelope: EventEnvelope) {
    let id = std::mem::take(&mut envelope.id);
    let event = match envelope.into_event() {
        Ok(event) => event,
        Err(e) => {
            tracing::debug!(error = %e, "malformed envelope");
            if e.event_type == event_type::CALL_REQUESTED {
                send(
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
                },
            );
            None
        }
    };
    if let Some(error) = refusal {
        send(shared, EventEnvelope::error(id, &error)).await;
        return;
    }
    let options = &shared.options;
    let identity = request
        .auth_token
        .as_deref()
        .and_then(|t| {
            options
                .identity_provider
                .resolve_from_token(&AuthToken::new(t))
        })
        .or_else(|| options.connection_identity.clone());
    let name = request.operation_name().to_owned();
    let root = RootCall {
        request_id: id.clone(),
        identity,
        forwarded_for: request.forwarded_for,
        env: Some(shared.env.clone()),
        ownership: options.ownership.clone(),
        timeout: options.config.call_timeout,
        abort: abort.clone(),
        last_event_id: None,
    };
    let streaming = options
        .registry
        .get(&name)
        .is_some_and(|op| op.spec().op_type == OperationType::Subscription);
    if streaming {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut items =
                shared
                    .options
                    .registry
                    .invoke_root_streaming(&name, request.input, root);
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
    let mut call = options.registry.invoke_root(&name, request.input, root);
    // A handler that is done on its first poll is answered inline: no task, no hand-off. The
    // reader never waits for queue space here (two peers flooding each other must not block
    // both readers): a full queue hands the reply to a task, and the request stays in flight
    // (counted against the concurrency limit) until it is queued.
    if let Poll::Ready(reply) = futures::poll!(&mut call) {
        if abort.is_cancelled() {
            finished(shared, &id, generation);
            return;
        }
        match shared.data_tx.try_send(reply.into_event()) {
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
            send(&shared, reply.into_event()).await;
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

/// An inbound `Stream` and an outbound `Sink` of envelopes joined into the one transport
/// [`Session::spawn`] takes (for transports whose halves live apart, such as a WebSocket whose
/// reader and writer run as separate tasks).
#[derive(Debug)]
pub struct Joined<St, Si> {
    stream: St,
    sink: Si,
}

/// Joins an inbound stream and an outbound sink into one transport.
pub fn join<St, Si>(stream: St, sink: Si) -> Joined<St, Si>
where
    St: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
    Si: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    Joined { stream, sink }
}

impl<St, Si> Stream for Joined<St, Si>
where
    St: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
    Si: Unpin,
{
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl<St, Si> Sink<EventEnvelope> for Joined<St, Si>
where
    St: Unpin,
    Si: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        self.sink.start_send_unpin(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_close_unpin(cx)
    }
}
