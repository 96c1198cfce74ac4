//! [`McpHandler`]: rmcp's server handler over the node's dispatch — `tools/list` per caller in
//! the configured [`ToolMode`], `tools/call` of a gateway or a direct tool, and the
//! `tools/list_changed` notifications of both protocol eras.

use std::sync::Arc;

use alknet_http_core::dispatch::{
    BatchCall, BatchLimits, CallOptions, GatewayDispatch, SearchQuery,
};
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::metrics::SessionGuard;
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::registry::RegisteredOperation;
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{CallError, Identity, OperationType, Visibility};
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument as _;

use crate::config::ToolMode;
use crate::gateway_tools::{self, ToolSet, batch_call};
use crate::streamed::{self, Bounds, Progress};
use alknet_http_core::progress::ProgressSink;

/// Progress reports a call may queue before the client takes them (more are dropped).
const PROGRESS_QUEUE: usize = 64;
use crate::{direct_tools, list_changed, span};

/// What every session's handler shares.
pub(crate) struct Shared {
    pub(crate) dispatch: GatewayDispatch,
    pub(crate) gateway: ToolSet,
    pub(crate) batch_limits: BatchLimits,
    pub(crate) mode: ToolMode,
    pub(crate) bounds: Bounds,
    /// The direct tools built so far.
    pub(crate) direct: direct_tools::ToolCache,
}

/// The handler of one MCP session (one request, for the stateless revision).
#[derive(Clone)]
pub(crate) struct McpHandler {
    pub(crate) shared: Arc<Shared>,
    /// Lives as long as rmcp keeps the session's handler.
    session: Arc<SessionState>,
}

/// A legacy session counted live in the metrics once initialized (a stateless request is no
/// session), and a token cancelled when rmcp drops the session's handler (its list-changed
/// watch then ends).
struct SessionState {
    live: std::sync::Mutex<Option<SessionGuard>>,
    ended: CancellationToken,
    _cancel_on_drop: DropGuard,
}

impl McpHandler {
    pub(crate) fn for_session(shared: Arc<Shared>) -> Self {
        let ended = CancellationToken::new();
        McpHandler {
            session: Arc::new(SessionState {
                live: std::sync::Mutex::new(None),
                _cancel_on_drop: ended.clone().drop_guard(),
                ended,
            }),
            shared,
        }
    }
}

/// What the bearer layer resolved for this MCP request.
fn identity_of(context: &RequestContext<RoleServer>) -> Option<Arc<Identity>> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ResolvedIdentity>())
        .and_then(|resolved| resolved.0.clone())
}

fn success(structured: Value) -> CallToolResponse {
    CallToolResult::structured(structured).into()
}

/// A failed gateway tool call: the CallError as structured content (the gateway tools'
/// output schemas allow it).
fn failure_result(error: &CallError) -> CallToolResponse {
    CallToolResult::structured_error(serde_json::to_value(error).unwrap_or(Value::Null)).into()
}

/// A failed direct tool call: the CallError as JSON text. Structured content would have to
/// match the operation's output schema, which a CallError does not.
fn direct_failure(error: &CallError) -> CallToolResponse {
    let text = serde_json::to_string(error).unwrap_or_default();
    CallToolResult::error(vec![ContentBlock::text(text)]).into()
}

fn unknown_tool(name: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "unknown tool `{name}`; `tools/list` names the tools (search, schema, call and batch are always there)"
        ),
        None,
    )
}

impl McpHandler {
    fn dispatch(&self) -> &GatewayDispatch {
        &self.shared.dispatch
    }

    /// The tools `identity` is offered.
    fn tools_for(&self, identity: Option<&Identity>) -> Vec<Tool> {
        let direct_up_to = match self.shared.mode {
            ToolMode::Gateway => return self.shared.gateway.tools.clone(),
            ToolMode::Direct => usize::MAX,
            ToolMode::Auto { max_tools } => max_tools,
        };
        let operations = self.dispatch().search(identity, &SearchQuery::all());
        if operations.len() > direct_up_to {
            return self.shared.gateway.tools.clone();
        }
        let mut seen = std::collections::HashSet::new();
        operations
            .iter()
            .filter_map(|summary| self.dispatch().registry().route(&summary.name))
            .map(|op| self.shared.direct.tool(&op))
            // Two names that hash alike: the first, in name order, keeps it.
            .filter(|tool| seen.insert(tool.name.clone()))
            .collect()
    }

