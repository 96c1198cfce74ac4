//! [`CallMetrics`]: what the call path, the sessions and the imports count, encoded in the
//! Prometheus text format (OpenMetrics) for a `/metrics` endpoint.
//!
//! A registry built [`with_metrics`](crate::RegistryBuilder::with_metrics) records every call
//! that goes through it — root and composed, on every surface — and every session that serves
//! it. Label values are bounded: operation names past [`MetricsLimits::max_operations`]
//! collapse into `other`, names that resolve to no operation into `unknown`, and error codes
//! past [`MetricsLimits::max_codes`] into `OTHER`.
//!
//! ```
//! use std::sync::Arc;
//! use alknet_http_core::metrics::CallMetrics;
//! use alknet_http_core::{GatewayDispatch, HandlerKind, OperationRegistry, OperationSpec};
//! use alknet_http_core::identity::AnonymousOnly;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let metrics = Arc::new(CallMetrics::new());
//! let registry = OperationRegistry::builder()
//!     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|i, _| async move { Ok(i) }), Default::default())
//!     .with_metrics(metrics.clone())
//!     .build()
//!     .unwrap();
//! let dispatch = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
//! dispatch.invoke(None, "demo/echo", serde_json::json!(1)).await;
//! let text = metrics.encode();
//! assert!(text.contains(r#"alknet_call_duration_seconds_count{operation="demo/echo",code="OK"} 1"#));
//! # });
//! ```

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::envelope::ResponseEnvelope;

/// Bucket bounds of the duration histograms, in seconds: 0.5 ms to 30 s.
const BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label of a call to a name that resolves to no operation.
pub const UNKNOWN_OPERATION: &str = "unknown";
/// The label of operations past the limit.
pub const OTHER_OPERATION: &str = "other";
/// The code label of a call whose caller went away before it answered.
pub const ABANDONED: &str = "ABANDONED";

/// How many distinct label values the metrics keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsLimits {
    /// Distinct operation names; later ones are counted as `other`. Import names (the
    /// upstream series) are bounded by it too, on their own. Default 512.
    pub max_operations: usize,
    /// Distinct error codes; later ones are counted as `OTHER`. Default 128.
    pub max_codes: usize,
}

impl Default for MetricsLimits {
    fn default() -> Self {
        MetricsLimits {
            max_operations: 512,
            max_codes: 128,
        }
    }
}

impl MetricsLimits {
    /// Sets `max_operations`.
    #[must_use]
    pub fn with_max_operations(mut self, max: usize) -> Self {
        self.max_operations = max;
        self
    }

    /// Sets `max_codes`.
    #[must_use]
    pub fn with_max_codes(mut self, max: usize) -> Self {
        self.max_codes = max;
        self
    }
}

