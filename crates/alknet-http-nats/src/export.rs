//! `to_nats`: a registry's operations served on the bus as a NATS service, one endpoint (and
//! subject) per operation in a queue group, so that every node exporting the same operations
//! shares their calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alknet_http_core::dispatch::{GatewayDispatch, RequestId};
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{CallError, CallOptions, ErrorCode, Identity, Visibility};
use async_nats::service::ServiceExt as _;
use async_nats::{HeaderMap, Message, Subject};
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connect::Bus;
use crate::error::NatsError;
use crate::export_config::{NatsExport, OPERATION_KEY, SPEC_KEY, selected};
use crate::subject::operation_subject;
use crate::wire::{
    self, CONTROL, DEADLINE_MS, FORWARDED_FOR, SEQ, TRACEPARENT, TRACESTATE, WINDOW, header,
};

/// A running export: stops taking calls when stopped or dropped (calls already running
/// finish and answer).
#[derive(Debug)]
pub struct NatsExporter {
    service: Option<async_nats::service::Service>,
    shutdown: CancellationToken,
    operations: Vec<String>,
    subjects: Vec<String>,
}

impl NatsExporter {
    /// The operations served, by name.
    pub fn operations(&self) -> &[String] {
        &self.operations
    }

    /// Their subjects, in the same order.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// Leaves the bus: the service and its endpoints are withdrawn (gateways drop the
    /// operations at their next discovery).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(service) = self.service.take()
            && let Err(e) = service.stop().await
        {
            tracing::warn!(error = %e, "stopping the NATS service");
        }
    }
}

