//! The latency a `from_openapi` import adds to a forwarded call: p50 (and p90/p99) of
//! sequential calls of an imported `POST /echo` through `GatewayDispatch` (input validation,
//! request building from the operation's parameters and body, the shared client with its retry
//! bookkeeping, status and body mapping) against the same shared reqwest client calling the same
//! upstream directly, interleaved in the same run. Prints one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin forward_latency -- [calls]
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use alknet_http::core::OperationRegistry;
use alknet_http::core::Visibility;
use alknet_http::core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http::core::dispatch::GatewayDispatch;
use alknet_http::core::identity::AnonymousOnly;
use alknet_http::openapi::import::{FromOpenApi, HttpServiceConfig, ImportOptions, OpenApiSpec};
use alknet_http_bench::baseline;
use serde_json::json;

const DOCUMENT: &str = r#"{
  "openapi": "3.1.0",
  "info": {"title": "echo", "version": "1"},
  "paths": {"/echo": {"post": {
    "operationId": "echo",
    "requestBody": {"required": true, "content": {"application/json": {"schema": {
      "type": "object", "required": ["message"],
      "properties": {"message": {"type": "string"}, "n": {"type": "integer"}}
    }}}},
    "responses": {"200": {"description": "the body", "content": {"application/json": {"schema": {"type": "object"}}}}}
  }}}
}"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let upstream = baseline::json_echo().await;
    let base = format!("http://{upstream}");
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).expect("client"));
    let report = FromOpenApi::new(
        OpenApiSpec::from_json(DOCUMENT).expect("the document parses"),
        HttpServiceConfig::new("up", base.clone()),
        http.clone(),
    )
    .with_options(ImportOptions::default().with_visibility(Visibility::External))
    .plan()
    .expect("the document imports");
    let registry = OperationRegistry::builder()
        .with_all(report.into_registrations())
        .build()
        .expect("registry");
    let dispatch = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
    let client = http.client();
    let url = format!("{base}/echo");
    let input = json!({"message": "hello", "n": 7});

    let forwarded = || async {
        let out = dispatch
            .invoke(None, "/up/echo", json!({ "body": input }))
            .await
            .result
            .expect("the forwarded call succeeds");
        assert_eq!(out, input);
    };
    let direct = || async {
        let out: serde_json::Value = client
            .post(&url)
            .json(&input)
            .send()
            .await
            .expect("the direct call succeeds")
            .json()
            .await
            .expect("JSON");
        assert_eq!(out, input);
    };
    // Warm both paths (pooled connections, schema caches).
    for _ in 0..200 {
        forwarded().await;
        direct().await;
    }
    let mut ours = Vec::with_capacity(calls);
    let mut theirs = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        forwarded().await;
        ours.push(start.elapsed());
        let start = Instant::now();
        direct().await;
        theirs.push(start.elapsed());
    }
    let line = alknet_http_bench::added_latency(calls, &mut ours, &mut theirs);
    println!("{}", serde_json::Value::Object(line));
}
