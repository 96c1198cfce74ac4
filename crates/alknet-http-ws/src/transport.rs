//! A fastwebsockets connection as an envelope transport for the core session engine: one binary
//! message per envelope, keep-alive pings, an idle timeout, and the close codes of
//! architecture §6 (text → 1003, undecodable → 1007, oversize → 1009, shutdown → 1001).

use std::time::Duration;

use alknet_http_core::EventEnvelope;
use alknet_http_core::frame::{FrameError, MessageCodec, TransportMessage};
use alknet_http_core::session::{Joined, join};
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketWrite};
use futures::future::BoxFuture;
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Timing and size limits of one WebSocket connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsLimits {
    /// Largest message accepted or sent; larger closes with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// Interval of keep-alive pings. Default 20 s.
    pub ping_interval: Duration,
    /// A connection that receives nothing (not even a pong) for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Outbound frames batched into one write at most, and control frames (pongs, closes)
    /// queued for the writer before the reader waits. Default 256.
    pub outbound_queue: usize,
}

impl WsLimits {
    /// Sets `max_message_size`: largest message accepted or sent; larger closes with 1009. Default 16 MiB.
    #[must_use]
    pub fn with_max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets `ping_interval`: interval of keep-alive pings. Default 20 s.
    #[must_use]
    pub fn with_ping_interval(mut self, ping_interval: Duration) -> Self {
        self.ping_interval = ping_interval;
        self
    }

    /// Sets `idle_timeout`: a connection that receives nothing (not even a pong) for this long is closed. Default 60 s.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets `outbound_queue`: outbound frames batched into one write at most, and control frames (pongs, closes)
    #[must_use]
    pub fn with_outbound_queue(mut self, outbound_queue: usize) -> Self {
        self.outbound_queue = outbound_queue;
        self
    }
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_size: alknet_http_core::frame::DEFAULT_MAX_FRAME_SIZE,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            outbound_queue: 256,
        }
    }
}

type Inbound = std::pin::Pin<Box<dyn Stream<Item = Result<EventEnvelope, FrameError>> + Send>>;

/// The inbound half as a `Stream`: frames are read and decoded as the session polls for the
/// next envelope (no task of its own, no hand-off).
pub(crate) struct InboundStream(Inbound);

