//! Sequential `tools/call` of an echo through `to_mcp` (the real server: bearer layer, limits,
//! `GatewayDispatch` with schema validation and ACL) — through the gateway `call` tool and as
//! the operation's own direct tool — against a bare rmcp streamable-HTTP server with an
//! `echo` tool, in the same run, same client, same loopback.
//!
//! ```sh
//! cargo bench -p alknet-http-mcp --bench tools_call
//! ```
#![allow(missing_docs)]

use std::sync::Arc;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::{
    HandlerKind, Identity, OperationRegistry, OperationSpec, StaticTokenProvider,
};
use alknet_http_mcp::rmcp::ServerHandler;
use alknet_http_mcp::rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ErrorData, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use alknet_http_mcp::rmcp::service::{
    RequestContext, RoleClient, RoleServer, RunningService, ServiceExt,
};
use alknet_http_mcp::rmcp::transport::StreamableHttpClientTransport;
use alknet_http_mcp::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use alknet_http_mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use alknet_http_mcp::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use alknet_http_mcp::{McpConfig, router};
use alknet_http_server::{HttpServerBuilder, Surface};
use axum::serve::ListenerExt;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token-0123456789";

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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Like our server: no Nagle delay on small responses.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

async fn ours() -> String {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("bench/echo")
                .with_input_schema(json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}, "n": {"type": "integer"}}
                }))
                .with_output_schema(json!({"type": "object"})),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            alknet_http_core::Capabilities::new(),
        )
        .build()
        .unwrap();
    let provider: Arc<dyn alknet_http_core::IdentityProvider> = Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("bench"))
            .unwrap(),
    );
    let dispatch = GatewayDispatch::new(registry.clone(), provider.clone());
    let server = HttpServerBuilder::new(provider, registry)
        .with_surface(Surface::new(
            "mcp",
            ["/mcp"],
            router(dispatch, McpConfig::default()),
        ))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = server.serve(listener, std::future::pending()).await;
    });
    format!("http://{addr}/mcp")
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
    let http = SharedHttpClient::new(HttpClientConfig::default()).unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        (*http.client()).clone(),
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(TOKEN),
    );
    ClientConfig::default().serve(transport).await.unwrap()
}

fn args(value: Value) -> JsonObject {
    let Value::Object(map) = value else {
        unreachable!()
    };
    map
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ours_client, bare_client) = runtime.block_on(async {
        let ours_url = ours().await;
        let bare_url = bare().await;
        (client(&ours_url).await, client(&bare_url).await)
    });
    let input = json!({"message": "hello", "n": 7});
    let ours_args = args(json!({"operation": "bench/echo", "input": input}));
    let bare_args = args(input.clone());
    // Both answer the same shape.
    let check = runtime.block_on(async {
        let a = ours_client
            .call_tool(CallToolRequestParams::new("call").with_arguments(ours_args.clone()))
            .await
            .unwrap();
        let b = bare_client
            .call_tool(CallToolRequestParams::new("echo").with_arguments(bare_args.clone()))
            .await
            .unwrap();
        (a.structured_content, b.structured_content)
    });
    assert_eq!(check.0, check.1);
    let direct = runtime.block_on(async {
        ours_client
            .call_tool(CallToolRequestParams::new("bench.echo").with_arguments(bare_args.clone()))
            .await
            .unwrap()
            .structured_content
    });
    assert_eq!(direct, Some(input));
    let mut group = c.benchmark_group("mcp_tools_call");
    group.bench_function("to_mcp_call", |b| {
        b.iter(|| {
            runtime.block_on(async {
                ours_client
                    .call_tool(CallToolRequestParams::new("call").with_arguments(ours_args.clone()))
                    .await
                    .unwrap()
            })
        });
    });
    group.bench_function("to_mcp_direct", |b| {
        b.iter(|| {
            runtime.block_on(async {
                ours_client
                    .call_tool(
                        CallToolRequestParams::new("bench.echo").with_arguments(bare_args.clone()),
                    )
                    .await
                    .unwrap()
            })
        });
    });
    group.bench_function("bare_rmcp_echo", |b| {
        b.iter(|| {
            runtime.block_on(async {
                bare_client
                    .call_tool(CallToolRequestParams::new("echo").with_arguments(bare_args.clone()))
                    .await
                    .unwrap()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
