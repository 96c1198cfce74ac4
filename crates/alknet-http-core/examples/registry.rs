//! A tour of the call-protocol core: register typed operations once, then invoke them, stream a
//! subscription, compose an Internal operation, and see an ACL denial, a declared error and a
//! validation failure. The schemas every surface shows are generated from the Rust types.
//!
//! ```sh
//! cargo run -p alknet-http-core --example registry
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::identity::mint_token;
use alknet_http_core::{
    AccessControl, AuthToken, CallError, CompositionAuthority, GatewayDispatch, Identity,
    OperationContext, OperationRegistry, OperationSpec, ScopedPeerEnv, StaticTokenProvider,
};
use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Someone to greet or register.
#[derive(Deserialize, JsonSchema)]
struct Name {
    /// At least one character.
    #[schemars(length(min = 1))]
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Greeting {
    greeting: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Shout {
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Registered {
    registered: String,
}

/// The declared errors of demo/register: serde tags each with its code, its fields are the
/// details, the doc comment describes it, `x-http-status` is its status on HTTP.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
enum RegisterError {
    /// That name is already registered.
    #[error("{name} is taken")]
    #[schemars(extend("x-http-status" = 409))]
    NameTaken { name: String },
}

#[derive(Deserialize, JsonSchema)]
struct Ticks {
    #[schemars(range(max = 100))]
    count: Option<u64>,
}

#[derive(Serialize, JsonSchema)]
struct Tick {
    tick: u64,
    terminal: bool,
}

/// A query that composes an Internal operation under its own authority.
async fn greet(input: Name, ctx: OperationContext) -> Result<Greeting, CallError> {
    let shout: String = ctx
        .call_typed("demo/shout", &Shout { text: input.name })
        .await?;
    Ok(Greeting {
        greeting: format!("hello, {shout}"),
    })
}

async fn shout(input: Shout, _ctx: OperationContext) -> Result<String, CallError> {
    Ok(input.text.to_uppercase())
}

async fn register(input: Name, _ctx: OperationContext) -> Result<Registered, RegisterError> {
    match input.name.as_str() {
        "admin" => Err(RegisterError::NameTaken { name: input.name }),
        _ => Ok(Registered {
            registered: input.name,
        }),
    }
}

fn ticks(input: Ticks, _ctx: OperationContext) -> impl Stream<Item = Result<Tick, CallError>> {
    let count = input.count.unwrap_or(3);
    futures::stream::unfold(0, move |n| async move {
        if n >= count {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((
            Ok(Tick {
                tick: n,
                terminal: n + 1 == count,
            }),
            n + 1,
        ))
    })
}

fn registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with(
            OperationSpec::query("demo/greet")
                .with_description("Greet someone")
                .handled_by(greet)
                .with_authority(CompositionAuthority::new("demo/greet", ["demo:internal"]))
                .with_scoped_env(ScopedPeerEnv::allowing(["demo/shout"])),
        )
        // The Internal operation: invisible and unreachable from the wire.
        .with(
            OperationSpec::query("demo/shout")
                .internal()
                .with_access_control(AccessControl::scopes(["demo:internal"]))
                .handled_by(shout),
        )
        // A mutation with a declared domain error, restricted to a scope.
        .with(
            OperationSpec::mutation("demo/register")
                .with_access_control(AccessControl::scopes(["demo:write"]))
                .handled_by(register),
        )
        // A subscription that ticks.
        .with(OperationSpec::subscription("demo/ticks").streamed_by(ticks))
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
