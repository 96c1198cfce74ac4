//! `to_mcp` through rmcp's client.

use std::sync::Arc;

use alknet_http_mcp::rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use alknet_http_mcp::rmcp::service::ServiceError;
use alknet_http_mcp::{McpConfig, ToolMode};
use serde_json::{Value, json};

use crate::{ADMIN, ALICE, Client, Slow, connect, registry, reqwest_client, start};

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments are an object"),
    }
}

async fn tool(
    client: &Client,
    name: &'static str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(args(arguments)))
        .await
}

/// A raw JSON-RPC POST to `/mcp` as alice, with an optional session id and `Host`.
fn raw_post(
    node: &crate::Node,
    session: Option<&str>,
    host: Option<&str>,
    body: &Value,
) -> alknet_http_core::client::reqwest::RequestBuilder {
    let mut request = reqwest_client()
        .post(node.url())
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request
}

fn gateway() -> McpConfig {
    McpConfig::default().with_tools(ToolMode::Gateway)
}

fn names(result: &CallToolResult) -> Vec<String> {
    result.structured_content.as_ref().unwrap()["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn exactly_four_tools_with_schemas_in_gateway_mode() {
    let node = start(registry(Arc::default()), gateway()).await;
    let client = connect(&node.url(), Some(ALICE)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let listed: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(listed, ["search", "schema", "call", "batch"]);
    for tool in &tools {
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            tool.name
        );
        let output = tool
            .output_schema
            .as_ref()
            .expect("every tool has an output schema");
        assert_eq!(output.get("type"), Some(&json!("object")), "{}", tool.name);
        assert!(tool.description.as_deref().is_some_and(|d| d.len() > 20));
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_schema_call_round_trip_filtered_per_caller() {
    let node = start(registry(Arc::default()), gateway()).await;
    let alice = connect(&node.url(), Some(ALICE)).await.unwrap();
    // Filtered like /search: no Internal, no op alice may not call; subscriptions are listed
    // (the `call` tool streams them).
    let all = tool(&alice, "search", json!({})).await.unwrap();
    assert_eq!(all.is_error, Some(false));
    let listed = names(&all);
    assert!(listed.contains(&"demo/echo".to_owned()), "{listed:?}");
    assert!(listed.contains(&"demo/ticks".to_owned()), "{listed:?}");
    for absent in ["demo/hidden", "admin/stats"] {
        assert!(
            !listed.contains(&absent.to_owned()),
            "{absent} in {listed:?}"
        );
    }
    // The text block carries the same JSON.
    let text = all.content[0].as_text().unwrap().text.clone();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        all.structured_content.clone().unwrap()
    );
    let found = tool(&alice, "search", json!({"query": "ECHO"}))
        .await
        .unwrap();
    assert_eq!(names(&found), ["demo/echo"]);
    let by_ns = tool(&alice, "search", json!({"namespace": "admin"}))
        .await
        .unwrap();
    assert!(names(&by_ns).is_empty());
    // schema → call.
    let schema = tool(&alice, "schema", json!({"operation": "/demo/echo"}))
        .await
        .unwrap();
    let spec = schema.structured_content.unwrap();
    assert_eq!(spec["input_schema"], json!({"type": "object"}));
    let called = tool(
        &alice,
        "call",
        json!({"operation": spec["name"], "input": {"x": 1}}),
    )
    .await
    .unwrap();
    assert_eq!(called.is_error, Some(false));
    assert_eq!(called.structured_content, Some(json!({"output": {"x": 1}})));
    // The caller's identity reaches the handler.
    let who = tool(&alice, "call", json!({"operation": "demo/whoami"}))
        .await
        .unwrap();
    assert_eq!(
        who.structured_content,
        Some(json!({"output": {"id": "alice"}}))
    );
    // Hidden and unknown operations look alike from schema; an unauthorized one is refused
    // as on `GET /schema` (one rule for every surface).
    for (name, code) in [
        ("demo/hidden", "NOT_FOUND"),
        ("nope/nothing", "NOT_FOUND"),
        ("admin/stats", "FORBIDDEN"),
    ] {
        let refused = tool(&alice, "schema", json!({"operation": name}))
            .await
            .unwrap();
        assert_eq!(refused.is_error, Some(true), "{name}");
        assert_eq!(refused.structured_content.unwrap()["code"], code, "{name}");
    }
    // A scope changes what search shows.
    let admin = connect(&node.url(), Some(ADMIN)).await.unwrap();
    let listed = names(
        &tool(&admin, "search", json!({"namespace": "admin"}))
            .await
            .unwrap(),
    );
    assert_eq!(listed, ["admin/stats"]);
    alice.cancel().await.unwrap();
    admin.cancel().await.unwrap();
}

#[tokio::test]
async fn failures_are_error_results_and_bad_requests_are_protocol_errors() {
    let node = start(registry(Arc::default()), McpConfig::default()).await;
    let client = connect(&node.url(), Some(ALICE)).await.unwrap();
    let cases = [
        (json!({"operation": "demo/register"}), "NAME_TAKEN"),
        (json!({"operation": "admin/stats"}), "FORBIDDEN"),
        (json!({"operation": "demo/hidden"}), "NOT_FOUND"),
        (
            json!({"operation": "demo/echo", "input": 5}),
            "INVALID_INPUT",
        ),
    ];
    for (arguments, code) in cases {
        let result = tool(&client, "call", arguments.clone()).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{arguments}");
        let error = result.structured_content.unwrap();
        assert_eq!(error["code"], code, "{arguments}");
        assert!(error["message"].is_string());
        assert!(error["retryable"].is_boolean());
    }
    // Unknown tools and arguments that break the tool's schema are JSON-RPC errors.
    for (name, arguments) in [
        ("nope", json!({})),
        ("call", json!({})),
        ("call", json!({"operation": "demo/echo", "extra": 1})),
        ("batch", json!({"calls": "x"})),
    ] {
        let error = tool(&client, name, arguments.clone()).await.unwrap_err();
        let ServiceError::McpError(data) = &error else {
            panic!("{name} {arguments}: {error}");
        };
        assert_eq!(data.code.0, -32602, "{name} {arguments}: {}", data.message);
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn batch_keeps_order_and_maps_statuses() {
    let node = start(
        registry(Arc::default()),
        McpConfig::default().with_max_batch_len(3),
    )
    .await;
    let client = connect(&node.url(), Some(ALICE)).await.unwrap();
    let result = tool(
        &client,
        "batch",
        json!({"calls": [
            {"operation": "demo/echo", "input": {"n": 1}},
            {"operation": "demo/register"},
            {"operation": "admin/stats"}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(result.is_error, Some(false));
    let results = result.structured_content.unwrap()["results"].clone();
    assert_eq!(results[0], json!({"output": {"n": 1}}));
    assert_eq!(
        (
            results[1]["error"]["code"].as_str(),
            results[1]["status"].as_u64()
        ),
        (Some("NAME_TAKEN"), Some(409))
    );
    assert_eq!(
        (
            results[2]["error"]["code"].as_str(),
            results[2]["status"].as_u64()
        ),
        (Some("FORBIDDEN"), Some(403))
    );
    let empty = tool(&client, "batch", json!({"calls": []})).await.unwrap();
    assert_eq!(empty.structured_content, Some(json!({"results": []})));
    // Over the configured length: refused as bad arguments.
    let calls: Vec<Value> = (0..4).map(|_| json!({"operation": "demo/echo"})).collect();
    let error = tool(&client, "batch", json!({"calls": calls}))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("maximum of 3"), "{error}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_bearer_layer_gates_mcp() {
    let node = start(registry(Arc::default()), McpConfig::default()).await;
    for token in [None, Some("wrong-token")] {
        let refused = connect(&node.url(), token).await.unwrap_err();
        assert!(
            refused.contains("Auth required") || refused.contains("401"),
            "{token:?}: {refused}"
        );
    }
    // With anonymous access allowed, an anonymous session sees only open operations.
    let open = start(
        registry(Arc::default()),
        McpConfig::default().with_allow_anonymous(true),
    )
    .await;
    let anonymous = connect(&open.url(), None).await.unwrap();
    let who = tool(&anonymous, "call", json!({"operation": "demo/whoami"}))
        .await
        .unwrap();
    assert_eq!(
        who.structured_content,
        Some(json!({"output": {"id": null}}))
    );
    let stats = tool(&anonymous, "call", json!({"operation": "admin/stats"}))
        .await
        .unwrap();
    assert_eq!(stats.structured_content.unwrap()["code"], "FORBIDDEN");
    anonymous.cancel().await.unwrap();
}

#[tokio::test]
async fn cancellation_aborts_the_running_call() {
    let slow = Arc::new(Slow::default());
    let node = start(registry(slow.clone()), McpConfig::default()).await;
    let client = Arc::new(connect(&node.url(), Some(ALICE)).await.unwrap());
    let caller = client.clone();
    let call =
        tokio::spawn(async move { tool(&caller, "call", json!({"operation": "demo/slow"})).await });
    tokio::time::timeout(crate::WAIT, slow.started.notified())
        .await
        .expect("the call started");
    // Dropping the request makes rmcp send notifications/cancelled.
    call.abort();
    tokio::time::timeout(crate::WAIT, slow.aborted.notified())
        .await
        .expect("the handler saw its abort signal");
}

#[tokio::test]
async fn unknown_sessions_are_404_and_hosts_are_checked() {
    let node = start(registry(Arc::default()), McpConfig::default()).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let response = raw_post(&node, Some("no-such-session"), None, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // A DNS-rebinding Host is refused before any MCP processing.
    let response = raw_post(&node, None, Some("evil.example.com"), &list)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_ne!(response.status(), 404);
    // Without a token: 401 with a Bearer challenge.
    let response = reqwest_client()
        .post(node.url())
        .body(list.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn idle_sessions_expire_to_404() {
    let node = start(
        registry(Arc::default()),
        McpConfig::default().with_session_idle_timeout(std::time::Duration::from_millis(300)),
    )
    .await;
    let init = raw_post(
        &node,
        None,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}
        }}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(init);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let ok = raw_post(&node, Some(&session), None, &initialized)
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let expired = raw_post(&node, Some(&session), None, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 404);
}

#[tokio::test]
async fn oversized_requests_are_413() {
    let node = start(
        registry(Arc::default()),
        McpConfig::default().with_max_request_body_bytes(1024),
    )
    .await;
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "x".repeat(4096), "version": "1"}
    }});
    let response = reqwest_client()
        .post(node.url())
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(big.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

/// Every MCP session counts as a live `mcp` session in the metrics until it closes.
#[tokio::test]
async fn live_sessions_are_counted() {
    use alknet_http_core::metrics::CallMetrics;
    use alknet_http_core::{Capabilities, HandlerKind, OperationRegistry, OperationSpec};

    let metrics = Arc::new(CallMetrics::new());
    let registry = OperationRegistry::builder()
        .with_metrics(metrics.clone())
        .with_leaf(
            OperationSpec::query("demo/echo"),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let node = start(registry, McpConfig::default()).await;
    let live = || {
        metrics
            .encode()
            .lines()
            .find_map(|line| line.strip_prefix(r#"alknet_sessions{surface="mcp"} "#))
            .map_or(0.0, |value| value.parse::<f64>().unwrap())
    };
    assert_eq!(live(), 0.0);
    let first = connect(&node.url(), Some(ALICE)).await.unwrap();
    let second = connect(&node.url(), Some(ALICE)).await.unwrap();
    tool(
        &first,
        "call",
        json!({"operation": "/demo/echo", "input": 1}),
    )
    .await
    .unwrap();
    assert_eq!(live(), 2.0);
    // Closing the client ends its session (`DELETE`), and the session's handler with it.
    first.cancel().await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while live() != 1.0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "still {} live", live());
    drop(second);
}
