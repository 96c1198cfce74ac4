//! Exporting the node's spans over OTLP (feature `cli`): the `alknet::call` and
//! `alknet::http` spans of the call path (see `alknet_http_core::trace`) become OpenTelemetry
//! spans, batched and sent as OTLP over HTTP (protobuf) to a collector.
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//! use alknet_http::telemetry::{OtlpExport, TraceExport};
//!
//! let export = TraceExport::start(&OtlpExport::new("http://127.0.0.1:4318")).unwrap();
//! tracing_subscriber::registry().with(export.layer()).init();
//! // … run the node; then, before exiting:
//! export.shutdown();
//! ```

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use alknet_http_core::trace::{CALL_SPAN, HTTP_SPAN};

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OtlpExport {
    /// The collector's OTLP/HTTP base URL (`http://host:4318`); spans go to `/v1/traces`
    /// under it unless the URL already ends so.
    pub endpoint: String,
    /// Headers sent with every export (an API key of a hosted collector).
    pub headers: Vec<(String, String)>,
    /// The share of new traces recorded, 0.0–1.0; a caller's sampling decision is followed
    /// (parent-based). Default 1.0.
    pub sampling_ratio: f64,
    /// `service.name` of the spans. Default `alknet-http`.
    pub service_name: String,
    /// How long one export may take. Default 10 s.
    pub timeout: Duration,
    /// Finished spans held for export at most; spans beyond it are dropped (and counted by
    /// the SDK) rather than slowing calls down while the collector is slow or away. Default
    /// 8192.
    pub max_queue_spans: usize,
    /// Spans sent in one export at most. Default 2048.
    pub max_batch_spans: usize,
    /// How long a span waits at most before it is sent with fewer than a full batch.
    /// Default 1 s.
    pub batch_delay: Duration,
}

impl OtlpExport {
    /// Export to `endpoint`, every trace, as `alknet-http`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpExport {
            endpoint: endpoint.into(),
            headers: Vec::new(),
            sampling_ratio: 1.0,
            service_name: "alknet-http".to_owned(),
            timeout: Duration::from_secs(10),
            max_queue_spans: 8192,
            max_batch_spans: 2048,
            batch_delay: Duration::from_secs(1),
        }
    }

    /// Sets the headers.
    #[must_use]
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the sampling ratio (clamped to 0.0–1.0).
    #[must_use]
    pub fn with_sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = ratio.clamp(0.0, 1.0);
        self
    }

    /// Sets how spans are batched: at most `max_queue_spans` held (at least 1; beyond it they
    /// are dropped), at most `max_batch_spans` per export (at most the queue), each sent
    /// within `batch_delay`.
    #[must_use]
    pub fn with_batching(
        mut self,
        max_queue_spans: usize,
        max_batch_spans: usize,
        batch_delay: Duration,
    ) -> Self {
        self.max_queue_spans = max_queue_spans.max(1);
        self.max_batch_spans = max_batch_spans.clamp(1, self.max_queue_spans);
        self.batch_delay = batch_delay;
        self
    }

    /// Sets `service.name`.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

/// A running export: its `tracing` layer, and the batch to flush before the process ends.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Starts the exporter (a background thread batches and sends spans).
    pub fn start(config: &OtlpExport) -> Result<Self, String> {
        alknet_http_core::client::install_crypto_provider();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url())
            .with_headers(config.headers.iter().cloned().collect::<HashMap<_, _>>())
            .with_timeout(config.timeout)
            .build()
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio)));
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(config.max_queue_spans)
            .with_max_export_batch_size(config.max_batch_spans)
            .with_scheduled_delay(config.batch_delay)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(batch)
                    .build(),
            )
            .with_sampler(sampler)
            .with_resource(
                Resource::builder_empty()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        Ok(TraceExport { provider })
    }

    /// The layer that turns the node's call and HTTP spans into exported spans (other spans
    /// and events are left to the other layers).
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let targets = Targets::new()
            .with_target(CALL_SPAN, tracing::Level::INFO)
            .with_target(HTTP_SPAN, tracing::Level::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("alknet-http"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_context_activation(false)
            .with_filter(targets)
    }

    /// Sends every finished span now.
    pub fn flush(&self) -> Result<(), String> {
        self.provider.force_flush().map_err(|e| e.to_string())
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
        }
    }
}
