//! The operation registry (call-protocol §8): the immutable base layer and its builder, the
//! [`OperationLayer`] trait dispatch looks names up in, and connection overlays.

mod discovery;
mod input_gate;
mod overlay;
mod peers;
mod registration;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};

use crate::access::ResourceTarget;
use crate::capability::Capabilities;
use crate::context::{CompositionAuthority, ScopedPeerEnv};
use crate::envelope::strip_slash;
use crate::error::CallError;
use crate::identity::Identity;
use crate::metrics::CallMetrics;
use crate::rate_limit::RateLimits;
use crate::spec::{OperationSpec, OperationSummary, Provenance, Visibility};

pub use discovery::{SERVICES_LIST, SERVICES_SCHEMA};
pub use overlay::OperationOverlay;
pub use peers::PeerTable;
pub use registration::{
    Handler, HandlerFuture, HandlerKind, HandlerRegistration, HandlerResult, RegisteredOperation,
    RegistryError, ResultStream, StreamingHandler,
};

/// A set of operations that dispatch can look names up in: the base registry or an overlay.
pub trait OperationLayer: Send + Sync + fmt::Debug {
    /// The operation registered under `name` (registry form), if any.
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>>;
    /// Every operation of the layer, sorted by name.
    fn list(&self) -> Vec<Arc<RegisteredOperation>>;
}

#[derive(Debug, Default)]
pub(crate) struct RegistryInner {
    pub(crate) ops: BTreeMap<String, Arc<RegisteredOperation>>,
    /// Runtime import layers, after the base layer: imports kept in step with their source
    /// (an MCP server's changing tool list).
    pub(crate) layers: Vec<Arc<OperationOverlay>>,
    /// The node's peers, whose `External` imports callers reach next to the base layer.
    pub(crate) peers: Arc<PeerTable>,
    /// Where calls through this registry are counted, if anywhere.
    pub(crate) metrics: Option<Arc<CallMetrics>>,
    /// The limits of root calls through this registry, if any.
    pub(crate) rate_limits: Option<Arc<RateLimits>>,
}

/// The immutable base layer (Layer 0): local operations and startup imports, plus the
/// discovery operations `services/list` and `services/schema`. Cheap to clone.
///
/// ```
/// use alknet_http_core::{HandlerKind, OperationRegistry, OperationSpec};
///
/// let registry = OperationRegistry::builder()
///     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|input, _| async move { Ok(input) }), Default::default())
///     .build()
///     .unwrap();
/// assert!(registry.get("demo/echo").is_some());
/// assert!(registry.get("services/list").is_some());
/// ```
#[derive(Debug, Clone)]
pub struct OperationRegistry {
    pub(crate) inner: Arc<RegistryInner>,
}

/// Builds an [`OperationRegistry`]; every check runs in [`RegistryBuilder::build`].
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    registrations: Vec<HandlerRegistration>,
    layers: Vec<Arc<OperationOverlay>>,
    peers: Arc<PeerTable>,
    metrics: Option<Arc<CallMetrics>>,
    rate_limits: Option<Arc<RateLimits>>,
}

impl RegistryBuilder {
    /// Adds a `Local` operation with its authority, scoped env and capabilities.
    #[must_use]
    pub fn with_local(
        self,
        spec: OperationSpec,
        handler: HandlerKind,
        authority: Option<CompositionAuthority>,
        scoped_env: Option<ScopedPeerEnv>,
        capabilities: Capabilities,
    ) -> Self {
        self.with(HandlerRegistration {
            spec,
            handler,
            provenance: Provenance::Local,
            composition_authority: authority,
            scoped_env,
            capabilities,
            defect: None,
        })
    }

    /// Adds a `Local` subscription (see [`RegistryBuilder::with_local`]).
    #[must_use]
    pub fn with_local_streaming(
        self,
        spec: OperationSpec,
        handler: StreamingHandler,
        authority: Option<CompositionAuthority>,
        scoped_env: Option<ScopedPeerEnv>,
        capabilities: Capabilities,
    ) -> Self {
        self.with_local(
            spec,
            HandlerKind::Stream(handler),
            authority,
            scoped_env,
            capabilities,
        )
    }

