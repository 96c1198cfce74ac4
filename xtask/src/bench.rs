//! `bench` and `soak`: the benchmarks against their baselines, `BENCHMARKS.md`, the soak run.

use std::process::Command;

use crate::e2e::{OCTOKIT_OPENAPI, npm_packages, release_json};
use crate::openapi_scale::{graph_imports, graph_table, import_bench_of};
use crate::{Result, cargo, root, run};

/// What was changed for the goals and what holds back the cases still below them, from profiles
/// (kept with the table until every goal holds).
pub(crate) const PERF_NOTES: &str = include_str!("bench_notes.md");

/// One benchmark case: ours against a baseline measured in the same run.
pub(crate) struct BenchCase {
    name: &'static str,
    /// criterion `group/function` of ours and of the baseline.
    ours: &'static str,
    baseline: &'static str,
    baseline_name: &'static str,
    /// Elements per iteration (calls in flight), for calls/s.
    per_iteration: f64,
    goal: &'static str,
}

pub(crate) const BENCH_CASES: [BenchCase; 8] = [
    BenchCase {
        name: "`GatewayDispatch::invoke` of a validated, access-controlled echo",
        ours: "invoke/gateway_dispatch",
        baseline: "invoke/direct_closure",
        baseline_name: "the handler closure called directly",
        per_iteration: 1.0,
        goal: "overhead only (no goal)",
    },
    BenchCase {
        name: "QUIC native call echo, 1 in flight",
        ours: "quic_echo_1_in_flight/session_call",
        baseline: "quic_echo_1_in_flight/raw_quinn_streams",
        baseline_name: "quinn bi-stream echo of the same bytes",
        per_iteration: 1.0,
        goal: "≥ 0.85",
    },
    BenchCase {
        name: "QUIC native call echo, 64 in flight",
        ours: "quic_echo_64_in_flight/session_call",
        baseline: "quic_echo_64_in_flight/raw_quinn_streams",
        baseline_name: "quinn bi-stream echo of the same bytes",
        per_iteration: 64.0,
        goal: "≥ 0.80",
    },
    BenchCase {
        name: "`POST /call` echo, HTTP/1.1 keep-alive, 8 connections",
        ours: "gateway_call_http1_8_connections/alknet_gateway",
        baseline: "gateway_call_http1_8_connections/bare_hyper",
        baseline_name: "a bare hyper 1.x service parsing the envelope and serializing the input",
        per_iteration: 1.0,
        goal: "≥ 0.90",
    },
    BenchCase {
        name: "`POST /call` echo, h2 (prior knowledge), 8 streams on one connection",
        ours: "gateway_call_h2_8_streams/alknet_gateway",
        baseline: "gateway_call_h2_8_streams/bare_hyper",
        baseline_name: "the same bare hyper service over h2",
        per_iteration: 1.0,
        goal: "≥ 0.90",
    },
    BenchCase {
        name: "WebSocket native session echo, 1 connection, 64 in flight",
        ours: "ws_echo_64_in_flight/alknet_session",
        baseline: "ws_echo_64_in_flight/raw_fastwebsockets_echo",
        baseline_name: "a raw fastwebsockets server echoing the same bytes",
        per_iteration: 1.0,
        goal: "≥ 0.85",
    },
    BenchCase {
        name: "WebSocket native session echo, 1 connection, 64 in flight",
        ours: "ws_echo_64_in_flight/alknet_session",
        baseline: "ws_echo_64_in_flight/jsonrpsee_echo",
        baseline_name: "a jsonrpsee 0.26 WebSocket server, `echo` method, same client pattern",
        per_iteration: 1.0,
        goal: "≥ 1.6",
    },
    BenchCase {
        name: "`/subscribe` SSE, 1 stream of small items (events/s)",
        ours: "sse_one_stream/alknet_subscribe",
        baseline: "sse_one_stream/bare_axum_sse",
        baseline_name: "a bare axum `Sse` response of the same events",
        per_iteration: 1.0,
        goal: "≥ 0.90",
    },
];

