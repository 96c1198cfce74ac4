//! The demo operations of the embedded default node: one of each kind, so that every surface
//! has something to show. Each is typed (its schemas are generated from the Rust types below)
//! except `demo/echo`, which takes and returns any JSON and shows the untyped API.
//!
//! | operation | kind | access | what it shows |
//! |---|---|---|---|
//! | `demo/echo` | query | open | round trip (untyped) |
//! | `demo/greet` | query | `demo:read` | composition: calls the Internal `demo/shout` |
//! | `demo/shout` | query, Internal | `demo:internal` | invisible from every wire |
//! | `demo/register` | mutation | `demo:write` | a declared domain error (`NAME_TAKEN`, 409) |
//! | `demo/ticks` | subscription | open | a stream that ticks |
//! | `demo/admin` | query | `demo:admin` | a scope the dev token lacks (403) |
//! | `demo/quote` | query | open | a nested input: objects, arrays, an enum, a nullable, a `oneOf` |

use std::time::Duration;

use alknet_http_core::{
    AccessControl, CallError, Capabilities, CompositionAuthority, HandlerKind, OperationContext,
    OperationSpec, RegistryBuilder, ScopedPeerEnv,
};
use futures::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The scopes of the development token the default node mints.
pub const DEV_SCOPES: [&str; 2] = ["demo:read", "demo:write"];

/// Whom `demo/greet` greets, or the name `demo/register` registers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Name {
    /// A name of 1 to 64 characters.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
}

/// What `demo/greet` answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Greeting {
    /// The greeting, shouted.
    pub greeting: String,
}

/// What `demo/shout` shouts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Shout {
    /// Any text; it comes back in upper case.
    pub text: String,
}

/// What `demo/register` answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Registered {
    /// The name now registered.
    pub registered: String,
}

/// The declared errors of `demo/register`.
#[derive(Debug, Clone, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegisterError {
    /// That name is already registered.
    #[error("{name} is already registered")]
    #[schemars(extend("x-http-status" = 409))]
    NameTaken {
        /// The name asked for.
        name: String,
    },
}

/// How `demo/ticks` ticks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Ticks {
    /// How many ticks (default 5).
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 1000))]
    pub count: u64,
    /// Milliseconds between ticks (default 500).
    #[serde(default = "default_interval")]
    #[schemars(range(max = 60000))]
    pub interval_ms: u64,
}

fn default_count() -> u64 {
    5
}

fn default_interval() -> u64 {
    500
}

/// One tick of `demo/ticks`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tick {
    /// 0, 1, 2, …
    pub tick: u64,
    /// Whether this is the last tick.
    pub terminal: bool,
}

/// What `demo/admin` answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Admin {
    /// The caller's identity id.
    pub admin: Option<String>,
}

/// What `demo/quote` quotes: a trip.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trip {
    /// Who travels.
    pub traveller: Traveller,
    /// Where, in order (at least one stop).
    #[schemars(length(min = 1, max = 20))]
    pub stops: Vec<Stop>,
    /// The class of travel.
    pub class: Class,
    /// A note for the agent, or null.
    #[serde(default)]
    pub note: Option<String>,
    /// How the trip is paid.
    pub payment: Payment,
}

/// Who travels.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traveller {
    /// Their name.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// Their age, when it matters.
    #[serde(default)]
    #[schemars(range(max = 150))]
    pub age: Option<u32>,
}

/// One stop of a trip.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// The city.
    #[schemars(length(min = 1, max = 64))]
    pub city: String,
    /// Nights there.
    #[schemars(range(min = 1, max = 90))]
    pub nights: u32,
}

/// A class of travel.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The cheapest.
    Economy,
    /// The comfortable.
    Business,
}

/// How a trip is paid.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Payment {
    /// By card.
    Card {
        /// The card's last four digits.
        #[schemars(length(min = 4, max = 4))]
        last4: String,
    },
    /// By invoice to a company.
    Invoice {
        /// The company billed.
        company: String,
    },
}

/// What `demo/quote` answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Quote {
    /// The total, in euros.
    pub total: u64,
    /// How the total was made.
    pub summary: String,
}

