//! One trace across the node and an upstream, exported over OTLP and read back from the real
//! protobuf: an HTTP request carrying the caller's `traceparent` → the node's server span (the
//! HTTP request's, on which its one call records itself) → a composed call → an imported REST
//! upstream, which receives the `traceparent` of that composed call; a hub → spoke call over
//! QUIC; a WebSocket session call whose `meta` carries the caller's context; an MCP tool call
//! whose `_meta` does. The test is the process of both nodes, exporting with the facade's
//! `TraceExport` as the command does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http::core::OperationAdapter as _;
use alknet_http::core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http::core::dispatch::GatewayDispatch;
use alknet_http::core::identity::AnonymousOnly;
use alknet_http::core::meta::CallMeta;
use alknet_http::core::session::OutgoingOptions;
use alknet_http::core::tls::ServerIdentity;
use alknet_http::core::{
    Capabilities, HandlerKind, Identity, OperationRegistry, OperationSpec, ScopedPeerEnv,
    StaticTokenProvider, Visibility,
};
use alknet_http::federation::{Federation, Peer, PeerImport};
use alknet_http::mcp::{FromMcp, FromMcpConfig};
use alknet_http::mcp::{McpConfig, ToolMode};
use alknet_http::openapi::import::{FromOpenApi, HttpServiceConfig, OpenApiSpec};
use alknet_http::telemetry::{OtlpExport, TraceExport};
use alknet_http::{Listener, Node};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::federation::{TOKEN, until};

const UPSTREAM_DOCUMENT: &str = r#"{
  "openapi": "3.1.0",
  "info": {"title": "echo", "version": "1"},
  "paths": {"/echo": {"post": {
    "operationId": "echo",
    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {"200": {"description": "the body", "content": {"application/json": {"schema": {"type": "object"}}}}}
  }}}
}"#;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const WS_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const WS_SPAN: &str = "b7ad6b7169203331";
const MCP_TRACE: &str = "1af7651916cd43dd8448eb211c80319d";
const MCP_SPAN: &str = "c7ad6b7169203332";
const HUB_TRACE: &str = "2af7651916cd43dd8448eb211c80319e";
const HUB_SPAN: &str = "d7ad6b7169203333";
const IMPORT_TRACE: &str = "3af7651916cd43dd8448eb211c80319f";
const IMPORT_SPAN: &str = "e7ad6b7169203334";
const MUTATION_TRACE: &str = "5af7651916cd43dd8448eb211c8031a0";
const MUTATION_SPAN: &str = "f7ad6b7169203335";
const SSE_TRACE: &str = "6af7651916cd43dd8448eb211c8031a1";
const SSE_SPAN: &str = "07ad6b7169203336";

/// One JSON-RPC message to `/mcp` (the SSE or JSON answer's message, and the session id).
async fn mcp(
    http: &alknet_http::core::client::reqwest::Client,
    base: &str,
    session: Option<&str>,
    message: Value,
) -> (Value, Option<String>) {
    let mut request = http
        .post(format!("{base}/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&message);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.unwrap();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap();
    let body = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| !data.is_empty())
        .map_or_else(
            || serde_json::from_str(&text).unwrap_or(Value::Null),
            |data| serde_json::from_str(data).unwrap(),
        );
    (body, session)
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            _ => None,
        })
}

/// An OTLP/HTTP collector that decodes the real protobuf: its URL and the spans it got.
async fn collector() -> (String, Arc<Mutex<Vec<Span>>>) {
    collector_holding_first(None).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `alknet-http serve` with `[telemetry] otlp_endpoint` exports its spans: a caller's
/// `traceparent` parents the node's HTTP server span.
#[tokio::test(flavor = "multi_thread")]
async fn the_command_exports_its_spans_to_the_configured_collector() {
    alknet_http::core::client::install_crypto_provider();
    let (collector, received) = collector().await;
    let dir = crate::cli::temp_dir("otlp-command");
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n\
             [telemetry]\notlp_endpoint = \"{collector}\"\nservice_name = \"edge-7\"\n"
        ),
    )
    .unwrap();
    let node = crate::federation::NodeProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_alknet-http")),
        true,
        &config,
        "node",
    );
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let response = alknet_http::core::client::reqwest::Client::new()
        .post(format!("{}/call", node.http))
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .body(r#"{"operation":"/demo/echo","input":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The batch goes out within the exporter's delay (5 s by default).
    let exported = until(Duration::from_secs(30), || {
        let received = &received;
        async move {
            let spans = received.lock().unwrap();
            spans
                .iter()
                .any(|s| hex(&s.trace_id) == trace && s.name == "demo/echo")
        }
    })
    .await;
    let spans = received.lock().unwrap().clone();
    let names: Vec<_> = spans
        .iter()
        .map(|s| (s.name.as_str(), hex(&s.trace_id)))
        .collect();
    assert!(exported.is_some(), "{names:?}");
    let request = spans.iter().find(|s| s.name == "demo/echo").unwrap();
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(
        attribute(request, "http.request.method").as_deref(),
        Some("POST")
    );
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The collector, holding its first export until `hold` (when given) is notified: its URL
/// and the spans of every export it decoded.
async fn collector_holding_first(
    hold: Option<Arc<tokio::sync::Notify>>,
) -> (String, Arc<Mutex<Vec<Span>>>) {
    let received: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = received.clone();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let url = serve(axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (sink, hold, first) = (sink.clone(), hold.clone(), first.clone());
            async move {
                if let Some(hold) = hold
                    && first.swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    hold.notified().await;
                }
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = sink.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans);
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    ))
    .await;
    (url, received)
}

