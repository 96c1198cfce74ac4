//! Checklist "Composition": reachability, child contexts, layer routing and abort cascades.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alknet_http_core::compose::PeerTable;
use alknet_http_core::{
    AbortPolicy, AccessControl, CallOptions, Capabilities, CompositionAuthority, HandlerKind,
    HandlerRegistration, Identity, OperationEnv, OperationOverlay, OperationRegistry,
    OperationSpec, PeerCompositeEnv, PeerRef, Provenance, RootCall, ScopedPeerEnv,
};
use futures::FutureExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::fixtures::{Probe, alice, counting, dispatch, recording_echo, returning};
use crate::registry::DropFlag;

/// A handler that composes `input.name` (through `input.peer` when given) `input.times` times.
fn composer(probe: &Probe) -> HandlerKind {
    let probe = probe.clone();
    HandlerKind::once(move |input: Value, ctx| {
        probe.record(&ctx);
        async move {
            let name = input["name"].as_str().unwrap_or_default().to_owned();
            let peer = input["peer"]
                .as_str()
                .map_or(PeerRef::Any, |p| PeerRef::Specific(p.to_owned()));
            let mut last = Ok(Value::Null);
            for _ in 0..input["times"].as_u64().unwrap_or(1) {
                last = ctx.call_peer(&peer, &name, json!({})).await;
            }
            last
        }
    })
}

fn authority() -> CompositionAuthority {
    CompositionAuthority::new("app-authority", ["child:call"])
}

struct Fixture {
    parent: Probe,
    child: Probe,
    registry: OperationRegistry,
}