    /// Adds an operation that composes nothing: `Local` provenance, no authority, no env.
    #[must_use]
    pub fn with_leaf(
        self,
        spec: OperationSpec,
        handler: HandlerKind,
        capabilities: Capabilities,
    ) -> Self {
        self.with_local(spec, handler, None, None, capabilities)
    }

    /// Adds a subscription that composes nothing.
    #[must_use]
    pub fn with_leaf_streaming(
        self,
        spec: OperationSpec,
        handler: StreamingHandler,
        capabilities: Capabilities,
    ) -> Self {
        self.with_leaf(spec, HandlerKind::Stream(handler), capabilities)
    }

    /// Adds a complete registration (adapters' imports come in this way).
    #[must_use]
    pub fn with(mut self, registration: HandlerRegistration) -> Self {
        self.registrations.push(registration);
        self
    }

    /// Adds many registrations.
    #[must_use]
    pub fn with_all(
        mut self,
        registrations: impl IntoIterator<Item = HandlerRegistration>,
    ) -> Self {
        self.registrations.extend(registrations);
        self
    }

    /// Adds a runtime import layer: its operations are found after the base layer's (which
    /// wins a name both have), before the peers', whatever their visibility, and may change
    /// while the node runs (clients that follow changes are told).
    #[must_use]
    pub fn with_layer(mut self, layer: Arc<OperationOverlay>) -> Self {
        self.layers.push(layer);
        self
    }

    /// The node's peer table: the `External` operations imported from its peers are then
    /// found by callers (dispatch, `services/list`, `services/schema`) next to the base layer.
    /// Default: a table of its own, empty until sessions attach to it.
    #[must_use]
    pub fn with_peers(mut self, peers: Arc<PeerTable>) -> Self {
        self.peers = peers;
        self
    }

    /// Counts every call through this registry (root and composed, on every surface) and every
    /// session serving it in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<CallMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Limits the root calls through this registry (on every surface) by `limits`.
    #[must_use]
    pub fn with_rate_limits(mut self, limits: Arc<RateLimits>) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// Checks every registration and freezes the base layer.
    pub fn build(self) -> Result<OperationRegistry, RegistryError> {
        let mut ops = BTreeMap::new();
        for registration in self.registrations {
            insert_unique(&mut ops, RegisteredOperation::compile(registration)?)?;
        }
        // The discovery operations read the registry they live in, hence the cyclic build.
        let mut result = Ok(());
        let inner = Arc::new_cyclic(|weak: &Weak<RegistryInner>| {
            for registration in discovery::registrations(weak) {
                let added = RegisteredOperation::compile(registration)
                    .and_then(|op| insert_unique(&mut ops, op));
                if result.is_ok() {
                    result = added;
                }
            }
            for layer in &self.layers {
                layer.report_changes_to(self.peers.change_signal().clone());
            }
            RegistryInner {
                ops: std::mem::take(&mut ops),
                layers: self.layers.clone(),
                peers: self.peers.clone(),
                metrics: self.metrics.clone(),
                rate_limits: self.rate_limits.clone(),
            }
        });
        result.map(|()| OperationRegistry { inner })
    }
}

pub(crate) fn insert_unique(
    ops: &mut BTreeMap<String, Arc<RegisteredOperation>>,
    op: RegisteredOperation,
) -> Result<(), RegistryError> {
    match ops.entry(op.spec.name.clone()) {
        std::collections::btree_map::Entry::Occupied(taken) => {
            Err(RegistryError::DuplicateName(taken.key().clone()))
        }
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(Arc::new(op));
            Ok(())
        }
    }
}

impl OperationLayer for OperationRegistry {
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.inner.ops.get(name).cloned().or_else(|| {
            self.inner
                .layers
                .iter()
                .find_map(|layer| layer.lookup(name))
        })
    }

    fn list(&self) -> Vec<Arc<RegisteredOperation>> {
        let mut listed: BTreeMap<String, Arc<RegisteredOperation>> = BTreeMap::new();
        for op in self
            .inner
            .layers
            .iter()
            .rev()
            .flat_map(|layer| layer.list())
        {
            listed.insert(op.spec.name.clone(), op);
        }
        for (name, op) in &self.inner.ops {
            listed.insert(name.clone(), op.clone());
        }
        listed.into_values().collect()
    }
}

