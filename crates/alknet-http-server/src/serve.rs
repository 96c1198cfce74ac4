//! Serving: plain TCP (HTTP/1.1 and h2c), TLS with ALPN `h2` / `http/1.1`, or any byte stream
//! handed in, all with identical behaviour; connection limits and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::auth::Bearer;
use crate::config::ServerLimits;
use crate::request_span::RequestSpanService;
use crate::surface::RouteCollision;

/// The ALPN protocols a TLS listener offers, in preference order. Never `h3`.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS configuration is unusable.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error(transparent)]
    Tls(#[from] alknet_http_core::tls::TlsError),
    /// A single connection ended with a protocol error.
    #[error("connection: {0}")]
    Connection(String),
}

/// The whole HTTP service of a node: the request span, then the bearer layer, then the router.
pub(crate) type App = RequestSpanService<Bearer<Router>>;

/// The built server: an immutable service (trace, bearer layer, router) plus limits. Cheap to
/// clone.
#[derive(Clone)]
pub struct HttpServer {
    app: App,
    limits: Arc<ServerLimits>,
    collisions: Arc<Vec<RouteCollision>>,
    extended_connect: bool,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("limits", &self.limits)
            .field("collisions", &self.collisions)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    pub(crate) fn new(
        app: App,
        limits: ServerLimits,
        collisions: Vec<RouteCollision>,
        extended_connect: bool,
    ) -> Self {
        HttpServer {
            app,
            limits: Arc::new(limits),
            collisions: Arc::new(collisions),
            extended_connect,
        }
    }

    /// The complete service as a router (for embedding in another server).
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.app.clone())
    }

    /// The limits in force.
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// Custom routes shadowed by reserved paths.
    pub fn collisions(&self) -> &[RouteCollision] {
        &self.collisions
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let limits = &self.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let mut h2 = builder.http2();
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            .keep_alive_interval(limits.h2_keep_alive_interval)
            .keep_alive_timeout(limits.h2_keep_alive_timeout);
        if self.extended_connect {
            h2.enable_connect_protocol();
        }
        builder
    }

    /// Serves one connection over any byte stream (for example one an ALPN dispatcher routed
    /// here for `h2` or `http/1.1`), until it ends. HTTP/2 is detected by its preface.
    pub async fn serve_connection<IO>(&self, io: IO) -> Result<(), ServerError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_connection_from(io, None).await
    }

    /// [`HttpServer::serve_connection`] for a connection from `remote`, which its requests
    /// carry as their [`SourceAddr`](alknet_http_core::rate_limit::SourceAddr) (the
    /// per-address rate limits count it).
    pub async fn serve_connection_from<IO>(
        &self,
        io: IO,
        remote: Option<SocketAddr>,
    ) -> Result<(), ServerError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.builder()
            .serve_connection_with_upgrades(
                TokioIo::new(io),
                TowerToHyperService::new(self.app.clone().for_connection(remote)),
            )
            .await
            .map_err(|e| ServerError::Connection(e.to_string()))
    }

    /// Serves HTTP/1.1 and h2c (prior knowledge) on `listener` until `shutdown` resolves, then
    /// stops accepting and lets in-flight requests finish (up to `shutdown_grace`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        self.accept_loop(listener, None, shutdown).await
    }

    /// Serves TLS on `listener` with ALPN `h2` and `http/1.1` (never `h3`).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        identity: &alknet_http_core::tls::ServerIdentity,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let config = identity.server_config(&ALPN_PROTOCOLS, false)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        self.accept_loop(listener, Some(acceptor), shutdown).await
    }

    async fn accept_loop(
        self,
        listener: TcpListener,
        #[cfg(feature = "tls")] tls: Option<tokio_rustls::TlsAcceptor>,
        #[cfg(not(feature = "tls"))] tls: Option<std::convert::Infallible>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let graceful = GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let builder = self.builder();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            while connections.try_join_next().is_some() {}
            let (stream, remote) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::debug!(%remote, "connection limit reached; closing");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let watcher = graceful.watcher();
            let builder = builder.clone();
            let app = self.app.clone().for_connection(Some(remote));
            #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
            let tls = tls.clone();
            let handshake_timeout = self.limits.tls_handshake_timeout;
            let span = tracing::debug_span!("connection", %remote);
            connections.spawn(
                async move {
                    let _permit = permit;
                    let service = TowerToHyperService::new(app);
                    let result = match tls {
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            let stream = match tokio::time::timeout(
                                handshake_timeout,
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "tls handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("tls handshake timed out");
                                    return;
                                }
                            };
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(conn.into_owned()).await
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match never {},
                        None => {
                            let _ = handshake_timeout;
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                .instrument(span),
            );
        }
        drop(listener);
        tracing::debug!(open = graceful.count(), "shutting down");
        if tokio::time::timeout(self.limits.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
        connections.shutdown().await;
        Ok(())
    }
}

/// Binds a TCP listener (a convenience for `tokio::net::TcpListener::bind`).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    Ok(TcpListener::bind(addr).await?)
}
