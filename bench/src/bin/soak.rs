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
//! With `--cluster <nats-server>` the node is a gateway that serves the operations from two
//! workers on a NATS bus (the program given, started here), and every `--churn-ms` (default
//! 2000) a new worker joins and the oldest leaves, every other time by crashing. The load is a
//! quarter (250 sessions, 16 HTTP workers, unless given) and the deadline 1.5 s: long enough
//! for a Query whose worker crashed to be sent to another. Subscriptions
//! cut by a leaving worker and calls that found no worker fail typed (`UNAVAILABLE`): counted
//! as `churn_failures`, not wrong. At the end the live workers must be idle again and the
//! server's subscription count (its `/subsz`) back to what it was before the load.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin soak -- --duration 120
//! cargo run --release -p alknet-http-bench --bin soak -- --duration 60 --cluster /usr/sbin/nats-server
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alknet_http::core::client::reqwest;
use alknet_http::ws::client::{ClientOptions, connect};
use alknet_http_bench::cluster::Cluster;
use alknet_http_bench::load::{self, NATIVE_CALL};
use alknet_http_bench::{TOKEN, node, rss};
use fastwebsockets::{Frame, OpCode, Payload};
use futures::StreamExt;
use serde_json::{Value, json};

/// The node's deadline for Query/Mutation calls during the soak.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// In cluster mode: long enough for a Query whose worker crashed to be noticed (three 200 ms
/// heartbeats) and sent to another; `bench/sleep` of 2 s still passes it.
const CLUSTER_CALL_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug)]
struct Options {
    duration: Duration,
    sessions: usize,
    http: usize,
    rss_growth_mib: u64,
    /// The `nats-server` program, in cluster mode.
    cluster: Option<String>,
    churn: Duration,
}

