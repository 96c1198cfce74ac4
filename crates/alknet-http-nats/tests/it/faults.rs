//! Workers and the bus going away.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alknet_http_core::ErrorCode;
use alknet_http_nats::{Bus, NatsAuth, NatsConnect, NatsImport, to_nats};
use alknet_http_tests::{NatsServer, Probe, within};
use futures::StreamExt as _;
use serde_json::json;

use crate::worker::{Gateway, Seen, as_bus, bus, dispatch, registry, worker};

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

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_crashed_worker_fails_its_mutation_and_its_query_completes_elsewhere() {
    let server = NatsServer::start().await;
    let seen = Arc::new(Seen::default());
    let beat = as_bus().with_heartbeat(Duration::from_millis(100));
    // Worker A on a runtime of its own, so that it can crash: the runtime dropped, its tasks
    // and its connection gone mid-call.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, a_seen, a_beat) = (server.url.clone(), seen.clone(), beat.clone());
    let crashable = std::thread::spawn(move || {
        let a = runtime.block_on(worker(&url, a_seen, &Probe::new(), a_beat));
        (runtime, a)
    })
    .join()
    .unwrap();
    let gateway = Gateway::start(
        &bus(&server.url).await,
        NatsImport::default().with_heartbeat(Duration::from_millis(100)),
    )
    .await;
    // A Mutation and a Query in flight on A, the only worker yet.
    let (mutation, query) = (gateway.dispatch.clone(), gateway.dispatch.clone());
    let call = |dispatch: alknet_http_core::GatewayDispatch, op: &'static str| {
        tokio::spawn(async move {
            dispatch
                .call(
                    Some(Arc::new(alknet_http_core::Identity::new("alice"))),
                    op,
                    json!({"sleep_ms": 1500}),
                    Default::default(),
                )
                .await
                .map_err(|f| f.error)
        })
    };
    let write = call(mutation, "demo/write");
    let slow = call(query, "demo/slow");
    within(async {
        while seen.slow.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // B joins; A crashes.
    let _b = worker(&server.url, seen.clone(), &Probe::new(), beat).await;
    let (runtime, a) = crashable;
    std::thread::spawn(move || runtime.shutdown_background())
        .join()
        .unwrap();
    drop(a);
    let error = within(write).await.unwrap().unwrap_err();
    assert_eq!(error.code, ErrorCode::Internal.as_str(), "{error}");
    assert_eq!(error.details.as_ref().unwrap()["reason"], "worker_lost");
    // The Query was sent again, to B, and answered.
    let answer = within(slow).await.unwrap().unwrap();
    assert_eq!(answer, json!({"slept": 1500}));
    assert_eq!(seen.slow.load(Ordering::SeqCst), 2);
    // The Mutation never finished on A (it crashed) and was never sent to B.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(seen.writes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_lost_abort_reaches_the_worker_at_its_next_beat() {
    // The gateway may not publish on the abort subject: every abort it broadcasts is lost, as
    // one is when the connection drops at the wrong moment (NATS delivers at most once).
    let server = NatsServer::start_with(
        "authorization { users = [
            { user: worker, password: w }
            { user: gateway, password: g, permissions: { publish: { deny: [\"_ALKNET.*.abort\"] } } }
        ] }",
    )
    .await;
    let probe = Probe::new();
    let beat = as_bus().with_heartbeat(Duration::from_millis(100));
    let worker_bus = bus_as(&server.url, "worker", "w").await;
    let _exporter = to_nats(
        &worker_bus,
        dispatch(registry(Arc::default(), &probe)),
        beat,
    )
    .await
    .expect("exported");
    let gateway = Gateway::start(
        &bus_as(&server.url, "gateway", "g").await,
        NatsImport::default(),
    )
    .await;
    let dispatch = gateway.dispatch.clone();
    let held = tokio::spawn(async move {
        dispatch
            .call(
                Some(Arc::new(alknet_http_core::Identity::new("alice"))),
                "demo/hold",
                json!({}),
                Default::default(),
            )
            .await
    });
    probe.wait_for(Probe::started, 1).await;
    // The caller goes away; its abort never arrives. The worker's next beat reaches a gateway
    // that no longer waits for the call, which tells the worker on its control subject.
    let gone = Instant::now();
    held.abort();
    probe.wait_for(Probe::dropped, 1).await;
    assert!(
        gone.elapsed() < Duration::from_secs(2),
        "{:?}",
        gone.elapsed()
    );
    assert_eq!(probe.finished(), 0);
}

/// A connection to `url` as `user`.
async fn bus_as(url: &str, user: &str, password: &str) -> Bus {
    let auth = NatsAuth::UserPassword {
        user: user.to_owned(),
        password: password.to_owned().into(),
    };
    Bus::connect(&NatsConnect::new([url]).with_auth(auth))
        .await
        .expect("connected")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_stream_whose_gateway_died_ends_on_its_worker() {
    let server = NatsServer::start().await;
    let seen = Arc::new(Seen::default());
    let beat = as_bus().with_heartbeat(Duration::from_millis(100));
    let (_worker_bus, _exporter) = worker(&server.url, seen.clone(), &Probe::new(), beat).await;
    // The gateway on a runtime of its own, so that it can die: reading an endless stream,
    // then its runtime dropped (its connection cut), the stream never dropped (no abort).
    let url = server.url.clone();
    let (runtime, gateway, stream) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (gateway, stream) = runtime.block_on(async {
            let gateway = Gateway::start(
                &bus(&url).await,
                NatsImport::default().with_stream_window(8),
            )
            .await;
            let mut stream = gateway.dispatch.invoke_streaming(
                Some(Arc::new(alknet_http_core::Identity::new("alice"))),
                "demo/ticks",
                json!({"count": 0}),
            );
            for _ in 0..3 {
                within(stream.next()).await.unwrap().result.unwrap();
            }
            (gateway, stream)
        });
        (runtime, gateway, stream)
    })
    .join()
    .unwrap();
    runtime.shutdown_background();
    // Never dropped: a dying process runs no destructor (the stream's abort would be sent).
    let _dead = std::mem::ManuallyDrop::new((gateway, stream));
    // The worker's beats now find nobody; the server says so, and the worker drops the stream.
    let died = Instant::now();
    within(async {
        while seen.streams_dropped.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        died.elapsed() < Duration::from_secs(2),
        "{:?}",
        died.elapsed()
    );
}
