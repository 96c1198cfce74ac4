//! The operation registry (call-protocol §8): registrations and their checks, the immutable base
//! layer, connection overlays, and the dispatch path every call takes — lookup, visibility,
//! access control, input validation, handler with deadline and panic isolation, error mapping.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock, Weak};
use std::task::Poll;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::access::{AccessDecision, OwnershipProvider, ResourceTarget, is_valid_resource_path};
use crate::context::{
    AbortPolicy, Capabilities, CompositionAuthority, OperationContext, ScopedPeerEnv,
};
use crate::env::{OperationEnv, PeerCompositeEnv};
use crate::envelope::{ResponseEnvelope, strip_slash};
use crate::error::CallError;
use crate::identity::Identity;
use crate::spec::{OperationSpec, OperationSummary, OperationType, Provenance, Visibility};

/// What a handler returns: one output or an error.
pub type HandlerResult = Result<Value, CallError>;
/// The future a [`Handler`] returns.
pub type HandlerFuture = BoxFuture<'static, HandlerResult>;
/// The stream a [`StreamingHandler`] returns: outputs, ended by the stream's end or an `Err`.
pub type ResultStream = BoxStream<'static, HandlerResult>;
/// The stream `invoke_streaming` returns: envelopes, the last one an error if the call failed.
pub type ResponseStream = BoxStream<'static, ResponseEnvelope>;
/// A request/response handler.
pub type Handler = Arc<dyn Fn(Value, OperationContext) -> HandlerFuture + Send + Sync>;
/// A subscription handler.
pub type StreamingHandler = Arc<dyn Fn(Value, OperationContext) -> ResultStream + Send + Sync>;

/// The deadline of root Query/Mutation calls unless configured otherwise: 30 s.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A handler of either kind. `Query`/`Mutation` need `Once`, `Subscription` needs `Stream`.
#[derive(Clone)]
pub enum HandlerKind {
    /// One result per call.
    Once(Handler),
    /// A stream of results.
    Stream(StreamingHandler),
}

impl fmt::Debug for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandlerKind::Once(_) => "HandlerKind::Once",
            HandlerKind::Stream(_) => "HandlerKind::Stream",
        })
    }
}

impl HandlerKind {
    /// A request/response handler from an async closure.
    ///
    /// ```
    /// use alknet_http_core::HandlerKind;
    /// let echo = HandlerKind::once(|input, _ctx| async move { Ok(input) });
    /// ```
    pub fn once<F, Fut>(f: F) -> Self
    where
        F: Fn(Value, OperationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        HandlerKind::Once(Arc::new(move |input, ctx| f(input, ctx).boxed()))
    }

    /// A subscription handler from a closure returning a stream.
    ///
    /// ```
    /// use alknet_http_core::HandlerKind;
    /// use futures::stream;
    /// use serde_json::json;
    /// let ticks = HandlerKind::stream(|_input, _ctx| stream::iter((0..3).map(|n| Ok(json!(n)))));
    /// ```
    pub fn stream<F, S>(f: F) -> Self
    where
        F: Fn(Value, OperationContext) -> S + Send + Sync + 'static,
        S: Stream<Item = HandlerResult> + Send + 'static,
    {
        HandlerKind::Stream(Arc::new(move |input, ctx| f(input, ctx).boxed()))
    }

    fn name(&self) -> &'static str {
        match self {
            HandlerKind::Once(_) => "Once",
            HandlerKind::Stream(_) => "Stream",
        }
    }
}

/// One operation as declared by the assembly layer or an adapter (call-protocol §8.1).
#[derive(Debug, Clone)]
pub struct HandlerRegistration {
    /// The operation's spec.
    pub spec: OperationSpec,
    /// Its handler.
    pub handler: HandlerKind,
    /// Where it came from.
    pub provenance: Provenance,
    /// The authority its composed calls run as (`None`: composed calls are anonymous).
    pub composition_authority: Option<CompositionAuthority>,
    /// What it may compose (`None`: nothing).
    pub scoped_env: Option<ScopedPeerEnv>,
    /// Its outbound credentials.
    pub capabilities: Capabilities,
}

