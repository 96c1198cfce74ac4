//! The span of an MCP request, after the OpenTelemetry conventions for MCP servers: named
//! `{mcp.method.name} {gen_ai.tool.name}`, kind `server`, with the method, the tool, the
//! JSON-RPC request id and the session id. Its parent is the trace context the client sent in
//! `_meta` (SEP-414), when it sent one. A `call` tool's call records itself on this span (it
//! declares the call's fields, see `alknet_http_core::trace::hosts_call`); the calls of a
//! `batch` are its children.

use alknet_http_core::trace::{CALL_SPAN, TraceParent};
use rmcp::model::MetaObject;
use rmcp::service::{RequestContext, RoleServer};

/// The header of the MCP session id (streamable HTTP).
const SESSION_HEADER: &str = "mcp-session-id";

/// The trace context of an MCP request: its params' `_meta`, else the request context's.
pub(crate) fn trace_parent(
    params_meta: Option<&MetaObject>,
    context: &RequestContext<RoleServer>,
) -> Option<TraceParent> {
    [params_meta, Some(&*context.meta)]
        .into_iter()
        .flatten()
        .find_map(|meta| TraceParent::parse(meta.get_traceparent()?, meta.get_tracestate()))
}

/// The span of the request `method` (`tools/call`, `tools/list`), about `tool` when it names
/// one.
pub(crate) fn request_span(
    method: &'static str,
    tool: Option<&str>,
    context: &RequestContext<RoleServer>,
    parent: Option<&TraceParent>,
) -> tracing::Span {
    let session = context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.headers.get(SESSION_HEADER))
        .and_then(|value| value.to_str().ok());
    let span = tracing::info_span!(
        target: CALL_SPAN,
        "mcp",
        otel.name = %SpanName(method, tool),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        mcp.method.name = method,
        gen_ai.tool.name = tool,
        gen_ai.operation.name = tool.map(|_| "execute_tool"),
        jsonrpc.request.id = %context.id,
        mcp.session.id = session,
        rpc.system = tracing::field::Empty,
        rpc.method = tracing::field::Empty,
        alknet.surface = tracing::field::Empty,
        enduser.id = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        parent.adopt(&span);
    }
    span
}

/// `{method} {tool}`, or the method alone.
struct SpanName<'a>(&'static str, Option<&'a str>);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(tool) => write!(f, "{} {tool}", self.0),
            None => f.write_str(self.0),
        }
    }
}