impl Stream for InboundStream {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// Writes a batch of frames and flushes; resolves to the emptied batch (its allocation reused).
type WriteBatch = std::sync::Arc<
    dyn Fn(Vec<Frame<'static>>) -> BoxFuture<'static, Result<Vec<Frame<'static>>, FrameError>>
        + Send
        + Sync,
>;

/// The outbound half: the session's own writer. Envelopes are encoded into binary frames and
/// batched; a flush (the session's queue drained, or the batch full) writes the batch to the
/// socket in one write, from the session's task — no hand-off to another task. Pings, pongs and
/// closes go through the connection's control task, which shares the socket's write half.
/// Closing the sink (the session ended) flushes and makes the control task send a normal close.
pub(crate) struct FrameSink {
    write: WriteBatch,
    batch: Vec<Frame<'static>>,
    max_batch: usize,
    writing: Option<BoxFuture<'static, Result<Vec<Frame<'static>>, FrameError>>>,
    codec: MessageCodec,
    closing: CancellationToken,
}

impl FrameSink {
    /// Drives the batch in progress, then starts writing the next one if any.
    fn poll_write(
        &mut self,
        cx: &mut std::task::Context<'_>,
        until_empty: bool,
    ) -> std::task::Poll<Result<(), FrameError>> {
        loop {
            if let Some(writing) = self.writing.as_mut() {
                let emptied = std::task::ready!(writing.as_mut().poll(cx));
                self.writing = None;
                self.batch = emptied?;
            }
            if self.batch.is_empty() || (!until_empty && self.batch.len() < self.max_batch) {
                return std::task::Poll::Ready(Ok(()));
            }
            let batch = std::mem::take(&mut self.batch);
            self.writing = Some((self.write)(batch));
        }
    }
}

impl Sink<EventEnvelope> for FrameSink {
    type Error = FrameError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        self.poll_write(cx, false)
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        envelope: EventEnvelope,
    ) -> Result<(), FrameError> {
        let bytes = self.codec.encode(&envelope)?;
        self.batch.push(Frame::binary(Payload::Owned(bytes)));
        Ok(())
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        self.poll_write(cx, true)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        let flushed = std::task::ready!(self.poll_write(cx, true));
        self.closing.cancel();
        std::task::Poll::Ready(flushed)
    }
}

impl Drop for FrameSink {
    fn drop(&mut self) {
        self.closing.cancel();
    }
}

/// The transport a session runs over.
pub(crate) type WsTransport = Joined<InboundStream, FrameSink>;

fn owned(frame: Frame<'_>) -> Frame<'static> {
    Frame::new(
        frame.fin,
        frame.opcode,
        None,
        Payload::Owned(frame.payload.to_vec()),
    )
}

/// Closes a connection with a code of its own choosing (the session's end would say 1000).
pub(crate) struct Closer(mpsc::Sender<Frame<'static>>);

impl Closer {
    /// Queues the close frame ahead of the session's own; the connection ends once it is sent.
    pub(crate) async fn close(&self, code: u16, reason: &str) {
        let _ = self.0.send(Frame::close(code, reason.as_bytes())).await;
    }
}

/// Starts the reader and writer tasks of a connection and returns it as a session transport,
/// with a handle to close it with a code. `shutdown` closes the connection with 1001.
pub(crate) fn start<S>(
    ws: WebSocket<S>,
    limits: &WsLimits,
    shutdown: CancellationToken,
) -> (WsTransport, Closer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ws = ws;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    // fastwebsockets refuses a frame of exactly its limit; ours is inclusive.
    ws.set_max_message_size(limits.max_message_size.saturating_add(1));
    // Frames are written into a buffer and flushed once the queue is drained, so a burst of
    // replies costs one write instead of one per frame.
    let (reader, writer) = ws.split(|stream| {
        let (read, write) = tokio::io::split(stream);
        (read, BufWriter::with_capacity(WRITE_BUFFER, write))
    });
    let writer = std::sync::Arc::new(tokio::sync::Mutex::new(writer));
    let (frames_tx, frames_rx) = mpsc::channel::<Frame<'static>>(limits.outbound_queue.max(1));
    let codec = MessageCodec::new(limits.max_message_size);
    let closing = CancellationToken::new();
    tokio::spawn(control_loop(
        writer.clone(),
        frames_rx,
        limits.ping_interval,
        shutdown,
        closing.clone(),
    ));
    let write: WriteBatch = std::sync::Arc::new(move |mut batch: Vec<Frame<'static>>| {
        let writer = writer.clone();
        Box::pin(async move {
            let mut writer = writer.lock().await;
            for frame in batch.drain(..) {
                writer
                    .write_frame(frame)
                    .await
                    .map_err(|_| FrameError::ConnectionClosed)?;
            }
            writer
                .flush()
                .await
                .map_err(|_| FrameError::ConnectionClosed)?;
            Ok(batch)
        })
    });
    let max_batch = limits.outbound_queue.max(1);
    let sink = FrameSink {
        write,
        batch: Vec::new(),
        max_batch,
        writing: None,
        codec,
        closing,
    };
    let closer = Closer(frames_tx.clone());
    let inbound = inbound(
        fastwebsockets::FragmentCollectorRead::new(reader),
        frames_tx,
        codec,
        limits.idle_timeout,
    );
    (join(InboundStream(inbound), sink), closer)
}

/// Bytes of outbound frames buffered before they are written without waiting for a flush.
const WRITE_BUFFER: usize = 8 * 1024;

/// Pings, pongs and closes: everything written to the connection that is not an envelope.
async fn control_loop<S>(
    writer: std::sync::Arc<tokio::sync::Mutex<WebSocketWrite<BufWriter<WriteHalf<S>>>>>,
    mut frames: mpsc::Receiver<Frame<'static>>,
    ping_interval: Duration,
    shutdown: CancellationToken,
    closing: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let period = ping_interval.max(Duration::from_millis(10));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let frame = tokio::select! {
            biased;
            () = shutdown.cancelled() => Frame::close(1001, b"server shutting down"),
            () = closing.cancelled() => {
                // Answer what is still queued (pongs, a close code), then a normal close.
                match frames.try_recv() {
                    Ok(frame) => frame,
                    Err(_) => Frame::close(1000, b""),
                }
            }
            next = frames.recv() => match next {
                Some(frame) => frame,
                None => Frame::close(1000, b""),
            },
            _ = ping.tick() => Frame::new(true, OpCode::Ping, None, Payload::Owned(Vec::new())),
        };
        let closing = frame.opcode == OpCode::Close;
        let mut writer = writer.lock().await;
        if writer.write_frame(frame).await.is_err() || writer.flush().await.is_err() || closing {
            return;
        }
    }
}

/// A close frame's code and reason, unless it is a plain close (none, 1000, 1001).
fn closed_by_peer(payload: &[u8]) -> Option<FrameError> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    let code = u16::from_be_bytes(*code);
    (code != 1000 && code != 1001).then(|| FrameError::ClosedByPeer {
        code,
        reason: String::from_utf8_lossy(reason).into_owned(),
    })
}

