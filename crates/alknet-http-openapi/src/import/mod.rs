//! `from_openapi` and `from_jsonschema` (http-surfaces §9): import a REST API as operations.
//!
//! [`FromOpenApi`] reads an OpenAPI 3.0 or 3.1 document ([`OpenApiSpec`], JSON or YAML) and
//! makes one leaf registration per `(path, method)`, whose handler forwards the call to the
//! configured `base_url` through the process' [`SharedHttpClient`]:
//!
//! - **name** `{namespace}/{operationId}`, else `{namespace}/{method}_{path segments}`; at most
//!   64 characters (longer names are cut and get an 8-hex-digit hash suffix); a rename map
//!   overrides any of them; two operations with one name are an error naming both;
//! - **type**: a `text/event-stream` success response → `Subscription` (streamed item by item),
//!   `GET`/`HEAD` → `Query`, anything else → `Mutation`;
//! - **input**: an object of the path parameters (required), query and header parameters (as
//!   declared) and `body` (the JSON request body, required iff the document says so); unknown
//!   fields are refused;
//! - **output**: the `200`/`201` (else first 2xx) schema; **errors**: each declared non-2xx status
//!   as `HTTP_<status>`;
//! - schemas are rewritten into self-contained JSON Schema 2020-12 (see `schema.rs`), so the core
//!   validator checks every input before a request is sent.
//!
//! Credentials never come from configuration files or the environment: the handler reads the
//! secret of [`HttpServiceConfig::credential`] from its registration's capabilities on every
//! call. Path parameters are percent-encoded and `.`/`..` refused, so no input can move a call
//! away from `base_url`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
//! use alknet_http_core::{Capabilities, OperationAdapter, OperationRegistry};
//! use alknet_http_openapi::import::{FromOpenApi, HttpAuthScheme, HttpServiceConfig, ImportOptions, OpenApiSpec};
//!
//! # async fn demo(text: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default())?);
//! let spec = OpenApiSpec::from_str(text)?;
//! let config = HttpServiceConfig::new("petstore", "https://petstore.example.com/v1")
//!     .with_auth(HttpAuthScheme::Bearer);
//! let options = ImportOptions::default()
//!     .with_capabilities(Capabilities::new().with_http_token("petstore", "s3cret"));
//! let report = FromOpenApi::new(spec, config, http).with_options(options).plan()?;
//! println!("{}", report.summary());
//! let registry = OperationRegistry::builder().with_all(report.into_registrations()).build()?;
//! # Ok(()) }
//! ```

mod document;
mod forward;
mod schema;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use alknet_http_core::adapter::{MAX_IMPORTED_NAME_LEN, imported_name, slugify};
use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::client::reqwest::Method;
use alknet_http_core::error::http_error_code;
use alknet_http_core::{
    AccessControl, AdapterError, Capabilities, ErrorDefinition, HandlerRegistration,
    OperationAdapter, OperationSpec, OperationType, Provenance, Visibility,
};
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

pub use document::{OpenApiSpec, OpenApiVersion};
use forward::{Binding, Forwarder, Location, Upstream};
pub use forward::{ForwardLimits, HttpAuthScheme};
use schema::{Normalizer, SchemaError, deref};

/// Longest imported operation name (the core's import rule).
pub const MAX_NAME_LEN: usize = MAX_IMPORTED_NAME_LEN;

/// Where an imported API lives and how to reach it.
#[derive(Debug, Clone)]
pub struct HttpServiceConfig {
    /// The namespace of the imported operations (the first name segment).
    pub namespace: String,
    /// The API's base URL; every request goes under it, whatever the document's `servers` say.
    pub base_url: String,
    /// How credentials are sent, when the API needs them.
    pub auth: Option<HttpAuthScheme>,
    /// The capability service whose secret is sent. Default: the namespace.
    pub credential: Option<String>,
    /// Headers sent with every request.
    pub default_headers: Vec<(String, String)>,
    /// Limits of forwarded calls.
    pub limits: ForwardLimits,
}

impl HttpServiceConfig {
    /// A service under `namespace` at `base_url`, without authentication.
    pub fn new(namespace: impl Into<String>, base_url: impl Into<String>) -> Self {
        HttpServiceConfig {
            namespace: namespace.into(),
            base_url: base_url.into(),
            auth: None,
            credential: None,
            default_headers: Vec::new(),
            limits: ForwardLimits::default(),
        }
    }

