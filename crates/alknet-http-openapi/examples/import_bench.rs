//! Measures importing a large OpenAPI document: parse, plan (schemas normalised, names,
//! handlers), and build the registry (every input schema compiled).
//!
//! ```text
//! cargo run --release -p alknet-http-openapi --example import_bench -- path/to/api.github.com.json
//! ```
//!
//! Prints one JSON line: operations, skipped, milliseconds per phase, and the process' peak
//! resident memory (Linux `VmHWM`).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use alknet_http_core::OperationRegistry;
use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_openapi::import::{FromOpenApi, HttpServiceConfig, OpenApiSpec};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: import_bench <openapi document>")?;
    let text = std::fs::read_to_string(&path)?;
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default())?);
    let baseline_kib = peak_rss_kib().unwrap_or(0);
    let start = Instant::now();
    let spec = OpenApiSpec::from_str(&text)?;
    drop(text);
    let parsed = start.elapsed();
    let report = FromOpenApi::new(
        spec,
        HttpServiceConfig::new("imported", "http://127.0.0.1:9"),
        http,
    )
    .plan()?;
    let planned = start.elapsed();
    let operations = report.operations.len();
    let after_plan_kib = current_rss_kib().unwrap_or(0);
    let skipped = report.skipped.len();
    let registry = OperationRegistry::builder()
        .with_all(report.into_registrations())
        .build()?;
    let built = start.elapsed();
    // The first call of the operation whose input reaches the most shared definitions compiles
    // its validator then (imports defer that): what does that first call cost?
    let widest = registry
        .operations()
        .filter_map(|op| {
            let spec = op.spec();
            let reached = spec.shared_defs.as_ref()?.reached_from(&spec.input_schema);
            Some((reached.len(), op.clone()))
        })
        .max_by_key(|(reached, op)| (*reached, std::cmp::Reverse(op.spec().name.clone())));
    let before_first_call = Instant::now();
    let (widest_name, widest_defs) = match &widest {
        Some((reached, op)) => {
            let _ = op.validate_input(&serde_json::json!({}));
            (op.spec().name.clone(), *reached)
        }
        None => (String::new(), 0),
    };
    let first_call = before_first_call.elapsed();
    println!(
        "{{\"document\":{:?},\"operations\":{operations},\"skipped\":{skipped},\"registry\":{},\"parse_ms\":{},\"plan_ms\":{},\"registry_ms\":{},\"total_ms\":{},\"peak_rss_mib\":{:.1},\"rss_before_mib\":{:.1},\"rss_after_plan_mib\":{:.1},\"widest_input\":{:?},\"widest_input_defs\":{},\"first_call_ms\":{}}}",
        path,
        registry.len(),
        parsed.as_millis(),
        (planned - parsed).as_millis(),
        (built - planned).as_millis(),
        built.as_millis(),
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
        baseline_kib as f64 / 1024.0,
        after_plan_kib as f64 / 1024.0,
        widest_name,
        widest_defs,
        first_call.as_millis(),
    );
    Ok(())
}