/// Mean time per iteration in nanoseconds, from criterion's estimates.
pub(crate) fn criterion_mean_ns(id: &str) -> Result<f64> {
    let path = root()
        .join("target/criterion")
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    json["mean"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no mean", path.display()))
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores, {cpu}; {rustc}")
}

/// The criterion benchmarks `cargo xtask bench` runs: (package, bench, features).
pub(crate) const BENCHES: [(&str, &str, &str); 5] = [
    ("alknet-http-core", "invoke", ""),
    ("alknet-http-core", "session", "quic"),
    ("alknet-http-gateway", "http_call", ""),
    ("alknet-http-bench", "ws_call", ""),
    ("alknet-http-bench", "sse", ""),
];

/// Rounds of the criterion benchmarks unless `--rounds N` says otherwise: each ratio in
/// `BENCHMARKS.md` is the median of this many (this machine is noisy).
const DEFAULT_ROUNDS: usize = 3;

/// The median of `values` (the upper middle one for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the benchmarks and writes BENCHMARKS.md. `args`: `--rounds N` (default 3).
pub(crate) fn bench(args: &[String]) -> Result {
    let rounds = match args {
        [] => DEFAULT_ROUNDS,
        [flag, n] if flag == "--rounds" => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--rounds needs a positive number, not `{n}`"))?,
        other => return Err(format!("unknown bench arguments {other:?}; use --rounds N")),
    };
    // Per case, per round: (ours, baseline) mean ns per iteration.
    let mut samples: Vec<Vec<(f64, f64)>> = BENCH_CASES.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (package, name, features) in BENCHES {
            let mut cmd = cargo();
            cmd.args(["bench", "-p", package, "--bench", name]);
            if !features.is_empty() {
                cmd.args(["--features", features]);
            }
            cmd.args(["--", "--noplot"]);
            run(
                &format!("round {round}/{rounds}: cargo bench {name} ({package})"),
                &mut cmd,
            )?;
        }
        for (case, samples) in BENCH_CASES.iter().zip(&mut samples) {
            samples.push((
                criterion_mean_ns(case.ours)?,
                criterion_mean_ns(case.baseline)?,
            ));
        }
    }
    let mut table = format!(
        "| case | ours | baseline in the same run | ratio (median of {rounds}) | ratios of the rounds | goal |\n|---|---|---|---|---|---|\n",
    );
    for (case, samples) in BENCH_CASES.iter().zip(samples) {
        let rate = |ns: f64| case.per_iteration * 1e9 / ns;
        let ratios: Vec<f64> = samples.iter().map(|(o, b)| b / o).collect();
        let ours = median(samples.iter().map(|s| s.0).collect());
        let base = median(samples.iter().map(|s| s.1).collect());
        let listed = ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!(
            "| {} | {:.0} calls/s ({:.2} µs per iteration) | {:.0} calls/s ({}) | {:.2} | {listed} | {} |\n",
            case.name,
            rate(ours),
            ours / 1000.0,
            rate(base),
            case.baseline_name,
            median(ratios),
            case.goal
        );
        println!("{}", line.trim_end());
        table.push_str(&line);
    }
    let latency = forward_and_idle()?;
    let interleaved = format!(
        "{INTERLEAVED_NOTE}\n{}\n{}\n{}\n{}\n{}",
        mcp_cost()?,
        nats_cost()?,
        telemetry_cost()?,
        auth_cost()?,
        limit_isolation()?
    );
    let import = import_bench()?;
    let graph = graph_table(&graph_imports()?);
    let doc = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (release builds, loopback only). Every case is measured \
         against its baseline in the same run on the same machine; only the ratios are meaningful.\n\n\
         Machine: {}\n\n{table}\n{latency}\n{interleaved}\n{import}\n{graph}\n{PERF_NOTES}\n",
        machine()
    );
    std::fs::write(root().join("BENCHMARKS.md"), doc).map_err(|e| format!("BENCHMARKS.md: {e}"))?;
    Ok(())
}

