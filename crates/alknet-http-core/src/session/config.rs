//! What a session serves and its limits ([`SessionOptions`], [`SessionConfig`]), and why it
//! ended ([`CloseReason`]).

use std::sync::Arc;
use std::time::Duration;

use crate::access::OwnershipProvider;
use crate::compose::PeerTable;
use crate::frame::{DEFAULT_MAX_FRAME_SIZE, FrameError};
use crate::identity::{AnonymousOnly, Identity, IdentityProvider};
use crate::invoke::DEFAULT_CALL_TIMEOUT;
use crate::registry::OperationRegistry;

/// Limits and timeouts of a session, each with a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Timeout of outgoing calls, and deadline of incoming Query/Mutation calls. Default 30 s.
    pub call_timeout: Duration,
    /// How often expired outgoing calls are swept. Default 10 s.
    pub sweep_interval: Duration,
    /// Items an outgoing subscription may buffer before it ends as `lagged`. Default 256.
    pub subscription_queue: usize,
    /// Largest frame or message accepted or sent. Default 16 MiB.
    pub max_frame_size: usize,
    /// Incoming requests running at once; more are refused with a retryable error. Default 1024.
    pub max_concurrent_requests: usize,
    /// Frames queued for the writer before senders wait. Default 1024.
    pub outbound_queue: usize,
}

impl SessionConfig {
    /// Sets `call_timeout`: timeout of outgoing calls, and deadline of incoming Query/Mutation calls. Default 30 s.
    #[must_use]
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Sets `sweep_interval`: how often expired outgoing calls are swept. Default 10 s.
    #[must_use]
    pub fn with_sweep_interval(mut self, sweep_interval: Duration) -> Self {
        self.sweep_interval = sweep_interval;
        self
    }

    /// Sets `subscription_queue`: items an outgoing subscription may buffer before it ends as `lagged`. Default 256.
    #[must_use]
    pub fn with_subscription_queue(mut self, subscription_queue: usize) -> Self {
        self.subscription_queue = subscription_queue;
        self
    }

    /// Sets `max_frame_size`: largest frame or message accepted or sent. Default 16 MiB.
    #[must_use]
    pub fn with_max_frame_size(mut self, max_frame_size: usize) -> Self {
        self.max_frame_size = max_frame_size;
        self
    }

    /// Sets `max_concurrent_requests`: incoming requests running at once; more are refused with a retryable error. Default 1024.
    #[must_use]
    pub fn with_max_concurrent_requests(mut self, max_concurrent_requests: usize) -> Self {
        self.max_concurrent_requests = max_concurrent_requests;
        self
    }

    /// Sets `outbound_queue`: frames queued for the writer before senders wait. Default 1024.
    #[must_use]
    pub fn with_outbound_queue(mut self, outbound_queue: usize) -> Self {
        self.outbound_queue = outbound_queue;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            call_timeout: DEFAULT_CALL_TIMEOUT,
            sweep_interval: Duration::from_secs(10),
            subscription_queue: 256,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_concurrent_requests: 1024,
            outbound_queue: 1024,
        }
    }
}

/// What a session serves and who is on the other end.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The base layer incoming calls are dispatched against.
    pub registry: OperationRegistry,
    /// Resolves per-request `auth_token`s.
    pub identity_provider: Arc<dyn IdentityProvider>,
    /// The connection-level identity (TLS fingerprint, bearer on upgrade), if any.
    pub connection_identity: Option<Arc<Identity>>,
    /// The node's peer table: this session's overlay is attached under the connection
    /// identity's id. Sessions without an identity are never attached.
    pub peers: Option<Arc<PeerTable>>,
    /// The ownership provider for resource-typed access control.
    pub ownership: Option<Arc<dyn OwnershipProvider>>,
    /// Limits and timeouts.
    pub config: SessionConfig,
    /// The surface the session is counted under in the metrics (`ws`, `quic`, …). Default
    /// `session`.
    pub surface: &'static str,
    /// The other side's address: an anonymous caller's calls count against the per-address
    /// rate limits.
    pub source: Option<std::net::IpAddr>,
}

impl SessionOptions {
    /// Options serving `registry` to an anonymous peer with default limits.
    pub fn new(registry: OperationRegistry) -> Self {
        SessionOptions {
            registry,
            identity_provider: Arc::new(AnonymousOnly),
            connection_identity: None,
            peers: None,
            ownership: None,
            config: SessionConfig::default(),
            surface: "session",
            source: None,
        }
    }

    /// Sets the identity provider for per-request tokens.
    #[must_use]
    pub fn with_identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.identity_provider = provider;
        self
    }

    /// Sets the connection identity.
    #[must_use]
    pub fn with_connection_identity(mut self, identity: Option<Identity>) -> Self {
        self.connection_identity = identity.map(Arc::new);
        self
    }

    /// Sets the surface the session is counted under in the metrics.
    #[must_use]
    pub fn with_surface(mut self, surface: &'static str) -> Self {
        self.surface = surface;
        self
    }

    /// Sets the peer table.
    #[must_use]
    pub fn with_peers(mut self, peers: Arc<PeerTable>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed the transport.
    PeerClosed,
    /// This side called [`Session::close`](super::Session::close).
    Local,
    /// The credential the session was opened with was revoked, changed by a reload or expired.
    Revoked(crate::credential::Revocation),
    /// Reading or writing failed; carries the WebSocket close code that fits and a message.
    Transport {
        /// The close code for message transports (1003, 1007, 1009, 1011…).
        close_code: u16,
        /// What happened.
        message: String,
    },
}

impl CloseReason {
    pub(super) fn from_error(error: &FrameError) -> Self {
        CloseReason::Transport {
            close_code: error.close_code(),
            message: error.to_string(),
        }
    }
}
