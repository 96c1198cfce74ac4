//! [`GatewayDispatch`]: the dispatch spine every HTTP-shaped surface uses (http-surfaces §2).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::access::OwnershipProvider;
use crate::envelope::ResponseEnvelope;
use crate::error::{CallError, call_error_to_http_response};
use crate::identity::{AuthToken, Identity, IdentityProvider};
use crate::registry::{DEFAULT_CALL_TIMEOUT, OperationRegistry, ResponseStream, RootCall};

/// Options of one gateway call beyond identity, operation and input.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Cancel this to abort the call and its composed descendants.
    pub abort: Option<CancellationToken>,
    /// `Last-Event-ID` from a resuming SSE client, passed into the handler's context.
    pub last_event_id: Option<String>,
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
    identity_provider: Arc<dyn IdentityProvider>,
    ownership: Option<Arc<dyn OwnershipProvider>>,
    timeout: Duration,
}

impl GatewayDispatch {
    /// A spine over `registry`, resolving bearer tokens with `identity_provider`.
    pub fn new(registry: OperationRegistry, identity_provider: Arc<dyn IdentityProvider>) -> Self {
        GatewayDispatch {
            registry,
            identity_provider,
            ownership: None,
            timeout: DEFAULT_CALL_TIMEOUT,
        }
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
    pub fn resolve_bearer(&self, token: &AuthToken) -> Option<Identity> {
        self.identity_provider.resolve_from_token(token)
    }

    fn root(&self, identity: Option<Identity>, options: CallOptions) -> RootCall {
        RootCall {
            identity,
            ownership: self.ownership.clone(),
            timeout: self.timeout,
            abort: options.abort.unwrap_or_default(),
            last_event_id: options.last_event_id,
            ..RootCall::new()
        }
    }

    /// Dispatches a Query or Mutation.
    pub fn invoke(
        &self,
        identity: Option<Identity>,
        operation: &str,
        input: Value,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.invoke_with(identity, operation, input, CallOptions::default())
    }

    /// Dispatches a Query or Mutation with options.
    pub fn invoke_with(
        &self,
        identity: Option<Identity>,
        operation: &str,
        input: Value,
        options: CallOptions,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.registry
            .invoke_root(operation, input, self.root(identity, options))
    }

    /// Dispatches a Subscription. Pre-handler failures are a one-item error stream.
    pub fn invoke_streaming(
        &self,
        identity: Option<Identity>,
        operation: &str,
        input: Value,
    ) -> ResponseStream {
        self.invoke_streaming_with(identity, operation, input, CallOptions::default())
    }

    /// Dispatches a Subscription with options.
    pub fn invoke_streaming_with(
        &self,
        identity: Option<Identity>,
        operation: &str,
        input: Value,
        options: CallOptions,
    ) -> ResponseStream {
        self.registry
            .invoke_root_streaming(operation, input, self.root(identity, options))
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
        let declared = self
            .registry
            .external_spec(operation)
            .map(|spec| spec.error_schemas.as_slice())
            .unwrap_or_default();
        call_error_to_http_response(error, authenticated, declared)
    }
}
