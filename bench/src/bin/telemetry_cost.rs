//! What telemetry costs `POST /call`: the same node under the same load in three modes, one
//! process per mode (a tracing subscriber is process-wide), loaded in interleaved slices
//! (`alknet_http_bench::modes`):
//!
//! - `plain`: no metrics, no subscriber;
//! - `metrics`: the registry counts every call (`CallMetrics`), no span is exported;
//! - `traced`: metrics, and every call's spans exported over OTLP/HTTP with full sampling to a
//!   collector in this process;
//! - `unsampled`: as `traced`, with a sampling ratio of 0 (the exporter's layer sees every
//!   span, none is recorded).
//!
//! 64 clients call `bench/echo`; prints one JSON line with each mode's rates and ratios to
//! `plain`.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin telemetry_cost
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use alknet_http::core::OperationRegistry;
use alknet_http::core::metrics::CallMetrics;
use alknet_http::telemetry::{OtlpExport, TraceExport};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{CLIENTS, http_node};
use alknet_http_bench::modes::{Role, Served, compare, role, serve_until_released};
use alknet_http_bench::node::{identities, operations};
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

const MODES: [&str; 4] = ["plain", "metrics", "traced", "unsampled"];

async fn serve(mode: &str) {
    let mut builder = operations(OperationRegistry::builder());
    let mut export = None;
    match mode {
        "plain" => {}
        "metrics" => builder = builder.with_metrics(Arc::new(CallMetrics::new())),
        "traced" | "unsampled" => {
            builder = builder.with_metrics(Arc::new(CallMetrics::new()));
            let ratio = if mode == "traced" { 1.0 } else { 0.0 };
            let config = OtlpExport::new(collector().await).with_sampling_ratio(ratio);
            let started = TraceExport::start(&config).expect("export");
            tracing_subscriber::registry().with(started.layer()).init();
            export = Some(started);
        }
        other => panic!("unknown mode `{other}`: plain, metrics, traced or unsampled"),
    }
    let (node, base) = http_node(builder.build().expect("registry"), identities()).await;
    serve_until_released(&Served {
        base,
        token: TOKEN.to_owned(),
        neighbour: None,
    })
    .await;
    node.shutdown().await;
    if let Some(export) = export {
        export.shutdown();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match role() {
        Role::Serve(mode) => serve(&mode).await,
        Role::Compare(rounds) => println!("{}", compare(&MODES, CLIENTS, rounds).await),
    }
}
