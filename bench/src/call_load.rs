//! `POST /call` under load for the single-setting benches (telemetry's cost, a JWT's cost, a
//! limited neighbour's cost): keep-alive clients calling `bench/echo` as fast as they can.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alknet_http::core::client::reqwest;
use serde_json::json;

/// A node serving `registry` over HTTP on loopback, callers resolved by `provider`, and its
/// base URL.
pub async fn http_node(
    registry: alknet_http::core::OperationRegistry,
    provider: Arc<dyn alknet_http::core::IdentityProvider>,
) -> (alknet_http::RunningNode, String) {
    let node = alknet_http::Node::builder()
        .registry(registry)
        .identity_provider(provider)
        .listen(alknet_http::Listener::Http(
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .build()
        .expect("node")
        .start()
        .await
        .expect("started");
    let base = format!("http://{}", node.addresses()[0].addr);
    (node, base)
}

/// Clients calling at once.
pub const CLIENTS: usize = 64;

/// The rate (calls per second) of `POST {base}/call` by [`CLIENTS`] clients with `token` over
/// `seconds`, after one second of warm-up; every answer must be 200.
pub async fn call_rate(base: &str, token: &str, seconds: u64) -> f64 {
    call_rate_beside(base, token, CLIENTS, None, seconds).await
}

/// The rate of `clients` clients with `token` (as [`call_rate`]) while as many clients with
/// `neighbour`'s token call too, whatever they are answered (their own rate is not counted).
pub async fn call_rate_beside(
    base: &str,
    token: &str,
    clients: usize,
    neighbour: Option<&str>,
    seconds: u64,
) -> f64 {
    alknet_http::core::client::install_crypto_provider();
    let url = format!("{base}/call");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let body = serde_json::to_vec(&json!({
        "operation": "/bench/echo",
        "input": {"message": "hello", "n": 7}
    }))
    .expect("body");
    let done = Arc::new(AtomicU64::new(0));
    let callers = std::iter::repeat_n((token, true), clients).chain(
        neighbour
            .into_iter()
            .flat_map(|n| std::iter::repeat_n((n, false), clients)),
    );
    let run = |until: Instant| {
        callers
            .clone()
            .map(|(token, counted)| {
                let (client, url, body, done, token) = (
                    client.clone(),
                    url.clone(),
                    body.clone(),
                    done.clone(),
                    token.to_owned(),
                );
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let response = client
                            .post(&url)
                            .bearer_auth(&token)
                            .body(body.clone())
                            .send()
                            .await
                            .expect("sent");
                        let status = response.status();
                        response.bytes().await.expect("body");
                        if counted {
                            assert_eq!(status, 200);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    for worker in run(Instant::now() + Duration::from_secs(1)) {
        worker.await.expect("worker");
    }
    done.store(0, Ordering::Relaxed);
    let start = Instant::now();
    for worker in run(start + Duration::from_secs(seconds)) {
        worker.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}
