//! http-surfaces §14 "from_openapi", "from_jsonschema": imports forwarding to a real upstream
//! HTTP server on a loopback socket.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::client::reqwest::Method;
use alknet_http_core::client::{HttpClientConfig, RetryPolicy, SharedHttpClient};
use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{
    AdapterError, Capabilities, OperationAdapter, OperationRegistry, OperationSpec, OperationType,
    Provenance, Visibility,
};
use alknet_http_openapi::import::{
    ForwardLimits, FromJsonSchema, FromOpenApi, HttpAuthScheme, HttpServiceConfig, ImportOptions,
    ImportReport, NoteKind, OpenApiSpec,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

/// The upstream: echoes what it received; `/missing` → 404, `/events` → SSE, `/big` → 64 KiB.
async fn upstream(method: HttpMethod, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if path.ends_with("/missing") {
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"message":"no such pet"}"#,
        )
            .into_response();
    }
    if path.ends_with("/busy") {
        // A rate limit whose body says nothing of when to come back: only the header does.
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            "slow down",
        )
            .into_response();
    }
    if path.ends_with("/teapot") {
        return (StatusCode::IM_A_TEAPOT, "short and stout").into_response();
    }
    if path.ends_with("/big") {
        return (StatusCode::OK, "x".repeat(64 * 1024)).into_response();
    }
    if path.ends_with("/events") {
        let count: usize = query
            .split('&')
            .find_map(|p| p.strip_prefix("count="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        let frames = futures::stream::iter(0..count).then(|n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            // Split one event across two writes to exercise partial-frame buffering.
            Ok::<_, std::convert::Infallible>(Bytes::from(format!(
                ": keep-alive\ndata: {{\"n\":{n}}}\n\n"
            )))
        });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(frames))
            .unwrap_or_default();
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String("<not json>".into()))
    };
    axum::Json(json!({
        "method": method.as_str(),
        "path": path,
        "query": query,
        "authorization": header("authorization"),
        "x_api_key": header("x-api-key"),
        "x_trace": header("x-trace"),
        "x_default": header("x-default"),
        "content_type": header("content-type"),
        "body": body,
    }))
    .into_response()
}

struct Upstream {
    base: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn start_upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(upstream);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream {
        base: format!("http://{addr}/v1"),
        _task: task,
    }
}

/// A `FromJsonSchema` import made `External`, so that the tests can call it from outside.
fn external_import(
    spec: OperationSpec,
    config: HttpServiceConfig,
    path: &str,
    method: Method,
) -> FromJsonSchema {
    FromJsonSchema::new(spec, config, path, method, http()).with_visibility(Visibility::External)
}

fn http() -> Arc<SharedHttpClient> {
    let config =
        HttpClientConfig::default().with_retry_policy(RetryPolicy::default().with_max_retries(0));
    Arc::new(SharedHttpClient::new(config).unwrap())
}