    /// Sets the authentication scheme.
    #[must_use]
    pub fn with_auth(mut self, auth: HttpAuthScheme) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Reads the secret from capability `service` instead of the namespace's.
    #[must_use]
    pub fn with_credential(mut self, service: impl Into<String>) -> Self {
        self.credential = Some(service.into());
        self
    }

    /// Adds a header sent with every request.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: ForwardLimits) -> Self {
        self.limits = limits;
        self
    }

    fn upstream(&self, http: Arc<SharedHttpClient>) -> Result<Upstream, AdapterError> {
        if self.namespace.is_empty()
            || !self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(AdapterError::InvalidConfig(format!(
                "namespace `{}`: use letters, digits, `_`, `-` and `.`",
                self.namespace
            )));
        }
        Ok(Upstream {
            base: forward::parse_base_url(&self.base_url).map_err(AdapterError::InvalidConfig)?,
            auth: self.auth.clone(),
            credential: self
                .credential
                .clone()
                .unwrap_or_else(|| self.namespace.clone()),
            default_headers: forward::header_map(&self.default_headers)
                .map_err(AdapterError::InvalidConfig)?,
            limits: self.limits,
            http,
        })
    }
}

/// What to import and how the imported operations look.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// New names (the part after the namespace), keyed by operationId, by `METHOD /path` or by
    /// the generated name's part after the namespace. A key matching nothing is an error.
    pub rename: BTreeMap<String, String>,
    /// Import only operations with one of these tags (when not empty).
    pub include_tags: BTreeSet<String>,
    /// Skip operations with any of these tags.
    pub exclude_tags: BTreeSet<String>,
    /// Import only these operations, by operationId or `METHOD /path` (when not empty).
    pub include_operations: BTreeSet<String>,
    /// Skip these operations, by operationId or `METHOD /path`.
    pub exclude_operations: BTreeSet<String>,
    /// Visibility of the imported operations. Default `Internal` (reachable by composition
    /// only); `External` makes them callable from every surface, subject to `access_control`.
    pub visibility: Visibility,
    /// Who may call them.
    pub access_control: AccessControl,
    /// The credentials handed to every imported registration.
    pub capabilities: Capabilities,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            rename: BTreeMap::new(),
            include_tags: BTreeSet::new(),
            exclude_tags: BTreeSet::new(),
            include_operations: BTreeSet::new(),
            exclude_operations: BTreeSet::new(),
            visibility: Visibility::Internal,
            access_control: AccessControl::default(),
            capabilities: Capabilities::new(),
        }
    }
}

impl ImportOptions {
    /// Sets the credentials.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets the visibility.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the access control.
    #[must_use]
    pub fn with_access_control(mut self, access_control: AccessControl) -> Self {
        self.access_control = access_control;
        self
    }

    /// Renames one operation (`key`: operationId, `METHOD /path` or generated name part).
    #[must_use]
    pub fn with_rename(mut self, key: impl Into<String>, name: impl Into<String>) -> Self {
        self.rename.insert(key.into(), name.into());
        self
    }
}

/// One imported operation and the `(method, path)` it came from.
#[derive(Debug, Clone)]
pub struct ImportedOperation {
    /// `METHOD /path`.
    pub source: String,
    /// The registration.
    pub registration: HandlerRegistration,
}

/// One operation left out, or imported with a caveat, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// `METHOD /path`.
    pub source: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for ImportNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// The outcome of planning an import.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The namespace imported into.
    pub namespace: String,
    /// The operations, in path order (then get, put, post, delete, options, head, patch, trace).
    pub operations: Vec<ImportedOperation>,
    /// Operations not imported (unsupported features, filters).
    pub skipped: Vec<ImportNote>,
    /// Operations imported with a caveat (an ignored optional cookie parameter, a non-JSON
    /// optional body).
    pub warnings: Vec<ImportNote>,
}

