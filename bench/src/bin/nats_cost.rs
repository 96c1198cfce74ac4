//! What the bus costs, against bare NATS in the same run, both on one `nats-server` (the
//! program given after the rounds, Debian's by default), measured in interleaved slices
//! (`alknet_http_bench::interleaved`):
//!
//! - calls: `POST /call` of `bench/echo` by 64 clients through a gateway node (HTTP → its
//!   `from_nats` import → the bus → a worker's `to_nats` → dispatch) against the same clients
//!   calling a bare axum `POST /call` that does `async-nats` request/reply with a bare echo
//!   responder (the least any HTTP gateway over NATS does); and, for scale, 64 tasks doing that
//!   request/reply without HTTP;
//! - streams: `bench/stream` items read through the gateway's dispatch (the bus, the worker's
//!   window and acknowledgements) against a bare publisher and subscriber of the same items.
//!
//! Prints one JSON line: `{"calls": report, "streams": report}`.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin nats_cost -- 20 /usr/sbin/nats-server
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alknet_http::core::{
    GatewayDispatch, Identity, OperationOverlay, OperationRegistry, Visibility,
};
use alknet_http::nats::async_nats;
use alknet_http::nats::{Bus, FromNats, NatsConnect, NatsExport, NatsImport, to_nats};
use alknet_http_bench::TOKEN;
use alknet_http_bench::call_load::{CLIENTS, CallLoad, http_node};
use alknet_http_bench::interleaved::{ROUNDS, SLICE, interleaved_rates, report};
use alknet_http_bench::node::{identities, operations};
use alknet_http_tests::NatsServer;
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::json;

/// Items per stream read in a slice.
const STREAM_ITEMS: u64 = 2_000;

async fn bus(url: &str) -> Bus {
    Bus::connect(&NatsConnect::new([url]))
        .await
        .expect("the bus")
}

/// 64 tasks of request/reply on `subject` for one slice: the rate.
async fn bare_calls(client: &async_nats::Client, payload: &Bytes) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + SLICE;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, payload, done) = (client.clone(), payload.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let reply = client
                        .request("bare.echo", payload.clone())
                        .await
                        .expect("answered");
                    assert_eq!(reply.payload, payload);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Streams of [`STREAM_ITEMS`] through the gateway's dispatch for one slice: items per second.
async fn our_streams(dispatch: &GatewayDispatch) -> f64 {
    let caller = Some(Arc::new(Identity::new("bench").with_scopes(["bench"])));
    let start = Instant::now();
    let mut items = 0u64;
    while start.elapsed() < SLICE {
        let mut stream = dispatch.invoke_streaming(
            caller.clone(),
            "bench/stream",
            json!({"count": STREAM_ITEMS}),
        );
        while let Some(item) = stream.next().await {
            item.result.expect("an item");
            items += 1;
        }
    }
    items as f64 / start.elapsed().as_secs_f64()
}

/// The same items published bare and read by a subscriber, stream after stream, for one slice.
async fn bare_streams(client: &async_nats::Client) -> f64 {
    let start = Instant::now();
    let mut items = 0u64;
    let mut n = 0u64;
    while start.elapsed() < SLICE {
        n += 1;
        let subject = format!("bare.stream.{n}");
        let mut subscriber = client.subscribe(subject.clone()).await.expect("subscribed");
        client.flush().await.expect("flushed");
        let publisher = client.clone();
        tokio::spawn(async move {
            for i in 0..STREAM_ITEMS {
                let item = serde_json::to_vec(&json!({ "n": i })).expect("json");
                publisher
                    .publish(subject.clone(), item.into())
                    .await
                    .expect("published");
            }
        });
        for _ in 0..STREAM_ITEMS {
            let message = subscriber.next().await.expect("an item");
            let _: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
            items += 1;
        }
    }
    items as f64 / start.elapsed().as_secs_f64()
}

/// A bare HTTP gateway over NATS: `POST /call` sends the envelope's input to `bare.echo` by
/// request/reply and answers the reply's bytes. Its base URL.
async fn bare_gateway(client: async_nats::Client) -> String {
    let app = axum::Router::new().route(
        "/call",
        axum::routing::post(move |body: Bytes| {
            let client = client.clone();
            async move {
                let envelope: serde_json::Value =
                    serde_json::from_slice(&body).expect("an envelope");
                let input = serde_json::to_vec(&envelope["input"]).expect("json");
                let reply = client
                    .request("bare.echo", input.into())
                    .await
                    .expect("answered");
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    reply.payload,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds = args
        .next()
        .map_or(ROUNDS, |r| r.parse().expect("rounds: a number"));
    let program = args
        .next()
        .unwrap_or_else(|| "/usr/sbin/nats-server".to_owned());
    let server = NatsServer::start_program(&program, "").await;
    // A worker serving the bench operations on the bus.
    let worker_bus = bus(&server.url).await;
    let registry = operations(OperationRegistry::builder())
        .build()
        .expect("registry");
    let _exporter = to_nats(
        &worker_bus,
        GatewayDispatch::new(registry, identities()),
        NatsExport::new(Identity::new("bus").with_scopes(["bench"])),
    )
    .await
    .expect("exported");
    // A gateway node importing them.
    let gateway_bus = bus(&server.url).await;
    let layer = Arc::new(OperationOverlay::new());
    let _following = FromNats::new(
        &gateway_bus,
        NatsImport::default().with_visibility(Visibility::External),
    )
    .await
    .expect("importer")
    .follow(layer.clone());
    let registry = OperationRegistry::builder()
        .with_layer(layer)
        .build()
        .expect("registry");
    while registry.route("bench/echo").is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dispatch = GatewayDispatch::new(registry.clone(), identities());
    let (node, base) = http_node(registry, identities()).await;
    let ours = CallLoad::new(&base, TOKEN, CLIENTS, None);
    // The bare echo.
    let bare_bus = bus(&server.url).await;
    let responder = bare_bus.client().clone();
    let mut requests = responder.subscribe("bare.echo").await.expect("subscribed");
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, request.payload).await;
            }
        }
    });
    let client = bus(&server.url).await.client().clone();
    let payload: Bytes = serde_json::to_vec(&json!({"message": "hello", "n": 7}))
        .expect("json")
        .into();
    let bare = CallLoad::new(&bare_gateway(client.clone()).await, TOKEN, CLIENTS, None);
    let calls = interleaved_rates(3, rounds, async |contender| match contender {
        0 => bare.rate_for(SLICE).await,
        1 => ours.rate_for(SLICE).await,
        _ => bare_calls(&client, &payload).await,
    })
    .await;
    let streams = interleaved_rates(2, rounds, async |contender| match contender {
        0 => bare_streams(&client).await,
        _ => our_streams(&dispatch).await,
    })
    .await;
    println!(
        "{}",
        json!({
            "calls": report(&["bare_http_gateway", "gateway_post_call", "bare_request_reply"], &calls),
            "streams": report(&["bare_publish_subscribe", "gateway_subscription"], &streams),
        })
    );
    node.shutdown().await;
}
