//! http-surfaces §14 "Spine": the root context every gateway call gets.

use std::time::Duration;

use alknet_http_core::{
    AccessControl, AuthToken, CallOptions, Capabilities, GatewayDispatch, HandlerKind, Identity,
    OperationRegistry, OperationSpec, StaticTokenProvider,
};
use futures::StreamExt;
use serde_json::json;

use crate::fixtures::{Probe, alice, dispatch, recording_echo};

#[tokio::test(start_paused = true)]
async fn root_context_invariants() {
    let probe = Probe::default();
    let stream_probe = probe.clone();
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/q"),
            recording_echo(&probe),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/s"),
            HandlerKind::stream(move |_, ctx| {
                stream_probe.record(&ctx);
                futures::stream::iter(vec![Ok(json!(1))])
            }),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let d = dispatch(registry);
    let t0 = tokio::time::Instant::now();
    d.invoke(Some(std::sync::Arc::new(alice())), "demo/q", json!({}))
        .await
        .result
        .unwrap();
    let q = probe.last();
    assert!(!q.is_internal());
    assert!(q.forwarded_for().is_none());
    assert_eq!(q.identity(), Some(&alice()));
    assert_eq!(q.deadline(), Some(t0 + Duration::from_secs(30)));
    let id = uuid::Uuid::parse_str(q.request_id()).expect("request id is a UUID");
    assert_eq!(id.get_version_num(), 4);
    assert!(q.parent_request_id().is_none());
    assert!(q.metadata().is_empty());

    let _: Vec<_> = d
        .invoke_streaming(None, "demo/s", json!({}))
        .collect()
        .await;
    let s = probe.last();
    assert_eq!(s.deadline(), None, "subscriptions have no deadline");
    assert_ne!(s.request_id(), q.request_id());
}

#[tokio::test]
async fn options_reach_the_context() {
    let probe = Probe::default();
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/q"),
            recording_echo(&probe),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let options = CallOptions {
        last_event_id: Some("41".into()),
        ..CallOptions::default()
    };
    dispatch(registry)
        .invoke_with(None, "demo/q", json!(1), options)
        .await
        .result
        .unwrap();
    assert_eq!(probe.last().last_event_id(), Some("41"));
}

#[tokio::test]
async fn restricted_op_with_no_identity_is_forbidden_and_bearer_resolves() {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/q")
                .with_access_control(AccessControl::scopes(["demo:read"])),
            recording_echo(&Probe::default()),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let provider = StaticTokenProvider::new()
        .with_token("alk_test_token", alice())
        .unwrap();
    let d = GatewayDispatch::new(registry, std::sync::Arc::new(provider));
    let e = d
        .invoke(None, "demo/q", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("FORBIDDEN", "authentication required")
    );
    let who = d.resolve_bearer(&AuthToken::new("alk_test_token"));
    assert_eq!(who, Some(std::sync::Arc::new(alice())));
    assert_eq!(d.resolve_bearer(&AuthToken::new("alk_other")), None);
    assert!(d.invoke(who, "demo/q", json!({})).await.result.is_ok());
    let wrong = Identity::new("x");
    assert_eq!(
        d.invoke(Some(std::sync::Arc::new(wrong)), "demo/q", json!({}))
            .await
            .result
            .unwrap_err()
            .code,
        "FORBIDDEN"
    );
}
