//! A fixed demo registry, a running node, and an SSE reader.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http_core::client::{install_crypto_provider, reqwest};
use alknet_http_core::{
    AccessControl, CallError, Capabilities, CompositionAuthority, ErrorDefinition, GatewayDispatch,
    HandlerKind, HandlerRegistration, Identity, OperationRegistry, OperationSpec, Provenance,
    ScopedPeerEnv, StaticTokenProvider,
};
use alknet_http_gateway::{GatewayConfig, PATHS, router};
use alknet_http_server::{HttpServerBuilder, Surface};
use alknet_http_tests::Served;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

pub(crate) const READER: &str = "alk_reader_token";
pub(crate) const WRITER: &str = "alk_writer_token";

/// Signals the test when dropped (a handler future or stream went away).
pub(crate) struct DropSignal(#[allow(dead_code)] pub(crate) oneshot::Sender<()>);

/// Hooks tests use to watch handlers.
#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) started: Arc<Notify>,
    pub(crate) release: Arc<Notify>,
    pub(crate) dropped: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    pub(crate) child_dropped: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    pub(crate) completed: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    pub(crate) last_event_id: Arc<Mutex<Option<String>>>,
}

impl Hooks {
    pub(crate) fn watch_drop(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.dropped.lock().unwrap() = Some(tx);
        rx
    }

    pub(crate) fn watch_child_drop(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.child_dropped.lock().unwrap() = Some(tx);
        rx
    }

    pub(crate) fn watch_completion(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.completed.lock().unwrap() = Some(tx);
        rx
    }
}

fn take(slot: &Arc<Mutex<Option<oneshot::Sender<()>>>>) -> Option<DropSignal> {
    slot.lock().unwrap().take().map(DropSignal)
}

fn name_schema() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}})
}

