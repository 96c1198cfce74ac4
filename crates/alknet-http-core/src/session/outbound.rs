//! The session's outbound side: the transport's sink behind one lock, the writer task that
//! drains the queues into it, and the direct write that skips the queues when it can.
//!
//! Why a direct write: with one call in flight a call's latency is mostly hand-offs between
//! tasks. Writing a request or a reply from the task that has it — when the writer is idle and
//! the transport takes the frame without waiting — saves the wake-up of the writer task on both
//! sides of a call. Only envelopes that are alone for their id take this path (a request, the
//! one reply of a Query or Mutation, a refusal), so no envelope overtakes an earlier one of the
//! same call: a subscription's items always go through the queue, in order.
//!
//! What it must not cost is batching: many calls in flight are cheap because the writer feeds
//! every queued envelope and flushes once. So a caller writes directly only when its call is
//! the session's only one, and the reader, answering a burst of requests inline, writes the
//! replies unflushed and flushes once when the burst ends (`flush_deferred`).

use std::pin::Pin;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::{Sink, SinkExt};
use serde_json::json;
use tokio::sync::{Mutex, Notify, mpsc};

use super::{CloseReason, Shared, lock, shutdown};
use crate::envelope::{EventEnvelope, event_type};
use crate::error::CallError;
use crate::frame::FrameError;

type DynSink = dyn Sink<EventEnvelope, Error = FrameError> + Send;

/// The transport's sink, shared by the writer task and direct writes.
pub(super) struct Outbound {
    sink: Mutex<OversizeGuard>,
    /// How the reader flushes the replies it writes inline: at the end of a burst (a byte
    /// stream, where a flush is a write to the socket) or each at once (QUIC, where a flush is
    /// a copy into quinn's buffers and its connection task batches the packets itself).
    inline_reply_flush: Flush,
    /// A direct write left bytes unflushed: the writer task flushes them.
    unflushed: Notify,
    /// The reader wrote replies without flushing them.
    deferred: AtomicBool,
}

impl Outbound {
    /// The outbound side over `sink`; `shared` is the session it belongs to (weak: the session
    /// owns this).
    pub(super) fn new<S>(sink: S, shared: Weak<Shared>, inline_reply_flush: Flush) -> Self
    where
        S: Sink<EventEnvelope, Error = FrameError> + Send + 'static,
    {
        Outbound {
            inline_reply_flush,
            sink: Mutex::new(OversizeGuard {
                inner: Box::pin(sink),
                shared,
            }),
            unflushed: Notify::new(),
            deferred: AtomicBool::new(false),
        }
    }
}

/// Whether a direct write is flushed at once, or left for the reader to flush when its burst
/// ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    Now,
    Deferred,
}

impl Outbound {
    /// How the reader flushes a reply it writes inline.
    pub(super) fn inline_reply_flush(&self) -> Flush {
        self.inline_reply_flush
    }
}

/// Writes `envelope`, which must be the only envelope of its id still to send, from the calling
/// task if the writer is idle and the transport takes it without waiting. Otherwise the
/// envelope comes back, for the queue.
pub(super) async fn write_now(
    shared: &Shared,
    envelope: EventEnvelope,
    flush: Flush,
) -> Result<(), EventEnvelope> {
    if shared.closed.is_cancelled() {
        return Err(envelope);
    }
    let Ok(mut sink) = shared.outbound.sink.try_lock() else {
        return Err(envelope);
    };
    let mut envelope = Some(envelope);
    // One poll, never a wait: the lock is not held across an await, so dropping the caller
    // cannot strand it, and a reader answering inline never blocks on the transport.
    std::future::poll_fn(|cx| {
        let Some(item) = envelope.take() else {
            return Poll::Ready(Ok(()));
        };
        Poll::Ready(write_once(shared, &mut sink, item, flush, cx))
    })
    .await
}

fn write_once(
    shared: &Shared,
    sink: &mut OversizeGuard,
    envelope: EventEnvelope,
    flush: Flush,
    cx: &mut Context<'_>,
) -> Result<(), EventEnvelope> {
    let result = match Pin::new(&mut *sink).poll_ready(cx) {
        Poll::Pending => return Err(envelope),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Ready(Ok(())) => Pin::new(&mut *sink).start_send(envelope),
    };
    let result = result.and_then(|()| match flush {
        Flush::Now => flush_once(shared, sink, cx),
        Flush::Deferred => {
            shared.outbound.deferred.store(true, Ordering::Release);
            Ok(())
        }
    });
    if let Err(e) = result {
        shutdown(shared, CloseReason::from_error(&e));
    }
    Ok(())
}