/// The soak run (`bench/src/bin/soak.rs`): `args` go to the binary; `release` builds optimised.
pub(crate) fn soak(args: &[String], release: bool) -> Result {
    let mut cmd = cargo();
    cmd.args(["run", "-q", "-p", "alknet-http-bench", "--bin", "soak"]);
    if release {
        cmd.arg("--release");
    }
    cmd.arg("--").args(args);
    run(&format!("soak {}", args.join(" ")), &mut cmd)
}

/// The latency a federation hop and a `from_openapi` import add to a forwarded call, and idle
/// WebSocket sessions.
pub(crate) fn forward_and_idle() -> Result<String> {
    let f = release_json(
        &[
            "-p",
            "alknet-http-bench",
            "--bin",
            "forward_latency",
            "--",
            "5000",
        ],
        &[],
    )?;
    let i = release_json(
        &[
            "-p",
            "alknet-http-bench",
            "--bin",
            "idle_sessions",
            "--",
            "10000",
        ],
        &[],
    )?;
    let p = release_json(
        &[
            "-p",
            "alknet-http-bench",
            "--bin",
            "peer_forward",
            "--",
            "5000",
        ],
        &[],
    )?;
    let n = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(format!(
        "| case | ours | baseline in the same run | result | goal |\n|---|---|---|---|---|\n\
         | hub → spoke forwarded call over QUIC (`s/demo/echo` on a hub that imported it from a spoke; two `Node`s with a federation), sequential, {} calls | p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs | the same client calling `demo/echo` on the spoke directly: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs | {:.1} µs added at p50 | < 100 µs |\n\
         | the same, {} in flight ({} calls each) | {:.0} calls/s | directly: {:.0} calls/s | {:.2} of direct (client, hub and spoke share the machine's cores; the hop doubles the work) | reported |\n\
         | `from_openapi` forwarded call (imported `POST /echo` through `GatewayDispatch`), sequential, {} calls | p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs | the same reqwest client calling the same upstream directly: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs | {:.1} µs added at p50 | ≤ 50 µs |\n\
         | idle WebSocket sessions (node in its own process, bearer + `alknet.call.v1`, pings answered) | {} held of {} opened; every 100th still answered a call ({} of {}) | node RSS {:.0} MiB before, {:.0} MiB after | {:.1} KiB per session | ≤ 32 KiB; 10,000 held |\n",
        n(&p, "calls"),
        n(&p, "forwarded_p50_us"),
        n(&p, "forwarded_p90_us"),
        n(&p, "forwarded_p99_us"),
        n(&p, "direct_p50_us"),
        n(&p, "direct_p90_us"),
        n(&p, "direct_p99_us"),
        n(&p, "added_p50_us"),
        n(&p, "in_flight"),
        n(&p, "bulk_calls"),
        n(&p, "forwarded_rate"),
        n(&p, "direct_rate"),
        n(&p, "rate_ratio"),
        n(&f, "calls"),
        n(&f, "forwarded_p50_us"),
        n(&f, "forwarded_p90_us"),
        n(&f, "forwarded_p99_us"),
        n(&f, "direct_p50_us"),
        n(&f, "direct_p90_us"),
        n(&f, "direct_p99_us"),
        n(&f, "added_p50_us"),
        n(&i, "held"),
        n(&i, "opened"),
        n(&i, "alive"),
        n(&i, "probed"),
        n(&i, "rss_before") / 1048576.0,
        n(&i, "rss_after") / 1048576.0,
        n(&i, "bytes_per_session") / 1024.0,
    ))
}

/// How the tables of the interleaved benches were measured.
const INTERLEAVED_NOTE: &str = "The next tables are measured in interleaved slices (`bench/src/interleaved.rs`): \
ours and its baseline take turns of half a second, the order rotated each round, and the ratio is the median of \
the rounds' ratios, so that the machine's drift (the same binary moves by 1.7× within minutes here) falls on both \
alike.\n";

/// The report (`bench/src/interleaved.rs`) of an interleaved bench binary.
fn interleaved(bin: &str) -> Result<serde_json::Value> {
    release_json(&["-p", "alknet-http-bench", "--bin", bin], &[])
}