type Label = Arc<String>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: Label,
    code: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabel {
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabel {
    import: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportErrorLabels {
    import: Label,
    code: Label,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Interns label values up to a limit, so that a label costs an `Arc` clone per call and the
/// set of values stays bounded; with each value, what was made for it once (`V`).
#[derive(Debug)]
struct Interner<V = Label> {
    values: RwLock<HashMap<String, V>>,
    max: usize,
    overflow: V,
}

impl<V: Clone> Interner<V> {
    fn new(max: usize, overflow: V) -> Self {
        Interner {
            values: RwLock::new(HashMap::new()),
            max,
            overflow,
        }
    }

    /// What `value` was interned as, made from its label by `make` the first time.
    fn get_with(&self, value: &str, make: impl FnOnce(Label) -> V) -> V {
        if let Some(interned) = self
            .values
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(value)
        {
            return interned.clone();
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if let Some(interned) = values.get(value) {
            return interned.clone();
        }
        if values.len() >= self.max {
            return self.overflow.clone();
        }
        let interned = make(Arc::new(value.to_owned()));
        values.insert(value.to_owned(), interned.clone());
        interned
    }
}

impl Interner {
    fn labels(max: usize, overflow: &str) -> Self {
        Interner::new(max, Arc::new(overflow.to_owned()))
    }

    fn get(&self, value: &str) -> Label {
        self.get_with(value, |label| label)
    }
}

/// An operation's label and its series that every call of it touches, looked up in their
/// families once rather than at every call (each lookup hashes the label values and takes the
/// family's lock).
#[derive(Debug)]
struct OperationMetrics {
    label: Label,
    /// Made at the first call (so `other` and `unknown` have no series until a call is
    /// counted as one).
    in_flight: OnceLock<Gauge>,
    /// Made at the first call that succeeds (an operation that never did has no such series).
    ok: OnceLock<Histogram>,
    /// Made at the first item.
    items: OnceLock<Counter>,
}

impl OperationMetrics {
    fn new(label: Label) -> Arc<Self> {
        Arc::new(OperationMetrics {
            label,
            in_flight: OnceLock::new(),
            ok: OnceLock::new(),
            items: OnceLock::new(),
        })
    }

    /// Its in-flight gauge in `family`, made the first time.
    fn in_flight(&self, family: &Family<OperationLabel, Gauge>) -> &Gauge {
        self.in_flight.get_or_init(|| {
            family
                .get_or_create(&OperationLabel {
                    operation: self.label.clone(),
                })
                .clone()
        })
    }
}

/// The node's metrics. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug)]
pub struct CallMetrics {
    registry: Registry,
    calls: Histograms<CallLabels>,
    in_flight: Family<OperationLabel, Gauge>,
    items: Family<OperationLabel, Counter>,
    sessions: Family<SurfaceLabel, Gauge>,
    upstream: Histograms<ImportLabel>,
    upstream_errors: Family<ImportErrorLabels, Counter>,
    operations: Interner<Arc<OperationMetrics>>,
    imports: Interner,
    codes: Interner,
    ok: Label,
    abandoned: Label,
    unknown: Arc<OperationMetrics>,
}

impl Default for CallMetrics {
    fn default() -> Self {
        CallMetrics::with_limits(MetricsLimits::default())
    }
}

impl CallMetrics {
    /// Metrics with the default limits.
    pub fn new() -> Self {
        CallMetrics::default()
    }

    /// Metrics keeping at most `limits` distinct label values.
    pub fn with_limits(limits: MetricsLimits) -> Self {
        let mut registry = Registry::default();
        let calls = Histograms::<CallLabels>::new_with_constructor(histogram as fn() -> _);
        registry.register_with_unit(
            "alknet_call_duration",
            "Duration of calls by operation and outcome code (OK or the error code)",
            prometheus_client::registry::Unit::Seconds,
            calls.clone(),
        );
        let in_flight = Family::<OperationLabel, Gauge>::default();
        registry.register(
            "alknet_calls_in_flight",
            "Calls running now",
            in_flight.clone(),
        );
        let items = Family::<OperationLabel, Counter>::default();
        registry.register(
            "alknet_subscription_items",
            "Items subscriptions produced",
            items.clone(),
        );
        let sessions = Family::<SurfaceLabel, Gauge>::default();
        registry.register(
            "alknet_sessions",
            "Live sessions and streams by surface",
            sessions.clone(),
        );
        let upstream = Histograms::<ImportLabel>::new_with_constructor(histogram as fn() -> _);
        registry.register_with_unit(
            "alknet_upstream_duration",
            "Duration of requests to imported upstreams, by import",
            prometheus_client::registry::Unit::Seconds,
            upstream.clone(),
        );
        let upstream_errors = Family::<ImportErrorLabels, Counter>::default();
        registry.register(
            "alknet_upstream_errors",
            "Failed requests to imported upstreams, by import and error code",
            upstream_errors.clone(),
        );
        let other = OperationMetrics::new(Arc::new(OTHER_OPERATION.to_owned()));
        let unknown = OperationMetrics::new(Arc::new(UNKNOWN_OPERATION.to_owned()));
        CallMetrics {
            registry,
            calls,
            in_flight,
            items,
            sessions,
            upstream,
            upstream_errors,
            operations: Interner::new(limits.max_operations, other),
            imports: Interner::labels(limits.max_operations, OTHER_OPERATION),
            codes: Interner::labels(limits.max_codes, "OTHER"),
            ok: Arc::new("OK".to_owned()),
            abandoned: Arc::new(ABANDONED.to_owned()),
            unknown,
        }
    }

    /// A call of `name` starts (`known`: the name resolved to an operation). The returned
    /// timer records it when [`CallTimer::finish`]ed, or as abandoned when dropped.
    pub(crate) fn call_started(self: &Arc<Self>, name: &str, known: bool) -> CallTimer {
        let operation = if known {
            self.operations.get_with(name, OperationMetrics::new)
        } else {
            self.unknown.clone()
        };
        operation.in_flight(&self.in_flight).inc();
        CallTimer {
            metrics: self.clone(),
            operation,
            started: Instant::now(),
            done: false,
        }
    }

    /// A session (or stream) of `surface` opened; it counts as live until the guard drops.
    pub fn session_opened(self: &Arc<Self>, surface: &'static str) -> SessionGuard {
        self.sessions.get_or_create(&SurfaceLabel { surface }).inc();
        SessionGuard {
            metrics: self.clone(),
            surface,
        }
    }

    /// A request to the upstream of `import` took `elapsed`; `error` is its error code when
    /// it failed.
    pub fn upstream_request(&self, import: &str, elapsed: Duration, error: Option<&str>) {
        let import = self.imports.get(import);
        self.upstream
            .get_or_create(&ImportLabel {
                import: import.clone(),
            })
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.upstream_errors
                .get_or_create(&ImportErrorLabels {
                    import,
                    code: self.codes.get(code),
                })
                .inc();
        }
    }

    /// The metrics in the Prometheus text format (OpenMetrics 1.0), with the process's basics
    /// (CPU seconds, resident memory, open files, start time) where the platform tells them.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        crate::metrics_process::encode(&mut text);
        let _ = prometheus_client::encoding::text::encode_eof(&mut text);
        text
    }

    /// The content type of [`CallMetrics::encode`]'s text.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
}

/// A call being timed; see [`CallMetrics::call_started`].
#[derive(Debug)]
pub(crate) struct CallTimer {
    metrics: Arc<CallMetrics>,
    operation: Arc<OperationMetrics>,
    started: Instant,
    done: bool,
}

impl CallTimer {
    /// Records the call with its outcome.
    pub(crate) fn finish(mut self, reply: &ResponseEnvelope) {
        let code = match &reply.result {
            Ok(_) => self.metrics.ok.clone(),
            Err(error) => self.metrics.codes.get(&error.code),
        };
        self.record(code);
    }

    /// Counts one subscription item.
    pub(crate) fn item(&self) {
        self.operation
            .items
            .get_or_init(|| {
                self.metrics
                    .items
                    .get_or_create(&OperationLabel {
                        operation: self.operation.label.clone(),
                    })
                    .clone()
            })
            .inc();
    }

    /// Records a stream that ended without an error.
    pub(crate) fn finish_ok(mut self) {
        let ok = self.metrics.ok.clone();
        self.record(ok);
    }

    fn record(&mut self, code: Label) {
        self.done = true;
        let operation = &self.operation;
        operation.in_flight(&self.metrics.in_flight).dec();
        let elapsed = self.started.elapsed().as_secs_f64();
        let calls = &self.metrics.calls;
        let labels = |code| CallLabels {
            operation: operation.label.clone(),
            code,
        };
        if Arc::ptr_eq(&code, &self.metrics.ok) {
            operation
                .ok
                .get_or_init(|| calls.get_or_create(&labels(code)).clone())
                .observe(elapsed);
        } else {
            calls.get_or_create(&labels(code)).observe(elapsed);
        }
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        if !self.done {
            let abandoned = self.metrics.abandoned.clone();
            self.record(abandoned);
        }
    }
}

/// A live session or stream; see [`CallMetrics::session_opened`].
#[derive(Debug)]
pub struct SessionGuard {
    metrics: Arc<CallMetrics>,
    surface: &'static str,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.metrics
            .sessions
            .get_or_create(&SurfaceLabel {
                surface: self.surface,
            })
            .dec();
    }
}
