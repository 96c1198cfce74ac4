//! What telemetry costs `POST /call`: the same node under the same load in one of three modes,
//! one mode per process (a tracing subscriber is process-wide):
//!
//! - `plain`: no metrics, no subscriber;
//! - `metrics`: the registry counts every call (`CallMetrics`), no span is exported;
//! - `traced`: metrics, and every call's spans exported over OTLP/HTTP with full sampling to a
//!   collector in this process.
//!
//! 64 clients call `bench/echo` for the given seconds; prints one JSON line with the rate.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin telemetry_cost -- plain 5
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use alknet_http::core::OperationRegistry;
use alknet_http::core::metrics::CallMetrics;
use alknet_http::telemetry::{OtlpExport, TraceExport};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{call_rate, http_node};
use alknet_http_bench::node::{identities, operations};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// A collector that accepts and drops OTLP exports: its base URL.
async fn collector() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|_body: axum::body::Bytes| async { axum::http::StatusCode::OK }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "plain".to_owned());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut builder = operations(OperationRegistry::builder());
    let mut export = None;
    match mode.as_str() {
        "plain" => {}
        "metrics" => builder = builder.with_metrics(Arc::new(CallMetrics::new())),
        "traced" => {
            builder = builder.with_metrics(Arc::new(CallMetrics::new()));
            let started = TraceExport::start(&OtlpExport::new(collector().await)).expect("export");
            tracing_subscriber::registry().with(started.layer()).init();
            export = Some(started);
        }
        other => panic!("unknown mode `{other}`: plain, metrics or traced"),
    }
    let (node, base) = http_node(builder.build().expect("registry"), identities()).await;
    let rate = call_rate(&base, TOKEN, seconds).await;
    println!("{}", json!({"mode": mode, "rate": rate}));
    node.shutdown().await;
    if let Some(export) = export {
        export.shutdown();
    }
}
