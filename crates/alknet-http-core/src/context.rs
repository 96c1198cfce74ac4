//! The per-call [`OperationContext`] and what it carries: identity, [`Capabilities`], deadline,
//! [`AbortPolicy`], abort signal, scoped environment and the composition env (call-protocol §8.3).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::access::OwnershipProvider;
use crate::env::{OperationEnv, PeerRef};
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
                .map(|s| crate::envelope::strip_slash(s.as_ref()).to_owned())
                .collect(),
            peer_pinned: HashSet::new(),
        }
    }

    /// Adds a pin: `op` reachable only through `peer`.
    #[must_use]
    pub fn with_pin(mut self, peer: &str, op: &str) -> Self {
        self.peer_pinned
            .insert(format!("{peer}/{}", crate::envelope::strip_slash(op)));
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

/// The kind of an outbound credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An API key (sent in a header or query parameter the importer declares).
    ApiKey,
    /// An HTTP bearer token.
    HttpToken,
}

#[derive(Clone)]
struct Credential {
    kind: CredentialKind,
    secret: SecretString,
}

/// Outbound credentials of one registration, by service name (call-protocol §12).
///
/// Immutable, cheap to clone, zeroized on drop, redacted in `Debug`, and deliberately not
/// serializable. Dispatch hands them to the handler only after access control allowed the call.
///
/// ```
/// use alknet_http_core::Capabilities;
/// use secrecy::ExposeSecret;
///
/// let caps = Capabilities::new().with_http_token("github", "ghp_secret");
/// assert_eq!(caps.get("github").unwrap().expose_secret(), "ghp_secret");
/// assert!(!format!("{caps:?}").contains("ghp_secret"));
/// ```
#[derive(Clone, Default)]
pub struct Capabilities {
    entries: Arc<BTreeMap<String, Credential>>,
}

impl Capabilities {
    /// No credentials.
    pub fn new() -> Self {
        Capabilities::default()
    }

    fn with(mut self, service: impl Into<String>, kind: CredentialKind, secret: String) -> Self {
        let mut entries = Arc::unwrap_or_clone(self.entries);
        entries.insert(
            service.into(),
            Credential {
                kind,
                secret: SecretString::from(secret),
            },
        );
        self.entries = Arc::new(entries);
        self
    }

    /// Adds an API key for `service`.
    #[must_use]
    pub fn with_api_key(self, service: impl Into<String>, key: impl Into<String>) -> Self {
        self.with(service, CredentialKind::ApiKey, key.into())
    }

    /// Adds an HTTP bearer token for `service`.
    #[must_use]
    pub fn with_http_token(self, service: impl Into<String>, token: impl Into<String>) -> Self {
        self.with(service, CredentialKind::HttpToken, token.into())
    }

    /// The secret for `service`.
    pub fn get(&self, service: &str) -> Option<&SecretString> {
        self.entries.get(service).map(|c| &c.secret)
    }

    /// The kind of the credential for `service`.
    pub fn kind(&self, service: &str) -> Option<CredentialKind> {
        self.entries.get(service).map(|c| c.kind)
    }

    /// Whether there are no credentials.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The service names that have credentials.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (service, credential) in self.entries.iter() {
            map.entry(service, &format_args!("{:?}([redacted])", credential.kind));
        }
        map.finish()
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
    pub(crate) identity: Option<Identity>,
    pub(crate) handler_identity: Option<Identity>,
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
        self.identity.as_ref()
    }

    /// This registration's own composition authority, as an identity.
    pub fn handler_identity(&self) -> Option<&Identity> {
        self.handler_identity.as_ref()
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
        let (namespace, op) = split_name(name);
        self.env.invoke(namespace, op, input, self).await.result
    }

    /// Composes a call with an explicit abort policy for the child.
    pub async fn call_with_policy(
        &self,
        name: &str,
        input: Value,
        policy: AbortPolicy,
    ) -> Result<Value, CallError> {
        let (namespace, op) = split_name(name);
        self.env
            .invoke_with_policy(namespace, op, input, self, policy)
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
        let (namespace, op) = split_name(name);
        self.env
            .invoke_peer(peer, namespace, op, input, self)
            .await
            .result
    }
}

/// Splits `"ns/op/rest"` (slash optional) into `("ns", "op/rest")`.
pub(crate) fn split_name(name: &str) -> (&str, &str) {
    let name = crate::envelope::strip_slash(name);
    name.split_once('/').unwrap_or((name, ""))
}
