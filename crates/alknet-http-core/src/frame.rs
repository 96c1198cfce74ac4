//! Framing (call-protocol §2): a length-prefixed codec for byte streams and a per-message codec
//! for message transports, both with a configurable maximum size (default 16 MiB).
//!
//! Byte streams carry a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. A body
//! that is not a valid envelope is logged and skipped; an oversize length prefix is an error that
//! ends the stream; EOF inside a frame is [`FrameError::ConnectionClosed`].
//!
//! ```
//! use alknet_http_core::{EventEnvelope, frame::FrameCodec};
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::default();
//! let mut buf = BytesMut::new();
//! codec.encode(&EventEnvelope::completed("s7"), &mut buf).unwrap();
//! assert_eq!(&buf[..4], &(buf.len() as u32 - 4).to_be_bytes());
//! let back = codec.decode(&mut buf).unwrap().unwrap();
//! assert_eq!(back.id, "s7");
//! ```

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, length_delimited};

use crate::envelope::EventEnvelope;

/// The default maximum frame or message size: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The underlying transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame body was not a valid envelope (message transports only; byte streams skip it).
    #[error("invalid envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame")]
    ConnectionClosed,
    /// A frame or message exceeds the configured maximum size.
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The announced or actual size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An envelope this side was about to send exceeds the configured maximum size. Nothing
    /// was written: the session fails that one call (call-protocol §2) and goes on.
    #[error("envelope {id} ({event_type}) of {size} bytes exceeds the maximum of {max} bytes")]
    EnvelopeTooLarge {
        /// The envelope's request id.
        id: String,
        /// The envelope's type.
        event_type: String,
        /// Its encoded size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A text message arrived on a message transport that carries binary envelopes only.
    #[error("text messages are not accepted: envelopes travel as binary messages")]
    TextMessage,
    /// The frame is otherwise unusable.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// The other side closed a message transport with a code that says why (anything but a
    /// normal close or going away), such as 1008 when its credentials were revoked.
    #[error("closed by the peer with {code}: {reason}")]
    ClosedByPeer {
        /// The close code the peer sent.
        code: u16,
        /// The reason it gave.
        reason: String,
    },
}

impl FrameError {
    fn too_large_to_send(envelope: &EventEnvelope, size: usize, max: usize) -> Self {
        FrameError::EnvelopeTooLarge {
            id: envelope.id.clone(),
            event_type: envelope.event_type.clone(),
            size,
            max,
        }
    }

    /// The WebSocket close code a message transport closes with for this error
    /// (architecture §6): text → 1003, undecodable → 1007, oversize → 1009.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TextMessage => 1003,
            FrameError::Json(_) => 1007,
            FrameError::TooLarge { .. } | FrameError::EnvelopeTooLarge { .. } => 1009,
            FrameError::InvalidFrame(_) => 1002,
            FrameError::Io(_) | FrameError::ConnectionClosed => 1011,
            FrameError::ClosedByPeer { code, .. } => *code,
        }
    }
}

/// One message as a message transport delivers it.
#[derive(Debug, Clone, Copy)]
pub enum TransportMessage<'a> {
    /// A binary message: one envelope.
    Binary(&'a [u8]),
    /// A text message: refused.
    Text(&'a str),
}

/// Length-prefixed envelope codec for byte streams (a [`Decoder`] and [`Encoder`]).
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameCodec {
    /// A codec refusing frames larger than `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        let inner = length_delimited::Builder::new()
            .big_endian()
            .length_field_length(4)
            .max_frame_length(max_frame_size)
            .new_codec();
        FrameCodec {
            inner,
            max: max_frame_size,
        }
    }

    /// The configured maximum frame size.
    pub fn max_frame_size(&self) -> usize {
        self.max
    }

    fn map_err(&self, e: std::io::Error, src: &BytesMut) -> FrameError {
        let too_large = e
            .get_ref()
            .is_some_and(|inner| inner.is::<length_delimited::LengthDelimitedCodecError>());
        if too_large {
            let size = if src.len() >= 4 {
                u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize
            } else {
                0
            };
            FrameError::TooLarge {
                size,
                max: self.max,
            }
        } else {
            FrameError::Io(e)
        }
    }
}

impl Decoder for FrameCodec {
    type Item = EventEnvelope;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<EventEnvelope>, FrameError> {
        loop {
            let frame = match self.inner.decode(src) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.map_err(e, src)),
            };
            match serde_json::from_slice::<EventEnvelope>(&frame) {
                Ok(envelope) => return Ok(Some(envelope)),
                Err(e) => {
                    tracing::warn!(error = %e, len = frame.len(), "discarding invalid envelope");
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<EventEnvelope>, FrameError> {
        match self.decode(src)? {
            Some(envelope) => Ok(Some(envelope)),
            None if src.is_empty() => Ok(None),
            None => {
                src.advance(src.len());
                Err(FrameError::ConnectionClosed)
            }
        }
    }
}

impl Encoder<&EventEnvelope> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: &EventEnvelope, dst: &mut BytesMut) -> Result<(), FrameError> {
        let start = dst.len();
        dst.put_u32(0);
        serde_json::to_writer((&mut *dst).writer(), item)?;
        let len = dst.len() - start - 4;
        if len > self.max {
            dst.truncate(start);
            return Err(FrameError::too_large_to_send(item, len, self.max));
        }
        dst[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

impl Encoder<EventEnvelope> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: EventEnvelope, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&item, dst)
    }
}

/// Per-message envelope codec for message transports (WebSocket, postMessage): one envelope
/// per message, no length prefix.
///
/// ```
/// use alknet_http_core::{EventEnvelope, frame::MessageCodec};
///
/// let codec = MessageCodec::default();
/// let bytes = codec.encode(&EventEnvelope::aborted("c1")).unwrap();
/// assert_eq!(bytes[0], b'{');
/// assert_eq!(codec.decode(&bytes).unwrap().event_type, "call.aborted");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MessageCodec {
    max: usize,
}

impl Default for MessageCodec {
    fn default() -> Self {
        MessageCodec::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl MessageCodec {
    /// A codec refusing messages larger than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        MessageCodec {
            max: max_message_size,
        }
    }

    /// The configured maximum message size.
    pub fn max_message_size(&self) -> usize {
        self.max
    }

    /// Serializes one envelope into one message.
    pub fn encode(&self, envelope: &EventEnvelope) -> Result<Vec<u8>, FrameError> {
        let bytes = serde_json::to_vec(envelope)?;
        if bytes.len() > self.max {
            return Err(FrameError::too_large_to_send(
                envelope,
                bytes.len(),
                self.max,
            ));
        }
        Ok(bytes)
    }

    /// Parses one message as delivered by a transport: text messages are refused with
    /// [`FrameError::TextMessage`].
    pub fn decode_message(
        &self,
        message: TransportMessage<'_>,
    ) -> Result<EventEnvelope, FrameError> {
        match message {
            TransportMessage::Binary(bytes) => self.decode(bytes),
            TransportMessage::Text(_) => Err(FrameError::TextMessage),
        }
    }

    /// Parses one message: [`FrameError::TooLarge`] over the limit, [`FrameError::Json`] when
    /// it is not an envelope.
    pub fn decode(&self, message: &[u8]) -> Result<EventEnvelope, FrameError> {
        if message.len() > self.max {
            return Err(FrameError::TooLarge {
                size: message.len(),
                max: self.max,
            });
        }
        Ok(serde_json::from_slice(message)?)
    }
}
