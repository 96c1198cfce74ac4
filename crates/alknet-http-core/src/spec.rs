//! The operation model: [`OperationSpec`] and the types it is made of (call-protocol §7).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::AccessControl;
use crate::shared_defs::SharedDefs;

/// What an operation does, which picks its dispatch path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationType {
    /// Read-only request/response.
    Query,
    /// Request/response with side effects.
    Mutation,
    /// A stream of outputs.
    Subscription,
}

impl OperationType {
    /// The JSON form: `query`, `mutation` or `subscription`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        }
    }

    /// Whether this type is served by a streaming handler.
    pub const fn is_streaming(self) -> bool {
        matches!(self, OperationType::Subscription)
    }
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        })
    }
}

/// Whether an operation can be called from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Callable from every surface (subject to access control).
    #[default]
    External,
    /// Reachable only by composition; invisible and unreachable from every wire.
    Internal,
}

/// A domain error an operation declares (call-protocol §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDefinition {
    /// The error code (should not reuse a protocol code).
    pub code: String,
    /// What the error means.
    pub description: String,
    /// JSON Schema of the error's `details`.
    pub schema: Value,
    /// The HTTP status the gateway answers with, when declared.
    pub http_status: Option<u16>,
}

impl ErrorDefinition {
    /// A definition with an empty (`{}`) details schema and no HTTP status.
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        ErrorDefinition {
            code: code.into(),
            description: description.into(),
            schema: Value::Object(Default::default()),
            http_status: None,
        }
    }

    /// Sets the details schema.
    #[must_use]
    pub fn with_schema(mut self, schema: Value) -> Self {
        self.schema = schema;
        self
    }

    /// Sets the HTTP status.
    #[must_use]
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }
}

/// Everything the protocol knows about an operation (call-protocol §7, JSON form §10).
///
/// ```
/// use alknet_http_core::{AccessControl, ErrorDefinition, OperationSpec, OperationType};
/// use serde_json::json;
///
/// let spec = OperationSpec::query("fs/readFile")
///     .with_description("Read a file")
///     .with_input_schema(json!({"type": "object", "required": ["path"]}))
///     .with_error(ErrorDefinition::new("FILE_NOT_FOUND", "The file does not exist").with_http_status(404))
///     .with_access_control(AccessControl::scopes(["fs:read"]));
/// assert_eq!(spec.path(), "/fs/readFile");
/// assert_eq!(spec.namespace, "fs");
/// assert_eq!(spec.op_type, OperationType::Query);
/// ```
///
/// Its JSON form (`/schema`, `services/schema`, generated documents) always has self-contained
/// schemas: definitions kept in [`OperationSpec::shared_defs`] are attached as each schema's
/// `$defs` when it is serialized.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OperationSpec {
    /// Registry form: no leading slash, at least two `/`-segments.
    pub name: String,
    /// The first segment of `name`.
    pub namespace: String,
    /// Query, mutation or subscription.
    pub op_type: OperationType,
    /// External or internal.
    #[serde(default)]
    pub visibility: Visibility,
    /// A short human description, shown by discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input (`{}` = any).
    #[serde(default = "empty_schema")]
    pub input_schema: Value,
    /// JSON Schema of each output (`{}` = any).
    #[serde(default = "empty_schema")]
    pub output_schema: Value,
    /// Declared domain errors.
    #[serde(default)]
    pub error_schemas: Vec<ErrorDefinition>,
    /// Who may call it.
    #[serde(default)]
    pub access_control: AccessControl,
    /// `$.field` path into the input naming the targeted resource.
    #[serde(default)]
    pub resource_id_path: Option<String>,
    /// Whether a Mutation is cancelled when its HTTP caller disconnects. Queries and
    /// subscriptions always are; Mutations run to completion unless this is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_on_disconnect: bool,
    /// Whether calling a Mutation twice with the same input has the effect of calling it once
    /// (Queries always may be repeated). Surfaces say so to clients (MCP's `idempotentHint`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
    /// Definitions the schemas above refer to as `#/$defs/<key>` without carrying them, shared
    /// with other operations (one import's). `None` for self-contained schemas.
    #[serde(skip)]
    pub shared_defs: Option<SharedDefs>,
}

/// The JSON form of a spec, borrowed, with self-contained schemas.
#[derive(Serialize)]
struct SpecWire<'a> {
    name: &'a str,
    namespace: &'a str,
    op_type: OperationType,
    visibility: Visibility,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    output_schema: Cow<'a, Value>,
    error_schemas: Cow<'a, [ErrorDefinition]>,
    access_control: &'a AccessControl,
    resource_id_path: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cancel_on_disconnect: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    idempotent: bool,
}

impl Serialize for OperationSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let error_schemas = match &self.shared_defs {
            None => Cow::Borrowed(self.error_schemas.as_slice()),
            Some(_) => Cow::Owned(
                self.error_schemas
                    .iter()
                    .map(|error| ErrorDefinition {
                        schema: self.self_contained(&error.schema).into_owned(),
                        ..error.clone()
                    })
                    .collect(),
            ),
        };
        SpecWire {
            name: &self.name,
            namespace: &self.namespace,
            op_type: self.op_type,
            visibility: self.visibility,
            description: self.description.as_deref(),
            input_schema: self.self_contained(&self.input_schema),
            output_schema: self.self_contained(&self.output_schema),
            error_schemas,
            access_control: &self.access_control,
            resource_id_path: self.resource_id_path.as_deref(),
            cancel_on_disconnect: self.cancel_on_disconnect,
            idempotent: self.idempotent,
        }
        .serialize(serializer)
    }
}

