//! `CallMetrics`: every call through a registry counted by operation and outcome, subscription
//! items, calls in flight, live sessions, and label values bounded.

use std::sync::Arc;

use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::metrics::{CallMetrics, MetricsLimits};
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::{
    CallError, Capabilities, GatewayDispatch, HandlerKind, OperationRegistry, OperationSpec,
};
use futures::StreamExt;
use serde_json::{Value, json};

fn registry(metrics: &Arc<CallMetrics>) -> OperationRegistry {
    let mut builder = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("m/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("m/fail")
                .with_error(alknet_http_core::ErrorDefinition::new("NOPE", "declared")),
            HandlerKind::once(|_, _| async { Err(CallError::new("NOPE", "no")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("m/hang"),
            HandlerKind::once(|_, _| async {
                futures::future::pending::<()>().await;
                Ok(Value::Null)
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("m/count"),
            HandlerKind::stream(|_, _| futures::stream::iter((0..3).map(|i| Ok(json!(i))))),
            Capabilities::new(),
        );
    for i in 0..4 {
        builder = builder.with_leaf(
            OperationSpec::query(format!("many/op{i}")),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        );
    }
    builder.with_metrics(metrics.clone()).build().unwrap()
}

/// The value of the sample line starting with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn calls_are_counted_by_operation_and_outcome() {
    let metrics = Arc::new(CallMetrics::new());
    let dispatch = GatewayDispatch::new(registry(&metrics), Arc::new(AnonymousOnly));
    for _ in 0..3 {
        dispatch.invoke(None, "m/echo", json!(1)).await;
    }
    dispatch.invoke(None, "m/fail", json!(1)).await;
    dispatch.invoke(None, "no/such", json!(1)).await;
    let items: Vec<_> = dispatch
        .invoke_streaming(None, "m/count", Value::Null)
        .collect()
        .await;
    assert_eq!(items.len(), 3);
    // A call whose caller goes away before it answers is counted as abandoned.
    let hanging = dispatch.invoke(None, "m/hang", Value::Null);
    let running = tokio::spawn(hanging);
    tokio::task::yield_now().await;
    let text = metrics.encode();
    assert_eq!(
        sample(&text, r#"alknet_calls_in_flight{operation="m/hang"}"#),
        Some(1.0),
        "{text}"
    );
    running.abort();
    let _ = running.await;

    let text = metrics.encode();
    let count = |operation: &str, code: &str| {
        sample(
            &text,
            &format!(
                r#"alknet_call_duration_seconds_count{{operation="{operation}",code="{code}"}}"#
            ),
        )
    };
    assert_eq!(count("m/echo", "OK"), Some(3.0), "{text}");
    assert_eq!(count("m/fail", "NOPE"), Some(1.0));
    assert_eq!(count("unknown", "NOT_FOUND"), Some(1.0));
    assert_eq!(count("m/count", "OK"), Some(1.0));
    assert_eq!(count("m/hang", "ABANDONED"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"alknet_subscription_items_total{operation="m/count"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"alknet_calls_in_flight{operation="m/hang"}"#),
        Some(0.0)
    );
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
}

#[tokio::test]
async fn label_values_are_bounded() {
    let metrics = Arc::new(CallMetrics::with_limits(
        MetricsLimits::default().with_max_operations(2),
    ));
    let dispatch = GatewayDispatch::new(registry(&metrics), Arc::new(AnonymousOnly));
    // The collapsed values have no series until a call is counted as one.
    let before = metrics.encode();
    assert!(
        !before.contains(r#"operation="other""#) && !before.contains(r#"operation="unknown""#),
        "{before}"
    );
    for i in 0..4 {
        dispatch
            .invoke(None, &format!("many/op{i}"), json!(i))
            .await;
    }
    let text = metrics.encode();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("alknet_call_duration_seconds_count"))
        .collect();
    assert_eq!(series.len(), 3, "two named and `other`: {series:?}");
    assert_eq!(
        sample(
            &text,
            r#"alknet_call_duration_seconds_count{operation="other",code="OK"}"#
        ),
        Some(2.0)
    );
    assert!(!text.contains(r#"operation="unknown""#), "{text}");
}

#[tokio::test]
async fn live_sessions_are_counted_by_surface() {
    let metrics = Arc::new(CallMetrics::new());
    let serving = registry(&metrics);
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = Session::over_io(a, SessionOptions::new(serving).with_surface("test"));
    let client = Session::over_io(b, SessionOptions::new(OperationRegistry::empty()));
    assert_eq!(client.call("m/echo", json!(7)).await.unwrap(), json!(7));
    let live = || sample(&metrics.encode(), r#"alknet_sessions{surface="test"}"#);
    assert_eq!(live(), Some(1.0));
    server.close();
    server.closed().await;
    assert_eq!(live(), Some(0.0));
}
