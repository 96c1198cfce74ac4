//! # alknet-http-ws
//!
//! The native call session over WebSocket (http-surfaces §7): the way browsers, Node and Rust
//! clients get the call protocol's bidirectional session. The upgrade at `/alknet/call` (path
//! configurable) works over HTTP/1.1 (RFC 6455) and HTTP/2 extended CONNECT (RFC 8441); after
//! it nothing depends on the HTTP version.
//!
//! - **Auth** at upgrade: `Authorization: Bearer`, or the subprotocol pair `alknet.call.v1` +
//!   `alknet.bearer.<base64url(token)>` (browsers cannot set headers on a handshake). The server
//!   selects `alknet.call.v1` and never echoes the token. No identity → `401` +
//!   `WWW-Authenticate: Bearer`, no upgrade. Scopes are checked per call.
//! - **Framing**: one binary message = one envelope. Text → close 1003, undecodable → 1007,
//!   oversize → 1009, server shutdown → 1001; keep-alive pings and an idle timeout.
//! - **Bidirectional**: the hub reaches a client's operations through [`Sessions`]. Browsers
//!   are not peers: their sessions never join a peer table.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`router`], [`WsConfig`] | the upgrade route (a router fragment for the server) |
//! | [`Sessions`] | the hub's handle on live sessions |
//! | [`client`] | the Rust client over HTTP/1.1 or HTTP/2 |
//! | [`WsLimits`] | message size, ping interval, idle timeout |
//! | [`WsRejection`] | every refused upgrade, each with its one status |
//! | [`CLIENT_SCRIPT`] | the browser/Node client module, served at `/alknet/client.mjs` |
//! | [`declarations`] | the caller's operations as TypeScript types, served at `/alknet/types.d.ts` (`types.rs`, from JSON Schema by `typescript.rs`) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use alknet_http_core::{identity::AnonymousOnly, GatewayDispatch, OperationRegistry};
//! use alknet_http_ws::{router, Sessions, WsConfig};
//!
//! let sessions = Sessions::new();
//! let config = WsConfig::default();
//! assert_eq!(config.paths(), ["/alknet/call", "/alknet/client.mjs", "/alknet/types.d.ts"]);
//! let dispatch = GatewayDispatch::new(OperationRegistry::empty(), Arc::new(AnonymousOnly));
//! let fragment: axum::Router = router(dispatch, config, sessions.clone());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod rejection;
mod sessions;
mod transport;
mod types;
mod typescript;
mod upgrade;

use std::sync::Arc;

use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::session::SessionConfig;
use alknet_http_core::{GatewayDispatch, IdentityProvider, OperationRegistry};
use axum::Router;
use axum::routing::{MethodFilter, on};
use tokio_util::sync::CancellationToken;

pub use rejection::WsRejection;
pub use sessions::{SessionInfo, Sessions};
pub use transport::WsLimits;
pub use types::{DEFAULT_MAX_TYPES_BYTES, declarations};
pub use upgrade::{BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL};

/// The default upgrade path.
pub const DEFAULT_PATH: &str = "/alknet/call";
/// The default path of the browser/Node client module.
pub const DEFAULT_CLIENT_SCRIPT_PATH: &str = "/alknet/client.mjs";
/// The default path of the caller's TypeScript declarations.
pub const DEFAULT_TYPES_PATH: &str = "/alknet/types.d.ts";
/// The browser/Node client (`js/alknet-call.mjs`), one dependency-free ES module.
pub const CLIENT_SCRIPT: &str = include_str!("../js/alknet-call.mjs");
/// Its TypeScript declarations (`js/alknet-call.d.ts`).
pub const CLIENT_SCRIPT_TYPES: &str = include_str!("../js/alknet-call.d.ts");

/// Configuration of the WebSocket surface.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsConfig {
    /// The upgrade path. Default `/alknet/call`.
    pub path: String,
    /// Connection limits.
    pub limits: WsLimits,
    /// Limits of each session (call timeout, subscription queue, concurrency).
    pub session: SessionConfig,
    /// Cancel to close every connection with 1001 (server shutdown).
    pub shutdown: CancellationToken,
    /// Where the client module is served (`None`: not served). Default `/alknet/client.mjs`.
    pub client_script_path: Option<String>,
    /// Where the caller's TypeScript declarations are served (`None`: not served). Default
    /// `/alknet/types.d.ts`.
    pub types_path: Option<String>,
    /// The largest declaration file served; past it, the remaining operations are left out
    /// (the file says how many). Default 8 MiB.
    pub max_types_bytes: usize,
}

