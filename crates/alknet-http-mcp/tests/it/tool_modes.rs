//! Tool modes (gateway, direct, auto), subscriptions as progress, `tools/list_changed`, and
//! the stateless 2026-07-28 revision spoken raw over HTTP.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::{
    HandlerKind, HandlerRegistration, OperationOverlay, OperationSpec, Provenance, Visibility,
};
use alknet_http_mcp::rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use alknet_http_mcp::rmcp::service::{NotificationContext, RoleClient, RunningService, ServiceExt};
use alknet_http_mcp::rmcp::transport::StreamableHttpClientTransport;
use alknet_http_mcp::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use alknet_http_mcp::rmcp::{ClientHandler, model::CallToolResult};
use alknet_http_mcp::{McpConfig, ToolMode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{ADMIN, ALICE, Node, Slow, WAIT, connect, registry, reqwest_client, start};

fn tool_names(tools: &[alknet_http_mcp::rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

async fn call(client: &crate::Client, name: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await
        .unwrap()
}

#[tokio::test]
async fn direct_mode_lists_one_tool_per_operation_per_caller() {
    let node = start(
        registry(Arc::default()),
        McpConfig::default().with_tools(ToolMode::Direct),
    )
    .await;
    let alice = connect(&node.url(), Some(ALICE)).await.unwrap();
    let tools = alice.list_all_tools().await.unwrap();
    let names = tool_names(&tools);
    // Sorted by operation name, nothing hidden or forbidden.
    assert!(names.contains(&"demo.echo".to_owned()), "{names:?}");
    assert!(names.contains(&"demo.feed".to_owned()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n == "admin.stats" || n == "demo.hidden")
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let echo = tools.iter().find(|t| t.name == "demo.echo").unwrap();
    assert_eq!(echo.title.as_deref(), Some("demo/echo"));
    assert_eq!(echo.description.as_deref(), Some("Echo the input"));
    assert_eq!(
        *echo.input_schema,
        *json!({"type": "object"}).as_object().unwrap()
    );
    let hints = echo.annotations.clone().unwrap();
    assert_eq!(
        (
            hints.read_only_hint,
            hints.idempotent_hint,
            hints.destructive_hint
        ),
        (Some(true), Some(true), Some(false))
    );
    let register = tools.iter().find(|t| t.name == "demo.register").unwrap();
    assert_eq!(
        register.annotations.clone().unwrap().read_only_hint,
        Some(false)
    );
    // A subscription's tool returns the items it collected.
    let feed = tools.iter().find(|t| t.name == "demo.feed").unwrap();
    assert_eq!(
        feed.output_schema.as_ref().unwrap()["properties"]["items"]["items"],
        json!({"type": "integer"})
    );
    // An admin sees more.
    let admin = connect(&node.url(), Some(ADMIN)).await.unwrap();
    let admin_names = tool_names(&admin.list_all_tools().await.unwrap());
    assert!(admin_names.contains(&"admin.stats".to_owned()));

    // Calls: the output is the structured result, under `result` when the output schema does
    // not promise an object (demo/echo declares none); a failure is an error result carrying
    // the CallError as JSON text.
    let echo_output = echo.output_schema.as_deref().unwrap();
    assert_eq!(echo_output["required"], json!(["result"]));
    let echoed = call(&alice, "demo.echo", json!({"x": 1})).await;
    assert_eq!(echoed.is_error, Some(false));
    assert_eq!(echoed.structured_content, Some(json!({"result": {"x": 1}})));
    let who = call(&alice, "demo.whoami", json!({})).await;
    assert_eq!(
        who.structured_content,
        Some(json!({"result": {"id": "alice"}}))
    );
    let taken = call(&alice, "demo.register", json!({})).await;
    assert_eq!(taken.is_error, Some(true));
    let error: Value = serde_json::from_str(&taken.content[0].as_text().unwrap().text).unwrap();
    assert_eq!(error["code"], "NAME_TAKEN");
    let forbidden = call(&alice, "admin.stats", json!({})).await;
    assert_eq!(forbidden.is_error, Some(true));
    // The gateway tools answer in every mode.
    let via_gateway = call(
        &alice,
        "call",
        json!({"operation": "demo/echo", "input": {"y": 2}}),
    )
    .await;
    assert_eq!(
        via_gateway.structured_content,
        Some(json!({"output": {"y": 2}}))
    );
    // Unknown and hidden tools are protocol errors.
    for name in ["demo.nope", "demo.hidden", "nodots"] {
        let error = alice
            .call_tool(CallToolRequestParams::new(name.to_owned()))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown tool"),
            "{name}: {error}"
        );
    }
    alice.cancel().await.unwrap();
    admin.cancel().await.unwrap();
}

#[tokio::test]
async fn auto_mode_goes_gateway_past_its_limit() {
    // alice may call 8 operations (services/list and services/schema included).
    let small = start(
        registry(Arc::default()),
        McpConfig::default().with_tools(ToolMode::Auto { max_tools: 20 }),
    )
    .await;
    let client = connect(&small.url(), Some(ALICE)).await.unwrap();
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(names.contains(&"demo.echo".to_owned()), "{names:?}");
    client.cancel().await.unwrap();
    let large = start(
        registry(Arc::default()),
        McpConfig::default().with_tools(ToolMode::Auto { max_tools: 3 }),
    )
    .await;
    let client = connect(&large.url(), Some(ALICE)).await.unwrap();
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert_eq!(names, ["search", "schema", "call", "batch"]);
    // A direct tool still answers.
    let echoed = call(&client, "demo.echo", json!({"z": 3})).await;
    assert_eq!(echoed.structured_content, Some(json!({"result": {"z": 3}})));
    client.cancel().await.unwrap();
}

/// A client handler that reports progress and list changes.
#[derive(Clone)]
pub(crate) struct Listener {
    progress: mpsc::UnboundedSender<ProgressNotificationParam>,
    list_changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for Listener {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.progress.send(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.list_changed.send(());
    }
}

pub(crate) struct Listening {
    pub(crate) client: RunningService<RoleClient, Listener>,
    pub(crate) progress: mpsc::UnboundedReceiver<ProgressNotificationParam>,
    list_changed: mpsc::UnboundedReceiver<()>,
}

pub(crate) async fn listening(node: &Node) -> Listening {
    let (progress, progress_rx) = mpsc::unbounded_channel();
    let (list_changed, list_changed_rx) = mpsc::unbounded_channel();
    let config = StreamableHttpClientTransportConfig::with_uri(node.url()).auth_header(ALICE);
    let transport = StreamableHttpClientTransport::with_client(reqwest_client(), config);
    let client = Listener {
        progress,
        list_changed,
    }
    .serve(transport)
    .await
    .unwrap();
    Listening {
        client,
        progress: progress_rx,
        list_changed: list_changed_rx,
    }
}

pub(crate) fn with_progress(name: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    let mut params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
    params.meta = Some(meta);
    params
}

#[tokio::test]
async fn a_subscription_streams_progress_within_bounds_and_stops_on_cancel() {
    let slow = Arc::new(Slow::default());
    let node = start(
        registry(slow.clone()),
        McpConfig::default()
            .with_tools(ToolMode::Direct)
            .with_subscription_max_items(5),
    )
    .await;
    let mut session = listening(&node).await;
    // Bounded by max_items: five items as progress, then the result; the handler is ended.
    let result = session
        .client
        .call_tool(with_progress("demo.feed", json!({})))
        .await
        .unwrap();
    assert_eq!(
        result.structured_content,
        Some(json!({"items": [0, 1, 2, 3, 4], "ended": "max_items"}))
    );
    tokio::time::timeout(WAIT, slow.aborted.notified())
        .await
        .expect("the bound ended the subscription");
    let mut seen = Vec::new();
    while let Ok(progress) = session.progress.try_recv() {
        seen.push((progress.progress, progress.message.unwrap_or_default()));
    }
    assert_eq!(
        seen,
        (1..=5)
            .map(|n| (n as f64, (n - 1).to_string()))
            .collect::<Vec<_>>()
    );
    // Through the gateway `call` tool, cancelled by the client mid-stream.
    let peer = session.client.peer().clone();
    let running = tokio::spawn(async move {
        peer.call_tool(with_progress("call", json!({"operation": "demo/feed"})))
            .await
    });
    let first = tokio::time::timeout(WAIT, session.progress.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.progress, 1.0);
    running.abort();
    tokio::time::timeout(WAIT, slow.aborted.notified())
        .await
        .expect("the handler saw the cancel");
    session.client.cancel().await.unwrap();
}

fn peer_overlay(name: &str) -> Arc<OperationOverlay> {
    let overlay = Arc::new(OperationOverlay::new());
    overlay
        .register_imported(HandlerRegistration::leaf(
            OperationSpec::query(name).with_visibility(Visibility::External),
            HandlerKind::once(|_, _| async { Ok(json!("from a peer")) }),
            Provenance::FromCall,
        ))
        .unwrap();
    overlay
}

#[tokio::test]
async fn a_legacy_session_hears_when_its_tools_change() {
    let registry = registry(Arc::default());
    let node = start(
        registry.clone(),
        McpConfig::default().with_tools(ToolMode::Direct),
    )
    .await;
    let mut session = listening(&node).await;
    let before = tool_names(&session.client.list_all_tools().await.unwrap());
    assert!(!before.contains(&"peer.op".to_owned()));
    let overlay = peer_overlay("peer/op");
    registry.peers().attach("peer-1", overlay.clone());
    tokio::time::timeout(WAIT, session.list_changed.recv())
        .await
        .expect("told of the change")
        .unwrap();
    let after = tool_names(&session.client.list_all_tools().await.unwrap());
    assert!(after.contains(&"peer.op".to_owned()), "{after:?}");
    registry.peers().detach("peer-1", &overlay);
    tokio::time::timeout(WAIT, session.list_changed.recv())
        .await
        .expect("told of the peer leaving")
        .unwrap();
    session.client.cancel().await.unwrap();
}

/// The per-request envelope of the 2026-07-28 revision.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
    })
}

/// One 2026-07-28 request with its required headers, no session: the JSON-RPC messages of
/// the answer (an SSE stream or one JSON body) and whether a session id came back.
async fn modern(
    url: &str,
    id: u64,
    method: &str,
    name: Option<&str>,
    mut params: Value,
) -> (Vec<Value>, bool) {
    params["_meta"] = match params.get("_meta") {
        Some(extra) => {
            let mut meta = modern_meta();
            for (k, v) in extra.as_object().unwrap() {
                meta[k] = v.clone();
            }
            meta
        }
        None => modern_meta(),
    };
    let mut request = reqwest_client()
        .post(url)
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .body(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string());
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{method}");
    let session = response.headers().contains_key("mcp-session-id");
    let sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let body = response.text().await.unwrap();
    let messages = if sse {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter(|data| !data.trim().is_empty())
            .map(|data| serde_json::from_str(data.trim()).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&body).unwrap()]
    };
    (messages, session)
}

