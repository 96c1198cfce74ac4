//! `POST /subscribe` of the real node (bearer auth, envelope, schema validation, ACL, the
//! subscription's stream projected onto SSE) reading one stream of small items, against a bare
//! axum `Sse` response of the same items and events, in the same run, with the same reader.
//!
//! ```sh
//! cargo bench -p alknet-http-bench --bench sse
//! ```
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use alknet_http_bench::{TOKEN, baseline, load, node};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let runtime = alknet_http_bench::bench_runtime();
    let node = runtime.block_on(node::start(Duration::from_secs(30)));
    let node_addr = node.addr;
    let axum_addr = runtime.block_on(baseline::axum_sse());
    let mut group = c.benchmark_group("sse_one_stream");
    group.throughput(criterion::Throughput::Elements(1));
    for (label, addr, token) in [
        ("alknet_subscribe", node_addr, Some(TOKEN)),
        ("bare_axum_sse", axum_addr, None),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let body = json!({"operation": "/bench/stream", "input": {"count": iters}});
                runtime.block_on(async {
                    let start = Instant::now();
                    let events = load::sse_count(addr, "/subscribe", body.to_string(), token)
                        .await
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                    assert_eq!(events, iters, "{label}");
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
