//! Token lifecycle: static tokens that expire, a provider reloaded while sessions run, and
//! sessions closed when the credential that opened them lapses — over in-memory streams and,
//! with feature `quic`, over a real QUIC connection opened with a client certificate.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use alknet_http_core::AccessControl;
use alknet_http_core::credential::{Credential, CredentialCheck, ReloadableProvider, Revocation};
use alknet_http_core::session::{CloseReason, OutgoingOptions, Session, SessionOptions};
use alknet_http_core::{
    AuthToken, Capabilities, HandlerKind, Identity, IdentityProvider, OperationRegistry,
    OperationSpec, StaticTokenProvider,
};
use serde_json::{Value, json};

use alknet_http_tests::within;

fn table(entries: &[(&str, Identity)]) -> Arc<dyn IdentityProvider> {
    let mut tokens = StaticTokenProvider::new();
    for (token, identity) in entries {
        tokens = tokens.with_token(token, identity.clone()).unwrap();
    }
    Arc::new(tokens)
}

fn registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("test/who").with_access_control(AccessControl::scopes(["who"])),
            HandlerKind::once(
                |_, ctx| async move { Ok(json!(ctx.identity().map(|i| i.id.clone()))) },
            ),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

#[test]
fn an_expired_static_token_is_refused() {
    let past = SystemTime::now() - Duration::from_secs(1);
    let future = SystemTime::now() + Duration::from_secs(3600);
    let provider = table(&[
        ("alk_old", Identity::new("old").with_expiry(past)),
        ("alk_new", Identity::new("new").with_expiry(future)),
    ]);
    assert!(
        provider
            .resolve_from_token(&AuthToken::new("alk_old"))
            .is_none()
    );
    assert_eq!(
        provider
            .resolve_from_token(&AuthToken::new("alk_new"))
            .unwrap()
            .id,
        "new"
    );
}

#[test]
fn a_reload_revokes_changes_or_keeps_a_credential() {
    let alice = Identity::new("alice").with_scopes(["a"]);
    let provider = Arc::new(ReloadableProvider::new(table(&[
        ("alk_alice", alice.clone()),
        ("alk_bob", Identity::new("bob")),
    ])));
    let check = |token: &str, identity: &Identity| {
        CredentialCheck::new(
            provider.clone(),
            Credential::Token(AuthToken::new(token)),
            Arc::new(identity.clone()),
        )
    };
    let (alice_check, bob_check) = (
        check("alk_alice", &alice),
        check("alk_bob", &Identity::new("bob")),
    );
    assert!(alice_check.can_lapse(), "a reloadable provider can revoke");
    assert_eq!(alice_check.check(SystemTime::now()), Ok(()));
    provider.replace(table(&[("alk_alice", alice.clone().with_scopes(["b"]))]));
    assert_eq!(provider.generation(), 1);
    assert_eq!(
        alice_check.check(SystemTime::now()),
        Err(Revocation::Changed)
    );
    assert_eq!(bob_check.check(SystemTime::now()), Err(Revocation::Revoked));
    let unchanged = check("alk_alice", &alice.clone().with_scopes(["b"]));
    assert_eq!(unchanged.check(SystemTime::now()), Ok(()));
    // A table that never changes and a token that never expires: nothing to watch.
    let fixed = CredentialCheck::new(
        table(&[("alk_alice", alice.clone())]),
        Credential::Token(AuthToken::new("alk_alice")),
        Arc::new(alice),
    );
    assert!(!fixed.can_lapse());
}

/// A client on one end of a duplex stream whose calls carry `token`, and the server session.
fn pair(provider: Arc<dyn IdentityProvider>) -> (Session, Session) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = Session::over_io(
        a,
        SessionOptions::new(registry()).with_identity_provider(provider),
    );
    let client = Session::over_io(b, SessionOptions::new(OperationRegistry::empty()));
    (server, client)
}

async fn who(client: &Session, token: &str) -> Result<Value, alknet_http_core::CallError> {
    let options = OutgoingOptions {
        auth_token: Some(token.to_owned()),
        ..OutgoingOptions::default()
    };
    within(client.request("test/who", Value::Null, options)).await
}

