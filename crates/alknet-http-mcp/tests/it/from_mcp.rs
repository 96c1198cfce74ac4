//! `from_mcp` against real rmcp servers on loopback: a bare one with hand-made tools (paged
//! listing, structured and unstructured results, `isError`), and our own `to_mcp`.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{
    AdapterError, Capabilities, HandlerKind, OperationAdapter, OperationOverlay, OperationRegistry,
    Provenance, Visibility,
};
use alknet_http_mcp::rmcp::ServerHandler;
use alknet_http_mcp::rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, JsonObject,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use alknet_http_mcp::rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer};
use alknet_http_mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use alknet_http_mcp::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use alknet_http_mcp::{FromMcp, FromMcpConfig, MCP_TOOL_ERROR, McpConfig, ToolMode};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{ALICE, Slow, registry, shared_http, start};

const UPSTREAM_TOKEN: &str = "upstream-secret";

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!(),
    }
}

#[derive(Clone)]
struct Upstream;

fn upstream_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "echo",
            "Echo a message, structured",
            object(json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})),
        )
        .with_raw_output_schema(object(json!({"type": "object", "properties": {"echo": {"type": "string"}}})))
        .with_annotations(ToolAnnotations::new().read_only(true)),
        Tool::new("plain", "Say hello as text", object(json!({"type": "object"})))
            .with_annotations(ToolAnnotations::new().read_only(false).idempotent(true)),
        Tool::new("fail", "Always fails", object(json!({"type": "object"}))),
        Tool::new("weird name!", "A name that needs a slug", object(json!({"type": "object"}))),
        Tool::new("broken", "An unusable input schema", object(json!({"type": 12}))),
    ]
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Two tools per page: the importer must follow the cursor.
        let start: usize = request
            .and_then(|r| r.cursor)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let tools = upstream_tools();
        let end = (start + 2).min(tools.len());
        let mut page = ListToolsResult::with_all_items(tools[start..end].to_vec());
        page.next_cursor = (end < tools.len()).then(|| end.to_string());
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        Ok(match request.name.as_ref() {
            "echo" => CallToolResult::structured(json!({"echo": args.get("message")})),
            "plain" => CallToolResult::success(vec![
                ContentBlock::text("hello"),
                ContentBlock::text("{\"not\": \"parsed\"}"),
            ]),
            "fail" => CallToolResult::error(vec![ContentBlock::text("disk full")]),
            _ => CallToolResult::success(vec![]),
        }
        .into())
    }
}

/// The token the upstream accepts now (a test rotates it).
type Accepted = Arc<std::sync::Mutex<String>>;

async fn require_token(State(accepted): State<Accepted>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", accepted.lock().unwrap());
    if request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            "",
        )
            .into_response();
    }
    next.run(request).await
}

struct UpstreamServer {
    url: String,
    stop: CancellationToken,
    sessions: Arc<LocalSessionManager>,
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn upstream() -> UpstreamServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    upstream_on(
        listener,
        Arc::new(std::sync::Mutex::new(UPSTREAM_TOKEN.to_owned())),
    )
}

fn upstream_on(listener: tokio::net::TcpListener, accepted: Accepted) -> UpstreamServer {
    let stop = CancellationToken::new();
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        || Ok(Upstream),
        sessions.clone(),
        StreamableHttpServerConfig::default().with_cancellation_token(stop.clone()),
    );
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(accepted, require_token));
    let addr = listener.local_addr().unwrap();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    UpstreamServer {
        url: format!("http://{addr}/mcp"),
        stop,
        sessions,
    }
}

fn with_token(url: &str) -> FromMcpConfig {
    FromMcpConfig::new(url, "up")
        .with_token(
            "up",
            Capabilities::new().with_http_token("up", UPSTREAM_TOKEN),
        )
        .with_visibility(Visibility::External)
}

fn dispatch(registrations: Vec<alknet_http_core::HandlerRegistration>) -> GatewayDispatch {
    let registry = OperationRegistry::builder()
        .with_all(registrations)
        .build()
        .unwrap();
    GatewayDispatch::new(registry, Arc::new(AnonymousOnly))
}

