//! Peer links: dialing with backoff and jitter, importing on every session, and each peer's
//! state for the logs and the readiness view.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http_core::adapter::{FromCall, FromCallConfig};
use alknet_http_core::quic::{QuicDialer, QuicError, ServerVerification};
use alknet_http_core::session::{Session, SessionConfig, SessionOptions};
use alknet_http_core::{IdentityProvider, OperationRegistry};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Federation, Peer, PeerDirectory};

/// Where a peer link stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerState {
    /// Not connected; the peer dials this node.
    Waiting,
    /// This node is dialing it.
    Connecting,
    /// A session is up; `operations` were imported from it.
    Connected {
        /// How many operations the last import brought.
        operations: usize,
    },
    /// The last attempt failed or the session was lost; the next dial is in `retry_in_ms`.
    Retrying {
        /// Milliseconds until the next attempt, as of when this state was set.
        retry_in_ms: u64,
        /// Why.
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
struct PeerEntry {
    dialed: bool,
    #[serde(flatten)]
    state: PeerState,
}

/// The state of every configured peer, shared by the links and the readiness view.
#[derive(Debug, Clone, Default)]
pub struct PeerStatus(Arc<Mutex<BTreeMap<String, PeerEntry>>>);

impl PeerStatus {
    fn new(federation: &Federation) -> Self {
        let entries = federation
            .peers
            .iter()
            .map(|peer| {
                let entry = PeerEntry {
                    dialed: peer.dial.is_some(),
                    state: PeerState::Waiting,
                };
                (peer.id().to_owned(), entry)
            })
            .collect();
        PeerStatus(Arc::new(Mutex::new(entries)))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PeerEntry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, id: &str, state: PeerState) {
        if let Some(entry) = self.entries().get_mut(id) {
            entry.state = state;
        }
    }

    /// Every peer's id and state, by id.
    pub fn snapshot(&self) -> Vec<(String, PeerState)> {
        self.entries()
            .iter()
            .map(|(id, entry)| (id.clone(), entry.state.clone()))
            .collect()
    }

    /// Whether every peer this node dials is connected.
    pub fn ready(&self) -> bool {
        self.entries()
            .values()
            .all(|e| !e.dialed || matches!(e.state, PeerState::Connected { .. }))
    }

    /// The readiness view's JSON: `{"ready": bool, "peers": {id: {dialed, state, …}}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "ready": self.ready(), "peers": &*self.entries() })
    }
}

/// What every peer link of a node shares.
#[derive(Debug)]
pub(crate) struct Links {
    pub(crate) federation: Federation,
    pub(crate) registry: OperationRegistry,
    pub(crate) provider: Arc<dyn IdentityProvider>,
    pub(crate) session: SessionConfig,
    pub(crate) status: PeerStatus,
}

impl Links {
    /// The links of `federation`: the node's identity provider gets the peers' certificates
    /// in front.
    pub(crate) fn new(
        federation: Federation,
        registry: OperationRegistry,
        tokens: Arc<dyn IdentityProvider>,
        session: SessionConfig,
    ) -> Arc<Self> {
        let provider = Arc::new(PeerDirectory::new(&federation, tokens));
        Arc::new(Links {
            status: PeerStatus::new(&federation),
            federation,
            registry,
            provider,
            session,
        })
    }

    /// The options of a session with a peer (or with whoever connects, on the listener):
    /// attached to the node's peer table under the connection identity.
    pub(crate) fn session_options(&self) -> SessionOptions {
        SessionOptions::new(self.registry.clone())
            .with_identity_provider(self.provider.clone())
            .with_peers(self.registry.peers().clone())
            .with_config(self.session.clone())
    }
}

