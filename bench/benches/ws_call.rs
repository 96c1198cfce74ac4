//! The WebSocket native session (`/alknet/call` of the real node: bearer auth, envelope decoding,
//! schema validation, ACL, dispatch, encoding) with 64 calls in flight on one connection, against
//! a raw fastwebsockets server echoing the same bytes and a jsonrpsee 0.26 WebSocket server with
//! an `echo` method, in the same run. One load generator drives all three (`load::pipelined`).
//!
//! ```sh
//! cargo bench -p alknet-http-bench --bench ws_call
//! ```
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use alknet_http_bench::load::{self, JSON_RPC, NATIVE_CALL, Pattern, RAW_ECHO};
use alknet_http_bench::{baseline, node};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonrpsee::RpcModule;
use serde_json::Value;

const IN_FLIGHT: usize = 64;

async fn jsonrpsee_server() -> SocketAddr {
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .expect("jsonrpsee binds");
    let addr = server.local_addr().expect("address");
    let mut module = RpcModule::new(());
    module
        .register_method("echo", |params, _, _| params.parse::<Value>())
        .expect("register echo");
    let handle = server.start(module);
    // Runs for the whole benchmark process.
    std::mem::drop(tokio::spawn(handle.stopped()));
    addr
}

fn bench(c: &mut Criterion) {
    let runtime = alknet_http_bench::bench_runtime();
    let node = runtime.block_on(node::start(Duration::from_secs(30)));
    let node_addr = node.addr;
    let (echo_addr, rpc_addr) =
        runtime.block_on(async { (baseline::ws_echo().await, jsonrpsee_server().await) });
    type Case = (
        &'static str,
        SocketAddr,
        &'static str,
        Vec<(&'static str, String)>,
        Pattern,
    );
    let cases: [Case; 3] = [
        (
            "alknet_session",
            node_addr,
            "/alknet/call",
            load::node_headers(),
            NATIVE_CALL,
        ),
        (
            "raw_fastwebsockets_echo",
            echo_addr,
            "/",
            Vec::new(),
            RAW_ECHO,
        ),
        ("jsonrpsee_echo", rpc_addr, "/", Vec::new(), JSON_RPC),
    ];
    let mut group = c.benchmark_group("ws_echo_64_in_flight");
    group.throughput(criterion::Throughput::Elements(1));
    for (label, addr, path, headers, pattern) in cases {
        let mut ws = runtime
            .block_on(load::ws_connect(addr, path, &headers))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut next_id = 0u64;
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(load::pipelined(
                    &mut ws,
                    pattern,
                    iters,
                    IN_FLIGHT,
                    &mut next_id,
                ))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