#[tokio::test]
async fn tools_import_with_schemas_and_results_per_spec() {
    let server = upstream().await;
    let import = FromMcp::new(with_token(&server.url), shared_http())
        .plan()
        .await
        .unwrap();
    let names: Vec<&str> = import
        .registrations
        .iter()
        .map(|r| r.spec.name.as_str())
        .collect();
    assert_eq!(names, ["up/echo", "up/plain", "up/fail", "up/weird_name_"]);
    assert_eq!(import.skipped.len(), 1);
    assert_eq!(import.skipped[0].0, "broken");
    assert!(
        import
            .summary("up")
            .starts_with("mcp up: imported 4 tools, skipped 1 (broken: input schema is not usable")
    );
    let echo = &import.registrations[0];
    assert_eq!(echo.provenance, Provenance::FromMcp);
    assert!(matches!(echo.handler, HandlerKind::Once(_)));
    // The server's hints: a read-only tool is a Query, an idempotent one an idempotent
    // Mutation, one without hints a Mutation.
    assert_eq!(echo.spec.op_type, alknet_http_core::OperationType::Query);
    let plain = &import.registrations[1].spec;
    assert_eq!(plain.op_type, alknet_http_core::OperationType::Mutation);
    assert!(plain.idempotent);
    assert!(!import.registrations[2].spec.idempotent);
    assert_eq!(
        echo.spec.output_schema["properties"]["echo"]["type"],
        "string"
    );
    // Without an outputSchema: the content block union.
    assert_eq!(
        import.registrations[1].spec.output_schema,
        alknet_http_mcp::content_blocks_schema()
    );
    assert!(
        import.registrations[0]
            .spec
            .declared_error(MCP_TOOL_ERROR)
            .is_some()
    );

    let d = dispatch(import.registrations);
    // Structured result → structuredContent.
    let out = d
        .invoke(None, "up/echo", json!({"message": "hi"}))
        .await
        .result
        .unwrap();
    assert_eq!(out, json!({"echo": "hi"}));
    // Unstructured → the content blocks unchanged (no JSON guessing).
    let out = d.invoke(None, "up/plain", json!({})).await.result.unwrap();
    assert_eq!(
        out,
        json!([{"type": "text", "text": "hello"}, {"type": "text", "text": "{\"not\": \"parsed\"}"}])
    );
    // isError → MCP_TOOL_ERROR with the content in details.
    let error = d
        .invoke(None, "up/fail", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(error.code, MCP_TOOL_ERROR);
    assert_eq!(error.message, "disk full");
    assert_eq!(error.details.unwrap()["content"][0]["text"], "disk full");
    // The local input schema is checked first.
    let error = d
        .invoke(None, "up/echo", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(error.code, "INVALID_INPUT");
    // The server forgets the session (expiry, restart): the client re-initialises once and the
    // call goes through.
    server.sessions.sessions.write().await.clear();
    let out = d
        .invoke(None, "up/echo", json!({"message": "again"}))
        .await
        .result
        .unwrap();
    assert_eq!(out, json!({"echo": "again"}));
}

#[tokio::test]
async fn imports_are_internal_by_default_and_refusals_are_typed() {
    let server = upstream().await;
    let config = FromMcpConfig::new(&server.url, "up").with_token(
        "up",
        Capabilities::new().with_http_token("up", UPSTREAM_TOKEN),
    );
    let registrations = FromMcp::new(config, shared_http()).import().await.unwrap();
    assert!(
        registrations
            .iter()
            .all(|r| r.spec.visibility == Visibility::Internal)
    );
    // A wrong token or none: Unauthorized.
    for config in [
        FromMcpConfig::new(&server.url, "up"),
        FromMcpConfig::new(&server.url, "up")
            .with_token("up", Capabilities::new().with_http_token("up", "wrong")),
    ] {
        let error = FromMcp::new(config, shared_http())
            .import()
            .await
            .unwrap_err();
        assert!(matches!(error, AdapterError::Unauthorized(_)), "{error}");
    }
    // Nobody listening: DiscoveryFailed.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = FromMcp::new(
        FromMcpConfig::new(format!("http://{dead}/mcp"), "up")
            .with_connect_retry_for(Duration::ZERO),
        shared_http(),
    )
    .import()
    .await
    .unwrap_err();
    assert!(
        matches!(error, AdapterError::DiscoveryFailed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn tools_are_renamed_and_filtered() {
    let server = upstream().await;
    let config = with_token(&server.url)
        .with_rename([("echo".to_owned(), "say".to_owned())].into())
        .with_exclude(["fail".to_owned()].into());
    let import = FromMcp::new(config, shared_http()).plan().await.unwrap();
    let names: Vec<&str> = import
        .registrations
        .iter()
        .map(|r| r.spec.name.as_str())
        .collect();
    assert_eq!(names, ["up/say", "up/plain", "up/weird_name_"]);
    let out = dispatch(import.registrations)
        .invoke(None, "up/say", json!({"message": "renamed"}))
        .await
        .result
        .unwrap();
    assert_eq!(out, json!({"echo": "renamed"}));
}

#[tokio::test]
async fn a_rotated_token_is_sent_from_the_next_call() {
    let accepted: Accepted = Arc::new(std::sync::Mutex::new("first-token".to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = upstream_on(listener, accepted.clone());
    let capabilities = Capabilities::new().with_http_token("up", "first-token");
    let config = FromMcpConfig::new(&server.url, "up")
        .with_token("up", capabilities.clone())
        .with_visibility(Visibility::External);
    let d = dispatch(FromMcp::new(config, shared_http()).import().await.unwrap());
    let echo = || d.invoke(None, "up/echo", json!({"message": "hi"}));
    assert!(echo().await.result.is_ok());
    // The upstream rotates its token: calls with the old one fail …
    *accepted.lock().unwrap() = "second-token".to_owned();
    assert!(echo().await.result.is_err());
    // … until the node's credentials are rotated too: no re-import, no reconnect by hand.
    assert!(capabilities.rotate("up", "second-token"));
    assert_eq!(echo().await.result.unwrap(), json!({"echo": "hi"}));
}

#[tokio::test]
async fn the_import_waits_for_an_upstream_that_is_starting() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config =
        with_token(&format!("http://{addr}/mcp")).with_connect_retry_for(Duration::from_secs(20));
    let importer = FromMcp::new(config, shared_http());
    let importing = tokio::spawn(async move { importer.plan().await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _server = upstream_on(
        listener,
        Arc::new(std::sync::Mutex::new(UPSTREAM_TOKEN.to_owned())),
    );
    let import = tokio::time::timeout(Duration::from_secs(20), importing)
        .await
        .expect("the import finished once the upstream was up")
        .unwrap()
        .unwrap();
    assert_eq!(import.registrations.len(), 4);
}

#[tokio::test]
async fn a_node_imports_another_nodes_gateway_tools() {
    let node = start(
        registry(Arc::new(Slow::default())),
        McpConfig::default().with_tools(ToolMode::Gateway),
    )
    .await;
    let url = node.url();
    let config = FromMcpConfig::new(url, "remote")
        .with_token(
            "remote",
            Capabilities::new().with_http_token("remote", ALICE),
        )
        .with_visibility(Visibility::External);
    let registrations = FromMcp::new(config, shared_http()).import().await.unwrap();
    let names: Vec<&str> = registrations.iter().map(|r| r.spec.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "remote/search",
            "remote/schema",
            "remote/call",
            "remote/batch"
        ]
    );
    let d = dispatch(registrations);
    // The remote node runs the call as alice (the import's token).
    let out = d
        .invoke(None, "remote/call", json!({"operation": "demo/whoami"}))
        .await
        .result
        .unwrap();
    assert_eq!(out, json!({"output": {"id": "alice"}}));
    // A remote operation failure is an isError result → MCP_TOOL_ERROR with the CallError.
    let error = d
        .invoke(None, "remote/call", json!({"operation": "demo/register"}))
        .await
        .result
        .unwrap_err();
    assert_eq!(error.code, MCP_TOOL_ERROR);
    assert_eq!(
        error.details.unwrap()["structuredContent"]["code"],
        "NAME_TAKEN"
    );
}

#[tokio::test]
async fn a_node_imports_another_nodes_direct_tools() {
    let node = start(
        registry(Arc::new(Slow::default())),
        McpConfig::default().with_tools(ToolMode::Direct),
    )
    .await;
    let config = FromMcpConfig::new(node.url(), "remote")
        .with_token(
            "remote",
            Capabilities::new().with_http_token("remote", ALICE),
        )
        .with_visibility(Visibility::External);
    let registrations = FromMcp::new(config, shared_http()).import().await.unwrap();
    let names: Vec<&str> = registrations.iter().map(|r| r.spec.name.as_str()).collect();
    // What alice may call, one tool each, in name order.
    assert!(names.contains(&"remote/demo.echo"), "{names:?}");
    assert!(!names.contains(&"remote/admin.stats"), "{names:?}");
    assert!(!names.contains(&"remote/demo.hidden"), "{names:?}");
    let d = dispatch(registrations);
    let out = d
        .invoke(None, "remote/demo.echo", json!({"x": 1}))
        .await
        .result
        .unwrap();
    // demo/echo declares no output schema: its tool's result travels under `result`.
    assert_eq!(out, json!({"result": {"x": 1}}));
    let error = d
        .invoke(None, "remote/demo.register", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(error.code, MCP_TOOL_ERROR);
}

/// An upstream whose tool list grows while it runs, and says so.
#[derive(Clone, Default)]
struct Changing {
    grown: Arc<std::sync::atomic::AtomicBool>,
    peers: Arc<std::sync::Mutex<Vec<Peer<RoleServer>>>>,
}

impl ServerHandler for Changing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.peers.lock().unwrap().push(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut names = vec!["one"];
        if self.grown.load(std::sync::atomic::Ordering::SeqCst) {
            names.push("two");
        }
        Ok(ListToolsResult::with_all_items(
            names
                .into_iter()
                .map(|name| Tool::new(name, name, object(json!({"type": "object"}))))
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResult::structured(json!({"tool": request.name})).into())
    }
}

#[tokio::test]
async fn a_followed_import_changes_with_the_servers_tool_list() {
    let upstream = Changing::default();
    let handler = upstream.clone();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().route_service("/mcp", service)).await;
    });
    let layer = Arc::new(OperationOverlay::new());
    let config = FromMcpConfig::new(url, "ch").with_visibility(Visibility::External);
    let import = FromMcp::new(config, shared_http())
        .follow(layer.clone())
        .await
        .unwrap();
    assert_eq!(import.registrations.len(), 1);
    assert_eq!(layer.names(), ["ch/one"]);
    let registry = OperationRegistry::builder()
        .with_layer(layer.clone())
        .build()
        .unwrap();
    let mut changes = registry.peers().changes();
    let d = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
    assert!(d.invoke(None, "ch/two", json!({})).await.result.is_err());
    // The server grows a tool and says so: the layer follows, and the registry's watchers
    // (MCP `tools/list_changed`) hear of it.
    upstream
        .grown
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let peers = upstream.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1);
    peers[0].notify_tool_list_changed().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), changes.changed())
        .await
        .expect("the registry saw the change")
        .unwrap();
    assert_eq!(layer.names(), ["ch/one", "ch/two"]);
    let out = d.invoke(None, "ch/two", json!({})).await.result.unwrap();
    assert_eq!(out, json!({"tool": "two"}));
}

/// An upstream whose one tool reports progress three times before it answers.
#[derive(Clone)]
struct Counting;

impl ServerHandler for Counting {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "count",
                "Counts to three",
                object(json!({"type": "object"})),
            )
            .with_raw_output_schema(object(json!({"type": "object"}))),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let token = request
            .meta
            .as_ref()
            .and_then(|meta| meta.get_progress_token())
            .or_else(|| context.meta.get_progress_token());
        if let Some(token) = token {
            for step in 1..=3 {
                let _ = context
                    .peer
                    .notify_progress(
                        ProgressNotificationParam::new(token.clone(), f64::from(step))
                            .with_total(3.0)
                            .with_message(format!("step {step}")),
                    )
                    .await;
            }
        }
        Ok(CallToolResult::structured(json!({"counted": 3})).into())
    }
}