/// One contender of an interleaved report: its median rate, its median ratio to the baseline
/// and the rounds' ratios listed (low to high).
fn contender(report: &serde_json::Value, name: &str) -> (f64, f64, String) {
    let entry = &report[name];
    let mut ratios: Vec<f64> = entry["ratios"]
        .as_array()
        .map(|r| r.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    ratios.sort_by(f64::total_cmp);
    let listed = ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(" ");
    (
        entry["rate"].as_f64().unwrap_or(f64::NAN),
        entry["ratio"].as_f64().unwrap_or(f64::NAN),
        listed,
    )
}

/// The header of an interleaved table whose baseline is `baseline`.
fn interleaved_header(
    what: &str,
    baseline: &str,
    report: &serde_json::Value,
    base: &str,
) -> String {
    let rounds = report[base]["rates"].as_array().map_or(0, Vec::len);
    format!(
        "| {what} | {baseline} | ratio (median of {rounds} rounds) | the rounds' ratios, low to high | goal |\n|---|---|---|---|---|\n"
    )
}

/// One row of an interleaved table of calls per second.
fn interleaved_row(
    report: &serde_json::Value,
    base: &str,
    name: &str,
    label: &str,
    goal: &str,
) -> String {
    interleaved_row_in("calls/s", report, base, name, label, goal)
}

/// One row of an interleaved table whose rates are in `unit`.
fn interleaved_row_in(
    unit: &str,
    report: &serde_json::Value,
    base: &str,
    name: &str,
    label: &str,
    goal: &str,
) -> String {
    let (rate, ratio, listed) = contender(report, name);
    let base_rate = report[base]["rate"].as_f64().unwrap_or(f64::NAN);
    format!(
        "| {label}: {rate:.0} {unit} | {base_rate:.0} {unit} | {ratio:.2} | {listed} | {goal} |\n"
    )
}

/// What `to_mcp` costs a sequential `tools/call` (`bench/src/bin/mcp_cost.rs`) against a bare
/// rmcp server.
pub(crate) fn mcp_cost() -> Result<String> {
    let r = interleaved("mcp_cost")?;
    let base = "bare_rmcp";
    Ok(format!(
        "{}{}{}{}",
        interleaved_header(
            "MCP `tools/call` of an echo, sequential, one rmcp client",
            "a bare rmcp streamable-HTTP server with an `echo` tool",
            &r,
            base
        ),
        interleaved_row(
            &r,
            base,
            "direct",
            "a direct tool (`bench.echo` → dispatch → echo) on the node's server",
            "≥ 0.90"
        ),
        interleaved_row(
            &r,
            base,
            "call",
            "the gateway `call` tool on the node's server",
            "≥ 0.90"
        ),
        interleaved_row(
            &r,
            base,
            "direct_on_axum",
            "a direct tool, `to_mcp`'s router on plain `axum::serve` with anonymous callers (no bearer layer, limits or timeouts)",
            "what the server stack costs (no goal)"
        ),
    ))
}

/// What the bus costs (`bench/src/bin/nats_cost.rs`): calls through a gateway node over NATS
/// against a bare HTTP gateway over NATS, and subscription items against bare pub/sub.
pub(crate) fn nats_cost() -> Result<String> {
    crate::e2e::debian_package(crate::e2e::NATS_SERVER, "nats-server")?;
    let r = release_json(
        &["-p", "alknet-http-bench", "--bin", "nats_cost", "--", "20"],
        &[std::ffi::OsStr::new(crate::e2e::NATS_SERVER)],
    )?;
    let (calls, streams) = (&r["calls"], &r["streams"]);
    let raw = calls["bare_request_reply"]["rate"]
        .as_f64()
        .unwrap_or(f64::NAN);
    Ok(format!(
        "{}{}| (for scale: 64 tasks of request/reply with the bare responder, no HTTP: {raw:.0} calls/s) | | | | |\n\n{}{}",
        interleaved_header(
            "NATS (one `nats-server`, 64 HTTP clients, `bench/echo`)",
            "a bare axum `POST /call` doing async-nats request/reply with a bare echo responder",
            calls,
            "bare_http_gateway"
        ),
        interleaved_row(
            calls,
            "bare_http_gateway",
            "gateway_post_call",
            "`POST /call` through a gateway node → `from_nats` → the bus → a worker's `to_nats`",
            "≥ 0.70"
        ),
        interleaved_header(
            "NATS subscription items (`bench/stream`, 2,000 per stream, window 64)",
            "a bare publisher and subscriber of the same items",
            streams,
            "bare_publish_subscribe"
        ),
        interleaved_row_in(
            "items/s",
            streams,
            "bare_publish_subscribe",
            "gateway_subscription",
            "through the gateway's dispatch over the bus",
            "reported"
        ),
    ))
}

/// What telemetry costs `POST /call` (`bench/src/bin/telemetry_cost.rs`): the rate with
/// metrics, and with metrics and every span exported over OTLP, against the plain node.
pub(crate) fn telemetry_cost() -> Result<String> {
    let r = interleaved("telemetry_cost")?;
    Ok(format!(
        "{}{}{}{}",
        interleaved_header(
            "telemetry on `POST /call` (64 clients, `bench/echo`, a node process per mode)",
            "plain node",
            &r,
            "plain"
        ),
        interleaved_row(
            &r,
            "plain",
            "metrics",
            "metrics on, no span export",
            "≥ 0.98"
        ),
        interleaved_row(
            &r,
            "plain",
            "traced",
            "metrics on, every span exported over OTLP to a local collector",
            "≥ 0.90"
        ),
        interleaved_row(
            &r,
            "plain",
            "unsampled",
            "metrics on, the exporter on with a sampling ratio of 0",
            "what recording spans costs (no goal)"
        ),
    ))
}

/// What a JWT costs `POST /call` (`bench/src/bin/auth_cost.rs`) against a static token.
pub(crate) fn auth_cost() -> Result<String> {
    let r = interleaved("auth_cost")?;
    Ok(format!(
        "{}{}",
        interleaved_header(
            "identity on `POST /call` (64 clients, `bench/echo`, a node process per mode)",
            "static token",
            &r,
            "static"
        ),
        interleaved_row(
            &r,
            "static",
            "jwt",
            "an ES256 JWT, its issuer's key cached",
            "≥ 0.90"
        ),
    ))
}

/// Whether a rate-limited caller slows an unlimited one (`bench/src/bin/limit_isolation.rs`):
/// the unlimited caller's rate beside a limited neighbour, against beside a served one.
pub(crate) fn limit_isolation() -> Result<String> {
    let r = interleaved("limit_isolation")?;
    Ok(format!(
        "{}{}",
        interleaved_header(
            "an unlimited caller's `POST /call` (32 clients) beside 32 clients of another caller (a node process per mode)",
            "neighbour served",
            &r,
            "served"
        ),
        interleaved_row(
            &r,
            "served",
            "limited",
            "the neighbour over its rate limit (every call refused with 429)",
            "≥ 0.95"
        ),
    ))
}

/// Importing GitHub's REST description (npm `@octokit/openapi`): time and peak memory.
pub(crate) fn import_bench() -> Result<String> {
    let e2e = npm_packages(&[OCTOKIT_OPENAPI])?;
    let document = e2e.join("node_modules/@octokit/openapi/generated/api.github.com.json");
    let v = import_bench_of(&document)?;
    let n = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(format!(
        "## `from_openapi`: GitHub's REST description (`{OCTOKIT_OPENAPI}`, `api.github.com.json`, 13 MB)\n\n\
         | operations | skipped | parse | plan (schemas, names, handlers) | registry build (input schemas checked) | total | peak RSS | goal |\n\
         |---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} ms | {} ms | {} ms | {} ms ({:.1}x the JSON parse alone) | {:.0} MiB | < 1 s, < 200 MB |\n",
        n("operations"),
        n("skipped"),
        n("parse_ms"),
        n("plan_ms"),
        n("registry_ms"),
        n("total_ms"),
        n("total_ms") / n("parse_ms").max(1.0),
        n("peak_rss_mib"),
    ))
}
