//! Checklist "Adapters": `from_call` between two sessions over an in-memory duplex.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alknet_http_core::adapter::{FromCall, FromCallConfig};
use alknet_http_core::compose::PeerTable;
use alknet_http_core::frame::FrameCodec;
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::{
    AccessControl, AdapterError, CallError, Capabilities, CompositionAuthority, EventEnvelope,
    HandlerKind, Identity, OperationAdapter, OperationRegistry, OperationSpec, PeerCompositeEnv,
    Provenance, RootCall, ScopedPeerEnv, StaticTokenProvider, Visibility,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::codec::Framed;

use crate::fixtures::counting;
use crate::registry::DropFlag;

struct Remote {
    dropped: Arc<AtomicBool>,
    started: Arc<Notify>,
}

/// Node B's registry: echo, whoami (identity + forwarded_for), count, wait-forever, a scoped op.
fn node_b(remote: &Remote) -> OperationRegistry {
    let (dropped, started) = (remote.dropped.clone(), remote.started.clone());
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("fs/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/whoami"),
            HandlerKind::once(|_, ctx| async move {
                Ok(json!({
                    "identity": ctx.identity().map(|i| i.id.clone()),
                    "forwarded_for": ctx.forwarded_for().map(|i| i.id.clone()),
                }))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/deadline"),
            HandlerKind::once(|_, ctx| async move {
                let left = ctx.deadline().map(|d| {
                    d.saturating_duration_since(tokio::time::Instant::now())
                        .as_millis()
                });
                Ok(json!({ "left_ms": left }))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("fs/count"),
            counting(3),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("fs/wait"),
            HandlerKind::once(move |_, _| {
                let guard = DropFlag(dropped.clone());
                started.notify_one();
                async move {
                    let _guard = guard;
                    futures::future::pending::<()>().await;
                    Ok(json!(null))
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/admin")
                .with_access_control(AccessControl::scopes(["admin"]))
                .with_error(alknet_http_core::ErrorDefinition::new("NOPE", "x")),
            HandlerKind::once(|_, _| async {
                Err(CallError::new("NOPE", "declared remote error"))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/hidden").internal(),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

/// Node A: composes any allowed name under its authority.
fn node_a() -> OperationRegistry {
    let allowed = [
        "b/fs/echo",
        "b/fs/deadline",
        "b/fs/whoami",
        "b/fs/wait",
        "b/fs/admin",
        "fs/echo",
    ];
    OperationRegistry::builder()
        .with_local(
            OperationSpec::query("a/compose").with_error(alknet_http_core::ErrorDefinition::new(
                "NOPE",
                "relayed from node b",
            )),
            HandlerKind::once(|input: Value, ctx| async move {
                let name = input["name"].as_str().unwrap_or_default().to_owned();
                ctx.call(&name, input["input"].clone()).await
            }),
            Some(CompositionAuthority::new("a-authority", ["admin"])),
            Some(ScopedPeerEnv::allowing(allowed)),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

struct Nodes {
    a_base: OperationRegistry,
    peers: Arc<PeerTable>,
    a_side: Session,
    _b_side: Session,
    remote: Remote,
}

fn connect(config: impl FnOnce(FromCallConfig) -> FromCallConfig) -> (Nodes, FromCall) {
    let remote = Remote {
        dropped: Arc::new(AtomicBool::new(false)),
        started: Arc::new(Notify::new()),
    };
    let (a, b) = tokio::io::duplex(1 << 16);
    let peers = Arc::new(PeerTable::new());
    let a_base = node_a();
    let a_side = Session::over_io(
        a,
        SessionOptions::new(a_base.clone())
            .with_peers(peers.clone())
            .with_connection_identity(Some(Identity::new("node-b"))),
    );
    let provider = StaticTokenProvider::new()
        .with_token(
            "alk_a_token",
            Identity::new("node-a-by-token").with_scopes(["admin"]),
        )
        .unwrap();
    let b_side = Session::over_io(
        b,
        SessionOptions::new(node_b(&remote))
            .with_identity_provider(Arc::new(provider))
            .with_connection_identity(Some(Identity::new("node-a"))),
    );
    let importer = FromCall::new(
        a_side.clone(),
        config(FromCallConfig::new("node-b").with_prefix("b")),
    );
    (
        Nodes {
            a_base,
            peers,
            a_side,
            _b_side: b_side,
            remote,
        },
        importer,
    )
}

async fn compose(nodes: &Nodes, name: &str, input: Value) -> Result<Value, CallError> {
    compose_within(
        nodes,
        name,
        input,
        alknet_http_core::invoke::DEFAULT_CALL_TIMEOUT,
    )
    .await
}

async fn compose_within(
    nodes: &Nodes,
    name: &str,
    input: Value,
    timeout: std::time::Duration,
) -> Result<Value, CallError> {
    let env = PeerCompositeEnv::new(nodes.a_base.clone()).with_peers(nodes.peers.clone());
    let root = RootCall {
        identity: Some(Arc::new(Identity::new("end-user"))),
        env: Some(Arc::new(env)),
        timeout,
        ..RootCall::new()
    };
    nodes
        .a_base
        .invoke_root("a/compose", json!({"name": name, "input": input}), root)
        .await
        .result
}

#[tokio::test(start_paused = true)]
async fn import_populates_the_overlay_with_prefixed_internal_leaves() {
    let (nodes, importer) = connect(|c| c);
    let registrations = importer.import().await.unwrap();
    let mut names: Vec<_> = registrations.iter().map(|r| r.spec.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "b/fs/count",
            "b/fs/deadline",
            "b/fs/echo",
            "b/fs/wait",
            "b/fs/whoami"
        ],
        "External and permitted only; no discovery ops"
    );
    for r in &registrations {
        assert_eq!(
            (r.spec.namespace.as_str(), r.spec.visibility, r.provenance),
            ("b", Visibility::Internal, Provenance::FromCall)
        );
        assert!(r.composition_authority.is_none() && r.scoped_env.is_none());
    }
    assert_eq!(importer.import_into_overlay().await.unwrap(), 5);
    assert_eq!(nodes.a_side.overlay().len(), 5);
    assert_eq!(nodes.peers.peer_ids(), vec!["node-b"]);
}

#[tokio::test(start_paused = true)]
async fn the_callers_remaining_deadline_travels_to_the_far_node() {
    let (nodes, importer) = connect(|c| c);
    importer.import_into_overlay().await.unwrap();
    let timeout = std::time::Duration::from_millis(1500);
    let reply = compose_within(&nodes, "b/fs/deadline", json!(null), timeout)
        .await
        .unwrap();
    let left = reply["left_ms"].as_u64().unwrap();
    // Node B's own default is 30 s: only the travelling deadline makes it this short.
    assert!((1000..=1500).contains(&left), "{reply}");
}

#[tokio::test(start_paused = true)]
async fn filter_and_mirrored_acl() {
    let (nodes, importer) = connect(|c| {
        c.with_filter(["fs/echo", "/fs/admin"]).with_token(
            "node-b",
            Capabilities::new().with_http_token("node-b", "alk_a_token"),
        )
    });
    let registrations = importer.import().await.unwrap();
    let mut names: Vec<_> = registrations.iter().map(|r| r.spec.name.as_str()).collect();
    names.sort();
    // With the token, B lists its admin op too; the filter keeps two.
    assert_eq!(names, vec!["b/fs/admin", "b/fs/echo"]);
    let admin = registrations
        .iter()
        .find(|r| r.spec.name == "b/fs/admin")
        .unwrap();
    assert_eq!(
        admin.spec.access_control,
        AccessControl::scopes(["admin"]),
        "ACL mirrored"
    );
    assert_eq!(
        admin.spec.error_schemas[0].code, "NOPE",
        "error schemas mirrored"
    );
    drop(nodes);
}

#[tokio::test(start_paused = true)]
async fn calls_and_streams_are_forwarded() {
    let (nodes, importer) = connect(|c| c);
    importer.import_into_overlay().await.unwrap();
    assert_eq!(
        compose(&nodes, "b/fs/echo", json!({"hi": 1}))
            .await
            .unwrap(),
        json!({"hi": 1})
    );
    // Streams: through the overlay directly (composition is request/response only).
    let op = nodes.a_side.overlay().names();
    assert!(op.contains(&"b/fs/count".to_owned()));
    let env = PeerCompositeEnv::new(nodes.a_base.clone()).with_peers(nodes.peers.clone());
    let layered = OperationRegistry::builder()
        .with_all(importer.import().await.unwrap().into_iter().map(|mut r| {
            r.spec.visibility = Visibility::External;
            r.provenance = Provenance::Local;
            r
        }))
        .build()
        .unwrap();
    let items: Vec<_> = layered
        .invoke_root_streaming(
            "b/fs/count",
            json!(null),
            RootCall {
                env: Some(Arc::new(env)),
                ..RootCall::new()
            },
        )
        .collect()
        .await;
    let outputs: Vec<Value> = items.into_iter().map(|e| e.result.unwrap()).collect();
    assert_eq!(outputs, vec![json!(0), json!(1), json!(2)]);
}

#[tokio::test(start_paused = true)]
async fn forwarded_for_is_set_or_omitted_and_never_authorizes() {
    let (nodes, importer) = connect(|c| c);
    importer.import_into_overlay().await.unwrap();
    let who = compose(&nodes, "b/fs/whoami", json!(null)).await.unwrap();
    // B's ACL subject is the connection identity; the forwarded identity is the composing authority.
    assert_eq!(
        who,
        json!({"identity": "node-a", "forwarded_for": "a-authority"})
    );
    let (nodes, importer) = connect(|mut c| {
        c.forward_identity = false;
        c
    });
    importer.import_into_overlay().await.unwrap();
    assert_eq!(
        compose(&nodes, "b/fs/whoami", json!(null)).await.unwrap()["forwarded_for"],
        Value::Null
    );
    // An admin named in forwarded_for does not open B's admin op to A.
    let raw = nodes.a_side.request(
        "fs/admin",
        json!(null),
        alknet_http_core::session::OutgoingOptions {
            forwarded_for: Some(Identity::new("root").with_scopes(["admin"])),
            ..Default::default()
        },
    );
    assert_eq!(raw.await.unwrap_err().code, "FORBIDDEN");
}

#[tokio::test(start_paused = true)]
async fn the_node_token_comes_from_capabilities_and_remote_errors_relay() {
    let (nodes, importer) = connect(|c| {
        c.with_token(
            "node-b",
            Capabilities::new().with_http_token("node-b", "alk_a_token"),
        )
    });
    importer.import_into_overlay().await.unwrap();
    let e = compose(&nodes, "b/fs/admin", json!(null))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("NOPE", "declared remote error"),
        "declared code passes through"
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_cascade_sends_call_aborted_to_the_remote() {
    let (nodes, importer) = connect(|c| c);
    importer.import_into_overlay().await.unwrap();
    let env = PeerCompositeEnv::new(nodes.a_base.clone()).with_peers(nodes.peers.clone());
    let token = tokio_util::sync::CancellationToken::new();
    let root = RootCall {
        env: Some(Arc::new(env)),
        abort: token.clone(),
        ..RootCall::new()
    };
    let call = tokio::spawn(nodes.a_base.invoke_root(
        "a/compose",
        json!({"name": "b/fs/wait"}),
        root,
    ));
    nodes.remote.started.notified().await;
    assert_eq!(nodes.a_side.pending_len(), 1);
    token.cancel();
    assert_eq!(
        call.await.unwrap().result.unwrap_err().message,
        "call aborted"
    );
    while !nodes.remote.dropped.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    assert_eq!(nodes.a_side.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn duplicate_names_from_one_peer_are_a_collision() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let session = Session::over_io(
        a,
        SessionOptions::new(OperationRegistry::builder().build().unwrap()),
    );
    let mut raw = Framed::new(b, FrameCodec::default());
    let importer = FromCall::new(session, FromCallConfig::new("twice"));
    let peer = tokio::spawn(async move {
        let request = raw.next().await.unwrap().unwrap();
        let listing = json!({"operations": [{"name": "x/op", "namespace": "x", "op_type": "query"}, {"name": "x/op", "namespace": "x", "op_type": "query"}]});
        raw.send(EventEnvelope::responded(request.id, listing))
            .await
            .unwrap();
        raw
    });
    let err = importer.import().await.unwrap_err();
    assert!(
        matches!(&err, AdapterError::SamePeerCollision { peer, name } if peer == "twice" && name == "x/op"),
        "{err}"
    );
    drop(peer.await.unwrap());
    // And a dead session is a transport failure.
    let err = importer.import().await.unwrap_err();
    assert!(matches!(err, AdapterError::Transport { .. }), "{err}");
}