/// While the collector holds an export, finished spans wait in a queue of
/// `max_queue_spans`; the ones beyond it are dropped and the calls never wait for them.
#[tokio::test(flavor = "multi_thread")]
async fn spans_beyond_the_export_queue_are_dropped_and_calls_do_not_wait() {
    alknet_http::core::client::install_crypto_provider();
    let release = Arc::new(tokio::sync::Notify::new());
    let (collector, received) = collector_holding_first(Some(release.clone())).await;
    let dir = crate::cli::temp_dir("otlp-queue");
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n\
             [telemetry]\notlp_endpoint = \"{collector}\"\n\
             max_queue_spans = 8\nmax_batch_spans = 4\nbatch_delay_ms = 50\n"
        ),
    )
    .unwrap();
    let node = crate::federation::NodeProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_alknet-http")),
        true,
        &config,
        "node",
    );
    let client = alknet_http::core::client::reqwest::Client::new();
    let call = || async {
        client
            .post(format!("{}/call", node.http))
            .body(r#"{"operation":"/demo/echo","input":1}"#)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The first span goes out alone and is held; then 200 more calls, every one answered.
    assert_eq!(call().await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..200 {
        assert_eq!(call().await, 200);
    }
    release.notify_one();
    // The held export and the queue are sent once the collector answers.
    let settled = until(Duration::from_secs(20), || {
        let received = &received;
        async move { received.lock().unwrap().len() >= 8 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received.lock().unwrap().len();
    assert!(settled.is_some(), "{got} spans exported");
    // The held batch (at most 4) and a full queue (8), nowhere near the 201 calls made.
    assert!(got <= 4 + 8, "{got} spans exported past a queue of 8");
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_from_the_caller_through_a_composed_call_to_the_upstream() {
    let (collector, received) = collector().await;
    // The upstream: echoes, and remembers the traceparent it got.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen_by_upstream = seen.clone();
    let seen_mcp: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen_by_mcp_upstream = seen_mcp.clone();
    let upstream = serve(axum::Router::new().route(
        "/echo",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen_by_upstream.clone();
                async move {
                    if let Some(parent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
                        seen.lock().unwrap().push(parent.to_owned());
                    }
                    ([("content-type", "application/json")], body)
                }
            },
        ),
    ))
    .await;

    let export = TraceExport::start(&OtlpExport::new(&collector)).unwrap();
    {
        // As the command composes them: logs with their own filter, and the exporter.
        use tracing_subscriber::Layer as _;
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new("info,rmcp=warn"))
            .boxed();
        tracing_subscriber::registry()
            .with(vec![logs, export.layer().boxed()])
            .try_init()
            .expect("this test owns the process's subscriber");
    }

    // An upstream MCP server (another node's `/mcp`, in this process) that remembers the
    // `traceparent` header of each tools/call, imported with `from_mcp` as `mcpup/*`.
    let upstream_mcp = {
        let upstream_ops = OperationRegistry::builder()
            .with_leaf(
                OperationSpec::query("far/echo"),
                HandlerKind::once(|input, _| async move { Ok(input) }),
                Capabilities::new(),
            )
            .build()
            .unwrap();
        let dispatch = GatewayDispatch::new(upstream_ops, Arc::new(AnonymousOnly));
        let seen = seen_by_mcp_upstream.clone();
        let remember = move |request: axum::extract::Request, next: axum::middleware::Next| {
            let seen = seen.clone();
            async move {
                if let Some(parent) = request.headers().get("traceparent") {
                    seen.lock()
                        .unwrap()
                        .push(parent.to_str().unwrap().to_owned());
                }
                next.run(request).await
            }
        };
        let router = alknet_http::mcp::router(
            dispatch,
            McpConfig::default()
                .with_tools(ToolMode::Gateway)
                .with_allow_anonymous(true)
                .with_allowed_hosts(Vec::new()),
        )
        .layer(axum::middleware::from_fn(remember));
        serve(router).await
    };
    let mcp_import = FromMcp::new(
        FromMcpConfig::new(format!("{upstream_mcp}/mcp"), "mcpup")
            .with_visibility(Visibility::External),
        Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap()),
    )
    .import()
    .await
    .unwrap();
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    let imported = FromOpenApi::new(
        OpenApiSpec::from_json(UPSTREAM_DOCUMENT).unwrap(),
        HttpServiceConfig::new("up", upstream.clone()),
        http,
    )
    .plan()
    .unwrap()
    .into_registrations();
    // Both call the REST upstream. A Mutation runs detached from its HTTP request (a
    // disconnect spares it), on a task of its own: its composed call must still be a child of
    // the request's span.
    let mut registry = OperationRegistry::builder()
        .with_all(imported)
        .with_all(mcp_import);
    for spec in [
        OperationSpec::query("chain/run"),
        OperationSpec::mutation("chain/write"),
    ] {
        registry = registry.with_local(
            spec,
            HandlerKind::once(|input: Value, ctx| async move {
                ctx.call("up/echo", json!({ "body": input })).await
            }),
            None,
            Some(ScopedPeerEnv::allowing(["up/echo"])),
            Capabilities::new(),
        );
    }
    // A subscription's handler works while its stream is read (here: the SSE body, after the
    // request's span has ended): its composed call must be a child of the subscription's span.
    let registry = registry
        .with_local(
            OperationSpec::subscription("chain/watch"),
            HandlerKind::stream(|input: Value, ctx| {
                futures::stream::once(
                    async move { ctx.call("up/echo", json!({ "body": input })).await },
                )
            }),
            None,
            Some(ScopedPeerEnv::allowing(["up/echo"])),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    // The spoke: a node of its own (same process, same exporter) that the hub dials over QUIC
    // and imports `spoke/echo` from, as `s/spoke/echo`.
    let (hub_cert, spoke_cert) = (
        ServerIdentity::self_signed(["hub"]).unwrap(),
        ServerIdentity::self_signed(["spoke"]).unwrap(),
    );
    let spoke = Node::builder()
        .registry(
            OperationRegistry::builder()
                .with_leaf(
                    OperationSpec::query("spoke/echo"),
                    HandlerKind::once(|input, _| async move { Ok(input) }),
                    Capabilities::new(),
                )
                .build()
                .unwrap(),
        )
        .listen(Listener::Quic(
            "127.0.0.1:0".parse().unwrap(),
            spoke_cert.clone(),
        ))
        .federation(Federation::new(spoke_cert.clone()).with_peer(Peer::new(
            Identity::new("hub"),
            &hub_cert.fingerprint_sha256(),
        )))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let node = Node::builder()
        .federation(
            Federation::new(hub_cert).with_peer(
                Peer::new(Identity::new("spoke"), &spoke_cert.fingerprint_sha256())
                    .dialing(spoke.addresses()[0].addr.to_string())
                    .importing(
                        PeerImport::default()
                            .with_prefix("s")
                            .with_visibility(Visibility::External),
                    ),
            ),
        )
        .registry(registry)
        .identity_provider(Arc::new(
            StaticTokenProvider::new()
                .with_token(TOKEN, Identity::new("tracer"))
                .unwrap(),
        ));
    let (node, base) = crate::on_loopback(node).await;

    // A POST to `path` from a caller whose span `span` is in trace `trace`.
    let http = alknet_http::core::client::reqwest::Client::new();
    let traced_post = |path: &str, trace: &str, span: &str, body: &'static str| {
        http.post(format!("{base}{path}"))
            .header("traceparent", format!("00-{trace}-{span}-01"))
            .body(body)
    };
    for (trace, span, body) in [
        (
            CALLER_TRACE,
            CALLER_SPAN,
            r#"{"operation":"/chain/run","input":{"n":1}}"#,
        ),
        (
            MUTATION_TRACE,
            MUTATION_SPAN,
            r#"{"operation":"/chain/write","input":{"n":4}}"#,
        ),
    ] {
        let response = traced_post("/call", trace, span, body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let chain_watch = r#"{"operation":"/chain/watch","input":{"n":5}}"#;
    let response = traced_post("/subscribe", SSE_TRACE, SSE_SPAN, chain_watch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = response.text().await.unwrap();
    assert!(events.contains(r#""n":5"#), "{events}");

    // from_mcp: the import's tools/call carries the context in `_meta` and in its headers.
    let far_echo =
        r#"{"operation":"/mcpup/call","input":{"operation":"/far/echo","input":{"far":1}}}"#;
    let response = traced_post("/call", IMPORT_TRACE, IMPORT_SPAN, far_echo)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // Hub → spoke: the call the hub forwards carries its context to the spoke.
    let peers = node.peers().unwrap().clone();
    let connected = until(Duration::from_secs(10), || {
        let peers = peers.clone();
        async move { peers.ready() }
    })
    .await;
    assert!(connected.is_some(), "{:?}", peers.snapshot());
    let spoke_echo = r#"{"operation":"/s/spoke/echo","input":{"hop":1}}"#;
    let response = traced_post("/call", HUB_TRACE, HUB_SPAN, spoke_echo)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let ws = alknet_http::ws::client::connect(
        &format!("{}/alknet/call", base.replace("http://", "ws://")),
        alknet_http::ws::client::ClientOptions::new(Some(TOKEN.to_owned())),
    )
    .await
    .unwrap();
    let meta = CallMeta::new().with("traceparent", format!("00-{WS_TRACE}-{WS_SPAN}-01"));
    let options = OutgoingOptions {
        meta,
        ..OutgoingOptions::default()
    };
    ws.request("/chain/run", json!({"n": 2}), options)
        .await
        .unwrap();

    // MCP: `_meta.traceparent` of a tools/call parents the call's span.
    let (_, session) = mcp(
        &http,
        &base,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "trace-test", "version": "1"}}}),
    )
    .await;
    let session = session.expect("an MCP session id");
    mcp(
        &http,
        &base,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    let (answer, _) = mcp(
        &http,
        &base,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "call",
            "arguments": {"operation": "/chain/run", "input": {"n": 3}},
            "_meta": {"traceparent": format!("00-{MCP_TRACE}-{MCP_SPAN}-01")}}}),
    )
    .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");

    // The HTTP span ends once its response is written: wait for every span of both traces
    // (other tests of this process may export spans of their own meanwhile).
    let wanted = [
        (CALLER_TRACE, "chain/run"),
        (CALLER_TRACE, "up/echo"),
        (WS_TRACE, "chain/run"),
        (WS_TRACE, "up/echo"),
        (MCP_TRACE, "tools/call call"),
        (MCP_TRACE, "up/echo"),
        (HUB_TRACE, "s/spoke/echo"),
        (HUB_TRACE, "spoke/echo"),
        (IMPORT_TRACE, "mcpup/call"),
        (IMPORT_TRACE, "tools/call call"),
        (MUTATION_TRACE, "chain/write"),
        (MUTATION_TRACE, "up/echo"),
        (SSE_TRACE, "POST"),
        (SSE_TRACE, "chain/watch"),
        (SSE_TRACE, "up/echo"),
    ];
    let all_there = until(Duration::from_secs(20), || {
        let (export, received) = (&export, &received);
        async move {
            let _ = export.flush();
            let spans = received.lock().unwrap();
            wanted.iter().all(|(trace, name)| {
                spans
                    .iter()
                    .any(|s| hex(&s.trace_id) == *trace && s.name == *name)
            })
        }
    })
    .await;
    let spans = received.lock().unwrap().clone();
    let summary: Vec<_> = spans
        .iter()
        .map(|s| (s.name.clone(), hex(&s.trace_id), hex(&s.parent_span_id)))
        .collect();
    assert!(all_there.is_some(), "{summary:#?}");
    let in_trace = |trace: &str| -> Vec<&Span> {
        spans.iter().filter(|s| hex(&s.trace_id) == trace).collect()
    };
    // The span `name` of `trace`.
    let span_in = |trace: &str, name: &str| -> &Span {
        spans
            .iter()
            .find(|s| hex(&s.trace_id) == trace && s.name == name)
            .unwrap_or_else(|| panic!("no `{name}` span in {:#?}", in_trace(trace)))
    };

    // HTTP: caller → the server span (the request's, with its call on it) → the composed call →
    // the upstream.
    let http_trace = in_trace(CALLER_TRACE);
    let call = span_in(CALLER_TRACE, "chain/run");
    assert_eq!(hex(&call.parent_span_id), CALLER_SPAN);
    assert_eq!(call.kind, 2, "SERVER");
    assert_eq!(
        attribute(call, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(attribute(call, "url.path").as_deref(), Some("/call"));
    assert_eq!(
        attribute(call, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attribute(call, "rpc.system").as_deref(), Some("alknet"));
    assert_eq!(attribute(call, "rpc.method").as_deref(), Some("chain/run"));
    assert_eq!(
        attribute(call, "alknet.surface").as_deref(),
        Some("gateway")
    );
    assert_eq!(attribute(call, "enduser.id"), None, "an anonymous caller");
    assert!(
        !http_trace.iter().any(|s| s.name == "POST"),
        "one server span per request: {http_trace:#?}"
    );
    let composed = span_in(CALLER_TRACE, "up/echo");
    assert_eq!(composed.parent_span_id, call.span_id);
    assert_eq!(composed.kind, 1, "INTERNAL");
    let upstream_saw = seen.lock().unwrap().clone();
    assert_eq!(
        upstream_saw[0],
        format!("00-{CALLER_TRACE}-{}-01", hex(&composed.span_id)),
        "the upstream's parent is the composed call"
    );

    // The call `name` of `trace`, child of the caller's span `parent`, whose composed call to
    // the upstream is its child.
    let composing = |trace: &str, name: &str, parent: &str| -> &Span {
        let (spans, call) = (in_trace(trace), span_in(trace, name));
        assert_eq!(hex(&call.parent_span_id), parent, "{spans:#?}");
        assert!(
            spans
                .iter()
                .any(|s| s.name == "up/echo" && s.parent_span_id == call.span_id),
            "{spans:#?}"
        );
        call
    };

    // The detached Mutation: its task runs in the request's span.
    composing(MUTATION_TRACE, "chain/write", MUTATION_SPAN);

    // SSE: the subscription's span is a child of its request's, and its composed call (made
    // while the stream was read) a child of the subscription's.
    let sse_request = span_in(SSE_TRACE, "POST");
    assert_eq!(hex(&sse_request.parent_span_id), SSE_SPAN);
    composing(SSE_TRACE, "chain/watch", &hex(&sse_request.span_id));

    // WebSocket: the caller's context in `meta` parents the session call's server span.
    let ws_call = composing(WS_TRACE, "chain/run", WS_SPAN);
    assert_eq!(attribute(ws_call, "alknet.surface").as_deref(), Some("ws"));

    // MCP: the `_meta` context parents the tool call's span (the MCP conventions), on which
    // the `call` tool's call records itself.
    let mcp_trace = in_trace(MCP_TRACE);
    let mcp_call = span_in(MCP_TRACE, "tools/call call");
    assert_eq!(hex(&mcp_call.parent_span_id), MCP_SPAN);
    assert_eq!(mcp_call.kind, 2, "SERVER");
    for (key, value) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "call"),
        ("gen_ai.operation.name", "execute_tool"),
        ("jsonrpc.request.id", "2"),
        ("mcp.session.id", session.as_str()),
        ("rpc.method", "chain/run"),
        ("alknet.surface", "mcp"),
        ("enduser.id", "tracer"),
    ] {
        assert_eq!(attribute(mcp_call, key).as_deref(), Some(value), "{key}");
    }
    assert!(
        mcp_trace
            .iter()
            .any(|s| s.name == "up/echo" && s.parent_span_id == mcp_call.span_id)
    );

    // Hub → spoke: the spoke's server span is a child of the hub's, in the caller's trace.
    let hub_call = span_in(HUB_TRACE, "s/spoke/echo");
    assert_eq!(hex(&hub_call.parent_span_id), HUB_SPAN);
    assert_eq!(attribute(hub_call, "enduser.id").as_deref(), Some("tracer"));
    let spoke_call = span_in(HUB_TRACE, "spoke/echo");
    assert_eq!(spoke_call.parent_span_id, hub_call.span_id);
    assert_eq!(spoke_call.kind, 2, "SERVER");
    assert_eq!(
        attribute(spoke_call, "alknet.surface").as_deref(),
        Some("quic")
    );
    assert_eq!(attribute(spoke_call, "enduser.id").as_deref(), Some("hub"));

    // from_mcp: the upstream's MCP span continues the importing call's span (from `_meta`),
    // and its HTTP layer got the same context as a header.
    let importing = span_in(IMPORT_TRACE, "mcpup/call");
    assert_eq!(hex(&importing.parent_span_id), IMPORT_SPAN);
    let upstream_span = span_in(IMPORT_TRACE, "tools/call call");
    assert_eq!(upstream_span.parent_span_id, importing.span_id);
    assert_eq!(
        seen_mcp.lock().unwrap().clone(),
        [format!("00-{IMPORT_TRACE}-{}-01", hex(&importing.span_id))],
        "the upstream's HTTP layer got the importing call's context"
    );

    node.shutdown().await;
    spoke.shutdown().await;
    export.shutdown();
}
