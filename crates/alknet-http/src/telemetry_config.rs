//! `[telemetry]` in the node's TOML configuration (feature `cli`): where `/metrics` is served
//! and where traces are exported. See the `config` module for the whole file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::metrics::{CallMetrics, MetricsLimits};
use serde::Deserialize;

use crate::config_error::{ConfigError, fail};
use crate::metrics_endpoint::MetricsExposure;
use crate::telemetry::OtlpExport;

/// The `[telemetry]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Serve `/metrics` on a listener of its own at this address.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve `/metrics` on the main listeners to tokens holding this scope.
    pub metrics_scope: Option<String>,
    /// Distinct operation names in the metrics before `other` (default 512).
    pub max_operation_labels: Option<usize>,
    /// Export traces to this OTLP/HTTP collector.
    pub otlp_endpoint: Option<String>,
    /// `http/protobuf` (the default and only one compiled in).
    pub otlp_protocol: Option<String>,
    /// A file of `Name: value` lines sent as headers with every export.
    pub otlp_headers_file: Option<PathBuf>,
    /// The share of new traces recorded, 0.0–1.0 (default 1.0).
    pub sampling_ratio: Option<f64>,
    /// `service.name` of the exported spans (default `alknet-http`).
    pub service_name: Option<String>,
    /// Finished spans held for export at most; beyond it they are dropped (default 8192).
    pub max_queue_spans: Option<usize>,
    /// Spans in one export at most (default 2048).
    pub max_batch_spans: Option<usize>,
    /// How long a finished span waits at most before it is sent (default 1000).
    pub batch_delay_ms: Option<u64>,
}

/// The largest OTLP headers file read.
const MAX_HEADERS_FILE: u64 = 64 * 1024;

/// The node's metrics and where `/metrics` is served.
#[derive(Debug)]
pub struct MetricsSetup {
    /// What the registry counts into.
    pub metrics: Arc<CallMetrics>,
    /// Where `/metrics` is served.
    pub exposures: Vec<MetricsExposure>,
}

impl TelemetrySection {
    /// The trace export, when `otlp_endpoint` is set. `base` resolves a relative headers file.
    pub fn otlp(&self, base: &Path) -> Result<Option<OtlpExport>, ConfigError> {
        let Some(endpoint) = &self.otlp_endpoint else {
            if self.otlp_headers_file.is_some()
                || self.sampling_ratio.is_some()
                || self.otlp_protocol.is_some()
                || self.max_queue_spans.is_some()
                || self.max_batch_spans.is_some()
                || self.batch_delay_ms.is_some()
            {
                return fail("telemetry: the OTLP settings need `otlp_endpoint`");
            }
            return Ok(None);
        };
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return fail(format!(
                "telemetry: otlp_endpoint `{endpoint}` is not an http(s) URL"
            ));
        }
        match self.otlp_protocol.as_deref() {
            None | Some("http/protobuf") => {}
            Some(other) => {
                return fail(format!(
                    "telemetry: otlp_protocol `{other}` is not supported (only \"http/protobuf\")"
                ));
            }
        }
        let ratio = self.sampling_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&ratio) {
            return fail(format!(
                "telemetry: sampling_ratio {ratio} is not between 0 and 1"
            ));
        }
        let mut export = OtlpExport::new(endpoint.clone()).with_sampling_ratio(ratio);
        if self.max_queue_spans == Some(0) || self.max_batch_spans == Some(0) {
            return fail("telemetry: `max_queue_spans` and `max_batch_spans` must be at least 1");
        }
        let (queue, batch, delay) = (
            self.max_queue_spans.unwrap_or(export.max_queue_spans),
            self.max_batch_spans.unwrap_or(export.max_batch_spans),
            self.batch_delay_ms
                .map_or(export.batch_delay, Duration::from_millis),
        );
        export = export.with_batching(queue, batch, delay);
        if let Some(name) = &self.service_name {
            export = export.with_service_name(name.clone());
        }
        if let Some(file) = &self.otlp_headers_file {
            let file = if file.is_absolute() {
                file.clone()
            } else {
                base.join(file)
            };
            export = export.with_headers(read_headers(&file)?);
        }
        Ok(Some(export))
    }

    /// The metrics and their exposures; `None` when `/metrics` is not served.
    pub(crate) fn metrics(&self) -> Result<Option<MetricsSetup>, ConfigError> {
        let mut exposures = Vec::new();
        if let Some(addr) = self.metrics_listen {
            exposures.push(MetricsExposure::Listener(addr));
        }
        if let Some(scope) = &self.metrics_scope {
            if scope.trim().is_empty() {
                return fail("telemetry: `metrics_scope` is empty");
            }
            exposures.push(MetricsExposure::Scoped(scope.clone()));
        }
        if exposures.is_empty() {
            if self.max_operation_labels.is_some() {
                return fail(
                    "telemetry: `max_operation_labels` needs `metrics_listen` or `metrics_scope`",
                );
            }
            return Ok(None);
        }
        let defaults = MetricsLimits::default();
        let limits = defaults
            .with_max_operations(self.max_operation_labels.unwrap_or(defaults.max_operations));
        Ok(Some(MetricsSetup {
            metrics: Arc::new(CallMetrics::with_limits(limits)),
            exposures,
        }))
    }
}

/// `Name: value` lines (blank lines and `#` comments skipped), at most [`MAX_HEADERS_FILE`].
fn read_headers(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    use std::io::Read as _;
    let shown = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_HEADERS_FILE + 1).read_to_string(&mut text))
        .map_err(|e| ConfigError::Invalid(format!("telemetry: cannot read {shown}: {e}")))?;
    if text.len() as u64 > MAX_HEADERS_FILE {
        return fail(format!(
            "telemetry: {shown} is larger than {MAX_HEADERS_FILE} bytes"
        ));
    }
    let mut headers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return fail(format!(
                "telemetry: {shown} line {}: not `Name: value`",
                n + 1
            ));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}
