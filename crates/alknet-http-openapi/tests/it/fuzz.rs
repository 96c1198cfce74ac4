//! Mutations of a real document never make the importer panic: each mutated document imports,
//! or is refused with a typed error, and what imports is accepted by the registry.

use std::sync::Arc;

use alknet_http_core::OperationRegistry;
use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_openapi::import::{FromOpenApi, HttpServiceConfig, OpenApiSpec};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Every JSON pointer of `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What a mutation puts in place of a node.
fn replacement(kind: u8, document: &Value, other: &str) -> Option<Value> {
    Some(match kind % 12 {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!("x"),
        3 => json!(true),
        4 => json!([]),
        5 => json!({}),
        6 => json!({"$ref": "#/components/schemas/Pet"}),
        7 => json!({"$ref": "#/nowhere"}),
        8 => json!({"$ref": format!("#{other}")}),
        9 => json!({"$ref": "other.yaml#/x"}),
        10 => {
            json!({"type": ["string", 3], "nullable": "yes", "exclusiveMinimum": true, "pattern": "(?<"})
        }
        // A copy of another subtree (which may contain the node itself: a cycle by value is
        // impossible, but refs inside it now point elsewhere).
        _ => document.pointer(other)?.clone(),
    })
}

fn mutate(mut document: Value, edits: &[(usize, u8, usize)]) -> Value {
    for &(target, kind, source) in edits {
        let mut all = Vec::new();
        pointers(&document, String::new(), &mut all);
        let at = all[target % all.len()].clone();
        let other = all[source % all.len()].clone();
        let Some(new) = replacement(kind, &document, &other) else {
            continue;
        };
        if at.is_empty() {
            document = new;
        } else if let Some(slot) = document.pointer_mut(&at) {
            *slot = new;
        }
    }
    document
}

static HTTP: std::sync::OnceLock<Arc<SharedHttpClient>> = std::sync::OnceLock::new();

fn seed() -> Value {
    OpenApiSpec::from_str(crate::import::PETSTORE)
        .unwrap()
        .document()
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_import_or_are_refused(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..6)) {
        let http = HTTP
            .get_or_init(|| Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap()))
            .clone();
        let document = mutate(seed(), &edits);
        let Ok(spec) = OpenApiSpec::from_value(document) else { return Ok(()) };
        let Ok(report) = FromOpenApi::new(spec, HttpServiceConfig::new("m", "http://127.0.0.1:9"), http).plan() else {
            return Ok(());
        };
        let registrations = report.into_registrations();
        OperationRegistry::builder().with_all(registrations).build().map_err(|e| {
            TestCaseError::fail(format!("the registry refused an import: {e}"))
        })?;
    }

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in ".{0,400}") {
        let _ = OpenApiSpec::from_str(&text);
        let _ = OpenApiSpec::from_yaml(&text);
    }
}
