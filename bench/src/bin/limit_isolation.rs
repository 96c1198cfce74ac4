//! Whether a caller being rate-limited slows another caller: 32 clients of an unlimited
//! caller call `bench/echo` beside 32 clients of a neighbour, one mode per process:
//!
//! - `served`: the neighbour's calls are answered (no limit applies to it);
//! - `limited`: the neighbour is over its limit (one call a minute), every call refused with
//!   `429` before validation.
//!
//! The same load either way; the unlimited caller's rate is printed as one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin limit_isolation -- limited 5
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use alknet_http::core::rate_limit::{RateLimit, RateLimits};
use alknet_http::core::{Identity, OperationRegistry, StaticTokenProvider};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{CLIENTS, call_rate_beside, http_node};
use alknet_http_bench::node::operations;
use serde_json::json;

const NEIGHBOUR: &str = "bench-neighbour-token-0123456789";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "served".to_owned());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    // The limit applies to callers holding `throttled`; only a limited neighbour holds it.
    let neighbour_scopes: &[&str] = match mode.as_str() {
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
    let rate = call_rate_beside(&base, TOKEN, CLIENTS / 2, Some(NEIGHBOUR), seconds).await;
    println!("{}", json!({"mode": mode, "rate": rate}));
    node.shutdown().await;
}