impl WsConfig {
    /// Sets `path`: the upgrade path. Default `/alknet/call`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `limits`: connection limits.
    #[must_use]
    pub fn with_limits(mut self, limits: WsLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets `session`: limits of each session (call timeout, subscription queue, concurrency).
    #[must_use]
    pub fn with_session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sets `shutdown`: cancel to close every connection with 1001 (server shutdown).
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Sets `client_script_path`: where the client module is served (`None`: not served). Default `/alknet/client.mjs`.
    #[must_use]
    pub fn with_client_script_path(mut self, client_script_path: Option<String>) -> Self {
        self.client_script_path = client_script_path;
        self
    }
}

impl WsConfig {
    /// Sets `types_path`: where the caller's TypeScript declarations are served (`None`: not
    /// served). Default `/alknet/types.d.ts`.
    #[must_use]
    pub fn with_types_path(mut self, types_path: Option<String>) -> Self {
        self.types_path = types_path;
        self
    }

    /// Sets `max_types_bytes`: the largest declaration file served. Default 8 MiB.
    #[must_use]
    pub fn with_max_types_bytes(mut self, max_types_bytes: usize) -> Self {
        self.max_types_bytes = max_types_bytes;
        self
    }

    /// The paths this surface reserves.
    pub fn paths(&self) -> Vec<String> {
        let mut paths = vec![self.path.clone()];
        paths.extend(self.client_script_path.clone());
        paths.extend(self.types_path.clone());
        paths
    }
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            path: DEFAULT_PATH.to_owned(),
            limits: WsLimits::default(),
            session: SessionConfig::default(),
            shutdown: CancellationToken::new(),
            client_script_path: Some(DEFAULT_CLIENT_SCRIPT_PATH.to_owned()),
            types_path: Some(DEFAULT_TYPES_PATH.to_owned()),
            max_types_bytes: types::DEFAULT_MAX_TYPES_BYTES,
        }
    }
}

#[derive(Debug)]
pub(crate) struct WsState {
    pub(crate) registry: OperationRegistry,
    pub(crate) identity_provider: Arc<dyn IdentityProvider>,
    pub(crate) config: WsConfig,
    pub(crate) shutdown: CancellationToken,
    pub(crate) sessions: Sessions,
}

/// The WebSocket surface as a router fragment serving `config.path` (`GET` upgrade and
/// `CONNECT`) over `dispatch`'s registry and identity provider, like every surface crate's
/// `router(dispatch, config)`; [`WsConfig::paths`] are the paths it reserves. Mount it behind the server's bearer layer; HTTP/2 needs
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, which `alknet-http-server` advertises.
pub fn router(dispatch: GatewayDispatch, config: WsConfig, sessions: Sessions) -> Router {
    let path = config.path.clone();
    let script = config.client_script_path.clone();
    let types_path = config.types_path.clone();
    let max_types_bytes = config.max_types_bytes;
    let types_dispatch = dispatch.clone();
    let state = Arc::new(WsState {
        registry: dispatch.registry().clone(),
        identity_provider: dispatch.identity_provider().clone(),
        shutdown: config.shutdown.clone(),
        config,
        sessions,
    });
    let mut router = Router::new()
        .route(
            &path,
            on(
                MethodFilter::GET.or(MethodFilter::CONNECT),
                upgrade::upgrade,
            ),
        )
        .with_state(state);
    if let Some(script) = script {
        router = router.route(
            &script,
            axum::routing::get(|| async {
                (
                    [
                        (http::header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (http::header::CACHE_CONTROL, "no-cache"),
                    ],
                    CLIENT_SCRIPT,
                )
            }),
        );
    }
    if let Some(types_path) = types_path {
        router = router.route(
            &types_path,
            axum::routing::get(
                move |ResolvedIdentity(identity): ResolvedIdentity| async move {
                    (
                        [
                            (
                                http::header::CONTENT_TYPE,
                                "application/typescript; charset=utf-8",
                            ),
                            (http::header::CACHE_CONTROL, "no-cache"),
                        ],
                        caller_declarations(&types_dispatch, identity.as_deref(), max_types_bytes),
                    )
                },
            ),
        );
    }
    router
}

/// The declarations of what `identity` may call, in the order search lists it.
fn caller_declarations(
    dispatch: &GatewayDispatch,
    identity: Option<&alknet_http_core::Identity>,
    max_bytes: usize,
) -> String {
    let summaries = dispatch.search(identity, &alknet_http_core::dispatch::SearchQuery::all());
    let operations: Vec<_> = summaries
        .iter()
        .filter_map(|summary| dispatch.schema(identity, &summary.name).ok())
        .collect();
    declarations(operations.iter().map(|op| op.spec()), max_bytes)
}
