//! `to_mcp`: the node's operations behind four MCP tools over streamable HTTP (http-surfaces §11).

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::dispatch::{
    BatchCall, BatchLimits, CallOptions, GatewayDispatch, SearchQuery,
};
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::metrics::SessionGuard;
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{CallError, Identity};
use axum::Router;
use axum::middleware;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::edge::{self, Edge, SessionBindings};
use crate::span;

/// The path `to_mcp` is served at unless configured otherwise.
pub const DEFAULT_PATH: &str = "/mcp";

/// Configuration of the MCP surface, each field with a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpConfig {
    /// The endpoint. Default `/mcp`.
    pub path: String,
    /// Accepted `Host` values (`host` or `host:port`), a guard against DNS rebinding. Default:
    /// loopback names only (`localhost`, `127.0.0.1`, `::1`); a public node lists its names.
    /// Empty: any host.
    pub allowed_hosts: Vec<String>,
    /// Whether requests without a valid bearer token may use MCP (they then see only operations
    /// open to anonymous callers). Default `false`: 401 with `WWW-Authenticate: Bearer`.
    pub allow_anonymous: bool,
    /// Largest JSON-RPC request body, in bytes. Default 4 MiB.
    pub max_request_body_bytes: usize,
    /// Most calls in one `batch` tool call. Default 100.
    pub max_batch_len: usize,
    /// Calls of one `batch` tool call running at once. Default 8.
    pub batch_concurrency: usize,
    /// Keep-alive interval of the SSE response streams. Default 15 s.
    pub sse_keep_alive: Duration,
    /// A session idle this long is closed; its id then answers 404 and clients re-initialise.
    /// Default 5 min.
    pub session_idle_timeout: Duration,
    /// Cancel to end every MCP session (server shutdown).
    pub shutdown: CancellationToken,
}

impl McpConfig {
    /// Sets `path`: the endpoint. Default `/mcp`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `allowed_hosts`: accepted `Host` values (`host` or `host:port`), a guard against DNS rebinding. Default:
    #[must_use]
    pub fn with_allowed_hosts(mut self, allowed_hosts: Vec<String>) -> Self {
        self.allowed_hosts = allowed_hosts;
        self
    }

    /// Sets `allow_anonymous`: whether requests without a valid bearer token may use MCP (they then see only operations
    #[must_use]
    pub fn with_allow_anonymous(mut self, allow_anonymous: bool) -> Self {
        self.allow_anonymous = allow_anonymous;
        self
    }

    /// Sets `max_request_body_bytes`: largest JSON-RPC request body, in bytes. Default 4 MiB.
    #[must_use]
    pub fn with_max_request_body_bytes(mut self, max_request_body_bytes: usize) -> Self {
        self.max_request_body_bytes = max_request_body_bytes;
        self
    }

    /// Sets `max_batch_len`: most calls in one `batch` tool call. Default 100.
    #[must_use]
    pub fn with_max_batch_len(mut self, max_batch_len: usize) -> Self {
        self.max_batch_len = max_batch_len;
        self
    }

    /// Sets `batch_concurrency`: calls of one `batch` tool call running at once. Default 8.
    #[must_use]
    pub fn with_batch_concurrency(mut self, batch_concurrency: usize) -> Self {
        self.batch_concurrency = batch_concurrency;
        self
    }

    /// Sets `sse_keep_alive`: keep-alive interval of the SSE response streams. Default 15 s.
    #[must_use]
    pub fn with_sse_keep_alive(mut self, sse_keep_alive: Duration) -> Self {
        self.sse_keep_alive = sse_keep_alive;
        self
    }

    /// Sets `session_idle_timeout`: a session idle this long is closed; its id then answers 404 and clients re-initialise.
    #[must_use]
    pub fn with_session_idle_timeout(mut self, session_idle_timeout: Duration) -> Self {
        self.session_idle_timeout = session_idle_timeout;
        self
    }

