//! `POST /call` of an echo operation through the real server and gateway (bearer identity,
//! limits, envelope parsing, `GatewayDispatch` with schema validation and ACL, error mapping)
//! against a bare hyper 1.x service doing the same JSON parse and serialize, in the same run:
//! HTTP/1.1 with 8 keep-alive connections, and h2 (prior knowledge) with 8 streams in flight on
//! one connection. Same client for both (hyper's), same loopback, same body.
//!
//! ```sh
//! cargo bench -p alknet-http-gateway --bench http_call
//! ```
#![allow(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::{
    AccessControl, Capabilities, HandlerKind, Identity, IdentityProvider, OperationRegistry,
    OperationSpec, StaticTokenProvider,
};
use alknet_http_gateway::{GatewayConfig, PATHS, router};
use alknet_http_server::{HttpServerBuilder, Surface};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token-0123456789";
const CONNECTIONS: usize = 8;

fn body() -> Bytes {
    Bytes::from(
        json!({"operation": "/bench/echo", "input": {"message": "hello", "n": 7}}).to_string(),
    )
}

async fn ours() -> SocketAddr {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("bench/echo")
                .with_input_schema(json!({
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string", "maxLength": 256}, "n": {"type": "integer"}}
                }))
                .with_access_control(AccessControl::scopes(["bench"])),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let provider: Arc<dyn IdentityProvider> = Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("bench").with_scopes(["bench"]))
            .unwrap(),
    );
    let dispatch = GatewayDispatch::new(registry.clone(), provider.clone());
    let server = HttpServerBuilder::new(provider, registry)
        .with_surface(Surface::new(
            "gateway",
            PATHS,
            router(dispatch, GatewayConfig::default()),
        ))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = server.serve(listener, std::future::pending()).await;
    });
    addr
}

/// The baseline: parse the envelope, serialize the input back.
async fn bare_echo(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let out = serde_json::to_vec(&envelope["input"]).unwrap_or_default();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(out)))
        .unwrap_or_default())
}

async fn bare() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(bare_echo))
                    .await;
            });
        }
    });
    addr
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

async fn connect(addr: SocketAddr, h2: bool) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let io = TokioIo::new(stream);
    if h2 {
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(connection);
        Sender::H2(sender)
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        Sender::H1(sender)
    }
}

async fn post(sender: &mut Sender, addr: SocketAddr) {
    let request = Request::post(format!("http://{addr}/call"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(body()))
        .unwrap();
    let response = match sender {
        Sender::H1(s) => {
            s.ready().await.unwrap();
            s.send_request(request).await.unwrap()
        }
        Sender::H2(s) => s.clone().send_request(request).await.unwrap(),
    };
    assert_eq!(response.status(), 200);
    let out = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(out.len(), 25, "{out:?}");
}

/// `total` requests spread over `CONNECTIONS` concurrent senders (h1: one connection each; h2:
/// clones of one connection's sender, one stream each).
async fn run(senders: &mut [Sender], addr: SocketAddr, total: u64) -> Duration {
    let per = total.div_ceil(senders.len() as u64);
    let start = Instant::now();
    futures::future::join_all(senders.iter_mut().map(|sender| async move {
        for _ in 0..per {
            post(sender, addr).await;
        }
    }))
    .await;
    start
        .elapsed()
        .mul_f64(total as f64 / (per * senders.len() as u64) as f64)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ours_addr, bare_addr) = runtime.block_on(async { (ours().await, bare().await) });
    for (name, h2) in [("http1_8_connections", false), ("h2_8_streams", true)] {
        let mut group = c.benchmark_group(format!("gateway_call_{name}"));
        group.throughput(criterion::Throughput::Elements(1));
        for (label, addr) in [("alknet_gateway", ours_addr), ("bare_hyper", bare_addr)] {
            let mut senders = runtime.block_on(async {
                if h2 {
                    let Sender::H2(one) = connect(addr, true).await else {
                        unreachable!()
                    };
                    (0..CONNECTIONS)
                        .map(|_| Sender::H2(one.clone()))
                        .collect::<Vec<_>>()
                } else {
                    let mut all = Vec::new();
                    for _ in 0..CONNECTIONS {
                        all.push(connect(addr, false).await);
                    }
                    all
                }
            });
            group.bench_function(label, |b| {
                b.iter_custom(|iters| runtime.block_on(run(&mut senders, addr, iters)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
