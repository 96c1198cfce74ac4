//! The per-call [`OperationContext`] and what it carries: identity, capabilities, deadline,
//! [`AbortPolicy`], abort signal, scoped environment, and the [`OperationEnv`] handlers compose
//! through (call-protocol §8.3–§8.4).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::access::OwnershipProvider;
use crate::capability::Capabilities;
use crate::envelope::{ResponseEnvelope, strip_slash};
use crate::error::CallError;
use crate::identity::Identity;

/// What happens to a composed call when one of its ancestors is aborted (call-protocol §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbortPolicy {
    /// The descendant is aborted with its ancestor (the default, and always the root's policy).
    #[default]
    AbortDependents,
    /// A descendant that has started runs to completion, but starts no new children.
    ContinueRunning,
}

/// The authority composed calls run as, declared by the assembly layer (call-protocol §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompositionAuthority {
    /// The label (becomes the identity id of composed calls).
    pub label: String,
    /// Scopes granted to composed calls.
    pub scopes: Vec<String>,
    /// Resources granted to composed calls.
    pub resources: BTreeMap<String, Vec<String>>,
}

impl CompositionAuthority {
    /// An authority with a label and scopes.
    pub fn new<I, S>(label: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CompositionAuthority {
            label: label.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            resources: BTreeMap::new(),
        }
    }

    /// The identity composed calls carry: `{ id: label, scopes, resources }`.
    pub fn as_identity(&self) -> Identity {
        Identity {
            id: self.label.clone(),
            scopes: self.scopes.clone(),
            resources: self.resources.clone(),
            expires_at: None,
        }
    }
}

/// What a composing handler may reach (call-protocol §8.4).
///
/// `PeerRef::Any` needs the name in `allowed_ops`; `PeerRef::Specific(p)` accepts `allowed_ops`
/// or a pin `"<peer-id>/<op-name>"` in `peer_pinned`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopedPeerEnv {
    /// Operation names reachable through any route.
    pub allowed_ops: HashSet<String>,
    /// `"<peer-id>/<op-name>"` pins reachable only through that peer.
    pub peer_pinned: HashSet<String>,
}

impl ScopedPeerEnv {
    /// An env allowing exactly `ops` (names with or without a leading slash).
    pub fn allowing<I, S>(ops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ScopedPeerEnv {
            allowed_ops: ops
                .into_iter()
                .map(|s| strip_slash(s.as_ref()).to_owned())
                .collect(),
            peer_pinned: HashSet::new(),
        }
    }

    /// Adds a pin: `op` reachable only through `peer`.
    #[must_use]
    pub fn with_pin(mut self, peer: &str, op: &str) -> Self {
        self.peer_pinned
            .insert(format!("{peer}/{}", strip_slash(op)));
        self
    }

    /// Whether `name` is reachable through `peer`.
    pub fn allows(&self, peer: &PeerRef, name: &str) -> bool {
        if self.allowed_ops.contains(name) {
            return true;
        }
        match peer {
            PeerRef::Any => false,
            PeerRef::Specific(p) => self.peer_pinned.contains(&format!("{p}/{name}")),
        }
    }
}

/// Which peer a composed call is routed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerRef {
    /// The first layer that has the operation: session, then peers in order, then base.
    Any,
    /// Only this peer's connection overlay; no fallthrough.
    Specific(String),
}

/// The environment handlers compose through. Never concrete in handler code.
///
/// Every implementation checks reachability against the parent's scoped env (`NOT_FOUND`
/// otherwise), builds the child context (call-protocol §8.3) and dispatches with every check
/// (`Internal` operations are reachable). Names are in registry form (`ns/op`, no leading
/// slash): [`OperationContext::call`] normalises them once.
pub trait OperationEnv: Send + Sync + fmt::Debug {
    /// Composes `name` with the parent's abort policy.
    fn invoke(
        &self,
        name: &str,
        input: Value,
        parent: &OperationContext,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        self.invoke_with_policy(name, input, parent, parent.abort_policy())
    }

    /// Composes `name` with an explicit policy for the child.
    fn invoke_with_policy(
        &self,
        name: &str,
        input: Value,
        parent: &OperationContext,
        policy: AbortPolicy,
    ) -> BoxFuture<'static, ResponseEnvelope>;

    /// Whether some layer has `name`.
    fn contains(&self, name: &str) -> bool {
        let _ = name;
        true
    }

    /// Composes a call routed by `peer` (the default ignores the peer).
    fn invoke_peer(
        &self,
        peer: &PeerRef,
        name: &str,
        input: Value,
        parent: &OperationContext,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let _ = peer;
        self.invoke(name, input, parent)
    }

    /// Whether `peer` routes to `name`.
    fn peer_contains(&self, peer: &PeerRef, name: &str) -> bool {
        let _ = peer;
        self.contains(name)
    }

    /// Where the calls made through this env are counted, if anywhere (the default: nowhere).
    fn metrics(&self) -> Option<&Arc<crate::metrics::CallMetrics>> {
        None
    }

    /// The limits of root calls made through this env, if any (the default: none).
    fn rate_limits(&self) -> Option<&Arc<crate::rate_limit::RateLimits>> {
        None
    }
}

