//! `from_mcp`: an MCP server's tools as operations (http-surfaces §11 "from_mcp").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alknet_http_core::adapter::{imported_name, slugify};
use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{
    AccessControl, AdapterError, CallError, Capabilities, ErrorDefinition, HandlerKind,
    HandlerRegistration, OperationAdapter, OperationSpec, Provenance, Visibility,
};
use futures::future::BoxFuture;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, Implementation, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;

use crate::upstream_client::UpstreamClient;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// The error code of a tool result with `isError: true`.
pub const MCP_TOOL_ERROR: &str = "MCP_TOOL_ERROR";

/// How [`FromMcp`] imports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FromMcpConfig {
    /// The server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    pub endpoint: String,
    /// The namespace of the imported operations: tool `t` becomes `namespace/t`.
    pub namespace: String,
    /// The capability service whose secret is sent as `Authorization: Bearer` (none: no token).
    pub token_service: Option<String>,
    /// Credentials of the imported registrations (the token among them).
    pub capabilities: Capabilities,
    /// Import only these tools (when set).
    pub tools: Option<BTreeSet<String>>,
    /// Never import these tools.
    pub exclude: BTreeSet<String>,
    /// New operation names (the segment after the namespace), by tool name.
    pub rename: BTreeMap<String, String>,
    /// How long [`FromMcp::plan`] keeps trying to reach a server that is not up yet, retrying
    /// with backoff (250 ms doubling to 5 s). Default 30 s; zero tries once.
    pub connect_retry_for: Duration,
    /// Visibility of the imported operations. Default `Internal`.
    pub visibility: Visibility,
    /// Who may call them.
    pub access_control: AccessControl,
}

impl FromMcpConfig {
    /// Sets `endpoint`: the server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets `namespace`: the namespace of the imported operations: tool `t` becomes `namespace/t`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets `token_service`: the capability service whose secret is sent as `Authorization: Bearer` (none: no token).
    #[must_use]
    pub fn with_token_service(mut self, token_service: Option<String>) -> Self {
        self.token_service = token_service;
        self
    }

    /// Sets `capabilities`: credentials of the imported registrations (the token among them).
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets `tools`: import only these tools (when set).
    #[must_use]
    pub fn with_tools(mut self, tools: Option<BTreeSet<String>>) -> Self {
        self.tools = tools;
        self
    }

    /// Sets `exclude`: never import these tools.
    #[must_use]
    pub fn with_exclude(mut self, exclude: BTreeSet<String>) -> Self {
        self.exclude = exclude;
        self
    }

    /// Sets `rename`: new operation names (after the namespace), by tool name.
    #[must_use]
    pub fn with_rename(mut self, rename: BTreeMap<String, String>) -> Self {
        self.rename = rename;
        self
    }

    /// Sets `connect_retry_for`: how long to keep trying an upstream that is not up yet.
    #[must_use]
    pub fn with_connect_retry_for(mut self, connect_retry_for: Duration) -> Self {
        self.connect_retry_for = connect_retry_for;
        self
    }
}

impl FromMcpConfig {
    /// Imports every tool of `endpoint` into `namespace`, without a token, `Internal`.
    pub fn new(endpoint: impl Into<String>, namespace: impl Into<String>) -> Self {
        FromMcpConfig {
            endpoint: endpoint.into(),
            namespace: namespace.into(),
            token_service: None,
            capabilities: Capabilities::new(),
            tools: None,
            exclude: BTreeSet::new(),
            rename: BTreeMap::new(),
            connect_retry_for: Duration::from_secs(30),
            visibility: Visibility::Internal,
            access_control: AccessControl::default(),
        }
    }

