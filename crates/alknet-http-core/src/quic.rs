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

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, Stream, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::envelope::EventEnvelope;
use crate::frame::{FrameCodec, FrameError};
use crate::session::{Flush, Session, SessionOptions};
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
}

use crate::tls::provider;

/// How a dialer verifies the server's certificate.
#[derive(Debug, Clone)]
pub enum ServerVerification {
    /// Chain to one of these roots, for the dialed name.
    CaRoots(Vec<CertificateDer<'static>>),
    /// The end-entity certificate's SHA-256 must be one of these (hex); no name or chain check.
    PinnedSha256(Vec<String>),
}

impl ServerVerification {
    /// Pins certificate fingerprints (lowercase or uppercase hex, colons allowed).
    pub fn pinned<I, S>(fingerprints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ServerVerification::PinnedSha256(
            fingerprints
                .into_iter()
                .map(|f| f.as_ref().replace(':', "").to_ascii_lowercase())
                .collect(),
        )
    }
}

/// Timeouts and limits of QUIC connections, with documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QuicConfig {
    /// A connection with no traffic for this long is closed. Default 30 s.
    pub idle_timeout: Duration,
    /// Keep-alive ping interval (must be below `idle_timeout`). Default 10 s.
    pub keep_alive: Duration,
    /// Streams a peer may have open towards us at once. Default 16.
    pub max_incoming_streams: u32,
}

impl QuicConfig {
    /// Sets `idle_timeout`: a connection with no traffic for this long is closed. Default 30 s.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets `keep_alive`: keep-alive ping interval (must be below `idle_timeout`). Default 10 s.
    #[must_use]
    pub fn with_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Sets `max_incoming_streams`: streams a peer may have open towards us at once. Default 16.
    #[must_use]
    pub fn with_max_incoming_streams(mut self, max_incoming_streams: u32) -> Self {
        self.max_incoming_streams = max_incoming_streams;
        self
    }
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            max_incoming_streams: 16,
        }
    }
}

impl QuicConfig {
    fn transport(&self) -> Result<Arc<quinn::TransportConfig>, QuicError> {
        let mut transport = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|e| QuicError::Endpoint(format!("idle timeout: {e}")))?;
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(self.keep_alive))
            .max_concurrent_bidi_streams(self.max_incoming_streams.into())
            .max_concurrent_uni_streams(self.max_incoming_streams.into());
        Ok(Arc::new(transport))
    }
}

/// Accepts `alknet/call` connections and runs a session on each. Clones share the endpoint
/// (keep one to [`QuicServer::close`] it while another runs [`QuicServer::serve`]).
#[derive(Debug, Clone)]
pub struct QuicServer {
    endpoint: quinn::Endpoint,
}

impl QuicServer {
    /// Binds a UDP socket at `addr` serving `identity`.
    pub fn bind(
        addr: SocketAddr,
        identity: ServerIdentity,
        config: QuicConfig,
    ) -> Result<Self, QuicError> {
        let tls = identity.server_config(&[ALPN], true)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(config.transport()?);
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|e| QuicError::Endpoint(e.to_string()))?;
        Ok(QuicServer { endpoint })
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
                session_over(connection, options).await
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
            tokio::spawn(async move {
                let connection = match incoming.await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "quic handshake failed");
                        return;
                    }
                };
                let options = options_for(connection.remote_address());
                match session_over(connection, options).await {
                    Ok(session) => {
                        on_session(session.clone());
                        // The server owns its sessions: each lives until the peer or a
                        // `close` ends it, whatever `on_session` kept.
                        session.closed().await;
                    }
                    Err(e) => tracing::debug!(error = %e, "quic session setup failed"),
                }
            });
        }
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
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::from)?;
        let mut tls = match verification {
            ServerVerification::CaRoots(roots) => {
                let mut store = rustls::RootCertStore::empty();
                for root in roots {
                    store.add(root).map_err(TlsError::from)?;
                }
                builder.with_root_certificates(store).with_no_client_auth()
            }
            ServerVerification::PinnedSha256(pins) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                    pins,
                    provider: provider(),
                }))
                .with_no_client_auth(),
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