pub(crate) const PETSTORE: &str = r##"
openapi: 3.0.3
info: {title: Petstore, version: "1.0"}
servers: [{url: "https://elsewhere.example.com"}]
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      summary: List pets
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: Accept, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Pet"}}
    post:
      operationId: createPet
      tags: [pets, write]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewPet"}
      responses:
        "201": {description: created}
        "409":
          description: Conflict
          content:
            application/json:
              schema: {type: object, properties: {message: {type: string}}}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: string}}
    get:
      operationId: showPetById
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}
        "404":
          description: No such pet
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
    delete:
      responses:
        "204": {description: deleted}
  /pets/{petId}/events:
    get:
      operationId: petEvents
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
        - {name: count, in: query, schema: {type: integer}}
      responses:
        "200":
          description: events
          content: {text/event-stream: {schema: {type: string}}}
  /upload:
    post:
      operationId: upload
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                file: {type: string, format: binary}
                note: {type: string}
      responses: {"200": {description: ok}}
  /login:
    post:
      operationId: login
      parameters:
        - {name: sid, in: cookie, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
        tag: {type: string, nullable: true}
        parent: {$ref: "#/components/schemas/Pet"}
    NewPet:
      type: object
      required: [name]
      properties:
        name: {type: string, minLength: 1}
        tag: {type: string, nullable: true}
        age: {type: integer, minimum: 0, exclusiveMinimum: true}
    Error:
      type: object
      properties: {message: {type: string}}
"##;

fn external() -> ImportOptions {
    ImportOptions::default().with_visibility(Visibility::External)
}

fn plan(base: &str, options: ImportOptions) -> ImportReport {
    let spec = OpenApiSpec::from_str(PETSTORE).unwrap();
    let config = HttpServiceConfig::new("petstore", base).with_auth(HttpAuthScheme::Bearer);
    FromOpenApi::new(spec, config, http())
        .with_options(options)
        .plan()
        .unwrap()
}

fn dispatch(registrations: Vec<alknet_http_core::HandlerRegistration>) -> GatewayDispatch {
    let registry = OperationRegistry::builder()
        .with_all(registrations)
        .build()
        .unwrap();
    GatewayDispatch::new(registry, Arc::new(AnonymousOnly))
}

async fn call(
    dispatch: &GatewayDispatch,
    op: &str,
    input: Value,
) -> Result<Value, alknet_http_core::CallError> {
    dispatch.invoke(None, op, input).await.result
}

#[tokio::test]
async fn the_petstore_imports_with_names_types_errors_and_skips() {
    let report = plan("http://127.0.0.1:1/v1", external());
    let names: Vec<&str> = report
        .operations
        .iter()
        .map(|o| o.registration.spec.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "petstore/listPets",
            "petstore/createPet",
            "petstore/showPetById",
            "petstore/delete_pets_petid",
            "petstore/petEvents",
            "petstore/upload",
        ]
    );
    let spec = |name: &str| {
        &report
            .operations
            .iter()
            .find(|o| o.registration.spec.name == name)
            .unwrap()
            .registration
    };
    assert_eq!(spec("petstore/listPets").spec.op_type, OperationType::Query);
    assert_eq!(
        spec("petstore/createPet").spec.op_type,
        OperationType::Mutation
    );
    assert_eq!(
        spec("petstore/delete_pets_petid").spec.op_type,
        OperationType::Mutation
    );
    assert_eq!(
        spec("petstore/petEvents").spec.op_type,
        OperationType::Subscription
    );
    assert_eq!(
        spec("petstore/listPets").provenance,
        Provenance::FromOpenApi
    );
    assert_eq!(
        spec("petstore/listPets").spec.description.as_deref(),
        Some("List pets")
    );
    // A Query stays a one-shot handler, a Subscription streams.
    assert!(matches!(
        spec("petstore/listPets").handler,
        alknet_http_core::HandlerKind::Once(_)
    ));
    assert!(matches!(
        spec("petstore/petEvents").handler,
        alknet_http_core::HandlerKind::Stream(_)
    ));
    let show = &spec("petstore/showPetById").spec;
    let not_found = show.declared_error("HTTP_404").expect("404 declared");
    assert_eq!(not_found.http_status, Some(404));
    assert_eq!(not_found.description, "No such pet");
    assert_eq!(
        spec("petstore/createPet").spec.error_schemas[0].code,
        "HTTP_409"
    );
    // Input: path params required, body required iff declared so; Accept/cookie ignored.
    let input = &spec("petstore/listPets").spec.input_schema;
    let props: Vec<&String> = input["properties"].as_object().unwrap().keys().collect();
    assert_eq!(props, ["X-Trace", "limit", "tags"]);
    assert_eq!(show.input_schema["required"], json!(["petId"]));
    assert_eq!(
        spec("petstore/createPet").spec.input_schema["required"],
        json!(["body"])
    );
    // The recursive Pet schema is one shared definition, held once for the whole import and
    // attached as `$defs` when the schema is shown self-contained (as `/schema` does).
    assert_eq!(show.output_schema["$ref"], "#/$defs/Pet");
    assert!(show.output_schema.get("$defs").is_none());
    let shared = show.shared_defs.as_ref().expect("shared definitions");
    assert_eq!(
        spec("petstore/listPets").spec.shared_defs.as_ref(),
        Some(shared)
    );
    let output = show.self_contained(&show.output_schema);
    assert_eq!(
        output["$defs"]["Pet"]["properties"]["parent"]["$ref"],
        "#/$defs/Pet"
    );
    let shown = serde_json::to_value(show).unwrap();
    assert_eq!(shown["output_schema"], *output);
    // Skipped with reasons; a warning for the optional cookie.
    let skipped: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        ["POST /login: required cookie parameter `sid` is unsupported"]
    );
    assert_eq!(report.skipped[0].kind, NoteKind::Unsupported);
    // A multipart body: a file field takes base64, a name and a content type.
    let upload = &spec("petstore/upload").spec.input_schema["properties"]["body"];
    assert_eq!(upload["required"], json!(["file"]));
    assert_eq!(upload["properties"]["note"], json!({"type": "string"}));
    assert_eq!(upload["properties"]["file"]["required"], json!(["base64"]));
    assert_eq!(report.warnings.len(), 1);
    assert!(
        report.warnings[0]
            .reason
            .contains("cookie parameter `session`")
    );
    let summary = report.summary();
    assert!(
        summary.starts_with("openapi petstore: imported 6 operations, skipped 1 ("),
        "{summary}"
    );
    assert!(
        summary.contains("POST /login: required cookie parameter `sid` is unsupported"),
        "{summary}"
    );
}

