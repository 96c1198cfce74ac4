//! Arbitrary bodies at `/call`, `/batch` and `/subscribe` of the real server: every one gets a
//! typed answer (a mapped status with a JSON CallError, or an event stream) and never a 5xx, a
//! hang or a dropped connection.

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::fixtures::{Node, READER, WRITER, client, start};

fn node() -> &'static (tokio::runtime::Runtime, Node) {
    static NODE: OnceLock<(tokio::runtime::Runtime, Node)> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let node = runtime.block_on(start());
        (runtime, node)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn operation() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("/demo/echo")),
        Just(json!("demo/register")),
        Just(json!("/demo/admin")),
        Just(json!("/demo/secret")),
        Just(json!("/demo/fail")),
        Just(json!("/nope/nothing")),
        Just(json!("")),
        ".{0,20}".prop_map(Value::String),
        json_value(),
    ]
}

fn envelope() -> impl Strategy<Value = Value> {
    (operation(), json_value(), any::<bool>(), json_value()).prop_map(|(op, input, extra, junk)| {
        let mut envelope = json!({ "operation": op, "input": input });
        if extra {
            envelope["unexpected"] = junk;
        }
        envelope
    })
}

/// A body: an envelope, an array of them, any JSON, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => envelope().prop_map(|v| v.to_string().into_bytes()),
        2 => proptest::collection::vec(envelope(), 0..5).prop_map(|v| Value::Array(v).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

fn token() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some(READER)),
        Just(Some(WRITER)),
        Just(Some("bogus"))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn every_body_gets_a_typed_answer(path in prop_oneof![Just("/call"), Just("/batch"), Just("/subscribe")], body in body(), token in token()) {
        let (runtime, node) = node();
        let outcome: Result<(), String> = runtime.block_on(async {
            let mut request = client()
                .post(node.url(path))
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = tokio::time::timeout(Duration::from_secs(10), request.send())
                .await
                .map_err(|_| "no answer in 10 s".to_owned())?
                .map_err(|e| format!("the connection failed: {e}"))?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = tokio::time::timeout(Duration::from_secs(10), response.text())
                .await
                .map_err(|_| "the body did not end in 10 s".to_owned())?
                .map_err(|e| format!("reading the body failed: {e}"))?;
            let allowed: &[u16] = match path {
                "/call" => &[200, 400, 401, 403, 404, 409, 422],
                "/batch" => &[200, 400],
                _ => &[200, 400],
            };
            if !allowed.contains(&status) {
                return Err(format!("{path} answered {status}: {text}"));
            }
            if status == 200 && path == "/subscribe" {
                if !content_type.starts_with("text/event-stream") {
                    return Err(format!("/subscribe 200 with {content_type}"));
                }
            } else if status != 200 {
                let error: Value = serde_json::from_str(&text).map_err(|e| format!("{status} body is not JSON ({e}): {text}"))?;
                if !error["code"].is_string() || !error["message"].is_string() {
                    return Err(format!("{status} body is not a CallError: {text}"));
                }
            } else if path == "/batch" && !serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_array()) {
                return Err(format!("/batch 200 is not an array: {text}"));
            }
            Ok(())
        });
        outcome.map_err(|e| TestCaseError::fail(format!("{e}\nbody: {}", String::from_utf8_lossy(&body))))?;
    }
}
