//! A probe surface, a token table and a running server.

use std::sync::Arc;

use alknet_http_core::client::{install_crypto_provider, reqwest};
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::{Identity, OperationRegistry, StaticTokenProvider};
use alknet_http_server::{HttpServer, HttpServerBuilder, Surface};
use alknet_http_tests::Served;
use axum::Router;
use axum::routing::{get, post};

pub(crate) const TOKEN: &str = "alk_valid_test_token";

/// Answers with the caller's identity id (or `anonymous`).
pub(crate) async fn who(ResolvedIdentity(identity): ResolvedIdentity) -> String {
    identity.map_or_else(|| "anonymous".to_owned(), |i| i.id.clone())
}

/// A surface reserving `/call` (POST) and `/search` (GET), like the gateway's.
pub(crate) fn probe_surface() -> Surface {
    Surface::new(
        "probe",
        ["/call", "/search"],
        Router::new()
            .route("/call", post(who))
            .route("/search", get(who)),
    )
}

pub(crate) fn adapter() -> HttpServerBuilder {
    let provider = StaticTokenProvider::new()
        .with_token(TOKEN, Identity::new("alice").with_scopes(["demo"]))
        .unwrap();
    HttpServerBuilder::new(
        Arc::new(provider),
        OperationRegistry::builder().build().unwrap(),
    )
    .with_surface(probe_surface())
}

/// A server on loopback (the test kit's).
pub(crate) type Running = Served;

pub(crate) async fn start(server: HttpServer) -> Running {
    Served::start(server).await
}

pub(crate) fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `request` and returns the response body as text.
pub(crate) async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// A running server built from the fixture adapter with `limits`.
pub(crate) async fn start_with_limits(limits: alknet_http_server::ServerLimits) -> Running {
    start(adapter().with_limits(limits).build()).await
}
