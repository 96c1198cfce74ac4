//! http-surfaces §14 "WS": sessions over HTTP/1.1 and HTTP/2.

use alknet_http_core::session::CloseReason;
use alknet_http_core::{Capabilities, HandlerKind, OperationRegistry, OperationSpec};
use alknet_http_ws::WsLimits;
use alknet_http_ws::client::WsClientError;
use futures::StreamExt;
use serde_json::json;

use crate::fixtures::{Hooks, connect_h1, connect_h2, hub, options, sessions_listed, within};

#[tokio::test]
async fn round_trip_over_http1_and_http2() {
    let hub = hub(WsLimits::default()).await;
    // Held to the end: dropping a client's last handle closes its session.
    let sessions = [
        within(connect_h1(&hub, options())).await.unwrap(),
        within(connect_h2(&hub, options())).await.unwrap(),
    ];
    for session in &sessions {
        assert_eq!(
            within(session.call("/hub/echo", json!({"n": 1})))
                .await
                .unwrap(),
            json!({"n": 1})
        );
        assert_eq!(
            within(session.call("hub/whoami", json!(null)))
                .await
                .unwrap(),
            json!("browser")
        );
        let listing = within(session.call("services/list", json!(null)))
            .await
            .unwrap();
        assert!(
            listing["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["name"] == "hub/ticks")
        );
    }
    assert_eq!(sessions_listed(&hub, 2).await.len(), 2);
    drop(sessions);
    within(async {
        while !hub.sessions.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn no_token_is_401_on_both_versions() {
    let hub = hub(WsLimits::default()).await;
    let anonymous = alknet_http_ws::client::ClientOptions::new(None);
    assert!(matches!(
        within(connect_h1(&hub, anonymous.clone())).await,
        Err(WsClientError::Refused(401))
    ));
    assert!(matches!(
        within(connect_h2(&hub, anonymous)).await,
        Err(WsClientError::Refused(401))
    ));
    let wrong = alknet_http_ws::client::ClientOptions::new(Some("alk_wrong".into()));
    assert!(matches!(
        within(connect_h1(&hub, wrong)).await,
        Err(WsClientError::Refused(401))
    ));
    assert!(hub.sessions.is_empty());
}

#[tokio::test]
async fn the_subprotocol_carries_the_token_and_is_never_echoed() {
    let hub = hub(WsLimits::default()).await;
    let mut by_subprotocol = options();
    by_subprotocol.token_as_subprotocol = true;
    let session = within(connect_h1(&hub, by_subprotocol.clone()))
        .await
        .unwrap();
    assert_eq!(
        within(session.call("hub/whoami", json!(null)))
            .await
            .unwrap(),
        json!("browser")
    );
    let session = within(connect_h2(&hub, by_subprotocol)).await.unwrap();
    assert_eq!(
        within(session.call("hub/whoami", json!(null)))
            .await
            .unwrap(),
        json!("browser")
    );
    // The raw handshake shows what the server selects.
    let (status, protocol) = crate::frames::raw_handshake_protocol(&hub).await;
    assert_eq!(status, 101);
    assert_eq!(protocol.as_deref(), Some("alknet.call.v1"));
}

#[tokio::test]
async fn acl_is_checked_per_call() {
    let hub = hub(WsLimits::default()).await;
    // Held to the end: dropping a client's last handle closes its session.
    let sessions = [
        within(connect_h1(&hub, options())).await.unwrap(),
        within(connect_h2(&hub, options())).await.unwrap(),
    ];
    for session in &sessions {
        let e = within(session.call("hub/admin", json!(null)))
            .await
            .unwrap_err();
        assert_eq!(e.code, "FORBIDDEN");
        assert!(
            within(session.call("hub/echo", json!(1))).await.is_ok(),
            "the session lives on"
        );
    }
}

#[tokio::test]
async fn subscriptions_stream_then_complete() {
    let hub = hub(WsLimits::default()).await;
    // Held to the end: dropping a client's last handle closes its session.
    let sessions = [
        within(connect_h1(&hub, options())).await.unwrap(),
        within(connect_h2(&hub, options())).await.unwrap(),
    ];
    for session in &sessions {
        let items: Vec<_> = within(
            session
                .subscribe("hub/ticks", json!({"count": 5}))
                .await
                .collect(),
        )
        .await;
        assert_eq!(
            items.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            (0..5).map(|n| json!(n)).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_disconnect_mid_subscription_aborts_the_cascade() {
    for http2 in [false, true] {
        disconnect_mid_subscription(http2).await;
    }
}

async fn disconnect_mid_subscription(http2: bool) {
    let hub = hub(WsLimits::default()).await;
    let dropped = Hooks::watch(&hub.hooks.dropped);
    let child_dropped = Hooks::watch(&hub.hooks.child_dropped);
    let session = if http2 {
        within(connect_h2(&hub, options())).await.unwrap()
    } else {
        within(connect_h1(&hub, options())).await.unwrap()
    };
    let mut watching = session.subscribe("hub/watch", json!(null)).await;
    assert_eq!(
        within(watching.next()).await.unwrap().unwrap(),
        json!("watching")
    );
    within(hub.hooks.started.notified()).await;
    session.close();
    within(dropped).await.unwrap_err();
    within(child_dropped).await.unwrap_err();
}

fn client_registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::mutation("client/wipe")
                .with_access_control(alknet_http_core::AccessControl::scopes(["client:admin"])),
            HandlerKind::once(|_, _| async { Ok(json!("wiped")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("client/name"),
            HandlerKind::once(|_, _| async { Ok(json!("chromium")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("client/confirm"),
            HandlerKind::once(|_, _| async {
                futures::future::pending::<()>().await;
                Ok(json!(true))
            }),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_hub_calls_client_operations_and_close_cleans_up() {
    for http2 in [false, true] {
        hub_calls_client(http2).await;
    }
}

async fn hub_calls_client(http2: bool) {
    let hub = hub(WsLimits::default()).await;
    let client = options().serving(client_registry());
    let session = if http2 {
        within(connect_h2(&hub, client)).await.unwrap()
    } else {
        within(connect_h1(&hub, client)).await.unwrap()
    };
    let listed = sessions_listed(&hub, 1).await;
    assert_eq!(
        listed[0].http_version,
        if http2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        }
    );
    let id = listed[0].id;
    assert_eq!(listed[0].identity.id, "browser");
    assert_eq!(hub.sessions.by_identity("browser").len(), 1);
    assert_eq!(
        within(hub.sessions.call(id, "/client/name", json!(null)))
            .await
            .unwrap(),
        json!("chromium")
    );
    assert_eq!(within(hub.sessions.import(id)).await.unwrap(), 2);
    let hub_side = hub.sessions.get(id).unwrap();
    assert_eq!(
        hub_side.overlay().names(),
        vec!["client/confirm", "client/name"]
    );
    // A hub→client call in flight when the client goes away fails with "connection closed".
    let pending = tokio::spawn({
        let sessions = hub.sessions.clone();
        async move { sessions.call(id, "client/confirm", json!(null)).await }
    });
    while hub_side.pending_len() == 0 {
        tokio::task::yield_now().await;
    }
    session.close();
    let e = within(pending).await.unwrap().unwrap_err();
    assert_eq!(e.message, "connection closed");
    within(hub_side.closed()).await;
    assert!(
        hub_side.overlay().is_empty(),
        "the overlay is dropped with the session"
    );
    while !hub.sessions.is_empty() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn browsers_are_not_peers() {
    let hub = hub(WsLimits::default()).await;
    let session = within(connect_h1(&hub, options().serving(client_registry())))
        .await
        .unwrap();
    let id = sessions_listed(&hub, 1).await[0].id;
    within(hub.sessions.import(id)).await.unwrap();
    // Neither its identity id nor any other name routes to the browser.
    for peer in ["browser", "ws-session-1"] {
        let e = within(session.call("hub/reach-browser", json!({"peer": peer})))
            .await
            .unwrap_err();
        assert_eq!(e.code, "NOT_FOUND", "{peer}");
    }
}

#[tokio::test]
async fn server_shutdown_closes_sessions() {
    let hub = hub(WsLimits::default()).await;
    let session = within(connect_h1(&hub, options())).await.unwrap();
    hub.shutdown.cancel();
    let reason = within(session.closed()).await;
    assert_eq!(reason, CloseReason::PeerClosed, "{reason:?}");
    let close = crate::frames::close_code_after(&hub, |_| {}).await;
    assert_eq!(close, Some(1001));
}