fn empty_schema() -> Value {
    Value::Object(Default::default())
}

impl OperationSpec {
    /// A new spec with `{}` schemas, no errors, unrestricted access and `External` visibility.
    ///
    /// A leading slash on `name` is stripped; the name is validated at registration.
    pub fn new(name: impl Into<String>, op_type: OperationType) -> Self {
        let name = name.into();
        let name = name.strip_prefix('/').map(str::to_owned).unwrap_or(name);
        let namespace = name.split('/').next().unwrap_or_default().to_owned();
        OperationSpec {
            name,
            namespace,
            op_type,
            visibility: Visibility::External,
            description: None,
            input_schema: empty_schema(),
            output_schema: empty_schema(),
            error_schemas: Vec::new(),
            access_control: AccessControl::default(),
            resource_id_path: None,
            cancel_on_disconnect: false,
            idempotent: false,
            shared_defs: None,
        }
    }

    /// A new `Query`.
    pub fn query(name: impl Into<String>) -> Self {
        OperationSpec::new(name, OperationType::Query)
    }

    /// A new `Mutation`.
    pub fn mutation(name: impl Into<String>) -> Self {
        OperationSpec::new(name, OperationType::Mutation)
    }

    /// A new `Subscription`.
    pub fn subscription(name: impl Into<String>) -> Self {
        OperationSpec::new(name, OperationType::Subscription)
    }

    /// The wire form of the name: `/` + `name`.
    pub fn path(&self) -> String {
        format!("/{}", self.name)
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Makes the operation `Internal`.
    #[must_use]
    pub fn internal(mut self) -> Self {
        self.visibility = Visibility::Internal;
        self
    }

    /// Sets the visibility.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the input schema.
    #[must_use]
    pub fn with_input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema;
        self
    }

    /// Sets the output schema.
    #[must_use]
    pub fn with_output_schema(mut self, schema: Value) -> Self {
        self.output_schema = schema;
        self
    }

    /// Lets the schemas refer to `defs` as `#/$defs/<key>` instead of carrying them.
    #[must_use]
    pub fn with_shared_defs(mut self, defs: SharedDefs) -> Self {
        self.shared_defs = Some(defs);
        self
    }

    /// `schema` (one of this spec's) as a self-contained JSON Schema: with the shared
    /// definitions it reaches attached, or as it is when there are none.
    pub fn self_contained<'a>(&self, schema: &'a Value) -> Cow<'a, Value> {
        match &self.shared_defs {
            Some(defs) => Cow::Owned(defs.attach(schema)),
            None => Cow::Borrowed(schema),
        }
    }

    /// Declares a domain error.
    #[must_use]
    pub fn with_error(mut self, error: ErrorDefinition) -> Self {
        self.error_schemas.push(error);
        self
    }

    /// Sets the access control.
    #[must_use]
    pub fn with_access_control(mut self, access_control: AccessControl) -> Self {
        self.access_control = access_control;
        self
    }

    /// Sets the `$.field` path of the targeted resource id in the input.
    #[must_use]
    pub fn with_resource_id_path(mut self, path: impl Into<String>) -> Self {
        self.resource_id_path = Some(path.into());
        self
    }

    /// Declares a Mutation idempotent: calling it twice with the same input has the effect of
    /// calling it once.
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Lets a Mutation be cancelled when its HTTP caller disconnects.
    #[must_use]
    pub fn cancel_on_disconnect(mut self) -> Self {
        self.cancel_on_disconnect = true;
        self
    }

    /// Whether a caller's disconnect cancels this operation.
    pub fn cancels_on_disconnect(&self) -> bool {
        self.op_type != OperationType::Mutation || self.cancel_on_disconnect
    }

    /// The declared definition of a domain error code.
    pub fn declared_error(&self, code: &str) -> Option<&ErrorDefinition> {
        self.error_schemas.iter().find(|d| d.code == code)
    }

    /// The summary used by `services/list` and `/search`.
    pub fn summary(&self) -> OperationSummary {
        OperationSummary {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            op_type: self.op_type,
            description: self.description.clone(),
        }
    }
}

/// One entry of `services/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationSummary {
    /// Registry name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Operation type.
    pub op_type: OperationType,
    /// Description, when the operation has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where a registration came from (call-protocol §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// Defined by this node; may compose with a declared authority and scoped env.
    Local,
    /// Created inside a sandboxed session; always `Internal`.
    Session,
    /// Imported from another node's session (`from_call`).
    FromCall,
    /// Imported from an OpenAPI document.
    FromOpenApi,
    /// Imported from an MCP server.
    FromMcp,
    /// Declared by a JSON Schema and forwarded over HTTP.
    FromJsonSchema,
    /// Advertised on a NATS bus by the nodes serving it (`from_nats`).
    FromNats,
}

impl Provenance {
    /// Whether this is an imported leaf (no authority, no scoped env).
    pub const fn is_leaf(self) -> bool {
        !matches!(self, Provenance::Local | Provenance::Session)
    }

    /// Whether this leaf forwards over HTTP (its `HTTP_<nnn>` errors pass through unmapped).
    pub const fn is_http_import(self) -> bool {
        matches!(self, Provenance::FromOpenApi | Provenance::FromJsonSchema)
    }
}
