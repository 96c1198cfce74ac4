//! `from_nats`: the operations advertised on the bus (the NATS service API's `INFO` of every
//! node exporting them) as operations of this node, kept in step as nodes come and go.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::adapter::{AdapterError, OperationAdapter};
use alknet_http_core::{HandlerKind, HandlerRegistration, OperationOverlay};
use alknet_http_core::{OperationSpec, OperationType, Provenance, Visibility};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::connect::Bus;
use crate::error::NatsError;
use crate::export_config::{OPERATION_KEY, SPEC_KEY, selected};
use crate::forward::Forwarder;
use crate::mux::Mux;
use crate::subject::is_token;
use crate::wire;

/// What a node imports from the bus.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsImport {
    /// The service to import (what the workers export as). Default `alknet`.
    pub service: String,
    /// A namespace the imported names are put under (`w` → `w/demo/echo`); none keeps them.
    pub namespace_prefix: Option<String>,
    /// The operations imported: names, or `namespace/*` (as advertised); empty imports all.
    pub operations: Vec<String>,
    /// The imported operations' visibility. Default `Internal`, like every import: hub-side
    /// code composes them; `External` offers them to this node's callers (each checked
    /// against the operation's own access control).
    pub visibility: Visibility,
    /// How often the bus is asked what it serves. Default 2 s.
    pub refresh: Duration,
    /// How long the answers of one discovery are gathered. Default 250 ms.
    pub discovery_window: Duration,
    /// How many discoveries in a row must miss an operation before [`FromNats::follow`]
    /// withdraws it. Default 3: a worker too busy to answer one discovery in time (or one
    /// leaving as another joins) does not make the operation vanish; meanwhile its calls go
    /// to whatever serves the subject, and fail `UNAVAILABLE` when nothing does.
    pub withdraw_after: u32,
    /// The workers' heartbeat; a worker silent for three of them is taken for gone. Default
    /// 1 s (the workers' default).
    pub heartbeat: Duration,
    /// How often a Query is sent again when its worker was lost or full. Default 1.
    pub query_retries: usize,
    /// A subscription's items a worker may send ahead of what was read. Default 64.
    pub stream_window: u64,
}

impl Default for NatsImport {
    fn default() -> Self {
        NatsImport {
            service: "alknet".into(),
            namespace_prefix: None,
            operations: Vec::new(),
            visibility: Visibility::Internal,
            refresh: Duration::from_secs(2),
            discovery_window: Duration::from_millis(250),
            withdraw_after: 3,
            heartbeat: Duration::from_secs(1),
            query_retries: 1,
            stream_window: 64,
        }
    }
}

impl NatsImport {
    /// Sets the service imported.
    #[must_use]
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Puts the imported names under `prefix`.
    #[must_use]
    pub fn with_namespace_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.namespace_prefix = Some(prefix.into());
        self
    }

    /// Imports only these operations (names, or `namespace/*`).
    #[must_use]
    pub fn with_operations<I, S>(mut self, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations = operations.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the visibility of the imported operations.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets how often the bus is asked what it serves.
    #[must_use]
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh.max(Duration::from_millis(50));
        self
    }

    /// Sets the workers' heartbeat this node expects.
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(10));
        self
    }

    /// Sets how often a Query is sent again.
    #[must_use]
    pub fn with_query_retries(mut self, retries: usize) -> Self {
        self.query_retries = retries;
        self
    }

    /// Sets a subscription's window.
    #[must_use]
    pub fn with_stream_window(mut self, window: u64) -> Self {
        self.stream_window = window.clamp(1, 1024);
        self
    }

    /// Sets [`NatsImport::withdraw_after`] (at least 1).
    #[must_use]
    pub fn with_withdraw_after(mut self, discoveries: u32) -> Self {
        self.withdraw_after = discoveries.max(1);
        self
    }
}

/// An operation advertised on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Advertised {
    /// Its spec, as the worker gave it.
    pub spec: OperationSpec,
    /// The subject it is served on.
    pub subject: String,
    /// How many nodes serve it.
    pub nodes: usize,
}

