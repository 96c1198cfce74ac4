//! Server configuration: limits, decoy and stealth, each with a documented default.

use std::path::PathBuf;
use std::time::Duration;

/// Every limit of the server. Each has a default and a test that crosses it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Largest request body; larger gets `413`. Default 2 MiB.
    pub max_body_bytes: usize,
    /// A client must send a complete request head within this time, and an idle keep-alive
    /// HTTP/1.1 connection is closed after it. Default 10 s.
    pub header_read_timeout: Duration,
    /// Time to produce a response head; longer gets `408`. Streams (SSE, WebSocket) are not cut
    /// once their head is sent. Default 60 s.
    pub request_timeout: Duration,
    /// Open connections at once; more are closed right after accept. Default 1024.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection. Default 128.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within
    /// `h2_keep_alive_timeout` is dropped. Default 20 s.
    pub h2_keep_alive_interval: Duration,
    /// How long to wait for an HTTP/2 ping answer. Default 10 s.
    pub h2_keep_alive_timeout: Duration,
    /// A TLS handshake must finish within this time. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish. Default 30 s.
    pub shutdown_grace: Duration,
}

impl ServerLimits {
    /// Sets `max_body_bytes`: largest request body; larger gets `413`. Default 2 MiB.
    #[must_use]
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// Sets `header_read_timeout`: a client must send a complete request head within this time, and an idle keep-alive
    #[must_use]
    pub fn with_header_read_timeout(mut self, header_read_timeout: Duration) -> Self {
        self.header_read_timeout = header_read_timeout;
        self
    }

    /// Sets `request_timeout`: time to produce a response head; longer gets `408`. Streams (SSE, WebSocket) are not cut
    #[must_use]
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    /// Sets `max_connections`: open connections at once; more are closed right after accept. Default 1024.
    #[must_use]
    pub fn with_max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets `h2_max_concurrent_streams`: concurrent HTTP/2 streams per connection. Default 128.
    #[must_use]
    pub fn with_h2_max_concurrent_streams(mut self, h2_max_concurrent_streams: u32) -> Self {
        self.h2_max_concurrent_streams = h2_max_concurrent_streams;
        self
    }

    /// Sets `h2_keep_alive_interval`: hTTP/2 keep-alive ping interval; a peer that does not answer within
    #[must_use]
    pub fn with_h2_keep_alive_interval(mut self, h2_keep_alive_interval: Duration) -> Self {
        self.h2_keep_alive_interval = h2_keep_alive_interval;
        self
    }

    /// Sets `h2_keep_alive_timeout`: how long to wait for an HTTP/2 ping answer. Default 10 s.
    #[must_use]
    pub fn with_h2_keep_alive_timeout(mut self, h2_keep_alive_timeout: Duration) -> Self {
        self.h2_keep_alive_timeout = h2_keep_alive_timeout;
        self
    }

    /// Sets `tls_handshake_timeout`: a TLS handshake must finish within this time. Default 10 s.
    #[must_use]
    pub fn with_tls_handshake_timeout(mut self, tls_handshake_timeout: Duration) -> Self {
        self.tls_handshake_timeout = tls_handshake_timeout;
        self
    }

    /// Sets `shutdown_grace`: on shutdown, in-flight requests get this long to finish. Default 30 s.
    #[must_use]
    pub fn with_shutdown_grace(mut self, shutdown_grace: Duration) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body_bytes: 2 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            h2_max_concurrent_streams: 128,
            h2_keep_alive_interval: Duration::from_secs(20),
            h2_keep_alive_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What everything the node does not serve looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DecoyConfig {
    /// A bland web-server `404 Not Found` page (the default).
    #[default]
    NotFound,
    /// Files under `root` (no path may escape it); anything else gets the same 404.
    StaticSite {
        /// The directory served.
        root: PathBuf,
    },
    /// `302 Found` to `to`, for every unknown path and method.
    Redirect {
        /// The `Location`.
        to: String,
    },
}

/// How much the node shows to callers without a valid identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stealth {
    /// Only unknown paths get the decoy (the default).
    #[default]
    UnknownPaths,
    /// A request without a valid identity gets the decoy on every path except `/healthz`.
    /// Operations open to anonymous callers are then unreachable anonymously.
    Full,
}
