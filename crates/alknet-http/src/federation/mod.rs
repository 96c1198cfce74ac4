//! Federation (feature `quic`): this node's peers over `alknet/call` (call-protocol §8.5, §13).
//!
//! Nodes authenticate each other by mutual TLS with pinned SHA-256 certificate fingerprints.
//! A peer's certificate resolves to the [`Identity`] its [`Peer`] entry gives it here (its
//! scopes decide, through the ordinary access control, what it may call on this node). On
//! every session with a peer — dialed by this node or accepted from it — the peer's operations
//! are imported with `from_call` into that session's overlay, attached to the node's peer table
//! under the peer's id, and dropped when the session ends. A dialed peer is redialed with
//! exponential backoff and jitter.
//!
//! ```no_run
//! use alknet_http::federation::{Federation, Peer, PeerImport};
//! use alknet_http::core::tls::ServerIdentity;
//! use alknet_http::core::Identity;
//!
//! # fn demo() -> Result<(), alknet_http::core::tls::TlsError> {
//! let certificate = ServerIdentity::self_signed(["hub"])?;
//! let federation = Federation::new(certificate).with_peer(
//!     Peer::new(Identity::new("spoke-a").with_scopes(["demo:read"]), "9f86d081884c7d65…")
//!         .dialing("127.0.0.1:9443")
//!         .importing(PeerImport::default().with_prefix("a")),
//! );
//! println!("pin this node as {}", federation.fingerprint());
//! # Ok(()) }
//! ```

mod link;
mod readiness;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::quic::QuicConfig;
use alknet_http_core::tls::ServerIdentity;
use alknet_http_core::{AuthToken, Identity, IdentityProvider, Visibility};

pub(crate) use link::{Links, accepted, start};
pub use link::{PeerState, PeerStatus};
pub use readiness::READYZ;
#[cfg(feature = "server")]
pub(crate) use readiness::surface as readiness_surface;

/// What this node imports from a peer on every session with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerImport {
    /// A local prefix: remote `demo/echo` becomes `<prefix>/demo/echo`.
    pub prefix: Option<String>,
    /// Only these remote names, when set.
    pub filter: Option<Vec<String>>,
    /// `Internal` (the default: only this node's handlers compose them) or `External` (this
    /// node's callers reach them too, per their access).
    pub visibility: Visibility,
}

impl Default for PeerImport {
    fn default() -> Self {
        PeerImport {
            prefix: None,
            filter: None,
            visibility: Visibility::Internal,
        }
    }
}

impl PeerImport {
    /// Sets the local prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Imports only `names`.
    #[must_use]
    pub fn with_filter<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.filter = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the visibility of the imports.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }
}

/// One peer: who it is here, how it is recognised, whether this node dials it, and what is
/// imported from it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Peer {
    /// The identity the peer has on this node: its id names it in logs and in the peer table;
    /// its scopes and resources decide what it may call.
    pub identity: Identity,
    /// The SHA-256 of the peer's certificate, lowercase hex without colons.
    pub fingerprint: String,
    /// `host:port` this node dials; `None` when the peer dials us.
    pub dial: Option<String>,
    /// What to import from it on every session; `None` imports nothing.
    pub import: Option<PeerImport>,
}

impl Peer {
    /// A peer recognised by `fingerprint` (hex, any case, colons allowed) that dials us and
    /// from which nothing is imported.
    pub fn new(identity: Identity, fingerprint: &str) -> Self {
        Peer {
            identity,
            fingerprint: normalize_fingerprint(fingerprint),
            dial: None,
            import: None,
        }
    }

    /// This node dials the peer at `address` (`host:port`, resolved on every attempt).
    #[must_use]
    pub fn dialing(mut self, address: impl Into<String>) -> Self {
        self.dial = Some(address.into());
        self
    }

    /// Imports the peer's operations on every session.
    #[must_use]
    pub fn importing(mut self, import: PeerImport) -> Self {
        self.import = Some(import);
        self
    }

    /// The peer's id.
    pub fn id(&self) -> &str {
        &self.identity.id
    }
}

