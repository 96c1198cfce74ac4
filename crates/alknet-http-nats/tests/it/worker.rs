//! A worker's operations and a gateway importing them, as the tests use them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{
    CallError, Capabilities, ErrorDefinition, GatewayDispatch, HandlerKind, Identity,
    OperationOverlay, OperationRegistry, OperationSpec, Visibility,
};
use alknet_http_nats::{
    Bus, Following, FromNats, NatsConnect, NatsExport, NatsExporter, NatsImport, to_nats,
};
use alknet_http_tests::{Probe, within};
use serde_json::{Value, json};

/// What a worker's handlers saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) calls: AtomicUsize,
    pub(crate) writes: AtomicUsize,
    pub(crate) slow: AtomicUsize,
    pub(crate) forwarded_for: Mutex<Vec<Option<String>>>,
    pub(crate) streams_dropped: AtomicUsize,
}

/// Counts a subscription's handler stream dropped before its end (aborted).
struct StreamGuard(Arc<Seen>, bool);

impl StreamGuard {
    /// The stream ended on its own: its drop is no abort.
    fn finish(&mut self) {
        self.1 = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.streams_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `demo/echo` (Query), `demo/write` (Mutation), `demo/slow` (Query, sleeps `sleep_ms`),
/// `demo/fail` (a declared error),
/// `demo/ticks` (Subscription: `count` items, or endless at 0), `demo/hold` (held by `probe`),
/// `demo/big` (an output of `bytes` bytes).
pub(crate) fn registry(seen: Arc<Seen>, probe: &Probe) -> OperationRegistry {
    let (echo_seen, write_seen, slow_seen, ticks_seen) =
        (seen.clone(), seen.clone(), seen.clone(), seen);
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/echo"),
            HandlerKind::once(move |input, ctx| {
                let seen = echo_seen.clone();
                async move {
                    seen.calls.fetch_add(1, Ordering::SeqCst);
                    seen.forwarded_for
                        .lock()
                        .unwrap()
                        .push(ctx.forwarded_for().map(|i| i.id.clone()));
                    Ok(input)
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/write"),
            HandlerKind::once(move |input: Value, _| {
                let seen = write_seen.clone();
                async move {
                    let ms = input["sleep_ms"].as_u64().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(json!({ "write": seen.writes.fetch_add(1, Ordering::SeqCst) + 1 }))
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/slow"),
            HandlerKind::once(move |input: Value, _| {
                let seen = slow_seen.clone();
                async move {
                    seen.slow.fetch_add(1, Ordering::SeqCst);
                    let ms = input["sleep_ms"].as_u64().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(json!({ "slept": ms }))
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/fail").with_error(
                ErrorDefinition::new("DEMO_FAILED", "Always fails").with_http_status(409),
            ),
            HandlerKind::once(|_, _| async {
                Err(CallError::new("DEMO_FAILED", "failed on purpose")
                    .with_details(json!({ "why": "asked to" })))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/ticks"),
            HandlerKind::stream(move |input: Value, _| {
                let guard = StreamGuard(ticks_seen.clone(), false);
                let count = input["count"].as_u64().unwrap_or(0);
                futures::stream::unfold((0u64, guard), move |(n, mut guard)| async move {
                    if count > 0 && n >= count {
                        guard.finish();
                        return None;
                    }
                    if count == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Some((Ok(json!({ "n": n })), (n + 1, guard)))
                })
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/hold"),
            probe.handler(json!("released")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/big"),
            HandlerKind::once(|input: Value, _| async move {
                let bytes = input["bytes"].as_u64().unwrap_or(0) as usize;
                Ok(json!("x".repeat(bytes)))
            }),
            Capabilities::new(),
        )
        .build()
        .expect("registry")
}

/// A worker's dispatch over `registry`.
pub(crate) fn dispatch(registry: OperationRegistry) -> GatewayDispatch {
    GatewayDispatch::new(registry, Arc::new(AnonymousOnly))
}

/// A worker on `url` serving [`registry`] as `export` says: its bus and exporter (the worker
/// leaves the bus when the exporter is dropped).
pub(crate) async fn worker(
    url: &str,
    seen: Arc<Seen>,
    probe: &Probe,
    export: NatsExport,
) -> (Bus, NatsExporter) {
    let bus = bus(url).await;
    let exporter = to_nats(&bus, dispatch(registry(seen, probe)), export)
        .await
        .expect("exported");
    (bus, exporter)
}

/// Every `External` operation, run as `bus`.
pub(crate) fn as_bus() -> NatsExport {
    NatsExport::new(Identity::new("bus"))
}

pub(crate) async fn bus(url: &str) -> Bus {
    Bus::connect(&NatsConnect::new([url]).with_name("alknet-test"))
        .await
        .expect("connected")
}

/// A gateway importing the bus's operations (`External`, refreshed every 100 ms), once it
/// sees `demo/echo`.
pub(crate) struct Gateway {
    pub(crate) dispatch: GatewayDispatch,
    _following: Following,
}

impl Gateway {
    pub(crate) async fn start(bus: &Bus, config: NatsImport) -> Gateway {
        let layer = Arc::new(OperationOverlay::new());
        let following = FromNats::new(
            bus,
            config
                .with_visibility(Visibility::External)
                .with_refresh(Duration::from_millis(100)),
        )
        .await
        .expect("importer")
        .follow(layer.clone());
        let registry = OperationRegistry::builder()
            .with_layer(layer.clone())
            .build()
            .expect("registry");
        let gateway = Gateway {
            dispatch: GatewayDispatch::new(registry, Arc::new(AnonymousOnly)),
            _following: following,
        };
        gateway.wait_for("demo/echo", true).await;
        gateway
    }

    /// Waits until `operation` is (or is no longer) imported.
    pub(crate) async fn wait_for(&self, operation: &str, present: bool) {
        within(async {
            while self.dispatch.registry().route(operation).is_some() != present {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    pub(crate) async fn call(&self, operation: &str, input: Value) -> Result<Value, CallError> {
        within(self.dispatch.call(
            Some(Arc::new(Identity::new("alice"))),
            operation,
            input,
            Default::default(),
        ))
        .await
        .map_err(|failure| failure.error)
    }
}