impl ImportReport {
    /// One line: how many operations were imported and skipped, and why.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "openapi {}: imported {} operation{}",
            self.namespace,
            self.operations.len(),
            if self.operations.len() == 1 { "" } else { "s" }
        );
        if !self.skipped.is_empty() {
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for note in &self.skipped {
                *reasons.entry(note.reason.as_str()).or_default() += 1;
            }
            let reasons: Vec<String> = reasons
                .into_iter()
                .map(|(reason, n)| {
                    if n == 1 {
                        let source = self
                            .skipped
                            .iter()
                            .find(|s| s.reason == reason)
                            .map(|s| s.source.as_str())
                            .unwrap_or_default();
                        format!("{source}: {reason}")
                    } else {
                        format!("{n}× {reason}")
                    }
                })
                .collect();
            line.push_str(&format!(
                ", skipped {} ({})",
                self.skipped.len(),
                reasons.join("; ")
            ));
        }
        if !self.warnings.is_empty() {
            line.push_str(&format!(", {} with warnings", self.warnings.len()));
        }
        line
    }

    /// The registrations, for a registry builder.
    pub fn into_registrations(self) -> Vec<HandlerRegistration> {
        self.operations
            .into_iter()
            .map(|o| o.registration)
            .collect()
    }
}

/// Imports an OpenAPI document's operations (http-surfaces §9).
#[derive(Clone)]
pub struct FromOpenApi {
    spec: Arc<OpenApiSpec>,
    config: HttpServiceConfig,
    options: ImportOptions,
    http: Arc<SharedHttpClient>,
}

impl fmt::Debug for FromOpenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromOpenApi")
            .field("namespace", &self.config.namespace)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

impl FromOpenApi {
    /// An importer of `spec` into `config.namespace`, forwarding through `http`.
    pub fn new(spec: OpenApiSpec, config: HttpServiceConfig, http: Arc<SharedHttpClient>) -> Self {
        FromOpenApi {
            spec: Arc::new(spec),
            config,
            options: ImportOptions::default(),
            http,
        }
    }

    /// Sets the options.
    #[must_use]
    pub fn with_options(mut self, options: ImportOptions) -> Self {
        self.options = options;
        self
    }

