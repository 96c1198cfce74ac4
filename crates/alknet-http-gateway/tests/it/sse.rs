//! `/subscribe`: http-surfaces §14 "SSE".

use std::time::Duration;

use alknet_http_gateway::GatewayConfig;
use serde_json::{Value, json};

use crate::fixtures::{SseReader, WRITER, start, start_with, subscribe};

#[tokio::test]
async fn items_have_increasing_ids_then_completed() {
    let node = start().await;
    let response = subscribe(
        &node,
        None,
        json!({"operation": "/demo/ticks", "input": {"count": 3}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let events = SseReader::new(response).rest().await;
    assert_eq!(events.len(), 4);
    for (n, event) in events[..3].iter().enumerate() {
        assert_eq!(event.id.as_deref(), Some((n + 1).to_string().as_str()));
        assert_eq!(event.event, None, "default message events");
        assert_eq!(event.data.len(), 1, "one single-line data field per item");
        assert_eq!(
            serde_json::from_str::<Value>(&event.data[0]).unwrap(),
            json!({"tick": n})
        );
    }
    assert_eq!(events[3].event.as_deref(), Some("completed"));
    assert_eq!(events[3].data, vec!["{}"]);
}

#[tokio::test]
async fn an_error_is_one_terminal_error_event() {
    let node = start().await;
    let events = SseReader::new(subscribe(&node, None, json!({"operation": "demo/fail"})).await)
        .rest()
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].data, vec!["1"]);
    assert_eq!(events[1].event.as_deref(), Some("error"));
    let error: Value = serde_json::from_str(&events[1].data[0]).unwrap();
    assert_eq!(error["message"], "stream broke");
}

#[tokio::test]
async fn pre_dispatch_failures_are_a_single_in_band_error() {
    let node = start().await;
    let cases = [
        (json!({"operation": "/demo/nothing"}), None, "NOT_FOUND"),
        (
            json!({"operation": "/demo/secret"}),
            Some(WRITER),
            "NOT_FOUND",
        ),
        (
            json!({"operation": "/demo/echo"}),
            None,
            "INVALID_OPERATION_TYPE",
        ),
        (json!({"operation": "/demo/admin"}), None, "FORBIDDEN"),
    ];
    for (body, token, code) in cases {
        let response = subscribe(&node, token, body.clone()).await;
        assert_eq!(response.status(), 200, "{body}");
        let events = SseReader::new(response).rest().await;
        assert_eq!(events.len(), 1, "{body}: {events:?}");
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(
            serde_json::from_str::<Value>(&events[0].data[0]).unwrap()["code"],
            code,
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_malformed_envelope_is_400_like_call() {
    let node = start().await;
    for body in [json!({"nope": 1}), json!([1]), json!({"operation": ""})] {
        let response = subscribe(&node, None, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "INVALID_INPUT", "{body}");
    }
}

#[tokio::test]
async fn events_are_streamed_as_produced_and_pings_flow() {
    let node = start_with(
        GatewayConfig::default().with_sse_ping_interval(Duration::from_millis(50)),
        Duration::from_secs(30),
    )
    .await;
    let response = subscribe(
        &node,
        None,
        json!({"operation": "/demo/ticks", "input": {"count": 2, "gated": true}}),
    )
    .await;
    let mut reader = SseReader::new(response);
    let first = reader.next().await.unwrap();
    assert_eq!(
        first.data,
        vec![r#"{"tick":0}"#],
        "the first item arrived while the second is still held back"
    );
    let ping = reader.next().await.unwrap();
    assert_eq!(ping.comment.as_deref(), Some("ping"), "{ping:?}");
    node.hooks.release.notify_one();
    let mut rest = Vec::new();
    while let Some(event) = reader.next().await {
        if event.comment.is_none() {
            rest.push(event);
        }
    }
    assert_eq!(rest[0].data, vec![r#"{"tick":1}"#]);
    assert_eq!(rest.last().unwrap().event.as_deref(), Some("completed"));
}

#[tokio::test]
async fn a_disconnect_drops_the_stream_and_its_descendants() {
    let node = start().await;
    let dropped = node.hooks.watch_drop();
    let child_dropped = node.hooks.watch_child_drop();
    let response = subscribe(&node, None, json!({"operation": "/demo/watch"})).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.unwrap().data, vec![r#""watching""#]);
    node.hooks.started.notified().await;
    drop(reader);
    let limit = Duration::from_secs(10);
    tokio::time::timeout(limit, dropped)
        .await
        .expect("handler stream not dropped")
        .unwrap_err();
    tokio::time::timeout(limit, child_dropped)
        .await
        .expect("composed child not aborted")
        .unwrap_err();
}

#[tokio::test]
async fn last_event_id_reaches_the_handler() {
    let node = start().await;
    let response = crate::fixtures::client()
        .post(node.url("/subscribe"))
        .header("last-event-id", "41")
        .json(&json!({"operation": "/demo/ticks", "input": {"count": 1}}))
        .send()
        .await
        .unwrap();
    let _ = SseReader::new(response).rest().await;
    assert_eq!(
        node.hooks.last_event_id.lock().unwrap().as_deref(),
        Some("41")
    );
}