/// The fixed demo registry (golden files describe it).
pub(crate) fn registry(hooks: &Hooks) -> OperationRegistry {
    let h = hooks.clone();
    let slow_query = HandlerKind::once(move |_, _| {
        let guard = take(&h.dropped);
        let (started, release) = (h.started.clone(), h.release.clone());
        async move {
            let _guard = guard;
            started.notify_one();
            release.notified().await;
            Ok(json!("query finished"))
        }
    });
    let h = hooks.clone();
    let slow_mutation = HandlerKind::once(move |_, _| {
        let completed = h.completed.lock().unwrap().take();
        let (started, release) = (h.started.clone(), h.release.clone());
        async move {
            started.notify_one();
            release.notified().await;
            if let Some(done) = completed {
                let _ = done.send(());
            }
            Ok(json!("mutation finished"))
        }
    });
    let h = hooks.clone();
    let ticks = HandlerKind::stream(move |input: Value, ctx| {
        *h.last_event_id.lock().unwrap() = ctx.last_event_id().map(str::to_owned);
        let count = input["count"].as_u64().unwrap_or(3);
        let release = h.release.clone();
        let gated = input["gated"].as_bool().unwrap_or(false);
        futures::stream::unfold(0, move |n| {
            let release = release.clone();
            async move {
                if n >= count {
                    return None;
                }
                if gated && n > 0 {
                    release.notified().await;
                }
                Some((Ok(json!({ "tick": n })), n + 1))
            }
        })
    });
    let h = hooks.clone();
    let watcher = HandlerKind::stream(move |_, ctx| {
        let guard = take(&h.dropped);
        let started = h.started.clone();
        let first = futures::stream::once(async { Ok(json!("watching")) });
        let child = futures::stream::once(async move {
            started.notify_one();
            ctx.call("demo/hang", json!({})).await
        });
        first.chain(child).map(move |item| {
            let _keep = &guard;
            item
        })
    });
    let h = hooks.clone();
    let hang = HandlerKind::once(move |_, _| {
        let guard = take(&h.child_dropped);
        async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
            Ok(json!(null))
        }
    });
    let upstream = HandlerRegistration::leaf(
        OperationSpec::query("upstream/pets")
            .with_description("An imported REST call")
            .with_error(alknet_http_core::error::http_error_definition(
                404,
                "No such pet",
            )),
        HandlerKind::once(|input: Value, _| async move {
            let status = input["status"].as_u64().unwrap_or(404) as u16;
            let mut error = alknet_http_core::error::call_error_from_http(
                status,
                br#"{"message":"upstream says no"}"#,
            );
            if let Some(seconds) = input["retry_after"].as_u64() {
                error.details = Some(json!({ "retry_after": seconds }));
            }
            Err::<Value, _>(error)
        }),
        Provenance::FromOpenApi,
    );
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/echo").with_description("Echo the input"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/secret").internal(),
            HandlerKind::once(|_, _| async { Ok(json!("hidden")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/admin")
                .with_access_control(AccessControl::scopes(["admin"])),
            HandlerKind::once(|_, _| async { Ok(json!("admin")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/register")
                .with_description("Register a name")
                .with_input_schema(name_schema())
                .with_error(
                    ErrorDefinition::new("NAME_TAKEN", "That name is taken")
                        .with_http_status(409)
                        .with_schema(json!({"type": "object"})),
                )
                .with_access_control(AccessControl::scopes(["demo:write"])),
            HandlerKind::once(|input: Value, _| async move {
                match input["name"].as_str() {
                    Some("admin") => Err(CallError::new("NAME_TAKEN", "admin is taken")
                        .with_details(json!({"name": "admin"}))),
                    Some("boom") => Err(CallError::new("UNDECLARED", "not declared")),
                    Some(name) => Ok(json!({ "registered": name })),
                    None => Err(CallError::invalid_input("name")),
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/ticks").with_description("Count up"),
            ticks,
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/fail"),
            HandlerKind::stream(|_, _| {
                futures::stream::iter(vec![Ok(json!(1)), Err(CallError::internal("stream broke"))])
            }),
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::subscription("demo/watch"),
            watcher,
            Some(CompositionAuthority::new(
                "demo/watch",
                Vec::<String>::new(),
            )),
            Some(ScopedPeerEnv::allowing(["demo/hang"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/hang").internal(),
            hang,
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/slowQuery"),
            slow_query,
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/slowMutation"),
            slow_mutation,
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/requestId"),
            HandlerKind::once(|_, ctx| async move { Ok(json!(ctx.request_id())) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/panic"),
            HandlerKind::once(|_, _| async { panic!("demo panic") }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/forever"),
            HandlerKind::once(|_, _| async {
                futures::future::pending::<()>().await;
                Ok(json!(null))
            }),
            Capabilities::new(),
        )
        .with(upstream)
        .build()
        .unwrap()
}

pub(crate) struct Node {
    pub(crate) hooks: Hooks,
    served: Served,
}

impl Node {
    pub(crate) fn url(&self, path: &str) -> String {
        self.served.url(path)
    }
}

pub(crate) async fn start() -> Node {
    start_with(GatewayConfig::default(), Duration::from_secs(30)).await
}

pub(crate) async fn start_with(config: GatewayConfig, call_timeout: Duration) -> Node {
    let hooks = Hooks::default();
    let provider = StaticTokenProvider::new()
        .with_token(READER, Identity::new("reader").with_scopes(["demo:read"]))
        .unwrap()
        .with_token(
            WRITER,
            Identity::new("writer").with_scopes(["demo:read", "demo:write"]),
        )
        .unwrap();
    let provider = Arc::new(provider);
    let registry = registry(&hooks);
    let dispatch =
        GatewayDispatch::new(registry.clone(), provider.clone()).with_timeout(call_timeout);
    let server = HttpServerBuilder::new(provider, registry)
        .with_surface(Surface::new("gateway", PATHS, router(dispatch, config)))
        .build();
    let served = Served::start(server).await;
    Node { hooks, served }
}

pub(crate) fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub(crate) async fn call(
    node: &Node,
    token: Option<&str>,
    operation: &str,
    input: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client()
        .post(node.url("/call"))
        .json(&json!({ "operation": operation, "input": input }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: Vec<String>,
    pub(crate) comment: Option<String>,
}

/// Reads SSE events from a streaming response as they arrive.
pub(crate) struct SseReader {
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        SseReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments included), or `None` when the body ended.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if let Some(rest) = line.strip_prefix(':') {
                        event.comment = Some(rest.trim().to_owned());
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                        match field {
                            "id" => event.id = Some(value),
                            "event" => event.event = Some(value),
                            "data" => event.data.push(value),
                            _ => {}
                        }
                    }
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("no SSE data in time")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// All remaining non-comment events.
    pub(crate) async fn rest(mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            if event.comment.is_none() {
                events.push(event);
            }
        }
        events
    }
}

pub(crate) async fn subscribe(node: &Node, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = client()
        .post(node.url("/subscribe"))
        .header("accept", "text/event-stream")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}
