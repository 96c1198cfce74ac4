//! Calls keep their meaning across the bus.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alknet_http_core::{CallOptions, ErrorCode, Identity};
use alknet_http_nats::NatsImport;
use alknet_http_tests::{NatsServer, Probe, within};
use futures::StreamExt as _;
use serde_json::json;

use crate::worker::{Gateway, Seen, as_bus, bus, worker};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn queries_mutations_and_errors_cross_the_bus() {
    let server = NatsServer::start().await;
    let seen = Arc::new(Seen::default());
    let (_worker_bus, exporter) = worker(&server.url, seen.clone(), &Probe::new(), as_bus()).await;
    assert!(exporter.operations().contains(&"demo/echo".to_owned()));
    assert!(exporter.subjects().contains(&"alknet.demo.echo".to_owned()));
    let gateway = Gateway::start(&bus(&server.url).await, NatsImport::default()).await;

    let output = gateway
        .call("demo/echo", json!({"hi": [1, 2]}))
        .await
        .unwrap();
    assert_eq!(output, json!({"hi": [1, 2]}));
    // The worker ran it as the bus identity, the caller named for audit.
    assert_eq!(
        seen.forwarded_for
            .lock()
            .unwrap()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("alice")
    );
    // Any NATS client may call it as a service: a result is a plain reply, no headers.
    let plain = bus(&server.url)
        .await
        .client()
        .request("alknet.demo.echo", br#"{"plain":true}"#.as_slice().into())
        .await
        .unwrap();
    assert_eq!(plain.headers, None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&plain.payload).unwrap(),
        json!({"plain": true})
    );
    assert_eq!(
        gateway.call("demo/write", json!({})).await.unwrap(),
        json!({"write": 1})
    );
    // A declared error keeps its code, details and declared status.
    let error = gateway.call("demo/fail", json!({})).await.unwrap_err();
    assert_eq!(error.code, "DEMO_FAILED");
    assert_eq!(error.details, Some(json!({"why": "asked to"})));
    let failure = gateway
        .dispatch
        .call(
            Some(Arc::new(Identity::new("alice"))),
            "demo/fail",
            json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(failure.status.as_u16(), 409);
    // Calling a subscription once is the wrong path, on the worker as at home.
    let error = gateway.call("demo/ticks", json!({})).await.unwrap_err();
    assert_eq!(error.code, "INVALID_OPERATION_TYPE");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn the_deadline_travels_and_an_abort_reaches_the_worker() {
    let server = NatsServer::start().await;
    let probe = Probe::new();
    let (_worker_bus, _exporter) = worker(&server.url, Arc::default(), &probe, as_bus()).await;
    let gateway_bus = bus(&server.url).await;
    let gateway = Gateway::start(&gateway_bus, NatsImport::default()).await;
    // The gateway's deadline (300 ms) is the worker's: the held call times out there, and
    // the worker drops it.
    let timed = gateway
        .dispatch
        .clone()
        .with_timeout(Duration::from_millis(300))
        .call(
            Some(Arc::new(Identity::new("alice"))),
            "demo/hold",
            json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(timed.error.code, "TIMEOUT");
    probe.wait_for(Probe::dropped, 1).await;
    // A caller that goes away: the Query is aborted on the worker — and only its own call,
    // though another caller (on another gateway) chose the same request id.
    let same_id = || CallOptions {
        request_id: alknet_http_core::dispatch::RequestId::from_header("c1"),
        ..CallOptions::default()
    };
    let hold = |dispatch: alknet_http_core::GatewayDispatch| {
        let options = same_id();
        tokio::spawn(async move {
            dispatch
                .call(
                    Some(Arc::new(Identity::new("alice"))),
                    "demo/hold",
                    json!({}),
                    options,
                )
                .await
        })
    };
    let other_gateway = Gateway::start(&bus(&server.url).await, NatsImport::default()).await;
    let running = hold(gateway.dispatch.clone());
    probe.wait_for(Probe::started, 2).await;
    let bystander = hold(other_gateway.dispatch.clone());
    probe.wait_for(Probe::started, 3).await;
    running.abort();
    probe.wait_for(Probe::dropped, 2).await;
    probe.release();
    let answer = within(bystander).await.unwrap();
    assert_eq!(answer.map_err(|f| f.error).unwrap(), json!("released"));
    assert_eq!((probe.dropped(), probe.finished()), (2, 1));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_subscription_streams_in_order_and_stops_on_abort() {
    let server = NatsServer::start().await;
    let seen = Arc::new(Seen::default());
    let (_worker_bus, _exporter) = worker(&server.url, seen.clone(), &Probe::new(), as_bus()).await;
    // A small window: the worker waits for acknowledgements many times over.
    let gateway = Gateway::start(
        &bus(&server.url).await,
        NatsImport::default().with_stream_window(8),
    )
    .await;
    let alice = Some(Arc::new(Identity::new("alice")));
    let items: Vec<_> = within(
        gateway
            .dispatch
            .invoke_streaming(alice.clone(), "demo/ticks", json!({"count": 500}))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 500);
    for (n, item) in items.iter().enumerate() {
        assert_eq!(item.result.as_ref().unwrap(), &json!({"n": n}));
    }
    assert_eq!(seen.streams_dropped.load(Ordering::SeqCst), 0);
    // An endless one, read a little and dropped: the worker's handler stream is dropped.
    let mut endless = gateway
        .dispatch
        .invoke_streaming(alice, "demo/ticks", json!({"count": 0}));
    for _ in 0..3 {
        within(endless.next()).await.unwrap().result.unwrap();
    }
    drop(endless);
    within(async {
        while seen.streams_dropped.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn two_workers_share_the_calls() {
    let server = NatsServer::start().await;
    let (one, two) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
    let _one = worker(&server.url, one.clone(), &Probe::new(), as_bus()).await;
    let _two = worker(&server.url, two.clone(), &Probe::new(), as_bus()).await;
    let gateway = Gateway::start(&bus(&server.url).await, NatsImport::default()).await;
    let calls = 400;
    futures::stream::iter(0..calls)
        .for_each_concurrent(16, |n| {
            let gateway = &gateway;
            async move {
                assert_eq!(gateway.call("demo/echo", json!(n)).await.unwrap(), json!(n));
            }
        })
        .await;
    let (a, b) = (
        one.calls.load(Ordering::SeqCst),
        two.calls.load(Ordering::SeqCst),
    );
    assert_eq!(a + b, calls);
    let spread = a.abs_diff(b) as f64 / a.max(b) as f64;
    assert!(spread < 0.3, "{a} and {b} calls");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn payloads_past_max_payload_fail_clearly() {
    let server = NatsServer::start_with("max_payload: 8192").await;
    let (_worker_bus, _exporter) =
        worker(&server.url, Arc::default(), &Probe::new(), as_bus()).await;
    let gateway = Gateway::start(&bus(&server.url).await, NatsImport::default()).await;
    let error = gateway
        .call("demo/echo", json!("y".repeat(20_000)))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput.as_str());
    assert_eq!(
        error.details.as_ref().unwrap()["reason"],
        "payload_too_large"
    );
    let error = gateway
        .call("demo/big", json!({"bytes": 20_000}))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Internal.as_str());
    assert_eq!(
        error.details.as_ref().unwrap()["reason"],
        "payload_too_large"
    );
    // Under the limit, fine.
    let small = gateway
        .call("demo/big", json!({"bytes": 100}))
        .await
        .unwrap();
    assert_eq!(small.as_str().unwrap().len(), 100);
}
