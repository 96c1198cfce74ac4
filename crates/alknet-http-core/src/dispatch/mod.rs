//! [`GatewayDispatch`]: the dispatch spine every gateway-like surface uses (http-surfaces §2),
//! and the gateway's semantics, once: discovery ([`GatewayDispatch::search`],
//! [`GatewayDispatch::schema`]), calls with the disconnect policy ([`GatewayDispatch::call`]),
//! batches ([`GatewayDispatch::batch`]) and the status of an error for a caller. The HTTP gateway
//! and `to_mcp` only parse requests and render these answers.

mod batch;
mod discovery;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::access::OwnershipProvider;
use crate::compose::PeerCompositeEnv;
use crate::context::OperationEnv;
use crate::envelope::{ResponseEnvelope, strip_slash};
use crate::error::{CallError, call_error_to_http_status_with_identity, http_error_response};
use crate::identity::{AuthToken, Identity, IdentityProvider};
use crate::invoke::{
    CallSeed, DEFAULT_CALL_TIMEOUT, ResponseStream, RootCall, invoke_once, invoke_stream,
    new_request_id,
};
use crate::registry::{OperationRegistry, RegisteredOperation};
use crate::spec::Visibility;

pub use batch::{BatchCall, BatchLimits, BatchOutcome, BatchTooLarge};
pub use discovery::SearchQuery;

/// Options of one gateway call beyond identity, operation and input.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Cancelled when the caller is gone (an HTTP disconnect, an MCP cancel or session end):
    /// it aborts the call and its composed descendants, except a Mutation that runs to
    /// completion under [`GatewayDispatch::call`]'s disconnect policy.
    pub abort: Option<CancellationToken>,
    /// `Last-Event-ID` from a resuming SSE client, passed into the handler's context.
    pub last_event_id: Option<String>,
    /// The call's id (the HTTP request's `x-request-id`); a fresh UUID v4 when `None`.
    pub request_id: Option<RequestId>,
    /// The caller's trace context when the surface carries one per call: the call's span is
    /// then its child rather than the HTTP request span's, and the access log names its trace
    /// even when no span is recorded. A call on a host `span` (which took the same context)
    /// only reports it.
    pub trace_parent: Option<crate::trace::TraceParent>,
    /// The surface's own span for this one call (the request span of `POST /call`): the call
    /// records itself on it, when it [hosts calls](crate::trace::hosts_call), instead of
    /// opening a child span — one server span per request, as the conventions ask. The
    /// surface runs the call inside it (the current span while the call's future is polled,
    /// as `Span::current()` or an `instrument`ed future makes it): a hosted call does not
    /// enter it again.
    pub span: Option<tracing::Span>,
    /// The address the request came from (see [`RootCall::source`]).
    pub source: Option<std::net::IpAddr>,
    /// Where the call's progress goes, when the surface can carry it to the caller.
    pub progress: Option<crate::progress::ProgressSink>,
    /// The original caller a forwarding node named (metadata only: access control never reads
    /// it; handlers see it as `ctx.forwarded_for()`).
    pub forwarded_for: Option<crate::identity::Identity>,
    /// What is left of the caller's own deadline, when it sent one: it shortens the call's
    /// deadline, never lengthens it (call-protocol §1).
    pub timeout: Option<Duration>,
}

