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
