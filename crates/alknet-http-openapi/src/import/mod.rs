//! `from_openapi` and `from_jsonschema` (http-surfaces §9): import a REST API as operations.
//!
//! [`FromOpenApi`] reads an OpenAPI 3.0 or 3.1 document ([`OpenApiSpec`], JSON or YAML) and
//! makes one leaf registration per `(path, method)`, whose handler forwards the call to the
//! configured `base_url` through the process' [`SharedHttpClient`]:
//!
//! - **name** `{namespace}/{operationId}`, else `{namespace}/{method}_{path segments}`; at most
//!   64 characters (longer names are cut and get an 8-hex-digit hash suffix); a rename map
//!   overrides any of them; when two operations of the document get one generated name, the
//!   later in document order becomes `<name>_2` (`_3`, … the first free one) with a warning, and
//!   a rename that collides is an error naming both;
//! - **type**: a `text/event-stream` success response → `Subscription` (streamed item by item),
//!   `GET`/`HEAD` → `Query`, anything else → `Mutation`;
//! - **input**: an object of the path parameters (required), query and header parameters (as
//!   declared) and `body` (the JSON request body, required iff the document says so); unknown
//!   fields are refused;
//! - **output**: the `200`/`201` (else first 2xx) schema; **errors**: each declared non-2xx status
//!   as `HTTP_<status>`;
//! - schemas are rewritten into JSON Schema 2020-12 (see `schema.rs`) whose definitions all the
//!   document's operations share ([`SharedDefs`]: each is normalised and held once, however many
//!   operations reach it), so the core validator checks every input before a request is sent
//!   and `/schema` still shows each schema self-contained.
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

mod config;
mod document;
mod forward;
mod from_jsonschema;
mod limits;
mod plan;
mod reference;
mod report;
mod request_body;
mod response_body;
mod schema;
mod skip;
mod sse_decoder;
mod style;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use alknet_http_core::adapter::{MAX_IMPORTED_NAME_LEN, imported_name, slugify};
use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::client::reqwest::Method;
use alknet_http_core::{
    AdapterError, HandlerRegistration, OperationAdapter, OperationSpec, OperationType, Provenance,
    SharedDefs,
};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

pub use config::{HttpServiceConfig, ImportOptions};
pub use document::{OpenApiSpec, OpenApiVersion};
pub use forward::{ForwardLimits, HttpAuthScheme};
use forward::{Forwarder, Upstream};
pub use from_jsonschema::FromJsonSchema;
pub use limits::ImportLimits;
use plan::{BuiltOperation, OperationPlan, default_slug};
use reference::deref;
pub use report::{ImportNote, ImportReport, ImportedOperation, NoteKind};
use request_body::RequestBody;
use schema::Normalizer;
use skip::SchemaError;

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

