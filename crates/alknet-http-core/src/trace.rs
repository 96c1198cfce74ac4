//! Trace context across nodes and upstreams: W3C `traceparent`/`tracestate` read from what
//! a caller sent (HTTP headers, `meta` on `call.requested`) and written on what this node
//! sends (forwarded calls, imported HTTP requests), and the `tracing` spans every call and
//! HTTP request runs in.
//!
//! The spans follow the OpenTelemetry semantic conventions (`rpc.system = "alknet"`,
//! `rpc.method` = the operation, `otel.name`, `otel.kind`, `error.type`); a subscriber with
//! `tracing-opentelemetry`'s layer turns them into OpenTelemetry spans and exports them. Without
//! one, nothing is recorded and no context travels.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::meta::{CallMeta, TRACEPARENT, TRACESTATE};

/// The `tracing` target of the call spans.
pub const CALL_SPAN: &str = "alknet::call";
/// The `tracing` target of the HTTP request spans.
pub const HTTP_SPAN: &str = "alknet::http";

/// A W3C trace context: a valid `traceparent` and, when one came with it, its `tracestate`.
///
/// ```
/// use alknet_http_core::trace::TraceParent;
/// let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None).unwrap();
/// assert_eq!(parent.trace_id(), "0af7651916cd43dd8448eb211c80319c");
/// assert!(TraceParent::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01", None).is_none());
/// assert!(TraceParent::parse("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    traceparent: String,
    tracestate: Option<String>,
}

/// The longest `tracestate` carried on (the W3C limit is 32 list members; 512 bytes covers
/// what real systems send).
const MAX_TRACESTATE: usize = 512;

impl TraceParent {
    /// A `traceparent` header value (and its `tracestate`), when it is valid: version `00`
    /// exactly, or a later version (not `ff`) with at least the four fields; lowercase hex;
    /// trace and span ids not all zero. An invalid or oversized `tracestate` is dropped.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.trim();
        let mut fields = traceparent.splitn(5, '-');
        let (version, trace, span, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let rest = fields.next();
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let valid = hex(version, 2)
            && version != "ff"
            && (version != "00" || rest.is_none())
            && hex(trace, 32)
            && trace.bytes().any(|b| b != b'0')
            && hex(span, 16)
            && span.bytes().any(|b| b != b'0')
            && hex(flags, 2);
        if !valid {
            return None;
        }
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
            .filter(|s| s.parse::<TraceState>().is_ok())
            .map(str::to_owned);
        Some(TraceParent {
            traceparent: format!("00-{trace}-{span}-{flags}"),
            tracestate,
        })
    }

    /// The trace context in a call's `meta`, if valid.
    pub fn from_meta(meta: &CallMeta) -> Option<Self> {
        TraceParent::parse(meta.get(TRACEPARENT)?, meta.get(TRACESTATE))
    }

    /// The trace context in HTTP headers, if valid.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        // Constant names: a `&str` lookup parses and lower-cases the name on every request.
        const TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
        const TRACESTATE_HEADER: http::HeaderName = http::HeaderName::from_static(TRACESTATE);
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        TraceParent::parse(text(&TRACEPARENT_HEADER)?, text(&TRACESTATE_HEADER))
    }

    /// The context of `span` (the current call's), when it is part of a recorded trace.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if !span_context.is_valid() {
            return None;
        }
        let state = span_context.trace_state().header();
        Some(TraceParent {
            traceparent: format!(
                "00-{}-{}-{:02x}",
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags().to_u8()
            ),
            tracestate: (!state.is_empty()).then_some(state),
        })
    }

    /// The context of the span the caller runs in.
    pub fn current() -> Option<Self> {
        TraceParent::of_span(&tracing::Span::current())
    }

    /// The `traceparent` value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// `meta` with this context in it.
    pub fn into_meta(self, meta: CallMeta) -> CallMeta {
        let meta = meta.with(TRACEPARENT, self.traceparent);
        match self.tracestate {
            Some(state) => meta.with(TRACESTATE, state),
            None => meta,
        }
    }

    /// Makes this remote context the parent of `span` (no effect without an OpenTelemetry
    /// layer).
    pub fn adopt(&self, span: &tracing::Span) {
        let Some(remote) = self.span_context() else {
            return;
        };
        let context = opentelemetry::Context::new().with_remote_span_context(remote);
        // Fails only when the span is disabled or already started: then there is nothing to
        // parent.
        let _ = span.set_parent(context);
    }

    fn span_context(&self) -> Option<SpanContext> {
        let trace = TraceId::from_hex(&self.traceparent[3..35]).ok()?;
        let span = SpanId::from_hex(&self.traceparent[36..52]).ok()?;
        let flags = u8::from_str_radix(&self.traceparent[53..55], 16).ok()?;
        let state = self
            .tracestate
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        Some(SpanContext::new(
            trace,
            span,
            TraceFlags::new(flags),
            true,
            state,
        ))
    }
}

