//! Token lifecycle on the real binary: a `SIGHUP` reloads `[[token]]`s under load without
//! dropping a request, and the live WebSocket, QUIC and MCP sessions and SSE streams of a
//! token the reload removed close within a second; a token past its `expires_at` closes its session and is
//! refused; a disabled token never works.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alknet_http::core::client::reqwest;
use alknet_http::core::session::{CloseReason, OutgoingOptions, SessionOptions};
use alknet_http::core::{CallError, OperationRegistry};
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::{Served, serve, temp_dir};

const KEEP: &str = "alk_lifecycle_keep_token_with_enough_entropy_0001";
const REVOKE: &str = "alk_lifecycle_revoke_token_with_enough_entropy_02";
const ADDED: &str = "alk_lifecycle_added_token_with_enough_entropy_003";
const BRIEF: &str = "alk_lifecycle_brief_token_with_enough_entropy_004";
const DISABLED: &str = "alk_lifecycle_disabled_token_with_enough_entropy5";

fn token(id: &str, token: &str, extra: &str) -> String {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    format!(
        "[[token]]\nid = \"{id}\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n{extra}\n"
    )
}

fn write_config(path: &Path, tokens: &[String]) {
    let dir = path.parent().unwrap();
    let mut text = format!(
        "[node]\nid = \"lifecycle\"\ncert = \"{0}/node.pem\"\nkey = \"{0}/node.key\"\ngenerate = true\n\n\
         [[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n[[listen]]\nkind = \"quic\"\naddr = \"127.0.0.1:0\"\n\n",
        dir.display()
    );
    for entry in tokens {
        text += entry;
    }
    // Written whole and renamed: the node never reads half a file.
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(staged, path).unwrap();
}

fn ws_url(node: &Served) -> String {
    node.url.replace("http://", "ws://") + "/alknet/call"
}

/// The `listening on quic://…` address and the node's fingerprint, from what it printed.
fn quic_endpoint(node: &Served) -> (std::net::SocketAddr, String) {
    let fingerprint = node
        .preamble
        .iter()
        .find_map(|line| line.strip_prefix("node lifecycle fingerprint "))
        .expect("fingerprint banner")
        .to_owned();
    let line = node
        .lines
        .recv_timeout(Duration::from_secs(10))
        .expect("quic listener");
    let addr = line.rsplit("quic://").next().unwrap().parse().unwrap();
    (addr, fingerprint)
}

async fn call(http: &reqwest::Client, url: &str, token: &str) -> reqwest::StatusCode {
    http.post(format!("{url}/call"))
        .bearer_auth(token)
        .json(&json!({"operation": "/demo/greet", "input": {"name": "ada"}}))
        .send()
        .await
        .map_or(reqwest::StatusCode::IM_A_TEAPOT, |r| r.status())
}