/// The id of an HTTP request, which is also the id of the call it makes: answered in
/// `x-request-id`, kept from the request when the client sent a valid one.
///
/// ```
/// use alknet_http_core::dispatch::RequestId;
/// assert_eq!(RequestId::from_header("req-42").unwrap().as_str(), "req-42");
/// assert!(RequestId::from_header("two words").is_none());
/// assert_eq!(RequestId::new().as_str().len(), 36);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The header that carries it.
    pub const HEADER: &'static str = "x-request-id";
    /// [`RequestId::HEADER`] as a header name, parsed at compile time (a lookup by `&str`
    /// parses the name on every request).
    pub const HEADER_NAME: http::HeaderName = http::HeaderName::from_static(Self::HEADER);
    /// The longest id kept from a request.
    pub const MAX_LEN: usize = 128;

    /// A fresh id: a UUID v4.
    pub fn new() -> Self {
        RequestId(new_request_id())
    }

    /// The id a client sent, when it is 1 to [`RequestId::MAX_LEN`] characters of letters,
    /// digits and `-._:/+=` (what fits a log line and a header unchanged).
    pub fn from_header(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:/+=".contains(&b));
        valid.then(|| RequestId(value.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

/// With feature `axum`, `Option<RequestId>` is an extractor that *takes* the id the server's
/// request layer stored (the call it makes owns it; the layer keeps its own copy for the
/// response header).
#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.remove::<RequestId>())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The concrete dispatch spine over a registry and an identity provider.
///
/// Every gateway-like surface (HTTP gateway, `to_mcp`, custom routes) dispatches through it, so
/// every call gets the same root context: `internal: false`, no `forwarded_for`, a fresh UUID v4
/// request id, the registration's own authority, env and capabilities, a flat local env, and a
/// 30 s deadline for `invoke` (none for `invoke_streaming`). `Internal` and unknown operations
/// are indistinguishable.
///
/// ```
/// use std::sync::Arc;
/// use alknet_http_core::{GatewayDispatch, HandlerKind, OperationRegistry, OperationSpec, identity::AnonymousOnly};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let registry = OperationRegistry::builder()
///     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|input, _| async move { Ok(input) }), Default::default())
///     .build()
///     .unwrap();
/// let dispatch = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
/// let reply = dispatch.invoke(None, "/demo/echo", json!({"hi": 1})).await;
/// assert_eq!(reply.result.unwrap(), json!({"hi": 1}));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct GatewayDispatch {
    registry: OperationRegistry,
    /// The root env, built once: every call composes through it.
    env: Arc<dyn OperationEnv>,
    identity_provider: Arc<dyn IdentityProvider>,
    ownership: Option<Arc<dyn OwnershipProvider>>,
    timeout: Duration,
    /// The surface its calls come in on, for the access log.
    surface: &'static str,
}

impl GatewayDispatch {
    /// A spine over `registry`, resolving bearer tokens with `identity_provider`.
    pub fn new(registry: OperationRegistry, identity_provider: Arc<dyn IdentityProvider>) -> Self {
        GatewayDispatch {
            env: Arc::new(PeerCompositeEnv::new(registry.clone())),
            registry,
            identity_provider,
            ownership: None,
            timeout: DEFAULT_CALL_TIMEOUT,
            surface: "gateway",
        }
    }

    /// Names the surface its calls come in on, for the access log (default `gateway`).
    #[must_use]
    pub fn with_surface(mut self, surface: &'static str) -> Self {
        self.surface = surface;
        self
    }

    /// Uses an ownership provider for resource-typed access control.
    #[must_use]
    pub fn with_ownership(mut self, ownership: Arc<dyn OwnershipProvider>) -> Self {
        self.ownership = Some(ownership);
        self
    }

    /// Sets the deadline of root Query/Mutation calls (default 30 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The registry.
    pub fn registry(&self) -> &OperationRegistry {
        &self.registry
    }

    /// The identity provider.
    pub fn identity_provider(&self) -> &Arc<dyn IdentityProvider> {
        &self.identity_provider
    }

    /// The deadline of root Query/Mutation calls.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Resolves a bearer token; `None` when it does not resolve.
    pub fn resolve_bearer(&self, token: &AuthToken) -> Option<Arc<Identity>> {
        self.identity_provider.resolve_from_token(token)
    }

    /// The seed of a root call; a call with no caller's abort signal gets one of its own.
    fn seed(&self, identity: Option<Arc<Identity>>, options: CallOptions) -> CallSeed {
        let own = options.abort.is_none();
        let root = self.root(identity, options);
        if own {
            root.into_seed_owning_abort(self.env.clone())
        } else {
            root.into_seed(self.env.clone())
        }
    }

    fn root(&self, identity: Option<Arc<Identity>>, options: CallOptions) -> RootCall {
        // Every field named: `..RootCall::new()` would make (and drop) a token per call. The
        // env is the dispatch's own, handed to the seed.
        RootCall {
            request_id: options.request_id.map_or_else(new_request_id, |id| id.0),
            identity,
            forwarded_for: options.forwarded_for,
            env: None,
            ownership: self.ownership.clone(),
            timeout: options
                .timeout
                .map_or(self.timeout, |left| left.min(self.timeout)),
            abort: options.abort.unwrap_or_default(),
            last_event_id: options.last_event_id,
            surface: self.surface,
            // Without a per-call context, an HTTP surface's calls are children of its request
            // span, which took the caller's context from the headers.
            trace_parent: options.trace_parent,
            span: options.span,
            source: options.source,
            progress: options.progress,
        }
    }

    /// The operation `name` (registry form) when a caller from outside may reach it.
    fn external(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.registry
            .route(name)
            .filter(|op| op.spec.visibility == Visibility::External)
    }

    /// Dispatches a Query or Mutation.
    pub fn invoke(
        &self,
        identity: Option<Arc<Identity>>,
        operation: &str,
        input: Value,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.invoke_with(identity, operation, input, CallOptions::default())
    }

    /// Dispatches a Query or Mutation with options.
    pub fn invoke_with(
        &self,
        identity: Option<Arc<Identity>>,
        operation: &str,
        input: Value,
        options: CallOptions,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let name = strip_slash(operation);
        let seed = self.seed(identity, options);
        invoke_once(self.registry.route(name), name, input, seed)
    }

    /// Dispatches a Subscription. Pre-handler failures are a one-item error stream.
    pub fn invoke_streaming(
        &self,
        identity: Option<Arc<Identity>>,
        operation: &str,
        input: Value,
    ) -> ResponseStream {
        self.invoke_streaming_with(identity, operation, input, CallOptions::default())
    }

    /// Dispatches a Subscription with options.
    pub fn invoke_streaming_with(
        &self,
        identity: Option<Arc<Identity>>,
        operation: &str,
        input: Value,
        options: CallOptions,
    ) -> ResponseStream {
        let name = strip_slash(operation);
        let seed = self.seed(identity, options);
        invoke_stream(self.registry.route(name), name, input, seed)
    }

    /// Runs a Query or Mutation for a caller that may go away, under the disconnect policy
    /// (call-protocol §5): when `options.abort` fires, a Query is dropped with its descendants,
    /// while a Mutation runs to completion (its result discarded) unless its spec opts in to
    /// `cancel_on_disconnect`. A failure carries its HTTP status for this caller.
    pub async fn call(
        &self,
        identity: Option<Arc<Identity>>,
        operation: &str,
        input: Value,
        options: CallOptions,
    ) -> Result<Value, CallFailure> {
        let name = strip_slash(operation);
        let op = self.registry.route(name);
        let authenticated = identity.is_some();
        let spared = op
            .as_ref()
            .is_some_and(|op| !op.spec.cancels_on_disconnect());
        let declared = op.clone();
        let options = if spared {
            // Detached from the caller: neither its abort signal nor dropping this future
            // reaches the Mutation.
            CallOptions {
                abort: None,
                ..options
            }
        } else {
            options
        };
        let call = invoke_once(op, name, input, self.seed(identity, options));
        let result = if spared {
            // Handlers' panics are caught inside the call, so the task itself cannot fail. The
            // task runs in the caller's span, as the call would have (a call recorded on the
            // surface's span does not enter it again).
            match tokio::spawn(call.in_current_span()).await {
                Ok(reply) => reply.result,
                Err(e) => Err(CallError::internal(format!("call failed: {e}"))),
            }
        } else {
            call.await.result
        };
        result.map_err(|error| CallFailure::of(declared.as_deref(), error, authenticated))
    }

    /// The failure `error` is for a caller of `operation` (http-surfaces §5).
    pub fn failure(&self, operation: &str, error: CallError, authenticated: bool) -> CallFailure {
        let op = self.registry.route(strip_slash(operation));
        CallFailure::of(op.as_deref(), error, authenticated)
    }

    /// Renders a call error for HTTP (http-surfaces §5), using the declared error statuses of
    /// `operation` when it is an `External` operation.
    pub fn error_response(
        &self,
        operation: &str,
        error: &CallError,
        identity: Option<&Identity>,
    ) -> http::Response<Bytes> {
        self.error_response_for(operation, error, identity.is_some())
    }

    /// [`GatewayDispatch::error_response`] when only whether the caller had an identity is known
    /// (it tells 401 from 403); the identity itself may have moved into the call.
    pub fn error_response_for(
        &self,
        operation: &str,
        error: &CallError,
        authenticated: bool,
    ) -> http::Response<Bytes> {
        self.failure(strip_slash(operation), error.clone(), authenticated)
            .to_http_response()
    }
}

/// A failed gateway call: the error and the HTTP status it has for this caller
/// (http-surfaces §5; 401 and 403 tell an anonymous caller from one without the right).
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    /// What the client is told.
    pub error: CallError,
    /// Its status.
    pub status: StatusCode,
}

impl CallFailure {
    /// The failure `error` is for a caller of `op`: the declared statuses count only for an
    /// `External` operation.
    pub(crate) fn of(
        op: Option<&RegisteredOperation>,
        error: CallError,
        authenticated: bool,
    ) -> Self {
        let declared = op
            .filter(|op| op.spec.visibility == Visibility::External)
            .map(|op| op.spec.error_schemas.as_slice())
            .unwrap_or_default();
        let status = call_error_to_http_status_with_identity(&error, authenticated, declared);
        CallFailure { error, status }
    }

    /// Status, `WWW-Authenticate` and `Retry-After` where the rules ask for them, and the
    /// CallError as a JSON body.
    pub fn to_http_response(&self) -> http::Response<Bytes> {
        http_error_response(&self.error, self.status)
    }
}