pub(crate) async fn modern_sequence(url: &str) -> Vec<String> {
    let (discover, session) = modern(url, 1, "server/discover", None, json!({})).await;
    assert!(!session, "the 2026-07-28 revision has no sessions");
    let result = &discover.last().unwrap()["result"];
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{result}"
    );
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    let (listed, _) = modern(url, 2, "tools/list", None, json!({})).await;
    let tools: Vec<String> = listed.last().unwrap()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let (called, _) = modern(
        url,
        3,
        "tools/call",
        Some("demo.echo"),
        json!({"name": "demo.echo", "arguments": {"raw": true}}),
    )
    .await;
    assert_eq!(
        called.last().unwrap()["result"]["structuredContent"],
        json!({"result": {"raw": true}})
    );
    tools
}

#[tokio::test]
async fn the_2026_07_28_revision_is_stateless() {
    let slow = Arc::new(Slow::default());
    let node = start(
        registry(slow.clone()),
        McpConfig::default()
            .with_tools(ToolMode::Direct)
            .with_subscription_max_items(3),
    )
    .await;
    let tools = modern_sequence(&node.url()).await;
    assert!(tools.contains(&"demo.feed".to_owned()), "{tools:?}");
    // A subscription's progress rides the request's own stream, before its result.
    let (messages, _) = modern(
        &node.url(),
        4,
        "tools/call",
        Some("demo.feed"),
        json!({"name": "demo.feed", "arguments": {}, "_meta": {"progressToken": "p1"}}),
    )
    .await;
    let progress: Vec<&Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{messages:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "p1");
    assert_eq!(
        messages.last().unwrap()["result"]["structuredContent"],
        json!({"items": [0, 1, 2], "ended": "max_items"})
    );
}

#[tokio::test]
async fn a_2026_07_28_listener_hears_when_tools_change() {
    let registry = registry(Arc::default());
    let node = start(
        registry.clone(),
        McpConfig::default().with_tools(ToolMode::Direct),
    )
    .await;
    let body = json!({
        "jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
        "params": {"_meta": modern_meta(), "notifications": {"toolsListChanged": true}}
    });
    let response = reqwest_client()
        .post(node.url())
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream();
    let mut seen = String::new();
    let overlay = peer_overlay("peer/late");
    let attach = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        registry.peers().attach("peer-2", overlay.clone());
    };
    let read = async {
        use futures::StreamExt as _;
        while let Some(chunk) = events.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("notifications/tools/list_changed") {
                return;
            }
        }
    };
    let ((), done) = tokio::join!(attach, tokio::time::timeout(WAIT, read));
    assert!(done.is_ok(), "no list_changed on the listen stream: {seen}");
}
