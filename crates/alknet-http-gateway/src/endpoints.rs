//! `/search`, `/schema`, `/call` and `/batch`: parse the request, ask [`GatewayDispatch`] (whose
//! semantics they share with every surface), render the answer.
//!
//! [`GatewayDispatch`]: alknet_http_core::GatewayDispatch

use std::sync::Arc;

use alknet_http_core::dispatch::{BatchCall, CallFailure, CallOptions, RequestId, SearchQuery};
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::trace::TraceParent;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Gateway;
use crate::rejection::GatewayRejection;

/// `{ "operation", "input" }`, the body of `/call`, `/subscribe` and each `/batch` element.
#[derive(Debug, Deserialize)]
pub(crate) struct CallEnvelope {
    pub(crate) operation: String,
    #[serde(default)]
    pub(crate) input: Value,
}

/// Parses a call envelope.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<CallEnvelope, GatewayRejection> {
    // Straight from the bytes when well formed; the general path below words the errors.
    if let Ok(envelope) = serde_json::from_slice::<CallEnvelope>(body)
        && !envelope.operation.is_empty()
    {
        return Ok(envelope);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| GatewayRejection::NotJson(e.to_string()))?;
    envelope_from_value(value)
}

fn envelope_from_value(value: Value) -> Result<CallEnvelope, GatewayRejection> {
    if !value.is_object() {
        return Err(GatewayRejection::NotAnObject);
    }
    let envelope: CallEnvelope = serde_json::from_value(value)
        .map_err(|e| GatewayRejection::MalformedEnvelope(e.to_string()))?;
    if envelope.operation.is_empty() {
        return Err(GatewayRejection::EmptyOperation);
    }
    Ok(envelope)
}

fn render(failure: &CallFailure) -> Response {
    failure.to_http_response().map(Body::from).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    namespace: Option<String>,
    q: Option<String>,
}

pub(crate) async fn search(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, GatewayRejection> {
    let Query(params) = params.map_err(|e| GatewayRejection::BadQuery(e.body_text()))?;
    let query = SearchQuery::all()
        .namespace(params.namespace)
        .text(params.q);
    let operations = gateway.dispatch.search(identity.as_deref(), &query);
    Ok(Json(json!({ "operations": operations })).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchemaParams {
    operation: Option<String>,
}

pub(crate) async fn schema(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    params: Result<Query<SchemaParams>, QueryRejection>,
) -> Result<Response, GatewayRejection> {
    let Query(params) = params.map_err(|e| GatewayRejection::BadQuery(e.body_text()))?;
    let operation = params
        .operation
        .filter(|op| !op.is_empty())
        .ok_or(GatewayRejection::MissingOperation)?;
    Ok(
        match gateway.dispatch.schema(identity.as_deref(), &operation) {
            Ok(op) => Json(op.spec()).into_response(),
            Err(failure) => render(&failure),
        },
    )
}

pub(crate) async fn call(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    request_id: Option<RequestId>,
    trace_parent: Option<TraceParent>,
    source: Option<SourceAddr>,
    body: Bytes,
) -> Result<Response, GatewayRejection> {
    let envelope = parse_envelope(&body)?;
    // A client that goes away drops this future, and with it the call (a Query) or just the
    // wait for it (a Mutation, which `call` runs detached).
    Ok(
        match gateway
            .dispatch
            .call(
                identity,
                &envelope.operation,
                envelope.input,
                CallOptions {
                    request_id,
                    // The request span: the request's one call is recorded on it.
                    span: Some(tracing::Span::current()),
                    trace_parent,
                    source: source.map(|s| s.0),
                    ..CallOptions::default()
                },
            )
            .await
        {
            Ok(output) => Json(output).into_response(),
            Err(failure) => render(&failure),
        },
    )
}

pub(crate) async fn batch(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    source: Option<SourceAddr>,
    body: Bytes,
) -> Result<Response, GatewayRejection> {
    let elements = match serde_json::from_slice(&body) {
        Ok(Value::Array(elements)) => elements,
        Ok(_) => return Err(GatewayRejection::BatchNotAnArray),
        Err(e) => return Err(GatewayRejection::NotJson(e.to_string())),
    };
    let limits = gateway.batch_limits();
    limits.check(elements.len())?;
    // Every element must be a call envelope: a batch holding anything else is malformed.
    let calls = elements
        .into_iter()
        .enumerate()
        .map(|(index, element)| {
            envelope_from_value(element)
                .map(|e| BatchCall {
                    operation: e.operation,
                    input: e.input,
                })
                .map_err(|reason| GatewayRejection::BatchElement {
                    index,
                    reason: Box::new(reason),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = gateway
        .dispatch
        .batch(
            identity,
            calls,
            limits,
            CallOptions {
                source: source.map(|s| s.0),
                ..CallOptions::default()
            },
        )
        .await?;
    Ok(Json(outcomes).into_response())
}
