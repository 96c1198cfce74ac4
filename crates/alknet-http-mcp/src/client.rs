//! `from_mcp`: an MCP server's tools as operations (http-surfaces §11 "from_mcp").

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use alknet_http_core::adapter::{imported_name, slugify};
use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::progress::{Progress, ProgressSink};
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{
    AdapterError, CallError, ErrorDefinition, HandlerKind, HandlerRegistration, OperationAdapter,
    OperationOverlay, OperationSpec, Provenance,
};
use futures::future::BoxFuture;
use rmcp::ClientHandler;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientConfig, ClientRequest, Implementation, ProgressNotificationParam, ProgressToken,
    ServerResult, Tool,
};
use rmcp::service::PeerRequestOptions;
use rmcp::service::{NotificationContext, RoleClient, RunningService, ServiceError, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::from_mcp_config::FromMcpConfig;
use crate::upstream_client::UpstreamClient;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// The error code of a tool result with `isError: true`.
pub const MCP_TOOL_ERROR: &str = "MCP_TOOL_ERROR";

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

type Connection = RunningService<RoleClient, ImportClient>;

/// The importer's side of the connection: it introduces itself, and tells the follower (if
/// any) when the server's tool list changed. Dropped with the connection, which ends the
/// follower.
struct ImportClient {
    info: ClientConfig,
    changed: Arc<Notify>,
    _closed: DropGuard,
    /// Where the server's progress of each running call goes, by the token the call sent.
    progress: Mutex<HashMap<String, ProgressSink>>,
}

impl ClientHandler for ImportClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let routes = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sink) = routes.get(&params.progress_token.0.to_string()) {
            sink.report(Progress {
                progress: params.progress,
                total: params.total,
                message: params.message,
            });
        }
    }
}

impl ImportClient {
    /// Routes the progress of the request that sent `token` to `sink` until the returned
    /// guard drops.
    fn route_progress(&self, token: ProgressToken, sink: ProgressSink) -> ProgressRoute<'_> {
        let token = token.0.to_string();
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), sink);
        ProgressRoute {
            client: self,
            token,
        }
    }
}

/// One call's progress route; removed when the call ends.
struct ProgressRoute<'a> {
    client: &'a ImportClient,
    token: String,
}

impl Drop for ProgressRoute<'_> {
    fn drop(&mut self) {
        self.client
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.token);
    }
}

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
    async fn connect_retrying(&self, events: Events) -> Result<Connection, AdapterError> {
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
        self.connect(events).await
    }

    /// Whether the endpoint answers HTTP at all (any status).
    async fn reachable(&self) -> bool {
        match self.http.client().get(&self.config.endpoint).send().await {
            Ok(_) => true,
            Err(error) => !(error.is_connect() || error.is_timeout()),
        }
    }

    async fn connect(&self, events: Events) -> Result<Connection, AdapterError> {
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
        let client = ImportClient {
            info: ClientConfig::new(
                Default::default(),
                Implementation::new("alknet-http", env!("CARGO_PKG_VERSION")),
            ),
            changed: events.changed,
            _closed: events.closed.drop_guard(),
            progress: Mutex::new(HashMap::new()),
        };
        client.serve(transport).await.map_err(|e| {
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
        self.check_namespace()?;
        let connection = Arc::new(self.connect_retrying(Events::default()).await?);
        self.plan_on(&connection).await
    }

    /// [`FromMcp::plan`] into `layer`, then keeps `layer` in step with the server: when it
    /// reports its tool list changed, the tools are listed again and replace the layer's
    /// operations in one step (a failed re-import keeps the previous ones). Follows until the
    /// layer or the connection goes away.
    pub async fn follow(self, layer: Arc<OperationOverlay>) -> Result<McpImport, AdapterError> {
        self.check_namespace()?;
        let events = Events::default();
        let (changed, closed) = (events.changed.clone(), events.closed.clone());
        let connection = Arc::new(self.connect_retrying(events).await?);
        let import = self.plan_on(&connection).await?;
        layer
            .replace_all(import.registrations.clone())
            .map_err(|e| AdapterError::InvalidConfig(e.to_string()))?;
        // Weak: the registrations own the connection; the follower must not keep it (or the
        // layer) alive.
        let (connection, layer) = (Arc::downgrade(&connection), Arc::downgrade(&layer));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = changed.notified() => {}
                    () = closed.cancelled() => return,
                }
                let (Some(connection), Some(layer)) = (connection.upgrade(), layer.upgrade())
                else {
                    return;
                };
                self.reimport(&connection, &layer).await;
            }
        });
        Ok(import)
    }

    async fn reimport(&self, connection: &Arc<Connection>, layer: &OperationOverlay) {
        let namespace = &self.config.namespace;
        match self.plan_on(connection).await {
            Ok(import) => {
                let summary = import.summary(namespace);
                match layer.replace_all(import.registrations) {
                    Ok(()) => tracing::info!(%summary, "the MCP server's tools changed"),
                    Err(error) => {
                        tracing::warn!(%namespace, %error, "re-import refused; the previous tools stay");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%namespace, %error, "re-import failed; the previous tools stay");
            }
        }
    }

    fn check_namespace(&self) -> Result<(), AdapterError> {
        if self.config.namespace.is_empty() || self.config.namespace.contains('/') {
            return Err(AdapterError::InvalidConfig(format!(
                "namespace `{}` must be one non-empty segment",
                self.config.namespace
            )));
        }
        Ok(())
    }

    /// Lists every tool (all pages) on `connection` and builds one registration per tool.
    async fn plan_on(&self, connection: &Arc<Connection>) -> Result<McpImport, AdapterError> {
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
                let result = call_tool(&connection, tool_name, input, ctx.progress()).await;
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

/// What the connection tells the importer: tool list changes, and its own end.
#[derive(Default)]
struct Events {
    changed: Arc<Notify>,
    closed: CancellationToken,
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
    progress: Option<&ProgressSink>,
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
    let Some(sink) = progress else {
        // Dropping this future (an abort) cancels the request on the server too.
        let result = connection.call_tool(params).await.map_err(service_error)?;
        return tool_result(result);
    };
    // The caller's surface carries progress: the server's goes there while the call runs.
    // rmcp gives each request its own progress token; it is routed before any notification
    // can come back (sending only queues the request).
    let handle = connection
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .map_err(service_error)?;
    let _route = connection
        .service()
        .route_progress(handle.progress_token.clone(), sink.clone());
    let mut cancel = CancelOnDrop {
        peer: connection.peer().clone(),
        id: Some(handle.id.clone()),
    };
    let result = handle.await_response().await;
    cancel.id = None;
    match result.map_err(service_error)? {
        ServerResult::CallToolResult(result) => tool_result(result),
        _ => Err(CallError::internal(
            "the MCP server answered tools/call with another result",
        )),
    }
}

/// Cancels a request on the server when the call waiting for it is dropped (an abort).
struct CancelOnDrop {
    peer: rmcp::service::Peer<RoleClient>,
    id: Option<rmcp::model::RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            let cancelled =
                CancelledNotificationParam::new(Some(id), Some("the caller went away".to_owned()));
            tokio::spawn(async move {
                let _ = peer.notify_cancelled(cancelled).await;
            });
        }
    }
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
