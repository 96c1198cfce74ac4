//! The session directory (feature `sessions`): two gateway replicas on one bus, WebSocket
//! clients serving operations as browsers do, and hub-side code on one replica listing and
//! calling the clients of the other.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::identity::StaticTokenProvider;
use alknet_http_core::session::Session;
use alknet_http_core::{
    CallError, Capabilities, ErrorCode, ErrorDefinition, GatewayDispatch, HandlerKind, Identity,
    OperationRegistry, OperationSpec,
};
use alknet_http_nats::{DirectoryConfig, SessionDirectory};
use alknet_http_tests::{NatsServer, Probe, within};
use alknet_http_ws::client::{ClientOptions, connect};
use alknet_http_ws::{Sessions, WsConfig, router};
use serde_json::{Value, json};

use crate::worker::bus;

const TOKENS: [(&str, &str); 2] = [
    ("alk_alice_token_0123456789abcdef", "alice"),
    ("alk_bob_token_0123456789abcdefgh", "bob"),
];

/// A gateway replica: the WebSocket surface on loopback, on the bus's directory.
struct Replica {
    url: String,
    sessions: Sessions,
    directory: SessionDirectory,
    _server: tokio::task::JoinHandle<()>,
}

async fn replica(nats: &str, config: DirectoryConfig) -> Replica {
    let mut provider = StaticTokenProvider::new();
    for (token, id) in TOKENS {
        provider = provider.with_token(token, Identity::new(id)).unwrap();
    }
    let dispatch = GatewayDispatch::new(OperationRegistry::empty(), Arc::new(provider));
    let sessions = Sessions::new();
    let app = router(dispatch, WsConfig::default(), sessions.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/alknet/call", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let directory = SessionDirectory::join(&bus(nats).await, sessions.clone(), config)
        .await
        .expect("joined the directory");
    Replica {
        url,
        sessions,
        directory,
        _server: server,
    }
}

fn quick(cluster: &str) -> DirectoryConfig {
    DirectoryConfig::new(cluster)
        .with_announce_interval(Duration::from_millis(200))
        .with_answer_timeout(Duration::from_millis(400))
}

/// What a browser page registers: `browser/double`, `browser/fail`, `browser/hold` (waits
/// for the probe) and `browser/bulk` (`n` bytes).
fn page_operations(probe: &Probe) -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("browser/double"),
            HandlerKind::once(|input: Value, _| async move {
                Ok(json!(input["n"].as_i64().unwrap_or(0) * 2))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("browser/fail")
                .with_error(ErrorDefinition::new("PAGE_SAYS_NO", "The page refused")),
            HandlerKind::once(|_, _| async {
                Err::<Value, _>(
                    CallError::new("PAGE_SAYS_NO", "the page refused")
                        .with_details(json!({"why": "asked to"})),
                )
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("browser/hold"),
            probe.handler(json!("released")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("browser/bulk"),
            HandlerKind::once(|input: Value, _| async move {
                Ok(json!("x".repeat(input["n"].as_u64().unwrap_or(0) as usize)))
            }),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

async fn page(url: &str, token: &str, probe: &Probe) -> Session {
    // As a browser does: the token in the subprotocol, no Authorization header.
    let mut options = ClientOptions::new(Some(token.to_owned())).serving(page_operations(probe));
    options.token_as_subprotocol = true;
    connect(url, options).await.expect("the page connected")
}

/// Waits until `directory` lists exactly `n` sessions of `identity`.
async fn listed(
    directory: &SessionDirectory,
    identity: &str,
    n: usize,
) -> Vec<alknet_http_nats::ClusterSession> {
    within(async {
        loop {
            let listing = directory.list(Some(identity)).await;
            if listing.sessions.len() == n {
                return listing.sessions;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_hub_lists_and_calls_the_browsers_of_another_replica() {
    let server = NatsServer::start().await;
    let (a, b) = (
        replica(&server.url, quick("dir")).await,
        replica(&server.url, quick("dir")).await,
    );
    let probe = Probe::new();
    let alice = page(&b.url, TOKENS[0].0, &probe).await;
    let bob = page(&a.url, TOKENS[1].0, &probe).await;

    // Replica A sees alice on B, and everyone on both.
    let found = listed(&a.directory, "alice", 1).await;
    assert_eq!(found[0].node, b.directory.node());
    assert_eq!(found[0].identity.id, "alice");
    assert_eq!(found[0].id, b.sessions.list()[0].id);
    let all = a.directory.list(None).await;
    assert_eq!(all.sessions.len(), 2, "{all:?}");
    assert_eq!(all.sessions[0].identity.id, "bob", "this node's first");
    assert!(all.unreachable.is_empty() && !all.truncated);
    assert_eq!(a.directory.nodes(), vec![b.directory.node().to_owned()]);

    // A calls alice's page on B, and bob's page at home, the same way.
    let (node, id) = (found[0].node.clone(), found[0].id);
    let answer = a
        .directory
        .call(&node, id, "browser/double", json!({"n": 21}))
        .await;
    assert_eq!(answer.unwrap(), json!(42));
    let home = a.directory.list(Some("bob")).await.sessions[0].clone();
    let answer = a
        .directory
        .call(&home.node, home.id, "browser/double", json!({"n": 2}))
        .await;
    assert_eq!(answer.unwrap(), json!(4));

    // The page's own error travels with its code and details.
    let error = a
        .directory
        .call(&node, id, "browser/fail", json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "PAGE_SAYS_NO");
    assert_eq!(error.details, Some(json!({"why": "asked to"})));
    // No such session on B; no such node at all.
    let error = a
        .directory
        .call(&node, id + 100, "browser/double", json!({}))
        .await
        .unwrap_err();
    assert!(error.is(ErrorCode::NotFound), "{error}");
    let started = std::time::Instant::now();
    let error = a
        .directory
        .call("nosuchnode", 1, "browser/double", json!({}))
        .await
        .unwrap_err();
    assert!(error.is(ErrorCode::Unavailable), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no responders is fast"
    );

    // alice goes: she is no longer listed.
    drop(alice);
    listed(&a.directory, "alice", 0).await;
    drop(bob);

    // B leaves with a goodbye: A stops expecting it at once.
    b.directory.leave().await;
    within(async {
        while !a.directory.nodes().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let listing = a.directory.list(None).await;
    assert!(listing.unreachable.is_empty(), "{listing:?}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_silent_node_is_named_and_forgotten_and_limits_hold() {
    // Messages of at most 8 KiB on this bus.
    let server = NatsServer::start_with("max_payload: 8192").await;
    let a = replica(&server.url, quick("lim")).await;
    let impatient = replica(
        &server.url,
        quick("lim").with_call_timeout(Duration::from_millis(600)),
    )
    .await;
    let b = replica(&server.url, quick("lim").with_max_in_flight(1)).await;
    let probe = Probe::new();
    let _carol = page(&b.url, TOKENS[0].0, &probe).await;
    let found = listed(&a.directory, "alice", 1).await;
    let (node, id) = (found[0].node.clone(), found[0].id);

    // A call longer than the caller's call_timeout: TIMEOUT, from B, which enforces it too
    // and drops the call (the page's handler sees the abort).
    let error = impatient
        .directory
        .call(&node, id, "browser/hold", json!({}))
        .await
        .unwrap_err();
    assert!(error.is(ErrorCode::Timeout), "{error}");
    probe.wait_for(Probe::dropped, 1).await;
    // B serves one call at once: with one held, another is refused, retryable.
    let directory = a.directory.clone();
    let (held_node, held_id) = (node.clone(), id);
    let held = tokio::spawn(async move {
        directory
            .call(&held_node, held_id, "browser/hold", json!({}))
            .await
    });
    probe.wait_for(Probe::started, 2).await;
    let error = a
        .directory
        .call(&node, id, "browser/double", json!({"n": 1}))
        .await
        .unwrap_err();
    assert!(
        error.is(ErrorCode::Unavailable) && error.retryable,
        "{error}"
    );
    probe.release();
    assert_eq!(held.await.unwrap().unwrap(), json!("released"));

    // Inputs and outputs past the bus's max_payload fail, typed, and say why.
    let error = a
        .directory
        .call(
            &node,
            id,
            "browser/double",
            json!({"pad": "y".repeat(9000)}),
        )
        .await
        .unwrap_err();
    assert!(error.is(ErrorCode::InvalidInput), "{error}");
    assert_eq!(error.details.unwrap()["reason"], "payload_too_large");
    let error = a
        .directory
        .call(&node, id, "browser/bulk", json!({"n": 9000}))
        .await
        .unwrap_err();
    assert!(error.is(ErrorCode::Internal), "{error}");
    assert_eq!(error.details.unwrap()["reason"], "payload_too_large");

    // B goes silent without a goodbye: a listing names it unreachable (after waiting only
    // the answer timeout), and it is forgotten after three announce intervals.
    drop(b);
    let started = std::time::Instant::now();
    let listing = a.directory.list(Some("alice")).await;
    assert_eq!(listing.unreachable, vec![node.clone()], "{listing:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    within(async {
        while a.directory.nodes().contains(&node) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn clusters_do_not_see_each_other_and_bad_names_are_refused() {
    let server = NatsServer::start().await;
    let a = replica(&server.url, quick("one")).await;
    let b = replica(&server.url, quick("two")).await;
    let probe = Probe::new();
    let _page = page(&b.url, TOKENS[0].0, &probe).await;
    listed(&b.directory, "alice", 1).await;
    assert!(a.directory.list(None).await.sessions.is_empty());
    assert!(a.directory.nodes().is_empty());
    let error = SessionDirectory::join(
        &bus(&server.url).await,
        Sessions::new(),
        DirectoryConfig::new("not.a.token"),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("subject token"), "{error}");
}