impl Drop for NatsExporter {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What every call of an export shares.
struct Worker {
    bus: Bus,
    dispatch: GatewayDispatch,
    identity: Arc<Identity>,
    heartbeat: Duration,
    permits: Arc<Semaphore>,
    /// Running calls by id: what an abort cancels. A call sent twice under one id (a
    /// duplicate on the bus; gateways give each attempt its own) replaces the entry; the
    /// generation keeps the first
    /// run's end from removing the second's.
    in_flight: Mutex<HashMap<Arc<str>, (u64, CancellationToken)>>,
    generations: std::sync::atomic::AtomicU64,
    /// Running subscriptions by id: the highest item their gateway acknowledged.
    streams: Mutex<HashMap<Arc<str>, watch::Sender<u64>>>,
    /// Where gateways send this worker's stream acknowledgements.
    control: String,
    /// Where the server says that nobody took a beat (`<gone>.<generation>`).
    gone: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `dispatch`'s operations (the `External` ones `export` selects) on the bus, each call
/// run as `export.identity`, its caller named in `forwarded_for`.
pub async fn to_nats(
    bus: &Bus,
    dispatch: GatewayDispatch,
    export: NatsExport,
) -> Result<NatsExporter, NatsError> {
    export.check()?;
    let dispatch = dispatch.with_surface("nats");
    let ops: Vec<_> = dispatch
        .registry()
        .operations()
        .filter(|op| {
            op.spec().visibility == Visibility::External
                && selected(&export.operations, &op.spec().name)
        })
        .cloned()
        .collect();
    let client = bus.client().clone();
    // The inbox's last token is a fresh NUID: this worker's own name.
    let inbox = client.new_inbox();
    let worker_id = inbox.rsplit('.').next().unwrap_or(&inbox);
    let control = format!("_ALKNET.{}.ctl.{worker_id}", export.service);
    let mut metadata = HashMap::new();
    metadata.insert("alknet.protocol".to_owned(), "1".to_owned());
    let service = client
        .service_builder()
        .description("alknet-http operations")
        .metadata(metadata)
        .queue_group(&export.queue_group)
        .start(&export.service, &export.version)
        .await
        .map_err(|e| NatsError::Service(e.to_string()))?;
    let mut endpoints = Vec::with_capacity(ops.len());
    let mut names = Vec::with_capacity(ops.len());
    let mut subjects = Vec::with_capacity(ops.len());
    let mut info_bytes = 0;
    for (index, op) in ops.iter().enumerate() {
        let spec = serde_json::to_string(&op.spec())
            .map_err(|e| NatsError::Service(format!("{}: {e}", op.spec().name)))?;
        let subject = operation_subject(&export.prefix, &op.spec().name);
        info_bytes += spec.len() + subject.len() + 2 * op.spec().name.len() + 128;
        let mut metadata = HashMap::new();
        metadata.insert(OPERATION_KEY.to_owned(), op.spec().name.clone());
        metadata.insert(SPEC_KEY.to_owned(), spec);
        let endpoint = service
            .endpoint_builder()
            .name(&op.spec().name)
            .metadata(metadata)
            .add(subject.clone())
            .await
            .map_err(|e| NatsError::Service(format!("{}: {e}", op.spec().name)))?;
        endpoints.push(endpoint.map(move |request| (index, request)).boxed());
        names.push(Arc::<str>::from(op.spec().name.as_str()));
        subjects.push(subject);
    }
    // Discovery answers with every spec in one message: it must fit.
    let max = bus.max_payload();
    if info_bytes + wire::HEADER_ALLOWANCE > max {
        let _ = service.stop().await;
        return Err(NatsError::Service(format!(
            "the specs of {} operations take about {info_bytes} bytes, more than the server's \
             max_payload ({max}): export fewer operations or raise max_payload",
            ops.len()
        )));
    }
    let aborts = client
        .subscribe(wire::abort_subject(&export.service))
        .await
        .map_err(|e| NatsError::Subscribe(e.to_string()))?;
    let controls = client
        .subscribe(control.clone())
        .await
        .map_err(|e| NatsError::Subscribe(e.to_string()))?;
    let gone = format!("{control}.gone");
    let gones = client
        .subscribe(format!("{gone}.*"))
        .await
        .map_err(|e| NatsError::Subscribe(e.to_string()))?;
    let worker = Arc::new(Worker {
        bus: bus.clone(),
        dispatch,
        identity: Arc::new(export.identity),
        heartbeat: export.heartbeat,
        permits: Arc::new(Semaphore::new(export.max_in_flight)),
        in_flight: Mutex::default(),
        generations: std::sync::atomic::AtomicU64::new(0),
        streams: Mutex::default(),
        control,
        gone,
    });
    let shutdown = CancellationToken::new();
    let names: Arc<[Arc<str>]> = names.into();
    tokio::spawn(serve(
        worker,
        names.clone(),
        futures::stream::select_all(endpoints),
        aborts,
        controls,
        gones,
        shutdown.clone(),
    ));
    Ok(NatsExporter {
        service: Some(service),
        shutdown,
        operations: names.iter().map(|name| name.to_string()).collect(),
        subjects,
    })
}

async fn serve(
    worker: Arc<Worker>,
    names: Arc<[Arc<str>]>,
    mut requests: futures::stream::SelectAll<
        futures::stream::BoxStream<'static, (usize, async_nats::service::Request)>,
    >,
    mut aborts: async_nats::Subscriber,
    mut controls: async_nats::Subscriber,
    mut gones: async_nats::Subscriber,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            // Requests before aborts: a call's abort may already be read from the connection
            // when its request is, and must find the call running (`start` registers it).
            biased;
            () = shutdown.cancelled() => break,
            request = requests.next() => match request {
                Some((index, request)) => {
                    start(handle(worker.clone(), names[index].clone(), request));
                }
                None => break,
            },
            Some(message) = aborts.next() => {
                if let Ok(id) = std::str::from_utf8(&message.payload)
                    && let Some((_, abort)) = lock(&worker.in_flight).get(id)
                {
                    abort.cancel();
                }
            }
            Some(message) = controls.next() => worker.control(&message),
            Some(message) = gones.next() => worker.gone(&message),
        }
    }
}

/// Runs a call's first steps here, and hands it to a task of its own only if it must wait.
///
/// Most calls answer on their first poll (dispatch, the handler, the reply handed to the
/// connection). Spawning each one made the runtime wake another thread per call to look for
/// the new task: the bench's NATS line (`nats_cost`) read 0.61 of the bare gateway with a
/// task per call, 0.71 without. The price: a handler that computes for long before its first `.await` holds back
/// the calls behind it here, as it would hold back its runtime thread anyway (such work belongs
/// in `spawn_blocking`). A panic outside the handler (which dispatch already catches) ends
/// that call only, not the export.
fn start(call: impl Future<Output = ()> + Send + 'static) {
    let mut call = Box::pin(call);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::FutureExt::now_or_never(call.as_mut())
    })) {
        Ok(Some(())) => {}
        Ok(None) => {
            tokio::spawn(call);
        }
        Err(_) => tracing::error!("a bus call panicked outside its handler"),
    }
}

impl Worker {
    /// A gateway's acknowledgement of a stream's items, or its abort.
    fn control(&self, message: &Message) {
        let Ok(control) = serde_json::from_slice::<Value>(&message.payload) else {
            return;
        };
        let Some(id) = control["id"].as_str() else {
            return;
        };
        if let Some(ack) = control["ack"].as_u64()
            && let Some(acked) = lock(&self.streams).get(id)
        {
            acked.send_if_modified(|seen| {
                let newer = ack > *seen;
                if newer {
                    *seen = ack;
                }
                newer
            });
        }
        if control["abort"].as_bool() == Some(true)
            && let Some((_, abort)) = lock(&self.in_flight).get(id)
        {
            abort.cancel();
        }
    }

