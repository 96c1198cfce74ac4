//! `/call` and `/batch`: http-surfaces §14 "Gateway" and "Errors" over HTTP.

use std::time::Duration;

use alknet_http_gateway::GatewayConfig;
use serde_json::{Value, json};

use crate::fixtures::{READER, WRITER, call, client, start, start_with};

#[tokio::test]
async fn call_returns_the_output_as_the_body() {
    let node = start().await;
    let (status, headers, body) = call(&node, None, "/demo/echo", json!({"hi": [1, 2]})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"hi": [1, 2]}));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // The name works without its slash, and absent input is null.
    let response = client()
        .post(node.url("/call"))
        .body(r#"{"operation":"demo/echo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), Value::Null);
}

#[tokio::test]
async fn internal_and_unknown_are_the_same_404() {
    let node = start().await;
    let (hidden_status, _, hidden) = call(&node, Some(WRITER), "/demo/secret", json!({})).await;
    let (unknown_status, _, unknown) = call(&node, Some(WRITER), "/demo/secreT", json!({})).await;
    assert_eq!((hidden_status, unknown_status), (404, 404));
    assert_eq!(hidden["code"], "NOT_FOUND");
    assert_eq!(hidden["message"], "operation not found: /demo/secret");
    assert_eq!(unknown["message"], "operation not found: /demo/secreT");
    assert_eq!(
        hidden.as_object().unwrap().len(),
        unknown.as_object().unwrap().len()
    );
}

#[tokio::test]
async fn anonymous_is_401_with_www_authenticate_and_identified_is_403() {
    let node = start().await;
    let (status, headers, body) = call(&node, None, "/demo/admin", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(body["code"], "FORBIDDEN");
    let (status, headers, body) = call(&node, Some(READER), "/demo/admin", json!({})).await;
    assert_eq!(status, 403);
    // RFC 6750: the caller's token lacks scopes, and the challenge names them.
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\""),
        "{challenge}"
    );
    assert_eq!(body["code"], "FORBIDDEN");
    assert_eq!(body["details"]["reason"], "insufficient_scope");
    // An unresolvable token is anonymous.
    let (status, _, _) = call(&node, Some("alk_wrong"), "/demo/admin", json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn malformed_envelopes_are_400_and_schema_failures_422() {
    let node = start().await;
    let http = client();
    for body in [
        "not json",
        "[1,2]",
        r#"{"input": {}}"#,
        r#"{"operation": 7}"#,
        "",
    ] {
        let response = http
            .post(node.url("/call"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "INVALID_INPUT", "{body}");
    }
    let (status, _, body) = call(&node, Some(WRITER), "/demo/register", json!({"name": 42})).await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "INVALID_INPUT");
    assert_eq!(body["details"]["errors"][0]["instance_path"], "/name");
}

#[tokio::test]
async fn every_error_row_maps_to_its_status() {
    let node = start_with(GatewayConfig::default(), Duration::from_millis(200)).await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/demo/ticks", json!({}), 400, "INVALID_OPERATION_TYPE"),
        (
            "/demo/register",
            json!({"name": "admin"}),
            409,
            "NAME_TAKEN",
        ),
        ("/demo/register", json!({"name": "boom"}), 500, "INTERNAL"),
        ("/demo/panic", json!({}), 500, "INTERNAL"),
        ("/demo/forever", json!({}), 504, "TIMEOUT"),
        ("/upstream/pets", json!({"status": 404}), 404, "HTTP_404"),
        ("/upstream/pets", json!({"status": 418}), 418, "HTTP_418"),
        ("/upstream/pets", json!({"status": 401}), 502, "HTTP_401"),
        ("/upstream/pets", json!({"status": 403}), 502, "HTTP_403"),
        ("/upstream/pets", json!({"status": 407}), 502, "HTTP_407"),
    ];
    for (operation, input, expected_status, expected_code) in cases {
        let (status, headers, body) = call(&node, Some(WRITER), operation, input.clone()).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (expected_status, expected_code),
            "{operation} {input}"
        );
        assert!(headers.get("www-authenticate").is_none(), "{operation}");
    }
    let (_, _, timeout) = call(&node, None, "/demo/forever", json!({})).await;
    assert_eq!(timeout["retryable"], true);
    let (_, _, undeclared) = call(
        &node,
        Some(WRITER),
        "/demo/register",
        json!({"name": "boom"}),
    )
    .await;
    assert_eq!(undeclared["details"]["original_code"], "UNDECLARED");
}

