//! [`Node`]: one process serving a registry on every enabled surface and listener.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http_core::OperationRegistry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "quic")]
use crate::federation::Links;
pub use crate::listener::Listener;
pub use crate::node_builder::{NodeBuilder, NodeError};
/// Without QUIC there is no federation: no links ever exist.
#[cfg(not(feature = "quic"))]
enum Links {}

#[cfg(any(all(feature = "server", feature = "tls"), feature = "quic"))]
use alknet_http_core::tls::ServerIdentity;
#[cfg(feature = "server")]
use alknet_http_server::HttpServerBuilder;

impl NodeBuilder {
    /// Checks the configuration.
    pub fn build(self) -> Result<Node, NodeError> {
        let registry = self.registry.clone().ok_or(NodeError::NoRegistry)?;
        if self.listeners.is_empty() {
            return Err(NodeError::NoListeners);
        }
        if !self.protected
            && let Some(open) = self.listeners.iter().find(|l| !l.addr().ip().is_loopback())
        {
            return Err(NodeError::UnprotectedListener(open.addr()));
        }
        #[cfg(feature = "server")]
        if !self.metrics.is_empty() && registry.metrics().is_none() {
            return Err(NodeError::NoMetrics);
        }
        #[cfg(feature = "quic")]
        if let Some(federation) = &self.federation {
            let pinned = federation.fingerprint();
            for listener in &self.listeners {
                if let Listener::Quic(addr, identity) = listener
                    && identity.fingerprint_sha256() != pinned
                {
                    return Err(NodeError::FederationCertificate(*addr));
                }
            }
        }
        Ok(Node {
            registry,
            builder: self,
        })
    }
}

/// A configured node, ready to bind its listeners.
#[derive(Debug)]
pub struct Node {
    pub(crate) registry: OperationRegistry,
    pub(crate) builder: NodeBuilder,
}

