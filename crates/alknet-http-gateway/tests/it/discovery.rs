//! `/search` and `/schema`: per-caller discovery.

use serde_json::{Value, json};

use crate::fixtures::{READER, WRITER, client, start};

async fn search(node: &crate::fixtures::Node, token: Option<&str>, query: &str) -> Value {
    let mut request = client().get(node.url(&format!("/search{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn names(listing: &Value) -> Vec<&str> {
    listing["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_lists_only_permitted_ops_without_schemas() {
    let node = start().await;
    let anonymous = search(&node, None, "").await;
    let anonymous_names = names(&anonymous);
    assert!(
        anonymous_names.contains(&"demo/echo") && anonymous_names.contains(&"demo/ticks"),
        "subscriptions listed"
    );
    assert!(
        !anonymous_names.contains(&"demo/register"),
        "restricted op hidden from anonymous callers"
    );
    assert!(
        !anonymous_names.contains(&"demo/secret") && !anonymous_names.contains(&"demo/hang"),
        "Internal never listed"
    );
    assert!(!anonymous_names.contains(&"demo/admin"));
    let writer = search(&node, Some(WRITER), "").await;
    assert!(names(&writer).contains(&"demo/register"));
    for op in writer["operations"].as_array().unwrap() {
        let keys: Vec<&str> = op.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys.iter()
                .all(|k| ["name", "namespace", "op_type", "description"].contains(k)),
            "{keys:?}"
        );
    }
}

#[tokio::test]
async fn search_filters_by_namespace_and_text() {
    let node = start().await;
    let upstream = search(&node, None, "?namespace=upstream").await;
    assert_eq!(names(&upstream), vec!["upstream/pets"]);
    let text = search(&node, Some(WRITER), "?q=REGISTER").await;
    assert_eq!(names(&text), vec!["demo/register"]);
    let by_description = search(&node, None, "?q=count%20up").await;
    assert_eq!(names(&by_description), vec!["demo/ticks"]);
    assert_eq!(
        search(&node, None, "?namespace=nothing").await,
        json!({"operations": []})
    );
}

#[tokio::test]
async fn schema_returns_the_full_spec_or_the_right_error() {
    let node = start().await;
    let http = client();
    let response = http
        .get(node.url("/schema?operation=/demo/register"))
        .bearer_auth(WRITER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.unwrap();
    assert_eq!(spec["name"], "demo/register");
    assert_eq!(spec["error_schemas"][0]["code"], "NAME_TAKEN");
    assert_eq!(spec["error_schemas"][0]["http_status"], 409);
    let status = |token: Option<&'static str>, query: &'static str| {
        let http = http.clone();
        let url = node.url(query);
        async move {
            let mut request = http.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.headers().get("www-authenticate").is_some(),
            )
        }
    };
    assert_eq!(
        status(Some(READER), "/schema?operation=demo/register").await,
        (403, false)
    );
    assert_eq!(
        status(None, "/schema?operation=demo/register").await,
        (401, true)
    );
    assert_eq!(
        status(Some(WRITER), "/schema?operation=demo/secret").await,
        (404, false)
    );
    assert_eq!(
        status(Some(WRITER), "/schema?operation=demo/none").await,
        (404, false)
    );
    assert_eq!(status(None, "/schema").await, (400, false));
    assert_eq!(status(None, "/schema?operation=").await, (400, false));
}