    /// The operation a direct tool names, when a caller from outside may reach it.
    fn direct_operation(
        &self,
        tool: &str,
        identity: Option<&Identity>,
    ) -> Option<Arc<RegisteredOperation>> {
        let registry = self.dispatch().registry();
        let name = match direct_tools::plain_operation(tool) {
            Some(name) => name,
            None => self
                .dispatch()
                .search(identity, &SearchQuery::all())
                .into_iter()
                .map(|summary| summary.name)
                .find(|name| direct_tools::direct_tool_name(name) == tool)?,
        };
        registry
            .route(&name)
            .filter(|op| op.spec().visibility == Visibility::External)
    }

    /// The options of a tool call: the client's cancel (or the session's end) is the caller
    /// going away, under the dispatch's disconnect policy. The one call of a `call` tool
    /// records itself on the request's span (`host`), and reports the client's `_meta` trace
    /// context in the access log.
    fn options(
        context: &RequestContext<RoleServer>,
        host: Option<(tracing::Span, Option<TraceParent>)>,
    ) -> CallOptions {
        let (span, trace_parent) = host.unzip();
        CallOptions {
            // The dispatch makes the call's own child of it.
            abort: Some(context.ct.clone()),
            span,
            trace_parent: trace_parent.flatten(),
            source: context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<SourceAddr>())
                .map(|source| source.0),
            ..CallOptions::default()
        }
    }

    /// One call of `operation`: a Query or Mutation's output, or a subscription's items
    /// collected (streamed as progress when the request asked for it).
    async fn run(
        &self,
        identity: Option<Arc<Identity>>,
        call: BatchCall,
        op_type: Option<OperationType>,
        request: &Request<'_>,
    ) -> Result<Value, CallError> {
        let options = Self::options(
            request.context,
            Some((tracing::Span::current(), request.parent.clone())),
        );
        if op_type != Some(OperationType::Subscription) {
            let Some(token) = request.progress_token.clone() else {
                return self
                    .dispatch()
                    .call(identity, &call.operation, call.input, options)
                    .await
                    .map_err(|failure| failure.error);
            };
            // The client asked for progress: what the call (or an import it reaches) reports
            // goes out as progress notifications while it runs.
            let (sink, reports) = ProgressSink::channel(PROGRESS_QUEUE);
            let call = self.dispatch().call(
                identity,
                &call.operation,
                call.input,
                CallOptions {
                    progress: Some(sink),
                    ..options
                },
            );
            let progress = Progress {
                peer: request.context.peer.clone(),
                token,
            };
            return streamed::with_progress(call, reports, &progress)
                .await
                .map_err(|failure| failure.error);
        }
        let abort = CancellationToken::new();
        let stream = self.dispatch().invoke_streaming_with(
            identity,
            &call.operation,
            call.input,
            CallOptions {
                abort: Some(abort.clone()),
                ..options
            },
        );
        let progress = request.progress_token.clone().map(|token| Progress {
            peer: request.context.peer.clone(),
            token,
        });
        streamed::collect(
            stream,
            abort,
            request.context.ct.clone(),
            self.shared.bounds,
            progress,
        )
        .await
    }

    fn search(&self, identity: Option<&Identity>, args: &JsonObject) -> CallToolResponse {
        let text = |key| args.get(key).and_then(Value::as_str).map(str::to_owned);
        let query = SearchQuery::all()
            .text(text("query"))
            .namespace(text("namespace"));
        let operations = self.dispatch().search(identity, &query);
        success(json!({ "operations": operations }))
    }

    fn schema(&self, identity: Option<&Identity>, args: &JsonObject) -> CallToolResponse {
        let operation = args
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.dispatch().schema(identity, operation) {
            Ok(op) => success(serde_json::to_value(op.spec()).unwrap_or(Value::Null)),
            Err(failure) => failure_result(&failure.error),
        }
    }

    async fn batch(
        &self,
        identity: Option<Arc<Identity>>,
        mut args: JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let calls = match args.remove("calls") {
            Some(Value::Array(calls)) => calls
                .into_iter()
                .map(|call| match call {
                    Value::Object(call) => batch_call(call),
                    _ => batch_call(JsonObject::new()),
                })
                .collect(),
            _ => Vec::new(),
        };
        let outcomes = self
            .dispatch()
            .batch(
                identity,
                calls,
                self.shared.batch_limits,
                Self::options(context, None),
            )
            .await
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        Ok(success(json!({ "results": outcomes })))
    }
}

