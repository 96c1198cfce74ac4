//! The OpenAPI 3.1 description of the gateway ([`to_openapi`]) and its route ([`router`]).

use std::collections::BTreeSet;

use alknet_http_core::{OperationRegistry, Visibility};
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::Ref;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder,
    ResponsesBuilder,
};

use crate::components::components;

/// The version of the gateway contract this document describes.
pub const GATEWAY_API_VERSION: &str = "1.1.0";

/// The path the document is served at.
pub const PATH: &str = "/openapi.json";

/// Statuses every `POST /call` may answer with, besides the declared domain statuses.
const CALL_STATUSES: [(u16, &str); 11] = [
    (
        400,
        "Malformed call envelope (INVALID_INPUT), or a subscription called here (INVALID_OPERATION_TYPE)",
    ),
    (
        401,
        "The operation needs an identity and none was given (FORBIDDEN); see WWW-Authenticate",
    ),
    (
        403,
        "The caller's identity may not call the operation (FORBIDDEN)",
    ),
    (404, "Unknown or Internal operation (NOT_FOUND)"),
    (413, "The request body is larger than the server accepts"),
    (
        422,
        "The input does not match the operation's input_schema (INVALID_INPUT; errors in details)",
    ),
    (
        429,
        "The caller is over a rate limit, or an imported upstream is (RATE_LIMITED or HTTP_429; Retry-After)",
    ),
    (500, "The handler failed (INTERNAL)"),
    (
        502,
        "An imported upstream refused the node's own credentials (HTTP_401, HTTP_403, HTTP_407)",
    ),
    (
        503,
        "No live route to the operation right now (UNAVAILABLE, retryable; Retry-After when known)",
    ),
    (504, "The call's deadline passed (TIMEOUT, retryable)"),
];

fn reference(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(reference(schema)))
        .build()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", json_content("CallError"))
        .build()
}

fn envelope_body() -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content("application/json", json_content("CallEnvelope"))
        .build()
}

fn query(name: &str, required: bool, description: &str) -> utoipa::openapi::path::Parameter {
    let schema = if required {
        "NonEmptyString"
    } else {
        "QueryString"
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(reference(schema)))
        .build()
}

/// The `http_status` values declared by the registry's `External` operations, outside the
/// statuses the gateway answers anyway.
fn declared_statuses(registry: &OperationRegistry) -> BTreeSet<u16> {
    registry
        .operations()
        .filter(|op| op.spec().visibility == Visibility::External)
        .flat_map(|op| op.spec().error_schemas.iter().filter_map(|e| e.http_status))
        .filter(|s| (400..=599).contains(s))
        .filter(|s| !CALL_STATUSES.iter().any(|(known, _)| known == s))
        .collect()
}

/// The OpenAPI 3.1.0 document of the gateway, as JSON. A pure projection: it reads the
/// registry (for the declared error statuses of `External` operations) and changes nothing.
pub fn to_openapi(registry: &OperationRegistry) -> Value {
    let mut call_responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new()
            .description("The operation's output, as JSON")
            .content("application/json", json_content("Output"))
            .build(),
    );
    for (status, description) in CALL_STATUSES {
        call_responses = call_responses.response(status.to_string(), error_response(description));
    }
    for status in declared_statuses(registry) {
        call_responses = call_responses.response(
            status.to_string(),
            error_response("A domain error an operation declares with this status"),
        );
    }
    let search = OperationBuilder::new()
        .operation_id(Some("search"))
        .summary(Some("List the operations the caller may call"))
        .parameter(query(
            "namespace",
            false,
            "Only operations of this namespace",
        ))
        .parameter(query(
            "q",
            false,
            "Only operations whose name or description contains this text (case-insensitive)",
        ))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The permitted operations (no schemas)")
                        .content("application/json", json_content("SearchResult"))
                        .build(),
                )
                .response("400", error_response("Malformed query (INVALID_INPUT)"))
                .build(),
        )
        .build();
    let schema = OperationBuilder::new()
        .operation_id(Some("schema"))
        .summary(Some("The full spec of one operation"))
        .parameter(query(
            "operation",
            true,
            "The operation name, with or without its leading slash",
        ))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description(
                            "The operation's spec, with its input, output and error schemas",
                        )
                        .content("application/json", json_content("OperationSpec"))
                        .build(),
                )
                .response("400", error_response("Missing `operation` (INVALID_INPUT)"))
                .response(
                    "401",
                    error_response("The operation needs an identity (FORBIDDEN)"),
                )
                .response(
                    "403",
                    error_response("The caller may not see the operation (FORBIDDEN)"),
                )
                .response(
                    "404",
                    error_response("Unknown or Internal operation (NOT_FOUND)"),
                )
                .build(),
        )
        .build();
    let call = OperationBuilder::new()
        .operation_id(Some("call"))
        .summary(Some("Call a query or mutation"))
        .request_body(Some(envelope_body()))
        .responses(call_responses.build())
        .build();
    let batch = OperationBuilder::new()
        .operation_id(Some("batch"))
        .summary(Some(
            "Call several queries or mutations; independent, ordered, not transactional",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", json_content("BatchRequest"))
                .build(),
        ))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("One result per call, in request order")
                        .content("application/json", json_content("BatchResult"))
                        .build(),
                )
                .response(
                    "400",
                    error_response(
                        "Malformed body, or more calls than the node accepts (INVALID_INPUT)",
                    ),
                )
                .response(
                    "413",
                    error_response("The request body is larger than the server accepts"),
                )
                .build(),
        )
        .build();
    let subscribe = OperationBuilder::new()
        .operation_id(Some("subscribe"))
        .summary(Some("Subscribe; outputs stream as Server-Sent Events"))
        .description(Some(
            "A malformed envelope is 400; everything else is 200 with errors in-band: items are default events \
             with increasing ids and one-line JSON data; an error (unknown, Internal, forbidden, wrong type, or \
             the handler's) is one `event: error` with a CallError and ends the stream; a natural end sends \
             `event: completed` with `{}`.",
        ))
        .request_body(Some(envelope_body()))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The event stream")
                        .content("text/event-stream", json_content("SseEvent"))
                        .build(),
                )
                .response("400", error_response("Malformed call envelope (INVALID_INPUT)"))
                .response("413", error_response("The request body is larger than the server accepts"))
                .build(),
        )
        .build();
    let paths = PathsBuilder::new()
        .path("/search", PathItem::new(HttpMethod::Get, search))
        .path("/schema", PathItem::new(HttpMethod::Get, schema))
        .path("/call", PathItem::new(HttpMethod::Post, call))
        .path("/batch", PathItem::new(HttpMethod::Post, batch))
        .path("/subscribe", PathItem::new(HttpMethod::Post, subscribe))
        .build();
    let document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("alknet-http gateway")
                .version(GATEWAY_API_VERSION)
                .description(Some(
                    "Discover operations with /search and /schema, call them with /call and /batch, \
                     subscribe with /subscribe. Send `Authorization: Bearer <token>`; operations open to \
                     anonymous callers need none.",
                ))
                .build(),
        )
        .paths(paths)
        .build();
    let mut document = serde_json::to_value(&document).unwrap_or_else(|_| json!({}));
    document["components"] = components();
    // Bearer is optional: anonymous callers reach the operations that allow them.
    document["security"] = json!([{ "bearer": [] }, {}]);
    document
}

/// `GET /openapi.json`. The document is computed once: the registry is immutable.
pub fn router(registry: &OperationRegistry) -> Router {
    let body = serde_json::to_string(&to_openapi(registry)).unwrap_or_else(|_| "{}".into());
    Router::new().route(
        PATH,
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    )
}
