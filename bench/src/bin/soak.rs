//! `cargo xtask soak`: the node under churn and abuse for a bounded time, then a leak check.
//!
//! The node (server, gateway, WebSocket session) runs on its own tokio runtime so its live task
//! count can be read from the runtime's metrics. Against it, for `--duration` seconds:
//!
//! - `--sessions` (default 1,000) WebSocket workers, each connecting with the Rust client, making
//!   calls (echo, a declared domain error) and subscriptions, then closing cleanly or dropping
//!   the connection; one in five instead opens a raw connection, starts a long call and an
//!   endless subscription and vanishes without a close frame;
//! - `--http` (default 32) HTTP workers: `POST /call` (echo, domain error → 409, a call past the
//!   node's deadline → 504 `TIMEOUT`, a call the client abandons after 20 ms), `POST /batch`,
//!   and SSE clients that read a few events of an endless stream and vanish.
//!
//! Every answer is checked (right status, right code, right output); any mismatch is a lost or
//! mis-mapped error and fails the run. At the end, with every client gone, the node's live task
//! count must return to its baseline, no session may remain, and resident memory must stay under
//! the stated bound (`--rss-growth-mib`, default 256, over the baseline). Prints one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin soak -- --duration 120
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alknet_http::core::client::reqwest;
use alknet_http::ws::client::{ClientOptions, connect};
use alknet_http_bench::load::{self, NATIVE_CALL};
use alknet_http_bench::{TOKEN, node, rss};
use fastwebsockets::{Frame, OpCode, Payload};
use futures::StreamExt;
use serde_json::{Value, json};

/// The node's deadline for Query/Mutation calls during the soak.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Debug)]
struct Options {
    duration: Duration,
    sessions: usize,
    http: usize,
    rss_growth_mib: u64,
}

