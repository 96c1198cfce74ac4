//! `/search`, `/schema`, `/call` and `/batch`.

use std::sync::Arc;

use alknet_http_core::access::ResourceTarget;
use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::registry::SERVICES_LIST;
use alknet_http_core::{CallError, Identity};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Gateway;

/// `{ "operation", "input" }`, the body of `/call`, `/subscribe` and each `/batch` element.
#[derive(Debug, Deserialize)]
pub(crate) struct CallEnvelope {
    pub(crate) operation: String,
    #[serde(default)]
    pub(crate) input: Value,
}

/// Parses a call envelope; `INVALID_INPUT` (400 on HTTP) when it is not one.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<CallEnvelope, CallError> {
    // Straight from the bytes when well formed; the general path below words the errors.
    if let Ok(envelope) = serde_json::from_slice::<CallEnvelope>(body)
        && !envelope.operation.is_empty()
    {
        return Ok(envelope);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CallError::invalid_input(format!("request body is not JSON: {e}")))?;
    envelope_from_value(value)
}

fn envelope_from_value(value: Value) -> Result<CallEnvelope, CallError> {
    if !value.is_object() {
        return Err(CallError::invalid_input(
            "expected an object {\"operation\": \"/ns/op\", \"input\": ...}",
        ));
    }
    let envelope: CallEnvelope = serde_json::from_value(value)
        .map_err(|e| CallError::invalid_input(format!("malformed call envelope: {e}")))?;
    if envelope.operation.is_empty() {
        return Err(CallError::invalid_input("`operation` is empty"));
    }
    Ok(envelope)
}

/// A malformed request: `400` with the CallError as body.
pub(crate) fn bad_request(error: &CallError) -> Response {
    let mut response = Json(error).into_response();
    *response.status_mut() = http::StatusCode::BAD_REQUEST;
    response
}

impl Gateway {
    /// Runs a Query/Mutation; a Mutation that may not be cancelled is detached from the caller
    /// so that a disconnect does not drop it.
    pub(crate) async fn run(
        &self,
        identity: Option<Identity>,
        operation: &str,
        input: Value,
    ) -> Result<Value, CallError> {
        let cancels = self
            .dispatch
            .registry()
            .external_spec(operation)
            .is_none_or(|spec| spec.cancels_on_disconnect());
        let call = self.dispatch.invoke(identity, operation, input);
        if cancels {
            call.await.result
        } else {
            match tokio::spawn(call).await {
                Ok(reply) => reply.result,
                Err(e) => Err(CallError::internal(format!("call failed: {e}"))),
            }
        }
    }

    pub(crate) fn error(
        &self,
        operation: &str,
        error: &CallError,
        identity: Option<&Identity>,
    ) -> Response {
        self.error_for(operation, error, identity.is_some())
    }

    /// The HTTP rendering of `error` (http-surfaces §5): `authenticated` tells 401 from 403.
    pub(crate) fn error_for(
        &self,
        operation: &str,
        error: &CallError,
        authenticated: bool,
    ) -> Response {
        self.dispatch
            .error_response_for(operation, error, authenticated)
            .map(axum::body::Body::from)
            .into_response()
    }
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
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return bad_request(&CallError::invalid_input(e.body_text())),
    };
    let listing = gateway
        .dispatch
        .invoke(identity.clone(), SERVICES_LIST, Value::Null)
        .await;
    let listing = match listing.result {
        Ok(listing) => listing,
        Err(e) => return gateway.error(SERVICES_LIST, &e, identity.as_ref()),
    };
    let needle = params.q.as_deref().map(str::to_lowercase);
    let operations: Vec<Value> = listing["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|op| {
            params
                .namespace
                .as_deref()
                .is_none_or(|ns| op["namespace"] == ns)
        })
        .filter(|op| {
            needle.as_deref().is_none_or(|needle| {
                ["name", "description"].iter().any(|field| {
                    op[field]
                        .as_str()
                        .is_some_and(|text| text.to_lowercase().contains(needle))
                })
            })
        })
        .cloned()
        .collect();
    Json(json!({ "operations": operations })).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchemaParams {
    operation: Option<String>,
}

pub(crate) async fn schema(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    params: Result<Query<SchemaParams>, QueryRejection>,
) -> Response {
    let operation = match params {
        Ok(Query(SchemaParams {
            operation: Some(op),
        })) if !op.is_empty() => op,
        Ok(_) => {
            return bad_request(&CallError::invalid_input(
                "missing query parameter `operation`",
            ));
        }
        Err(e) => return bad_request(&CallError::invalid_input(e.body_text())),
    };
    let Some(spec) = gateway.dispatch.registry().external_spec(&operation) else {
        return gateway.error(
            &operation,
            &CallError::not_found(&operation),
            identity.as_ref(),
        );
    };
    if let alknet_http_core::AccessDecision::Forbidden(reason) =
        spec.access_control
            .check(identity.as_ref(), ResourceTarget::Unspecified, None)
    {
        return gateway.error(&operation, &CallError::forbidden(reason), identity.as_ref());
    }
    Json(spec).into_response()
}

pub(crate) async fn call(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    body: Bytes,
) -> Response {
    let envelope = match parse_envelope(&body) {
        Ok(envelope) => envelope,
        Err(e) => return bad_request(&e),
    };
    let authenticated = identity.is_some();
    match gateway
        .run(identity, &envelope.operation, envelope.input)
        .await
    {
        Ok(output) => Json(output).into_response(),
        Err(e) => gateway.error_for(&envelope.operation, &e, authenticated),
    }
}

pub(crate) async fn batch(
    State(gateway): State<Arc<Gateway>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    body: Bytes,
) -> Response {
    let elements: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(Value::Array(elements)) => elements,
        Ok(_) => {
            return bad_request(&CallError::invalid_input(
                "a batch is a JSON array of {\"operation\", \"input\"}",
            ));
        }
        Err(e) => {
            return bad_request(&CallError::invalid_input(format!(
                "request body is not JSON: {e}"
            )));
        }
    };
    let max = gateway.config.max_batch_len;
    if elements.len() > max {
        return bad_request(&CallError::invalid_input(format!(
            "a batch of {} calls exceeds the maximum of {max}",
            elements.len()
        )));
    }
    // Every element must be a call envelope: a batch holding anything else is malformed.
    let mut envelopes = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        match envelope_from_value(element) {
            Ok(envelope) => envelopes.push(envelope),
            Err(e) => {
                return bad_request(&CallError::invalid_input(format!(
                    "batch element {index}: {}",
                    e.message
                )));
            }
        }
    }
    let results: Vec<Value> = futures::stream::iter(envelopes)
        .map(|envelope| {
            let gateway = gateway.clone();
            let identity = identity.clone();
            async move {
                match gateway
                    .run(identity.clone(), &envelope.operation, envelope.input)
                    .await
                {
                    Ok(output) => json!({ "output": output }),
                    Err(e) => {
                        let status = gateway
                            .dispatch
                            .error_response(&envelope.operation, &e, identity.as_ref())
                            .status()
                            .as_u16();
                        json!({ "error": e, "status": status })
                    }
                }
            }
        })
        .buffered(gateway.config.batch_concurrency.max(1))
        .collect()
        .await;
    Json(Value::Array(results)).into_response()
}