/// A listener that is bound and serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    /// `http`, `https` or `quic`.
    pub scheme: &'static str,
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
}

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    addresses: Vec<BoundListener>,
    #[cfg(feature = "quic")]
    peers: Option<crate::federation::PeerStatus>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Node {
    /// A builder.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// The registry served.
    pub fn registry(&self) -> &OperationRegistry {
        &self.registry
    }

    /// The handle on live WebSocket sessions.
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    pub fn sessions(&self) -> alknet_http_ws::Sessions {
        self.builder.sessions.clone()
    }

    #[cfg(feature = "server")]
    fn http_server(
        &self,
        stop: &CancellationToken,
        links: Option<&Arc<Links>>,
    ) -> alknet_http_server::HttpServer {
        let b = &self.builder;
        let adapter = HttpServerBuilder::new(b.identity_provider.clone(), self.registry.clone())
            .with_limits(b.limits.clone())
            .with_decoy(b.decoy.clone())
            .with_stealth(b.stealth);
        let adapter = match &b.protected_resource {
            Some(resource) => adapter.with_protected_resource(resource.clone()),
            None => adapter,
        };
        #[cfg(feature = "gateway")]
        let adapter = {
            let dispatch = adapter.dispatch().with_timeout(b.call_timeout);
            adapter.with_surface(alknet_http_server::Surface::new(
                "gateway",
                alknet_http_gateway::PATHS,
                alknet_http_gateway::router(dispatch, b.gateway.clone()),
            ))
        };
        #[cfg(feature = "openapi")]
        let adapter = adapter.with_surface(alknet_http_server::Surface::new(
            "openapi",
            [alknet_http_openapi::PATH],
            alknet_http_openapi::router(&self.registry),
        ));
        #[cfg(feature = "ws")]
        let adapter = {
            let config = alknet_http_ws::WsConfig::default()
                .with_limits(b.ws_limits.clone())
                .with_session(
                    alknet_http_core::session::SessionConfig::default()
                        .with_call_timeout(b.call_timeout),
                )
                .with_shutdown(stop.clone());
            let paths = config.paths();
            let fragment = alknet_http_ws::router(adapter.dispatch(), config, b.sessions.clone());
            adapter.with_surface(alknet_http_server::Surface::new("ws", paths, fragment))
        };
        #[cfg(feature = "console")]
        let adapter = adapter.with_surface(alknet_http_server::Surface::new(
            "console",
            crate::console::PATHS,
            crate::console::router(),
        ));
        #[cfg(feature = "mcp")]
        let adapter = {
            let dispatch = adapter.dispatch().with_timeout(b.call_timeout);
            let config = b.mcp.clone().with_shutdown(stop.clone());
            let paths = config.paths();
            adapter.with_surface(alknet_http_server::Surface::new(
                "mcp",
                paths,
                alknet_http_mcp::router(dispatch, config),
            ))
        };
        let adapter = match (self.registry.metrics(), self.metrics_scope()) {
            (Some(metrics), Some(scope)) => adapter.with_surface(
                crate::metrics_endpoint::scoped_surface(metrics.clone(), scope.to_owned()),
            ),
            _ => adapter,
        };
        #[cfg(feature = "quic")]
        let adapter = match links {
            Some(links) => {
                adapter.with_surface(crate::federation::readiness_surface(links.status.clone()))
            }
            None => adapter,
        };
        #[cfg(not(any(feature = "ws", feature = "mcp")))]
        let _ = stop;
        #[cfg(not(feature = "quic"))]
        let _ = links;
        adapter.build()
    }

    /// Binds every listener and starts serving.
    #[cfg_attr(
        not(any(feature = "server", feature = "quic")),
        allow(unused_mut, unused_variables, unreachable_code)
    )]
    pub async fn start(self) -> Result<RunningNode, NodeError> {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut addresses = Vec::new();
        let links = self.links();
        #[cfg(feature = "server")]
        let http = self.http_server(&stop, links.as_ref());
        for listener in &self.builder.listeners {
            let addr = listener.addr();
            let bound = match listener {
                #[cfg(feature = "server")]
                Listener::Http(_) => {
                    let socket = bind(addr).await?;
                    let local = socket
                        .local_addr()
                        .map_err(|source| NodeError::Bind { addr, source })?;
                    let (server, stop) = (http.clone(), stop.clone());
                    tasks.spawn(async move {
                        if let Err(e) = server.serve(socket, stop.cancelled_owned()).await {
                            tracing::error!(error = %e, "http listener failed");
                        }
                    });
                    local
                }
                #[cfg(all(feature = "server", feature = "tls"))]
                Listener::Https(_, identity) => {
                    let socket = bind(addr).await?;
                    let local = socket
                        .local_addr()
                        .map_err(|source| NodeError::Bind { addr, source })?;
                    let (server, stop, identity) = (http.clone(), stop.clone(), identity.clone());
                    tasks.spawn(async move {
                        if let Err(e) = server
                            .serve_tls(socket, &identity, stop.cancelled_owned())
                            .await
                        {
                            tracing::error!(error = %e, "https listener failed");
                        }
                    });
                    local
                }
                #[cfg(feature = "quic")]
                Listener::Quic(_, identity) => {
                    self.start_quic(addr, identity, links.as_ref(), &stop, &mut tasks)?
                }
                #[cfg(not(any(feature = "server", feature = "quic")))]
                _ => match *listener {},
            };
            tracing::info!(scheme = listener.scheme(), addr = %bound, "listening");
            addresses.push(BoundListener {
                scheme: listener.scheme(),
                addr: bound,
            });
        }
        #[cfg(feature = "server")]
        for addr in self.metrics_listeners() {
            let socket = bind(addr).await?;
            let local = socket
                .local_addr()
                .map_err(|source| NodeError::Bind { addr, source })?;
            if let Some(metrics) = self.registry.metrics() {
                let router = crate::metrics_endpoint::open_router(metrics.clone());
                let stop = stop.clone();
                tasks.spawn(async move {
                    let served = axum::serve(socket, router)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                });
            }
            tracing::info!(scheme = "metrics", addr = %local, "listening");
            addresses.push(BoundListener {
                scheme: "metrics",
                addr: local,
            });
        }
        #[cfg(feature = "quic")]
        if let Some(links) = &links {
            crate::federation::start(links, &stop, &mut tasks);
        }
        Ok(RunningNode {
            addresses,
            #[cfg(feature = "quic")]
            peers: links.map(|links| links.status.clone()),
            stop,
            tasks,
        })
    }

    /// The scope `/metrics` needs on the main listeners, if it is served there.
    #[cfg(feature = "server")]
    fn metrics_scope(&self) -> Option<&str> {
        self.builder
            .metrics
            .iter()
            .find_map(|exposure| match exposure {
                crate::metrics_endpoint::MetricsExposure::Scoped(scope) => Some(scope.as_str()),
                crate::metrics_endpoint::MetricsExposure::Listener(_) => None,
            })
    }

    /// The listeners of their own `/metrics` is served on.
    #[cfg(feature = "server")]
    fn metrics_listeners(&self) -> Vec<SocketAddr> {
        self.builder
            .metrics
            .iter()
            .filter_map(|exposure| match exposure {
                crate::metrics_endpoint::MetricsExposure::Listener(addr) => Some(*addr),
                crate::metrics_endpoint::MetricsExposure::Scoped(_) => None,
            })
            .collect()
    }

    /// The peer links of the federation, if one is configured.
    #[cfg_attr(not(feature = "quic"), allow(clippy::unused_self))]
    fn links(&self) -> Option<Arc<Links>> {
        #[cfg(feature = "quic")]
        {
            let b = &self.builder;
            b.federation.clone().map(|federation| {
                Links::new(
                    federation,
                    self.registry.clone(),
                    b.identity_provider.clone(),
                    alknet_http_core::session::SessionConfig::default()
                        .with_call_timeout(b.call_timeout),
                )
            })
        }
        #[cfg(not(feature = "quic"))]
        None
    }

    #[cfg(feature = "quic")]
    fn start_quic(
        &self,
        addr: SocketAddr,
        identity: &ServerIdentity,
        links: Option<&Arc<Links>>,
        stop: &CancellationToken,
        tasks: &mut JoinSet<()>,
    ) -> Result<SocketAddr, NodeError> {
        use alknet_http_core::quic::{ClientAuth, QuicConfig, QuicServer};
        use alknet_http_core::session::{SessionConfig, SessionOptions};
        let quic_error = |source| NodeError::Quic { addr, source };
        let config = match links {
            Some(links) => QuicConfig::default().with_client_auth(ClientAuth::Fingerprint {
                required: false,
                refuse_unknown: links.federation.unknown_peers
                    == crate::federation::UnknownPeers::Refuse,
            }),
            None => QuicConfig::default(),
        };
        let server = QuicServer::bind(addr, identity.clone(), config).map_err(quic_error)?;
        let local = server.local_addr().map_err(quic_error)?;
        let options = match links {
            Some(links) => links.session_options(),
            None => SessionOptions::new(self.registry.clone())
                .with_identity_provider(self.builder.identity_provider.clone())
                .with_config(SessionConfig::default().with_call_timeout(self.builder.call_timeout)),
        };
        let links = links.cloned();
        let closer = server.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let on_session = move |session| {
                if let Some(links) = &links {
                    crate::federation::accepted(links, session);
                }
            };
            tokio::select! {
                () = server.serve(move |_| options.clone(), on_session) => {}
                () = stop.cancelled() => closer.close(),
            }
        });
        Ok(local)
    }
}

#[cfg(feature = "server")]
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, NodeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })
}

impl RunningNode {
    /// The bound listeners.
    pub fn addresses(&self) -> &[BoundListener] {
        &self.addresses
    }

    /// The state of each peer, when a federation is configured.
    #[cfg(feature = "quic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
    pub fn peers(&self) -> Option<&crate::federation::PeerStatus> {
        self.peers.as_ref()
    }

    /// Stops accepting, lets in-flight requests finish (within the grace period), and returns
    /// when every listener is done.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until `signal` resolves, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}
