//! Whether a caller being rate-limited slows another caller: 32 clients of an unlimited
//! caller call `bench/echo` beside 32 clients of a neighbour, one process per mode, loaded in
//! interleaved slices (`alknet_http_bench::modes`):
//!
//! - `served`: the neighbour's calls are answered (no limit applies to it);
//! - `limited`: the neighbour is over its limit (one call a minute), every call refused with
//!   `429` before validation.
//!
//! The same load either way; the unlimited caller's rates and the ratio of `limited` to
//! `served` are printed as one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin limit_isolation
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use alknet_http::core::rate_limit::{RateLimit, RateLimits};
use alknet_http::core::{Identity, OperationRegistry, StaticTokenProvider};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{CLIENTS, http_node};
use alknet_http_bench::modes::{Role, Served, compare, role, serve_until_released};
use alknet_http_bench::node::operations;

const NEIGHBOUR: &str = "bench-neighbour-token-0123456789";

const MODES: [&str; 2] = ["served", "limited"];

async fn serve(mode: &str) {
    // The limit applies to callers holding `throttled`; only a limited neighbour holds it.
    let neighbour_scopes: &[&str] = match mode {
        "served" => &["bench"],
        "limited" => &["bench", "throttled"],
        other => panic!("unknown mode `{other}`: served or limited"),
    };
    let tokens = StaticTokenProvider::new()
        .with_token(TOKEN, Identity::new("bench").with_scopes(["bench"]))
        .expect("token")
        .with_token(
            NEIGHBOUR,
            Identity::new("neighbour").with_scopes(neighbour_scopes.iter().copied()),
        )
        .expect("token");
    let limits = RateLimits::new(vec![
        RateLimit::per_identity(1, Duration::from_secs(60)).for_scope("throttled"),
    ])
    .expect("limits");
    let registry = operations(OperationRegistry::builder().with_rate_limits(Arc::new(limits)))
        .build()
        .expect("registry");
    let (node, base) = http_node(registry, Arc::new(tokens)).await;
    serve_until_released(&Served {
        base,
        token: TOKEN.to_owned(),
        neighbour: Some(NEIGHBOUR.to_owned()),
    })
    .await;
    node.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match role() {
        Role::Serve(mode) => serve(&mode).await,
        Role::Compare(rounds) => println!("{}", compare(&MODES, CLIENTS / 2, rounds).await),
    }
}
