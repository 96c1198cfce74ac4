//! The load generator shared by ours and the baselines: a raw fastwebsockets client keeping a
//! fixed number of messages in flight on one connection, and an HTTP/1.1 SSE reader.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::{BodyExt, Empty, Full};
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

/// `POST {path}` with a JSON `body` over one HTTP/1.1 connection, reading the SSE response to
/// its end; returns the number of `data:` events before `event: completed`.
pub async fn sse_count(
    addr: SocketAddr,
    path: &str,
    body: String,
    token: Option<&str>,
) -> Result<u64, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "text/event-stream");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut events = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    let mut completed = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        tail.extend_from_slice(data);
        // Count whole events (blank-line separated); keep the incomplete rest.
        while let Some(end) = tail.windows(2).position(|w| w == b"\n\n") {
            let event = &tail[..end];
            if contains(event, b"event: completed") || contains(event, b"event:completed") {
                completed = true;
            } else if contains(event, b"event: error") {
                return Err(String::from_utf8_lossy(event).into_owned());
            } else if contains(event, b"data:") {
                events += 1;
            }
            tail.drain(..end + 2);
        }
    }
    if !completed {
        return Err(format!(
            "the stream ended without `completed` after {events} events"
        ));
    }
    Ok(events)
}