#[tokio::test]
async fn a_session_opened_by_a_token_closes_when_a_reload_revokes_it() {
    let provider = Arc::new(ReloadableProvider::new(table(&[
        ("alk_alice", Identity::new("alice").with_scopes(["who"])),
        ("alk_bob", Identity::new("bob").with_scopes(["who"])),
    ])));
    let (server, client) = pair(provider.clone());
    assert_eq!(who(&client, "alk_alice").await.unwrap(), json!("alice"));
    // Another caller's token on the same session does not make it theirs.
    assert_eq!(who(&client, "alk_bob").await.unwrap(), json!("bob"));
    provider.replace(table(&[(
        "alk_alice",
        Identity::new("alice").with_scopes(["who"]),
    )]));
    // Bob's token was never the session's: it is refused call by call, the session stays.
    let refused = who(&client, "alk_bob").await.unwrap_err();
    assert_eq!(refused.code, "FORBIDDEN");
    assert!(!server.is_closed());
    provider.replace(table(&[]));
    let reason = within(server.closed()).await;
    assert_eq!(reason, CloseReason::Revoked(Revocation::Revoked));
    within(client.closed()).await;
}

#[tokio::test]
async fn a_session_closes_when_its_token_expires_and_refuses_calls_past_it() {
    let expires = SystemTime::now() + Duration::from_millis(600);
    let provider = table(&[(
        "alk_brief",
        Identity::new("brief")
            .with_scopes(["who"])
            .with_expiry(expires),
    )]);
    let (server, client) = pair(provider);
    let opened = tokio::time::Instant::now();
    assert_eq!(who(&client, "alk_brief").await.unwrap(), json!("brief"));
    let reason = within(server.closed()).await;
    assert_eq!(reason, CloseReason::Revoked(Revocation::Expired));
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1600),
        "closed after {took:?}"
    );
}

#[test]
fn an_expired_identity_is_refused_at_admission() {
    // A session keeps its connection identity; one whose credential expired is refused
    // before the ACL (and before the watch gets round to closing the session).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (a, b) = tokio::io::duplex(1 << 16);
        let expired = Identity::new("late")
            .with_scopes(["who"])
            .with_expiry(SystemTime::now() - Duration::from_secs(1));
        let mut options = SessionOptions::new(registry());
        options.connection_identity = Some(Arc::new(expired));
        let _server = Session::over_io(a, options);
        let client = Session::over_io(b, SessionOptions::new(OperationRegistry::empty()));
        let refused = within(client.call("test/who", Value::Null))
            .await
            .unwrap_err();
        assert_eq!(refused.code, "FORBIDDEN");
        assert_eq!(refused.message, Revocation::Expired.reason());
    });
}

#[cfg(feature = "quic")]
#[tokio::test]
async fn a_quic_session_opened_by_a_certificate_closes_when_a_reload_removes_it() {
    use alknet_http_core::quic::{
        ClientAuth, QuicConfig, QuicDialer, QuicServer, ServerIdentity, ServerVerification,
    };
    let client_certificate = ServerIdentity::self_signed(["node-a"]).unwrap();
    let with_peer = || -> Arc<dyn IdentityProvider> {
        Arc::new(StaticTokenProvider::new().with_fingerprint(
            client_certificate.fingerprint_sha256(),
            Identity::new("node-a").with_scopes(["who"]),
        ))
    };
    let provider = Arc::new(ReloadableProvider::new(with_peer()));
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let pin = identity.fingerprint_sha256();
    let config = QuicConfig::default().with_client_auth(ClientAuth::Fingerprint {
        required: false,
        refuse_unknown: true,
    });
    let server = QuicServer::bind("127.0.0.1:0".parse().unwrap(), identity, config).unwrap();
    let addr = server.local_addr().unwrap();
    let served = provider.clone();
    tokio::spawn(server.serve(
        move |_| SessionOptions::new(registry()).with_identity_provider(served.clone()),
        |_| {},
    ));
    let dialer = QuicDialer::bind_presenting(
        "127.0.0.1:0".parse().unwrap(),
        ServerVerification::pinned([pin.as_str()]),
        Some(&client_certificate),
        QuicConfig::default(),
    )
    .unwrap();
    let session = within(dialer.connect(
        addr,
        "localhost",
        SessionOptions::new(OperationRegistry::empty()),
    ))
    .await
    .unwrap();
    assert_eq!(
        within(session.call("test/who", Value::Null)).await.unwrap(),
        json!("node-a")
    );
    // A reload that keeps the certificate keeps the session.
    provider.replace(with_peer());
    assert_eq!(
        within(session.call("test/who", Value::Null)).await.unwrap(),
        json!("node-a")
    );
    provider.replace(Arc::new(StaticTokenProvider::new()));
    let revoked = tokio::time::Instant::now();
    within(session.closed()).await;
    assert!(
        revoked.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );
}