/// Starts a dial loop for every peer this node dials.
pub(crate) fn start(links: &Arc<Links>, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
    for peer in &links.federation.peers {
        if let Some(address) = &peer.dial {
            let (links, peer, address) = (links.clone(), peer.clone(), address.clone());
            let stop = stop.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = dial_loop(&links, &peer, &address) => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    }
}

/// A session the QUIC listener accepted: when it is a peer's, import from it (if configured)
/// and follow its state until it ends.
pub(crate) fn accepted(links: &Arc<Links>, session: Session) {
    let Some(id) = session.connection_identity().map(|i| i.id.clone()) else {
        return;
    };
    let Some(peer) = links.federation.peer(&id).cloned() else {
        return;
    };
    let links = links.clone();
    tokio::spawn(async move {
        tracing::info!(peer = %id, "peer connected (it dialed)");
        let operations = import(&peer, &session).await;
        links.status.set(&id, PeerState::Connected { operations });
        session.closed().await;
        tracing::warn!(peer = %id, "peer lost");
        if peer.dial.is_none() {
            links.status.set(&id, PeerState::Waiting);
        }
    });
}

/// Imports the peer's operations into the session's overlay, as its entry says; the count.
async fn import(peer: &Peer, session: &Session) -> usize {
    let Some(import) = &peer.import else {
        return 0;
    };
    let mut config = FromCallConfig::new(peer.id()).with_visibility(import.visibility);
    if let Some(prefix) = &import.prefix {
        config = config.with_prefix(prefix.clone());
    }
    if let Some(filter) = &import.filter {
        config = config.with_filter(filter);
    }
    match FromCall::new(session.clone(), config)
        .import_into_overlay()
        .await
    {
        Ok(count) => {
            tracing::info!(peer = %peer.id(), operations = count, "imported {count} operations");
            count
        }
        Err(error) => {
            tracing::warn!(peer = %peer.id(), %error, "import failed; the session stays up without imports");
            0
        }
    }
}

/// Dials `peer` until the node stops: a session per success, a growing, jittered delay per
/// failure (reset by a session that lived longer than the longest delay).
async fn dial_loop(links: &Links, peer: &Peer, address: &str) {
    let id = peer.id();
    let mut failures: u32 = 0;
    loop {
        links.status.set(id, PeerState::Connecting);
        let error = match connect(links, peer, address).await {
            Ok((session, _dialer)) => {
                let since = Instant::now();
                tracing::info!(peer = %id, %address, "peer connected");
                let operations = import(peer, &session).await;
                links.status.set(id, PeerState::Connected { operations });
                session.closed().await;
                if since.elapsed() > links.federation.max_redial {
                    failures = 0;
                }
                "connection lost".to_owned()
            }
            Err(error) => error,
        };
        failures = failures.saturating_add(1);
        let delay = redial_delay(links, failures);
        tracing::warn!(
            peer = %id,
            %address,
            %error,
            "peer lost; retrying in {:.1} s",
            delay.as_secs_f64()
        );
        let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        links
            .status
            .set(id, PeerState::Retrying { retry_in_ms, error });
        tokio::time::sleep(delay).await;
    }
}

/// One attempt: resolve, dial (pinning the peer's certificate, presenting ours), and start the
/// session. The dialer is returned with it: its endpoint must outlive the connection.
async fn connect(
    links: &Links,
    peer: &Peer,
    address: &str,
) -> Result<(Session, QuicDialer), String> {
    let addr = resolve(address).await?;
    let local: SocketAddr = if addr.is_ipv6() {
        ([0u16; 8], 0).into()
    } else {
        ([0, 0, 0, 0], 0).into()
    };
    let dialer = QuicDialer::bind_presenting(
        local,
        ServerVerification::pinned([&peer.fingerprint]),
        Some(&links.federation.certificate),
        links.federation.link.clone(),
    )
    .map_err(|e| e.to_string())?;
    // The name is not checked (the certificate is pinned) but must be a valid DNS name.
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let server_name = if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        "alknet-peer"
    } else {
        host
    };
    let options = links
        .session_options()
        .with_connection_identity(Some(peer.identity.clone()));
    match dialer.connect(addr, server_name, options).await {
        Ok(session) => Ok((session, dialer)),
        Err(QuicError::Connection(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn resolve(address: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address"))
}

/// `first × 2^(failures−1)`, capped at the longest delay, then jittered down by up to half so
/// that peers that lost the same node do not redial in step.
fn redial_delay(links: &Links, failures: u32) -> Duration {
    let federation = &links.federation;
    let doubled = federation
        .first_redial
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let capped = doubled.min(federation.max_redial);
    let jitter = f64::from(getrandom::u32().unwrap_or(0)) / f64::from(u32::MAX);
    capped.mul_f64(1.0 - jitter / 2.0)
}
