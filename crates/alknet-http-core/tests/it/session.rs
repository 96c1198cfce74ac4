//! Checklist "Session": the bidirectional session engine over in-memory duplex streams, with a
//! raw framed peer where exact frames matter. Paused time, no sleeps, no sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alknet_http_core::compose::PeerTable;
use alknet_http_core::envelope::event_type;
use alknet_http_core::frame::FrameCodec;
use alknet_http_core::session::{
    CloseReason, OutgoingOptions, Session, SessionConfig, SessionOptions,
};
use alknet_http_core::{
    CallError, CallRequested, Capabilities, CompositionAuthority, EventEnvelope, HandlerKind,
    Identity, OperationRegistry, OperationSpec, ScopedPeerEnv, StaticTokenProvider,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio::sync::{Notify, oneshot};
use tokio_util::codec::Framed;

use crate::fixtures::{counting, returning};
use crate::registry::DropFlag;

type Raw = Framed<DuplexStream, FrameCodec>;

fn pair(options: SessionOptions) -> (Session, Raw) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Session::over_io(a, options),
        Framed::new(b, FrameCodec::default()),
    )
}

async fn request(raw: &mut Raw, id: &str, op: &str, input: Value) {
    raw.send(EventEnvelope::requested(id, &CallRequested::new(op, input)))
        .await
        .unwrap();
}

async fn next(raw: &mut Raw) -> EventEnvelope {
    tokio::time::timeout(Duration::from_secs(600), raw.next())
        .await
        .expect("no frame arrived")
        .expect("stream ended")
        .expect("bad frame")
}

/// Sends a marker request to `marker/echo` and returns every frame that arrives before its reply:
/// proves nothing else was sent in between.
async fn frames_until_marker(raw: &mut Raw) -> Vec<EventEnvelope> {
    request(raw, "marker", "marker/echo", json!("m")).await;
    let mut seen = Vec::new();
    loop {
        let frame = next(raw).await;
        if frame.id == "marker" {
            assert_eq!(frame.event_type, event_type::CALL_RESPONDED);
            return seen;
        }
        seen.push(frame);
    }
}

fn base() -> alknet_http_core::RegistryBuilder {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("marker/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/whoami"),
            HandlerKind::once(
                |_, ctx| async move { Ok(json!(ctx.identity().map(|i| i.id.clone()))) },
            ),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/count"),
            counting(3),
            Capabilities::new(),
        )
}

