//! http-surfaces §14 "Auth".

use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_server::{Stealth, auth::unauthorized};
use axum::Router;
use axum::routing::get;
use tower::ServiceExt;

use crate::fixtures::{TOKEN, adapter, client, start, who};

#[tokio::test]
async fn bearer_resolves_or_yields_anonymous_and_never_rejects() {
    let server = start(adapter().build()).await;
    let http = client();
    let cases: [(Option<String>, &str); 6] = [
        (Some(format!("Bearer {TOKEN}")), "alice"),
        (Some(format!("bearer  {TOKEN}")), "alice"),
        (None, "anonymous"),
        (Some("Bearer".into()), "anonymous"),
        (Some("Basic YWxpY2U6cGFzc3dvcmQ=".into()), "anonymous"),
        (Some("Bearer alk_not_a_known_token".into()), "anonymous"),
    ];
    for (header, expected) in cases {
        let mut request = http.get(server.url("/search"));
        if let Some(h) = &header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{header:?}");
        assert_eq!(response.text().await.unwrap(), expected, "{header:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_extractor_fails_closed_without_the_layer() {
    let bare = Router::new().route("/", get(who));
    let response = bare
        .oneshot(
            http::Request::builder()
                .uri("/")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"anonymous");
    let _ = ResolvedIdentity::default();
}

#[tokio::test]
async fn healthz_bypasses_everything() {
    let server = start(adapter().with_stealth(Stealth::Full).build()).await;
    let response = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "ok");
    let bad_token = client()
        .get(server.url("/healthz"))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 200);
    server.shutdown().await;
}

#[test]
fn unauthorized_helper_sets_www_authenticate() {
    let response = unauthorized();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

/// A route that demands an identity, as the surfaces do.
fn guarded_route() -> axum::routing::MethodRouter {
    get(|ResolvedIdentity(identity): ResolvedIdentity| async move {
        match identity {
            Some(identity) => identity.id.clone().into_response(),
            None => unauthorized(),
        }
    })
}

use axum::response::IntoResponse as _;

/// A route that refuses every caller for lack of `demo:write`, as the gateway renders it.
fn scoped_route() -> axum::routing::MethodRouter {
    get(|| async {
        let error = alknet_http_core::CallError::forbidden("missing required scope: demo:write")
            .with_details(
                serde_json::json!({"reason": "insufficient_scope", "scopes": ["demo:write"]}),
            );
        alknet_http_core::error::call_error_to_http_response(&error, true, &[])
            .map(axum::body::Body::from)
    })
}

/// The challenge of `GET /guarded` with `authorization`.
async fn challenge(
    server: &crate::fixtures::Running,
    authorization: Option<&str>,
) -> (u16, String) {
    challenge_at(server, "/guarded", authorization).await
}

/// The status and challenge of `GET path` with `authorization`.
async fn challenge_at(
    server: &crate::fixtures::Running,
    path: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let mut request = client().get(server.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn a_refused_token_is_challenged_as_invalid() {
    let server = start(adapter().with_route("/guarded", guarded_route()).build()).await;
    assert_eq!(challenge(&server, None).await, (401, "Bearer".to_owned()));
    let (status, refused) = challenge(&server, Some("Bearer alk_not_a_known_token")).await;
    assert_eq!(status, 401);
    assert!(
        refused.starts_with("Bearer error=\"invalid_token\""),
        "{refused}"
    );
    assert_eq!(
        challenge(&server, Some(&format!("Bearer {TOKEN}"))).await.0,
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn protected_resource_metadata_is_published_and_named_by_401s() {
    use alknet_http_server::ProtectedResource;
    let resource = ProtectedResource::new("https://node.example/", ["https://login.example"])
        .with_scopes_supported(["demo:read"])
        .with_endpoint("/mcp");
    let server = start(
        adapter()
            .with_route("/guarded", guarded_route())
            .with_route("/scoped", scoped_route())
            .with_protected_resource(resource)
            .build(),
    )
    .await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let document: serde_json::Value = response.json().await.unwrap();
        assert_eq!(document["resource"], "https://node.example", "{path}");
        assert_eq!(
            document["authorization_servers"],
            serde_json::json!(["https://login.example"])
        );
        assert_eq!(
            document["scopes_supported"],
            serde_json::json!(["demo:read"])
        );
        assert_eq!(
            document["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
    }
    let named = "resource_metadata=\"https://node.example/.well-known/oauth-protected-resource\"";
    // A caller short of scopes is told where to get a token that has them, too.
    let (status, scoped) = challenge_at(&server, "/scoped", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 403);
    assert_eq!(
        scoped,
        format!("Bearer {named}, error=\"insufficient_scope\", scope=\"demo:write\"")
    );
    assert_eq!(
        challenge(&server, None).await,
        (401, format!("Bearer {named}"))
    );
    let (status, refused) = challenge(&server, Some("Bearer nope")).await;
    assert_eq!(status, 401);
    assert!(
        refused.starts_with(&format!("Bearer {named}, error=\"invalid_token\"")),
        "{refused}"
    );
    server.shutdown().await;
}