    /// Sets `shutdown`: cancel to end every MCP session (server shutdown).
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            path: DEFAULT_PATH.to_owned(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allow_anonymous: false,
            max_request_body_bytes: 4 << 20,
            max_batch_len: 100,
            batch_concurrency: 8,
            sse_keep_alive: Duration::from_secs(15),
            session_idle_timeout: Duration::from_secs(300),
            shutdown: CancellationToken::new(),
        }
    }
}

impl McpConfig {
    /// The paths the MCP surface reserves (its endpoint).
    pub fn paths(&self) -> Vec<String> {
        vec![self.path.clone()]
    }
}

/// The four tools and their dispatch; one per MCP session, sharing the dispatch.
#[derive(Clone)]
struct GatewayTools {
    dispatch: GatewayDispatch,
    tools: Arc<ToolSet>,
    batch_limits: BatchLimits,
    /// The session counted live in the metrics until its handler (and every clone) drops.
    _live: Option<Arc<SessionGuard>>,
}

struct ToolSet {
    tools: Vec<Tool>,
    validators: Vec<jsonschema::Validator>,
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn call_error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message", "retryable"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "retryable": {"type": "boolean"},
            "retry_after_ms": {"type": "integer", "minimum": 0},
            "details": {}
        }
    })
}

/// The input and output schemas of the four tools.
fn tool_definitions() -> Vec<(&'static str, &'static str, Value, Value, bool)> {
    let summary = json!({
        "type": "object",
        "required": ["name", "namespace", "op_type"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "op_type": {"enum": ["query", "mutation"]},
            "description": {"type": "string"}
        }
    });
    let operation = json!({"type": "string", "minLength": 1, "description": "The operation name, e.g. `/demo/echo`."});
    let one_call = json!({
        "type": "object",
        "required": ["operation"],
        "additionalProperties": false,
        "properties": {
            "operation": operation,
            "input": {"description": "The operation's input (see the `schema` tool). Default null."}
        }
    });
    vec![
        (
            "search",
            "Find the operations you may call: names, namespaces, types and descriptions. Filter by a case-insensitive text `query` (name or description) and/or an exact `namespace`. Subscriptions are not listed.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "query": {"type": "string"},
                    "namespace": {"type": "string"}
                }
            }),
            json!({
                "type": "object",
                "required": ["operations"],
                "properties": {"operations": {"type": "array", "items": summary}}
            }),
            true,
        ),
        (
            "schema",
            "The full specification of one operation: input and output JSON Schemas, declared errors and access control.",
            json!({
                "type": "object",
                "required": ["operation"],
                "additionalProperties": false,
                "properties": {"operation": operation}
            }),
            // Error results carry a CallError as structured content, and SDK clients validate it
            // against this schema too (the TypeScript SDK does): allow both shapes.
            json!({"type": "object", "anyOf": [
                {"required": ["name", "op_type", "input_schema"]},
                call_error_schema()
            ]}),
            true,
        ),
        (
            "call",
            "Call one query or mutation with its input. The result is `{\"output\": …}`; a failure is an error result carrying the call error (`code`, `message`, `retryable`, `details`).",
            one_call.clone(),
            json!({"type": "object", "anyOf": [
                {"required": ["output"], "properties": {"output": {}}},
                call_error_schema()
            ]}),
            false,
        ),
        (
            "batch",
            "Call several queries or mutations independently (not a transaction). `results` has the same length and order as `calls`; each is `{\"output\": …}` or `{\"error\": CallError, \"status\": <HTTP status>}`.",
            json!({
                "type": "object",
                "required": ["calls"],
                "additionalProperties": false,
                "properties": {"calls": {"type": "array", "items": one_call}}
            }),
            json!({
                "type": "object",
                "required": ["results"],
                "properties": {"results": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"output": {}, "error": call_error_schema(), "status": {"type": "integer"}}
                }}}
            }),
            false,
        ),
    ]
}

impl ToolSet {
    fn new() -> Self {
        let mut tools = Vec::new();
        let mut validators = Vec::new();
        for (name, description, input, output, read_only) in tool_definitions() {
            validators.push(
                jsonschema::validator_for(&input).unwrap_or_else(|e| {
                    unreachable!("the {name} tool's input schema compiles: {e}")
                }),
            );
            let mut annotations = ToolAnnotations::new();
            annotations.read_only_hint = Some(read_only);
            tools.push(
                Tool::new(name, description, object(input))
                    .with_raw_output_schema(object(output))
                    .with_annotations(annotations),
            );
        }
        ToolSet { tools, validators }
    }
}

