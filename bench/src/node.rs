//! The node under test: the real [`Node`] (server, gateway, WebSocket session) on loopback,
//! with a bearer token and the benchmark operations.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alknet_http::core::{
    AccessControl, CallError, Capabilities, HandlerKind, Identity, IdentityProvider,
    OperationRegistry, OperationSpec, RegistryBuilder, StaticTokenProvider,
};
use alknet_http::ws::Sessions;
use alknet_http::{Listener, Node, RunningNode};
use serde_json::{Value, json};

use crate::TOKEN;

/// Adds the benchmark operations:
///
/// | operation | kind | what it does |
/// |---|---|---|
/// | `bench/echo` | query, scope `bench` | returns its input (schema-validated `{message, n}`) |
/// | `bench/stream` | subscription, scope `bench` | `count` items `{"n": i}`, as fast as they are read |
/// | `bench/sleep` | query, scope `bench` | sleeps `ms`, then returns `{"slept": ms}` |
/// | `bench/fail` | query, scope `bench` | always the declared error `BENCH_FAILED` (409) |
pub fn operations(builder: RegistryBuilder) -> RegistryBuilder {
    let scopes = AccessControl::scopes(["bench"]);
    builder
        .with_leaf(
            OperationSpec::query("bench/echo")
                .with_input_schema(json!({
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string", "maxLength": 256}, "n": {"type": "integer"}}
                }))
                .with_access_control(scopes.clone()),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("bench/stream")
                .with_input_schema(json!({
                    "type": "object",
                    "required": ["count"],
                    "properties": {"count": {"type": "integer", "minimum": 0}}
                }))
                .with_access_control(scopes.clone()),
            HandlerKind::stream(|input: Value, _| {
                let count = input["count"].as_u64().unwrap_or(0);
                futures::stream::iter((0..count).map(|n| Ok(json!({ "n": n }))))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("bench/sleep")
                .with_input_schema(json!({
                    "type": "object",
                    "required": ["ms"],
                    "properties": {"ms": {"type": "integer", "minimum": 0, "maximum": 600000}}
                }))
                .with_access_control(scopes.clone()),
            HandlerKind::once(|input: Value, _| async move {
                let ms = input["ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!({ "slept": ms }))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("bench/fail")
                .with_error(
                    alknet_http::core::ErrorDefinition::new("BENCH_FAILED", "Always fails")
                        .with_http_status(409),
                )
                .with_access_control(scopes),
            HandlerKind::once(|_, _| async move {
                Err(CallError::new("BENCH_FAILED", "failed on purpose"))
            }),
            Capabilities::new(),
        )
}

/// The identity provider: [`TOKEN`] is `bench` with scope `bench`.
pub fn identities() -> Arc<dyn IdentityProvider> {
    Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("bench").with_scopes(["bench"]))
            .expect("a valid token"),
    )
}

/// The node under test, started.
#[derive(Debug)]
pub struct Started {
    /// The running node (shut it down to stop).
    pub running: RunningNode,
    /// Its HTTP address.
    pub addr: SocketAddr,
    /// Its live WebSocket sessions.
    pub sessions: Sessions,
}

/// Starts the node on a loopback port with `call_timeout`.
pub async fn start(call_timeout: Duration) -> Started {
    let registry: OperationRegistry = operations(OperationRegistry::builder())
        .build()
        .expect("the benchmark registry builds");
    start_serving(registry, call_timeout).await
}

/// Starts a node serving `registry` on a loopback port with `call_timeout`.
pub async fn start_serving(registry: OperationRegistry, call_timeout: Duration) -> Started {
    let node = Node::builder()
        .registry(registry)
        .identity_provider(identities())
        .call_timeout(call_timeout)
        .listen(Listener::Http("127.0.0.1:0".parse().expect("an address")))
        .build()
        .expect("the node builds");
    let sessions = node.sessions();
    let running = node.start().await.expect("the node starts");
    let addr = running.addresses()[0].addr;
    Started {
        running,
        addr,
        sessions,
    }
}