    /// Builds every registration and reports what was skipped and why. Errors: an invalid
    /// configuration, a name collision (naming both sources), a rename key that matches nothing.
    pub fn plan(&self) -> Result<ImportReport, AdapterError> {
        let upstream = self.config.upstream(self.http.clone())?;
        let document = self.spec.document();
        let mut normalizer = Normalizer::new(document, self.spec.version());
        let mut report = ImportReport {
            namespace: self.config.namespace.clone(),
            operations: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        let mut names: HashMap<String, String> = HashMap::new();
        let mut renamed: BTreeSet<String> = BTreeSet::new();
        let empty = Map::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (path, item) in paths {
            let item = match deref(document, item) {
                Ok(item) => item,
                Err(SchemaError(reason)) => {
                    report.skipped.push(ImportNote {
                        source: path.clone(),
                        reason,
                    });
                    continue;
                }
            };
            for (key, method) in &METHODS {
                let Some(operation) = item.get(*key).filter(|o| o.is_object()) else {
                    continue;
                };
                let source = format!("{} {path}", method.as_str());
                let operation_id = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                if !self.selected(operation, operation_id, &source) {
                    report.skipped.push(ImportNote {
                        source,
                        reason: "excluded by the import filters".into(),
                    });
                    continue;
                }
                let generated = default_slug(operation_id, method, path);
                let rename_key = [
                    operation_id,
                    Some(source.as_str()),
                    Some(generated.as_str()),
                ]
                .into_iter()
                .flatten()
                .find(|k| self.options.rename.contains_key(*k))
                .map(str::to_owned);
                let slug = match rename_key {
                    Some(k) => {
                        let new = slugify(&self.options.rename[&k]);
                        if new.is_empty() {
                            return Err(AdapterError::InvalidConfig(format!(
                                "rename `{k}`: the new name is empty"
                            )));
                        }
                        renamed.insert(k);
                        new
                    }
                    None => generated,
                };
                let name = imported_name(&self.config.namespace, &slug);
                let described = match operation_id {
                    Some(id) => format!("{source} (operationId `{id}`)"),
                    None => source.clone(),
                };
                if let Some(first) = names.get(&name) {
                    return Err(AdapterError::NameCollision {
                        name,
                        first: first.clone(),
                        second: described,
                    });
                }
                let mut plan = OperationPlan {
                    normalizer: &mut normalizer,
                    document,
                    warnings: Vec::new(),
                };
                match plan.build(path, item, operation, method) {
                    Ok(built) => {
                        names.insert(name.clone(), described);
                        report
                            .warnings
                            .extend(plan.warnings.into_iter().map(|reason| ImportNote {
                                source: source.clone(),
                                reason,
                            }));
                        let registration = self.registration(
                            &upstream,
                            name,
                            path,
                            method.clone(),
                            operation,
                            built,
                        );
                        match registration {
                            Ok(registration) => report.operations.push(ImportedOperation {
                                source,
                                registration,
                            }),
                            Err(reason) => report.skipped.push(ImportNote { source, reason }),
                        }
                    }
                    Err(SchemaError(reason)) => report.skipped.push(ImportNote { source, reason }),
                }
            }
        }
        let unused: Vec<&String> = self
            .options
            .rename
            .keys()
            .filter(|k| !renamed.contains(*k))
            .collect();
        if !unused.is_empty() {
            return Err(AdapterError::InvalidConfig(format!(
                "rename: no operation matches {}",
                unused
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(report)
    }

    fn selected(&self, operation: &Value, operation_id: Option<&str>, source: &str) -> bool {
        let o = &self.options;
        let tags: Vec<&str> = operation
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let named = |set: &BTreeSet<String>| {
            set.contains(source) || operation_id.is_some_and(|id| set.contains(id))
        };
        if !o.include_tags.is_empty() && !tags.iter().any(|t| o.include_tags.contains(*t)) {
            return false;
        }
        if tags.iter().any(|t| o.exclude_tags.contains(*t)) {
            return false;
        }
        if !o.include_operations.is_empty() && !named(&o.include_operations) {
            return false;
        }
        !named(&o.exclude_operations)
    }

    fn registration(
        &self,
        upstream: &Upstream,
        name: String,
        path: &str,
        method: Method,
        operation: &Value,
        built: BuiltOperation,
    ) -> Result<HandlerRegistration, String> {
        if let Err(e) = jsonschema::validator_for(&built.input_schema) {
            return Err(format!("input schema is not usable: {e}"));
        }
        let op_type = if built.streaming {
            OperationType::Subscription
        } else if method == Method::GET || method == Method::HEAD {
            OperationType::Query
        } else {
            OperationType::Mutation
        };
        let description = operation
            .get("summary")
            .and_then(Value::as_str)
            .or_else(|| operation.get("description").and_then(Value::as_str))
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let mut spec = OperationSpec::new(name, op_type)
            .with_visibility(self.options.visibility)
            .with_access_control(self.options.access_control.clone())
            .with_input_schema(built.input_schema)
            .with_output_schema(built.output_schema);
        if let Some(description) = description {
            spec = spec.with_description(description);
        }
        spec.error_schemas = built.errors;
        let forwarder = Arc::new(Forwarder::new(upstream, method, path, Some(built.bindings)));
        Ok(HandlerRegistration::leaf(
            spec,
            forwarder.handler(built.streaming),
            Provenance::FromOpenApi,
        )
        .with_capabilities(self.options.capabilities.clone()))
    }
}

impl OperationAdapter for FromOpenApi {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        Box::pin(async move { Ok(self.plan()?.into_registrations()) })
    }
}

/// The schemas and bindings of one operation.
struct BuiltOperation {
    input_schema: Value,
    output_schema: Value,
    errors: Vec<ErrorDefinition>,
    bindings: Vec<Binding>,
    streaming: bool,
}

struct OperationPlan<'n, 'd> {
    normalizer: &'n mut Normalizer<'d>,
    document: &'d Value,
    warnings: Vec<String>,
}

impl<'d> OperationPlan<'_, 'd> {
    fn build(
        &mut self,
        path: &str,
        item: &'d Value,
        operation: &'d Value,
        method: &Method,
    ) -> Result<BuiltOperation, SchemaError> {
        let mut needs = BTreeSet::new();
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut bindings = Vec::new();
        let parameters = self.parameters(item, operation)?;
        for parameter in parameters {
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| SchemaError("a parameter has no name".into()))?;
            let location = parameter.get("in").and_then(Value::as_str).unwrap_or("");
            let is_required = parameter.get("required") == Some(&Value::Bool(true));
            let location = match location {
                "path" => Location::Path,
                "query" => Location::Query,
                "header" => {
                    if ["accept", "content-type", "authorization"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        // OpenAPI: such header parameters are ignored.
                        continue;
                    }
                    Location::Header
                }
                "cookie" if is_required => {
                    return Err(SchemaError(format!(
                        "required cookie parameter `{name}` is unsupported"
                    )));
                }
                "cookie" => {
                    self.warnings.push(format!(
                        "optional cookie parameter `{name}` is unsupported and ignored"
                    ));
                    continue;
                }
                other => {
                    return Err(SchemaError(format!(
                        "parameter `{name}` has an unknown location `{other}`"
                    )));
                }
            };
            let schema = parameter
                .get("schema")
                .or_else(|| {
                    parameter
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                })
                .cloned()
                .unwrap_or_else(|| json!({}));
            let mut schema = self.normalizer.normalize(&schema, &mut needs)?;
            if let (Value::Object(map), Some(description)) = (
                &mut schema,
                parameter.get("description").filter(|d| d.is_string()),
            ) {
                map.entry("description")
                    .or_insert_with(|| description.clone());
            }
            let mut key = name.to_owned();
            if key == "body" || properties.contains_key(&key) {
                key = format!("{}_{name}", location_name(location));
            }
            if properties.contains_key(&key) {
                return Err(SchemaError(format!("parameter `{name}` is declared twice")));
            }
            if location == Location::Path || is_required {
                required.push(Value::String(key.clone()));
            }
            properties.insert(key.clone(), schema);
            let explode = parameter.get("explode").and_then(Value::as_bool).unwrap_or(
                parameter
                    .get("style")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == "form"),
            );
            bindings.push(Binding {
                key,
                name: name.to_owned(),
                location,
                explode,
            });
        }
        // Template names without a declaration (common in hand-written documents): strings.
        for name in forward::template_params(path) {
            if !bindings
                .iter()
                .any(|b| b.location == Location::Path && b.name == name)
            {
                let key = if properties.contains_key(&name) || name == "body" {
                    format!("path_{name}")
                } else {
                    name.clone()
                };
                properties.insert(key.clone(), json!({ "type": "string" }));
                required.push(Value::String(key.clone()));
                bindings.push(Binding {
                    key,
                    name,
                    location: Location::Path,
                    explode: false,
                });
            }
        }
        if let Some(body) = operation.get("requestBody") {
            let body = deref(self.document, body)?;
            let body_required = body.get("required") == Some(&Value::Bool(true));
            let content = body.get("content").and_then(Value::as_object);
            let json_media = content.and_then(|c| {
                c.iter()
                    .find(|(m, _)| forward::is_json_media(m))
                    .or_else(|| c.iter().find(|(m, _)| m.contains("json")))
            });
            match json_media {
                Some((_, media)) => {
                    let schema = media.get("schema").cloned().unwrap_or_else(|| json!({}));
                    let mut schema = self.normalizer.normalize(&schema, &mut needs)?;
                    if let (Value::Object(map), Some(description)) = (
                        &mut schema,
                        body.get("description").filter(|d| d.is_string()),
                    ) {
                        map.entry("description")
                            .or_insert_with(|| description.clone());
                    }
                    properties.insert("body".into(), schema);
                    if body_required {
                        required.push(Value::String("body".into()));
                    }
                }
                None => {
                    let types: Vec<&str> = content
                        .map(|c| c.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let what = format!(
                        "request body media type{} {} (only JSON bodies are forwarded)",
                        if types.len() == 1 { "" } else { "s" },
                        if types.is_empty() {
                            "(none)".into()
                        } else {
                            types.join(", ")
                        }
                    );
                    if body_required {
                        return Err(SchemaError(format!("unsupported {what}")));
                    }
                    self.warnings.push(format!("optional body ignored: {what}"));
                }
            }
        }
        let _ = method;
        let mut input = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            input["required"] = Value::Array(required);
        }
        let input_schema = self.normalizer.attach_defs(input, needs)?;
        let (output_schema, errors, streaming) = self.responses(operation)?;
        Ok(BuiltOperation {
            input_schema,
            output_schema,
            errors,
            bindings,
            streaming,
        })
    }

    /// Path-level parameters overridden by operation-level ones with the same name and location.
    fn parameters(
        &self,
        item: &'d Value,
        operation: &'d Value,
    ) -> Result<Vec<&'d Value>, SchemaError> {
        let mut out: Vec<&Value> = Vec::new();
        for list in [item.get("parameters"), operation.get("parameters")] {
            for parameter in list.and_then(Value::as_array).into_iter().flatten() {
                let parameter = deref(self.document, parameter)?;
                let id = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                out.retain(|existing| id(existing) != id(parameter));
                out.push(parameter);
            }
        }
        Ok(out)
    }

