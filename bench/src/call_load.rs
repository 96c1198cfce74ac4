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

/// Keep-alive clients calling `POST {base}/call` with `bench/echo` as fast as they are
/// answered, optionally beside as many clients of a neighbour (whose calls are not counted,
/// whatever they are answered). Connections stay pooled from one slice to the next.
#[derive(Debug)]
pub struct CallLoad {
    client: reqwest::Client,
    url: String,
    body: bytes::Bytes,
    token: String,
    clients: usize,
    neighbour: Option<String>,
}

impl CallLoad {
    /// `clients` clients of `token` (each of whose answers must be 200), and as many of
    /// `neighbour`'s when given.
    pub fn new(base: &str, token: &str, clients: usize, neighbour: Option<&str>) -> Self {
        alknet_http::core::client::install_crypto_provider();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(2 * clients)
            .build()
            .expect("client");
        let body = serde_json::to_vec(&json!({
            "operation": "/bench/echo",
            "input": {"message": "hello", "n": 7}
        }))
        .expect("body");
        Self {
            client,
            url: format!("{base}/call"),
            body: body.into(),
            token: token.to_owned(),
            clients,
            neighbour: neighbour.map(str::to_owned),
        }
    }

    /// The counted clients' rate (calls per second) over `duration`.
    pub async fn rate_for(&self, duration: Duration) -> f64 {
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let until = start + duration;
        let callers = std::iter::repeat_n((&self.token, true), self.clients).chain(
            self.neighbour
                .iter()
                .flat_map(|n| std::iter::repeat_n((n, false), self.clients)),
        );
        let workers: Vec<_> = callers
            .map(|(token, counted)| {
                let (client, url, body, done, token) = (
                    self.client.clone(),
                    self.url.clone(),
                    self.body.clone(),
                    done.clone(),
                    token.clone(),
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
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    }
}