/// An operation planned, waiting for the document's shared definitions.
struct Planned<'d> {
    source: String,
    name: String,
    path: &'d str,
    method: Method,
    operation: &'d Value,
    built: BuiltOperation,
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
    /// configuration, a rename that collides with another name (naming both sources), a rename
    /// key that matches nothing.
    pub fn plan(&self) -> Result<ImportReport, AdapterError> {
        let upstream = self.config.upstream(self.http.clone())?;
        let document = self.spec.document();
        let mut normalizer = Normalizer::new(document, self.spec.version(), self.options.limits);
        let mut report = ImportReport {
            namespace: self.config.namespace.clone(),
            operations: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        let mut names: HashMap<String, String> = HashMap::new();
        let mut renamed: BTreeSet<String> = BTreeSet::new();
        let mut planned: Vec<Planned<'_>> = Vec::new();
        let mut all_needs: BTreeSet<String> = BTreeSet::new();
        let empty = Map::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut read = 0usize;
        'paths: for (path, item) in paths {
            let item = match deref(document, item) {
                Ok(item) => item,
                Err(SchemaError { kind, reason }) => {
                    report.skipped.push(ImportNote {
                        source: path.clone(),
                        kind,
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
                read += 1;
                if read > self.options.limits.max_operations {
                    // One note for the rest: a note per operation would itself grow unbounded.
                    report.skipped.push(ImportNote {
                        source: format!("{source} and every operation after it"),
                        kind: NoteKind::LimitExceeded,
                        reason: format!(
                            "the import reads at most {} operations (max_operations)",
                            self.options.limits.max_operations
                        ),
                    });
                    break 'paths;
                }
                let operation_id = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                if !self.selected(operation, operation_id, &source) {
                    report.skipped.push(ImportNote {
                        source,
                        kind: NoteKind::Filtered,
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
                let explicit = rename_key.is_some();
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
                let name = match names.get(&name) {
                    None => name,
                    // A rename that collides is a configuration mistake.
                    Some(first) if explicit => {
                        return Err(AdapterError::NameCollision {
                            name,
                            first: first.clone(),
                            second: described,
                        });
                    }
                    // Two operations of one document with the same generated name (`GET /jobs`
                    // and `GET /jobs/`): the later one in document order takes the first free
                    // `<slug>_<n>` from 2 on, so the names are distinct and stable across runs.
                    Some(first) => {
                        let distinct = (2..)
                            .map(|n| imported_name(&self.config.namespace, &format!("{slug}_{n}")))
                            .find(|candidate| !names.contains_key(candidate))
                            .unwrap_or_default();
                        report.warnings.push(ImportNote {
                            source: source.clone(),
                            kind: NoteKind::Renamed,
                            reason: format!(
                                "`{name}` is already the name of {first}: imported as `{distinct}`"
                            ),
                        });
                        distinct
                    }
                };
                normalizer.begin_schema();
                let mut plan = OperationPlan {
                    normalizer: &mut normalizer,
                    document,
                    warnings: Vec::new(),
                };
                match plan.build(path, item, operation) {
                    Ok(built) => {
                        names.insert(name.clone(), described);
                        report
                            .warnings
                            .extend(plan.warnings.into_iter().map(|reason| ImportNote {
                                source: source.clone(),
                                kind: NoteKind::Ignored,
                                reason,
                            }));
                        all_needs.extend(built.needs.iter().cloned());
                        planned.push(Planned {
                            source,
                            name,
                            path,
                            method: method.clone(),
                            operation,
                            built,
                        });
                    }
                    Err(SchemaError { kind, reason }) => report.skipped.push(ImportNote {
                        source,
                        kind,
                        reason,
                    }),
                }
            }
        }
        // The definitions every planned operation reaches, normalised once and shared.
        let (shared, unusable) = normalizer.share(&all_needs);
        for Planned {
            source,
            name,
            path,
            method,
            operation,
            built,
        } in planned
        {
            if let Some(error) = built.needs.iter().find_map(|k| unusable.get(k)) {
                report.skipped.push(ImportNote {
                    source,
                    kind: error.kind,
                    reason: error.reason.clone(),
                });
                continue;
            }
            // The registry compiles a self-contained schema at once, and one with shared
            // definitions on first use after a meta-schema check: refuse what would fail there.
            let usable = if built.needs.is_empty() {
                jsonschema::validator_for(&built.input_schema).map(drop)
            } else {
                jsonschema::meta::validate(&built.input_schema)
            };
            if let Err(e) = usable {
                report.skipped.push(ImportNote {
                    source,
                    kind: NoteKind::InvalidSchema,
                    reason: format!("input schema is not usable: {e}"),
                });
                continue;
            }
            let defs = (!built.needs.is_empty()).then(|| shared.clone());
            let registration =
                self.registration(&upstream, name, path, method, operation, built, defs);
            report.operations.push(ImportedOperation {
                source,
                registration,
            });
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

    #[allow(clippy::too_many_arguments)] // one planned operation, taken apart
    fn registration(
        &self,
        upstream: &Upstream,
        name: String,
        path: &str,
        method: Method,
        operation: &Value,
        built: BuiltOperation,
        defs: Option<SharedDefs>,
    ) -> HandlerRegistration {
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
        spec.shared_defs = defs;
        let forwarder = Arc::new(Forwarder::new(
            upstream,
            method,
            path,
            Some(built.bindings),
            built.body.unwrap_or_else(RequestBody::json),
        ));
        HandlerRegistration::leaf(
            spec,
            forwarder.handler(built.streaming),
            Provenance::FromOpenApi,
        )
        .with_capabilities(self.options.capabilities.clone())
    }
}

impl OperationAdapter for FromOpenApi {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        Box::pin(async move { Ok(self.plan()?.into_registrations()) })
    }
}