/// Everything a handler knows about the call it is serving.
///
/// Built only by dispatch: for root calls from the wire or a gateway, and for composed calls by
/// an [`OperationEnv`]. Handlers read it and use [`OperationContext::call`] to compose.
#[derive(Clone)]
pub struct OperationContext {
    pub(crate) request_id: String,
    pub(crate) parent_request_id: Option<String>,
    pub(crate) identity: Option<Arc<Identity>>,
    pub(crate) handler_identity: Option<Arc<Identity>>,
    pub(crate) forwarded_for: Option<Identity>,
    pub(crate) capabilities: Capabilities,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) scoped_env: Option<Arc<ScopedPeerEnv>>,
    pub(crate) env: Arc<dyn OperationEnv>,
    pub(crate) abort_policy: AbortPolicy,
    pub(crate) deadline: Option<Instant>,
    pub(crate) ownership: Option<Arc<dyn OwnershipProvider>>,
    pub(crate) internal: bool,
    pub(crate) abort: CancellationToken,
    /// Set for `ContinueRunning` descendants: once it fires, no new children may start.
    pub(crate) ancestor_abort: Option<CancellationToken>,
    pub(crate) child_counter: Arc<AtomicU64>,
    pub(crate) last_event_id: Option<String>,
    pub(crate) progress: Option<crate::progress::ProgressSink>,
}

impl fmt::Debug for OperationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationContext")
            .field("request_id", &self.request_id)
            .field("parent_request_id", &self.parent_request_id)
            .field("identity", &self.identity.as_ref().map(|i| &i.id))
            .field(
                "handler_identity",
                &self.handler_identity.as_ref().map(|i| &i.id),
            )
            .field("forwarded_for", &self.forwarded_for.as_ref().map(|i| &i.id))
            .field("capabilities", &self.capabilities)
            .field("abort_policy", &self.abort_policy)
            .field("deadline", &self.deadline)
            .field("internal", &self.internal)
            .finish_non_exhaustive()
    }
}

impl OperationContext {
    /// This call's request id (the envelope id for root calls).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The composing parent's request id (`None` for root calls).
    pub fn parent_request_id(&self) -> Option<&str> {
        self.parent_request_id.as_deref()
    }

    /// The ACL subject: the caller for root calls, the parent's composition authority for
    /// composed calls.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// This registration's own composition authority, as an identity.
    pub fn handler_identity(&self) -> Option<&Identity> {
        self.handler_identity.as_deref()
    }

    /// The originator named by a forwarding node: for logs, audit and rate limits only.
    pub fn forwarded_for(&self) -> Option<&Identity> {
        self.forwarded_for.as_ref()
    }

    /// This registration's own outbound credentials.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Free-form, non-secret metadata (empty for root calls, never inherited).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// What this handler may compose (`None` for leaves: nothing).
    pub fn scoped_env(&self) -> Option<&ScopedPeerEnv> {
        self.scoped_env.as_deref()
    }

    /// The composition environment shared by the whole call tree.
    pub fn env(&self) -> &Arc<dyn OperationEnv> {
        &self.env
    }

    /// The abort policy this call was started with.
    pub fn abort_policy(&self) -> AbortPolicy {
        self.abort_policy
    }

    /// Where this call's node counts calls and upstream requests, if anywhere (importers
    /// record their upstream's latency and errors here).
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::CallMetrics>> {
        self.env.metrics()
    }

    /// Where this call reports progress, when its root call's surface carries progress to the
    /// caller (an MCP request that asked for it); `None` otherwise.
    pub fn progress(&self) -> Option<&crate::progress::ProgressSink> {
        self.progress.as_ref()
    }

    /// The deadline (`None` for subscriptions).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The ownership provider, when the session has one.
    pub fn ownership(&self) -> Option<&Arc<dyn OwnershipProvider>> {
        self.ownership.as_ref()
    }

    /// Whether this is a composed call. Only dispatch sets it.
    pub fn is_internal(&self) -> bool {
        self.internal
    }

    /// A signal that fires when this call is aborted (directly or through an ancestor).
    pub fn abort_signal(&self) -> &CancellationToken {
        &self.abort
    }

    /// Whether this call has been aborted.
    pub fn is_aborted(&self) -> bool {
        self.abort.is_cancelled()
    }

    /// The `Last-Event-ID` a resuming SSE client sent, for handlers that can resume.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// A fresh id for a composed child: `<request_id>-<n>`.
    pub(crate) fn next_child_id(&self) -> String {
        let n = self.child_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{n}", self.request_id)
    }

    /// Whether this call may still start children.
    pub(crate) fn may_start_children(&self) -> bool {
        !self.abort.is_cancelled()
            && !self
                .ancestor_abort
                .as_ref()
                .is_some_and(|t| t.is_cancelled())
    }

    /// Composes a call to `name` (`"ns/op"`, slash optional) through the env, with this call's
    /// abort policy.
    pub async fn call(&self, name: &str, input: Value) -> Result<Value, CallError> {
        self.env.invoke(strip_slash(name), input, self).await.result
    }

    /// Composes a call with an explicit abort policy for the child.
    pub async fn call_with_policy(
        &self,
        name: &str,
        input: Value,
        policy: AbortPolicy,
    ) -> Result<Value, CallError> {
        self.env
            .invoke_with_policy(strip_slash(name), input, self, policy)
            .await
            .result
    }

    /// Composes a call routed to one peer (or any, per [`PeerRef`]).
    pub async fn call_peer(
        &self,
        peer: &PeerRef,
        name: &str,
        input: Value,
    ) -> Result<Value, CallError> {
        self.env
            .invoke_peer(peer, strip_slash(name), input, self)
            .await
            .result
    }
}