    async fn publish(&self, reply: &Subject, headers: HeaderMap, body: Bytes) {
        if let Err(e) = self
            .bus
            .client()
            .publish_with_headers(reply.clone(), headers, body)
            .await
        {
            tracing::debug!(error = %e, "a reply could not be published");
        }
    }

    /// Beats for the running call `generation`. The beat names this worker's control
    /// subject, where a gateway that no longer waits for the call (its abort lost on the way)
    /// sends the abort again; and it asks for a reply, so that when nobody at all listens on
    /// `reply` (the gateway died) the server answers "no responders" on [`Worker::gone`].
    async fn beat(&self, reply: &Subject, generation: u64) {
        let mut headers = wire::kind("beat");
        headers.insert(CONTROL, self.control.as_str());
        let gone = format!("{}.{generation}", self.gone);
        if let Err(e) = self
            .bus
            .client()
            .publish_with_reply_and_headers(reply.clone(), gone, headers, Bytes::new())
            .await
        {
            tracing::debug!(error = %e, "a beat could not be published");
        }
    }

    /// The server's word that a beat found nobody: the call's gateway is gone, and the call
    /// is aborted as if its caller went away (a Mutation still runs to its end).
    fn gone(&self, message: &Message) {
        if message.status != Some(async_nats::StatusCode::NO_RESPONDERS) {
            return;
        }
        let Some(generation) = wire::trailing_number(&message.subject) else {
            return;
        };
        // Rare (a gateway died), so a scan rather than a second index on every call.
        if let Some((_, abort)) = lock(&self.in_flight)
            .values()
            .find(|(g, _)| *g == generation)
        {
            abort.cancel();
        }
    }

    async fn fail(&self, reply: &Subject, error: &CallError) {
        let (headers, body) = wire::error_reply(error, wire::status_of(error));
        self.publish(reply, headers, body).await;
    }

    /// The reply body of `value`, or the error of an output the bus would refuse.
    fn body(&self, value: &Value) -> Result<Bytes, CallError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| CallError::internal(format!("the output is not JSON: {e}")))?;
        let max = self.bus.max_payload();
        if body.len() + wire::HEADER_ALLOWANCE > max {
            return Err(wire::output_too_large(body.len(), max));
        }
        Ok(body.into())
    }
}

/// Removes a call from the running ones when it ends (unless a later run took its id).
struct Running {
    worker: Arc<Worker>,
    id: Arc<str>,
    generation: u64,
    /// Whether it is a stream, whose acknowledgements are registered too.
    stream: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.worker.in_flight);
        if in_flight
            .get(&self.id)
            .is_some_and(|(g, _)| *g == self.generation)
        {
            in_flight.remove(&self.id);
            if self.stream {
                lock(&self.worker.streams).remove(&self.id);
            }
        }
    }
}

async fn handle(worker: Arc<Worker>, name: Arc<str>, request: async_nats::service::Request) {
    let message = &request.message;
    // A publish without a reply subject has nobody to answer; nothing runs for it.
    let Some(reply) = message.reply.clone() else {
        return;
    };
    let Ok(_permit) = worker.permits.clone().try_acquire_owned() else {
        let error = CallError::protocol(ErrorCode::Unavailable, "this worker is at capacity")
            .with_details(serde_json::json!({ "reason": "overloaded" }));
        worker.fail(&reply, &error).await;
        return;
    };
    let id = RequestId::from_header(wire::call_id(&reply)).unwrap_or_default();
    let deadline = header(message, DEADLINE_MS)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis);
    if deadline == Some(Duration::ZERO) {
        let error = CallError::timeout("the call's deadline passed before a worker took it");
        worker.fail(&reply, &error).await;
        return;
    }
    let input: Value = match serde_json::from_slice(&message.payload) {
        Ok(input) => input,
        Err(e) => {
            worker
                .fail(
                    &reply,
                    &CallError::invalid_input(format!("the input is not JSON: {e}")),
                )
                .await;
            return;
        }
    };
    let abort = CancellationToken::new();
    let generation = worker
        .generations
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key: Arc<str> = id.as_str().into();
    lock(&worker.in_flight).insert(key.clone(), (generation, abort.clone()));
    let mut running = Running {
        worker: worker.clone(),
        id: key,
        generation,
        stream: false,
    };
    let options = CallOptions {
        abort: Some(abort.clone()),
        request_id: Some(id),
        trace_parent: header(message, TRACEPARENT)
            .and_then(|tp| TraceParent::parse(tp, header(message, TRACESTATE))),
        forwarded_for: header(message, FORWARDED_FOR).and_then(|f| serde_json::from_str(f).ok()),
        timeout: deadline,
        ..CallOptions::default()
    };
    match header(message, WINDOW).and_then(|w| w.parse::<u64>().ok()) {
        Some(window) => {
            running.stream = true;
            stream(
                &worker,
                &running,
                &name,
                input,
                options,
                &reply,
                window.clamp(1, 1024),
            )
            .await;
        }
        None => once(&worker, &running, &name, input, options, &request, &reply).await,
    }
}

