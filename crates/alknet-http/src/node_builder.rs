//! [`NodeBuilder`]: what a node serves, where, and how; and [`NodeError`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{IdentityProvider, OperationRegistry};

use crate::listener::Listener;
#[cfg(feature = "server")]
use alknet_http_server::{DecoyConfig, ServerLimits, Stealth};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No registry was given.
    #[error("no operation registry configured")]
    NoRegistry,
    /// No listener was given.
    #[error("no listener configured")]
    NoListeners,
    /// A listener would expose the node beyond loopback without any token to protect it.
    #[error(
        "refusing to listen on {0} without a configured token: add [[token]] entries \
         (`alknet-http token new` makes one) or listen on 127.0.0.1"
    )]
    UnprotectedListener(SocketAddr),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `/metrics` is to be served but the registry counts nothing.
    #[error("metrics are exposed but the registry has none: build it with `with_metrics`")]
    NoMetrics,
    /// A QUIC listener presents another certificate than the one its peers pin.
    #[cfg(feature = "quic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
    #[error("the QUIC listener on {0} must present the federation's certificate (peers pin it)")]
    FederationCertificate(SocketAddr),
    /// A QUIC listener could not start.
    #[cfg(feature = "quic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
    #[error("cannot start QUIC on {addr}: {source}")]
    Quic {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: alknet_http_core::quic::QuicError,
    },
}

/// Builds a [`Node`](crate::Node).
///
/// ```no_run
/// use std::sync::Arc;
/// use alknet_http::{demo, Listener, Node};
/// use alknet_http::core::{OperationRegistry, StaticTokenProvider};
///
/// # async fn run() -> Result<(), alknet_http::NodeError> {
/// let registry = demo::register(OperationRegistry::builder()).build().unwrap();
/// let running = Node::builder()
///     .registry(registry)
///     .identity_provider(Arc::new(StaticTokenProvider::new()))
///     .listen(Listener::Http("127.0.0.1:8080".parse().unwrap()))
///     .build()?
///     .start()
///     .await?;
/// println!("listening on {:?}", running.addresses());
/// running.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NodeBuilder {
    pub(crate) registry: Option<OperationRegistry>,
    pub(crate) identity_provider: Arc<dyn IdentityProvider>,
    pub(crate) protected: bool,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) call_timeout: Duration,
    #[cfg(feature = "server")]
    pub(crate) limits: ServerLimits,
    #[cfg(feature = "server")]
    pub(crate) decoy: DecoyConfig,
    #[cfg(feature = "server")]
    pub(crate) stealth: Stealth,
    #[cfg(feature = "server")]
    pub(crate) protected_resource: Option<alknet_http_server::ProtectedResource>,
    #[cfg(feature = "gateway")]
    pub(crate) gateway: alknet_http_gateway::GatewayConfig,
    #[cfg(feature = "ws")]
    pub(crate) ws_limits: alknet_http_ws::WsLimits,
    #[cfg(feature = "ws")]
    pub(crate) sessions: alknet_http_ws::Sessions,
    #[cfg(feature = "mcp")]
    pub(crate) mcp: alknet_http_mcp::McpConfig,
    #[cfg(feature = "quic")]
    pub(crate) federation: Option<crate::federation::Federation>,
    #[cfg(feature = "server")]
    pub(crate) metrics: Vec<crate::metrics_endpoint::MetricsExposure>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder {
            registry: None,
            identity_provider: Arc::new(AnonymousOnly),
            protected: false,
            listeners: Vec::new(),
            call_timeout: alknet_http_core::invoke::DEFAULT_CALL_TIMEOUT,
            #[cfg(feature = "server")]
            limits: ServerLimits::default(),
            #[cfg(feature = "server")]
            decoy: DecoyConfig::default(),
            #[cfg(feature = "server")]
            stealth: Stealth::default(),
            #[cfg(feature = "server")]
            protected_resource: None,
            #[cfg(feature = "gateway")]
            gateway: alknet_http_gateway::GatewayConfig::default(),
            #[cfg(feature = "ws")]
            ws_limits: alknet_http_ws::WsLimits::default(),
            #[cfg(feature = "ws")]
            sessions: alknet_http_ws::Sessions::new(),
            #[cfg(feature = "mcp")]
            mcp: alknet_http_mcp::McpConfig::default(),
            #[cfg(feature = "quic")]
            federation: None,
            #[cfg(feature = "server")]
            metrics: Vec::new(),
        }
    }
}

impl NodeBuilder {
    /// The operations to serve.
    #[must_use]
    pub fn registry(mut self, registry: OperationRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Resolves bearer tokens and per-request tokens. Setting one marks the node as protected
    /// (it may then listen beyond loopback).
    #[must_use]
    pub fn identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.identity_provider = provider;
        self.protected = true;
        self
    }

    /// Whether tokens protect the node; a node without them only listens on loopback.
    #[must_use]
    pub fn protected(mut self, protected: bool) -> Self {
        self.protected = protected;
        self
    }

    /// Adds a listener.
    #[must_use]
    pub fn listen(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// The deadline of Query/Mutation calls. Default 30 s.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The HTTP server's limits.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[must_use]
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// What unknown paths see.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[must_use]
    pub fn decoy(mut self, decoy: DecoyConfig) -> Self {
        self.decoy = decoy;
        self
    }

    /// What anonymous callers see.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[must_use]
    pub fn stealth(mut self, stealth: Stealth) -> Self {
        self.stealth = stealth;
        self
    }

    /// The gateway's limits.
    #[cfg(feature = "gateway")]
    #[cfg_attr(docsrs, doc(cfg(feature = "gateway")))]
    #[must_use]
    pub fn gateway_config(mut self, config: alknet_http_gateway::GatewayConfig) -> Self {
        self.gateway = config;
        self
    }

    /// The WebSocket connection limits.
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    #[must_use]
    pub fn ws_limits(mut self, limits: alknet_http_ws::WsLimits) -> Self {
        self.ws_limits = limits;
        self
    }

    /// The handle on live WebSocket sessions (the hub calls client operations through it).
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    pub fn sessions(&self) -> alknet_http_ws::Sessions {
        self.sessions.clone()
    }

    /// The MCP surface's configuration (path, allowed hosts, anonymous access, limits). Its
    /// shutdown token is the node's.
    #[cfg(feature = "mcp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
    #[must_use]
    pub fn mcp_config(mut self, config: alknet_http_mcp::McpConfig) -> Self {
        self.mcp = config;
        self
    }

    /// Publishes the node as an OAuth protected resource (RFC 9728) whose `401`s name the
    /// metadata, as MCP clients expect of a server whose tokens come from an authorization
    /// server.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[must_use]
    pub fn protected_resource(mut self, resource: alknet_http_server::ProtectedResource) -> Self {
        self.protected_resource = Some(resource);
        self
    }

    /// This node's peers: mutual TLS on its QUIC listeners (which must present the
    /// federation's certificate), dial loops, imports on every peer session, and `/readyz`.
    #[cfg(feature = "quic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
    #[must_use]
    pub fn federation(mut self, federation: crate::federation::Federation) -> Self {
        self.federation = Some(federation);
        self
    }

    /// Serves the registry's metrics (see `RegistryBuilder::with_metrics`) at `/metrics` as
    /// `exposure` says; may be given more than once.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[must_use]
    pub fn metrics(mut self, exposure: crate::metrics_endpoint::MetricsExposure) -> Self {
        self.metrics.push(exposure);
        self
    }
}