    /// Sends the secret of capability `service` as the bearer token.
    #[must_use]
    pub fn with_token(mut self, service: impl Into<String>, capabilities: Capabilities) -> Self {
        self.token_service = Some(service.into());
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
}

/// Imports the tools of an MCP server (streamable HTTP) as leaf registrations whose handlers
/// call `tools/call` on one client connection kept for the registrations' lifetime (rmcp
/// re-initialises it once when the server reports the session expired).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
/// use alknet_http_core::{Capabilities, OperationAdapter};
/// use alknet_http_mcp::{FromMcp, FromMcpConfig};
///
/// let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default())?);
/// let config = FromMcpConfig::new("http://127.0.0.1:8000/mcp", "tools")
///     .with_token("tools", Capabilities::new().with_http_token("tools", "secret"));
/// let registrations = FromMcp::new(config, http).import().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FromMcp {
    config: FromMcpConfig,
    http: Arc<SharedHttpClient>,
}

impl fmt::Debug for FromMcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromMcp")
            .field("endpoint", &self.config.endpoint)
            .field("namespace", &self.config.namespace)
            .finish_non_exhaustive()
    }
}

type Connection = RunningService<RoleClient, ClientConfig>;

/// What an import produced: the registrations and the tools left out, with reasons.
#[derive(Debug)]
pub struct McpImport {
    /// One registration per imported tool.
    pub registrations: Vec<HandlerRegistration>,
    /// `(tool, reason)` of the tools not imported.
    pub skipped: Vec<(String, String)>,
}

impl McpImport {
    /// One line: how many tools were imported and skipped, and why.
    pub fn summary(&self, namespace: &str) -> String {
        let mut line = format!(
            "mcp {namespace}: imported {} tool{}",
            self.registrations.len(),
            if self.registrations.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        if !self.skipped.is_empty() {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(tool, reason)| format!("{tool}: {reason}"))
                .collect();
            line.push_str(&format!(
                ", skipped {} ({})",
                self.skipped.len(),
                reasons.join("; ")
            ));
        }
        line
    }
}

/// The JSON Schema of an MCP content block, the output of tools without an `outputSchema`.
pub fn content_blocks_schema() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["text", "image", "audio", "resource", "resource_link"]}},
            "oneOf": [
                {"properties": {"type": {"const": "text"}, "text": {"type": "string"}}, "required": ["text"]},
                {"properties": {"type": {"const": "image"}, "data": {"type": "string"}, "mimeType": {"type": "string"}}, "required": ["data", "mimeType"]},
                {"properties": {"type": {"const": "audio"}, "data": {"type": "string"}, "mimeType": {"type": "string"}}, "required": ["data", "mimeType"]},
                {"properties": {"type": {"const": "resource"}, "resource": {"type": "object"}}, "required": ["resource"]},
                {"properties": {"type": {"const": "resource_link"}, "uri": {"type": "string"}, "name": {"type": "string"}}, "required": ["uri", "name"]}
            ]
        }
    })
}

impl FromMcp {
    /// An importer of `config.endpoint`, connecting with `http`'s client.
    pub fn new(config: FromMcpConfig, http: Arc<SharedHttpClient>) -> Self {
        FromMcp { config, http }
    }