async fn quote(trip: Trip, _ctx: OperationContext) -> Result<Quote, CallError> {
    let nights: u64 = trip.stops.iter().map(|stop| u64::from(stop.nights)).sum();
    let rate = match trip.class {
        Class::Economy => 90,
        Class::Business => 240,
    };
    let paid = match &trip.payment {
        Payment::Card { .. } => "by card",
        Payment::Invoice { .. } => "by invoice",
    };
    Ok(Quote {
        total: nights * rate,
        summary: format!(
            "{} night(s) in {} stop(s) for {}, paid {paid}",
            nights,
            trip.stops.len(),
            trip.traveller.name
        ),
    })
}

async fn greet(input: Name, ctx: OperationContext) -> Result<Greeting, CallError> {
    let loud: String = ctx
        .call_typed("demo/shout", &Shout { text: input.name })
        .await?;
    Ok(Greeting {
        greeting: format!("hello, {loud}!"),
    })
}

async fn shout(input: Shout, _ctx: OperationContext) -> Result<String, CallError> {
    Ok(input.text.to_uppercase())
}

async fn register_name(input: Name, _ctx: OperationContext) -> Result<Registered, RegisterError> {
    match input.name.as_str() {
        "admin" | "root" => Err(RegisterError::NameTaken { name: input.name }),
        _ => Ok(Registered {
            registered: input.name,
        }),
    }
}

fn ticks(
    input: Option<Ticks>,
    _ctx: OperationContext,
) -> impl Stream<Item = Result<Tick, CallError>> + use<> {
    let Ticks { count, interval_ms } = input.unwrap_or(Ticks {
        count: default_count(),
        interval_ms: default_interval(),
    });
    let interval = Duration::from_millis(interval_ms);
    futures::stream::unfold(0u64, move |n| async move {
        if n >= count {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(interval).await;
        }
        let tick = Tick {
            tick: n,
            terminal: n + 1 == count,
        };
        Some((Ok(tick), n + 1))
    })
}

async fn admin(_input: Value, ctx: OperationContext) -> Result<Admin, CallError> {
    Ok(Admin {
        admin: ctx.identity().map(|i| i.id.clone()),
    })
}

/// Adds the demo operations to a registry builder.
///
/// ```
/// use alknet_http::demo;
/// let registry = demo::register(alknet_http::core::OperationRegistry::builder()).build().unwrap();
/// assert!(registry.external_spec("demo/ticks").is_some());
/// assert!(registry.external_spec("demo/shout").is_none(), "Internal");
/// let register = registry.external_spec("demo/register").unwrap();
/// assert_eq!(register.error_schemas[0].code, "NAME_TAKEN");
/// assert_eq!(register.error_schemas[0].http_status, Some(409));
/// ```
pub fn register(builder: RegistryBuilder) -> RegistryBuilder {
    builder
        .with_leaf(
            OperationSpec::query("demo/echo").with_description("Returns its input unchanged"),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .with(
            OperationSpec::query("demo/greet")
                .with_description("Greets someone, loudly (composes the Internal demo/shout)")
                .with_access_control(AccessControl::scopes(["demo:read"]))
                .handled_by(greet)
                .with_authority(CompositionAuthority::new("demo/greet", ["demo:internal"]))
                .with_scoped_env(ScopedPeerEnv::allowing(["demo/shout"])),
        )
        .with(
            OperationSpec::query("demo/shout")
                .internal()
                .with_access_control(AccessControl::scopes(["demo:internal"]))
                .handled_by(shout),
        )
        .with(
            OperationSpec::mutation("demo/register")
                .with_description("Registers a name; `admin` is always taken")
                .with_access_control(AccessControl::scopes(["demo:write"]))
                .handled_by(register_name),
        )
        .with(
            OperationSpec::subscription("demo/ticks")
                .with_description(
                    "Ticks `count` times, every `interval_ms`; the last tick is terminal",
                )
                .streamed_by(ticks),
        )
        .with(
            OperationSpec::query("demo/admin")
                .with_description("Needs the demo:admin scope, which the dev token lacks")
                .with_access_control(AccessControl::scopes(["demo:admin"]))
                .handled_by(admin),
        )
        .with(
            OperationSpec::query("demo/quote")
                .with_description(
                    "Quotes a trip: a nested input with objects, arrays, an enum, a nullable \
                     note and a choice of payment",
                )
                .handled_by(quote),
        )
}
