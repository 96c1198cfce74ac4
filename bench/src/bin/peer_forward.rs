//! What a federation hop costs: a client calls `demo/echo` on a spoke node over QUIC directly,
//! and the same operation through a hub node that imported it from the spoke (client → hub →
//! spoke, `alknet/call` both hops, mutual TLS between the nodes). Sequential calls, interleaved,
//! give p50/p90/p99 of each and the p50 the hop adds; 64 calls in flight give the throughput
//! ratio. Both nodes are real `Node`s with a federation in this process. Prints one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin peer_forward -- [calls]
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use alknet_http::core::quic::{QuicConfig, QuicDialer, ServerVerification};
use alknet_http::core::session::{Session, SessionOptions};
use alknet_http::core::tls::ServerIdentity;
use alknet_http::core::{Identity, OperationRegistry, Visibility};
use alknet_http::federation::{Federation, Peer, PeerImport};
use alknet_http::{Listener, Node, RunningNode, demo};
use futures::StreamExt;
use serde_json::json;

const IN_FLIGHT: usize = 64;

async fn node(certificate: &ServerIdentity, federation: Federation) -> RunningNode {
    Node::builder()
        .registry(
            demo::register(OperationRegistry::builder())
                .build()
                .expect("registry"),
        )
        .listen(Listener::Quic(
            "127.0.0.1:0".parse().expect("addr"),
            certificate.clone(),
        ))
        .federation(federation)
        .build()
        .expect("node")
        .start()
        .await
        .expect("started")
}

async fn client(node: &RunningNode, certificate: &ServerIdentity) -> Session {
    let dialer = QuicDialer::new(
        ServerVerification::pinned([certificate.fingerprint_sha256()]),
        QuicConfig::default(),
    )
    .expect("dialer");
    let empty = OperationRegistry::builder().build().expect("registry");
    dialer
        .connect(
            node.addresses()[0].addr,
            "localhost",
            SessionOptions::new(empty),
        )
        .await
        .expect("connected")
}

/// Calls per second with `IN_FLIGHT` calls of `operation` in flight.
async fn rate(session: &Session, operation: &str, calls: usize) -> f64 {
    let start = Instant::now();
    futures::stream::iter(0..calls)
        .map(|i| session.call(operation, json!({ "i": i })))
        .buffer_unordered(IN_FLIGHT)
        .for_each(|reply| async move {
            reply.expect("call");
        })
        .await;
    calls as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let hub_cert = ServerIdentity::self_signed(["hub"]).expect("certificate");
    let spoke_cert = ServerIdentity::self_signed(["spoke"]).expect("certificate");
    let spoke = node(
        &spoke_cert,
        Federation::new(spoke_cert.clone()).with_peer(Peer::new(
            Identity::new("hub"),
            &hub_cert.fingerprint_sha256(),
        )),
    )
    .await;
    let hub = node(
        &hub_cert,
        Federation::new(hub_cert.clone()).with_peer(
            Peer::new(Identity::new("spoke"), &spoke_cert.fingerprint_sha256())
                .dialing(spoke.addresses()[0].addr.to_string())
                .importing(
                    PeerImport::default()
                        .with_prefix("s")
                        .with_visibility(Visibility::External),
                ),
        ),
    )
    .await;
    let status = hub.peers().expect("federation").clone();
    let start = Instant::now();
    while !status.ready() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the hub never reached the spoke"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let direct = client(&spoke, &spoke_cert).await;
    let forwarded = client(&hub, &hub_cert).await;
    let input = json!({"message": "hello", "n": 7});

    // Warm both paths, then interleave so that drift hits both alike.
    for _ in 0..500 {
        direct
            .call("demo/echo", input.clone())
            .await
            .expect("direct");
        forwarded
            .call("s/demo/echo", input.clone())
            .await
            .expect("forwarded");
    }
    let (mut d, mut f) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        let t = Instant::now();
        direct
            .call("demo/echo", input.clone())
            .await
            .expect("direct");
        d.push(t.elapsed());
        let t = Instant::now();
        let out = forwarded
            .call("s/demo/echo", input.clone())
            .await
            .expect("forwarded");
        f.push(t.elapsed());
        assert_eq!(out, input);
    }
    let bulk = calls * 4;
    let direct_rate = rate(&direct, "demo/echo", bulk).await;
    let forwarded_rate = rate(&forwarded, "s/demo/echo", bulk).await;
    let mut line = alknet_http_bench::added_latency(calls, &mut f, &mut d);
    for (key, value) in [
        ("in_flight", json!(IN_FLIGHT)),
        ("bulk_calls", json!(bulk)),
        ("direct_rate", json!(direct_rate)),
        ("forwarded_rate", json!(forwarded_rate)),
        ("rate_ratio", json!(forwarded_rate / direct_rate)),
    ] {
        line.insert(key.into(), value);
    }
    println!("{}", serde_json::Value::Object(line));
    hub.shutdown().await;
    spoke.shutdown().await;
}
