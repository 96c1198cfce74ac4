//! A fastwebsockets connection as an envelope transport for the core session engine: one binary
//! message per envelope, keep-alive pings, an idle timeout, and the close codes of
//! architecture §6 (text → 1003, undecodable → 1007, oversize → 1009, shutdown → 1001).

use std::time::Duration;

use alknet_http_core::EventEnvelope;
use alknet_http_core::frame::{FrameError, MessageCodec, TransportMessage};
use alknet_http_core::session::{Joined, join};
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketWrite};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, PollSender};

/// Timing and size limits of one WebSocket connection.
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Largest message accepted or sent; larger closes with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// Interval of keep-alive pings. Default 20 s.
    pub ping_interval: Duration,
    /// A connection that receives nothing (not even a pong) for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Outbound frames queued before senders wait. Default 256.
    pub outbound_queue: usize,
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

type Inbound = mpsc::Receiver<Result<EventEnvelope, FrameError>>;

/// The inbound half as a `Stream`.
pub(crate) struct InboundStream(Inbound);

impl Stream for InboundStream {
    type Item = Result<EventEnvelope, FrameError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// The outbound half: envelopes encoded into binary frames for the writer task. Closing it
/// (the session ended) makes the writer send a normal close.
pub(crate) struct FrameSink {
    frames: PollSender<Frame<'static>>,
    codec: MessageCodec,
    closing: CancellationToken,
}

impl Sink<EventEnvelope> for FrameSink {
    type Error = FrameError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        self.frames
            .poll_reserve(cx)
            .map_err(|_| FrameError::ConnectionClosed)
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        envelope: EventEnvelope,
    ) -> Result<(), FrameError> {
        let bytes = self.codec.encode(&envelope)?;
        self.frames
            .send_item(Frame::binary(Payload::Owned(bytes)))
            .map_err(|_| FrameError::ConnectionClosed)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), FrameError>> {
        self.frames.close();
        self.closing.cancel();
        std::task::Poll::Ready(Ok(()))
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

/// Starts the reader and writer tasks of a connection and returns it as a session transport.
/// `shutdown` closes the connection with 1001.
pub(crate) fn start<S>(
    ws: WebSocket<S>,
    limits: &WsLimits,
    shutdown: CancellationToken,
) -> WsTransport
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ws = ws;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    // fastwebsockets refuses a frame of exactly its limit; ours is inclusive.
    ws.set_max_message_size(limits.max_message_size.saturating_add(1));
    let (reader, writer) = ws.split(tokio::io::split);
    let (frames_tx, frames_rx) = mpsc::channel::<Frame<'static>>(limits.outbound_queue.max(1));
    let (inbound_tx, inbound_rx) = mpsc::channel(limits.outbound_queue.max(1));
    let codec = MessageCodec::new(limits.max_message_size);
    let closing = CancellationToken::new();
    tokio::spawn(write_loop(
        writer,
        frames_rx,
        limits.ping_interval,
        shutdown,
        closing.clone(),
    ));
    tokio::spawn(read_loop(
        fastwebsockets::FragmentCollectorRead::new(reader),
        frames_tx.clone(),
        inbound_tx,
        codec,
        limits.idle_timeout,
    ));
    let sink = FrameSink {
        frames: PollSender::new(frames_tx),
        codec,
        closing,
    };
    join(InboundStream(inbound_rx), sink)
}

async fn write_loop<S>(
    mut writer: WebSocketWrite<WriteHalf<S>>,
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
                // Send what the session queued before it closed, then a normal close.
                match frames.try_recv() {
                    Ok(frame) => frame,
                    Err(_) => Frame::close(1000, b""),
                }
            }
            next = frames.recv() => match next {
                Some(frame) => frame,
                // The session closed its sink: a normal close.
                None => Frame::close(1000, b""),
            },
            _ = ping.tick() => Frame::new(true, OpCode::Ping, None, Payload::Owned(Vec::new())),
        };
        let closing = frame.opcode == OpCode::Close;
        if writer.write_frame(frame).await.is_err() || closing {
            return;
        }
    }
}

async fn read_loop<S>(
    mut reader: fastwebsockets::FragmentCollectorRead<ReadHalf<S>>,
    frames: mpsc::Sender<Frame<'static>>,
    inbound: mpsc::Sender<Result<EventEnvelope, FrameError>>,
    codec: MessageCodec,
    idle_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let obligated = frames.clone();
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
        let read = tokio::time::timeout(idle_timeout, reader.read_frame(&mut send_fn)).await;
        let failure = match read {
            Err(_) => {
                let _ = frames.send(Frame::close(1001, b"idle timeout")).await;
                None
            }
            Ok(Err(WebSocketError::FrameTooLarge)) => Some(FrameError::TooLarge {
                size: codec.max_message_size() + 1,
                max: codec.max_message_size(),
            }),
            Ok(Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF)) => None,
            Ok(Err(e)) => Some(FrameError::InvalidFrame(e.to_string())),
            Ok(Ok(frame)) => {
                let message = match frame.opcode {
                    OpCode::Binary => TransportMessage::Binary(&frame.payload),
                    OpCode::Text => TransportMessage::Text(
                        std::str::from_utf8(&frame.payload).unwrap_or_default(),
                    ),
                    OpCode::Close => return,
                    _ => continue,
                };
                match codec.decode_message(message) {
                    Ok(envelope) => {
                        if inbound.send(Ok(envelope)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(e) => Some(e),
                }
            }
        };
        if let Some(error) = failure {
            let reason = error.to_string();
            let reason = &reason.as_bytes()[..reason.len().min(120)];
            let _ = frames.send(Frame::close(error.close_code(), reason)).await;
            let _ = inbound.send(Err(error)).await;
        }
        return;
    }
}