    fn responses(
        &mut self,
        operation: &Value,
    ) -> Result<(Value, Vec<ErrorDefinition>, bool), SchemaError> {
        let empty = Map::new();
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut success: Vec<(&str, &Value)> = Vec::new();
        let mut errors = Vec::new();
        for (code, response) in responses {
            let response = deref(self.document, response)?;
            let Ok(status) = code.parse::<u16>() else {
                if code.eq_ignore_ascii_case("2XX") {
                    success.push((code, response));
                }
                continue;
            };
            if (200..300).contains(&status) {
                success.push((code, response));
            } else if (100..600).contains(&status) {
                let mut needs = BTreeSet::new();
                let schema = match json_schema_of(response) {
                    Some(schema) => self.normalizer.normalize(schema, &mut needs)?,
                    None => json!({}),
                };
                let schema = self.normalizer.attach_defs(schema, needs)?;
                let description = response
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|d| !d.trim().is_empty())
                    .map_or_else(|| format!("HTTP {status}"), |d| d.trim().to_owned());
                let mut definition =
                    ErrorDefinition::new(http_error_code(status), description).with_schema(schema);
                if (400..600).contains(&status) {
                    definition = definition.with_http_status(status);
                }
                errors.push(definition);
            }
        }
        let rank = |code: &str| match code {
            "200" => 0,
            "201" => 1,
            c if c.parse::<u16>().is_ok() => 2,
            _ => 3,
        };
        success.sort_by_key(|(code, _)| rank(code));
        let streaming = success.iter().any(|(_, r)| {
            r.get("content")
                .and_then(Value::as_object)
                .is_some_and(|c| c.keys().any(|m| m.starts_with("text/event-stream")))
        });
        let output = match success.first() {
            None => json!({}),
            Some((_, response)) => {
                let content = response.get("content").and_then(Value::as_object);
                let mut needs = BTreeSet::new();
                let schema = if streaming {
                    let sse = content
                        .and_then(|c| c.iter().find(|(m, _)| m.starts_with("text/event-stream")))
                        .map(|(_, m)| m);
                    match sse.and_then(|m| m.get("itemSchema").or_else(|| m.get("schema"))) {
                        // A schema of the event stream itself (a string) says nothing about
                        // the items: keep "any".
                        Some(s) if s.get("type") != Some(&json!("string")) => {
                            self.normalizer.normalize(s, &mut needs)?
                        }
                        _ => json!({}),
                    }
                } else {
                    match (json_schema_of(response), content) {
                        (Some(schema), _) => self.normalizer.normalize(schema, &mut needs)?,
                        (None, None) => json!({ "type": "null" }),
                        (None, Some(c)) if c.is_empty() => json!({ "type": "null" }),
                        (None, Some(c)) if c.keys().all(|m| m.starts_with("text/")) => {
                            json!({ "type": "string" })
                        }
                        (None, Some(_)) => json!({}),
                    }
                };
                self.normalizer.attach_defs(schema, needs)?
            }
        };
        Ok((output, errors, streaming))
    }
}