    /// The namespace imported into.
    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// Connects once the server can be reached: while it cannot (it may be starting with
    /// this node), retries with backoff for up to `connect_retry_for`. Only unreachability is
    /// retried; a refused token or a failed handshake is not.
    async fn connect_retrying(&self) -> Result<Connection, AdapterError> {
        let until = Instant::now() + self.config.connect_retry_for;
        let mut pause = Duration::from_millis(250);
        while !self.reachable().await && Instant::now() + pause < until {
            tracing::info!(
                endpoint = %self.config.endpoint,
                retry_in_ms = pause.as_millis() as u64,
                "the MCP server is not reachable yet"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        self.connect().await
    }

    /// Whether the endpoint answers HTTP at all (any status).
    async fn reachable(&self) -> bool {
        match self.http.client().get(&self.config.endpoint).send().await {
            Ok(_) => true,
            Err(error) => !(error.is_connect() || error.is_timeout()),
        }
    }

    async fn connect(&self) -> Result<Connection, AdapterError> {
        let transport =
            StreamableHttpClientTransportConfig::with_uri(self.config.endpoint.as_str());
        // The token is read from the capabilities on every request (see `UpstreamClient`).
        let credential = match &self.config.token_service {
            Some(service) if self.config.capabilities.get(service).is_none() => {
                return Err(AdapterError::Unauthorized(format!(
                    "no credential for `{service}` in the import's capabilities"
                )));
            }
            Some(service) => Some((self.config.capabilities.clone(), service.clone())),
            None => None,
        };
        let client = UpstreamClient {
            http: (*self.http.client()).clone(),
            credential,
        };
        let transport = StreamableHttpClientTransport::with_client(client, transport);
        let info = ClientConfig::new(
            Default::default(),
            Implementation::new("alknet-http", env!("CARGO_PKG_VERSION")),
        );
        info.serve(transport).await.map_err(|e| {
            if e.auth_challenge().is_some() {
                AdapterError::Unauthorized(format!(
                    "{}: the server refused the token",
                    self.config.endpoint
                ))
            } else {
                AdapterError::discovery_caused(self.config.endpoint.to_string(), e)
            }
        })
    }

    /// Connects, lists every tool (all pages) and builds one registration per tool.
    pub async fn plan(&self) -> Result<McpImport, AdapterError> {
        if self.config.namespace.is_empty() || self.config.namespace.contains('/') {
            return Err(AdapterError::InvalidConfig(format!(
                "namespace `{}` must be one non-empty segment",
                self.config.namespace
            )));
        }
        let connection = Arc::new(self.connect_retrying().await?);
        let tools = connection
            .list_all_tools()
            .await
            .map_err(|e| AdapterError::discovery_caused("tools/list", e))?;
        let mut import = McpImport {
            registrations: Vec::new(),
            skipped: Vec::new(),
        };
        let mut names = std::collections::HashMap::new();
        for tool in tools {
            if self
                .config
                .tools
                .as_ref()
                .is_some_and(|only| !only.contains(tool.name.as_ref()))
                || self.config.exclude.contains(tool.name.as_ref())
            {
                continue;
            }
            let slug = match self.config.rename.get(tool.name.as_ref()) {
                Some(renamed) => slugify(renamed),
                None => slugify(&tool.name),
            };
            if slug.is_empty() {
                import.skipped.push((
                    tool.name.to_string(),
                    "the name has no usable character".into(),
                ));
                continue;
            }
            let name = imported_name(&self.config.namespace, &slug);
            if let Some(first) = names.insert(name.clone(), tool.name.to_string()) {
                return Err(AdapterError::NameCollision {
                    name,
                    first: format!("tool `{first}`"),
                    second: format!("tool `{}`", tool.name),
                });
            }
            let input = Value::Object((*tool.input_schema).clone());
            if let Err(e) = jsonschema::validator_for(&input) {
                import.skipped.push((
                    tool.name.to_string(),
                    format!("input schema is not usable: {e}"),
                ));
                continue;
            }
            import
                .registrations
                .push(self.registration(name, &tool, input, connection.clone()));
        }
        Ok(import)
    }

    fn registration(
        &self,
        name: String,
        tool: &Tool,
        input: Value,
        connection: Arc<Connection>,
    ) -> HandlerRegistration {
        let output = tool
            .output_schema
            .as_ref()
            .map_or_else(content_blocks_schema, |s| Value::Object((**s).clone()));
        // What the server says of its tool: one that only reads is a Query; one that may be
        // repeated with the same effect is an idempotent Mutation.
        let hints = tool.annotations.as_ref();
        let read_only = hints.and_then(|h| h.read_only_hint) == Some(true);
        let mut spec = if read_only {
            OperationSpec::query(name)
        } else {
            OperationSpec::mutation(name)
        };
        if !read_only && hints.and_then(|h| h.idempotent_hint) == Some(true) {
            spec = spec.idempotent();
        }
        let mut spec = spec
            .with_visibility(self.config.visibility)
            .with_access_control(self.config.access_control.clone())
            .with_input_schema(input)
            .with_output_schema(output)
            .with_error(
                ErrorDefinition::new(MCP_TOOL_ERROR, "The tool reported an error (`isError`).")
                    .with_schema(json!({
                        "type": "object",
                        "required": ["content"],
                        "properties": {"content": content_blocks_schema(), "structuredContent": {}}
                    }))
                    .with_http_status(502),
            );
        if let Some(description) = tool.description.as_deref().or(tool.title.as_deref()) {
            spec = spec.with_description(description);
        }
        let tool_name = tool.name.to_string();
        let import: Arc<str> = self.config.namespace.as_str().into();
        let handler = HandlerKind::once(move |input, ctx| {
            let connection = connection.clone();
            let tool_name = tool_name.clone();
            let import = import.clone();
            async move {
                let started = std::time::Instant::now();
                let result = call_tool(&connection, tool_name, input).await;
                if let Some(metrics) = ctx.metrics() {
                    let error = result.as_ref().err().map(|e| e.code.as_str());
                    metrics.upstream_request(&import, started.elapsed(), error);
                }
                result
            }
        });
        HandlerRegistration::leaf(spec, handler, Provenance::FromMcp)
            .with_capabilities(self.config.capabilities.clone())
    }
}

impl OperationAdapter for FromMcp {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        Box::pin(async move { Ok(self.plan().await?.registrations) })
    }
}

async fn call_tool(
    connection: &Connection,
    tool: String,
    input: Value,
) -> Result<Value, CallError> {
    let mut params = CallToolRequestParams::new(tool);
    match input {
        Value::Object(arguments) => params = params.with_arguments(arguments),
        Value::Null => {}
        _ => return Err(CallError::invalid_input("tool arguments are an object")),
    }
    // The upstream server joins the call's trace (W3C trace context in `_meta`, SEP-414).
    if let Some(parent) = TraceParent::current() {
        let mut meta = rmcp::model::RequestMetaObject::default();
        meta.set_traceparent(parent.traceparent());
        if let Some(state) = parent.tracestate() {
            meta.set_tracestate(state);
        }
        params.meta = Some(meta);
    }
    // Dropping this future (an abort) cancels the request on the server too.
    let result = connection.call_tool(params).await.map_err(service_error)?;
    tool_result(result)
}

/// A `tools/call` result as output: `structuredContent` when present, else the content blocks
/// unchanged; `isError` → `MCP_TOOL_ERROR` carrying both.
pub fn tool_result(result: CallToolResult) -> Result<Value, CallError> {
    let content = serde_json::to_value(&result.content).unwrap_or(Value::Array(Vec::new()));
    if result.is_error == Some(true) {
        let mut details = json!({ "content": content });
        if let Some(structured) = result.structured_content {
            details["structuredContent"] = structured;
        }
        let message = result
            .content
            .iter()
            .find_map(|c| c.as_text().map(|t| t.text.clone()))
            .unwrap_or_else(|| "the tool reported an error".to_owned());
        return Err(CallError::new(MCP_TOOL_ERROR, message).with_details(details));
    }
    Ok(result.structured_content.unwrap_or(content))
}

fn service_error(error: ServiceError) -> CallError {
    match error {
        ServiceError::McpError(data) if data.code == rmcp::model::ErrorCode::INVALID_PARAMS => {
            CallError::invalid_input(format!(
                "the MCP server refused the arguments: {}",
                data.message
            ))
        }
        ServiceError::Timeout { .. } => CallError::timeout("the MCP server did not answer in time"),
        ServiceError::Cancelled { .. } => CallError::internal("the MCP call was cancelled"),
        other => CallError::internal(format!("MCP call failed: {other}")),
    }
}
