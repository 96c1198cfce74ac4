//! http-surfaces §14 "MCP": `to_mcp` behind the real server's bearer layer, driven by rmcp's
//! streamable-HTTP client over loopback sockets, and `from_mcp` against real rmcp servers.

mod from_mcp;
mod to_mcp;
mod tool_modes;

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient, install_crypto_provider};
use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::{
    AccessControl, CallError, ErrorDefinition, HandlerKind, Identity, IdentityProvider,
    OperationRegistry, OperationSpec, StaticTokenProvider,
};
use alknet_http_mcp::rmcp::model::ClientConfig;
use alknet_http_mcp::rmcp::service::{RoleClient, RunningService, ServiceExt};
use alknet_http_mcp::rmcp::transport::StreamableHttpClientTransport;
use alknet_http_mcp::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use alknet_http_mcp::{McpConfig, router};
use alknet_http_server::{HttpServerBuilder, Surface};
use alknet_http_tests::Served;
use futures::stream;
use serde_json::json;
use tokio::sync::Notify;

pub(crate) const ALICE: &str = "tok-alice-0123456789";
pub(crate) const ADMIN: &str = "tok-admin-0123456789";

/// Signals of the `demo/slow` handler: started, and was aborted (saw its abort signal, or was
/// dropped unfinished).
#[derive(Default)]
pub(crate) struct Slow {
    pub(crate) started: Notify,
    pub(crate) aborted: Notify,
}

/// Tells the test its handler ended unfinished, when dropped.
struct Aborted(Arc<Slow>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.aborted.notify_one();
    }
}

pub(crate) fn registry(slow: Arc<Slow>) -> OperationRegistry {
    let caps = alknet_http_core::Capabilities::new;
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/echo")
                .with_description("Echo the input")
                .with_input_schema(json!({"type": "object"})),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            caps(),
        )
        .with_leaf(
            OperationSpec::query("demo/whoami"),
            HandlerKind::once(|_, ctx| async move {
                Ok(json!({ "id": ctx.identity().map(|i| i.id.clone()) }))
            }),
            caps(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/register").with_error(
                ErrorDefinition::new("NAME_TAKEN", "The name is taken").with_http_status(409),
            ),
            HandlerKind::once(
                |_, _| async move { Err(CallError::new("NAME_TAKEN", "admin is taken")) },
            ),
            caps(),
        )
        .with_leaf(
            OperationSpec::query("admin/stats")
                .with_access_control(AccessControl::scopes(["admin"])),
            HandlerKind::once(|_, _| async move { Ok(json!({"calls": 1})) }),
            caps(),
        )
        .with_leaf(
            OperationSpec::query("demo/hidden").internal(),
            HandlerKind::once(|_, _| async move { Ok(json!(1)) }),
            caps(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/ticks"),
            HandlerKind::stream(|_, _| stream::iter([Ok(json!(1))])),
            caps(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/feed")
                .with_description("Counts up every 20 ms, forever")
                .with_output_schema(json!({"type": "integer"})),
            {
                let slow = slow.clone();
                HandlerKind::stream(move |_, _| {
                    // Dropped (the subscription ended from outside): tells the test.
                    let aborted = Aborted(slow.clone());
                    slow.started.notify_one();
                    stream::unfold((0u64, aborted), |(n, aborted)| async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((Ok(json!(n)), (n + 1, aborted)))
                    })
                })
            },
            caps(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/slow").cancel_on_disconnect(),
            HandlerKind::once(move |_, ctx| {
                let slow = slow.clone();
                async move {
                    let _aborted = Aborted(slow.clone());
                    slow.started.notify_one();
                    ctx.abort_signal().cancelled().await;
                    Ok(json!("never"))
                }
            }),
            caps(),
        )
        .build()
        .unwrap()
}

pub(crate) fn provider() -> Arc<dyn IdentityProvider> {
    Arc::new(
        StaticTokenProvider::new()
            .with_token(ALICE, Identity::new("alice"))
            .unwrap()
            .with_token(ADMIN, Identity::new("root").with_scopes(["admin"]))
            .unwrap(),
    )
}

/// A node on loopback (the test kit's server), stopped when dropped.
pub(crate) struct Node {
    served: Served,
}

impl Node {
    pub(crate) fn url(&self) -> String {
        self.served.url("/mcp")
    }
}

/// A real server (bearer layer, limits, decoy) with the MCP surface mounted.
pub(crate) async fn start(registry: OperationRegistry, config: McpConfig) -> Node {
    let provider = provider();
    let adapter = HttpServerBuilder::new(provider.clone(), registry.clone());
    let dispatch = GatewayDispatch::new(registry, provider);
    let paths = [config.path.clone()];
    let server = adapter
        .with_surface(Surface::new("mcp", paths, router(dispatch, config)))
        .build();
    Node {
        served: Served::start(server).await,
    }
}

pub(crate) type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's streamable-HTTP client, with a bearer token when given.
pub(crate) async fn connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    install_crypto_provider();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(reqwest_client(), config);
    ClientConfig::default()
        .serve(transport)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) fn reqwest_client() -> alknet_http_core::client::reqwest::Client {
    (*shared_http().client()).clone()
}

pub(crate) fn shared_http() -> Arc<SharedHttpClient> {
    Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap())
}

pub(crate) const WAIT: Duration = Duration::from_secs(10);
