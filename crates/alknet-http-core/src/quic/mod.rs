//! The native call transport: the `alknet/call` ALPN over QUIC (feature `quic`).
//!
//! Each side writes its envelopes as length-prefixed frames on one unidirectional stream it
//! opens, and reads envelopes from every stream the peer opens (unidirectional or
//! bidirectional), correlating by id only. TLS 1.3 uses rustls with the ring provider.
//!
//! ```no_run
//! use alknet_http_core::quic::{QuicConfig, QuicDialer, QuicServer, ServerIdentity, ServerVerification};
//! use alknet_http_core::session::SessionOptions;
//! use alknet_http_core::OperationRegistry;
//!
//! # async fn demo() -> Result<(), alknet_http_core::quic::QuicError> {
//! let registry = OperationRegistry::builder().build().unwrap();
//! let identity = ServerIdentity::self_signed(["localhost"])?;
//! let pin = identity.fingerprint_sha256();
//! let server = QuicServer::bind("127.0.0.1:0".parse().unwrap(), identity, QuicConfig::default())?;
//! let addr = server.local_addr()?;
//! let server_registry = registry.clone();
//! tokio::spawn(server.serve(move |_remote| SessionOptions::new(server_registry.clone()), |_session| {}));
//!
//! let dialer = QuicDialer::new(ServerVerification::pinned([pin]), QuicConfig::default())?;
//! let session = dialer.connect(addr, "localhost", SessionOptions::new(registry)).await?;
//! let ops = session.call("services/list", serde_json::Value::Null).await;
//! # Ok(()) }
//! ```

mod config;
mod transport;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use self::config::{ClientAuth, QuicConfig, ServerVerification};
use self::transport::QuicTransport;
use self::verify::{AnyClientCertificate, HandshakeSignatures, PinnedVerifier, fingerprint};
use crate::session::{CloseReason, Flush, Session, SessionOptions};
pub use crate::tls::{ServerIdentity, TlsError};

/// The crates whose types appear in this module's signatures (`QuicError`, certificates).
pub use {quinn, rustls};

/// The ALPN protocol id of the native call transport.
pub const ALPN: &[u8] = b"alknet/call";

/// Why a QUIC endpoint or connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The certificate, key or TLS configuration is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The endpoint could not bind or connect.
    #[error("endpoint: {0}")]
    Endpoint(String),
    /// The QUIC handshake or connection failed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer's certificate resolves to no identity and unknown peers are refused.
    #[error("unknown peer certificate {fingerprint}")]
    UnknownPeer {
        /// The SHA-256 fingerprint the peer presented.
        fingerprint: String,
    },
}

/// The QUIC application error code a server closes a refused peer's connection with.
pub const REFUSED_PEER: u32 = 0x1;

/// The QUIC application error code a server closes a connection with when the certificate
/// that opened it is revoked, changed by a reload or expired (the reason says which).
pub const REVOKED_PEER: u32 = 0x2;

use crate::credential::{Credential, CredentialCheck};
use crate::tls::provider;

/// Accepts `alknet/call` connections and runs a session on each. Clones share the endpoint
/// (keep one to [`QuicServer::close`] it while another runs [`QuicServer::serve`]).
#[derive(Debug, Clone)]
pub struct QuicServer {
    endpoint: quinn::Endpoint,
    client_auth: ClientAuth,
}

impl QuicServer {
    /// Binds a UDP socket at `addr` serving `identity`.
    pub fn bind(
        addr: SocketAddr,
        identity: ServerIdentity,
        config: QuicConfig,
    ) -> Result<Self, QuicError> {
        let client_verifier = match config.client_auth {
            ClientAuth::Off => None,
            ClientAuth::Fingerprint { required, .. } => Some(Arc::new(AnyClientCertificate {
                required,
                signatures: HandshakeSignatures(provider()),
            }) as _),
        };
        let tls = identity.server_config_verifying(&[ALPN], true, client_verifier)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(config.transport()?);
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?;
        Ok(QuicServer {
            endpoint,
            client_auth: config.client_auth,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, QuicError> {
        self.endpoint
            .local_addr()
            .map_err(|e| QuicError::Endpoint(e.to_string()))
    }

    /// Accepts the next connection and runs a session on it with the options `options_for`
    /// picks for the remote address. `None` once the endpoint is closed.
    pub async fn accept(
        &self,
        options_for: impl FnOnce(SocketAddr) -> SessionOptions,
    ) -> Option<Result<Session, QuicError>> {
        let incoming = self.endpoint.accept().await?;
        Some(
            async move {
                let connection = incoming.await?;
                let options = options_for(connection.remote_address());
                self.admit(connection, options).await
            }
            .await,
        )
    }

    /// Runs the accept loop until the endpoint is closed: every connection gets a session with
    /// the options `options_for` picks, handed to `on_session`. Handshakes run concurrently.
    /// Each session lives until the peer or [`Session::close`] ends it.
    pub async fn serve<F, G>(self, options_for: F, on_session: G)
    where
        F: Fn(SocketAddr) -> SessionOptions + Send + Sync + 'static,
        G: Fn(Session) + Send + Sync + 'static,
    {
        let options_for = Arc::new(options_for);
        let on_session = Arc::new(on_session);
        while let Some(incoming) = self.endpoint.accept().await {
            let (options_for, on_session) = (options_for.clone(), on_session.clone());
            let server = self.clone();
            tokio::spawn(async move {
                let connection = match incoming.await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "quic handshake failed");
                        return;
                    }
                };
                let remote = connection.remote_address();
                let options = options_for(remote);
                match server.admit(connection, options).await {
                    Ok(session) => {
                        on_session(session.clone());
                        // The server owns its sessions: each lives until the peer or a
                        // `close` ends it, whatever `on_session` kept.
                        session.closed().await;
                    }
                    Err(QuicError::UnknownPeer { fingerprint }) => {
                        tracing::warn!(%remote, %fingerprint, "refused a peer with an unknown certificate");
                    }
                    Err(e) => tracing::debug!(error = %e, "quic session setup failed"),
                }
            });
        }
    }