/// What the bearer layer resolved for this MCP request.
fn identity_of(context: &RequestContext<RoleServer>) -> Option<Arc<Identity>> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ResolvedIdentity>())
        .and_then(|resolved| resolved.0.clone())
}

fn success(structured: Value) -> CallToolResponse {
    CallToolResult::structured(structured).into()
}

fn failure_result(error: &CallError) -> CallToolResponse {
    CallToolResult::structured_error(serde_json::to_value(error).unwrap_or(Value::Null)).into()
}

impl GatewayTools {
    fn search(&self, identity: Option<&Identity>, args: &JsonObject) -> CallToolResponse {
        let text = |key| args.get(key).and_then(Value::as_str).map(str::to_owned);
        // MCP cannot call subscriptions: they are not listed.
        let query = SearchQuery::default()
            .text(text("query"))
            .namespace(text("namespace"));
        let operations = self.dispatch.search(identity, &query);
        success(json!({ "operations": operations }))
    }

    fn schema(&self, identity: Option<&Identity>, args: &JsonObject) -> CallToolResponse {
        let operation = args
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.dispatch.schema(identity, operation) {
            Ok(op) => success(serde_json::to_value(op.spec()).unwrap_or(Value::Null)),
            Err(failure) => failure_result(&failure.error),
        }
    }

    /// The options of a tool call: the client's cancel (or the session's end) is the caller
    /// going away, under the dispatch's disconnect policy. The one call of a `call` tool
    /// records itself on the request's span (`host`), and reports the client's `_meta` trace
    /// context in the access log.
    fn options(
        context: &RequestContext<RoleServer>,
        host: Option<(tracing::Span, Option<TraceParent>)>,
    ) -> CallOptions {
        let (span, trace_parent) = host.unzip();
        CallOptions {
            // The dispatch makes the call's own child of it.
            abort: Some(context.ct.clone()),
            span,
            trace_parent: trace_parent.flatten(),
            source: context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<SourceAddr>())
                .map(|source| source.0),
            ..CallOptions::default()
        }
    }

    async fn call(
        &self,
        identity: Option<Arc<Identity>>,
        call: BatchCall,
        context: &RequestContext<RoleServer>,
        parent: Option<TraceParent>,
    ) -> CallToolResponse {
        match self
            .dispatch
            .call(
                identity,
                &call.operation,
                call.input,
                Self::options(context, Some((tracing::Span::current(), parent))),
            )
            .await
        {
            Ok(output) => success(json!({ "output": output })),
            Err(failure) => failure_result(&failure.error),
        }
    }

    async fn batch(
        &self,
        identity: Option<Arc<Identity>>,
        mut args: JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let calls = match args.remove("calls") {
            Some(Value::Array(calls)) => calls
                .into_iter()
                .map(|call| match call {
                    Value::Object(call) => batch_call(call),
                    _ => batch_call(JsonObject::new()),
                })
                .collect(),
            _ => Vec::new(),
        };
        let outcomes = self
            .dispatch
            .batch(
                identity,
                calls,
                self.batch_limits,
                Self::options(context, None),
            )
            .await
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        Ok(success(json!({ "results": outcomes })))
    }
}

/// One `{operation, input}` of the `call` and `batch` tools (their input schemas have checked
/// its shape), taken apart without copying the input.
fn batch_call(mut call: JsonObject) -> BatchCall {
    BatchCall {
        operation: match call.remove("operation") {
            Some(Value::String(operation)) => operation,
            _ => String::new(),
        },
        input: call.remove("input").unwrap_or(Value::Null),
    }
}