/// With feature `axum`, `Option<TraceParent>` is an extractor that *takes* the caller's
/// context the server's request layer stored (from the `traceparent` header).
#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for TraceParent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.remove::<TraceParent>())
    }
}

/// Whether a call may record itself on `span` rather than open a child span: `span` is
/// enabled and declares the call's fields, `rpc.method` among them (a surface's own span for
/// one call, such as the HTTP request span of `POST /call`, declares `otel.name`,
/// `otel.status_code`, `rpc.system`, `rpc.method`, `alknet.surface`, `enduser.id` and
/// `error.type`, empty until the call records them).
pub fn hosts_call(span: &tracing::Span) -> bool {
    !span.is_disabled()
        && span
            .metadata()
            .is_some_and(|meta| meta.fields().field("rpc.method").is_some())
}

/// Records a call on `host`, a span that [hosts calls](hosts_call), in one `record_all` (one
/// pass through the subscriber's layers, not one per field); `false` when `host` does not
/// host calls.
fn record_on_host(
    host: &tracing::Span,
    operation: &str,
    surface: &str,
    identity: Option<&str>,
) -> bool {
    if host.is_disabled() {
        return false;
    }
    let Some(meta) = host.metadata() else {
        return false;
    };
    let fields = meta.fields();
    let field = |name| fields.field(name);
    let (Some(system), Some(method), Some(surface_field), Some(user), Some(name)) = (
        field("rpc.system"),
        field("rpc.method"),
        field("alknet.surface"),
        field("enduser.id"),
        field("otel.name"),
    ) else {
        return false;
    };
    // An HTTP request span takes the call's name (the RPC conventions name a server span
    // after its method; "POST" says little); an MCP span keeps `{method} {tool}`.
    let renamed = (meta.target() == HTTP_SPAN).then_some(&operation as &dyn tracing::Value);
    let values = [
        (&system, Some(&"alknet" as &dyn tracing::Value)),
        (&method, Some(&operation as &dyn tracing::Value)),
        (&surface_field, Some(&surface as &dyn tracing::Value)),
        (&user, identity.as_ref().map(|id| id as &dyn tracing::Value)),
        (&name, renamed),
    ];
    host.record_all(&fields.value_set(&values));
    true
}

/// The span of a call, and whether it is the surface's own: `server` for a root call (with
/// the caller's context as parent when it sent one), `internal` for a composed one. A root
/// call whose surface gave it a span that [hosts calls](hosts_call) records itself on that
/// span instead: one span per request, where two nested `server` spans would say the same
/// thing twice (and cost twice).
pub(crate) fn call_span(
    operation: &str,
    surface: Option<&'static str>,
    identity: Option<&str>,
    parent: Option<&TraceParent>,
    host: Option<&tracing::Span>,
) -> (tracing::Span, bool) {
    if let Some(host) = host
        && record_on_host(host, operation, surface.unwrap_or("composed"), identity)
    {
        return (host.clone(), true);
    }
    let span = tracing::info_span!(
        target: CALL_SPAN,
        "call",
        // Plain `&str` values, not `%` ones: the exporter's layer formats a `Display` value
        // into a new string, but copies a `&str` as it is.
        otel.name = operation,
        otel.kind = if surface.is_some() { "server" } else { "internal" },
        otel.status_code = tracing::field::Empty,
        rpc.system = "alknet",
        rpc.method = operation,
        alknet.surface = surface.unwrap_or("composed"),
        enduser.id = identity,
        error.type = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        parent.adopt(&span);
    }
    (span, false)
}

/// Marks `span` failed with `code` (`otel.status_code = ERROR`, `error.type`): a call's span,
/// or a surface's span that declares both fields.
pub fn record_error(span: &tracing::Span, code: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", code);
}
