//! Sequential `tools/call` of an echo through `to_mcp` (the real server: bearer layer, limits,
//! `GatewayDispatch` with schema validation and ACL) — through the gateway `call` tool and as
//! the operation's own direct tool — against a bare rmcp streamable-HTTP server with an
//! `echo` tool: same process, same client, same loopback, measured in interleaved slices
//! (`alknet_http_bench::interleaved`). Prints one JSON line with the rates and the ratios to the
//! bare server.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin mcp_cost [ROUNDS]
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use alknet_http::core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http::core::dispatch::GatewayDispatch;
use alknet_http::core::{
    HandlerKind, Identity, OperationRegistry, OperationSpec, StaticTokenProvider,
};
use alknet_http::mcp::rmcp::ServerHandler;
use alknet_http::mcp::rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ErrorData, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use alknet_http::mcp::rmcp::service::{
    RequestContext, RoleClient, RoleServer, RunningService, ServiceExt,
};
use alknet_http::mcp::rmcp::transport::StreamableHttpClientTransport;
use alknet_http::mcp::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use alknet_http::mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use alknet_http::mcp::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use alknet_http::mcp::{McpConfig, router};
use alknet_http::server::{HttpServerBuilder, Surface};
use axum::serve::ListenerExt;
use serde_json::{Value, json};

use alknet_http_bench::TOKEN;
use alknet_http_bench::interleaved::{ROUNDS, SLICE, interleaved_rates, report};

#[derive(Clone)]
struct BareEcho;

impl ServerHandler for BareEcho {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object"});
        let Value::Object(schema) = schema else {
            unreachable!()
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "echo",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        Ok(CallToolResult::structured(json!({ "output": args })).into())
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bench setup");
    let addr = listener.local_addr().expect("bench setup");
    tokio::spawn(async move {
        // Like our server: no Nagle delay on small responses.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

/// `bench/echo`, its output declared an object (so its direct tool answers it as structured
/// content, like the bare server's `echo`).
fn registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("bench/echo")
                .with_input_schema(json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}, "n": {"type": "integer"}}
                }))
                .with_output_schema(json!({"type": "object"})),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            alknet_http::core::Capabilities::new(),
        )
        .build()
        .expect("registry")
}

/// The node's server (bearer layer, limits, timeouts) with `to_mcp`: its URL.
async fn ours() -> String {
    let registry = registry();
    let provider: Arc<dyn alknet_http::core::IdentityProvider> = Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("bench"))
            .expect("bench setup"),
    );
    let dispatch = GatewayDispatch::new(registry.clone(), provider.clone());
    let server = HttpServerBuilder::new(provider, registry)
        .with_surface(Surface::new(
            "mcp",
            ["/mcp"],
            router(dispatch, McpConfig::default()),
        ))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bench setup");
    let addr = listener.local_addr().expect("bench setup");
    tokio::spawn(async move {
        let _ = server.serve(listener, std::future::pending()).await;
    });
    format!("http://{addr}/mcp")
}

/// `to_mcp`'s router alone on plain `axum::serve`, callers anonymous: its URL.
async fn ours_on_axum() -> String {
    let registry = registry();
    let provider: Arc<dyn alknet_http::core::IdentityProvider> =
        Arc::new(alknet_http::core::identity::AnonymousOnly);
    let dispatch = GatewayDispatch::new(registry.clone(), provider.clone());
    serve(router(
        dispatch,
        McpConfig::default().with_allow_anonymous(true),
    ))
    .await
}

async fn bare() -> String {
    let service = StreamableHttpService::new(
        || Ok(BareEcho),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    serve(axum::Router::new().route_service("/mcp", service)).await
}

async fn client(url: &str) -> RunningService<RoleClient, ClientConfig> {
    let http = SharedHttpClient::new(HttpClientConfig::default()).expect("bench setup");
    let transport = StreamableHttpClientTransport::with_client(
        (*http.client()).clone(),
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(TOKEN),
    );
    ClientConfig::default()
        .serve(transport)
        .await
        .expect("bench setup")
}

fn args(value: Value) -> JsonObject {
    let Value::Object(map) = value else {
        unreachable!()
    };
    map
}

/// Sequential calls of `tool` with `arguments` for one slice: the rate.
async fn slice_rate(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &'static str,
    arguments: &JsonObject,
) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < SLICE {
        client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments.clone()))
            .await
            .expect("answered");
        calls += 1;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = std::env::args()
        .nth(1)
        .map_or(ROUNDS, |r| r.parse().expect("rounds: a number"));
    let ours_client = client(&ours().await).await;
    let bare_client = client(&bare().await).await;
    let axum_client = client(&ours_on_axum().await).await;
    let input = json!({"message": "hello", "n": 7});
    let call_args = args(json!({"operation": "bench/echo", "input": input}));
    let echo_args = args(input.clone());
    // All answer alike.
    for (client, tool, arguments) in [
        (&bare_client, "echo", &echo_args),
        (&ours_client, "bench.echo", &echo_args),
        (&ours_client, "call", &call_args),
        (&axum_client, "bench.echo", &echo_args),
    ] {
        let answer = client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments.clone()))
            .await
            .expect("answered");
        let expected = if tool == "echo" || tool == "call" {
            json!({ "output": input })
        } else {
            input.clone()
        };
        assert_eq!(answer.structured_content, Some(expected), "{tool}");
    }
    let rates = interleaved_rates(4, rounds, async |contender| match contender {
        0 => slice_rate(&bare_client, "echo", &echo_args).await,
        1 => slice_rate(&ours_client, "bench.echo", &echo_args).await,
        2 => slice_rate(&ours_client, "call", &call_args).await,
        _ => slice_rate(&axum_client, "bench.echo", &echo_args).await,
    })
    .await;
    println!(
        "{}",
        report(&["bare_rmcp", "direct", "call", "direct_on_axum"], &rates)
    );
}
