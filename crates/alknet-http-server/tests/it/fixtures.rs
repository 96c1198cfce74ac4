//! A probe surface, a token table and a running server.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http_core::client::{install_crypto_provider, reqwest};
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::{Identity, OperationRegistry, StaticTokenProvider};
use alknet_http_server::{HttpServer, HttpServerBuilder, Surface};
use axum::Router;
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<Result<(), alknet_http_server::ServerError>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

pub(crate) async fn start(server: HttpServer) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
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