fn options() -> Options {
    let mut options = Options {
        duration: Duration::from_secs(120),
        sessions: 1000,
        http: 32,
        rss_growth_mib: 256,
        cluster: None,
        churn: Duration::from_secs(2),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Each call costs a gateway, a worker and nats-server on the same cores in cluster mode:
    // a quarter of the load keeps calls inside their deadline while the workers churn.
    if args.iter().any(|a| a == "--cluster") {
        options.sessions = 250;
        options.http = 16;
    }
    for pair in args.chunks(2) {
        if let ("--cluster", Some(program)) = (pair[0].as_str(), pair.get(1)) {
            options.cluster = Some(program.clone());
            continue;
        }
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        let Some(value) = value else {
            eprintln!(
                "usage: soak [--duration S] [--sessions N] [--http N] [--rss-growth-mib M] [--cluster NATS_SERVER] [--churn-ms MS]"
            );
            std::process::exit(2);
        };
        match pair[0].as_str() {
            "--churn-ms" => options.churn = Duration::from_millis(value.max(1)),
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
    /// Typed failures of calls a leaving worker took with it (cluster mode).
    churn_failures: AtomicU64,
    /// Cluster mode: `UNAVAILABLE` is what a call cut by churn gets.
    cluster: bool,
    /// Answers that were not what the node promises.
    wrong: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    /// Whether an error with `code` is a call lost to worker churn (and counts it).
    fn churned(&self, code: &str) -> bool {
        let churned = self.cluster && code == "UNAVAILABLE";
        if churned {
            bump(&self.churn_failures);
        }
        churned
    }

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
                        Err(e) if stats.churned(&e.code) => {}
                        other => stats.wrong(format!("ws echo: {other:?}")),
                    }
                }
                1 => match session.call("bench/fail", json!({})).await {
                    Err(e) if e.code == "BENCH_FAILED" => bump(&stats.expected_errors),
                    Err(e) if stats.churned(&e.code) => {}
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
                            Err(e) if stats.churned(&e.code) => {
                                failed = Some("churn".to_owned());
                                break;
                            }
                            other => {
                                failed = Some(format!("{other:?}"));
                                break;
                            }
                        }
                    }
                    stats.subscription_items.fetch_add(seen, Ordering::Relaxed);
                    match failed {
                        None if seen == count => bump(&stats.ok),
                        Some(churn) if churn == "churn" => {}
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
    // Sometimes also an ordinary call first, to prove the session was working (not in cluster
    // mode: a worker leaving may fail the endless subscription first, out of turn).
    if !stats.cluster && rng.below(4) == 0 {
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
                    Ok(r) if r.status() == 503 => unavailable(r, &stats).await,
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
                        Ok(v) if stats.cluster && v[0]["error"]["code"] == "UNAVAILABLE" => {
                            bump(&stats.churn_failures);
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
                                // A leaving worker ends the stream with an error event.
                                None if stats.cluster => {
                                    bump(&stats.churn_failures);
                                    break;
                                }
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
        Ok(r) if r.status() == 503 => unavailable(r, stats).await,
        other => stats.wrong(format!("{code}: expected {status}, got {other:?}")),
    }
}

/// A 503: right only for a call lost to churn in cluster mode.
async fn unavailable(response: reqwest::Response, stats: &Stats) {
    match response.json::<Value>().await {
        Ok(v) if stats.churned(v["code"].as_str().unwrap_or_default()) => {}
        other => stats.wrong(format!("503: {other:?}")),
    }
}

fn main() {
    let options = options();
    let open_files = alknet_http_bench::raise_open_files();
    alknet_http::core::client::install_crypto_provider();
    let mut on_the_bus: Option<Cluster> = None;
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
    } = node_runtime.block_on(async {
        match &options.cluster {
            None => node::start(CALL_TIMEOUT).await,
            Some(program) => {
                let layer = Arc::new(alknet_http::core::OperationOverlay::new());
                let cluster = Cluster::start(program, layer.clone()).await;
                let registry = alknet_http::core::OperationRegistry::builder()
                    .with_layer(layer)
                    .build()
                    .expect("the gateway's registry");
                on_the_bus = Some(cluster);
                node::start_serving(registry, CLUSTER_CALL_TIMEOUT).await
            }
        }
    });
    let metrics = node_runtime.metrics();
    // Let the listeners settle, then take the baselines.
    std::thread::sleep(Duration::from_millis(200));
    let baseline_tasks = metrics.num_alive_tasks();
    let (baseline_rss, _) = rss();
    let baseline_subscriptions = on_the_bus
        .as_ref()
        .map(|cluster| node_runtime.block_on(cluster.subscriptions()));

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("clients")
        .enable_all()
        .build()
        .expect("the clients' runtime");
    let stats = Arc::new(Stats {
        cluster: on_the_bus.is_some(),
        ..Stats::default()
    });
    let started = Instant::now();
    let deadline = started + options.duration;
    // Churn runs on a thread of its own: workers start and stop their own runtimes.
    let churner = on_the_bus.take().map(|mut cluster| {
        let every = options.churn;
        std::thread::spawn(move || {
            while Instant::now() + every < deadline {
                std::thread::sleep(every);
                cluster.churn();
            }
            cluster
        })
    });
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
    let on_the_bus = churner.map(|c| c.join().expect("the churn thread"));
    let load_seconds = started.elapsed().as_secs_f64();
    let (_, peak_rss) = rss();

    // Every client is gone: the node must wind down to its baseline.
    let settle = Instant::now();
    let subscriptions = || {
        on_the_bus
            .as_ref()
            .map(|cluster| node_runtime.block_on(cluster.subscriptions()))
    };
    let busy_workers = || on_the_bus.as_ref().map_or(0, Cluster::busy_worker_tasks);
    let mut tasks = metrics.num_alive_tasks();
    let mut subscribed = subscriptions();
    while (tasks > baseline_tasks
        || !sessions.is_empty()
        || busy_workers() > 0
        || subscribed != baseline_subscriptions)
        && settle.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
        tasks = metrics.num_alive_tasks();
        subscribed = subscriptions();
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
        "churn_failures": load(&stats.churn_failures),
        "workers_churned": on_the_bus.as_ref().map(Cluster::churned),
        "busy_worker_tasks": busy_workers(),
        "baseline_nats_subscriptions": baseline_subscriptions,
        "final_nats_subscriptions": subscribed,
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
    if busy_workers() > 0 {
        failures.push(format!("{} tasks remain on the workers", busy_workers()));
    }
    if subscribed != baseline_subscriptions {
        failures.push(format!(
            "{subscribed:?} NATS subscriptions remain (before the load: {baseline_subscriptions:?})"
        ));
    }
    if on_the_bus.as_ref().is_some_and(|c| c.churned() == 0) {
        failures.push("no worker churned".into());
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
    if let Some(cluster) = on_the_bus {
        cluster.stop();
    }
    if failures.is_empty() {
        println!("soak: ok");
    } else {
        eprintln!("soak: FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
}
