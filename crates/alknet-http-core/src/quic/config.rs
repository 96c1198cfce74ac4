//! How QUIC endpoints verify each other and the limits of their connections.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use super::QuicError;

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

/// Whether a server asks connecting peers for a client certificate (mutual TLS between
/// nodes). The certificate's SHA-256 fingerprint is resolved to the connection identity with
/// the session's identity provider (`IdentityProvider::resolve_from_fingerprint`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No certificate is asked for (the default): callers authenticate per request.
    #[default]
    Off,
    /// A certificate is asked for; one is needed only when `required`. A connection whose
    /// certificate resolves to no identity is refused when `refuse_unknown`, else admitted with
    /// no connection identity. A connection without a certificate (when not `required`) is
    /// admitted with no connection identity.
    Fingerprint {
        /// Whether the handshake fails without a client certificate.
        required: bool,
        /// Whether an unknown certificate is refused (else admitted anonymously).
        refuse_unknown: bool,
    },
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
    /// Whether a server asks for client certificates. Default [`ClientAuth::Off`].
    pub client_auth: ClientAuth,
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

    /// Sets `client_auth`: whether a server asks for client certificates. Default off.
    #[must_use]
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            max_incoming_streams: 16,
            client_auth: ClientAuth::Off,
        }
    }
}

impl QuicConfig {
    pub(super) fn transport(&self) -> Result<Arc<quinn::TransportConfig>, QuicError> {
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
