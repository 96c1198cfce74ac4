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

mod body;
mod config;
mod document;
mod forward;
mod from_jsonschema;
mod plan;
mod report;
mod schema;
mod sse_decoder;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use alknet_http_core::adapter::{MAX_IMPORTED_NAME_LEN, imported_name, slugify};
use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::client::reqwest::Method;
use alknet_http_core::{
    AdapterError, HandlerRegistration, OperationAdapter, OperationSpec, OperationType, Provenance,
};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

pub use config::{HttpServiceConfig, ImportOptions};
pub use document::{OpenApiSpec, OpenApiVersion};
pub use forward::{ForwardLimits, HttpAuthScheme};
use forward::{Forwarder, Upstream};
pub use from_jsonschema::FromJsonSchema;
use plan::{BuiltOperation, OperationPlan, default_slug};
pub use report::{ImportNote, ImportReport, ImportedOperation};
use schema::{Normalizer, SchemaError, deref};

/// Longest imported operation name (the core's import rule).
pub const MAX_NAME_LEN: usize = MAX_IMPORTED_NAME_LEN;

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
