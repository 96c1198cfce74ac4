//! [`Listener`]: where a node listens.

use std::net::SocketAddr;

#[cfg(any(all(feature = "server", feature = "tls"), feature = "quic"))]
use alknet_http_core::tls::ServerIdentity;

/// Where a node listens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Listener {
    /// HTTP/1.1 and h2c on plain TCP.
    #[cfg(feature = "server")]
    Http(SocketAddr),
    /// HTTPS with ALPN `h2` and `http/1.1`.
    #[cfg(all(feature = "server", feature = "tls"))]
    Https(SocketAddr, ServerIdentity),
    /// The native call transport (`alknet/call` over QUIC).
    #[cfg(feature = "quic")]
    Quic(SocketAddr, ServerIdentity),
}

impl Listener {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        match self {
            #[cfg(feature = "server")]
            Listener::Http(addr) => *addr,
            #[cfg(all(feature = "server", feature = "tls"))]
            Listener::Https(addr, _) => *addr,
            #[cfg(feature = "quic")]
            Listener::Quic(addr, _) => *addr,
            #[cfg(not(any(feature = "server", feature = "quic")))]
            _ => match *self {},
        }
    }

    /// `http`, `https` or `quic`.
    pub fn scheme(&self) -> &'static str {
        match self {
            #[cfg(feature = "server")]
            Listener::Http(_) => "http",
            #[cfg(all(feature = "server", feature = "tls"))]
            Listener::Https(..) => "https",
            #[cfg(feature = "quic")]
            Listener::Quic(..) => "quic",
            #[cfg(not(any(feature = "server", feature = "quic")))]
            _ => match *self {},
        }
    }
}
