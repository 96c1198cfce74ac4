//! Workers and the bus going away.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alknet_http_core::ErrorCode;
use alknet_http_nats::NatsImport;
use alknet_http_tests::{NatsServer, Probe, within};
use serde_json::json;

use crate::worker::{Gateway, Seen, as_bus, bus, worker};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn with_no_worker_or_no_bus_calls_fail_fast_and_recover() {
    let mut server = NatsServer::start().await;
    let (_worker_bus, exporter) =
        worker(&server.url, Arc::default(), &Probe::new(), as_bus()).await;
    let gateway = Gateway::start(&bus(&server.url).await, NatsImport::default()).await;
    assert_eq!(gateway.call("demo/echo", json!(1)).await.unwrap(), json!(1));

    // The bus goes down: calls fail at once with UNAVAILABLE.
    server.kill();
    within(async {
        while gateway.call("demo/echo", json!(2)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let started = Instant::now();
    let error = gateway.call("demo/echo", json!(3)).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable.as_str());
    assert!(error.retryable);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // It comes back on the same port: both clients reconnect, calls work again.
    server.restart().await;
    within(async {
        while gateway.call("demo/echo", json!(4)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // The only worker leaves: no responders, UNAVAILABLE; then the import drops it.
    exporter.stop().await;
    let error = gateway.call("demo/echo", json!(5)).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable.as_str());
    gateway.wait_for("demo/echo", false).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_silent_worker_is_lost_a_query_is_retried_and_a_mutation_is_not() {
    let server = NatsServer::start().await;
    let seen = Arc::new(Seen::default());
    // The worker beats every 10 s; the gateway expects one every 100 ms: any call longer than
    // 300 ms looks lost.
    let slow_beat = as_bus().with_heartbeat(Duration::from_secs(10));
    let _worker = worker(&server.url, seen.clone(), &Probe::new(), slow_beat).await;
    let gateway = Gateway::start(
        &bus(&server.url).await,
        NatsImport::default().with_heartbeat(Duration::from_millis(100)),
    )
    .await;
    let error = gateway
        .call("demo/write", json!({"sleep_ms": 1000}))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Internal.as_str());
    assert_eq!(error.details.as_ref().unwrap()["reason"], "worker_lost");
    // It ran once (it may have: the gateway cannot know), and was never sent again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(seen.writes.load(Ordering::SeqCst), 1);
    // A Query looks lost the same way: it is sent once more, then UNAVAILABLE (retryable).
    let error = gateway
        .call("demo/slow", json!({"sleep_ms": 1000}))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable.as_str());
    assert!(error.retryable);
    assert_eq!(error.details.as_ref().unwrap()["reason"], "worker_lost");
    assert_eq!(seen.slow.load(Ordering::SeqCst), 2);
    // Quick calls are unaffected.
    assert_eq!(
        gateway.call("demo/slow", json!({})).await.unwrap(),
        json!({"slept": 0})
    );
    assert_eq!(
        gateway.call("demo/write", json!({})).await.unwrap(),
        json!({"write": 2})
    );
}
