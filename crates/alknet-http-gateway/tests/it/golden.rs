//! Golden files (reviewed diffs) for `/search`, `/schema` and error bodies of the demo registry.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p alknet-http-gateway`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::fixtures::{READER, WRITER, call, client, start};

fn check(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let rendered = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert_eq!(
        rendered, expected,
        "{name} differs from its golden file; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

async fn get(url: String, token: Option<&str>) -> Value {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    json!({ "status": response.status().as_u16(), "body": response.json::<Value>().await.unwrap() })
}

#[tokio::test]
async fn search_and_schema_match_their_golden_files() {
    let node = start().await;
    check(
        "search_anonymous.json",
        &get(node.url("/search"), None).await,
    );
    check(
        "search_writer.json",
        &get(node.url("/search"), Some(WRITER)).await,
    );
    check(
        "schema_demo_register.json",
        &get(node.url("/schema?operation=/demo/register"), Some(WRITER)).await,
    );
}

#[tokio::test]
async fn error_bodies_match_their_golden_file() {
    let node = start().await;
    let mut errors = serde_json::Map::new();
    for (label, token, operation, input) in [
        ("not_found", None, "/demo/nothing", json!({})),
        ("internal_hidden", Some(WRITER), "/demo/secret", json!({})),
        (
            "unauthenticated",
            None,
            "/demo/register",
            json!({"name": "x"}),
        ),
        (
            "forbidden",
            Some(READER),
            "/demo/register",
            json!({"name": "x"}),
        ),
        (
            "invalid_input",
            Some(WRITER),
            "/demo/register",
            json!({"name": ""}),
        ),
        ("wrong_type", None, "/demo/ticks", json!({})),
        (
            "domain_error",
            Some(WRITER),
            "/demo/register",
            json!({"name": "admin"}),
        ),
        (
            "undeclared_error",
            Some(WRITER),
            "/demo/register",
            json!({"name": "boom"}),
        ),
        (
            "upstream_404",
            None,
            "/upstream/pets",
            json!({"status": 404}),
        ),
    ] {
        let (status, _, body) = call(&node, token, operation, input).await;
        errors.insert(label.to_owned(), json!({ "status": status, "body": body }));
    }
    check("errors.json", &Value::Object(errors));
}