/// Reads frames as the session asks for envelopes: pongs and closes are queued for the
/// writer; a connection silent for `idle_timeout` is closed with 1001; a frame that is not an
/// envelope closes with its code (1003, 1007, 1009) and ends the stream with the error.
fn inbound<S>(
    reader: fastwebsockets::FragmentCollectorRead<ReadHalf<S>>,
    frames: mpsc::Sender<Frame<'static>>,
    codec: MessageCodec,
    idle_timeout: Duration,
) -> Inbound
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    struct State<S> {
        reader: fastwebsockets::FragmentCollectorRead<ReadHalf<S>>,
        frames: mpsc::Sender<Frame<'static>>,
        codec: MessageCodec,
        idle_timeout: Duration,
    }
    let state = Some(State {
        reader,
        frames,
        codec,
        idle_timeout,
    });
    Box::pin(futures::stream::unfold(state, |state| async move {
        let mut state = state?;
        let obligated = state.frames.clone();
        let mut send_fn = move |frame: Frame<'_>| {
            let obligated = obligated.clone();
            let frame = owned(frame);
            async move {
                obligated
                    .send(frame)
                    .await
                    .map_err(|_| std::io::Error::other("connection closed"))
            }
        };
        loop {
            let read =
                tokio::time::timeout(state.idle_timeout, state.reader.read_frame(&mut send_fn))
                    .await;
            let failure = match read {
                Err(_) => {
                    let _ = state.frames.send(Frame::close(1001, b"idle timeout")).await;
                    None
                }
                Ok(Err(WebSocketError::FrameTooLarge)) => Some(FrameError::TooLarge {
                    size: state.codec.max_message_size() + 1,
                    max: state.codec.max_message_size(),
                }),
                Ok(Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF)) => None,
                Ok(Err(e)) => Some(FrameError::InvalidFrame(e.to_string())),
                Ok(Ok(frame)) => {
                    let message = match frame.opcode {
                        OpCode::Binary => TransportMessage::Binary(&frame.payload),
                        OpCode::Text => TransportMessage::Text(
                            std::str::from_utf8(&frame.payload).unwrap_or_default(),
                        ),
                        // A close that says why ends the stream with it (the reply to the
                        // close was sent already).
                        OpCode::Close => {
                            return closed_by_peer(&frame.payload).map(|error| (Err(error), None));
                        }
                        _ => continue,
                    };
                    match state.codec.decode_message(message) {
                        Ok(envelope) => return Some((Ok(envelope), Some(state))),
                        Err(e) => Some(e),
                    }
                }
            };
            let error = failure?;
            let reason = error.to_string();
            let reason = &reason.as_bytes()[..reason.len().min(120)];
            let _ = state
                .frames
                .send(Frame::close(error.close_code(), reason))
                .await;
            return Some((Err(error), None));
        }
    }))
}
