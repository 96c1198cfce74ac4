//! [`Session`]: the handle to a running session, and how one is started and closed.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use futures::{Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::io::{read_loop, sweep_loop};
use super::outbound::{Flush, Outbound, write_loop};
use super::{
    CloseReason, PendingRequestMap, SessionConfig, SessionOptions, Shared, lock, shutdown,
};
use crate::compose::PeerCompositeEnv;
use crate::envelope::EventEnvelope;
use crate::frame::{FrameCodec, FrameError};
use crate::identity::Identity;
use crate::registry::OperationOverlay;

/// A handle to a running session; cheap to clone. The session ends when the transport ends,
/// when [`Session::close`] is called, or when the last handle is dropped (outgoing calls and
/// subscriptions still running count as handles), like dropping a client closes its
/// connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub(super) shared: Arc<Shared>,
    pub(super) handle: Arc<Handle>,
}

/// Closes the session when the last [`Session`] (or outgoing call) holding it is dropped.
#[derive(Debug)]
pub(super) struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        shutdown(&self.0, CloseReason::Local);
    }
}

impl Session {
    /// Runs a session over a byte stream with length-prefixed frames.
    pub fn over_io<T>(io: T, options: SessionOptions) -> Session
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let framed = Framed::new(io, FrameCodec::new(options.config.max_frame_size));
        Session::spawn(framed, options)
    }

    /// Runs a session over any transport of whole envelopes (a message transport, or a
    /// multiplexed one merged into one stream). Must be called inside a tokio runtime.
    pub fn spawn<T>(transport: T, options: SessionOptions) -> Session
    where
        T: Stream<Item = Result<EventEnvelope, FrameError>>
            + Sink<EventEnvelope, Error = FrameError>
            + Send
            + 'static,
    {
        Session::spawn_flushing(transport, options, Flush::Deferred)
    }

    /// [`Session::spawn`] with the way the reader flushes the replies it writes inline.
    pub(crate) fn spawn_flushing<T>(
        transport: T,
        options: SessionOptions,
        inline_reply_flush: Flush,
    ) -> Session
    where
        T: Stream<Item = Result<EventEnvelope, FrameError>>
            + Sink<EventEnvelope, Error = FrameError>
            + Send
            + 'static,
    {
        let (sink, stream) = transport.split();
        let (data_tx, data_rx) = mpsc::channel(options.config.outbound_queue.max(1));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let overlay = Arc::new(OperationOverlay::new());
        let mut env = PeerCompositeEnv::new(options.registry.clone());
        if let Some(peers) = &options.peers {
            env = env.with_peers(peers.clone());
            if let Some(identity) = &options.connection_identity {
                overlay.report_changes_to(peers.change_signal().clone());
                peers.attach(identity.id.clone(), overlay.clone());
            }
        }
        let shared = Arc::new_cyclic(|weak| Shared {
            outbound: Outbound::new(sink, weak.clone(), inline_reply_flush),
            data_tx,
            control_tx,
            pending: Mutex::new(PendingRequestMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            closed: CancellationToken::new(),
            reason: watch::channel(None).0,
            overlay,
            env: Arc::new(env),
            credential_watched: std::sync::atomic::AtomicBool::new(false),
            live: Mutex::new(
                options
                    .registry
                    .metrics()
                    .map(|metrics| metrics.session_opened(options.surface)),
            ),
            options,
        });
        tokio::spawn(write_loop(shared.clone(), data_rx, control_rx));
        tokio::spawn(read_loop(shared.clone(), stream));
        tokio::spawn(sweep_loop(shared.clone()));
        let handle = Arc::new(Handle(shared.clone()));
        Session { shared, handle }
    }

    /// This session's connection-local overlay (Layer 2): operations imported from the other
    /// side live here and are dropped with the session.
    pub fn overlay(&self) -> &Arc<OperationOverlay> {
        &self.shared.overlay
    }

    /// The connection-level identity of the other side.
    pub fn connection_identity(&self) -> Option<&Identity> {
        self.shared.options.connection_identity.as_deref()
    }

    /// The session's limits.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.options.config
    }

    /// Outgoing requests awaiting an answer.
    pub fn pending_len(&self) -> usize {
        lock(&self.shared.pending).len()
    }

    /// Incoming requests running now.
    pub fn in_flight_len(&self) -> usize {
        lock(&self.shared.in_flight).len()
    }

    /// Closes the session when `check`'s credential (the one its connection identity was
    /// resolved from) lapses.
    #[cfg_attr(not(feature = "quic"), allow(dead_code))]
    pub(crate) fn watch_credential(&self, check: crate::credential::CredentialCheck) {
        super::watch_credential(&self.shared, check);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Ends the session: pending calls fail with `INTERNAL` "connection closed", incoming work
    /// is aborted with its cascade, the overlay is dropped, the transport is closed.
    pub fn close(&self) {
        shutdown(&self.shared, CloseReason::Local);
    }

    /// Waits until the session has ended and says why.
    pub async fn closed(&self) -> CloseReason {
        self.on_close().await
    }

    /// Resolves when the session has ended, without holding it open (unlike a clone awaiting
    /// [`Session::closed`]).
    pub fn on_close(&self) -> impl std::future::Future<Output = CloseReason> + Send + 'static {
        let mut rx = self.shared.reason.subscribe();
        async move {
            loop {
                if let Some(reason) = rx.borrow_and_update().clone() {
                    return reason;
                }
                if rx.changed().await.is_err() {
                    return CloseReason::Local;
                }
            }
        }
    }
}
