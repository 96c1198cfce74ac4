//! `GatewayClient` against the real gateway: typed outputs and items, the node's errors with
//! their codes and details, what never reached an answer, and every limit crossed.

use std::time::Duration;

use alknet_http_gateway::client::{GatewayClient, GatewayClientConfig};
use alknet_http_tests::within;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fixtures::{WRITER, start};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Pet {
    name: String,
    legs: u8,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Registered {
    registered: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tick {
    tick: u32,
}

fn client_of(node: &crate::fixtures::Node) -> GatewayClient {
    GatewayClient::new(&node.url(""))
        .unwrap()
        .with_token(WRITER)
}

#[tokio::test]
async fn a_call_answers_its_typed_output() {
    let node = start().await;
    let client = client_of(&node);
    let rex = Pet {
        name: "rex".into(),
        legs: 4,
    };
    let echoed: Pet = within(client.call("demo/echo", &rex)).await.unwrap();
    assert_eq!(echoed, rex);
    let registered: Registered = within(client.call("/demo/register", &json!({"name": "ada"})))
        .await
        .unwrap();
    assert_eq!(registered.registered, "ada");
}

#[tokio::test]
async fn the_nodes_errors_arrive_with_their_codes_and_details() {
    let node = start().await;
    let client = client_of(&node);
    let taken = within(client.call::<Value>("demo/register", &json!({"name": "admin"})))
        .await
        .unwrap_err();
    assert_eq!(taken.code, "NAME_TAKEN");
    assert_eq!(taken.details, Some(json!({"name": "admin"})));
    let invalid = within(client.call::<Value>("demo/register", &json!({"name": 7})))
        .await
        .unwrap_err();
    assert_eq!(invalid.code, "INVALID_INPUT");
    let missing = within(client.call::<Value>("demo/nothing", &()))
        .await
        .unwrap_err();
    assert_eq!(missing.code, "NOT_FOUND");
    let anonymous = GatewayClient::new(&node.url("")).unwrap();
    let refused = within(anonymous.call::<Value>("demo/admin", &()))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "FORBIDDEN");
}

#[tokio::test]
async fn an_output_that_does_not_decode_is_internal() {
    let node = start().await;
    let client = client_of(&node);
    let wrong = within(client.call::<Pet>("demo/echo", &json!({"name": "rex", "legs": "four"})))
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "INTERNAL");
    assert!(wrong.message.contains("demo/echo"), "{}", wrong.message);
}

#[tokio::test]
async fn an_unreachable_node_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = GatewayClient::new(&format!("http://{addr}")).unwrap();
    let gone = within(client.call::<Value>("demo/echo", &1))
        .await
        .unwrap_err();
    assert_eq!(gone.code, "UNAVAILABLE");
    assert!(gone.retryable);
}

#[tokio::test]
async fn a_subscription_yields_typed_items_then_ends() {
    let node = start().await;
    let client = client_of(&node);
    let items = within(client.subscribe::<Tick>("demo/ticks", &json!({"count": 3})))
        .await
        .unwrap();
    let ticks: Vec<_> = within(items.collect::<Vec<_>>()).await;
    assert_eq!(
        ticks.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [Tick { tick: 0 }, Tick { tick: 1 }, Tick { tick: 2 }]
    );
    let failing = within(client.subscribe::<Value>("demo/fail", &()))
        .await
        .unwrap();
    let outcomes: Vec<_> = within(failing.collect::<Vec<_>>()).await;
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0], Ok(json!(1)));
    assert_eq!(outcomes[1].as_ref().unwrap_err().code, "INTERNAL");
    // `/subscribe` answers every error in the stream (http-surfaces §6).
    let unknown = within(client.subscribe::<Value>("demo/nothing", &()))
        .await
        .unwrap();
    let outcomes: Vec<_> = within(unknown.collect::<Vec<_>>()).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].as_ref().unwrap_err().code, "NOT_FOUND");
}

#[tokio::test]
async fn every_limit_of_the_client_is_crossed_into_a_clear_error() {
    let node = start().await;
    let small = GatewayClientConfig::default()
        .with_max_response_bytes(64)
        .with_max_event_bytes(16)
        .with_call_timeout(Duration::from_millis(200));
    let client = GatewayClient::with_config(&node.url(""), small)
        .unwrap()
        .with_token(WRITER);
    let big = "x".repeat(1000);
    let too_large = within(client.call::<Value>("demo/echo", &big))
        .await
        .unwrap_err();
    assert_eq!(too_large.code, "INTERNAL");
    assert!(
        too_large.message.contains("max_response_bytes"),
        "{}",
        too_large.message
    );
    let small_enough: Value = within(client.call("demo/echo", &"x")).await.unwrap();
    assert_eq!(small_enough, json!("x"));
    let slow = within(client.call::<Value>("demo/forever", &()))
        .await
        .unwrap_err();
    assert_eq!(slow.code, "TIMEOUT");
    let items = within(client.subscribe::<Tick>("demo/ticks", &json!({"count": 2})))
        .await
        .unwrap();
    let outcomes: Vec<_> = within(items.collect::<Vec<_>>()).await;
    let last = outcomes.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.code, "INTERNAL");
    assert!(last.message.contains("max_event_bytes"), "{}", last.message);
}

#[tokio::test]
async fn search_and_schema_answer_what_the_caller_may_see() {
    let node = start().await;
    let client = client_of(&node);
    let found = within(client.search(Some("demo"), Some("echo")))
        .await
        .unwrap();
    let names: Vec<_> = found.iter().map(|op| op.name.as_str()).collect();
    assert_eq!(names, ["demo/echo"]);
    let all = within(client.search(None, None)).await.unwrap();
    assert!(all.iter().any(|op| op.name == "demo/register"));
    assert!(!all.iter().any(|op| op.name == "demo/secret"), "Internal");
    let spec = within(client.schema("/demo/echo")).await.unwrap();
    assert_eq!(spec.description.as_deref(), Some("Echo the input"));
    let missing = within(client.schema("demo/secret")).await.unwrap_err();
    assert_eq!(missing.code, "NOT_FOUND");
}
