//! Two nodes over QUIC on loopback (feature `quic`): the native `alknet/call` transport.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http_core::adapter::{FromCall, FromCallConfig};
use alknet_http_core::compose::PeerTable;
use alknet_http_core::frame::FrameCodec;
use alknet_http_core::quic::{
    ALPN, QuicConfig, QuicDialer, QuicError, QuicServer, ServerIdentity, ServerVerification, quinn,
    rustls,
};
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::{
    CallError, CallRequested, Capabilities, CompositionAuthority, EventEnvelope, HandlerKind,
    Identity, OperationRegistry, OperationSpec, PeerCompositeEnv, RootCall, ScopedPeerEnv,
};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedWrite;

use alknet_http_tests::within;

/// Node B (the server): echo, a counting subscription, a failing one, and a never-ending mutation
/// whose drop is reported on `dropped`.
fn server_registry(
    dropped: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>,
    started: mpsc::UnboundedSender<()>,
) -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("b/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("b/count"),
            HandlerKind::stream(|input: serde_json::Value, _| {
                let n = input["n"].as_u64().unwrap_or(0);
                futures::stream::iter((0..n).map(|i| Ok(json!(i))))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("b/deadline"),
            HandlerKind::once(|_, ctx| async move {
                let left = ctx.deadline().map(|d| {
                    d.saturating_duration_since(tokio::time::Instant::now())
                        .as_millis()
                });
                Ok(json!(left))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("b/fail"),
            HandlerKind::stream(|_, _| {
                futures::stream::iter(vec![
                    Ok(json!("first")),
                    Err(CallError::internal("stream broke")),
                ])
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("b/wait"),
            HandlerKind::once(move |_, _| {
                let guard = dropped.lock().unwrap().take();
                let _ = started.send(());
                async move {
                    let _guard = guard; // dropping it reports the abort
                    futures::future::pending::<()>().await;
                    Ok(json!(null))
                }
            }),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

/// Node A (the dialer): answers `a/name` and composes imported `b/*` operations.
fn client_registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("a/name"),
            HandlerKind::once(|_, _| async { Ok(json!("node-a")) }),
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::query("a/compose"),
            HandlerKind::once(|input: serde_json::Value, ctx| async move {
                ctx.call(input["name"].as_str().unwrap_or_default(), json!({}))
                    .await
            }),
            Some(CompositionAuthority::new("node-a", Vec::<String>::new())),
            Some(ScopedPeerEnv::allowing(["b/wait", "b/echo", "b/deadline"])),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

struct Pair {
    client: Session,
    server: Session,
    peers: Arc<PeerTable>,
    started: mpsc::UnboundedReceiver<()>,
    dropped: oneshot::Receiver<()>,
    server_endpoint: QuicServer,
}

async fn pair() -> Pair {
    let (server_endpoint, addr, _der, pin) = loopback_server();
    let (drop_tx, dropped) = oneshot::channel();
    let (started_tx, started) = mpsc::unbounded_channel();
    let registry = server_registry(Arc::new(std::sync::Mutex::new(Some(drop_tx))), started_tx);
    let dialer = QuicDialer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ServerVerification::pinned([pin]),
        QuicConfig::default(),
    )
    .unwrap();
    let peers = Arc::new(PeerTable::new());
    let client_options = SessionOptions::new(client_registry())
        .with_peers(peers.clone())
        .with_connection_identity(Some(Identity::new("node-b")));
    let (client, server) = tokio::join!(
        dialer.connect(addr, "localhost", client_options),
        server_endpoint.accept(|_| SessionOptions::new(registry)),
    );
    Pair {
        client: client.unwrap(),
        server: server.unwrap().unwrap(),
        peers,
        started,
        dropped,
        server_endpoint,
    }
}

/// A QUIC server on loopback with a fresh self-signed certificate: the server, its address,
/// the certificate (to trust as a root) and its SHA-256 (to pin).
fn loopback_server() -> (
    QuicServer,
    SocketAddr,
    rustls::pki_types::CertificateDer<'static>,
    String,
) {
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let (der, pin) = (
        identity.certificate_der().clone(),
        identity.fingerprint_sha256(),
    );
    let server = QuicServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        identity,
        QuicConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    (server, addr, der, pin)
}

#[tokio::test]
async fn calls_flow_in_both_directions() {
    let p = pair().await;
    assert_eq!(
        within(p.client.call("/b/echo", json!({"v": 1})))
            .await
            .unwrap(),
        json!({"v": 1})
    );
    assert_eq!(
        within(p.server.call("/a/name", json!(null))).await.unwrap(),
        json!("node-a")
    );
    // Many concurrent calls, correlated by id.
    let calls = (0..50).map(|i| p.client.call("b/echo", json!(i)));
    let results = within(futures::future::join_all(calls)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!(i));
    }
}

#[tokio::test]
async fn subscriptions_complete_or_end_with_one_error() {
    let p = pair().await;
    let items: Vec<_> = within(
        p.client
            .subscribe("b/count", json!({"n": 25}))
            .await
            .collect(),
    )
    .await;
    assert_eq!(
        items.len(),
        25,
        "N items, then call.completed ended the stream"
    );
    assert!(
        items
            .iter()
            .enumerate()
            .all(|(i, r)| r.as_ref().unwrap() == &json!(i))
    );
    let items: Vec<_> = within(p.client.subscribe("b/fail", json!(null)).await.collect()).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap(), &json!("first"));
    assert_eq!(items[1].as_ref().unwrap_err().message, "stream broke");
}

#[tokio::test]
async fn the_callers_deadline_crosses_to_the_other_node() {
    let p = pair().await;
    let importer = FromCall::new(p.client.clone(), FromCallConfig::new("node-b"));
    within(importer.import_into_overlay()).await.unwrap();
    let env = PeerCompositeEnv::new(client_registry()).with_peers(p.peers.clone());
    let root = RootCall {
        env: Some(Arc::new(env)),
        timeout: std::time::Duration::from_millis(2000),
        ..RootCall::new()
    };
    let reply = client_registry().invoke_root("a/compose", json!({"name": "b/deadline"}), root);
    let left = within(reply).await.result.unwrap().as_u64().unwrap();
    // Node B's own deadline is 30 s: only the one that travelled in `meta` is this short.
    assert!((1000..=2000).contains(&left), "{left} ms left on node B");
}

#[tokio::test]
async fn an_abort_reaches_a_composed_descendant_on_the_other_node() {
    let mut p = pair().await;
    let importer = FromCall::new(p.client.clone(), FromCallConfig::new("node-b"));
    within(importer.import_into_overlay()).await.unwrap();
    let env = PeerCompositeEnv::new(client_registry()).with_peers(p.peers.clone());
    let token = tokio_util::sync::CancellationToken::new();
    let root = RootCall {
        env: Some(Arc::new(env)),
        abort: token.clone(),
        ..RootCall::new()
    };
    let base = client_registry();
    // The echo goes through the forwarder too.
    let echo = base.invoke_root(
        "a/compose",
        json!({"name": "b/echo"}),
        RootCall {
            env: root.env.clone(),
            ..RootCall::new()
        },
    );
    assert_eq!(within(echo).await.result.unwrap(), json!({}));
    let call = tokio::spawn(base.invoke_root("a/compose", json!({"name": "b/wait"}), root));
    within(p.started.recv()).await.unwrap();
    token.cancel();
    assert_eq!(
        within(call).await.unwrap().result.unwrap_err().message,
        "call aborted"
    );
    assert!(
        within(&mut p.dropped).await.is_err(),
        "the remote handler was dropped by call.aborted"
    );
    assert_eq!(p.server.in_flight_len(), 0);
}

#[tokio::test]
async fn a_disconnect_fails_pending_calls() {
    let mut p = pair().await;
    let pending = tokio::spawn({
        let client = p.client.clone();
        async move { client.call("b/wait", json!(null)).await }
    });
    within(p.started.recv()).await.unwrap();
    p.server_endpoint.close();
    let e = within(pending).await.unwrap().unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("INTERNAL", "connection closed")
    );
    within(p.client.closed()).await;
    assert!(
        within(&mut p.dropped).await.is_err(),
        "the server side aborted its in-flight work"
    );
}

/// A raw quinn peer connected to a session serving [`server_registry`].
struct RawPeer {
    connection: quinn::Connection,
    session: Session,
    started: mpsc::UnboundedReceiver<()>,
    dropped: oneshot::Receiver<()>,
    _server: QuicServer,
    _endpoint: quinn::Endpoint,
}

async fn raw_peer() -> RawPeer {
    let (server, addr, der, _pin) = loopback_server();
    let (drop_tx, dropped) = oneshot::channel();
    let (started_tx, started) = mpsc::unbounded_channel();
    let registry = server_registry(Arc::new(std::sync::Mutex::new(Some(drop_tx))), started_tx);
    let accept = tokio::spawn(async move {
        let session = server
            .accept(|_| SessionOptions::new(registry))
            .await
            .unwrap()
            .unwrap();
        (server, session)
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    )));
    let connection = within(endpoint.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (server, session) = within(accept).await.unwrap();
    RawPeer {
        connection,
        session,
        started,
        dropped,
        _server: server,
        _endpoint: endpoint,
    }
}

impl RawPeer {
    /// The session's replies, read from the one stream it opens.
    async fn replies(&self) -> tokio_util::codec::FramedRead<quinn::RecvStream, FrameCodec> {
        let recv = within(self.connection.accept_uni()).await.unwrap();
        tokio_util::codec::FramedRead::new(recv, FrameCodec::default())
    }

    /// Sends `requests` on a new bidirectional stream, left open.
    async fn send_on_new_stream(
        &self,
        requests: &[(&str, &str, serde_json::Value)],
    ) -> FramedWrite<quinn::SendStream, FrameCodec> {
        let (send, _recv) = self.connection.open_bi().await.unwrap();
        let mut frames = FramedWrite::new(send, FrameCodec::default());
        for (id, op, input) in requests {
            frames
                .send(EventEnvelope::requested(
                    *id,
                    &CallRequested::new(op, input.clone()),
                ))
                .await
                .unwrap();
        }
        frames
    }
}

#[tokio::test]
async fn envelopes_are_accepted_on_any_stream() {
    // A raw quinn peer opens a second bidirectional stream and sends a request on it.
    let peer = raw_peer().await;
    for (n, id) in ["first", "second"].into_iter().enumerate() {
        let frames = peer.send_on_new_stream(&[(id, "/b/echo", json!(n))]).await;
        frames.into_inner().finish().unwrap();
    }
    let mut reader = peer.replies().await;
    let mut got = [
        within(reader.next()).await.unwrap().unwrap(),
        within(reader.next()).await.unwrap().unwrap(),
    ];
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got[0], EventEnvelope::responded("first", json!(0)));
    assert_eq!(got[1], EventEnvelope::responded("second", json!(1)));
}

/// How one peer stream fails.
enum StreamFailure {
    Reset,
    EofInsideAFrame,
    OversizePrefix,
}

async fn one_failed_stream_leaves_the_session(failure: StreamFailure) {
    let mut peer = raw_peer().await;
    // A request that never ends, on a stream that then fails.
    let frames = peer
        .send_on_new_stream(&[("doomed", "/b/wait", json!(null))])
        .await;
    within(peer.started.recv()).await.unwrap();
    let mut send = frames.into_inner();
    match failure {
        StreamFailure::Reset => send.reset(7u32.into()).unwrap(),
        StreamFailure::EofInsideAFrame => {
            send.write_all(&[0, 0, 0, 40, b'{']).await.unwrap();
            send.finish().unwrap();
        }
        StreamFailure::OversizePrefix => {
            send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        }
    }
    // Only that stream's entries go: its request is aborted, nothing is sent for it ...
    assert!(
        within(&mut peer.dropped).await.is_err(),
        "the doomed handler was dropped"
    );
    // ... and the session serves on, on another stream.
    let frames = peer
        .send_on_new_stream(&[("after", "/b/echo", json!("still here"))])
        .await;
    let mut reader = peer.replies().await;
    let reply = within(reader.next()).await.unwrap().unwrap();
    assert_eq!(
        reply,
        EventEnvelope::responded("after", json!("still here"))
    );
    assert!(!peer.session.is_closed());
    drop(frames);
}

#[tokio::test]
async fn a_reset_stream_fails_only_its_own_entries() {
    one_failed_stream_leaves_the_session(StreamFailure::Reset).await;
}

#[tokio::test]
async fn eof_inside_a_frame_fails_only_that_stream() {
    one_failed_stream_leaves_the_session(StreamFailure::EofInsideAFrame).await;
}

#[tokio::test]
async fn an_oversize_prefix_fails_only_that_stream() {
    one_failed_stream_leaves_the_session(StreamFailure::OversizePrefix).await;
}

#[tokio::test]
async fn server_verification_by_ca_and_by_pin() {
    let (server, addr, der, _pin) = loopback_server();
    let registry = OperationRegistry::builder().build().unwrap();
    let serving = registry.clone();
    tokio::spawn(server.serve(move |_| SessionOptions::new(serving.clone()), |_| {}));
    let local = "127.0.0.1:0".parse().unwrap();

    let by_ca = QuicDialer::bind(
        local,
        ServerVerification::CaRoots(vec![der]),
        QuicConfig::default(),
    )
    .unwrap();
    let session = within(by_ca.connect(addr, "localhost", SessionOptions::new(registry.clone())))
        .await
        .unwrap();
    assert!(
        within(session.call("services/list", json!(null)))
            .await
            .is_ok()
    );
    // The CA path checks the name.
    let wrong_name = within(by_ca.connect(
        addr,
        "elsewhere.example",
        SessionOptions::new(registry.clone()),
    ))
    .await;
    assert!(
        matches!(wrong_name, Err(QuicError::Connection(_))),
        "{wrong_name:?}"
    );

    let wrong_pin = QuicDialer::bind(
        local,
        ServerVerification::pinned(["00".repeat(32)]),
        QuicConfig::default(),
    )
    .unwrap();
    let refused = within(wrong_pin.connect(addr, "localhost", SessionOptions::new(registry))).await;
    assert!(
        matches!(refused, Err(QuicError::Connection(_))),
        "{refused:?}"
    );
}

#[test]
fn pem_identities_load_and_bad_pem_is_typed() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("alknet-quic-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let identity = ServerIdentity::from_pem_files(&cert, &key).unwrap();
    assert_eq!(
        identity.certificate_der().as_ref(),
        generated.cert.der().as_ref()
    );
    assert!(matches!(
        ServerIdentity::from_pem(b"nothing here", b""),
        Err(alknet_http_core::tls::TlsError::Pem(_))
    ));
    assert!(matches!(
        ServerIdentity::from_pem_files(&dir.join("missing.pem"), &key),
        Err(alknet_http_core::tls::TlsError::Io { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}
