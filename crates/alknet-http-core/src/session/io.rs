//! The session's tasks: the writer, the reader and the sweeper of expired outgoing calls; and
//! [`Joined`], one transport from two halves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::incoming::route;
use super::{CloseReason, Shared, lock, shutdown};
use serde_json::json;

use crate::envelope::{EventEnvelope, event_type};
use crate::error::CallError;
use crate::frame::FrameError;

pub(super) async fn write_loop<S>(
    shared: Arc<Shared>,
    sink: S,
    mut data: mpsc::Receiver<EventEnvelope>,
    mut control: mpsc::UnboundedReceiver<EventEnvelope>,
) where
    S: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    let mut sink = OversizeGuard {
        inner: sink,
        shared: shared.clone(),
    };
    loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => break,
            Some(envelope) = control.recv() => envelope,
            Some(envelope) = data.recv() => envelope,
            else => break,
        };
        // `feed` + opportunistic batching: flush when nothing else is queued.
        if let Err(e) = sink.feed(next).await {
            shutdown(&shared, CloseReason::from_error(&e));
            break;
        }
        while let Ok(more) = control.try_recv().or_else(|_| data.try_recv()) {
            if let Err(e) = sink.feed(more).await {
                shutdown(&shared, CloseReason::from_error(&e));
                return;
            }
        }
        if let Err(e) = sink.flush().await {
            shutdown(&shared, CloseReason::from_error(&e));
            break;
        }
    }
    let _ = sink.close().await;
}

/// `Sink::poll_ready` or `Sink::poll_flush` of the guarded sink.
type PollFn<S> = fn(Pin<&mut S>, &mut Context<'_>) -> Poll<Result<(), FrameError>>;

/// The sink of a session's writer, which fails one call whose envelope is too large to send
/// instead of the session (call-protocol §2): a reply becomes a `call.error` (and a
/// subscription's handler is dropped), a request fails locally; nothing of it is written. The
/// error may surface at `start_send` or, behind a split sink's one-item slot, at the next
/// `poll_ready`/`poll_flush`: all three recover.
struct OversizeGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> OversizeGuard<S> {
    /// Recovers from `EnvelopeTooLarge`; any other error ends the session.
    fn recover(&self, result: Result<(), FrameError>) -> Result<(), FrameError> {
        let Err(FrameError::EnvelopeTooLarge {
            id,
            event_type,
            size,
            max,
        }) = result
        else {
            return result;
        };
        tracing::debug!(%id, %event_type, size, max, "an envelope exceeds the frame size limit");
        let limit = json!({ "size": size, "max": max });
        if event_type == event_type::CALL_REQUESTED {
            let error =
                CallError::invalid_input("the request exceeds the session's maximum frame size")
                    .with_details(limit);
            lock(&self.shared.pending).handle_error(&id, error);
            return Ok(());
        }
        if let Some(in_flight) = lock(&self.shared.in_flight).remove(&id) {
            in_flight.abort.cancel();
        }
        let error = CallError::internal("the reply exceeds the session's maximum frame size")
            .with_details(limit);
        let _ = self
            .shared
            .control_tx
            .send(EventEnvelope::error(id, &error));
        Ok(())
    }

    fn poll_recovering(
        &mut self,
        cx: &mut Context<'_>,
        poll: PollFn<S>,
    ) -> Poll<Result<(), FrameError>>
    where
        S: Unpin,
    {
        loop {
            match poll(Pin::new(&mut self.inner), cx) {
                Poll::Ready(Err(e @ FrameError::EnvelopeTooLarge { .. })) => {
                    self.recover(Err(e))?;
                }
                other => return other,
            }
        }
    }
}

impl<S> Sink<EventEnvelope> for OversizeGuard<S>
where
    S: Sink<EventEnvelope, Error = FrameError> + Unpin,
{
    type Error = FrameError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().poll_recovering(cx, S::poll_ready)
    }

    fn start_send(self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        let this = self.get_mut();
        let sent = Pin::new(&mut this.inner).start_send(item);
        this.recover(sent)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().poll_recovering(cx, S::poll_flush)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

pub(super) async fn read_loop<S>(shared: Arc<Shared>, mut stream: S)
where
    S: Stream<Item = Result<EventEnvelope, FrameError>> + Unpin,
{
    let reason = loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            next = stream.next() => next,
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
