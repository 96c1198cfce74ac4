//! `to_mcp`: the node's operations as MCP tools over streamable HTTP (http-surfaces §11), in
//! both protocol eras rmcp serves: 2026-07-28 requests are stateless (any replica answers
//! any request), 2025-11-25 and earlier clients open sessions held in this process.

use std::sync::Arc;

use alknet_http_core::dispatch::{BatchLimits, GatewayDispatch};
use axum::Router;
use axum::routing::any;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::config::McpConfig;
use crate::direct_tools::ToolCache;
use crate::edge::{self, Edge, SessionBindings};
use crate::gateway_tools::ToolSet;
use crate::handler::{McpHandler, Shared};
use crate::streamed::Bounds;

/// The MCP surface: rmcp's streamable-HTTP server at `config.path`, serving `dispatch`'s
/// operations as tools in the configured [`ToolMode`](crate::ToolMode). Mount it behind the
/// server's bearer layer (`alknet-http-server` does), which resolves the identity each tool
/// call runs as.
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
    let shared = Arc::new(Shared {
        dispatch: dispatch.with_surface("mcp"),
        gateway: ToolSet::new(),
        batch_limits: BatchLimits::default()
            .max_len(config.max_batch_len)
            .concurrency(config.batch_concurrency),
        mode: config.tools,
        bounds: Bounds {
            max_items: config.subscription_max_items,
            max_duration: config.subscription_max_duration,
        },
        direct: ToolCache::default(),
    });
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
    let bindings = Arc::new(SessionBindings::new(
        shared.dispatch.identity_provider().clone(),
        sessions.clone(),
        config.shutdown.clone(),
    ));
    // One handler per legacy session, or per stateless request.
    let for_session = move || Ok(McpHandler::for_session(shared.clone()));
    let edge = Edge {
        allow_anonymous: config.allow_anonymous,
        bindings,
        service: Arc::new(StreamableHttpService::new(
            for_session,
            sessions,
            server_config,
        )),
    };
    Router::new()
        .route(&config.path, any(edge::edge))
        .with_state(edge)
}