/// An MCP session opened with `token`: its id, and a task that ends when its GET stream ends.
async fn mcp_session(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> (String, tokio::task::JoinHandle<Instant>) {
    let post = |body: Value, session: Option<&str>| {
        let mut request = http
            .post(format!("{url}/mcp"))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let initialized = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "lifecycle", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(initialized.status(), 200);
    let session = initialized.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(initialized.bytes().await);
    let notified = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await
    .unwrap();
    assert_eq!(notified.status(), 202);
    let stream = http
        .get(format!("{url}/mcp"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let ended = tokio::spawn(async move {
        let mut body = stream.bytes_stream();
        while let Some(Ok(_)) = body.next().await {}
        Instant::now()
    });
    (session, ended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sighup_reload_drops_no_request_and_closes_the_revoked_tokens_sessions() {
    alknet_http::core::client::install_crypto_provider();
    let dir = temp_dir("lifecycle-reload");
    let config = dir.join("node.toml");
    let (keep, revoke) = (token("keep", KEEP, ""), token("revoke", REVOKE, ""));
    write_config(&config, &[keep.clone(), revoke.clone()]);
    let node = serve(&["--config", config.to_str().unwrap()]);
    let (quic_addr, fingerprint) = quic_endpoint(&node);
    let http = reqwest::Client::new();

    // The revoked token's sessions on every surface, each working.
    let ws = alknet_http::ws::client::connect(
        &ws_url(&node),
        alknet_http::ws::client::ClientOptions::new(Some(REVOKE.to_owned())),
    )
    .await
    .unwrap();
    ws.call("/demo/greet", json!({"name": "ws"})).await.unwrap();
    let dialer = alknet_http::core::quic::QuicDialer::new(
        alknet_http::core::quic::ServerVerification::pinned([fingerprint.as_str()]),
        alknet_http::core::quic::QuicConfig::default(),
    )
    .unwrap();
    let quic = dialer
        .connect(
            quic_addr,
            "localhost",
            SessionOptions::new(OperationRegistry::empty()),
        )
        .await
        .unwrap();
    let with_token = |token: &str| OutgoingOptions {
        auth_token: Some(token.to_owned()),
        ..OutgoingOptions::default()
    };
    quic.request("/demo/greet", json!({"name": "quic"}), with_token(REVOKE))
        .await
        .unwrap();
    let (mcp, mcp_ended) = mcp_session(&http, &node.url, REVOKE).await;
    let ticks = http
        .post(format!("{}/subscribe", node.url))
        .bearer_auth(REVOKE)
        .json(&json!({"operation": "/demo/ticks", "input": {"count": 1000, "interval_ms": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ticks.status(), 200);
    let sse_ended = tokio::spawn(async move {
        let mut body = ticks.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        (text, Instant::now())
    });
    // A session belongs to the identity that opened it.
    let foreign = http
        .post(format!("{}/mcp", node.url))
        .bearer_auth(KEEP)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &mcp)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);

    // Load with the kept token across every reload.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (http, url) = (http.clone(), node.url.clone());
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if call(&http, &url, KEEP).await == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Reloads that keep both tokens (and add a third) leave the sessions alone.
    for round in 0..4 {
        let mut tokens = vec![keep.clone(), revoke.clone()];
        if round % 2 == 0 {
            tokens.push(token("added", ADDED, ""));
        }
        write_config(&config, &tokens);
        node.reload_credentials();
        let added = call(&http, &node.url, ADDED).await;
        assert_eq!(added == 200, round % 2 == 0, "round {round}: {added}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!ws.is_closed() && !quic.is_closed());

    // The reload that removes the token closes its sessions within a second.
    write_config(&config, std::slice::from_ref(&keep));
    node.reload_credentials();
    let revoked = Instant::now();
    let ws_reason = tokio::time::timeout(Duration::from_secs(1), ws.closed())
        .await
        .expect("the websocket session stayed open");
    match ws_reason {
        CloseReason::Transport {
            close_code,
            message,
        } => {
            assert_eq!(close_code, 1008, "{message}");
            assert!(message.contains("credentials revoked"), "{message}");
        }
        other => panic!("closed without a reason: {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(1), quic.closed())
        .await
        .expect("the quic session stayed open");
    let mcp_end = tokio::time::timeout(Duration::from_secs(1), mcp_ended)
        .await
        .expect("the mcp stream stayed open")
        .unwrap();
    assert!(mcp_end.duration_since(revoked) < Duration::from_secs(1));
    let (events, sse_end) = tokio::time::timeout(Duration::from_secs(1), sse_ended)
        .await
        .expect("the SSE stream stayed open")
        .unwrap();
    assert!(sse_end.duration_since(revoked) < Duration::from_secs(1));
    assert!(events.contains("\"tick\":1"), "{events}");
    assert!(
        events.contains("event: error") && events.contains("credentials revoked"),
        "{events}"
    );
    // Its calls are refused at once on HTTP, and its MCP session is gone.
    assert_eq!(call(&http, &node.url, REVOKE).await, 401);
    let gone = http
        .post(format!("{}/mcp", node.url))
        .bearer_auth(KEEP)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &mcp)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(
        failed, 0,
        "{failed} requests failed across reloads ({ok} succeeded)"
    );
    assert!(ok > 100, "only {ok} requests ran during the reloads");

    // A file that does not load leaves the running table as it was.
    std::fs::write(&config, "[[token]]\nid = 1\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(&http, &node.url, KEEP).await, 200);
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// RFC 3339 (UTC) of a moment `ahead` from now, as `date` prints it.
fn rfc3339_in(ahead: Duration) -> String {
    let at = (SystemTime::now() + ahead)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn an_expiring_token_closes_its_session_and_a_disabled_one_never_works() {
    let dir = temp_dir("lifecycle-expiry");
    let config = dir.join("node.toml");
    let expires = rfc3339_in(Duration::from_secs(3));
    write_config(
        &config,
        &[
            token("brief", BRIEF, &format!("expires_at = {expires}")),
            token("off", DISABLED, "disabled = true"),
        ],
    );
    let node = serve(&["--config", config.to_str().unwrap()]);
    let http = reqwest::Client::new();
    assert_eq!(call(&http, &node.url, DISABLED).await, 401);
    assert_eq!(call(&http, &node.url, BRIEF).await, 200);
    let ws = alknet_http::ws::client::connect(
        &ws_url(&node),
        alknet_http::ws::client::ClientOptions::new(Some(BRIEF.to_owned())),
    )
    .await
    .unwrap();
    let greeted: Result<Value, CallError> = ws.call("/demo/greet", json!({"name": "ws"})).await;
    greeted.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(6), ws.closed())
        .await
        .expect("the session outlived its token");
    assert!(
        matches!(&reason, CloseReason::Transport { close_code: 1008, message } if message.contains("credentials expired")),
        "{reason:?}"
    );
    assert_eq!(call(&http, &node.url, BRIEF).await, 401);
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}
