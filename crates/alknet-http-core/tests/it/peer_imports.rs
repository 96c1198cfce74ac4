//! A peer's `External` imports are offered to this node's callers (dispatch, search, schema,
//! `services/list`) next to the base layer, never back to the peer that exported them, and
//! leave with the peer's session.

use std::sync::Arc;

use alknet_http_core::adapter::{FromCall, FromCallConfig};
use alknet_http_core::compose::PeerTable;
use alknet_http_core::dispatch::SearchQuery;
use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::spec::Visibility;
use alknet_http_core::{
    AccessControl, Capabilities, GatewayDispatch, HandlerKind, Identity, OperationRegistry,
    OperationSpec,
};
use serde_json::{Value, json};

struct Linked {
    dispatch: GatewayDispatch,
    a_side: Session,
    b_side: Session,
}

async fn linked(visibility: Visibility) -> Linked {
    let b = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("fs/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/admin").with_access_control(AccessControl::scopes(["admin"])),
            HandlerKind::once(|_, _| async { Ok(json!("admin")) }),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let peers = Arc::new(PeerTable::new());
    let a = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("a/local"),
            HandlerKind::once(|_, _| async { Ok(json!("local")) }),
            Capabilities::new(),
        )
        .with_peers(peers.clone())
        .build()
        .unwrap();
    let (a_io, b_io) = tokio::io::duplex(1 << 16);
    let a_side = Session::over_io(
        a_io,
        SessionOptions::new(a.clone())
            .with_peers(peers)
            .with_connection_identity(Some(Identity::new("node-b"))),
    );
    let b_side = Session::over_io(
        b_io,
        SessionOptions::new(b)
            .with_connection_identity(Some(Identity::new("node-a").with_scopes(["admin"]))),
    );
    let config = FromCallConfig::new("node-b")
        .with_prefix("b")
        .with_visibility(visibility);
    FromCall::new(a_side.clone(), config)
        .import_into_overlay()
        .await
        .unwrap();
    Linked {
        dispatch: GatewayDispatch::new(a, Arc::new(AnonymousOnly)),
        a_side,
        b_side,
    }
}

fn names(listing: &Value) -> Vec<String> {
    listing["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn external_imports_are_offered_to_callers_per_their_access() {
    let linked = linked(Visibility::External).await;
    let dispatch = &linked.dispatch;
    let found: Vec<_> = dispatch
        .search(None, &SearchQuery::all())
        .into_iter()
        .map(|op| op.name)
        .collect();
    assert!(found.contains(&"b/fs/echo".to_owned()), "{found:?}");
    assert!(!found.contains(&"b/fs/admin".to_owned()), "ACL mirrored");
    let admin = Identity::new("operator").with_scopes(["admin"]);
    assert!(
        dispatch
            .search(Some(&admin), &SearchQuery::all())
            .iter()
            .any(|op| op.name == "b/fs/admin")
    );
    let reply = dispatch.invoke(None, "/b/fs/echo", json!({"v": 1})).await;
    assert_eq!(reply.result.unwrap(), json!({"v": 1}));
    assert_eq!(
        dispatch.schema(None, "b/fs/echo").unwrap().spec().name,
        "b/fs/echo"
    );
    let listing = dispatch.invoke(None, "services/list", Value::Null).await;
    assert!(names(&listing.result.unwrap()).contains(&"b/fs/echo".to_owned()));
}

#[tokio::test]
async fn a_peer_is_never_offered_back_what_it_exported() {
    let linked = linked(Visibility::External).await;
    // Node B asks node A what it may call: A's own operations, not B's.
    let listing = linked
        .b_side
        .call("services/list", Value::Null)
        .await
        .unwrap();
    let listed = names(&listing);
    assert!(listed.contains(&"a/local".to_owned()), "{listed:?}");
    assert!(!listed.iter().any(|n| n.starts_with("b/")), "{listed:?}");
}

#[tokio::test]
async fn internal_imports_stay_internal_and_imports_leave_with_the_session() {
    let linked = linked(Visibility::Internal).await;
    let dispatch = &linked.dispatch;
    assert!(
        !dispatch
            .search(None, &SearchQuery::all())
            .iter()
            .any(|op| op.name.starts_with("b/"))
    );
    let reply = dispatch.invoke(None, "b/fs/echo", json!(1)).await;
    assert_eq!(reply.result.unwrap_err().code, "NOT_FOUND");

    let linked = linked_external_then_closed().await;
    let reply = linked.dispatch.invoke(None, "b/fs/echo", json!(1)).await;
    assert_eq!(reply.result.unwrap_err().code, "NOT_FOUND");
    assert!(
        !linked
            .dispatch
            .search(None, &SearchQuery::all())
            .iter()
            .any(|op| op.name.starts_with("b/"))
    );
}

async fn linked_external_then_closed() -> Linked {
    let linked = linked(Visibility::External).await;
    assert!(
        linked
            .dispatch
            .invoke(None, "b/fs/echo", json!(1))
            .await
            .result
            .is_ok()
    );
    linked.b_side.close();
    linked.a_side.closed().await;
    linked
}