/// Verifies a server by the SHA-256 of its end-entity certificate, and its handshake signature.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let fingerprint = hex::encode(Sha256::digest(end_entity.as_ref()));
        if self.pins.contains(&fingerprint) {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Runs a session over an established connection.
async fn session_over(
    connection: quinn::Connection,
    options: SessionOptions,
) -> Result<Session, QuicError> {
    let max = options.config.max_frame_size;
    let send = connection.open_uni().await?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_streams(connection.clone(), tx));
    let transport = QuicTransport {
        streams: Some(rx),
        incoming: futures::stream::SelectAll::new(),
        max,
        outgoing: FramedWrite::new(send, FrameCodec::new(max)),
    };
    // A flush here is a copy into quinn's send buffer (the connection task batches packets
    // itself), so each inline reply is flushed at once: measured, deferring it to the end of
    // the reader's burst cost one call in flight about a tenth of its rate.
    let session = Session::spawn_flushing(transport, options, Flush::Now);
    let closed = session.on_close();
    tokio::spawn(async move {
        closed.await;
        connection.close(0u32.into(), b"session closed");
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

/// The peer's streams read as one stream of envelopes (polled by the session itself: no task
/// and no hand-off per envelope), and the one outbound stream.
struct QuicTransport {
    /// New streams from the acceptor; `None` once the connection accepts no more.
    streams: Option<mpsc::Receiver<quinn::RecvStream>>,
    incoming: futures::stream::SelectAll<PeerStream>,
    max: usize,
    outgoing: FramedWrite<quinn::SendStream, FrameCodec>,
}

impl Stream for QuicTransport {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while let Some(streams) = this.streams.as_mut() {
            match streams.poll_recv(cx) {
                Poll::Ready(Some(recv)) => this.incoming.push(PeerStream::new(recv, this.max)),
                Poll::Ready(None) => this.streams = None,
                Poll::Pending => break,
            }
        }
        match this.incoming.poll_next_unpin(cx) {
            // No stream open right now, but more may come.
            Poll::Ready(None) if this.streams.is_some() => Poll::Pending,
            other => other,
        }
    }
}

/// How many request ids one peer stream remembers for its reset (older ones are forgotten: by
/// then they have long been answered, or the concurrency limit refused them).
const REMEMBERED_IDS: usize = 1024;

/// One stream the peer opened. A failure of this stream alone — a reset, EOF inside a frame, an
/// oversize length prefix — ends only this stream (call-protocol §2, §5): its entries are
/// removed locally and nothing is sent. The requests it carried are aborted and the answers it
/// carried (to this side's calls and subscriptions) fail, by envelopes made up here for the
/// session; the connection's loss ends the stream quietly (the session then ends as a whole).
struct PeerStream {
    frames: Option<FramedRead<quinn::RecvStream, FrameCodec>>,
    /// Ids of the requests (`true`) and answers (`false`) this stream carried; an id is kept
    /// once however many items of a subscription carried it.
    carried: std::collections::HashMap<String, bool>,
    /// The same ids, oldest first, to forget the oldest past [`REMEMBERED_IDS`].
    order: std::collections::VecDeque<String>,
    /// The envelopes that remove this stream's entries once it failed.
    removals: Vec<EventEnvelope>,
}

impl PeerStream {
    fn new(recv: quinn::RecvStream, max: usize) -> Self {
        PeerStream {
            frames: Some(FramedRead::new(recv, FrameCodec::new(max))),
            carried: std::collections::HashMap::new(),
            order: std::collections::VecDeque::new(),
            removals: Vec::new(),
        }
    }

    fn remember(&mut self, envelope: &EventEnvelope) {
        use crate::envelope::event_type;
        let request = match envelope.event_type.as_str() {
            event_type::CALL_REQUESTED => true,
            event_type::CALL_RESPONDED => false,
            _ => return,
        };
        // One hash lookup per envelope; a copy of the id only for an id not seen before.
        if self.carried.contains_key(&envelope.id) {
            return;
        }
        if self.order.len() == REMEMBERED_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.carried.remove(&oldest);
        }
        self.order.push_back(envelope.id.clone());
        self.carried.insert(envelope.id.clone(), request);
    }

    fn fail(&mut self, error: &FrameError) {
        self.frames = None;
        if let FrameError::Io(e) = error
            && e.kind() == std::io::ErrorKind::NotConnected
        {
            return;
        }
        tracing::debug!(%error, "a peer stream failed; the session goes on without it");
        let reset = crate::error::CallError::internal("stream reset");
        self.order.clear();
        self.removals = self
            .carried
            .drain()
            .map(|(id, request)| {
                if request {
                    EventEnvelope::aborted(id)
                } else {
                    EventEnvelope::error(id, &reset)
                }
            })
            .collect();
    }
}

impl Stream for PeerStream {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(frames) = this.frames.as_mut() {
            match frames.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(envelope))) => {
                    this.remember(&envelope);
                    return Poll::Ready(Some(Ok(envelope)));
                }
                Poll::Ready(Some(Err(error))) => this.fail(&error),
                Poll::Ready(None) => this.frames = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(this.removals.pop().map(Ok))
    }
}

impl Sink<EventEnvelope> for QuicTransport {
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_ready(Pin::new(&mut self.outgoing), cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        Pin::new(&mut self.outgoing).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_flush(Pin::new(&mut self.outgoing), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_close(Pin::new(&mut self.outgoing), cx)
    }
}