impl HandlerRegistration {
    /// A `Local` registration with no authority, env or capabilities.
    pub fn local(spec: OperationSpec, handler: HandlerKind) -> Self {
        HandlerRegistration {
            spec,
            handler,
            provenance: Provenance::Local,
            composition_authority: None,
            scoped_env: None,
            capabilities: Capabilities::new(),
        }
    }

    /// An imported leaf registration (`Internal` unless the spec says otherwise).
    pub fn leaf(spec: OperationSpec, handler: HandlerKind, provenance: Provenance) -> Self {
        HandlerRegistration {
            provenance,
            ..HandlerRegistration::local(spec, handler)
        }
    }

    /// Sets the composition authority.
    #[must_use]
    pub fn with_authority(mut self, authority: CompositionAuthority) -> Self {
        self.composition_authority = Some(authority);
        self
    }

    /// Sets the scoped env.
    #[must_use]
    pub fn with_scoped_env(mut self, env: ScopedPeerEnv) -> Self {
        self.scoped_env = Some(env);
        self
    }

    /// Sets the capabilities.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }
}

/// Why a registration was refused. Registration errors are startup errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The handler kind does not fit the operation type.
    #[error("{name}: handler kind mismatch: {op_type} requires HandlerKind::{required}")]
    HandlerKindMismatch {
        /// Operation name.
        name: String,
        /// Its type.
        op_type: OperationType,
        /// The kind it needs.
        required: &'static str,
    },
    /// The name is already registered in this layer.
    #[error("operation `{0}` is already registered")]
    DuplicateName(String),
    /// The name or namespace is malformed.
    #[error("invalid operation name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input schema does not compile.
    #[error("{name}: invalid input_schema: {reason}")]
    InvalidSchema {
        /// Operation name.
        name: String,
        /// The compiler's message.
        reason: String,
    },
    /// `resource_action` without `resource_type`, or a malformed `resource_id_path`.
    #[error("{name}: invalid access control: {reason}")]
    InvalidAccessControl {
        /// Operation name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A leaf or session registration declares something only `Local` ones may have.
    #[error("{name}: {reason}")]
    InvalidProvenance {
        /// Operation name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A registration after its checks, with its input schema compiled.
pub struct RegisteredOperation {
    spec: OperationSpec,
    handler: HandlerKind,
    provenance: Provenance,
    authority: Option<CompositionAuthority>,
    handler_identity: Option<Identity>,
    scoped_env: Option<Arc<ScopedPeerEnv>>,
    capabilities: Capabilities,
    validator: Option<jsonschema::Validator>,
}

impl fmt::Debug for RegisteredOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredOperation")
            .field("name", &self.spec.name)
            .field("op_type", &self.spec.op_type)
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}

impl RegisteredOperation {
    /// Checks a registration and compiles its input schema.
    pub fn compile(registration: HandlerRegistration) -> Result<Self, RegistryError> {
        let HandlerRegistration {
            spec,
            handler,
            provenance,
            composition_authority,
            scoped_env,
            capabilities,
        } = registration;
        let name = spec.name.clone();
        validate_name(&spec)?;
        let required = if spec.op_type.is_streaming() {
            "Stream"
        } else {
            "Once"
        };
        if handler.name() != required {
            return Err(RegistryError::HandlerKindMismatch {
                name,
                op_type: spec.op_type,
                required,
            });
        }
        let acl = &spec.access_control;
        if acl.resource_action.is_some() && acl.resource_type.is_none() {
            return Err(RegistryError::InvalidAccessControl {
                name,
                reason: "resource_action requires resource_type",
            });
        }
        if let Some(path) = &spec.resource_id_path
            && !is_valid_resource_path(path)
        {
            return Err(RegistryError::InvalidAccessControl {
                name,
                reason: "resource_id_path must look like `$.field` or `$.a.b`",
            });
        }
        if provenance.is_leaf() && (composition_authority.is_some() || scoped_env.is_some()) {
            return Err(RegistryError::InvalidProvenance {
                name,
                reason: "imported leaves have no composition authority and no scoped env",
            });
        }
        if provenance == Provenance::Session && spec.visibility != Visibility::Internal {
            return Err(RegistryError::InvalidProvenance {
                name,
                reason: "session registrations are always Internal",
            });
        }
        let validator = if is_trivial_schema(&spec.input_schema) {
            None
        } else {
            Some(jsonschema::validator_for(&spec.input_schema).map_err(|e| {
                RegistryError::InvalidSchema {
                    name: name.clone(),
                    reason: e.to_string(),
                }
            })?)
        };
        Ok(RegisteredOperation {
            handler_identity: composition_authority
                .as_ref()
                .map(CompositionAuthority::as_identity),
            authority: composition_authority,
            scoped_env: scoped_env.map(Arc::new),
            spec,
            handler,
            provenance,
            capabilities,
            validator,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &OperationSpec {
        &self.spec
    }

    /// The provenance.
    pub fn provenance(&self) -> Provenance {
        self.provenance
    }

    /// The composition authority.
    pub fn composition_authority(&self) -> Option<&CompositionAuthority> {
        self.authority.as_ref()
    }

    /// Validates `input` against the compiled input schema.
    pub fn validate_input(&self, input: &Value) -> Result<(), CallError> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        if validator.is_valid(input) {
            return Ok(());
        }
        const MAX_REPORTED: usize = 32;
        let errors: Vec<Value> = validator
            .iter_errors(input)
            .take(MAX_REPORTED)
            .map(|e| {
                json!({
                    "instance_path": e.instance_path().to_string(),
                    "schema_path": e.schema_path().to_string(),
                    "message": e.to_string(),
                })
            })
            .collect();
        let first = errors
            .first()
            .and_then(|e| e["message"].as_str())
            .unwrap_or("invalid input")
            .to_owned();
        Err(
            CallError::invalid_input(format!("input does not match the schema: {first}"))
                .with_details(json!({ "errors": errors })),
        )
    }

    /// Maps a handler's error per call-protocol §11: declared and protocol codes pass through
    /// (and `HTTP_<nnn>` from HTTP importers); any other code becomes `INTERNAL` with
    /// `details.original_code`.
    pub fn map_error(&self, error: CallError) -> CallError {
        if error.protocol_code().is_some()
            || self.spec.declared_error(&error.code).is_some()
            || (self.provenance.is_http_import() && error.upstream_http_status().is_some())
        {
            return error;
        }
        CallError::internal(error.message)
            .with_details(json!({ "original_code": error.code }))
            .with_retryable(false)
    }
}

fn is_trivial_schema(schema: &Value) -> bool {
    match schema {
        Value::Bool(true) => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn validate_name(spec: &OperationSpec) -> Result<(), RegistryError> {
    let invalid = |reason| {
        Err(RegistryError::InvalidName {
            name: spec.name.clone(),
            reason,
        })
    };
    if spec.name.starts_with('/') {
        return invalid("the registry form has no leading slash");
    }
    let segments: Vec<&str> = spec.name.split('/').collect();
    if segments.len() < 2 {
        return invalid("needs at least two `/`-separated segments");
    }
    if segments.iter().any(|s| s.is_empty()) {
        return invalid("has an empty segment");
    }
    if spec
        .name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid("contains whitespace or control characters");
    }
    if spec.namespace != segments[0] {
        return invalid("namespace must be the first segment of the name");
    }
    Ok(())
}

/// A set of operations that dispatch can look names up in: the base registry or an overlay.
pub trait OperationLayer: Send + Sync + fmt::Debug {
    /// The operation registered under `name` (registry form), if any.
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>>;
}

#[derive(Debug, Default)]
struct RegistryInner {
    ops: BTreeMap<String, Arc<RegisteredOperation>>,
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
    inner: Arc<RegistryInner>,
}

/// Builds an [`OperationRegistry`]; every check runs in [`RegistryBuilder::build`].
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    registrations: Vec<HandlerRegistration>,
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

    /// Checks every registration and freezes the base layer.
    pub fn build(self) -> Result<OperationRegistry, RegistryError> {
        let mut ops = BTreeMap::new();
        for registration in self.registrations {
            insert_unique(&mut ops, RegisteredOperation::compile(registration)?)?;
        }
        // The discovery operations read the registry they live in, hence the cyclic build.
        let mut result = Ok(());
        let inner = Arc::new_cyclic(|weak: &Weak<RegistryInner>| {
            for registration in discovery_registrations(weak) {
                let added = RegisteredOperation::compile(registration)
                    .and_then(|op| insert_unique(&mut ops, op));
                if result.is_ok() {
                    result = added;
                }
            }
            RegistryInner {
                ops: std::mem::take(&mut ops),
            }
        });
        result.map(|()| OperationRegistry { inner })
    }
}

fn insert_unique(
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

/// The name of the listing discovery operation.
pub const SERVICES_LIST: &str = "services/list";
/// The name of the schema discovery operation.
pub const SERVICES_SCHEMA: &str = "services/schema";

#[derive(Deserialize)]
struct SchemaInput {
    name: String,
}

fn discovery_registrations(weak: &Weak<RegistryInner>) -> [HandlerRegistration; 2] {
    let list_registry = weak.clone();
    let list = HandlerRegistration::local(
        OperationSpec::query(SERVICES_LIST)
            .with_description("List the operations this caller may call"),
        HandlerKind::once(move |_input, ctx| {
            let registry = list_registry.upgrade();
            async move {
                let registry = registry.ok_or_else(|| CallError::internal("registry dropped"))?;
                let operations = OperationRegistry { inner: registry }.list_for(ctx.identity());
                Ok(json!({ "operations": operations }))
            }
        }),
    );
    let schema_registry = weak.clone();
    let schema = HandlerRegistration::local(
        OperationSpec::query(SERVICES_SCHEMA)
            .with_description("The full spec of one operation")
            .with_input_schema(json!({
                "type": "object",
                "required": ["name"],
                "properties": { "name": { "type": "string" } }
            })),
        HandlerKind::once(move |input, ctx| {
            let registry = schema_registry.upgrade();
            async move {
                let registry = registry.ok_or_else(|| CallError::internal("registry dropped"))?;
                let SchemaInput { name } = SchemaInput::deserialize(&input)
                    .map_err(|e| CallError::invalid_input(e.to_string()))?;
                let spec =
                    OperationRegistry { inner: registry }.schema_for(ctx.identity(), &name)?;
                serde_json::to_value(spec).map_err(|e| CallError::internal(e.to_string()))
            }
        }),
    );
    [list, schema]
}

impl OperationLayer for OperationRegistry {
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.inner.ops.get(name).cloned()
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

    /// The operation registered under `name` (slash optional), whatever its visibility.
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

    /// `services/list` for `identity`: `External` operations whose access control allows it.
    pub fn list_for(&self, identity: Option<&Identity>) -> Vec<OperationSummary> {
        self.inner
            .ops
            .values()
            .filter(|op| op.spec.visibility == Visibility::External)
            .filter(|op| {
                op.spec
                    .access_control
                    .check(identity, ResourceTarget::Unspecified, None)
                    .is_allowed()
            })
            .map(|op| op.spec.summary())
            .collect()
    }

    /// `services/schema` for `identity`: unknown, `Internal` and unauthorized are all `NOT_FOUND`.
    pub fn schema_for(
        &self,
        identity: Option<&Identity>,
        name: &str,
    ) -> Result<OperationSpec, CallError> {
        let name = strip_slash(name);
        self.external_spec(name)
            .filter(|spec| {
                spec.access_control
                    .check(identity, ResourceTarget::Unspecified, None)
                    .is_allowed()
            })
            .cloned()
            .ok_or_else(|| CallError::not_found(name))
    }

    /// Dispatches a root request/response call against this (base) layer.
    pub fn invoke_root(
        &self,
        name: &str,
        input: Value,
        call: RootCall,
    ) -> BoxFuture<'static, ResponseEnvelope> {
        let name = strip_slash(name);
        let seed = call.into_seed(self);
        invoke_once(self.lookup(name), name, input, seed)
    }

    /// Dispatches a root subscription against this (base) layer.
    pub fn invoke_root_streaming(
        &self,
        name: &str,
        input: Value,
        call: RootCall,
    ) -> ResponseStream {
        let name = strip_slash(name);
        let seed = call.into_seed(self);
        invoke_stream(self.lookup(name), name, input, seed)
    }
}

/// A runtime layer (session overlay or connection overlay) that imports can be added to and
/// that is dropped with its session (call-protocol §8.5).
#[derive(Debug, Default)]
pub struct OperationOverlay {
    ops: RwLock<BTreeMap<String, Arc<RegisteredOperation>>>,
}

impl OperationOverlay {
    /// An empty overlay.
    pub fn new() -> Self {
        OperationOverlay::default()
    }

    /// Adds one imported registration; a name already in this overlay is refused.
    pub fn register_imported(
        &self,
        registration: HandlerRegistration,
    ) -> Result<(), RegistryError> {
        let op = RegisteredOperation::compile(registration)?;
        insert_unique(&mut self.ops.write().unwrap_or_else(|e| e.into_inner()), op)
    }

    /// Adds all registrations, or none if any is refused.
    pub fn register_imported_all(
        &self,
        registrations: impl IntoIterator<Item = HandlerRegistration>,
    ) -> Result<(), RegistryError> {
        let compiled = registrations
            .into_iter()
            .map(RegisteredOperation::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let mut ops = self.ops.write().unwrap_or_else(|e| e.into_inner());
        let mut seen = std::collections::HashSet::new();
        for op in &compiled {
            if ops.contains_key(&op.spec.name) || !seen.insert(op.spec.name.as_str()) {
                return Err(RegistryError::DuplicateName(op.spec.name.clone()));
            }
        }
        for op in compiled {
            ops.insert(op.spec.name.clone(), Arc::new(op));
        }
        Ok(())
    }

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
        let mut seed = call.into_seed(&OperationRegistry::empty());
        seed.internal = true;
        invoke_once(self.lookup(name), name, input, seed)
    }

    /// Removes everything (on re-import).
    pub fn clear(&self) {
        self.ops.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The names in this overlay, sorted.
    pub fn names(&self) -> Vec<String> {
        self.ops
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// How many operations the overlay holds.
    pub fn len(&self) -> usize {
        self.ops.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the overlay is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OperationLayer for OperationOverlay {
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.ops
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

/// What a transport knows about a root call before dispatch (call-protocol §8.2–§8.3).
#[derive(Debug, Clone)]
pub struct RootCall {
    /// The envelope id (or a fresh UUID v4 for gateway calls).
    pub request_id: String,
    /// The resolved per-request identity.
    pub identity: Option<Identity>,
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
        }
    }

    /// Sets the identity.
    #[must_use]
    pub fn identity(mut self, identity: Option<Identity>) -> Self {
        self.identity = identity;
        self
    }

    fn into_seed(self, base: &OperationRegistry) -> CallSeed {
        CallSeed {
            request_id: self.request_id,
            parent_request_id: None,
            identity: self.identity,
            forwarded_for: self.forwarded_for,
            env: self
                .env
                .unwrap_or_else(|| Arc::new(PeerCompositeEnv::new(base.clone()))),
            abort_policy: AbortPolicy::AbortDependents,
            deadline: DeadlineRule::Root(self.timeout),
            ownership: self.ownership,
            internal: false,
            // A child: the transport's cancel cascades in, but a timeout or panic inside the
            // call does not look like a transport abort.
            abort: self.abort.child_token(),
            ancestor_abort: None,
            last_event_id: self.last_event_id,
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
    pub(crate) identity: Option<Identity>,
    pub(crate) forwarded_for: Option<Identity>,
    pub(crate) env: Arc<dyn OperationEnv>,
    pub(crate) abort_policy: AbortPolicy,
    pub(crate) deadline: DeadlineRule,
    pub(crate) ownership: Option<Arc<dyn OwnershipProvider>>,
    pub(crate) internal: bool,
    pub(crate) abort: CancellationToken,
    pub(crate) ancestor_abort: Option<CancellationToken>,
    pub(crate) last_event_id: Option<String>,
}

impl CallSeed {
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
    let target = ResourceTarget::extract(op.spec.resource_id_path.as_deref(), input);
    if let AccessDecision::Forbidden(reason) =
        op.spec
            .access_control
            .check(seed.identity.as_ref(), target, seed.ownership.as_deref())
    {
        return Err(CallError::forbidden(reason));
    }
    op.validate_input(input)?;
    Ok(op)
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

/// Dispatches a request/response call to `op` (already looked up in some layer).
pub(crate) fn invoke_once(
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
/// item ends the stream at once.
pub(crate) fn invoke_stream(
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
