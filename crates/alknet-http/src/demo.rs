//! The demo operations of the embedded default node: one of each kind, so that every surface
//! has something to show.
//!
//! | operation | kind | access | what it shows |
//! |---|---|---|---|
//! | `demo/echo` | query | open | round trip |
//! | `demo/greet` | query | `demo:read` | composition: calls the Internal `demo/shout` |
//! | `demo/shout` | query, Internal | `demo:internal` | invisible from every wire |
//! | `demo/register` | mutation | `demo:write` | a declared domain error (`NAME_TAKEN`, 409) |
//! | `demo/ticks` | subscription | open | a stream that ticks |
//! | `demo/admin` | query | `demo:admin` | a scope the dev token lacks (403) |

use std::time::Duration;

use alknet_http_core::{
    AccessControl, CallError, Capabilities, CompositionAuthority, ErrorDefinition, HandlerKind,
    OperationSpec, RegistryBuilder, ScopedPeerEnv,
};
use serde_json::{Value, json};

/// The scopes of the development token the default node mints.
pub const DEV_SCOPES: [&str; 2] = ["demo:read", "demo:write"];

/// Adds the demo operations to a registry builder.
///
/// ```
/// use alknet_http::demo;
/// let registry = demo::register(alknet_http::core::OperationRegistry::builder()).build().unwrap();
/// assert!(registry.external_spec("demo/ticks").is_some());
/// assert!(registry.external_spec("demo/shout").is_none(), "Internal");
/// ```
pub fn register(builder: RegistryBuilder) -> RegistryBuilder {
    let name = json!({
        "type": "object",
        "required": ["name"],
        "properties": { "name": { "type": "string", "minLength": 1, "maxLength": 64 } },
        "additionalProperties": false
    });
    builder
        .with_leaf(
            OperationSpec::query("demo/echo").with_description("Returns its input unchanged"),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::query("demo/greet")
                .with_description("Greets someone, loudly (composes the Internal demo/shout)")
                .with_input_schema(name.clone())
                .with_output_schema(json!({"type": "object", "properties": {"greeting": {"type": "string"}}}))
                .with_access_control(AccessControl::scopes(["demo:read"])),
            HandlerKind::once(|input: Value, ctx| async move {
                let name = input["name"].as_str().unwrap_or_default().to_owned();
                let loud = ctx.call("demo/shout", json!({ "text": name })).await?;
                Ok(json!({ "greeting": format!("hello, {}!", loud.as_str().unwrap_or_default()) }))
            }),
            Some(CompositionAuthority::new("demo/greet", ["demo:internal"])),
            Some(ScopedPeerEnv::allowing(["demo/shout"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/shout")
                .internal()
                .with_input_schema(json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}))
                .with_access_control(AccessControl::scopes(["demo:internal"])),
            HandlerKind::once(|input: Value, _| async move {
                Ok(json!(input["text"].as_str().unwrap_or_default().to_uppercase()))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/register")
                .with_description("Registers a name; `admin` is always taken")
                .with_input_schema(name)
                .with_error(
                    ErrorDefinition::new("NAME_TAKEN", "That name is already registered")
                        .with_http_status(409)
                        .with_schema(json!({"type": "object", "properties": {"name": {"type": "string"}}})),
                )
                .with_access_control(AccessControl::scopes(["demo:write"])),
            HandlerKind::once(|input: Value, _| async move {
                match input["name"].as_str() {
                    Some(taken @ ("admin" | "root")) => Err(CallError::new(
                        "NAME_TAKEN",
                        format!("{taken} is already registered"),
                    )
                    .with_details(json!({ "name": taken }))),
                    Some(name) => Ok(json!({ "registered": name })),
                    None => Err(CallError::invalid_input("name is required")),
                }
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/ticks")
                .with_description("Ticks `count` times, every `interval_ms`; the last tick is terminal")
                .with_input_schema(json!({
                    "type": ["object", "null"],
                    "properties": {
                        "count": { "type": "integer", "minimum": 1, "maximum": 1000 },
                        "interval_ms": { "type": "integer", "minimum": 0, "maximum": 60000 }
                    }
                }))
                .with_output_schema(json!({"type": "object", "properties": {"tick": {"type": "integer"}, "terminal": {"type": "boolean"}}})),
            HandlerKind::stream(|input: Value, _| {
                let count = input["count"].as_u64().unwrap_or(5);
                let interval = Duration::from_millis(input["interval_ms"].as_u64().unwrap_or(500));
                futures::stream::unfold(0u64, move |n| async move {
                    if n >= count {
                        return None;
                    }
                    if n > 0 {
                        tokio::time::sleep(interval).await;
                    }
                    let terminal = n + 1 == count;
                    Some((Ok(json!({ "tick": n, "terminal": terminal })), n + 1))
                })
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("demo/admin")
                .with_description("Needs the demo:admin scope, which the dev token lacks")
                .with_access_control(AccessControl::scopes(["demo:admin"])),
            HandlerKind::once(|_, ctx| async move {
                Ok(json!({ "admin": ctx.identity().map(|i| i.id.clone()) }))
            }),
            Capabilities::new(),
        )
}
