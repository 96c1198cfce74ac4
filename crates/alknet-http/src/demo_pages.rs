//! `demo/ask` (feature `ws`): hub-side code that calls the caller's own pages — an operation
//! a WebSocket client registered on its session (the bidirectional session, from the hub).
//!
//! It reaches only sessions opened with the caller's own identity, so it adds no authority:
//! a caller asks their own pages. Anonymous callers are refused (every anonymous session
//! shares one identity). At most [`MAX_PAGES`] sessions are asked, all at once, each within
//! what is left of the call's deadline.

use alknet_http_core::session::OutgoingOptions;
use alknet_http_core::{CallError, ErrorCode, OperationContext, OperationSpec, RegistryBuilder};
use alknet_http_ws::Sessions;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most sessions one `demo/ask` asks.
pub const MAX_PAGES: usize = 16;

/// What `demo/ask` asks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// The operation your page registered, such as `console/answer`.
    #[schemars(length(min = 1, max = 256))]
    pub operation: String,
    /// Its input.
    #[serde(default)]
    pub input: Value,
}

/// What the pages answered.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Answers {
    /// One per session that serves the operation, oldest session first.
    pub answers: Vec<Answer>,
}

/// One page's answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Answer {
    /// The node's id of the session.
    pub session: u64,
    /// What the page answered, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The page's error (a call error: `code`, `message`, …), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

async fn ask(sessions: Sessions, input: Ask, ctx: OperationContext) -> Result<Answers, CallError> {
    let Some(caller) = ctx.identity() else {
        return Err(CallError::forbidden(
            "authentication required: demo/ask asks the caller's own pages",
        ));
    };
    let pages: Vec<_> = sessions
        .by_identity(&caller.id)
        .into_iter()
        .take(MAX_PAGES)
        .collect();
    // The page learns who asked (for its own records), and how long it has.
    let options = || OutgoingOptions {
        deadline: ctx.deadline(),
        forwarded_for: Some(caller.clone()),
        ..OutgoingOptions::default()
    };
    let asked = pages.iter().map(|(id, session)| async {
        let result = session
            .request(&input.operation, input.input.clone(), options())
            .await;
        (*id, result)
    });
    let answers: Vec<Answer> = futures::future::join_all(asked)
        .await
        .into_iter()
        // A page that does not serve the operation (it answered NOT_FOUND) is left out.
        .filter(|(_, result)| !matches!(result, Err(e) if e.is(ErrorCode::NotFound)))
        .map(|(session, result)| match result {
            Ok(output) => Answer {
                session,
                output: Some(output),
                error: None,
            },
            Err(error) => Answer {
                session,
                output: None,
                error: serde_json::to_value(&error).ok(),
            },
        })
        .collect();
    if answers.is_empty() {
        return Err(CallError::protocol(
            ErrorCode::NotFound,
            format!("none of your open pages serves {}", input.operation),
        ));
    }
    Ok(Answers { answers })
}

/// Adds `demo/ask`, which calls pages through `sessions` (the node's, see
/// [`NodeBuilder::sessions`](crate::NodeBuilder::sessions)).
///
/// ```
/// use alknet_http::{Node, demo_pages};
/// let node = Node::builder();
/// let registry = demo_pages::register(alknet_http::core::OperationRegistry::builder(), node.sessions())
///     .build()
///     .unwrap();
/// assert!(registry.external_spec("demo/ask").is_some());
/// ```
pub fn register(builder: RegistryBuilder, sessions: Sessions) -> RegistryBuilder {
    builder.with(
        OperationSpec::mutation("demo/ask")
            .with_description(
                "Asks your own open pages: calls an operation a WebSocket client of yours \
                 registered (such as the console's), and returns what each answered",
            )
            .handled_by(move |input: Ask, ctx: OperationContext| ask(sessions.clone(), input, ctx)),
    )
}