/// A Query or Mutation: beats while it runs, then its result.
async fn once(
    worker: &Worker,
    running: &Running,
    name: &str,
    input: Value,
    options: CallOptions,
    request: &async_nats::service::Request,
    reply: &Subject,
) {
    let heartbeat = worker.heartbeat;
    let call = worker
        .dispatch
        .call(Some(worker.identity.clone()), name, input, options);
    tokio::pin!(call);
    // Most calls answer on their first poll: no heartbeat timer for them.
    let result = match futures::FutureExt::now_or_never(&mut call) {
        Some(result) => result,
        None => {
            let mut beat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
            loop {
                tokio::select! {
                    biased;
                    result = &mut call => break result,
                    _ = beat.tick() => {
                        worker.beat(reply, running.generation).await;
                    }
                }
            }
        }
    };
    let answer = result
        .map_err(|failure| (failure.error, failure.status.as_u16()))
        .and_then(|output| worker.body(&output).map_err(|error| (error, 500)));
    // Through the service, which counts the call in its stats. A result is a plain reply,
    // without headers.
    let replied = match answer {
        Ok(body) => request.respond(Ok(body)).await,
        Err((error, status)) => {
            let (headers, body) = wire::error_reply(&error, status);
            request.respond_with_headers(Ok(body), headers).await
        }
    };
    if let Err(e) = replied {
        tracing::debug!(error = %e, "a reply could not be published");
    }
}

/// A subscription: items as they come, at most `window` unacknowledged, beats while idle,
/// then `done` or its error. Aborted (and its handler dropped) by the gateway's abort.
async fn stream(
    worker: &Worker,
    running: &Running,
    name: &str,
    input: Value,
    options: CallOptions,
    reply: &Subject,
    window: u64,
) {
    let abort = options.abort.clone().unwrap_or_default();
    let (acked_tx, mut acked) = watch::channel(0u64);
    lock(&worker.streams).insert(running.id.clone(), acked_tx);
    let mut items =
        worker
            .dispatch
            .invoke_streaming_with(Some(worker.identity.clone()), name, input, options);
    let heartbeat = worker.heartbeat;
    let mut beat = tokio::time::interval(heartbeat);
    let mut last_sent: Option<Instant> = None;
    let mut seq = 0u64;
    let send = async |last_sent: &mut Option<Instant>, mut headers: HeaderMap, body: Bytes| {
        if last_sent.is_none() {
            headers.insert(CONTROL, worker.control.as_str());
        }
        *last_sent = Some(Instant::now());
        worker.publish(reply, headers, body).await;
    };
    loop {
        let idle = last_sent.is_none_or(|at| at.elapsed() >= heartbeat);
        if seq.saturating_sub(*acked.borrow()) >= window {
            tokio::select! {
                () = abort.cancelled() => return,
                changed = acked.changed() => if changed.is_err() { return },
                _ = beat.tick() => if idle {
                    last_sent = Some(Instant::now());
                    worker.beat(reply, running.generation).await;
                },
            }
            continue;
        }
        tokio::select! {
            biased;
            () = abort.cancelled() => return,
            item = items.next() => match item.map(|envelope| envelope.result) {
                Some(Ok(value)) => match worker.body(&value) {
                    Ok(body) => {
                        seq += 1;
                        let mut headers = HeaderMap::new();
                        headers.insert(SEQ, seq.to_string());
                        send(&mut last_sent, headers, body).await;
                    }
                    Err(error) => {
                        let (headers, body) = wire::error_reply(&error, 500);
                        send(&mut last_sent, headers, body).await;
                        return;
                    }
                },
                Some(Err(error)) => {
                    let (headers, body) = wire::error_reply(&error, wire::status_of(&error));
                    send(&mut last_sent, headers, body).await;
                    return;
                }
                None => {
                    send(&mut last_sent, wire::kind("done"), Bytes::new()).await;
                    return;
                }
            },
            _ = beat.tick() => if idle {
                last_sent = Some(Instant::now());
                worker.beat(reply, running.generation).await;
            },
        }
    }
}
