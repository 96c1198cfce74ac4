//! Nodes on a NATS bus (feature `nats`), as `alknet-http serve` runs them: two workers export
//! the demo operations, a gateway imports them and serves them over HTTP. Load spreads over
//! both workers; a worker killed under load leaves Queries to the other; the bus restarted
//! under load makes calls fail fast and recovers without restarting a node. Run by
//! `cargo xtask nats` (and `cargo xtask ci`), which installs `nats-server`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alknet_http::core::client::reqwest;
use alknet_http_tests::NatsServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, TOKEN, until};

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");

fn token() -> String {
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    format!(
        "[[token]]\nid = \"tester\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n\n"
    )
}

fn listen() -> &'static str {
    "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n"
}

/// A worker: the demo operations, served on the bus as `bus` with the demo scopes.
fn worker(dir: &Path, name: &str, nats: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "{}{}[nats]\nservers = [\"{nats}\"]\nname = \"{name}\"\nheartbeat_ms = 200\n\n\
         [[export.nats]]\nidentity = \"bus\"\nscopes = [\"demo:read\", \"demo:write\"]\n",
        listen(),
        token()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The gateway: no operations of its own, the bus's imported as External.
fn gateway(dir: &Path, nats: &str) -> PathBuf {
    let path = dir.join("gateway.toml");
    let text = format!(
        "demo = false\n\n{}{}[nats]\nservers = [\"{nats}\"]\nname = \"gateway\"\nheartbeat_ms = 200\n\n\
         [[import.nats]]\nvisibility = \"external\"\nrefresh_ms = 200\n",
        listen(),
        token()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn call(http: &reqwest::Client, base: &str, operation: &str, input: Value) -> (u16, Value) {
    let response = http
        .post(format!("{base}/call"))
        .bearer_auth(TOKEN)
        .json(&json!({"operation": operation, "input": input}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Calls the worker at `log` answered over the bus (its access log's `surface="nats"` lines).
fn served(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("surface=\"nats\"")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server; run by `cargo xtask nats`"]
async fn a_gateway_serves_two_workers_over_the_bus() {
    alknet_http::core::client::install_crypto_provider();
    let mut bus = NatsServer::start().await;
    let dir = temp_dir("cluster");
    let one = NodeProcess::start(Path::new(BIN), true, &worker(&dir, "one", &bus.url), "one");
    let two = NodeProcess::start(Path::new(BIN), true, &worker(&dir, "two", &bus.url), "two");
    let gate = NodeProcess::start(Path::new(BIN), true, &gateway(&dir, &bus.url), "gateway");
    let http = reqwest::Client::new();
    let base = gate.http.clone();
    let imported = until(Duration::from_secs(15), || {
        let (http, base) = (&http, &base);
        async move { call(http, base, "demo/echo", json!(0)).await.0 == 200 }
    })
    .await;
    assert!(imported.is_some(), "the gateway never served demo/echo");

    // Load spreads over both workers.
    let (before_one, before_two) = (served(&dir.join("one.log")), served(&dir.join("two.log")));
    let calls = 300;
    futures::future::join_all((0..calls).map(|n| {
        let (http, base) = (&http, &base);
        async move {
            let (status, body) = call(http, base, "demo/echo", json!({"n": n})).await;
            assert_eq!((status, body), (200, json!({"n": n})));
        }
    }))
    .await;
    // A Mutation and a subscription cross the bus too.
    let (status, body) = call(&http, &base, "demo/register", json!({"name": "ada"})).await;
    assert_eq!(status, 200, "{body}");
    let ticks = http
        .post(format!("{base}/subscribe"))
        .bearer_auth(TOKEN)
        .json(&json!({"operation": "demo/ticks", "input": {"count": 3, "interval_ms": 10}}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let items = ticks.lines().filter(|l| l.starts_with("id:")).count();
    assert_eq!(items, 3, "{ticks}");
    assert!(ticks.contains("event: completed"), "{ticks}");
    let (a, b) = (
        served(&dir.join("one.log")) - before_one,
        served(&dir.join("two.log")) - before_two,
    );
    assert!(a + b >= calls, "{a} + {b} calls logged");
    let spread = a.abs_diff(b) as f64 / a.max(b) as f64;
    assert!(spread < 0.3, "worker one served {a}, worker two {b}");

    // A worker killed under load: every Query still completes, on the other one.
    let failed = Arc::new(AtomicUsize::new(0));
    let load = {
        let (http, base, failed) = (http.clone(), base.clone(), failed.clone());
        tokio::spawn(async move {
            futures::future::join_all((0..400).map(|n| {
                let (http, base, failed) = (&http, &base, &failed);
                async move {
                    tokio::time::sleep(Duration::from_millis(n * 5)).await;
                    let (status, _) = call(http, base, "demo/echo", json!(n)).await;
                    if status != 200 {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }))
            .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(one);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "queries failed after a worker died"
    );

    // The bus restarted under load: calls fail fast (UNAVAILABLE, 503) while it is down, and
    // work again once it is back, no node restarted.
    bus.kill();
    let down = until(Duration::from_secs(10), || {
        let (http, base) = (&http, &base);
        async move { call(http, base, "demo/echo", json!(1)).await.0 == 503 }
    })
    .await;
    assert!(down.is_some());
    let started = Instant::now();
    let (status, body) = call(&http, &base, "demo/echo", json!(2)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE", "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    bus.restart().await;
    let back = until(Duration::from_secs(20), || {
        let (http, base) = (&http, &base);
        async move { call(http, base, "demo/echo", json!(3)).await.0 == 200 }
    })
    .await;
    assert!(
        back.is_some(),
        "calls did not recover after the bus came back"
    );
    drop((two, gate));
    let _ = std::fs::remove_dir_all(dir);
}