fn options() -> Options {
    let mut options = Options {
        duration: Duration::from_secs(120),
        sessions: 1000,
        http: 32,
        rss_growth_mib: 256,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        let Some(value) = value else {
            eprintln!("usage: soak [--duration S] [--sessions N] [--http N] [--rss-growth-mib M]");
            std::process::exit(2);
        };
        match pair[0].as_str() {
            "--duration" => options.duration = Duration::from_secs(value),
            "--sessions" => options.sessions = value as usize,
            "--http" => options.http = value as usize,
            "--rss-growth-mib" => options.rss_growth_mib = value,
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    options
}

/// Counters of everything the clients saw.
#[derive(Debug, Default)]
struct Stats {
    ok: AtomicU64,
    expected_errors: AtomicU64,
    subscription_items: AtomicU64,
    abrupt_disconnects: AtomicU64,
    vanished_sse: AtomicU64,
    abandoned_calls: AtomicU64,
    sessions_opened: AtomicU64,
    /// Answers that were not what the node promises.
    wrong: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    fn wrong(&self, what: String) {
        self.wrong.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < 20 {
            samples.push(what);
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// xorshift64*: enough randomness to vary the workload, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

async fn ws_worker(addr: SocketAddr, deadline: Instant, stats: Arc<Stats>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let url = format!("ws://{addr}/alknet/call");
    // Spread the first connections over the first second.
    tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
    while Instant::now() < deadline {
        if rng.below(5) == 0 {
            vanish(addr, &stats, &mut rng).await;
            continue;
        }
        let session = match connect(&url, ClientOptions::new(Some(TOKEN.to_owned()))).await {
            Ok(session) => session,
            Err(e) => {
                stats.wrong(format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        bump(&stats.sessions_opened);
        for _ in 0..1 + rng.below(8) {
            // Sessions stay open between calls, so about all 1,000 are live at once.
            tokio::time::sleep(Duration::from_millis(rng.below(150))).await;
            match rng.below(3) {
                0 => {
                    let n = rng.below(1000);
                    let input = json!({"message": "soak", "n": n});
                    match session.call("bench/echo", input.clone()).await {
                        Ok(out) if out == input => bump(&stats.ok),
                        other => stats.wrong(format!("ws echo: {other:?}")),
                    }
                }
                1 => match session.call("bench/fail", json!({})).await {
                    Err(e) if e.code == "BENCH_FAILED" => bump(&stats.expected_errors),
                    other => stats.wrong(format!("ws fail: {other:?}")),
                },
                _ => {
                    let count = rng.below(50);
                    let mut items = session
                        .subscribe("bench/stream", json!({ "count": count }))
                        .await;
                    let mut seen = 0;
                    let mut failed = None;
                    while let Some(item) = items.next().await {
                        match item {
                            Ok(v) if v["n"] == seen => seen += 1,
                            other => {
                                failed = Some(format!("{other:?}"));
                                break;
                            }
                        }
                    }
                    stats.subscription_items.fetch_add(seen, Ordering::Relaxed);
                    match failed {
                        None if seen == count => bump(&stats.ok),
                        f => stats.wrong(format!("ws subscription: {seen}/{count} {f:?}")),
                    }
                }
            }
        }
        if rng.below(2) == 0 {
            session.close();
        }
        drop(session);
        tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    }
}

/// A raw connection that starts a long call and an endless subscription, reads one frame and
/// drops the TCP connection without a close frame.
async fn vanish(addr: SocketAddr, stats: &Stats, rng: &mut Rng) {
    let Ok(mut ws) = load::ws_connect(addr, "/alknet/call", &load::node_headers()).await else {
        stats.wrong("raw connect failed".into());
        return;
    };
    let messages = [
        r#"{"type":"call.requested","id":"long","payload":{"operationId":"/bench/sleep","input":{"ms":250}}}"#,
        r#"{"type":"call.requested","id":"endless","payload":{"operationId":"/bench/stream","input":{"count":1000000000}}}"#,
    ];
    for message in messages {
        let frame = Frame::new(true, OpCode::Binary, None, Payload::Owned(message.into()));
        if ws.write_frame(frame).await.is_err() {
            stats.wrong("raw write failed".into());
            return;
        }
    }
    if rng.below(2) == 0 {
        let _ = ws.read_frame().await;
    }
    let mut next_id = 0;
    if rng.below(4) == 0 {
        // Sometimes also an ordinary call first, to prove the session was working.
        let ok = tokio::time::timeout(
            Duration::from_secs(10),
            load::pipelined(&mut ws, NATIVE_CALL, 1, 1, &mut next_id),
        )
        .await
        .is_ok();
        if !ok {
            stats.wrong("raw call timed out".into());
        }
    }
    drop(ws);
    bump(&stats.abrupt_disconnects);
}

async fn http_worker(addr: SocketAddr, deadline: Instant, stats: Arc<Stats>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let client = reqwest::Client::builder().build().expect("an HTTP client");
    let base = format!("http://{addr}");
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
    };
    while Instant::now() < deadline {
        match rng.below(6) {
            0 => {
                let input = json!({"message": "http", "n": rng.below(1000)});
                let response = post("/call", json!({"operation": "/bench/echo", "input": input}))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(out) if out == input => bump(&stats.ok),
                        other => stats.wrong(format!("http echo body: {other:?}")),
                    },
                    other => stats.wrong(format!("http echo: {other:?}")),
                }
            }
            1 => {
                expect_error(
                    post("/call", json!({"operation": "/bench/fail"})),
                    409,
                    "BENCH_FAILED",
                    &stats,
                )
                .await;
            }
            2 => {
                expect_error(
                    post(
                        "/call",
                        json!({"operation": "/bench/sleep", "input": {"ms": 2000}}),
                    ),
                    504,
                    "TIMEOUT",
                    &stats,
                )
                .await;
            }
            3 => {
                // The client gives up long before the node's deadline.
                let abandoned = post(
                    "/call",
                    json!({"operation": "/bench/sleep", "input": {"ms": 250}}),
                )
                .timeout(Duration::from_millis(20))
                .send()
                .await;
                match abandoned {
                    Err(e) if e.is_timeout() => bump(&stats.abandoned_calls),
                    other => stats.wrong(format!("abandoned call: {other:?}")),
                }
            }
            4 => {
                let batch = json!([
                    {"operation": "/bench/echo", "input": {"message": "b"}},
                    {"operation": "/bench/fail"},
                ]);
                match post("/batch", batch).send().await {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(v)
                            if v[0]["output"]["message"] == "b"
                                && v[1]["error"]["code"] == "BENCH_FAILED" =>
                        {
                            bump(&stats.ok);
                        }
                        other => stats.wrong(format!("batch body: {other:?}")),
                    },
                    other => stats.wrong(format!("batch: {other:?}")),
                }
            }
            _ => {
                // An SSE client of an endless stream that reads a little and vanishes.
                let response = post(
                    "/subscribe",
                    json!({"operation": "/bench/stream", "input": {"count": 1_000_000_000u64}}),
                )
                .send()
                .await;
                match response {
                    Ok(r) if r.status() == 200 => {
                        let mut body = r.bytes_stream();
                        let mut read = 0;
                        let want = 1 + rng.below(4096) as usize;
                        while read < want {
                            match body.next().await {
                                Some(Ok(chunk)) => read += chunk.len(),
                                other => {
                                    stats.wrong(format!("sse read: {other:?}"));
                                    break;
                                }
                            }
                        }
                        bump(&stats.vanished_sse);
                    }
                    other => stats.wrong(format!("sse: {other:?}")),
                }
            }
        }
    }
}

async fn expect_error(request: reqwest::RequestBuilder, status: u16, code: &str, stats: &Stats) {
    match request.send().await {
        Ok(r) if r.status() == status => match r.json::<Value>().await {
            Ok(v) if v["code"] == code => bump(&stats.expected_errors),
            other => stats.wrong(format!("{code} body: {other:?}")),
        },
        other => stats.wrong(format!("{code}: expected {status}, got {other:?}")),
    }
}

fn main() {
    let options = options();
    let open_files = alknet_http_bench::raise_open_files();
    alknet_http::core::client::install_crypto_provider();
    let node_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("node")
        .enable_all()
        .build()
        .expect("the node's runtime");
    let node::Started {
        running,
        addr,
        sessions,
    } = node_runtime.block_on(node::start(CALL_TIMEOUT));
    let metrics = node_runtime.metrics();
    // Let the listeners settle, then take the baselines.
    std::thread::sleep(Duration::from_millis(200));
    let baseline_tasks = metrics.num_alive_tasks();
    let (baseline_rss, _) = rss();

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("clients")
        .enable_all()
        .build()
        .expect("the clients' runtime");
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut peak_tasks = 0;
    let mut peak_sessions = 0;
    clients.block_on(async {
        let mut workers = tokio::task::JoinSet::new();
        for i in 0..options.sessions {
            workers.spawn(ws_worker(addr, deadline, stats.clone(), i as u64 + 1));
        }
        for i in 0..options.http {
            workers.spawn(http_worker(addr, deadline, stats.clone(), i as u64 + 7));
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    Some(Ok(())) => {}
                    Some(Err(e)) => stats.wrong(format!("a client task failed: {e}")),
                    None => break,
                },
                _ = tick.tick() => {
                    peak_tasks = peak_tasks.max(metrics.num_alive_tasks());
                    peak_sessions = peak_sessions.max(sessions.len());
                }
            }
        }
    });
    drop(clients);
    let load_seconds = started.elapsed().as_secs_f64();
    let (_, peak_rss) = rss();

    // Every client is gone: the node must wind down to its baseline.
    let settle = Instant::now();
    let mut tasks = metrics.num_alive_tasks();
    while (tasks > baseline_tasks || !sessions.is_empty())
        && settle.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
        tasks = metrics.num_alive_tasks();
    }
    let (final_rss, _) = rss();
    let rss_bound = baseline_rss + options.rss_growth_mib * 1024 * 1024;
    let wrong = stats.wrong.load(Ordering::Relaxed);
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let report = json!({
        "duration_s": load_seconds,
        "ws_workers": options.sessions,
        "open_files_limit": open_files,
        "http_workers": options.http,
        "sessions_opened": load(&stats.sessions_opened),
        "ok": load(&stats.ok),
        "expected_errors": load(&stats.expected_errors),
        "subscription_items": load(&stats.subscription_items),
        "abrupt_disconnects": load(&stats.abrupt_disconnects),
        "vanished_sse": load(&stats.vanished_sse),
        "abandoned_calls": load(&stats.abandoned_calls),
        "wrong": wrong,
        "wrong_samples": *stats.samples.lock().unwrap_or_else(|e| e.into_inner()),
        "baseline_tasks": baseline_tasks,
        "peak_tasks": peak_tasks,
        "final_tasks": tasks,
        "peak_sessions": peak_sessions,
        "final_sessions": sessions.len(),
        "settle_ms": settle.elapsed().as_millis() as u64,
        "baseline_rss_mib": baseline_rss / (1024 * 1024),
        "peak_rss_mib": peak_rss / (1024 * 1024),
        "final_rss_mib": final_rss / (1024 * 1024),
        "rss_bound_mib": rss_bound / (1024 * 1024),
    });
    println!("{report}");
    let mut failures = Vec::new();
    if wrong > 0 {
        failures.push(format!("{wrong} answers were lost or mis-mapped"));
    }
    if tasks > baseline_tasks {
        failures.push(format!(
            "{tasks} live tasks remain (baseline {baseline_tasks})"
        ));
    }
    if !sessions.is_empty() {
        failures.push(format!("{} sessions remain", sessions.len()));
    }
    if final_rss > rss_bound {
        failures.push(format!(
            "resident memory {} MiB is past the bound of {} MiB",
            final_rss / (1024 * 1024),
            rss_bound / (1024 * 1024)
        ));
    }
    if load(&stats.ok) == 0
        || load(&stats.abrupt_disconnects) == 0
        || load(&stats.vanished_sse) == 0
    {
        failures.push("the workload did not run".into());
    }
    node_runtime.block_on(running.shutdown());
    if failures.is_empty() {
        println!("soak: ok");
    } else {
        eprintln!("soak: FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
}