fn fixture() -> Fixture {
    let parent = Probe::default();
    let child = Probe::default();
    let env = ScopedPeerEnv::allowing(["app/child", "app/denied", "app/ticks", "app/missing"]);
    let registry = OperationRegistry::builder()
        .with_local(
            OperationSpec::query("app/parent"),
            composer(&parent),
            Some(authority()),
            Some(env.clone()),
            Capabilities::new().with_api_key("parent-svc", "p-secret"),
        )
        .with_local(
            OperationSpec::query("app/anonymous-parent"),
            composer(&parent),
            None,
            Some(env),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/leaf-parent"),
            composer(&parent),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/child")
                .internal()
                .with_access_control(AccessControl::scopes(["child:call"])),
            recording_echo(&child),
            Capabilities::new().with_api_key("child-svc", "c-secret"),
        )
        .with_leaf(
            OperationSpec::query("app/denied")
                .internal()
                .with_access_control(AccessControl::scopes(["nope"])),
            recording_echo(&child),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/unlisted").internal(),
            recording_echo(&child),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("app/ticks").internal(),
            counting(2),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    Fixture {
        parent,
        child,
        registry,
    }
}

async fn compose(
    f: &Fixture,
    parent: &str,
    input: Value,
) -> Result<Value, alknet_http_core::CallError> {
    let caller = Identity::new("caller").with_scopes(["nope", "child:call"]);
    dispatch(f.registry.clone())
        .invoke(Some(Arc::new(caller)), parent, input)
        .await
        .result
}

#[tokio::test]
async fn unreachable_names_are_not_found() {
    let f = fixture();
    // Registered but outside the scoped env.
    let e = compose(&f, "app/parent", json!({"name": "app/unlisted"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("NOT_FOUND", "operation not found: /app/unlisted")
    );
    // In the env but registered nowhere.
    assert_eq!(
        compose(&f, "app/parent", json!({"name": "app/missing"}))
            .await
            .unwrap_err()
            .code,
        "NOT_FOUND"
    );
    // A leaf has no env at all.
    assert_eq!(
        compose(&f, "app/leaf-parent", json!({"name": "app/child"}))
            .await
            .unwrap_err()
            .code,
        "NOT_FOUND"
    );
    assert_eq!(f.child.calls(), 0);
}

#[tokio::test]
async fn child_context_follows_the_protocol() {
    let f = fixture();
    assert_eq!(
        compose(&f, "app/parent", json!({"name": "app/child", "times": 2}))
            .await
            .unwrap(),
        json!({})
    );
    let parent = f.parent.last();
    let child = f.child.last();
    assert!(!parent.is_internal() && child.is_internal());
    assert_eq!(
        child.identity(),
        Some(&authority().as_identity()),
        "ACL subject is the parent's authority"
    );
    assert_eq!(
        child.handler_identity(),
        None,
        "the child's own registration has no authority"
    );
    assert!(child.forwarded_for().is_none());
    assert!(child.metadata().is_empty());
    assert_eq!(
        child.deadline(),
        parent.deadline(),
        "deadline inherited, no fresh 30 s"
    );
    assert!(
        Arc::ptr_eq(child.env(), parent.env()),
        "env shared by the call tree"
    );
    assert_eq!(child.parent_request_id(), Some(parent.request_id()));
    assert_eq!(
        child.request_id(),
        format!("{}-2", parent.request_id()),
        "ids unique per child"
    );
    assert_eq!(child.abort_policy(), AbortPolicy::AbortDependents);
    // Least privilege: each context carries exactly its own registration's capabilities.
    assert!(child.capabilities().get("child-svc").is_some());
    assert!(child.capabilities().get("parent-svc").is_none());
    assert!(parent.capabilities().get("child-svc").is_none());
}

#[tokio::test]
async fn composed_calls_are_checked_against_the_composing_authority() {
    let f = fixture();
    // The caller holds `nope`, the authority does not: denied.
    let e = compose(&f, "app/parent", json!({"name": "app/denied"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "FORBIDDEN");
    // A composer without authority composes anonymously.
    let e = compose(&f, "app/anonymous-parent", json!({"name": "app/child"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("FORBIDDEN", "authentication required")
    );
    assert_eq!(f.child.calls(), 0);
}

#[tokio::test]
async fn composing_a_subscription_is_rejected() {
    let f = fixture();
    let e = compose(&f, "app/parent", json!({"name": "app/ticks"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_OPERATION_TYPE");
}

fn layer(ops: &[(&str, &str)]) -> Arc<OperationOverlay> {
    let overlay = OperationOverlay::new();
    for (name, answer) in ops {
        overlay
            .register_imported(HandlerRegistration::leaf(
                OperationSpec::query(*name).internal(),
                returning(json!(answer)),
                Provenance::FromCall,
            ))
            .unwrap();
    }
    Arc::new(overlay)
}

#[tokio::test]
async fn routing_is_session_then_peers_then_base_and_specific_never_falls_through() {
    let probe = Probe::default();
    let env = ScopedPeerEnv::allowing(["x/op", "y/op", "z/op", "w/op"]).with_pin("peer-2", "q/op");
    let base = OperationRegistry::builder()
        .with_local(
            OperationSpec::query("app/route"),
            composer(&probe),
            Some(authority()),
            Some(env),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("x/op").internal(),
            returning(json!("base")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("y/op").internal(),
            returning(json!("base")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("z/op").internal(),
            returning(json!("base")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("w/op").internal(),
            returning(json!("base")),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let peers = Arc::new(PeerTable::new());
    let peer_1 = layer(&[("x/op", "peer-1"), ("y/op", "peer-1")]);
    peers.attach("peer-1", peer_1.clone());
    peers.attach(
        "peer-2",
        layer(&[("y/op", "peer-2"), ("z/op", "peer-2"), ("q/op", "peer-2")]),
    );
    let composite = PeerCompositeEnv::new(base.clone())
        .with_session(layer(&[("x/op", "session")]))
        .with_peers(peers.clone());
    let env: Arc<dyn OperationEnv> = Arc::new(composite);
    let call = |input: Value| {
        let root = RootCall {
            env: Some(env.clone()),
            ..RootCall::new()
        };
        base.invoke_root("app/route", input, root).map(|r| r.result)
    };
    assert_eq!(
        call(json!({"name": "x/op"})).await.unwrap(),
        json!("session")
    );
    assert_eq!(
        call(json!({"name": "y/op"})).await.unwrap(),
        json!("peer-1"),
        "peers in insertion order"
    );
    assert_eq!(
        call(json!({"name": "z/op"})).await.unwrap(),
        json!("peer-2")
    );
    assert_eq!(call(json!({"name": "w/op"})).await.unwrap(), json!("base"));
    assert_eq!(
        call(json!({"name": "y/op", "peer": "peer-2"}))
            .await
            .unwrap(),
        json!("peer-2")
    );
    let e = call(json!({"name": "w/op", "peer": "peer-2"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "NOT_FOUND", "Specific never falls through to base");
    // Pinned only: reachable through its peer, not through Any.
    assert_eq!(
        call(json!({"name": "q/op", "peer": "peer-2"}))
            .await
            .unwrap(),
        json!("peer-2")
    );
    assert_eq!(
        call(json!({"name": "q/op"})).await.unwrap_err().code,
        "NOT_FOUND"
    );
    // A peer that is not attached (a browser session, say) is NOT_FOUND.
    assert_eq!(
        call(json!({"name": "x/op", "peer": "browser-1"}))
            .await
            .unwrap_err()
            .code,
        "NOT_FOUND"
    );
    peers.detach("peer-1", &peer_1);
    assert_eq!(
        call(json!({"name": "y/op"})).await.unwrap(),
        json!("peer-2")
    );
}

type Slot<T> = Arc<std::sync::Mutex<Option<T>>>;
type CallResult = Result<Value, alknet_http_core::CallError>;

/// Registers `app/root` composing `app/waiter` (with `policy`), where `app/waiter` announces its
/// start, then waits for `release` and tries to compose `app/grandchild`.
struct AbortFixture {
    registry: OperationRegistry,
    waiter_dropped: Arc<AtomicBool>,
}

/// The test's ends of the fixture's channels.
struct AbortHandles {
    started: oneshot::Receiver<alknet_http_core::OperationContext>,
    release: oneshot::Sender<()>,
    grandchild: oneshot::Receiver<CallResult>,
}

fn abort_fixture(policy: AbortPolicy) -> (AbortFixture, AbortHandles) {
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    let (grand_tx, grand_rx) = oneshot::channel();
    let started: Slot<_> = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let release: Slot<_> = Arc::new(std::sync::Mutex::new(Some(release_rx)));
    let grandchild: Slot<oneshot::Sender<CallResult>> =
        Arc::new(std::sync::Mutex::new(Some(grand_tx)));
    let waiter_dropped = Arc::new(AtomicBool::new(false));
    let (s, r, g, d) = (started, release, grandchild, waiter_dropped.clone());
    let waiter = HandlerKind::once(move |_, ctx| {
        let started = s.lock().unwrap().take();
        let release = r.lock().unwrap().take();
        let grandchild = g.lock().unwrap().take();
        let guard = DropFlag(d.clone());
        async move {
            let _guard = guard;
            if let Some(tx) = started {
                let _ = tx.send(ctx.clone());
            }
            if let Some(rx) = release {
                let _ = rx.await;
            }
            let result = ctx.call("app/grandchild", json!({})).await;
            if let Some(tx) = grandchild {
                let _ = tx.send(result.clone());
            }
            result
        }
    });
    let root = HandlerKind::once(move |_, ctx| async move {
        ctx.call_with_policy("app/waiter", json!({}), policy).await
    });
    let authority = Some(CompositionAuthority::new("a", Vec::<String>::new()));
    let registry = OperationRegistry::builder()
        .with_local(
            OperationSpec::query("app/root"),
            root,
            authority.clone(),
            Some(ScopedPeerEnv::allowing(["app/waiter"])),
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::query("app/waiter").internal(),
            waiter,
            authority,
            Some(ScopedPeerEnv::allowing(["app/grandchild"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/grandchild").internal(),
            returning(json!("grandchild ran")),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    (
        AbortFixture {
            registry,
            waiter_dropped,
        },
        AbortHandles {
            started: started_rx,
            release: release_tx,
            grandchild: grand_rx,
        },
    )
}

/// Starts `app/root` in a task, abortable through the returned token.
fn spawn_root(
    f: &AbortFixture,
) -> (
    tokio::task::JoinHandle<alknet_http_core::ResponseEnvelope>,
    tokio_util::sync::CancellationToken,
) {
    let token = tokio_util::sync::CancellationToken::new();
    let options = CallOptions {
        abort: Some(token.clone()),
        ..CallOptions::default()
    };
    let root = dispatch(f.registry.clone()).invoke_with(
        Some(Arc::new(alice())),
        "app/root",
        json!({}),
        options,
    );
    (tokio::spawn(root), token)
}

#[tokio::test]
async fn abort_dependents_cascades_to_descendants() {
    let (f, h) = abort_fixture(AbortPolicy::AbortDependents);
    let (root, _token) = spawn_root(&f);
    let child_ctx = h.started.await.unwrap();
    assert!(!child_ctx.is_aborted());
    // The transport aborts the root (call.aborted / disconnect).
    root.abort();
    let _ = root.await;
    assert!(
        f.waiter_dropped.load(Ordering::SeqCst),
        "descendant future dropped"
    );
    assert!(child_ctx.is_aborted(), "descendant abort signal fired");
}

#[tokio::test]
async fn continue_running_survives_but_starts_no_new_children() {
    let (f, h) = abort_fixture(AbortPolicy::ContinueRunning);
    let (root, _token) = spawn_root(&f);
    let child_ctx = h.started.await.unwrap();
    assert_eq!(child_ctx.abort_policy(), AbortPolicy::ContinueRunning);
    root.abort();
    let _ = root.await;
    assert!(
        !f.waiter_dropped.load(Ordering::SeqCst),
        "started descendant keeps running"
    );
    assert!(!child_ctx.is_aborted());
    h.release.send(()).unwrap();
    let grandchild = h.grandchild.await.unwrap();
    assert_eq!(
        grandchild.unwrap_err().message,
        "call aborted",
        "no new children after the ancestor's abort"
    );
}

#[tokio::test]
async fn continue_running_child_not_yet_started_is_aborted() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let token = tokio_util::sync::CancellationToken::new();
    let root_token = token.clone();
    let root = HandlerKind::once(move |_, ctx| {
        let root_token = root_token.clone();
        async move {
            let pending = ctx.env().invoke_with_policy(
                "app/late",
                json!({}),
                &ctx,
                AbortPolicy::ContinueRunning,
            );
            root_token.cancel(); // the root is aborted before the child was ever polled
            pending.await.result
        }
    });
    let late = HandlerKind::once(move |_, _| {
        flag.store(true, Ordering::SeqCst);
        async { Ok(json!("ran")) }
    });
    let registry = OperationRegistry::builder()
        .with_local(
            OperationSpec::query("app/root"),
            root,
            None,
            Some(ScopedPeerEnv::allowing(["app/late"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("app/late").internal(),
            late,
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let options = CallOptions {
        abort: Some(token),
        ..CallOptions::default()
    };
    let e = dispatch(registry)
        .invoke_with(None, "app/root", json!({}), options)
        .await
        .result
        .unwrap_err();
    assert_eq!(e.message, "call aborted");
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn cancelling_the_root_signal_aborts_the_tree_without_dropping_it() {
    let (f, h) = abort_fixture(AbortPolicy::AbortDependents);
    let (root, token) = spawn_root(&f);
    let child_ctx = h.started.await.unwrap();
    token.cancel();
    let reply = root.await.unwrap();
    assert_eq!(reply.result.unwrap_err().message, "call aborted");
    assert!(child_ctx.is_aborted(), "descendant signal fired");
    assert!(
        f.waiter_dropped.load(Ordering::SeqCst),
        "descendant future dropped"
    );
}

#[tokio::test]
async fn cancelling_a_subscription_signal_ends_its_stream_without_a_terminal_item() {
    use futures::StreamExt;
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let endless = HandlerKind::stream(move |_, _| {
        let guard = DropFlag(flag.clone());
        futures::stream::unfold(0u64, |n| async move { Some((Ok(json!(n)), n + 1)) }).map(
            move |item| {
                let _keep = &guard;
                item
            },
        )
    });
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::subscription("app/endless"),
            endless,
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let options = CallOptions {
        abort: Some(token.clone()),
        ..CallOptions::default()
    };
    let mut stream =
        dispatch(registry).invoke_streaming_with(None, "app/endless", json!(null), options);
    assert_eq!(stream.next().await.unwrap().result.unwrap(), json!(0));
    assert_eq!(stream.next().await.unwrap().result.unwrap(), json!(1));
    token.cancel();
    assert!(stream.next().await.is_none());
    assert!(dropped.load(Ordering::SeqCst));
}
