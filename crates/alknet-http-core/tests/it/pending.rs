//! Checklist "Pending map".

use alknet_http_core::session::{Delivery, PendingRequestMap};
use futures::StreamExt;
use serde_json::json;
use tokio::time::{Duration, Instant};

#[tokio::test]
async fn call_resolves_once() {
    let mut map = PendingRequestMap::new();
    let rx = map.register_call("c1", Instant::now() + Duration::from_secs(30), None);
    assert!(map.contains("c1"));
    assert_eq!(map.handle_responded("c1", json!(1)), Delivery::Delivered);
    assert_eq!(
        map.handle_responded("c1", json!(2)),
        Delivery::Unknown,
        "late frame discarded"
    );
    assert!(!map.handle_completed("c1"));
    assert_eq!(rx.await.unwrap().unwrap(), json!(1));
    assert!(map.is_empty());
}

#[tokio::test]
async fn subscription_gets_n_items_then_completes() {
    let mut map = PendingRequestMap::new();
    let mut rx = map.register_subscribe("s1", None, None, 8);
    for i in 0..3 {
        assert_eq!(map.handle_responded("s1", json!(i)), Delivery::Delivered);
    }
    assert!(map.contains("s1"), "subscriptions stay until they end");
    assert!(map.handle_completed("s1"));
    let items: Vec<_> = (&mut rx).collect().await;
    assert_eq!(
        items.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    assert_eq!(map.len(), 0);
}

#[tokio::test]
async fn errors_resolve_calls_and_end_subscriptions() {
    let mut map = PendingRequestMap::new();
    let call = map.register_call("c", Instant::now() + Duration::from_secs(30), None);
    let mut sub = map.register_subscribe("s", None, None, 8);
    map.handle_responded("s", json!("a"));
    assert!(map.handle_error("c", alknet_http_core::CallError::new("X", "x")));
    assert!(map.handle_error("s", alknet_http_core::CallError::new("Y", "y")));
    assert_eq!(call.await.unwrap().unwrap_err().code, "X");
    assert_eq!(sub.next().await.unwrap().unwrap(), json!("a"));
    assert_eq!(sub.next().await.unwrap().unwrap_err().code, "Y");
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn aborts_from_the_handler_side() {
    let mut map = PendingRequestMap::new();
    let call = map.register_call("c", Instant::now() + Duration::from_secs(30), None);
    let mut sub = map.register_subscribe("s", None, None, 8);
    assert!(map.handle_aborted("c"));
    assert!(map.handle_aborted("s"));
    assert!(!map.handle_aborted("zzz"), "unknown id");
    assert_eq!(call.await.unwrap().unwrap_err().code, "INTERNAL");
    assert!(
        sub.next().await.is_none(),
        "an aborted subscription just ends"
    );
}

#[tokio::test]
async fn unknown_ids_are_discarded() {
    let mut map = PendingRequestMap::new();
    assert_eq!(map.handle_responded("nope", json!(1)), Delivery::Unknown);
    assert!(!map.handle_completed("nope"));
    assert!(!map.handle_error("nope", alknet_http_core::CallError::internal("x")));
    assert!(!map.handle_aborted("nope"));
}

#[tokio::test]
async fn sweep_times_out_expired_entries_only() {
    let now = Instant::now();
    let mut map = PendingRequestMap::new();
    let early = map.register_call("early", now + Duration::from_secs(5), Some("parent".into()));
    let late = map.register_call("late", now + Duration::from_secs(50), None);
    let mut sub = map.register_subscribe("sub", Some(now + Duration::from_secs(5)), None, 8);
    let open_sub = map.register_subscribe("open", None, Some("parent".into()), 8);
    assert_eq!(map.children_of("parent").len(), 2);
    let mut expired = map.evict_expired(now + Duration::from_secs(10));
    expired.sort();
    assert_eq!(expired, vec!["early", "sub"]);
    let e = early.await.unwrap().unwrap_err();
    assert_eq!(e.code, "TIMEOUT");
    assert!(e.retryable);
    assert_eq!(sub.next().await.unwrap().unwrap_err().code, "TIMEOUT");
    assert!(map.contains("late") && map.contains("open"));
    drop((late, open_sub));
}

#[tokio::test]
async fn fail_all_is_connection_closed() {
    let mut map = PendingRequestMap::new();
    let call = map.register_call("c", Instant::now() + Duration::from_secs(30), None);
    let mut sub = map.register_subscribe("s", None, None, 8);
    map.fail_all(&alknet_http_core::CallError::connection_closed());
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("INTERNAL", "connection closed")
    );
    assert_eq!(
        sub.next().await.unwrap().unwrap_err().message,
        "connection closed"
    );
    assert!(map.is_empty());
}

#[tokio::test]
async fn a_full_subscriber_queue_ends_as_lagged() {
    let mut map = PendingRequestMap::new();
    let mut sub = map.register_subscribe("s", None, None, 2);
    assert_eq!(map.handle_responded("s", json!(1)), Delivery::Delivered);
    assert_eq!(map.handle_responded("s", json!(2)), Delivery::Delivered);
    assert_eq!(map.handle_responded("s", json!(3)), Delivery::Lagged);
    assert!(!map.contains("s"));
    assert_eq!(map.handle_responded("s", json!(4)), Delivery::Unknown);
    let items: Vec<_> = (&mut sub).collect().await;
    assert_eq!(
        items.len(),
        3,
        "the buffered items, then the terminal error"
    );
    let e = items[2].as_ref().unwrap_err();
    assert_eq!(
        (
            e.code.as_str(),
            e.details.as_ref().unwrap()["reason"].as_str()
        ),
        ("INTERNAL", Some("lagged"))
    );
}
