//! A tour of the call-protocol core: register operations once, then invoke them, stream a
//! subscription, compose an Internal operation, and see an ACL denial and a validation failure.
//!
//! ```sh
//! cargo run -p alknet-http-core --example registry
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::identity::mint_token;
use alknet_http_core::{
    AccessControl, AuthToken, CallError, Capabilities, CompositionAuthority, ErrorDefinition,
    GatewayDispatch, HandlerKind, Identity, OperationRegistry, OperationSpec, ScopedPeerEnv,
    StaticTokenProvider,
};
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

fn registry() -> OperationRegistry {
    let name_input = json!({
        "type": "object",
        "required": ["name"],
        "properties": { "name": { "type": "string", "minLength": 1 } }
    });
    OperationRegistry::builder()
        // A query that composes an Internal operation under its own authority.
        .with_local(
            OperationSpec::query("demo/greet")
                .with_description("Greet someone")
                .with_input_schema(name_input.clone()),
            HandlerKind::once(|input: Value, ctx| async move {
                let name = input["name"].as_str().unwrap_or_default().to_owned();
                let shout = ctx.call("demo/shout", json!({ "text": name })).await?;
                Ok(json!({ "greeting": format!("hello, {}", shout.as_str().unwrap_or_default()) }))
            }),
            Some(CompositionAuthority::new("demo/greet", ["demo:internal"])),
            Some(ScopedPeerEnv::allowing(["demo/shout"])),
            Capabilities::new(),
        )
        // The Internal operation: invisible and unreachable from the wire.
        .with_leaf(
            OperationSpec::query("demo/shout")
                .internal()
                .with_access_control(AccessControl::scopes(["demo:internal"])),
            HandlerKind::once(|input: Value, _ctx| async move {
                Ok(json!(input["text"].as_str().unwrap_or_default().to_uppercase()))
            }),
            Capabilities::new(),
        )
        // A mutation with a declared domain error, restricted to a scope.
        .with_leaf(
            OperationSpec::mutation("demo/register")
                .with_input_schema(name_input)
                .with_error(
                    ErrorDefinition::new("NAME_TAKEN", "That name is already registered")
                        .with_http_status(409),
                )
                .with_access_control(AccessControl::scopes(["demo:write"])),
            HandlerKind::once(|input: Value, _ctx| async move {
                match input["name"].as_str() {
                    Some("admin") => Err(CallError::new("NAME_TAKEN", "admin is taken")
                        .with_details(json!({ "name": "admin" }))),
                    Some(name) => Ok(json!({ "registered": name })),
                    None => Err(CallError::invalid_input("name missing")),
                }
            }),
            Capabilities::new(),
        )
        // A subscription that ticks.
        .with_leaf(
            OperationSpec::subscription("demo/ticks")
                .with_input_schema(json!({"type": "object", "properties": {"count": {"type": "integer", "maximum": 100}}})),
            HandlerKind::stream(|input: Value, _ctx| {
                let count = input["count"].as_u64().unwrap_or(3);
                futures::stream::unfold(0, move |n| async move {
                    if n >= count {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let last = n + 1 == count;
                    Some((Ok(json!({ "tick": n, "terminal": last })), n + 1))
                })
            }),
            Capabilities::new(),
        )
        .build()
        .expect("the demo registry is valid")
}

fn show(label: &str, result: &Result<Value, CallError>) {
    match result {
        Ok(v) => println!("{label:<38} -> ok    {v}"),
        Err(e) => println!(
            "{label:<38} -> error {} {} {}",
            e.code,
            e.message,
            e.details.as_ref().map(Value::to_string).unwrap_or_default()
        ),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let token = mint_token();
    let provider = StaticTokenProvider::new()
        .with_token(
            token.expose_secret(),
            Identity::new("dev").with_scopes(["demo:read"]),
        )
        .expect("a fresh token is unique");
    let dispatch = GatewayDispatch::new(registry(), Arc::new(provider));

    // A transport resolves the bearer token once per request.
    let dev = dispatch.resolve_bearer(&AuthToken::new(token.expose_secret()));
    println!(
        "resolved identity: {:?}\n",
        dev.as_ref().map(|i| i.id.as_str())
    );

    let list = dispatch
        .invoke(dev.clone(), "/services/list", Value::Null)
        .await;
    show("services/list (dev)", &list.result);

    let greet = dispatch
        .invoke(dev.clone(), "/demo/greet", json!({"name": "ada"}))
        .await;
    show("demo/greet {name: ada}", &greet.result);

    let hidden = dispatch
        .invoke(dev.clone(), "/demo/shout", json!({"text": "x"}))
        .await;
    show("demo/shout (Internal, from the wire)", &hidden.result);

    let denied = dispatch
        .invoke(dev.clone(), "/demo/register", json!({"name": "bob"}))
        .await;
    show("demo/register (dev lacks demo:write)", &denied.result);

    let writer = Some(Arc::new(
        Identity::new("writer").with_scopes(["demo:write"]),
    ));
    let taken = dispatch
        .invoke(writer.clone(), "/demo/register", json!({"name": "admin"}))
        .await;
    show("demo/register {name: admin}", &taken.result);

    let invalid = dispatch
        .invoke(writer, "/demo/register", json!({"name": 42}))
        .await;
    show("demo/register {name: 42}", &invalid.result);

    println!();
    let mut ticks = dispatch.invoke_streaming(dev, "/demo/ticks", json!({"count": 3}));
    while let Some(item) = ticks.next().await {
        show("demo/ticks item", &item.result);
    }
    println!("demo/ticks completed");
}
