//! Abuse over the WebSocket surface: each gets its documented answer and the node keeps
//! serving others.

use std::time::Duration;

use alknet_http_ws::WsLimits;
use fastwebsockets::{Frame, OpCode, Payload};
use serde_json::{Value, json};

use crate::fixtures::{connect_h1, hub, options, within};
use crate::frames::raw;

fn request(id: &str, operation: &str, input: &Value) -> Frame<'static> {
    let envelope = json!({
        "type": "call.requested",
        "id": id,
        "payload": {"operationId": operation, "input": input},
    });
    Frame::binary(Payload::Owned(serde_json::to_vec(&envelope).unwrap()))
}

#[tokio::test]
async fn a_flood_of_duplicate_ids_is_refused_one_by_one_and_others_are_served() {
    let hub = hub(WsLimits::default()).await;
    let (mut ws, _) = raw(&hub, None).await;
    // The original: a subscription that stays in flight.
    ws.write_frame(request("dup", "/hub/watch", &json!({})))
        .await
        .unwrap();
    const FLOOD: usize = 2000;
    let writer = async {
        for n in 0..FLOOD {
            ws.write_frame(request("dup", "/hub/echo", &json!(n)))
                .await
                .unwrap();
        }
        ws
    };
    // Meanwhile another client is served.
    let other = connect_h1(&hub, options()).await.unwrap();
    let (mut ws, answer) = tokio::join!(writer, async {
        within(other.call("hub/echo", json!("still here"))).await
    });
    assert_eq!(answer.unwrap(), json!("still here"));

    let (mut refused, mut original) = (0, 0);
    while refused < FLOOD {
        let frame = within(ws.read_frame()).await.unwrap();
        assert_eq!(frame.opcode, OpCode::Binary);
        let event: Value = serde_json::from_slice(&frame.payload).unwrap();
        assert_eq!(event["id"], "dup");
        match event["type"].as_str() {
            Some("call.error") => {
                assert_eq!(event["payload"]["code"], "INVALID_INPUT", "{event}");
                refused += 1;
            }
            Some("call.responded") => {
                assert_eq!(event["payload"]["output"], "watching");
                original += 1;
            }
            other => panic!("unexpected {other:?}: {event}"),
        }
    }
    // Every duplicate refused, none run; the original untouched and the connection open.
    assert!(original <= 1);
    ws.write_frame(request("fresh", "/hub/echo", &json!("after")))
        .await
        .unwrap();
    loop {
        let frame = within(ws.read_frame()).await.unwrap();
        let event: Value = serde_json::from_slice(&frame.payload).unwrap();
        if event["id"] == "fresh" {
            assert_eq!(event["payload"]["output"], "after");
            break;
        }
        assert_eq!(event["payload"]["output"], "watching", "{event}");
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_held_back_and_others_are_served() {
    let hub = hub(WsLimits::default().with_outbound_queue(8)).await;
    let (mut ws, _) = raw(&hub, None).await;
    // 32 KiB answers the client never reads: the node must stop reading it once its queues and
    // the socket buffers are full, instead of buffering without bound.
    let payload = json!("x".repeat(32 * 1024));
    let mut written = 0usize;
    let mut stalled = false;
    for n in 0..100_000 {
        let frame = request(&format!("c{n}"), "/hub/echo", &payload);
        let len = frame.payload.len();
        match tokio::time::timeout(Duration::from_secs(2), ws.write_frame(frame)).await {
            Ok(result) => {
                result.unwrap();
                written += len;
            }
            Err(_) => {
                stalled = true;
                break;
            }
        }
    }
    assert!(
        stalled,
        "the node read {written} bytes without pushing back"
    );
    assert!(
        written < 256 * 1024 * 1024,
        "the node buffered {written} bytes before pushing back"
    );
    // The stuck client costs others nothing.
    let other = connect_h1(&hub, options()).await.unwrap();
    assert_eq!(
        within(other.call("hub/echo", json!("served")))
            .await
            .unwrap(),
        json!("served")
    );
    assert_eq!(hub.sessions.len(), 2);
    // When the stuck client goes away, its session goes with it.
    drop(ws);
    within(async {
        while hub.sessions.len() > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