/// Imports the operations a service advertises on the bus.
pub struct FromNats {
    config: NatsImport,
    forwarder: Arc<Forwarder>,
}

impl std::fmt::Debug for FromNats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromNats")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FromNats {
    /// An importer over `bus` (it subscribes to its reply subjects now).
    pub async fn new(bus: &Bus, config: NatsImport) -> Result<Self, NatsError> {
        if !is_token(&config.service) {
            return Err(NatsError::Config(format!(
                "service name `{}`: only A-Z a-z 0-9 - _",
                config.service
            )));
        }
        if let Some(prefix) = &config.namespace_prefix
            && (prefix.is_empty() || prefix.contains('/'))
        {
            return Err(NatsError::Config(format!(
                "namespace prefix `{prefix}`: one segment"
            )));
        }
        let forwarder = Arc::new(Forwarder {
            bus: bus.clone(),
            mux: Mux::start(bus).await?,
            abort_subject: wire::abort_subject(&config.service).into(),
            silence: config.heartbeat * 3,
            query_retries: config.query_retries,
            window: config.stream_window,
            import: format!("nats:{}", config.service).into(),
        });
        Ok(FromNats { config, forwarder })
    }

    /// What the service's nodes advertise now, by operation name (as advertised).
    pub async fn advertised(&self) -> Result<BTreeMap<String, Advertised>, NatsError> {
        let bus = &self.forwarder.bus;
        if !bus.is_connected() {
            return Err(NatsError::Connect(
                "the message bus is not connected".into(),
            ));
        }
        let mut slot = self.forwarder.mux.slot(1024);
        bus.client()
            .publish_with_reply(
                format!("$SRV.INFO.{}", self.config.service),
                slot.subject.clone(),
                bytes::Bytes::new(),
            )
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))?;
        let mut found: BTreeMap<String, Advertised> = BTreeMap::new();
        let until = tokio::time::sleep(self.config.discovery_window);
        tokio::pin!(until);
        loop {
            let message = tokio::select! {
                message = slot.replies.recv() => message,
                () = &mut until => break,
            };
            let Some(message) = message else { break };
            let Ok(info) = serde_json::from_slice::<async_nats::service::Info>(&message.payload)
            else {
                tracing::warn!("an INFO answer on the bus is not a service's");
                continue;
            };
            for endpoint in info.endpoints {
                let (Some(name), Some(spec)) = (
                    endpoint.metadata.get(OPERATION_KEY),
                    endpoint.metadata.get(SPEC_KEY),
                ) else {
                    continue;
                };
                let spec: OperationSpec = match serde_json::from_str(spec) {
                    Ok(spec) => spec,
                    Err(e) => {
                        tracing::warn!(operation = %name, error = %e, "an advertised spec does not parse");
                        continue;
                    }
                };
                match found.get_mut(name) {
                    Some(known) if known.spec == spec && known.subject == endpoint.subject => {
                        known.nodes += 1;
                    }
                    Some(_) => {
                        // Two versions of one operation (a rolling upgrade): the first stays.
                        tracing::warn!(operation = %name, node = %info.id, "nodes advertise different specs");
                    }
                    None => {
                        found.insert(
                            name.clone(),
                            Advertised {
                                spec,
                                subject: endpoint.subject,
                                nodes: 1,
                            },
                        );
                    }
                }
            }
        }
        Ok(found)
    }

    /// Whether no node serves the service: its `PING` subject has no subscriber (the
    /// server's no-responders status). An answer, or none in time, says someone may.
    async fn nobody_serves(&self) -> bool {
        let forwarder = &self.forwarder;
        let mut slot = forwarder.mux.slot(1);
        let asked = forwarder
            .bus
            .client()
            .publish_with_reply(
                format!("$SRV.PING.{}", self.config.service),
                slot.subject.clone(),
                bytes::Bytes::new(),
            )
            .await;
        if asked.is_err() {
            return false;
        }
        let answer = tokio::time::timeout(self.config.discovery_window * 4, slot.replies.recv());
        matches!(answer.await, Ok(Some(reply)) if reply.status == Some(async_nats::StatusCode::NO_RESPONDERS))
    }

    /// The registrations of what is advertised now.
    pub async fn plan(&self) -> Result<Vec<HandlerRegistration>, NatsError> {
        Ok(self
            .advertised()
            .await?
            .into_values()
            .filter(|ad| selected(&self.config.operations, &ad.spec.name))
            .map(|ad| self.registration(ad))
            .collect())
    }

    fn registration(&self, advertised: Advertised) -> HandlerRegistration {
        let Advertised {
            mut spec, subject, ..
        } = advertised;
        if let Some(prefix) = &self.config.namespace_prefix {
            spec.name = format!("{prefix}/{}", spec.name);
            spec.namespace = prefix.clone();
        }
        spec.visibility = self.config.visibility;
        let forwarder = self.forwarder.clone();
        // A `Subject` clones without copying: each call publishes to it.
        let subject = async_nats::Subject::from(subject);
        let op_type = spec.op_type;
        let handler = match op_type {
            OperationType::Subscription => HandlerKind::stream(move |input, ctx| {
                forwarder.clone().stream(subject.clone(), input, ctx)
            }),
            _ => HandlerKind::once(move |input, ctx| {
                let forwarder = forwarder.clone();
                let subject = subject.clone();
                async move { forwarder.once(&subject, op_type, input, &ctx).await }
            }),
        };
        HandlerRegistration::leaf(spec, handler, Provenance::FromNats)
    }

    /// Keeps `layer` in step with the bus: asks what it serves every `refresh` and swaps the
    /// layer's operations in one step when that changed (nodes starting, stopping, dying).
    /// Stops when the handle is dropped.
    pub fn follow(self, layer: Arc<OperationOverlay>) -> Following {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let mut current: Option<Vec<(String, String)>> = None;
            // What was advertised, by name, with how many discoveries in a row missed it.
            let mut known: BTreeMap<String, (Advertised, u32)> = BTreeMap::new();
            let mut tick = tokio::time::interval(self.config.refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let advertised = match self.advertised().await {
                    Ok(advertised) => advertised,
                    Err(e) => {
                        // The bus away: what was imported stays, and calls fail fast.
                        tracing::debug!(error = %e, "discovery on the bus");
                        continue;
                    }
                };
                // Nobody answered in time: a miss only when nobody serves the service at all
                // (a busy node or a slow gateway answers late, and its operations stay).
                if advertised.is_empty() && !known.is_empty() && !self.nobody_serves().await {
                    continue;
                }
                for (_, misses) in known.values_mut() {
                    *misses += 1;
                }
                for (name, ad) in advertised {
                    if selected(&self.config.operations, &ad.spec.name) {
                        known.insert(name, (ad, 0));
                    }
                }
                known.retain(|_, (_, misses)| *misses < self.config.withdraw_after);
                let wanted: Vec<Advertised> = known.values().map(|(ad, _)| ad.clone()).collect();
                let key: Vec<(String, String)> = wanted
                    .iter()
                    .map(|ad| (ad.spec.name.clone(), ad.subject.clone()))
                    .collect();
                if current.as_ref() == Some(&key) {
                    continue;
                }
                let count = wanted.len();
                let registrations: Vec<_> =
                    wanted.into_iter().map(|ad| self.registration(ad)).collect();
                match layer.replace_all(registrations) {
                    Ok(()) => {
                        tracing::info!(service = %self.config.service, operations = count, "imported from the bus");
                        current = Some(key);
                    }
                    Err(e) => tracing::warn!(error = %e, "operations from the bus not imported"),
                }
            }
        });
        Following { stop }
    }
}

/// A running [`FromNats::follow`]; dropping it stops following (the operations stay).
#[derive(Debug)]
pub struct Following {
    stop: CancellationToken,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl OperationAdapter for FromNats {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        async move {
            self.plan()
                .await
                .map_err(|e| AdapterError::transport(e.to_string()))
        }
        .boxed()
    }
}