#[tokio::test]
async fn an_imported_tools_progress_reaches_an_mcp_caller() {
    let service = StreamableHttpService::new(
        || Ok(Counting),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().route_service("/mcp", service)).await;
    });
    let imported = FromMcp::new(
        FromMcpConfig::new(url, "up").with_visibility(Visibility::External),
        shared_http(),
    )
    .import()
    .await
    .unwrap();
    let registry = OperationRegistry::builder()
        .with_all(imported)
        .build()
        .unwrap();
    // A node serving the import on MCP; its client asks for progress.
    let node = start(registry, McpConfig::default().with_tools(ToolMode::Direct)).await;
    let mut session = crate::tool_modes::listening(&node).await;
    let result = session
        .client
        .call_tool(crate::tool_modes::with_progress("up.count", json!({})))
        .await
        .unwrap();
    assert_eq!(result.structured_content, Some(json!({"counted": 3})));
    let mut seen = Vec::new();
    while let Ok(progress) = session.progress.try_recv() {
        seen.push((progress.progress, progress.total, progress.message));
    }
    assert_eq!(
        seen,
        (1..=3)
            .map(|n| (f64::from(n), Some(3.0), Some(format!("step {n}"))))
            .collect::<Vec<_>>()
    );
    session.client.cancel().await.unwrap();
}
