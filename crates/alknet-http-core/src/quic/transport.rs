//! [`QuicTransport`]: a connection's streams as one stream of envelopes and one sink.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Sink, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::envelope::EventEnvelope;
use crate::frame::{FrameCodec, FrameError};

/// The peer's streams read as one stream of envelopes (polled by the session itself: no task
/// and no hand-off per envelope), and the one outbound stream.
pub(super) struct QuicTransport {
    /// New streams from the acceptor; `None` once the connection accepts no more.
    streams: Option<mpsc::Receiver<quinn::RecvStream>>,
    incoming: futures::stream::SelectAll<PeerStream>,
    max: usize,
    outgoing: FramedWrite<quinn::SendStream, FrameCodec>,
}

impl QuicTransport {
    /// Reads the streams `streams` hands over and writes frames of at most `max` bytes on
    /// `send`.
    pub(super) fn new(
        streams: mpsc::Receiver<quinn::RecvStream>,
        max: usize,
        send: quinn::SendStream,
    ) -> Self {
        QuicTransport {
            streams: Some(streams),
            incoming: futures::stream::SelectAll::new(),
            max,
            outgoing: FramedWrite::new(send, FrameCodec::new(max)),
        }
    }
}

impl Stream for QuicTransport {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while let Some(streams) = this.streams.as_mut() {
            match streams.poll_recv(cx) {
                Poll::Ready(Some(recv)) => this.incoming.push(PeerStream::new(recv, this.max)),
                Poll::Ready(None) => this.streams = None,
                Poll::Pending => break,
            }
        }
        match this.incoming.poll_next_unpin(cx) {
            // No stream open right now, but more may come.
            Poll::Ready(None) if this.streams.is_some() => Poll::Pending,
            other => other,
        }
    }
}

/// How many request ids one peer stream remembers for its reset (older ones are forgotten: by
/// then they have long been answered, or the concurrency limit refused them).
const REMEMBERED_IDS: usize = 1024;

/// One stream the peer opened. A failure of this stream alone — a reset, EOF inside a frame, an
/// oversize length prefix — ends only this stream (call-protocol §2, §5): its entries are
/// removed locally and nothing is sent. The requests it carried are aborted and the answers it
/// carried (to this side's calls and subscriptions) fail, by envelopes made up here for the
/// session; the connection's loss ends the stream quietly (the session then ends as a whole).
struct PeerStream {
    frames: Option<FramedRead<quinn::RecvStream, FrameCodec>>,
    /// Ids of the requests (`true`) and answers (`false`) this stream carried; an id is kept
    /// once however many items of a subscription carried it.
    carried: std::collections::HashMap<String, bool>,
    /// The same ids, oldest first, to forget the oldest past [`REMEMBERED_IDS`].
    order: std::collections::VecDeque<String>,
    /// The envelopes that remove this stream's entries once it failed.
    removals: Vec<EventEnvelope>,
}

impl PeerStream {
    fn new(recv: quinn::RecvStream, max: usize) -> Self {
        PeerStream {
            frames: Some(FramedRead::new(recv, FrameCodec::new(max))),
            carried: std::collections::HashMap::new(),
            order: std::collections::VecDeque::new(),
            removals: Vec::new(),
        }
    }

    fn remember(&mut self, envelope: &EventEnvelope) {
        use crate::envelope::event_type;
        let request = match envelope.event_type.as_str() {
            event_type::CALL_REQUESTED => true,
            event_type::CALL_RESPONDED => false,
            _ => return,
        };
        // One hash lookup per envelope; a copy of the id only for an id not seen before.
        if self.carried.contains_key(&envelope.id) {
            return;
        }
        if self.order.len() == REMEMBERED_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.carried.remove(&oldest);
        }
        self.order.push_back(envelope.id.clone());
        self.carried.insert(envelope.id.clone(), request);
    }

    fn fail(&mut self, error: &FrameError) {
        self.frames = None;
        if let FrameError::Io(e) = error
            && e.kind() == std::io::ErrorKind::NotConnected
        {
            return;
        }
        tracing::debug!(%error, "a peer stream failed; the session goes on without it");
        let reset = crate::error::CallError::internal("stream reset");
        self.order.clear();
        self.removals = self
            .carried
            .drain()
            .map(|(id, request)| {
                if request {
                    EventEnvelope::aborted(id)
                } else {
                    EventEnvelope::error(id, &reset)
                }
            })
            .collect();
    }
}

impl Stream for PeerStream {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(frames) = this.frames.as_mut() {
            match frames.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(envelope))) => {
                    this.remember(&envelope);
                    return Poll::Ready(Some(Ok(envelope)));
                }
                Poll::Ready(Some(Err(error))) => this.fail(&error),
                Poll::Ready(None) => this.frames = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(this.removals.pop().map(Ok))
    }
}

impl Sink<EventEnvelope> for QuicTransport {
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_ready(Pin::new(&mut self.outgoing), cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: EventEnvelope) -> Result<(), FrameError> {
        Pin::new(&mut self.outgoing).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_flush(Pin::new(&mut self.outgoing), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Sink::<EventEnvelope>::poll_close(Pin::new(&mut self.outgoing), cx)
    }
}
