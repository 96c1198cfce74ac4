//! Raw WebSocket frames for the close codes.

use std::time::Duration;

use alknet_http_ws::WsLimits;
use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::fixtures::{Hub, TOKEN, hub, within};

pub(crate) async fn raw(
    hub: &Hub,
    protocol: Option<&str>,
) -> (
    WebSocket<TokioIo<hyper::upgrade::Upgraded>>,
    http::Response<hyper::body::Incoming>,
) {
    let tcp = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let mut request = http::Request::builder()
        .method("GET")
        .uri("/alknet/call")
        .header("host", hub.addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13");
    request = match protocol {
        Some(p) => request.header("sec-websocket-protocol", p),
        None => request.header("authorization", format!("Bearer {TOKEN}")),
    };
    fastwebsockets::handshake::client(
        &TokioExecutor::new(),
        request.body(Empty::<Bytes>::new()).unwrap(),
        tcp,
    )
    .await
    .unwrap()
}

pub(crate) async fn raw_handshake_protocol(hub: &Hub) -> (u16, Option<String>) {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TOKEN);
    let (_ws, response) = raw(hub, Some(&format!("alknet.call.v1, alknet.bearer.{token}"))).await;
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), protocol)
}

/// Connects raw, lets `act` send frames, and returns the close code the server sends.
pub(crate) async fn close_code_after(
    hub: &Hub,
    act: impl FnOnce(&mut Vec<Frame<'static>>),
) -> Option<u16> {
    let (mut ws, _) = raw(hub, None).await;
    let mut frames = Vec::new();
    act(&mut frames);
    for frame in frames {
        ws.write_frame(frame).await.unwrap();
    }
    loop {
        let frame = within(ws.read_frame()).await.ok()?;
        if frame.opcode == OpCode::Close {
            return (frame.payload.len() >= 2)
                .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
        }
    }
}

#[tokio::test]
async fn text_messages_close_1003() {
    let hub = hub(WsLimits::default()).await;
    let code = close_code_after(&hub, |frames| {
        frames.push(Frame::text(Payload::Owned(
            br#"{"type":"call.requested","id":"1","payload":{"operationId":"/hub/echo"}}"#.to_vec(),
        )));
    })
    .await;
    assert_eq!(code, Some(1003));
}

#[tokio::test]
async fn undecodable_binary_closes_1007() {
    let hub = hub(WsLimits::default()).await;
    let code = close_code_after(&hub, |frames| {
        frames.push(Frame::binary(Payload::Owned(b"not an envelope".to_vec())));
    })
    .await;
    assert_eq!(code, Some(1007));
}

#[tokio::test]
async fn oversize_messages_close_1009() {
    let hub = hub(WsLimits::default().with_max_message_size(1024)).await;
    let code = close_code_after(&hub, |frames| {
        frames.push(Frame::binary(Payload::Owned(vec![b' '; 4096])));
    })
    .await;
    assert_eq!(code, Some(1009));
}

#[tokio::test]
async fn a_reply_too_large_to_send_fails_only_its_call() {
    let hub = hub(WsLimits::default().with_max_message_size(1024)).await;
    let (mut ws, _) = raw(&hub, None).await;
    for request in [
        br#"{"type":"call.requested","id":"big","payload":{"operationId":"/hub/bulk","input":{"n":4000}}}"#.to_vec(),
        br#"{"type":"call.requested","id":"small","payload":{"operationId":"/hub/echo","input":7}}"#.to_vec(),
    ] {
        ws.write_frame(Frame::binary(Payload::Owned(request)))
            .await
            .unwrap();
    }
    let mut replies = Vec::new();
    for _ in 0..2 {
        let frame = within(ws.read_frame()).await.unwrap();
        assert_eq!(frame.opcode, OpCode::Binary, "the connection stays open");
        replies.push(serde_json::from_slice::<serde_json::Value>(&frame.payload).unwrap());
    }
    replies.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        (replies[0]["id"].as_str(), replies[0]["type"].as_str()),
        (Some("big"), Some("call.error"))
    );
    assert_eq!(replies[0]["payload"]["details"]["max"], 1024);
    assert_eq!(
        replies[1],
        serde_json::json!({"type": "call.responded", "id": "small", "payload": {"output": 7}})
    );
}

#[tokio::test]
async fn valid_binary_envelopes_are_answered_in_binary() {
    let hub = hub(WsLimits::default()).await;
    let (mut ws, _) = raw(&hub, None).await;
    let envelope =
        br#"{"type":"call.requested","id":"x1","payload":{"operationId":"/hub/echo","input":7}}"#;
    ws.write_frame(Frame::binary(Payload::Owned(envelope.to_vec())))
        .await
        .unwrap();
    let frame = within(ws.read_frame()).await.unwrap();
    assert_eq!(frame.opcode, OpCode::Binary);
    let reply: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"type": "call.responded", "id": "x1", "payload": {"output": 7}})
    );
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let hub = hub(WsLimits::default()
        .with_idle_timeout(Duration::from_millis(300))
        .with_ping_interval(Duration::from_secs(60)))
    .await;
    let (mut ws, _) = raw(&hub, None).await;
    ws.set_auto_pong(false);
    let started = std::time::Instant::now();
    loop {
        let frame = within(ws.read_frame()).await.unwrap();
        if frame.opcode == OpCode::Close {
            assert_eq!(
                u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
                1001
            );
            break;
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn pings_keep_the_connection_alive() {
    let hub = hub(WsLimits::default().with_ping_interval(Duration::from_millis(50))).await;
    let (mut ws, _) = raw(&hub, None).await;
    ws.set_auto_pong(false);
    let frame = within(ws.read_frame()).await.unwrap();
    assert_eq!(frame.opcode, OpCode::Ping);
}

#[tokio::test]
async fn a_refused_upgrade_is_401_with_www_authenticate() {
    let hub = hub(WsLimits::default()).await;
    let tcp = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .uri("/alknet/call")
        .header("host", hub.addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13")
        .header(
            "sec-websocket-protocol",
            "alknet.call.v1, alknet.bearer.bm90LWEtdG9rZW4",
        )
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = within(sender.send_request(request)).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert!(
        response.headers().get("sec-websocket-protocol").is_none(),
        "no subprotocol echoed on refusal"
    );
}