#[tokio::test]
async fn retry_after_on_retryable_429_and_503() {
    let node = start().await;
    let (status, headers, body) = call(
        &node,
        None,
        "/upstream/pets",
        json!({"status": 429, "retry_after": 9}),
    )
    .await;
    assert_eq!((status, body["retryable"].as_bool()), (429, Some(true)));
    assert_eq!(headers["retry-after"], "9");
    let (status, headers, _) = call(
        &node,
        None,
        "/upstream/pets",
        json!({"status": 503, "retry_after": 2}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "2");
    let (_, headers, _) = call(
        &node,
        None,
        "/upstream/pets",
        json!({"status": 502, "retry_after": 2}),
    )
    .await;
    assert!(headers.get("retry-after").is_none());
}

#[tokio::test]
async fn a_disconnect_cancels_a_query() {
    let node = start().await;
    let dropped = node.hooks.watch_drop();
    let request = tokio::spawn(
        client()
            .post(node.url("/call"))
            .json(&json!({"operation": "/demo/slowQuery"}))
            .send(),
    );
    node.hooks.started.notified().await;
    request.abort();
    let _ = request.await;
    tokio::time::timeout(Duration::from_secs(10), dropped)
        .await
        .expect("the query was not cancelled")
        .unwrap_err();
}

#[tokio::test]
async fn a_mutation_survives_a_disconnect() {
    let node = start().await;
    let completed = node.hooks.watch_completion();
    let request = tokio::spawn(
        client()
            .post(node.url("/call"))
            .json(&json!({"operation": "/demo/slowMutation"}))
            .send(),
    );
    node.hooks.started.notified().await;
    request.abort();
    let _ = request.await;
    // The mutation is still waiting for its release: let it finish.
    node.hooks.release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), completed)
        .await
        .expect("mutation did not finish")
        .expect("mutation was dropped");
}

#[tokio::test]
async fn batch_is_ordered_independent_and_bounded() {
    let node = start_with(
        GatewayConfig::default().with_max_batch_len(4),
        Duration::from_secs(30),
    )
    .await;
    let http = client();
    let batch = json!([
        {"operation": "/demo/echo", "input": 1},
        {"operation": "/demo/secret", "input": {}},
        {"operation": "/demo/register", "input": {"name": "admin"}},
        {"operation": "/demo/ticks"}
    ]);
    let response = http
        .post(node.url("/batch"))
        .bearer_auth(WRITER)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let results: Value = response.json().await.unwrap();
    assert_eq!(results[0], json!({"output": 1}));
    assert_eq!(
        (
            results[1]["error"]["code"].as_str(),
            results[1]["status"].as_u64()
        ),
        (Some("NOT_FOUND"), Some(404))
    );
    assert_eq!(
        (
            results[2]["error"]["code"].as_str(),
            results[2]["status"].as_u64()
        ),
        (Some("NAME_TAKEN"), Some(409))
    );
    assert_eq!(
        (
            results[3]["error"]["code"].as_str(),
            results[3]["status"].as_u64()
        ),
        (Some("INVALID_OPERATION_TYPE"), Some(400))
    );
    let empty = http
        .post(node.url("/batch"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.json::<Value>().await.unwrap(), json!([]));
    let too_long = json!([{"operation": "/demo/echo"}, {"operation": "/demo/echo"}, {"operation": "/demo/echo"}, {"operation": "/demo/echo"}, {"operation": "/demo/echo"}]);
    let response = http
        .post(node.url("/batch"))
        .json(&too_long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A batch holding anything but call envelopes is malformed as a whole.
    for malformed in [
        "{}",
        "nope",
        r#"[{"operation":"/demo/echo"},{"nope":true}]"#,
        "[[null]]",
        r#"[{"operation":""}]"#,
    ] {
        assert_eq!(
            http.post(node.url("/batch"))
                .body(malformed)
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
    }
}

#[tokio::test]
async fn batch_elements_run_concurrently_up_to_the_bound() {
    // Two slow queries in one batch with concurrency 2: both start before either is released.
    let node = start_with(
        GatewayConfig::default().with_batch_concurrency(2),
        Duration::from_secs(30),
    )
    .await;
    let batch = json!([{"operation": "/demo/slowQuery"}, {"operation": "/demo/slowQuery"}]);
    let request = tokio::spawn(client().post(node.url("/batch")).json(&batch).send());
    node.hooks.started.notified().await;
    node.hooks.started.notified().await;
    node.hooks.release.notify_waiters();
    let results: Value = request.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(
        results,
        json!([{"output": "query finished"}, {"output": "query finished"}])
    );
}

#[tokio::test]
async fn every_answer_carries_the_request_id_which_is_the_calls() {
    let node = start().await;
    let with = |id: Option<&'static str>| {
        let request = client()
            .post(node.url("/call"))
            .body(r#"{"operation":"/demo/requestId"}"#);
        match id {
            Some(id) => request.header("x-request-id", id),
            None => request,
        }
    };
    // A valid incoming id is kept, and it is the call's id.
    let response = with(Some("trace-42.a:b")).send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42.a:b");
    assert_eq!(response.json::<Value>().await.unwrap(), "trace-42.a:b");
    // Without one, or with an invalid one, the node picks a UUID and answers it.
    for id in [None, Some("two words"), Some("")] {
        let response = with(id).send().await.unwrap();
        let answered = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(answered.len(), 36, "{id:?}: {answered}");
        assert_eq!(response.json::<Value>().await.unwrap(), answered.as_str());
    }
    let too_long = "x".repeat(129);
    let response = client()
        .post(node.url("/call"))
        .header("x-request-id", &too_long)
        .body(r#"{"operation":"/demo/echo"}"#)
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], too_long.as_str());
    // Errors, probes and the decoy carry one too.
    for path in ["/healthz", "/nowhere"] {
        let response = client().get(node.url(path)).send().await.unwrap();
        assert!(response.headers().contains_key("x-request-id"), "{path}");
    }
    let (status, headers, _) = call(&node, None, "/demo/secret", json!({})).await;
    assert_eq!(status, 404);
    assert!(headers.contains_key("x-request-id"));
}