fn json_schema_of(response: &Value) -> Option<&Value> {
    let content = response.get("content")?.as_object()?;
    content
        .iter()
        .find(|(m, _)| forward::is_json_media(m))
        .and_then(|(_, media)| media.get("schema"))
}

fn location_name(location: Location) -> &'static str {
    match location {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
    }
}

/// The generated name part: the operationId's slug, else `{method}_{segments}`.
fn default_slug(operation_id: Option<&str>, method: &Method, path: &str) -> String {
    if let Some(slug) = operation_id.map(slugify).filter(|s| !s.is_empty()) {
        return slug;
    }
    let mut out = method.as_str().to_ascii_lowercase();
    let mut last_underscore = true;
    out.push('_');
    for c in path.chars() {
        match c {
            '{' | '}' => {}
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                last_underscore = false;
            }
            _ if !last_underscore => {
                out.push('_');
                last_underscore = true;
            }
            _ => {}
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// `from_jsonschema` (http-surfaces §9): one operation declared by the caller's
/// [`OperationSpec`], forwarded over HTTP with the same rules as [`FromOpenApi`]: fields named
/// in `path_template` fill the path, `body` is the JSON body, every other field is a query
/// parameter; a `Subscription` reads `text/event-stream`.
///
/// ```no_run
/// use std::sync::Arc;
/// use alknet_http_core::client::{HttpClientConfig, SharedHttpClient, reqwest::Method};
/// use alknet_http_core::OperationSpec;
/// use alknet_http_openapi::import::{FromJsonSchema, HttpServiceConfig};
/// use serde_json::json;
///
/// let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
/// let spec = OperationSpec::query("weather/forecast")
///     .with_input_schema(json!({"type": "object", "properties": {"city": {"type": "string"}}}));
/// let config = HttpServiceConfig::new("weather", "https://api.example.com");
/// let registration = FromJsonSchema::new(spec, config, "/forecast/{city}", Method::GET, http)
///     .registration()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct FromJsonSchema {
    spec: OperationSpec,
    config: HttpServiceConfig,
    path_template: String,
    method: Method,
    http: Arc<SharedHttpClient>,
    capabilities: Capabilities,
}

impl fmt::Debug for FromJsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromJsonSchema")
            .field("name", &self.spec.name)
            .field("method", &self.method)
            .field("path_template", &self.path_template)
            .finish_non_exhaustive()
    }
}

