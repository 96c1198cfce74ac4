//! What every call reports: its span (see [`crate::trace`]), its metrics (when the registry
//! counts calls) and, for root calls, one access-log event (target [`ACCESS_LOG`], level INFO:
//! surface, operation, identity id, outcome code, duration, request id, and the trace id when
//! the call is traced or its caller sent one) when a subscriber wants it.

use std::sync::Arc;
use std::time::Instant;

use crate::envelope::ResponseEnvelope;
use crate::identity::Identity;
use crate::metrics::{ABANDONED, CallMetrics, CallTimer};
use crate::trace::{self, TraceParent};

/// The `tracing` target of the access log: one event per root call.
pub const ACCESS_LOG: &str = "alknet::access";

/// A call being observed; see [`Observed::start`].
pub(crate) struct Observed {
    timer: Option<CallTimer>,
    access: Option<Access>,
    /// The call's span (disabled when no subscriber wants it).
    span: tracing::Span,
    /// Whether `span` is the surface's own, which the surface already runs the call in.
    hosted: bool,
}

/// What the access-log line of a root call says besides its outcome.
struct Access {
    surface: &'static str,
    operation: String,
    identity: Option<String>,
    request_id: String,
    /// The caller's trace id (a session's `meta`), when the span itself records none.
    trace_id: Option<String>,
    started: Instant,
}

/// What the call path knows of a call as it starts.
pub(crate) struct CallFacts<'a> {
    /// The operation's name (the name called, when it resolved to none).
    pub(crate) operation: &'a str,
    /// Whether the name resolved to an operation.
    pub(crate) known: bool,
    /// Where the env counts calls.
    pub(crate) metrics: Option<&'a Arc<CallMetrics>>,
    /// The surface of a root call; `None` for a composed one.
    pub(crate) surface: Option<&'static str>,
    pub(crate) identity: Option<&'a Identity>,
    pub(crate) request_id: &'a str,
    pub(crate) trace_parent: Option<&'a TraceParent>,
    pub(crate) host_span: Option<&'a tracing::Span>,
}

impl Observed {
    /// Starts observing a call, or `None` when nothing wants it: no metrics, no span (no
    /// subscriber listening) and no access log (a composed call, or no subscriber).
    pub(crate) fn start(call: CallFacts<'_>) -> Option<Self> {
        let operation = call.operation;
        let timer = call
            .metrics
            .map(|metrics| metrics.call_started(operation, call.known));
        // Not `tracing::enabled!`: under per-layer filters it leaves its verdict behind for the
        // next span, which then looked disabled to the trace exporter. The access event is
        // filtered as it is emitted; building it costs nothing without any subscriber.
        let access = call
            .surface
            .filter(|_| tracing::dispatcher::has_been_set())
            .map(|surface| Access {
                surface,
                operation: operation.to_owned(),
                identity: call.identity.map(|i| i.id.clone()),
                request_id: call.request_id.to_owned(),
                trace_id: call.trace_parent.map(|parent| parent.trace_id().to_owned()),
                started: Instant::now(),
            });
        let (span, hosted) = trace::call_span(
            operation,
            call.surface,
            call.identity.map(|i| i.id.as_str()),
            call.trace_parent,
            call.host_span,
        );
        (timer.is_some() || access.is_some() || !span.is_disabled()).then_some(Observed {
            timer,
            access,
            span,
            hosted,
        })
    }

    /// The span the call's future must run in: `None` when it is the surface's own span, which
    /// the surface already runs it in (entering a span again on every poll costs the exporter
    /// a lock and a clock read each time, for nothing).
    pub(crate) fn span_to_enter(&self) -> Option<&tracing::Span> {
        (!self.hosted && !self.span.is_disabled()).then_some(&self.span)
    }

    /// Counts one subscription item.
    pub(crate) fn item(&self) {
        if let Some(timer) = &self.timer {
            timer.item();
        }
    }

    /// The call answered `reply` (a subscription: its error item).
    pub(crate) fn finish(mut self, reply: &ResponseEnvelope) {
        if let Some(timer) = self.timer.take() {
            timer.finish(reply);
        }
        let code = match &reply.result {
            Ok(_) => "OK",
            Err(error) => {
                trace::record_error(&self.span, &error.code);
                error.code.as_str()
            }
        };
        self.log(code);
    }

    /// A subscription ended without an error.
    pub(crate) fn finish_stream(mut self) {
        if let Some(timer) = self.timer.take() {
            timer.finish_ok();
        }
        self.log("OK");
    }

    fn log(&mut self, code: &str) {
        if let Some(access) = self.access.take() {
            // The field values are evaluated inside the macro, only when a layer wants the
            // event: the span's trace id is formatted for the log, not for every call.
            tracing::info!(
                target: ACCESS_LOG,
                surface = access.surface,
                operation = %access.operation,
                identity = access.identity.as_deref().unwrap_or("-"),
                code,
                duration_ms = access.started.elapsed().as_secs_f64() * 1000.0,
                request_id = %access.request_id,
                // The span's when it is recorded (it has the caller's trace id, or a new one).
                trace_id = TraceParent::of_span(&self.span)
                    .as_ref()
                    .map(TraceParent::trace_id)
                    .or(access.trace_id.as_deref()),
                "call"
            );
        }
    }
}

impl Drop for Observed {
    /// A call dropped before it answered: its caller went away.
    fn drop(&mut self) {
        self.log(ABANDONED);
    }
}
