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
use crate::nginx::Nginx;

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

/// One 2026-07-28 MCP request (no session): its JSON-RPC result.
async fn mcp(http: &reqwest::Client, base: &str, id: u64, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "cluster-test", "version": "1"}
    });
    let mut request = http
        .post(format!("{base}/mcp"))
        .bearer_auth(TOKEN)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", method);
    if let Some(name) = params["name"].as_str() {
        request = request.header("Mcp-Name", name);
    }
    let response = request
        .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{method}");
    assert!(response.headers().get("mcp-session-id").is_none());
    let text = response.text().await.unwrap();
    let last = text
        .lines()
        .map(|line| line.strip_prefix("data:").unwrap_or(line).trim())
        .rfind(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("{method}: {text}"));
    let message: Value = serde_json::from_str(last).unwrap();
    message["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nats-server and nginx; run by `cargo xtask nats`"]
async fn gateways_behind_nginx_serve_every_surface() {
    alknet_http::core::client::install_crypto_provider();
    let bus = NatsServer::start().await;
    let dir = temp_dir("edge");
    let _one = NodeProcess::start(Path::new(BIN), true, &worker(&dir, "one", &bus.url), "one");
    let _two = NodeProcess::start(Path::new(BIN), true, &worker(&dir, "two", &bus.url), "two");
    let gateways: Vec<NodeProcess> = ["east", "west"]
        .iter()
        .map(|name| {
            let config = gateway(&dir, &bus.url);
            let named = dir.join(format!("{name}.toml"));
            std::fs::rename(&config, &named).unwrap();
            NodeProcess::start(Path::new(BIN), true, &named, name)
        })
        .collect();
    let http = reqwest::Client::new();
    for gateway in &gateways {
        let base = gateway.http.clone();
        let ready = until(Duration::from_secs(15), || {
            let (http, base) = (&http, &base);
            async move { call(http, base, "demo/echo", json!(0)).await.0 == 200 }
        })
        .await;
        assert!(ready.is_some(), "{base} never served demo/echo");
    }
    let nginx = Nginx::start(&dir, &[&gateways[0].http, &gateways[1].http], None).await;
    let base = nginx.url.clone();
    let logged = |name: &str| {
        std::fs::read_to_string(dir.join(format!("{name}.log")))
            .unwrap_or_default()
            .matches("surface=\"gateway\"")
            .count()
    };
    let (east, west) = (logged("east"), logged("west"));

    // Calls and batches, round-robin over both gateways.
    for n in 0..20 {
        let (status, body) = call(&http, &base, "demo/echo", json!({"n": n})).await;
        assert_eq!((status, body), (200, json!({"n": n})));
    }
    assert!(
        logged("east") > east && logged("west") > west,
        "nginx did not use both gateways"
    );
    let batch: Value = http
        .post(format!("{base}/batch"))
        .bearer_auth(TOKEN)
        .json(&json!([
            {"operation": "demo/echo", "input": 1},
            {"operation": "demo/greet", "input": {"name": "ada"}}
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(batch[0]["output"], json!(1), "{batch}");
    assert!(batch[1]["output"]["greeting"].is_string(), "{batch}");

    // SSE through the proxy arrives event by event, not when the stream ends.
    let started = Instant::now();
    let mut events = http
        .post(format!("{base}/subscribe"))
        .bearer_auth(TOKEN)
        .json(&json!({"operation": "demo/ticks", "input": {"count": 3, "interval_ms": 400}}))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let first = futures::StreamExt::next(&mut events)
        .await
        .unwrap()
        .unwrap();
    let first_at = started.elapsed();
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = futures::StreamExt::next(&mut events).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let all_at = started.elapsed();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("id:")).count(),
        3,
        "{text}"
    );
    assert!(
        all_at - first_at >= Duration::from_millis(600),
        "buffered: the first event came at {first_at:?}, the end at {all_at:?}"
    );

    // A WebSocket session through the proxy, pinned to the gateway that took it.
    let ws_url = base.replace("http://", "ws://") + "/alknet/call";
    let options = alknet_http::ws::client::ClientOptions::new(Some(TOKEN.to_owned()));
    let session = alknet_http::ws::client::connect(&ws_url, options)
        .await
        .unwrap();
    for n in 0..5 {
        assert_eq!(
            session.call("/demo/echo", json!({"ws": n})).await.unwrap(),
            json!({"ws": n})
        );
    }

    // MCP 2026-07-28: stateless requests, any gateway answers.
    let listed = mcp(&http, &base, 1, "tools/list", json!({})).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"demo.echo"), "{names:?}");
    for n in 0..4 {
        let called = mcp(
            &http,
            &base,
            10 + n,
            "tools/call",
            json!({"name": "demo.echo", "arguments": {"mcp": n}}),
        )
        .await;
        // `demo/echo` declares no object output: its result travels under `result`.
        assert_eq!(
            called["structuredContent"]["result"],
            json!({"mcp": n}),
            "{called}"
        );
    }
    drop(session);
    drop(nginx);
    drop(gateways);
    let _ = std::fs::remove_dir_all(dir);
}