fn options(builder: alknet_http_core::RegistryBuilder) -> SessionOptions {
    SessionOptions::new(builder.build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn round_trip_with_and_without_leading_slash() {
    let (_session, mut raw) = pair(options(base()));
    request(&mut raw, "a", "/demo/echo", json!({"x": 1})).await;
    request(&mut raw, "b", "demo/echo", json!({"x": 2})).await;
    let mut frames = [next(&mut raw).await, next(&mut raw).await];
    frames.sort_by(|l, r| l.id.cmp(&r.id));
    assert_eq!(frames[0], EventEnvelope::responded("a", json!({"x": 1})));
    assert_eq!(frames[1], EventEnvelope::responded("b", json!({"x": 2})));
    assert!(
        frames_until_marker(&mut raw).await.is_empty(),
        "a Query is never followed by call.completed"
    );
}

#[tokio::test(start_paused = true)]
async fn request_token_overrides_and_falls_back() {
    let provider = StaticTokenProvider::new()
        .with_token("alk_good", Identity::new("token-user"))
        .unwrap();
    let opts = options(base())
        .with_identity_provider(Arc::new(provider))
        .with_connection_identity(Some(Identity::new("connection")));
    let (_session, mut raw) = pair(opts);
    for (id, token, expected) in [
        ("1", Some("alk_good"), "token-user"),
        ("2", Some("alk_bad"), "connection"),
        ("3", None, "connection"),
    ] {
        let mut req = CallRequested::new("demo/whoami", json!(null));
        req.auth_token = token.map(str::to_owned);
        raw.send(EventEnvelope::requested(id, &req)).await.unwrap();
        assert_eq!(
            next(&mut raw).await,
            EventEnvelope::responded(id, json!(expected)),
            "{id}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn both_sides_call_each_other() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let hub = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("hub/time"),
            returning(json!("noon")),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let client = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("client/name"),
            returning(json!("browser")),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let hub = Session::over_io(a, SessionOptions::new(hub));
    let client = Session::over_io(b, SessionOptions::new(client));
    let (x, y) = tokio::join!(
        client.call("/hub/time", json!(null)),
        hub.call("/client/name", json!(null))
    );
    assert_eq!((x.unwrap(), y.unwrap()), (json!("noon"), json!("browser")));
    // Each side dispatches only against its own registry.
    assert_eq!(
        hub.call("hub/time", json!(null)).await.unwrap_err().code,
        "NOT_FOUND"
    );
}

#[tokio::test(start_paused = true)]
async fn subscription_items_then_completed() {
    let (_session, mut raw) = pair(options(base()));
    request(&mut raw, "s", "demo/count", json!(null)).await;
    for i in 0..3 {
        assert_eq!(
            next(&mut raw).await,
            EventEnvelope::responded("s", json!(i))
        );
    }
    assert_eq!(next(&mut raw).await, EventEnvelope::completed("s"));
}

#[tokio::test(start_paused = true)]
async fn error_item_is_one_call_error_and_no_completed() {
    let failing = HandlerKind::stream(|_, _| {
        futures::stream::iter(vec![
            Ok(json!(1)),
            Err(CallError::internal("bad")),
            Ok(json!(3)),
        ])
    });
    let (_session, mut raw) = pair(options(base().with_leaf(
        OperationSpec::subscription("demo/fail"),
        failing,
        Capabilities::new(),
    )));
    request(&mut raw, "s", "demo/fail", json!(null)).await;
    assert_eq!(
        next(&mut raw).await,
        EventEnvelope::responded("s", json!(1))
    );
    let error = next(&mut raw).await;
    assert_eq!(
        (error.event_type.as_str(), error.payload["message"].as_str()),
        ("call.error", Some("bad"))
    );
    assert!(frames_until_marker(&mut raw).await.is_empty());
    // Pre-dispatch errors on a subscription are one call.error too.
    request(&mut raw, "u", "demo/nothing", json!(null)).await;
    assert_eq!(next(&mut raw).await.event_type, "call.error");
    assert!(frames_until_marker(&mut raw).await.is_empty());
}

fn endless(flag: Arc<AtomicBool>, started: Arc<Notify>) -> HandlerKind {
    HandlerKind::stream(move |_, _| {
        let guard = DropFlag(flag.clone());
        started.notify_one();
        futures::stream::pending::<alknet_http_core::HandlerResult>().map(move |item| {
            let _keep = &guard;
            item
        })
    })
}

#[tokio::test(start_paused = true)]
async fn abort_drops_the_handler_stream_and_sends_nothing() {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Notify::new());
    let reg = base().with_leaf(
        OperationSpec::subscription("demo/endless"),
        endless(dropped.clone(), started.clone()),
        Capabilities::new(),
    );
    let (session, mut raw) = pair(options(reg));
    request(&mut raw, "s", "demo/endless", json!(null)).await;
    started.notified().await;
    assert_eq!(session.in_flight_len(), 1);
    raw.send(EventEnvelope::aborted("s")).await.unwrap();
    assert!(
        frames_until_marker(&mut raw).await.is_empty(),
        "no completed, no error after an abort"
    );
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(session.in_flight_len(), 0);
    // Aborting an unknown id is a no-op.
    raw.send(EventEnvelope::aborted("never-existed"))
        .await
        .unwrap();
    assert!(frames_until_marker(&mut raw).await.is_empty());
}

/// `app/root` composes `app/waiter`, which waits forever.
fn composing(dropped: Arc<AtomicBool>, started: Arc<Notify>) -> alknet_http_core::RegistryBuilder {
    let waiter = HandlerKind::once(move |_, _| {
        let guard = DropFlag(dropped.clone());
        started.notify_one();
        async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
            Ok(json!("never"))
        }
    });
    base()
        .with_local(
            OperationSpec::query("app/root"),
            HandlerKind::once(|_, ctx| async move { ctx.call("app/waiter", json!({})).await }),
            Some(CompositionAuthority::new("app", Vec::<String>::new())),
            Some(ScopedPeerEnv::allowing(["app/waiter"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/waiter").internal(),
            waiter,
            Capabilities::new(),
        )
}

#[tokio::test(start_paused = true)]
async fn parent_abort_removes_descendants_without_frames() {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Notify::new());
    let (session, mut raw) = pair(options(composing(dropped.clone(), started.clone())));
    request(&mut raw, "root", "app/root", json!({})).await;
    started.notified().await;
    raw.send(EventEnvelope::aborted("root")).await.unwrap();
    assert!(frames_until_marker(&mut raw).await.is_empty());
    assert!(
        dropped.load(Ordering::SeqCst),
        "descendant dropped by the cascade"
    );
    assert_eq!(session.in_flight_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn disconnect_fails_pending_and_aborts_in_flight() {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Notify::new());
    let (session, mut raw) = pair(options(composing(dropped.clone(), started.clone())));
    let outgoing = tokio::spawn({
        let session = session.clone();
        async move { session.call("/peer/slow", json!(null)).await }
    });
    let asked = next(&mut raw).await;
    assert_eq!(asked.event_type, "call.requested");
    request(&mut raw, "root", "app/root", json!({})).await;
    started.notified().await;
    drop(raw);
    let e = outgoing.await.unwrap().unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("INTERNAL", "connection closed")
    );
    assert_eq!(session.closed().await, CloseReason::PeerClosed);
    assert!(
        dropped.load(Ordering::SeqCst),
        "in-flight work aborted with its cascade"
    );
    assert_eq!(session.in_flight_len(), 0);
    // Calls after the end fail at once.
    assert_eq!(
        session.call("x/y", json!(null)).await.unwrap_err().message,
        "connection closed"
    );
}

#[tokio::test(start_paused = true)]
async fn panics_stay_inside_their_request() {
    let reg = base().with_leaf(
        OperationSpec::query("demo/panic"),
        HandlerKind::once(|_, _| async { panic!("boom") }),
        Capabilities::new(),
    );
    let (_session, mut raw) = pair(options(reg));
    request(&mut raw, "p", "demo/panic", json!(null)).await;
    let e = next(&mut raw).await;
    assert_eq!(
        (e.event_type.as_str(), e.payload["code"].as_str()),
        ("call.error", Some("INTERNAL"))
    );
    assert!(
        frames_until_marker(&mut raw).await.is_empty(),
        "the session lives on"
    );
}

#[tokio::test(start_paused = true)]
async fn handler_deadline_is_a_retryable_timeout() {
    let reg = base().with_leaf(
        OperationSpec::query("demo/slow"),
        HandlerKind::once(|_, _| async {
            futures::future::pending::<()>().await;
            Ok(json!(null))
        }),
        Capabilities::new(),
    );
    let config = SessionConfig::default().with_call_timeout(Duration::from_secs(5));
    let (_session, mut raw) = pair(options(reg).with_config(config));
    let t0 = tokio::time::Instant::now();
    request(&mut raw, "t", "demo/slow", json!(null)).await;
    let e = next(&mut raw).await;
    assert_eq!(e.payload["code"], "TIMEOUT");
    assert_eq!(e.payload["retryable"], true);
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn duplicate_in_flight_id_is_refused_and_the_original_continues() {
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let reg = base().with_leaf(
        OperationSpec::query("demo/gate"),
        HandlerKind::once(move |input, _| {
            let r = r.clone();
            async move {
                r.notified().await;
                Ok(input)
            }
        }),
        Capabilities::new(),
    );
    let (_session, mut raw) = pair(options(reg));
    request(&mut raw, "d", "demo/gate", json!("original")).await;
    request(&mut raw, "d", "demo/gate", json!("duplicate")).await;
    let refused = next(&mut raw).await;
    assert_eq!(
        (refused.id.as_str(), refused.payload["code"].as_str()),
        ("d", Some("INVALID_INPUT"))
    );
    release.notify_one();
    assert_eq!(
        next(&mut raw).await,
        EventEnvelope::responded("d", json!("original"))
    );
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_refuses_with_a_retryable_error() {
    let reg = base().with_leaf(
        OperationSpec::query("demo/hold"),
        HandlerKind::once(|_, _| async {
            futures::future::pending::<()>().await;
            Ok(json!(null))
        }),
        Capabilities::new(),
    );
    let config = SessionConfig::default().with_max_concurrent_requests(1);
    let (_session, mut raw) = pair(options(reg).with_config(config));
    request(&mut raw, "h1", "demo/hold", json!(null)).await;
    request(&mut raw, "h2", "demo/hold", json!(null)).await;
    let refused = next(&mut raw).await;
    assert_eq!(refused.id, "h2");
    assert_eq!(refused.payload["retryable"], true);
    assert_eq!(refused.payload["details"]["reason"], "overloaded");
}

#[tokio::test(start_paused = true)]
async fn malformed_requests_get_invalid_input_and_unknown_types_are_ignored() {
    let (_session, mut raw) = pair(options(base()));
    raw.send(EventEnvelope::new(
        "call.requested",
        "bad",
        json!({"input": 1}),
    ))
    .await
    .unwrap();
    let e = next(&mut raw).await;
    assert_eq!(
        (e.id.as_str(), e.payload["code"].as_str()),
        ("bad", Some("INVALID_INPUT"))
    );
    raw.send(EventEnvelope::new("call.teleported", "x", json!({})))
        .await
        .unwrap();
    // Late or unknown replies are discarded silently.
    raw.send(EventEnvelope::responded("not-pending", json!(1)))
        .await
        .unwrap();
    assert!(frames_until_marker(&mut raw).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn outgoing_calls_time_out_through_the_sweeper_and_abort_remotely() {
    let config = SessionConfig::default()
        .with_call_timeout(Duration::from_secs(30))
        .with_sweep_interval(Duration::from_secs(10));
    let (session, mut raw) = pair(options(base()).with_config(config));
    let t0 = tokio::time::Instant::now();
    let call = tokio::spawn({
        let session = session.clone();
        async move { session.call("peer/never", json!(null)).await }
    });
    let asked = next(&mut raw).await;
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.code, "TIMEOUT");
    assert!(e.retryable);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(40),
        "{waited:?}"
    );
    assert_eq!(next(&mut raw).await, EventEnvelope::aborted(asked.id));
    assert_eq!(session.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_or_subscription_aborts_it() {
    let (session, mut raw) = pair(options(base()));
    {
        let call = session.request("peer/op", json!(null), OutgoingOptions::default());
        let id = call.id().to_owned();
        let mut call = Box::pin(call);
        assert!(futures::poll!(call.as_mut()).is_pending());
        assert_eq!(next(&mut raw).await.id, id);
        drop(call);
        assert_eq!(next(&mut raw).await, EventEnvelope::aborted(id));
    }
    let sub = session.subscribe("peer/stream", json!(null)).await;
    let id = sub.id().to_owned();
    assert_eq!(next(&mut raw).await.id, id);
    raw.send(EventEnvelope::responded(id.clone(), json!(1)))
        .await
        .unwrap();
    drop(sub);
    assert_eq!(next(&mut raw).await, EventEnvelope::aborted(id));
    assert_eq!(session.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn subscribe_receives_items_errors_and_explicit_abort() {
    let (session, mut raw) = pair(options(base()));
    let mut sub = session.subscribe("peer/items", json!(null)).await;
    let id = sub.id().to_owned();
    assert_eq!(next(&mut raw).await.event_type, "call.requested");
    raw.send(EventEnvelope::responded(id.clone(), json!("a")))
        .await
        .unwrap();
    raw.send(EventEnvelope::error(
        id.clone(),
        &CallError::new("DOMAIN", "d"),
    ))
    .await
    .unwrap();
    raw.send(EventEnvelope::completed(id.clone()))
        .await
        .unwrap();
    assert_eq!(sub.next().await.unwrap().unwrap(), json!("a"));
    assert_eq!(sub.next().await.unwrap().unwrap_err().code, "DOMAIN");
    assert!(sub.next().await.is_none());
    let second = session.subscribe("peer/items", json!(null)).await;
    let id = second.id().to_owned();
    assert_eq!(next(&mut raw).await.id, id);
    second.abort();
    assert_eq!(next(&mut raw).await, EventEnvelope::aborted(id));
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_stops_reading_cannot_grow_memory() {
    // The remote produces an endless fast stream; the local subscriber never reads.
    let (a, b) = tokio::io::duplex(1 << 16);
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (p, d) = (produced.clone(), dropped.clone());
    let fast = HandlerKind::stream(move |_, _| {
        let p = p.clone();
        let guard = DropFlag(d.clone());
        futures::stream::repeat(()).map(move |()| {
            let _keep = &guard;
            Ok(json!(p.fetch_add(1, Ordering::SeqCst)))
        })
    });
    let remote = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::subscription("fast/items"),
            fast,
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let _remote = Session::over_io(a, SessionOptions::new(remote));
    let config = SessionConfig::default().with_subscription_queue(4);
    let local = Session::over_io(
        b,
        SessionOptions::new(OperationRegistry::builder().build().unwrap()).with_config(config),
    );
    let mut sub = local.subscribe("fast/items", json!(null)).await;
    // Wait (without reading) until the remote handler has been aborted.
    while !dropped.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        local.pending_len(),
        0,
        "the lagged subscription is gone from the pending map"
    );
    let mut items = Vec::new();
    while let Some(item) = sub.next().await {
        items.push(item);
    }
    assert_eq!(
        items.len(),
        5,
        "exactly the queue bound, then the lagged error"
    );
    assert_eq!(
        items[4].as_ref().unwrap_err().details.as_ref().unwrap()["reason"],
        "lagged"
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversize_frame_closes_the_session() {
    let config = SessionConfig::default().with_max_frame_size(1024);
    let (session, mut raw) = pair(options(base()).with_config(config));
    request(&mut raw, "big", "demo/echo", json!("x".repeat(2000))).await;
    match session.closed().await {
        CloseReason::Transport { close_code, .. } => assert_eq!(close_code, 1009),
        other => panic!("unexpected close: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_envelope_too_large_to_send_fails_only_its_call() {
    let config = SessionConfig::default().with_max_frame_size(1024);
    let registry = base().with_leaf(
        OperationSpec::query("demo/big"),
        returning(json!("x".repeat(4000))),
        Capabilities::new(),
    );
    let (session, mut raw) = pair(options(registry).with_config(config));
    // A reply past the limit: that call fails, with the limit in its details.
    request(&mut raw, "big", "demo/big", json!(null)).await;
    let reply = next(&mut raw).await;
    assert_eq!(
        (reply.id.as_str(), reply.event_type.as_str()),
        ("big", event_type::CALL_ERROR)
    );
    assert_eq!(reply.payload["code"], "INTERNAL");
    assert_eq!(reply.payload["details"]["max"], 1024);
    // A request past the limit fails locally; nothing is sent for it.
    let refused = session
        .call("marker/echo", json!("y".repeat(4000)))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "INVALID_INPUT");
    assert_eq!(session.pending_len(), 0);
    // The session goes on.
    assert!(frames_until_marker(&mut raw).await.is_empty());
    assert!(!session.is_closed());
}

#[tokio::test(start_paused = true)]
async fn the_overlay_is_attached_by_peer_id_and_dropped_on_close() {
    let peers = Arc::new(PeerTable::new());
    let identified = options(base())
        .with_peers(peers.clone())
        .with_connection_identity(Some(Identity::new("node-b")));
    let (session, _raw) = pair(identified);
    assert_eq!(peers.peer_ids(), vec!["node-b"]);
    session
        .overlay()
        .register_imported(alknet_http_core::HandlerRegistration::leaf(
            OperationSpec::query("b/op").internal(),
            returning(json!(1)),
            alknet_http_core::Provenance::FromCall,
        ))
        .unwrap();
    session.close();
    assert_eq!(session.closed().await, CloseReason::Local);
    assert!(peers.peer_ids().is_empty());
    assert!(session.overlay().is_empty());
    // A session without an identity (a browser) is never attached.
    let (_anonymous, _raw2) = pair(options(base()).with_peers(peers.clone()));
    assert!(peers.peer_ids().is_empty());
    let _ = oneshot::channel::<()>();
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_reconnected_keeps_its_new_overlay_when_the_old_session_closes() {
    let peers = Arc::new(PeerTable::new());
    let identified = || {
        options(base())
            .with_peers(peers.clone())
            .with_connection_identity(Some(Identity::new("node-b")))
    };
    let (old, _old_raw) = pair(identified());
    let (new, _new_raw) = pair(identified());
    new.overlay()
        .register_imported(alknet_http_core::HandlerRegistration::leaf(
            OperationSpec::query("b/op").internal(),
            returning(json!(1)),
            alknet_http_core::Provenance::FromCall,
        ))
        .unwrap();
    old.close();
    assert_eq!(old.closed().await, CloseReason::Local);
    assert_eq!(peers.peer_ids(), vec!["node-b"]);
    let env =
        alknet_http_core::PeerCompositeEnv::new(base().build().unwrap()).with_peers(peers.clone());
    assert!(alknet_http_core::OperationEnv::peer_contains(
        &env,
        &alknet_http_core::PeerRef::Specific("node-b".into()),
        "b/op"
    ));
    new.close();
    assert_eq!(new.closed().await, CloseReason::Local);
    assert!(peers.peer_ids().is_empty());
}

#[tokio::test]
async fn two_peers_flooding_each_other_through_tiny_buffers_do_not_deadlock() {
    // 4 KiB pipes and 2-envelope queues: both sides' replies back up at once, which must not
    // stop either side from reading.
    let (a, b) = tokio::io::duplex(4096);
    let config = SessionConfig::default().with_outbound_queue(2);
    let left = Session::over_io(a, options(base()).with_config(config.clone()));
    let right = Session::over_io(b, options(base()).with_config(config));
    let payload = json!("x".repeat(2048));
    let calls = |from: Session| {
        let payload = payload.clone();
        async move {
            let all = (0..300).map(|_| from.call("demo/echo", payload.clone()));
            futures::future::join_all(all).await
        }
    };
    let (l, r) = tokio::time::timeout(
        Duration::from_secs(30),
        futures::future::join(calls(left.clone()), calls(right.clone())),
    )
    .await
    .expect("the peers deadlocked");
    for result in l.into_iter().chain(r) {
        assert_eq!(result.unwrap(), payload);
    }
}
