//! The transport-agnostic bidirectional call session (call-protocol §3–§6).
//!
//! A [`Session`] runs over anything that moves whole envelopes both ways: a byte stream framed
//! with [`FrameCodec`](crate::frame::FrameCodec) ([`Session::over_io`]) or a message transport
//! such as a WebSocket ([`Session::spawn`] with a `Stream`/`Sink` of envelopes). Both sides may
//! call: incoming `call.requested` are dispatched against the local registry; outgoing calls
//! and subscriptions are correlated by id in a pending-request map (`pending.rs`).
//!
//! ```
//! use alknet_http_core::session::{Session, SessionOptions};
//! use alknet_http_core::{HandlerKind, OperationRegistry, OperationSpec};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = OperationRegistry::builder()
//!     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|i, _| async move { Ok(i) }), Default::default())
//!     .build()
//!     .unwrap();
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let server = Session::over_io(a, SessionOptions::new(registry));
//! let client = Session::over_io(b, SessionOptions::new(OperationRegistry::builder().build().unwrap()));
//! assert_eq!(client.call("/demo/echo", json!({"x": 1})).await.unwrap(), json!({"x": 1}));
//! client.close();
//! server.closed().await;
//! # });
//! ```

mod config;
mod handle;
mod incoming;
mod io;
mod outbound;
mod outgoing;
mod pending;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::context::OperationEnv;
use crate::envelope::EventEnvelope;
use crate::error::CallError;
use crate::registry::OperationOverlay;

pub use config::{CloseReason, SessionConfig, SessionOptions};
pub use handle::Session;
pub use io::{Joined, join};
#[cfg(feature = "quic")]
pub(crate) use outbound::Flush;
pub use outgoing::{OutgoingCall, OutgoingOptions, Subscription};
pub(crate) use pending::{Delivery, PendingRequestMap, SubscriptionReceiver};

/// An incoming request that is running.
struct InFlight {
    generation: u64,
    abort: CancellationToken,
    /// A Mutation that outlives the session's end (call-protocol §5): only an explicit
    /// `call.aborted` aborts it.
    spared: bool,
}

struct Shared {
    outbound: outbound::Outbound,
    data_tx: mpsc::Sender<EventEnvelope>,
    control_tx: mpsc::UnboundedSender<EventEnvelope>,
    pending: Mutex<PendingRequestMap>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    generation: AtomicU64,
    closed: CancellationToken,
    reason: watch::Sender<Option<CloseReason>>,
    overlay: Arc<OperationOverlay>,
    env: Arc<dyn OperationEnv>,
    options: SessionOptions,
    /// Counts the session as live in the registry's metrics until it closes.
    live: Mutex<Option<crate::metrics::SessionGuard>>,
    /// Whether the session watches the credential it was opened with (see
    /// [`watch_credential`]).
    credential_watched: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field(
                "identity",
                &self.options.connection_identity.as_ref().map(|i| &i.id),
            )
            .field("closed", &self.closed.is_cancelled())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn shutdown(shared: &Shared, reason: CloseReason) {
    if shared.closed.is_cancelled() {
        return;
    }
    shared.closed.cancel();
    tracing::debug!(?reason, "session closed");
    // Out of the peer table first: no new call is routed to a session that is going away.
    if let (Some(peers), Some(identity)) =
        (&shared.options.peers, &shared.options.connection_identity)
    {
        peers.detach(&identity.id, &shared.overlay);
    }
    lock(&shared.pending).fail_all(&CallError::connection_closed());
    for (_, in_flight) in lock(&shared.in_flight).drain() {
        if !in_flight.spared {
            in_flight.abort.cancel();
        }
    }
    shared.overlay.clear();
    lock(&shared.live).take();
    shared.reason.send_replace(Some(reason));
}

/// Closes the session when the credential it was opened with lapses. A session without a
/// connection identity is opened by the token of its first authenticated call; one that serves
/// many callers (a peer's, identified by its certificate) is never closed for one of theirs.
/// Watched once per session, and only when the credential can lapse at all.
fn watch_credential(shared: &Arc<Shared>, check: crate::credential::CredentialCheck) {
    use std::sync::atomic::Ordering;
    if shared.credential_watched.swap(true, Ordering::Relaxed) || !check.can_lapse() {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shared.closed.cancelled() => {}
            revocation = check.lapsed() => {
                tracing::info!(identity = %check.identity().id, %revocation, "closing a session");
                shutdown(&shared, CloseReason::Revoked(revocation));
            }
        }
    });
}

/// Queues a frame, unless the session closed.
async fn send(shared: &Shared, envelope: EventEnvelope) {
    tokio::select! {
        biased;
        () = shared.closed.cancelled() => {}
        _ = shared.data_tx.send(envelope) => {}
    }
}

/// Sends a frame that is the only one of its id still to send (a reply, a refusal): written at
/// once when its request is the only one running and the transport takes it, else queued
/// (where many replies share one flush).
async fn send_alone(shared: &Shared, envelope: EventEnvelope) {
    let envelope = if lock(&shared.in_flight).len() <= 1 {
        match outbound::write_now(shared, envelope, outbound::Flush::Now).await {
            Ok(()) => return,
            Err(envelope) => envelope,
        }
    } else {
        envelope
    };
    send(shared, envelope).await;
}
