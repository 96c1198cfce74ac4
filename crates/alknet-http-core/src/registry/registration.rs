//! One operation as declared ([`HandlerRegistration`]) and as checked and compiled
//! ([`RegisteredOperation`]): handler kinds, registration errors, input validation and the
//! error mapping of call-protocol §11.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::{Value, json};

use crate::access::is_valid_resource_path;
use crate::capability::Capabilities;
use crate::context::{CompositionAuthority, OperationContext, ScopedPeerEnv};
use crate::error::CallError;
use crate::identity::Identity;
use crate::spec::{OperationSpec, OperationType, Provenance, Visibility};

use super::input_gate::InputGate;

/// What a handler returns: one output or an error.
pub type HandlerResult = Result<Value, CallError>;
/// The future a [`Handler`] returns.
pub type HandlerFuture = BoxFuture<'static, HandlerResult>;
/// The stream a [`StreamingHandler`] returns: outputs, ended by the stream's end or an `Err`.
pub type ResultStream = BoxStream<'static, HandlerResult>;
/// A request/response handler.
pub type Handler = Arc<dyn Fn(Value, OperationContext) -> HandlerFuture + Send + Sync>;
/// A subscription handler.
pub type StreamingHandler = Arc<dyn Fn(Value, OperationContext) -> ResultStream + Send + Sync>;

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
    /// Why this registration cannot be served (a typed error type that declares no errors), if
    /// it cannot: the registry refuses it at build.
    pub(crate) defect: Option<String>,
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
            defect: None,
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

    /// Marks the registration as one the registry must refuse, for `reason`.
    #[cfg_attr(not(feature = "typed"), allow(dead_code))]
    pub(crate) fn with_defect(mut self, reason: String) -> Self {
        self.defect = Some(reason);
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
    /// A typed operation's error type cannot declare errors (see
    /// `typed::DeclaredErrors`).
    #[error("{name}: invalid declared errors: {reason}")]
    InvalidDeclaredErrors {
        /// Operation name.
        name: String,
        /// What is wrong.
        reason: String,
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
    pub(crate) spec: OperationSpec,
    pub(crate) handler: HandlerKind,
    pub(crate) provenance: Provenance,
    pub(crate) authority: Option<CompositionAuthority>,
    pub(crate) handler_identity: Option<Arc<Identity>>,
    pub(crate) scoped_env: Option<Arc<ScopedPeerEnv>>,
    pub(crate) capabilities: Capabilities,
    input_gate: InputGate,
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
            defect,
        } = registration;
        let name = spec.name.clone();
        validate_name(&spec)?;
        if let Some(reason) = defect {
            return Err(RegistryError::InvalidDeclaredErrors { name, reason });
        }
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
        let input_gate =
            InputGate::for_spec(&spec).map_err(|reason| RegistryError::InvalidSchema {
                name: name.clone(),
                reason,
            })?;
        Ok(RegisteredOperation {
            handler_identity: composition_authority
                .as_ref()
                .map(|authority| Arc::new(authority.as_identity())),
            authority: composition_authority,
            scoped_env: scoped_env.map(Arc::new),
            spec,
            handler,
            provenance,
            capabilities,
            input_gate,
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
        self.input_gate.check(&self.spec, input)
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
        // The handler's own text stays in the log: the client learns the code, not the words.
        tracing::warn!(
            operation = %self.spec.name,
            code = %error.code,
            message = %error.message,
            "an undeclared error code became INTERNAL"
        );
        CallError::internal("the operation failed")
            .with_details(json!({ "original_code": error.code }))
            .with_retryable(false)
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