    /// Resolves the peer's certificate to the connection identity (unless the options already
    /// name one) and starts the session, or refuses an unknown peer as configured.
    async fn admit(
        &self,
        connection: quinn::Connection,
        mut options: SessionOptions,
    ) -> Result<Session, QuicError> {
        let mut check = None;
        options
            .source
            .get_or_insert(connection.remote_address().ip());
        if let ClientAuth::Fingerprint { refuse_unknown, .. } = self.client_auth
            && let Some(fingerprint) = peer_fingerprint(&connection)
            && options.connection_identity.is_none()
        {
            options.connection_identity = options
                .identity_provider
                .resolve_from_fingerprint(&fingerprint);
            match &options.connection_identity {
                None if refuse_unknown => {
                    connection.close(REFUSED_PEER.into(), b"unknown peer certificate");
                    return Err(QuicError::UnknownPeer { fingerprint });
                }
                None => {}
                Some(identity) => {
                    check = Some(CredentialCheck::new(
                        options.identity_provider.clone(),
                        Credential::Fingerprint(fingerprint),
                        identity.clone(),
                    ));
                }
            }
        }
        let session = session_over(connection, options).await?;
        if let Some(check) = check {
            session.watch_credential(check);
        }
        Ok(session)
    }

    /// Stops accepting and closes every connection.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"server closed");
    }
}

/// Dials `alknet/call` connections.
#[derive(Debug, Clone)]
pub struct QuicDialer {
    endpoint: quinn::Endpoint,
}

impl QuicDialer {
    /// A dialer on an ephemeral IPv4 port, verifying servers as `verification` says.
    pub fn new(verification: ServerVerification, config: QuicConfig) -> Result<Self, QuicError> {
        QuicDialer::bind(([0, 0, 0, 0], 0).into(), verification, config)
    }

    /// A dialer on a given local address (`[::]:0` to reach IPv6 servers).
    pub fn bind(
        local: SocketAddr,
        verification: ServerVerification,
        config: QuicConfig,
    ) -> Result<Self, QuicError> {
        QuicDialer::bind_presenting(local, verification, None, config)
    }

    /// A dialer that presents `certificate` to the servers it connects to (mutual TLS: the
    /// server resolves it by fingerprint to this node's identity).
    pub fn bind_presenting(
        local: SocketAddr,
        verification: ServerVerification,
        certificate: Option<&ServerIdentity>,
        config: QuicConfig,
    ) -> Result<Self, QuicError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::from)?;
        let mut tls = match verification {
            ServerVerification::CaRoots(roots) => {
                let mut store = rustls::RootCertStore::empty();
                for root in roots {
                    store.add(root).map_err(TlsError::from)?;
                }
                ServerIdentity::client_config(certificate, builder.with_root_certificates(store))?
            }
            ServerVerification::PinnedSha256(pins) => ServerIdentity::client_config(
                certificate,
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                        pins,
                        signatures: HandshakeSignatures(provider()),
                    })),
            )?,
        };
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(config.transport()?);
        let mut endpoint =
            quinn::Endpoint::client(local).map_err(|e| QuicError::Endpoint(e.to_string()))?;
        endpoint.set_default_client_config(client);
        Ok(QuicDialer { endpoint })
    }

    /// Connects to `addr` presenting `server_name` and runs a session over the connection.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
        options: SessionOptions,
    ) -> Result<Session, QuicError> {
        let connection = self
            .endpoint
            .connect(addr, server_name)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?
            .await?;
        session_over(connection, options).await
    }
}

/// The SHA-256 fingerprint of the certificate the peer presented, if any.
fn peer_fingerprint(connection: &quinn::Connection) -> Option<String> {
    let chain = connection
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    chain.first().map(fingerprint)
}

/// Runs a session over an established connection.
async fn session_over(
    connection: quinn::Connection,
    options: SessionOptions,
) -> Result<Session, QuicError> {
    let options = options.with_surface("quic");
    let max = options.config.max_frame_size;
    let send = connection.open_uni().await?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_streams(connection.clone(), tx));
    let transport = QuicTransport::new(rx, max, send);
    // A flush here is a copy into quinn's send buffer (the connection task batches packets
    // itself), so each inline reply is flushed at once: measured, deferring it to the end of
    // the reader's burst cost one call in flight about a tenth of its rate.
    let session = Session::spawn_flushing(transport, options, Flush::Now);
    let closed = session.on_close();
    tokio::spawn(async move {
        match closed.await {
            CloseReason::Revoked(revocation) => {
                connection.close(REVOKED_PEER.into(), revocation.reason().as_bytes());
            }
            _ => connection.close(0u32.into(), b"session closed"),
        }
    });
    Ok(session)
}

/// Hands every stream the peer opens to the transport, until the connection or the session
/// ends.
async fn accept_streams(connection: quinn::Connection, tx: mpsc::Sender<quinn::RecvStream>) {
    loop {
        let recv = tokio::select! {
            uni = connection.accept_uni() => uni,
            bi = connection.accept_bi() => bi.map(|(_, recv)| recv),
            () = tx.closed() => return,
        };
        // The connection ended: dropping `tx` lets the session end once every stream is read.
        let Ok(recv) = recv else { return };
        if tx.send(recv).await.is_err() {
            return;
        }
    }
}
