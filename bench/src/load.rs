//! The load generator shared by ours and the baselines: a raw fastwebsockets client keeping a
//! fixed number of messages in flight on one connection, and an HTTP/1.1 SSE reader.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A client WebSocket over TCP.
pub type ClientWs = WebSocket<TokioIo<Upgraded>>;

/// Opens a WebSocket to `ws://addr{path}` over HTTP/1.1 with extra handshake `headers`.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
) -> Result<ClientWs, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let mut request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let (ws, _) = fastwebsockets::handshake::client(&TokioExecutor::new(), request, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// The handshake headers of the node's session: the bearer token and the subprotocol.
pub fn node_headers() -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {}", crate::TOKEN)),
        ("sec-websocket-protocol", "alknet.call.v1".to_owned()),
    ]
}

/// What the generator sends and expects: `write` appends message `n`, `check` validates a reply.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// Binary or text frames.
    pub opcode: OpCode,
    /// Writes message `n` into the buffer.
    pub write: fn(u64, &mut Vec<u8>),
    /// Whether a reply is the expected one.
    pub check: fn(&[u8]) -> bool,
}

/// `call.requested` of `bench/echo` (the node's native session).
pub const NATIVE_CALL: Pattern = Pattern {
    opcode: OpCode::Binary,
    write: |n, buf| {
        let _ = write!(
            buf,
            r#"{{"type":"call.requested","id":"c{n}","payload":{{"operationId":"/bench/echo","input":{{"message":"hello","n":7}}}}}}"#
        );
    },
    check: |reply| contains(reply, b"call.responded"),
};

/// The same bytes, echoed by a raw WebSocket server.
pub const RAW_ECHO: Pattern = Pattern {
    opcode: OpCode::Binary,
    write: NATIVE_CALL.write,
    check: |reply| contains(reply, b"call.requested"),
};

/// JSON-RPC 2.0 `echo` with the same input (jsonrpsee).
pub const JSON_RPC: Pattern = Pattern {
    opcode: OpCode::Text,
    write: |n, buf| {
        let _ = write!(
            buf,
            r#"{{"jsonrpc":"2.0","id":{n},"method":"echo","params":{{"message":"hello","n":7}}}}"#
        );
    },
    check: |reply| contains(reply, b"\"result\""),
};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends `total` messages keeping `in_flight` outstanding, reads every reply; returns the time.
///
/// # Panics
/// When the connection fails or a reply is not the expected one (a benchmark must not count
/// errors as work).
pub async fn pipelined(
    ws: &mut ClientWs,
    pattern: Pattern,
    total: u64,
    in_flight: usize,
    next_id: &mut u64,
) -> Duration {
    let mut buf = Vec::with_capacity(256);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut make = |buf: &mut Vec<u8>, sent: &mut u64| {
        buf.clear();
        (pattern.write)(*next_id, buf);
        *next_id += 1;
        *sent += 1;
        Frame::new(true, pattern.opcode, None, Payload::Owned(buf.clone()))
    };
    while sent < total.min(in_flight as u64) {
        ws.write_frame(make(&mut buf, &mut sent))
            .await
            .expect("write");
    }
    while received < total {
        let frame = ws.read_frame().await.expect("read");
        match frame.opcode {
            OpCode::Binary | OpCode::Text => {
                assert!(
                    (pattern.check)(&frame.payload),
                    "unexpected reply: {}",
                    String::from_utf8_lossy(&frame.payload)
                );
                received += 1;
                if sent < total {
                    let next = make(&mut buf, &mut sent);
                    ws.write_frame(next).await.expect("write");
                }
            }
            OpCode::Close => panic!("the server closed the connection"),
            _ => {}
        }
    }
    start.elapsed()
}

/// `POST {path}` with a JSON `body` on a fresh HTTP/1.1 connection, reading the SSE response
/// to `event: completed` on the raw socket in this task (no client connection task, no body
/// channel: the reader costs the same whatever the server is); returns the number of `data:`
/// events before it.
pub async fn sse_count(
    addr: SocketAddr,
    path: &str,
    body: String,
    token: Option<&str>,
) -> Result<u64, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\n\
         accept: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    // The unscanned rest of the previous read (a marker may straddle two reads).
    let mut tail: Vec<u8> = Vec::new();
    let mut events = 0u64;
    let mut head_checked = false;
    loop {
        let n = tcp.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "the stream ended without `completed` after {events} events"
            ));
        }
        tail.extend_from_slice(&buf[..n]);
        if !head_checked {
            if tail.len() < 12 {
                continue;
            }
            if !tail.starts_with(b"HTTP/1.1 200") {
                return Err(String::from_utf8_lossy(&tail[..tail.len().min(200)]).into_owned());
            }
            head_checked = true;
        }
        let mut at = 0;
        while let Some(i) = find(&tail[at..], b"\n\n") {
            let event = &tail[at..at + i];
            if contains(event, b"event: completed") {
                return Ok(events);
            }
            if contains(event, b"event: error") {
                return Err(String::from_utf8_lossy(event).into_owned());
            }
            if contains(event, b"data:") {
                events += 1;
            }
            at += i + 2;
        }
        tail.drain(..at);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
