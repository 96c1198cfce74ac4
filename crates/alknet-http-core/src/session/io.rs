//! The session's reader and the sweeper of expired outgoing calls (the writer is in
//! `outbound.rs`); and [`Joined`], one transport from two halves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use super::incoming::route;
use super::outbound::flush_deferred;
use super::{CloseReason, Shared, lock, shutdown};

use crate::envelope::EventEnvelope;
use crate::frame::FrameError;

pub(super) async fn read_loop<S>(shared: Arc<Shared>, mut stream: S)
where
    S: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
{
    let reason = loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            next = std::future::poll_fn(|cx| {
                let next = stream.poll_next_unpin(cx);
                if next.is_pending() {
                    // The burst of frames that were ready has ended: flush the replies written
                    // inline.
                    flush_deferred(&shared, cx);
                }
                next
            }) => next,
        };
        match next {
            None => break CloseReason::PeerClosed,
            Some(Err(e)) => break CloseReason::from_error(&e),
            Some(Ok(envelope)) => route(&shared, envelope).await,
        }
    };
    shutdown(&shared, reason);
}

pub(super) async fn sweep_loop(shared: Arc<Shared>) {
    let period = shared
        .options
        .config
        .sweep_interval
        .max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let expired = lock(&shared.pending).evict_expired(Instant::now());
        for id in expired {
            let _ = shared.control_tx.send(EventEnvelope::aborted(id));
        }
    }
}

/// An inbound `Stream` and an outbound `Sink` of envelopes joined into the one transport
/// [`Session::spawn`](super::Session::spawn) takes (for transports whose halves live apart, such as a WebSocket whose
/// reader and writer run as separate tasks).
#[derive(Debug)]
pub struct Joined<St, Si> {
    stream: St,
    sink: Si,
}

/// Joins an inbound stream and an outbound sink into one transport.
pub fn join<St, Si>(stream: St, sink: Si) -> Joined<St, Si>
where
    St: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
    Si: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    Joined { stream, sink }
}

impl<St, Si> Stream for Joined<St, Si>
where
    St: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
    Si: Unpin,
{
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl<St, Si> Sink<EventEnvelope> for Joined<St, Si>
where
    St: Unpin,
    Si: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        self.sink.start_send_unpin(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.sink.poll_close_unpin(cx)
    }
}
