//! What a JWT costs `POST /call` against a static token: the same node, one process per mode,
//! loaded in interleaved slices (`alknet_http_bench::modes`):
//!
//! - `static`: the caller's static bearer token (a SHA-256 lookup);
//! - `jwt`: an ES256 access token of an issuer served in this process, its key cached (the
//!   signature checked, `iss`, `aud`, `exp`, `nbf` validated on every call).
//!
//! 64 clients call `bench/echo`; prints one JSON line with each mode's rates and the ratio of
//! `jwt` to `static`.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin auth_cost
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use alknet_http::core::OperationRegistry;
use alknet_http::core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http::core::jwt::{JwtIssuer, JwtProvider};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{CLIENTS, http_node};
use alknet_http_bench::modes::{Role, Served, compare, role, serve_until_released};
use alknet_http_bench::node::{identities, operations};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const AUDIENCE: &str = "https://bench.example";

/// An issuer publishing one P-256 key: its URL and a token it signed for the bench caller.
async fn issuer() -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let pair = rcgen::KeyPair::generate().expect("key");
    let (x, y) = pair.public_key_raw()[1..].split_at(32);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "bench",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]});
    let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("bench".to_owned());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"iss": url, "aud": AUDIENCE, "sub": "bench", "scope": "bench",
                "iat": now, "exp": now + 3600}),
        &EncodingKey::from_ec_der(&pair.serialize_der()),
    )
    .expect("signed");
    (url, token)
}

const MODES: [&str; 2] = ["static", "jwt"];

async fn serve(mode: &str) {
    alknet_http::core::client::install_crypto_provider();
    let (provider, token) = match mode {
        "static" => (identities(), TOKEN.to_owned()),
        "jwt" => {
            let (url, token) = issuer().await;
            let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).expect("http"));
            let provider = JwtProvider::connect(vec![JwtIssuer::discover(url, [AUDIENCE])], http)
                .await
                .expect("keys");
            let provider: Arc<dyn alknet_http::core::IdentityProvider> = Arc::new(provider);
            (provider, token)
        }
        other => panic!("unknown mode `{other}`: static or jwt"),
    };
    let registry = operations(OperationRegistry::builder())
        .build()
        .expect("registry");
    let (node, base) = http_node(registry, provider).await;
    serve_until_released(&Served {
        base,
        token,
        neighbour: None,
    })
    .await;
    node.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match role() {
        Role::Serve(mode) => serve(&mode).await,
        Role::Compare(rounds) => println!("{}", compare(&MODES, CLIENTS, rounds).await),
    }
}
