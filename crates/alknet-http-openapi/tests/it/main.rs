//! http-surfaces §14 "to_openapi" (here) and "from_openapi"/"from_jsonschema" (`import`).

#[cfg(feature = "import")]
mod bodies;
#[cfg(feature = "import")]
mod fuzz;
#[cfg(feature = "import")]
mod import;
#[cfg(feature = "import")]
mod limits;
#[cfg(feature = "import")]
mod sweep;

use std::path::PathBuf;

use alknet_http_core::error::http_error_definition;
use alknet_http_core::{
    Capabilities, ErrorDefinition, HandlerKind, OperationRegistry, OperationSpec,
};
use alknet_http_openapi::{GATEWAY_API_VERSION, PATH, router, to_openapi};
use serde_json::{Value, json};
use tower::ServiceExt;

fn registry() -> OperationRegistry {
    let once = || HandlerKind::once(|i, _| async move { Ok(i) });
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/echo"),
            once(),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/register")
                .with_error(ErrorDefinition::new("NAME_TAKEN", "taken").with_http_status(409)),
            once(),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("pets/get")
                .with_error(http_error_definition(404, "No such pet"))
                .with_error(http_error_definition(418, "Teapot")),
            once(),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("secret/op")
                .internal()
                .with_error(ErrorDefinition::new("HIDDEN", "x").with_http_status(451)),
            once(),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

#[test]
fn exactly_the_five_gateway_paths() {
    let doc = to_openapi(&registry());
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["/batch", "/call", "/schema", "/search", "/subscribe"]
    );
    let text = doc.to_string();
    assert!(
        !text.contains("pets/get")
            && !text.contains("demo/register")
            && !text.contains("secret/op"),
        "no operation is named"
    );
    assert_eq!(
        doc["paths"]["/search"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["get"]
    );
    assert_eq!(
        doc["paths"]["/call"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["post"]
    );
}

#[test]
fn version_and_security() {
    let doc = to_openapi(&registry());
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], "1.1.0");
    assert_eq!(GATEWAY_API_VERSION, "1.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": "A node token (alknet-http token new)"})
    );
}

#[test]
fn call_describes_its_envelope_and_every_status() {
    let doc = to_openapi(&registry());
    let call = &doc["paths"]["/call"]["post"];
    assert_eq!(
        call["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CallEnvelope"
    );
    let envelope = &doc["components"]["schemas"]["CallEnvelope"];
    assert_eq!(envelope["required"], json!(["operation"]));
    let statuses: Vec<&str> = call["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for status in ["200", "400", "401", "403", "404", "422", "500", "504"] {
        assert!(
            statuses.contains(&status),
            "{status} missing from {statuses:?}"
        );
        if status != "200" {
            assert_eq!(
                call["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/CallError",
                "{status}"
            );
        }
    }
    // Declared statuses of External operations (HTTP_404 is already there; 409 and 418 are added).
    assert!(
        statuses.contains(&"409") && statuses.contains(&"418"),
        "{statuses:?}"
    );
    // Internal operations declare nothing visible.
    assert!(!statuses.contains(&"451"));
}

#[test]
fn subscribe_is_an_event_stream() {
    let doc = to_openapi(&registry());
    let content = &doc["paths"]["/subscribe"]["post"]["responses"]["200"]["content"];
    assert!(content.get("text/event-stream").is_some(), "{content}");
}

#[test]
fn the_projection_is_pure_and_caller_independent() {
    let registry = registry();
    let before = registry.len();
    let a = to_openapi(&registry);
    let b = to_openapi(&registry);
    assert_eq!(a, b);
    assert_eq!(registry.len(), before, "registry untouched");
}

#[tokio::test]
async fn served_at_openapi_json() {
    let response = router(&registry())
        .oneshot(
            axum::http::Request::builder()
                .uri(PATH)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, to_openapi(&registry()));
}

#[test]
fn matches_the_golden_file() {
    let doc = to_openapi(&registry());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/openapi.json");
    let rendered = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).expect("missing golden file; run with UPDATE_GOLDEN=1");
    assert_eq!(
        rendered, expected,
        "the OpenAPI document changed: review the diff, rerun with UPDATE_GOLDEN=1, and bump GATEWAY_API_VERSION if the gateway contract changed"
    );
}