/// What a `tools/call` brings besides its arguments.
struct Request<'a> {
    context: &'a RequestContext<RoleServer>,
    parent: Option<TraceParent>,
    progress_token: Option<rmcp::model::ProgressToken>,
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("alknet-http", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "The operations of this alknet-http node. Each may be listed as a tool of its own; the `search`, `schema`, `call` and `batch` tools are always there to find, read and call any of them.",
        )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let parent = span::trace_parent(request.as_ref().and_then(|r| r.meta.as_deref()), &context);
        let _span = span::request_span("tools/list", None, &context, parent.as_ref()).entered();
        let identity = identity_of(&context);
        Ok(ListToolsResult::with_all_items(
            self.tools_for(identity.as_deref()),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if let Some(tool) = self.shared.gateway.tools.iter().find(|t| t.name == name) {
            return Some(tool.clone());
        }
        // rmcp asks without a request context: only what anyone may see.
        self.direct_operation(name, None)
            .map(|op| self.shared.direct.tool(&op))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parent = span::trace_parent(request.meta.as_deref(), &context);
        let span = span::request_span("tools/call", Some(&request.name), &context, parent.as_ref());
        let answer = self
            .call_tool_in(request, &context, parent)
            .instrument(span.clone())
            .await;
        // A refused request; a failed call has recorded its error code on the span itself.
        if answer.is_err() {
            alknet_http_core::trace::record_error(&span, "tool_error");
        }
        answer
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(metrics) = self.dispatch().registry().metrics() {
            *self
                .session
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(metrics.session_opened("mcp"));
        }
        // A legacy session hears of changes on its standing stream until it ends.
        tokio::spawn(list_changed::notify_session(
            self.dispatch().clone(),
            context.peer,
            self.session.ended.clone(),
        ));
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        list_changed::notify_listener(self.dispatch().clone(), context).await;
        Ok(())
    }
}

impl McpHandler {
    /// A `tools/call`, inside its span.
    async fn call_tool_in(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        parent: Option<TraceParent>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress_token = request
            .meta
            .as_ref()
            .and_then(|meta| meta.get_progress_token())
            .or_else(|| context.meta.get_progress_token());
        let call = Request {
            context,
            parent,
            progress_token,
        };
        let identity = identity_of(context);
        let args = request.arguments.unwrap_or_default();
        if gateway_tools::NAMES.contains(&request.name.as_ref()) {
            return self
                .gateway_call(&request.name, identity, args, &call)
                .await;
        }
        let Some(op) = self.direct_operation(&request.name, identity.as_deref()) else {
            return Err(unknown_tool(&request.name));
        };
        let spec = op.spec();
        let input = direct_tools::input_of(spec, args);
        let call_of = BatchCall {
            operation: spec.name.clone(),
            input,
        };
        Ok(
            match self.run(identity, call_of, Some(spec.op_type), &call).await {
                Ok(output) => success(direct_tools::structured_output(spec, output)),
                Err(error) => direct_failure(&error),
            },
        )
    }

    /// A call of one of the four gateway tools.
    async fn gateway_call(
        &self,
        name: &str,
        identity: Option<Arc<Identity>>,
        args: JsonObject,
        call: &Request<'_>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(args);
        if let Some(Err(problems)) = self.shared.gateway.check(name, &args) {
            return Err(ErrorData::invalid_params(
                format!("invalid arguments for `{name}`: {problems}"),
                None,
            ));
        }
        let Value::Object(args) = args else {
            unreachable!("built from an object above")
        };
        Ok(match name {
            "search" => self.search(identity.as_deref(), &args),
            "schema" => self.schema(identity.as_deref(), &args),
            "call" => {
                let one = batch_call(args);
                let op_type = self
                    .dispatch()
                    .registry()
                    .route(one.operation.trim_start_matches('/'))
                    .map(|op| op.spec().op_type);
                match self.run(identity, one, op_type, call).await {
                    Ok(output) => success(json!({ "output": output })),
                    Err(error) => failure_result(&error),
                }
            }
            _ => self.batch(identity, args, call.context).await?,
        })
    }
}