#[tokio::test]
async fn calls_forward_to_the_base_url_only() {
    let up = start_upstream().await;
    let caps = Capabilities::new().with_http_token("petstore", "tok-123");
    let report = plan(&up.base, external().with_capabilities(caps));
    let d = dispatch(report.into_registrations());
    // Query parameters (arrays exploded), a header parameter, the bearer token, base path kept,
    // the document's `servers` ignored.
    let out = call(
        &d,
        "/petstore/listPets",
        json!({"limit": 5, "tags": ["a b", "c&d"], "X-Trace": "t1"}),
    )
    .await
    .unwrap();
    assert_eq!(out["method"], "GET");
    assert_eq!(out["path"], "/v1/pets");
    assert_eq!(out["query"], "limit=5&tags=a+b&tags=c%26d");
    assert_eq!(out["x_trace"], "t1");
    assert_eq!(out["authorization"], "Bearer tok-123");
    // The JSON body.
    let out = call(
        &d,
        "/petstore/createPet",
        json!({"body": {"name": "rex", "tag": null}}),
    )
    .await
    .unwrap();
    assert_eq!(out["method"], "POST");
    assert_eq!(out["body"], json!({"name": "rex", "tag": null}));
    assert_eq!(out["content_type"], "application/json");
    // Path parameters are percent-encoded: no traversal, no other host.
    for (id, path) in [
        ("a/b", "/v1/pets/a%2Fb"),
        ("../../admin", "/v1/pets/..%2F..%2Fadmin"),
        (
            "http://evil.example.com/x",
            "/v1/pets/http%3A%2F%2Fevil.example.com%2Fx",
        ),
        ("?q=1#f", "/v1/pets/%3Fq%3D1%23f"),
        ("%2e%2e", "/v1/pets/%252e%252e"),
    ] {
        let out = call(&d, "/petstore/showPetById", json!({"petId": id}))
            .await
            .unwrap();
        assert_eq!(out["path"], path, "{id}");
        assert_eq!(out["query"], "", "{id}");
    }
    for id in ["..", ".", ""] {
        let error = call(&d, "/petstore/showPetById", json!({"petId": id}))
            .await
            .unwrap_err();
        assert_eq!(error.code, "INVALID_INPUT", "{id:?}");
    }
    // Inputs are validated (3.0 dialect normalised) before anything is sent.
    let error = call(
        &d,
        "/petstore/createPet",
        json!({"body": {"name": "rex", "age": 0}}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code, "INVALID_INPUT");
    let error = call(&d, "/petstore/listPets", json!({"limit": 0}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "INVALID_INPUT");
    let error = call(&d, "/petstore/listPets", json!({"unknown": 1}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "INVALID_INPUT");
    let error = call(&d, "/petstore/createPet", json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "INVALID_INPUT");
    // 204 → null.
    // (The upstream echoes for DELETE; the declared 204 only shapes the output schema.)
    let out = call(&d, "/petstore/delete_pets_petid", json!({"petId": "7"}))
        .await
        .unwrap();
    assert_eq!(out["method"], "DELETE");
}

#[tokio::test]
async fn upstream_errors_become_http_status_codes() {
    let up = start_upstream().await;
    let d = dispatch(plan(&up.base, external()).into_registrations());
    let error = call(&d, "/petstore/showPetById", json!({"petId": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "HTTP_404");
    assert_eq!(error.message, "HTTP 404: Not Found");
    assert_eq!(error.details, Some(json!({"message": "no such pet"})));
    assert!(!error.retryable);
    // An undeclared status passes through too, with a text body as a string.
    let error = call(&d, "/petstore/showPetById", json!({"petId": "teapot"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "HTTP_418");
    assert_eq!(error.details, Some(json!("short and stout")));
    // The mapping the gateway applies: an imported 404 is a 404, not NOT_FOUND.
    let error = call(&d, "/petstore/showPetById", json!({"petId": "missing"}))
        .await
        .unwrap_err();
    let response = d.error_response("petstore/showPetById", &error, None);
    assert_eq!(response.status(), 404);
    // Transport failure → INTERNAL, never leaking the credential.
    let caps = Capabilities::new().with_http_token("petstore", "tok-secret");
    let d = dispatch(
        plan("http://127.0.0.1:1/v1", external().with_capabilities(caps)).into_registrations(),
    );
    let error = call(&d, "/petstore/listPets", json!({})).await.unwrap_err();
    assert_eq!(error.code, "INTERNAL");
    assert!(!format!("{error:?}").contains("tok-secret"));
}

#[tokio::test]
async fn subscriptions_stream_server_sent_events() {
    let up = start_upstream().await;
    let d = dispatch(plan(&up.base, external()).into_registrations());
    let items: Vec<_> = d
        .invoke_streaming(
            None,
            "/petstore/petEvents",
            json!({"petId": "7", "count": 4}),
        )
        .map(|e| e.result)
        .collect()
        .await;
    let values: Vec<Value> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, (0..4).map(|n| json!({"n": n})).collect::<Vec<_>>());
    // A non-2xx subscription is one error item.
    let d404 = dispatch(
        external_import(
            OperationSpec::subscription("x/sub"),
            HttpServiceConfig::new("x", &up.base),
            "/nothing/missing",
            Method::GET,
        )
        .import()
        .await
        .unwrap(),
    );
    let items: Vec<_> = d404
        .invoke_streaming(None, "/x/sub", json!({}))
        .map(|e| e.result)
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap_err().code, "HTTP_404");
}

#[tokio::test]
async fn credentials_come_from_capabilities_in_every_scheme() {
    let up = start_upstream().await;
    let spec = || OpenApiSpec::from_str(PETSTORE).unwrap();
    let cases = [
        (
            Some(HttpAuthScheme::Bearer),
            "authorization",
            json!("Bearer s3"),
            "",
        ),
        (
            Some(HttpAuthScheme::Basic),
            "authorization",
            json!("Basic dXNlcjpwdw=="),
            "",
        ),
        (
            Some(HttpAuthScheme::ApiKey {
                header_name: "X-API-Key".into(),
            }),
            "x_api_key",
            json!("s3"),
            "",
        ),
        (
            Some(HttpAuthScheme::ApiKeyQuery {
                param_name: "key".into(),
            }),
            "authorization",
            Value::Null,
            "key=s3",
        ),
    ];
    for (scheme, field, expected, query) in cases {
        let secret = if scheme == Some(HttpAuthScheme::Basic) {
            "user:pw"
        } else {
            "s3"
        };
        let mut config = HttpServiceConfig::new("pets", &up.base)
            .with_credential("vault-entry")
            .with_header("X-Default", "d");
        config.auth = scheme.clone();
        let options =
            external().with_capabilities(Capabilities::new().with_api_key("vault-entry", secret));
        let d = dispatch(
            FromOpenApi::new(spec(), config, http())
                .with_options(options)
                .plan()
                .unwrap()
                .into_registrations(),
        );
        let out = call(&d, "/pets/listPets", json!({})).await.unwrap();
        assert_eq!(out[field], expected, "{scheme:?}");
        assert_eq!(out["query"], query, "{scheme:?}");
        assert_eq!(out["x_default"], "d");
    }
    // No capability: nothing is sent (the upstream decides).
    let config = HttpServiceConfig::new("pets", &up.base).with_auth(HttpAuthScheme::Bearer);
    let d = dispatch(
        FromOpenApi::new(spec(), config, http())
            .with_options(external())
            .plan()
            .unwrap()
            .into_registrations(),
    );
    let out = call(&d, "/pets/listPets", json!({})).await.unwrap();
    assert_eq!(out["authorization"], Value::Null);
}

#[tokio::test]
async fn imports_are_internal_by_default() {
    let up = start_upstream().await;
    let report = plan(&up.base, ImportOptions::default());
    assert!(
        report
            .operations
            .iter()
            .all(|o| o.registration.spec.visibility == Visibility::Internal)
    );
    let d = dispatch(report.into_registrations());
    assert_eq!(
        call(&d, "/petstore/listPets", json!({}))
            .await
            .unwrap_err()
            .code,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn response_size_is_limited() {
    let up = start_upstream().await;
    let config = HttpServiceConfig::new("x", &up.base)
        .with_limits(ForwardLimits::default().with_max_response_bytes(1024));
    let registration = external_import(OperationSpec::query("x/big"), config, "/big", Method::GET)
        .registration()
        .unwrap();
    let d = dispatch(vec![registration]);
    let error = call(&d, "/x/big", json!({})).await.unwrap_err();
    assert_eq!(error.code, "INTERNAL");
    assert!(error.message.contains("1024 bytes"), "{}", error.message);
}

#[tokio::test]
async fn an_upstream_retry_after_reaches_the_caller() {
    let up = start_upstream().await;
    let registration = external_import(
        OperationSpec::query("x/busy"),
        HttpServiceConfig::new("x", &up.base),
        "/busy",
        Method::GET,
    )
    .registration()
    .unwrap();
    let d = dispatch(vec![registration]);
    let failure = d
        .call(None, "/x/busy", json!({}), Default::default())
        .await
        .unwrap_err();
    assert_eq!(failure.error.code, "HTTP_429");
    assert!(failure.error.retryable);
    assert_eq!(failure.error.retry_after_ms, Some(7000));
    let response = failure.to_http_response();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
}

#[tokio::test]
async fn from_jsonschema_imports_are_internal_unless_made_external() {
    let up = start_upstream().await;
    let importer = || {
        FromJsonSchema::new(
            OperationSpec::query("weather/now"),
            HttpServiceConfig::new("weather", &up.base),
            "/forecast/here",
            Method::GET,
            http(),
        )
    };
    let internal = importer().registration().unwrap();
    assert_eq!(internal.spec.visibility, Visibility::Internal);
    let d = dispatch(vec![internal]);
    assert_eq!(
        call(&d, "/weather/now", json!({})).await.unwrap_err().code,
        "NOT_FOUND"
    );
    let external = importer()
        .with_visibility(Visibility::External)
        .registration()
        .unwrap();
    let d = dispatch(vec![external]);
    assert!(call(&d, "/weather/now", json!({})).await.is_ok());
}

#[tokio::test]
async fn from_jsonschema_forwards_with_the_same_rules() {
    let up = start_upstream().await;
    let spec = OperationSpec::query("weather/forecast").with_input_schema(json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"]
    }));
    let importer = external_import(
        spec,
        HttpServiceConfig::new("weather", &up.base).with_auth(HttpAuthScheme::Bearer),
        "/forecast/{city}",
        Method::GET,
    )
    .with_capabilities(Capabilities::new().with_http_token("weather", "wt"));
    let registrations = importer.import().await.unwrap();
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].provenance, Provenance::FromJsonSchema);
    assert!(matches!(
        registrations[0].handler,
        alknet_http_core::HandlerKind::Once(_)
    ));
    let d = dispatch(registrations);
    let out = call(
        &d,
        "/weather/forecast",
        json!({"city": "São Paulo", "days": 3}),
    )
    .await
    .unwrap();
    assert_eq!(out["path"], "/v1/forecast/S%C3%A3o%20Paulo");
    assert_eq!(out["query"], "days=3");
    assert_eq!(out["authorization"], "Bearer wt");
    assert_eq!(
        call(&d, "/weather/forecast", json!({}))
            .await
            .unwrap_err()
            .code,
        "INVALID_INPUT"
    );
    // A mutation sends `body` as JSON; HTTP errors keep their status.
    let post = external_import(
        OperationSpec::mutation("w/post"),
        HttpServiceConfig::new("w", &up.base),
        "/things/{id}",
        Method::POST,
    );
    let d = dispatch(vec![post.registration().unwrap()]);
    let out = call(&d, "/w/post", json!({"id": "1", "body": [1, 2]}))
        .await
        .unwrap();
    assert_eq!(
        (out["path"].as_str(), out["body"].clone()),
        (Some("/v1/things/1"), json!([1, 2]))
    );
    let error = call(&d, "/w/post", json!({"id": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "HTTP_404");
    // A subscription streams.
    let sub = external_import(
        OperationSpec::subscription("w/events"),
        HttpServiceConfig::new("w", &up.base),
        "/events",
        Method::GET,
    );
    let registration = sub.registration().unwrap();
    assert!(matches!(
        registration.handler,
        alknet_http_core::HandlerKind::Stream(_)
    ));
    let d = dispatch(vec![registration]);
    let n = d
        .invoke_streaming(None, "/w/events", json!({"count": 2}))
        .count()
        .await;
    assert_eq!(n, 2);
}

#[test]
fn parsing_json_yaml_and_refusals() {
    let minimal_json = r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#;
    let report = FromOpenApi::new(
        OpenApiSpec::from_json(minimal_json).unwrap(),
        HttpServiceConfig::new("m", "http://h"),
        http(),
    )
    .plan()
    .unwrap();
    assert_eq!(report.operations.len(), 1);
    assert_eq!(report.operations[0].registration.spec.name, "m/get_a");
    let minimal_yaml = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
    assert!(
        OpenApiSpec::from_yaml(minimal_yaml).is_ok(),
        "integer response keys"
    );
    assert!(OpenApiSpec::from_str(minimal_yaml).is_ok());
    assert!(OpenApiSpec::from_str(minimal_json).is_ok());
    // JSON first: a JSON string "yes" stays a string.
    let yes = r#"{"openapi":"3.1.0","info":{"title":"yes","version":"1"},"paths":{}}"#;
    assert_eq!(
        OpenApiSpec::from_str(yes).unwrap().document()["info"]["title"],
        "yes"
    );
    let bare_yes = "openapi: 3.1.0\ninfo: {title: yes, version: '1'}\npaths: {}\n";
    let parsed = OpenApiSpec::from_yaml(bare_yes).unwrap();
    assert_eq!(
        parsed.document()["info"]["title"],
        "yes",
        "YAML 1.2: `yes` is a string"
    );
    for (text, expected) in [
        ("{not json", "not valid JSON"),
        ("openapi: [unclosed", "not valid YAML"),
        ("[1, 2]", "object"),
        ("info: {}", "no `openapi`"),
        ("openapi: 2.5.0", "OpenAPI version"),
        ("openapi: 3.0.0\npaths: 3", "`paths`"),
    ] {
        let error = OpenApiSpec::from_str(text).unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains(expected), "{text}: {shown}");
        assert!(
            matches!(
                error,
                AdapterError::SchemaParse { .. } | AdapterError::Unsupported(_)
            ),
            "{text}"
        );
    }
    // The parser's own error is the typed source, and its text is in the one line too.
    let not_json = OpenApiSpec::from_json("openapi: 3.0.0").unwrap_err();
    let source = std::error::Error::source(&not_json).expect("the JSON parser's error");
    assert!(
        source.downcast_ref::<serde_json::Error>().is_some(),
        "{source:?}"
    );
    assert!(
        not_json.to_string().ends_with(&source.to_string()),
        "{not_json}"
    );
    assert!(matches!(not_json, AdapterError::SchemaParse { .. }));
    let swagger = OpenApiSpec::from_str(r#"{"swagger":"2.0","info":{},"paths":{}}"#).unwrap_err();
    assert!(
        matches!(swagger, AdapterError::Unsupported(ref m) if m.contains("Swagger 2.0")),
        "{swagger}"
    );
}

#[test]
fn names_collide_deterministically_and_rename_maps_resolve_them() {
    let doc = r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{
        "/a_b":{"get":{"responses":{}}},
        "/a/b":{"get":{"responses":{}}}}}"#;
    let importer = |options: ImportOptions| {
        FromOpenApi::new(
            OpenApiSpec::from_str(doc).unwrap(),
            HttpServiceConfig::new("n", "http://h"),
            http(),
        )
        .with_options(options)
        .plan()
    };
    // Within one document the later operation (in document order) gets the first free `_<n>`.
    let names_of = |report: &alknet_http_openapi::import::ImportReport| -> Vec<String> {
        report
            .operations
            .iter()
            .map(|o| o.registration.spec.name.clone())
            .collect()
    };
    let report = importer(ImportOptions::default()).unwrap();
    assert_eq!(names_of(&report), ["n/get_a_b", "n/get_a_b_2"]);
    assert_eq!(
        report.warnings[0].to_string(),
        "GET /a_b: `n/get_a_b` is already the name of GET /a/b: imported as `n/get_a_b_2`"
    );
    assert_eq!(
        names_of(&importer(ImportOptions::default()).unwrap()),
        names_of(&report),
        "stable across runs"
    );
    // A rename onto a taken name is a configuration mistake naming both.
    let error = importer(ImportOptions::default().with_rename("GET /a_b", "get_a_b")).unwrap_err();
    let AdapterError::NameCollision {
        name,
        first,
        second,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(name, "n/get_a_b");
    assert_eq!((first.as_str(), second.as_str()), ("GET /a/b", "GET /a_b"));
    let report = importer(ImportOptions::default().with_rename("GET /a/b", "nested")).unwrap();
    let names: Vec<_> = report
        .operations
        .iter()
        .map(|o| o.registration.spec.name.clone())
        .collect();
    assert_eq!(names, ["n/nested", "n/get_a_b"]);
    let error = importer(
        ImportOptions::default()
            .with_rename("GET /a/b", "nested")
            .with_rename("GET /nope", "x"),
    )
    .unwrap_err();
    assert!(
        matches!(&error, AdapterError::InvalidConfig(m) if m.contains("GET /nope")),
        "{error}"
    );
    // Bad configuration is refused up front.
    for (ns, base) in [
        ("bad ns", "http://h"),
        ("n", "ftp://h"),
        ("n", "http://h/?q=1"),
        ("n", "not a url"),
    ] {
        let error = FromOpenApi::new(
            OpenApiSpec::from_str(doc).unwrap(),
            HttpServiceConfig::new(ns, base),
            http(),
        )
        .plan()
        .unwrap_err();
        assert!(
            matches!(error, AdapterError::InvalidConfig(_)),
            "{ns} {base}: {error}"
        );
    }
}

#[test]
fn filters_by_tag_and_operation() {
    let select = |options: ImportOptions| -> Vec<String> {
        plan("http://h", options)
            .operations
            .into_iter()
            .map(|o| o.registration.spec.name)
            .collect()
    };
    let mut options = ImportOptions::default();
    options.include_tags.insert("pets".into());
    assert_eq!(
        select(options.clone()),
        ["petstore/listPets", "petstore/createPet"]
    );
    options.exclude_tags.insert("write".into());
    assert_eq!(select(options), ["petstore/listPets"]);
    let mut options = ImportOptions::default();
    options.include_operations.insert("showPetById".into());
    options
        .include_operations
        .insert("DELETE /pets/{petId}".into());
    assert_eq!(
        select(options),
        ["petstore/showPetById", "petstore/delete_pets_petid"]
    );
    let mut options = ImportOptions::default();
    options.exclude_operations.insert("petEvents".into());
    assert_eq!(select(options).len(), 5);
}

#[test]
fn long_operation_ids_are_capped() {
    let long = "x".repeat(90);
    let doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {
        "/a": {"get": {"operationId": long, "responses": {}}},
        "/b": {"get": {"operationId": format!("{long}y"), "responses": {}}}
    }});
    let report = FromOpenApi::new(
        OpenApiSpec::from_value(doc).unwrap(),
        HttpServiceConfig::new("n", "http://h"),
        http(),
    )
    .plan()
    .unwrap();
    let names: Vec<&str> = report
        .operations
        .iter()
        .map(|o| o.registration.spec.name.as_str())
        .collect();
    assert!(names.iter().all(|n| n.len() <= 64), "{names:?}");
    assert_ne!(names[0], names[1]);
    // The registry accepts them.
    OperationRegistry::builder()
        .with_all(report.into_registrations())
        .build()
        .unwrap();
}
