//! http-surfaces §14 "Server": precedence of reserved paths, custom routes and the decoy.

use alknet_http_server::{RouteCollision, Stealth};
use axum::routing::{get, post};

use crate::fixtures::{TOKEN, adapter, client, start, text_of};

#[tokio::test]
async fn reserved_beats_custom_beats_decoy() {
    let built = adapter()
        .with_route("/v1/foo", get(|| async { "custom foo" }))
        .with_route("/call", post(|| async { "custom call: must never run" }))
        .with_route(
            "/healthz",
            get(|| async { "custom health: must never run" }),
        )
        .build();
    assert_eq!(
        built.collisions(),
        &[
            RouteCollision {
                path: "/call".into(),
                reserved_by: "probe".into()
            },
            RouteCollision {
                path: "/healthz".into(),
                reserved_by: "server".into()
            },
        ]
    );
    let server = start(built).await;
    let http = client();
    assert_eq!(text_of(http.get(server.url("/v1/foo"))).await, "custom foo");
    assert_eq!(text_of(http.post(server.url("/call"))).await, "anonymous");
    assert_eq!(text_of(http.get(server.url("/healthz"))).await, "ok");
    for (method, path) in [
        ("GET", "/unknown"),
        ("POST", "/fs/readFile"),
        ("GET", "/v1/foo/deeper"),
    ] {
        let response = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert!(response.text().await.unwrap().contains("404 Not Found"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_method_on_a_reserved_path_is_405() {
    let server = start(adapter().build()).await;
    let response = client().get(server.url("/call")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let response = client().delete(server.url("/search")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    server.shutdown().await;
}

#[tokio::test]
async fn custom_routes_inherit_the_bearer_layer() {
    let server = start(
        adapter()
            .with_route("/v1/me", get(crate::fixtures::who))
            .build(),
    )
    .await;
    let response = client()
        .get(server.url("/v1/me"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "alice");
    server.shutdown().await;
}

#[tokio::test]
async fn full_stealth_shows_the_decoy_to_anonymous_callers() {
    let server = start(
        adapter()
            .with_route("/v1/foo", get(|| async { "custom" }))
            .with_stealth(Stealth::Full)
            .build(),
    )
    .await;
    let http = client();
    let anonymous = http.get(server.url("/search")).send().await.unwrap();
    assert_eq!(anonymous.status(), 404);
    let decoy_body = anonymous.text().await.unwrap();
    assert!(decoy_body.contains("404 Not Found"));
    assert_eq!(
        http.get(server.url("/v1/foo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A wrong method on a reserved path or a custom route is the decoy too, not a 405 that
    // would tell the path exists.
    for (method, path) in [("GET", "/call"), ("DELETE", "/search"), ("POST", "/v1/foo")] {
        let response = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.text().await.unwrap(),
            decoy_body,
            "{method} {path}"
        );
    }
    let bad = http
        .get(server.url("/search"))
        .bearer_auth("alk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.text().await.unwrap(), decoy_body);
    let known = http
        .get(server.url("/search"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(known.text().await.unwrap(), "alice");
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown().await;
}
