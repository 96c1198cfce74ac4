//! Composition (call-protocol §8.4–§8.5): [`PeerCompositeEnv`], the [`OperationEnv`] that routes
//! composed calls across the layers session → peers (in insertion order) → base.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::context::{AbortPolicy, OperationContext, OperationEnv, PeerRef};
use crate::envelope::{ResponseEnvelope, strip_slash};
use crate::error::CallError;
use crate::invoke::{
    CallSeed, DeadlineRule, ResponseStream, RootCall, aborted_error, invoke_once, invoke_stream,
};
pub use crate::registry::PeerTable;
use crate::registry::{OperationLayer, OperationRegistry, RegisteredOperation};

/// The root env of an incoming call: base layer, optional session layer, and the peers'
/// connection overlays. Children share it.
///
/// ```
/// use alknet_http_core::{OperationRegistry, PeerCompositeEnv, OperationEnv};
/// let registry = OperationRegistry::builder().build().unwrap();
/// let env = PeerCompositeEnv::new(registry);
/// assert!(env.contains("services/list"));
/// assert!(!env.contains("nope/missing"));
/// ```
#[derive(Debug, Clone)]
pub struct PeerCompositeEnv {
    base: OperationRegistry,
    session: Option<Arc<dyn OperationLayer>>,
    peers: Arc<PeerTable>,
}

impl PeerCompositeEnv {
    /// An env over the base layer and its peer table.
    pub fn new(base: OperationRegistry) -> Self {
        PeerCompositeEnv {
            peers: base.peers().clone(),
            base,
            session: None,
        }
    }

    /// Adds the session layer (Layer 1).
    #[must_use]
    pub fn with_session(mut self, session: Arc<dyn OperationLayer>) -> Self {
        self.session = Some(session);
        self
    }

    /// Uses a shared peer table (Layer 2).
    #[must_use]
    pub fn with_peers(mut self, peers: Arc<PeerTable>) -> Self {
        self.peers = peers;
        self
    }

    /// The peer table.
    pub fn peers(&self) -> &Arc<PeerTable> {
        &self.peers
    }

    fn resolve(&self, peer: &PeerRef, name: &str) -> Option<Arc<RegisteredOperation>> {
        match peer {
            PeerRef::Any => self
                .session
                .as_ref()
                .and_then(|s| s.lookup(name))
                .or_else(|| self.peers.lookup_any(name))
                .or_else(|| self.base.lookup(name)),
            PeerRef::Specific(peer_id) => self.peers.lookup_peer(peer_id, name),
        }
    }

    fn compose(
        &self,
        peer: &PeerRef,
        name: &str,
        input: Value,
        parent: &OperationContext,
        policy: AbortPolicy,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let request_id = parent.next_child_id();
        let fail = |e: CallError| {
            futures::future::ready(ResponseEnvelope::error(request_id.clone(), e)).boxed()
        };
        if !parent.may_start_children() {
            return fail(aborted_error());
        }
        let reachable = parent
            .scoped_env()
            .is_some_and(|env| env.allows(peer, name));
        if !reachable {
            return fail(CallError::not_found(name));
        }
        let target = self.resolve(peer, name);
        let (abort, ancestor_abort) = match policy {
            AbortPolicy::AbortDependents => {
                (parent.abort.child_token(), parent.ancestor_abort.clone())
            }
            AbortPolicy::ContinueRunning => (CancellationToken::new(), Some(parent.abort.clone())),
        };
        let seed = CallSeed {
            request_id: request_id.clone(),
            parent_request_id: Some(parent.request_id().to_owned()),
            identity: parent.handler_identity.clone(),
            forwarded_for: None,
            env: parent.env().clone(),
            abort_policy: policy,
            deadline: DeadlineRule::Inherit(parent.deadline()),
            ownership: parent.ownership().cloned(),
            internal: true,
            abort,
            ancestor_abort: ancestor_abort.clone(),
            last_event_id: None,
            surface: None,
            trace_parent: None,
            host_span: None,
            source: None,
            // A composed call's progress is its root call's.
            progress: parent.progress.clone(),
        };
        match policy {
            AbortPolicy::AbortDependents => invoke_once(target, name, input, seed),
            AbortPolicy::ContinueRunning => {
                // Detached, so that it survives its ancestor's future being dropped once started.
                let barrier = ancestor_abort.unwrap_or_default();
                let call = invoke_once(target, name, input, seed);
                let child_id = request_id.clone();
                let task = tokio::spawn(async move {
                    if barrier.is_cancelled() {
                        return ResponseEnvelope::error(request_id, aborted_error());
                    }
                    call.await
                });
                async move {
                    task.await.unwrap_or_else(|e| {
                        ResponseEnvelope::error(
                            child_id,
                            CallError::internal(format!("composed call failed: {e}")),
                        )
                    })
                }
                .boxed()
            }
        }
    }
}

impl OperationEnv for PeerCompositeEnv {
    fn invoke_with_policy(
        &self,
        name: &str,
        input: Value,
        parent: &OperationContext,
        policy: AbortPolicy,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.compose(&PeerRef::Any, name, input, parent, policy)
    }

    fn contains(&self, name: &str) -> bool {
        self.resolve(&PeerRef::Any, strip_slash(name)).is_some()
    }

    fn invoke_peer(
        &self,
        peer: &PeerRef,
        name: &str,
        input: Value,
        parent: &OperationContext,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.compose(peer, name, input, parent, parent.abort_policy())
    }

    fn peer_contains(&self, peer: &PeerRef, name: &str) -> bool {
        self.resolve(peer, strip_slash(name)).is_some()
    }

    fn metrics(&self) -> Option<&Arc<crate::metrics::CallMetrics>> {
        self.base.metrics()
    }

    fn rate_limits(&self) -> Option<&Arc<crate::rate_limit::RateLimits>> {
        self.base.rate_limits()
    }
}

impl OperationRegistry {
    /// Dispatches a root request/response call against this (base) layer. Without
    /// `call.env` the call composes through a flat env over this registry, built for it;
    /// callers that dispatch often build the env once ([`GatewayDispatch`] and sessions do).
    ///
    /// [`GatewayDispatch`]: crate::GatewayDispatch
    pub fn invoke_root(
        &self,
        name: &str,
        input: Value,
        call: RootCall,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let name = strip_slash(name);
        let seed = self.seed(call);
        invoke_once(self.lookup(name), name, input, seed)
    }

    /// Dispatches a root subscription against this (base) layer (see
    /// [`OperationRegistry::invoke_root`] for its env).
    pub fn invoke_root_streaming(
        &self,
        name: &str,
        input: Value,
        call: RootCall,
    ) -> ResponseStream {
        let name = strip_slash(name);
        let seed = self.seed(call);
        invoke_stream(self.lookup(name), name, input, seed)
    }

    fn seed(&self, mut call: RootCall) -> CallSeed {
        let env = call
            .env
            .take()
            .unwrap_or_else(|| Arc::new(PeerCompositeEnv::new(self.clone())));
        call.into_seed(env)
    }
}