impl OperationRegistry {
    /// A builder.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// A registry with only the discovery operations (what a client that serves nothing has).
    pub fn empty() -> Self {
        // Only the built-in discovery operations are registered; they cannot collide.
        RegistryBuilder::default()
            .build()
            .unwrap_or_else(|_| OperationRegistry {
                inner: Arc::new(RegistryInner::default()),
            })
    }

    /// The operation of the base layer registered under `name` (slash optional), whatever its
    /// visibility ([`OperationRegistry::route`] also looks in the runtime layers and peers).
    pub fn get(&self, name: &str) -> Option<&Arc<RegisteredOperation>> {
        self.inner.ops.get(strip_slash(name))
    }

    /// The spec of the `External` operation `name` (slash optional); `None` for unknown and
    /// `Internal` operations alike.
    pub fn external_spec(&self, name: &str) -> Option<&OperationSpec> {
        self.get(name)
            .map(|op| &op.spec)
            .filter(|spec| spec.visibility == Visibility::External)
    }

    /// The peer table whose `External` imports callers reach next to this layer.
    pub fn peers(&self) -> &Arc<PeerTable> {
        &self.inner.peers
    }

    /// Where calls through this registry are counted, if anywhere.
    pub fn metrics(&self) -> Option<&Arc<CallMetrics>> {
        self.inner.metrics.as_ref()
    }

    /// The limits of root calls, if any.
    pub fn rate_limits(&self) -> Option<&Arc<RateLimits>> {
        self.inner.rate_limits.as_ref()
    }

    /// The operation a call from outside names (registry form): this layer's, else a runtime
    /// layer's, else the first peer's `External` import of that name. A peer never shadows a
    /// local name.
    pub fn route(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.lookup(name)
            .or_else(|| self.inner.peers.lookup_external(name))
    }

    /// Every registered operation, sorted by name.
    pub fn operations(&self) -> impl Iterator<Item = &Arc<RegisteredOperation>> {
        self.inner.ops.values()
    }

    /// How many operations are registered (discovery operations included).
    pub fn len(&self) -> usize {
        self.inner.ops.len()
    }

    /// Whether nothing is registered (never true: discovery operations are always there).
    pub fn is_empty(&self) -> bool {
        self.inner.ops.is_empty()
    }

    /// `services/list` for `identity`: `External` operations whose access control allows it,
    /// this layer's and its peers' (except what the caller itself exported, when the caller is
    /// a peer), sorted by name.
    pub fn list_for(&self, identity: Option<&Identity>) -> Vec<OperationSummary> {
        let allowed = |op: &&Arc<RegisteredOperation>| discoverable_by(op, identity);
        let mut listed: BTreeMap<&str, OperationSummary> = self
            .inner
            .ops
            .values()
            .filter(allowed)
            .map(|op| (op.spec.name.as_str(), op.spec.summary()))
            .collect();
        let layered: Vec<Arc<RegisteredOperation>> = self
            .inner
            .layers
            .iter()
            .flat_map(|layer| layer.list())
            .collect();
        for op in layered.iter().filter(allowed) {
            listed
                .entry(op.spec.name.as_str())
                .or_insert_with(|| op.spec.summary());
        }
        let imported = self
            .inner
            .peers
            .external_operations(identity.map(|i| i.id.as_str()));
        for op in imported.values().filter(allowed) {
            listed
                .entry(op.spec.name.as_str())
                .or_insert_with(|| op.spec.summary());
        }
        listed.into_values().collect()
    }

    /// `services/schema` for `identity`: unknown, `Internal` and unauthorized are all
    /// `NOT_FOUND`.
    pub fn schema_for(
        &self,
        identity: Option<&Identity>,
        name: &str,
    ) -> Result<OperationSpec, CallError> {
        let name = strip_slash(name);
        self.route(name)
            .filter(|op| discoverable_by(op, identity))
            .map(|op| op.spec.clone())
            .ok_or_else(|| CallError::not_found(name))
    }
}

/// Whether discovery shows `op` to `identity`: `External`, and its access control allows the
/// caller (with no resource named).
fn discoverable_by(op: &RegisteredOperation, identity: Option<&Identity>) -> bool {
    op.spec.visibility == Visibility::External
        && op
            .spec
            .access_control
            .check(identity, ResourceTarget::Unspecified, None)
            .is_allowed()
}
