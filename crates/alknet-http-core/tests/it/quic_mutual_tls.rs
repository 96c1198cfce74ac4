//! Mutual TLS on `alknet/call`: a server asks for client certificates and resolves their
//! fingerprints to connection identities; unknown certificates are refused or admitted
//! anonymously as configured.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http_core::quic::{
    ClientAuth, QuicConfig, QuicDialer, QuicServer, ServerIdentity, ServerVerification,
};
use alknet_http_core::session::SessionOptions;
use alknet_http_core::{
    Capabilities, HandlerKind, Identity, OperationRegistry, OperationSpec, StaticTokenProvider,
};
use serde_json::{Value, json};

use alknet_http_tests::within;

/// A server that answers `who` with its caller's identity id, asking for client certificates.
fn server(known: &ServerIdentity, refuse_unknown: bool) -> (SocketAddr, String) {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("peer/who"),
            HandlerKind::once(
                |_, ctx| async move { Ok(json!(ctx.identity().map(|i| i.id.clone()))) },
            ),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let provider = Arc::new(StaticTokenProvider::new().with_fingerprint(
        known.fingerprint_sha256(),
        Identity::new("node-a").with_scopes(["peer"]),
    ));
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let pin = identity.fingerprint_sha256();
    let config = QuicConfig::default().with_client_auth(ClientAuth::Fingerprint {
        required: false,
        refuse_unknown,
    });
    let server = QuicServer::bind("127.0.0.1:0".parse().unwrap(), identity, config).unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(
        move |_| SessionOptions::new(registry.clone()).with_identity_provider(provider.clone()),
        |_| {},
    ));
    (addr, pin)
}

async fn who(addr: SocketAddr, pin: &str, certificate: Option<&ServerIdentity>) -> Value {
    let dialer = QuicDialer::bind_presenting(
        "127.0.0.1:0".parse().unwrap(),
        ServerVerification::pinned([pin]),
        certificate,
        QuicConfig::default(),
    )
    .unwrap();
    let registry = OperationRegistry::builder().build().unwrap();
    let session = within(dialer.connect(addr, "localhost", SessionOptions::new(registry)))
        .await
        .unwrap();
    match within(session.call("peer/who", Value::Null)).await {
        Ok(id) => id,
        Err(error) => json!({ "error": error.message }),
    }
}

#[tokio::test]
async fn a_known_certificate_is_the_connection_identity() {
    let known = ServerIdentity::self_signed(["node-a"]).unwrap();
    let (addr, pin) = server(&known, true);
    assert_eq!(who(addr, &pin, Some(&known)).await, json!("node-a"));
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_or_anonymous_as_configured() {
    let known = ServerIdentity::self_signed(["node-a"]).unwrap();
    let stranger = ServerIdentity::self_signed(["node-x"]).unwrap();
    let (refusing, pin) = server(&known, true);
    assert_eq!(
        who(refusing, &pin, Some(&stranger)).await,
        json!({ "error": "connection closed" })
    );
    let (admitting, pin) = server(&known, false);
    assert_eq!(who(admitting, &pin, Some(&stranger)).await, Value::Null);
}

#[tokio::test]
async fn a_dialer_without_a_certificate_is_anonymous_unless_one_is_required() {
    let known = ServerIdentity::self_signed(["node-a"]).unwrap();
    let (addr, pin) = server(&known, true);
    assert_eq!(who(addr, &pin, None).await, Value::Null);

    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let pin = identity.fingerprint_sha256();
    let config = QuicConfig::default().with_client_auth(ClientAuth::Fingerprint {
        required: true,
        refuse_unknown: true,
    });
    let server = QuicServer::bind("127.0.0.1:0".parse().unwrap(), identity, config).unwrap();
    let addr = server.local_addr().unwrap();
    let registry = OperationRegistry::builder().build().unwrap();
    tokio::spawn(server.serve(move |_| SessionOptions::new(registry.clone()), |_| {}));
    let dialer = QuicDialer::bind_presenting(
        "127.0.0.1:0".parse().unwrap(),
        ServerVerification::pinned([pin]),
        None,
        QuicConfig::default(),
    )
    .unwrap();
    let empty = OperationRegistry::builder().build().unwrap();
    let refused = within(dialer.connect(addr, "localhost", SessionOptions::new(empty))).await;
    match refused {
        Err(_) => {}
        // TLS 1.3 lets the client finish first; the server's alert then ends the session.
        Ok(session) => assert_eq!(
            within(session.call("services/list", Value::Null))
                .await
                .unwrap_err()
                .message,
            "connection closed"
        ),
    }
}