/// What happens to a connection whose certificate matches no peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownPeers {
    /// The connection is closed (the default).
    #[default]
    Refuse,
    /// The connection is served with no connection identity (its calls then authenticate
    /// per request with tokens, like any client's).
    Anonymous,
}

/// This node's certificate, its peers, and how peer links behave.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Federation {
    /// Presented to peers, by the QUIC listener and when dialing.
    pub certificate: ServerIdentity,
    /// The peers.
    pub peers: Vec<Peer>,
    /// What happens to unknown certificates. Default [`UnknownPeers::Refuse`].
    pub unknown_peers: UnknownPeers,
    /// Liveness of peer links: how fast a silent peer is declared lost. Default: keep-alive
    /// every 1 s, lost after 5 s of silence (a peer that closes its connection is lost at once).
    pub link: QuicConfig,
    /// The first redial delay, doubled per failure up to `max_redial`. Default 250 ms.
    pub first_redial: Duration,
    /// The longest redial delay. Default 30 s.
    pub max_redial: Duration,
}

impl Federation {
    /// A federation presenting `certificate`, with no peers yet.
    pub fn new(certificate: ServerIdentity) -> Self {
        Federation {
            certificate,
            peers: Vec::new(),
            unknown_peers: UnknownPeers::Refuse,
            link: QuicConfig::default()
                .with_keep_alive(Duration::from_secs(1))
                .with_idle_timeout(Duration::from_secs(5)),
            first_redial: Duration::from_millis(250),
            max_redial: Duration::from_secs(30),
        }
    }

    /// Adds a peer.
    #[must_use]
    pub fn with_peer(mut self, peer: Peer) -> Self {
        self.peers.push(peer);
        self
    }

    /// Sets what happens to unknown certificates.
    #[must_use]
    pub fn with_unknown_peers(mut self, unknown: UnknownPeers) -> Self {
        self.unknown_peers = unknown;
        self
    }

    /// Sets the liveness of peer links (keep-alive and idle timeout).
    #[must_use]
    pub fn with_link(mut self, link: QuicConfig) -> Self {
        self.link = link;
        self
    }

    /// Sets the first and the longest redial delay.
    #[must_use]
    pub fn with_redial(mut self, first: Duration, max: Duration) -> Self {
        self.first_redial = first;
        self.max_redial = max.max(first);
        self
    }

    /// This node's certificate fingerprint: what peers pin.
    pub fn fingerprint(&self) -> String {
        self.certificate.fingerprint_sha256()
    }

    /// The peer entry of `id`.
    pub fn peer(&self, id: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id() == id)
    }
}

/// Lowercase hex without colons, as fingerprints are compared.
fn normalize_fingerprint(fingerprint: &str) -> String {
    fingerprint.replace(':', "").trim().to_ascii_lowercase()
}

/// The node's identity provider with the peers' certificates in front: a fingerprint resolves
/// to its peer's identity; tokens go to the node's own provider.
#[derive(Debug)]
pub(crate) struct PeerDirectory {
    by_fingerprint: HashMap<String, Arc<Identity>>,
    tokens: Arc<dyn IdentityProvider>,
}

impl PeerDirectory {
    pub(crate) fn new(federation: &Federation, tokens: Arc<dyn IdentityProvider>) -> Self {
        PeerDirectory {
            by_fingerprint: federation
                .peers
                .iter()
                .map(|p| (p.fingerprint.clone(), Arc::new(p.identity.clone())))
                .collect(),
            tokens,
        }
    }
}

impl IdentityProvider for PeerDirectory {
    fn resolve_from_fingerprint(&self, fingerprint: &str) -> Option<Arc<Identity>> {
        self.by_fingerprint
            .get(&normalize_fingerprint(fingerprint))
            .cloned()
            .or_else(|| self.tokens.resolve_from_fingerprint(fingerprint))
    }

    fn resolve_from_token(&self, token: &AuthToken) -> Option<Arc<Identity>> {
        self.tokens.resolve_from_token(token)
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.tokens.changes()
    }
}