impl ServerHandler for GatewayTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("alknet-http", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The operations of this alknet-http node. Use `search` to find operations, `schema` to read one's input schema, then `call` (or `batch`).",
            )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let parent = span::trace_parent(request.as_ref().and_then(|r| r.meta.as_deref()), &context);
        let _span = span::request_span("tools/list", None, &context, parent.as_ref()).entered();
        Ok(ListToolsResult::with_all_items(self.tools.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parent = span::trace_parent(request.meta.as_deref(), &context);
        let span = span::request_span("tools/call", Some(&request.name), &context, parent.as_ref());
        let answer = self
            .call_tool_in(request, context, parent)
            .instrument(span.clone())
            .await;
        // A refused request; a failed `call` has recorded its error code on the span itself.
        if answer.is_err() {
            alknet_http_core::trace::record_error(&span, "tool_error");
        }
        answer
    }
}

impl GatewayTools {
    /// A `tools/call`, inside its span.
    async fn call_tool_in(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        parent: Option<TraceParent>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(index) = self.tools.tools.iter().position(|t| t.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; the tools are search, schema, call and batch",
                    request.name
                ),
                None,
            ));
        };
        let args = request.arguments.unwrap_or_default();
        let as_value = Value::Object(args);
        let problems: Vec<String> = self.tools.validators[index]
            .iter_errors(&as_value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if !problems.is_empty() {
            return Err(ErrorData::invalid_params(
                format!(
                    "invalid arguments for `{}`: {}",
                    request.name,
                    problems.join("; ")
                ),
                None,
            ));
        }
        let Value::Object(args) = as_value else {
            unreachable!("built from an object above")
        };
        let identity = identity_of(&context);
        Ok(match request.name.as_ref() {
            "search" => self.search(identity.as_deref(), &args),
            "schema" => self.schema(identity.as_deref(), &args),
            "call" => {
                self.call(identity, batch_call(args), &context, parent)
                    .await
            }
            _ => self.batch(identity, args, &context).await?,
        })
    }
}

/// The MCP surface: rmcp's streamable-HTTP server at `config.path`, serving the four gateway
/// tools over `dispatch`. Mount it behind the server's bearer layer (`alknet-http-server`
/// does), which resolves the identity each tool call runs as.
///
/// ```
/// use std::sync::Arc;
/// use alknet_http_core::{identity::AnonymousOnly, OperationRegistry};
/// use alknet_http_core::dispatch::GatewayDispatch;
/// use alknet_http_mcp::{McpConfig, router};
///
/// let dispatch = GatewayDispatch::new(OperationRegistry::empty(), Arc::new(AnonymousOnly));
/// let app: axum::Router = router(dispatch, McpConfig::default());
/// ```
pub fn router(dispatch: GatewayDispatch, config: McpConfig) -> Router {
    let tools = GatewayTools {
        dispatch: dispatch.with_surface("mcp"),
        tools: Arc::new(ToolSet::new()),
        batch_limits: BatchLimits::default()
            .max_len(config.max_batch_len)
            .concurrency(config.batch_concurrency),
        _live: None,
    };
    let mut server_config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(config.sse_keep_alive))
        .with_max_request_body_bytes(config.max_request_body_bytes)
        .with_cancellation_token(config.shutdown.clone());
    server_config = if config.allowed_hosts.is_empty() {
        server_config.disable_allowed_hosts()
    } else {
        server_config.with_allowed_hosts(config.allowed_hosts.clone())
    };
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(config.session_idle_timeout);
    let sessions = Arc::new(sessions);
    let edge = Edge {
        allow_anonymous: config.allow_anonymous,
        bindings: Arc::new(SessionBindings::new(
            tools.dispatch.identity_provider().clone(),
            sessions.clone(),
            config.shutdown.clone(),
        )),
    };
    // One handler per session: each counts as a live `mcp` session while rmcp keeps it.
    let for_session = move || {
        let live = tools
            .dispatch
            .registry()
            .metrics()
            .map(|metrics| Arc::new(metrics.session_opened("mcp")));
        Ok(GatewayTools {
            _live: live,
            ..tools.clone()
        })
    };
    let service = StreamableHttpService::new(for_session, sessions, server_config);
    Router::new()
        .route_service(&config.path, service)
        .layer(middleware::from_fn_with_state(edge, edge::edge))
}