impl FromJsonSchema {
    /// One operation `spec` forwarded as `method path_template` to `config.base_url`.
    pub fn new(
        spec: OperationSpec,
        config: HttpServiceConfig,
        path_template: impl Into<String>,
        method: Method,
        http: Arc<SharedHttpClient>,
    ) -> Self {
        FromJsonSchema {
            spec,
            config,
            path_template: path_template.into(),
            method,
            http,
            capabilities: Capabilities::new(),
        }
    }

    /// Sets the credentials of the registration.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The registration (provenance `FromJsonSchema`).
    pub fn registration(&self) -> Result<HandlerRegistration, AdapterError> {
        let upstream = self.config.upstream(self.http.clone())?;
        if !self.path_template.starts_with('/') {
            return Err(AdapterError::InvalidConfig(format!(
                "path template `{}` must start with `/`",
                self.path_template
            )));
        }
        let streaming = self.spec.op_type.is_streaming();
        let forwarder = Arc::new(Forwarder::new(
            &upstream,
            self.method.clone(),
            &self.path_template,
            None,
        ));
        Ok(HandlerRegistration::leaf(
            self.spec.clone(),
            forwarder.handler(streaming),
            Provenance::FromJsonSchema,
        )
        .with_capabilities(self.capabilities.clone()))
    }
}

impl OperationAdapter for FromJsonSchema {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        Box::pin(async move { Ok(vec![self.registration()?]) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(
            default_slug(None, &Method::GET, "/pets/{petId}"),
            "get_pets_petid"
        );
        assert_eq!(default_slug(None, &Method::POST, "/"), "post");
        assert_eq!(
            default_slug(None, &Method::DELETE, "/a-b/{c}.json"),
            "delete_a_b_c_json"
        );
        assert_eq!(
            default_slug(Some("listPets"), &Method::GET, "/pets"),
            "listPets"
        );
        assert_eq!(
            default_slug(Some("repos/get-content"), &Method::GET, "/x"),
            "repos/get-content"
        );
        assert_eq!(default_slug(Some("a b//c?"), &Method::GET, "/x"), "a_b/c_");
        assert_eq!(default_slug(Some("//"), &Method::GET, "/x"), "get_x");
    }
}