/// One poll of the transport's flush; what it cannot write yet, the writer task finishes.
fn flush_once(
    shared: &Shared,
    sink: &mut OversizeGuard,
    cx: &mut Context<'_>,
) -> Result<(), FrameError> {
    match Pin::new(sink).poll_flush(cx) {
        Poll::Ready(result) => result,
        Poll::Pending => {
            shared.outbound.unflushed.notify_one();
            Ok(())
        }
    }
}

/// Flushes the replies the reader wrote unflushed, once the burst of requests it was answering
/// has ended. If the writer holds the sink, its own flush takes them along.
pub(super) fn flush_deferred(shared: &Shared, cx: &mut Context<'_>) {
    if !shared.outbound.deferred.swap(false, Ordering::AcqRel) {
        return;
    }
    let Ok(mut sink) = shared.outbound.sink.try_lock() else {
        return;
    };
    if let Err(e) = flush_once(shared, &mut sink, cx) {
        shutdown(shared, CloseReason::from_error(&e));
    }
}

/// The writer task: drains the control queue (first) and the data queue into the transport,
/// flushing when nothing more is queued; finishes what a direct write left unflushed.
pub(super) async fn write_loop(
    shared: std::sync::Arc<Shared>,
    mut data: mpsc::Receiver<EventEnvelope>,
    mut control: mpsc::UnboundedReceiver<EventEnvelope>,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = shared.closed.cancelled() => break,
            Some(envelope) = control.recv() => Some(envelope),
            Some(envelope) = data.recv() => Some(envelope),
            () = shared.outbound.unflushed.notified() => None,
            else => break,
        };
        let mut sink = shared.outbound.sink.lock().await;
        if let Err(e) = drain(&mut sink, next, &mut data, &mut control).await {
            shutdown(&shared, CloseReason::from_error(&e));
            break;
        }
    }
    let _ = shared.outbound.sink.lock().await.close().await;
}

/// `feed` + opportunistic batching: flush when nothing else is queued.
async fn drain(
    sink: &mut OversizeGuard,
    first: Option<EventEnvelope>,
    data: &mut mpsc::Receiver<EventEnvelope>,
    control: &mut mpsc::UnboundedReceiver<EventEnvelope>,
) -> Result<(), FrameError> {
    if let Some(envelope) = first {
        sink.feed(envelope).await?;
    }
    while let Ok(more) = control.try_recv().or_else(|_| data.try_recv()) {
        sink.feed(more).await?;
    }
    sink.flush().await
}

/// `Sink::poll_ready` or `Sink::poll_flush` of the guarded sink.
type PollFn = fn(Pin<&mut DynSink>, &mut Context<'_>) -> Poll<Result<(), FrameError>>;

/// The session's sink, which fails one call whose envelope is too large to send instead of the
/// session (call-protocol §2): a reply becomes a `call.error` (and a subscription's handler is
/// dropped), a request fails locally; nothing of it is written. The error may surface at
/// `start_send` or, behind a split sink's one-item slot, at the next `poll_ready`/`poll_flush`:
/// all three recover.
struct OversizeGuard {
    inner: Pin<Box<DynSink>>,
    shared: Weak<Shared>,
}

impl OversizeGuard {
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
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let limit = json!({ "size": size, "max": max });
        if event_type == event_type::CALL_REQUESTED {
            let error =
                CallError::invalid_input("the request exceeds the session's maximum frame size")
                    .with_details(limit);
            lock(&shared.pending).handle_error(&id, error);
            return Ok(());
        }
        if let Some(in_flight) = lock(&shared.in_flight).remove(&id) {
            in_flight.abort.cancel();
        }
        let error = CallError::internal("the reply exceeds the session's maximum frame size")
            .with_details(limit);
        let _ = shared.control_tx.send(EventEnvelope::error(id, &error));
        Ok(())
    }

    fn poll_recovering(
        &mut self,
        cx: &mut Context<'_>,
        poll: PollFn,
    ) -> Poll<Result<(), FrameError>> {
        loop {
            match poll(self.inner.as_mut(), cx) {
                Poll::Ready(Err(e @ FrameError::EnvelopeTooLarge { .. })) => {
                    self.recover(Err(e))?;
                }
                other => return other,
            }
        }
    }
}

impl Sink<EventEnvelope> for OversizeGuard {
    type Error = FrameError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut()
            .poll_recovering(cx, <DynSink as Sink<EventEnvelope>>::poll_ready)
    }

    fn start_send(self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        let this = self.get_mut();
        let sent = this.inner.as_mut().start_send(item);
        this.recover(sent)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut()
            .poll_recovering(cx, <DynSink as Sink<EventEnvelope>>::poll_flush)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().inner.as_mut().poll_close(cx)
    }
}
