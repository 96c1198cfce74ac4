//! Progress to the client of a tool call (when its request carries a `progressToken`):
//!
//! - a subscription called as a tool streams its items as progress notifications, and the
//!   tool's result is every item collected, once the subscription completes or reaches the
//!   surface's bounds. The client's cancel, the bounds and the result all end the
//!   subscription: its handler sees the abort;
//! - a Query or Mutation forwards what it reports (`OperationContext::progress`, e.g. an
//!   imported MCP tool's own progress) while it runs.

use std::time::Duration;

use alknet_http_core::{CallError, ResponseStream};
use futures::StreamExt as _;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How much one subscription tool call collects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) max_items: usize,
    pub(crate) max_duration: Duration,
}

/// Why a subscription tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The subscription completed.
    Completed,
    /// `max_items` items arrived.
    MaxItems,
    /// `max_duration` passed.
    MaxDuration,
    /// The client cancelled its request (MCP does not answer a cancelled request; a surface
    /// that does gets what arrived before).
    Cancelled,
}

impl Ended {
    fn as_str(self) -> &'static str {
        match self {
            Ended::Completed => "completed",
            Ended::MaxItems => "max_items",
            Ended::MaxDuration => "max_duration",
            Ended::Cancelled => "cancelled",
        }
    }
}

/// The structured result of a subscription's tool, items of schema `item`.
pub(crate) fn result_schema(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "ended"],
        "properties": {
            "items": {"type": "array", "items": item},
            "ended": {
                "enum": ["completed", "max_items", "max_duration", "cancelled"],
                "description": "`completed`: the subscription ended; otherwise the node's bound that ended it."
            }
        }
    })
}

/// Where progress goes: the client and the token its request named.
pub(crate) struct Progress {
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) token: ProgressToken,
}

impl Progress {
    /// Sends one notification; a client that went away is noticed by its cancel, so a lost
    /// notification is not an error of the call.
    async fn send(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let mut param = ProgressNotificationParam::new(self.token.clone(), progress);
        param.total = total;
        param.message = message;
        let _ = self.peer.notify_progress(param).await;
    }
}

/// Runs `call`, forwarding what it reports to `progress` until it returns (reports still
/// queued then go out before the result).
pub(crate) async fn with_progress<T>(
    call: impl Future<Output = T>,
    mut reports: mpsc::Receiver<alknet_http_core::progress::Progress>,
    progress: &Progress,
) -> T {
    tokio::pin!(call);
    let outcome = loop {
        tokio::select! {
            biased;
            outcome = &mut call => break outcome,
            Some(report) = reports.recv() => {
                progress.send(report.progress, report.total, report.message).await;
            }
        }
    };
    while let Ok(report) = reports.try_recv() {
        progress
            .send(report.progress, report.total, report.message)
            .await;
    }
    outcome
}

/// Collects `stream` (opened with `abort` as its abort signal) within `bounds`, reporting
/// each item as progress, until it ends, a bound is reached or the client cancels
/// (`cancelled`). Ends the subscription (`abort`) however the call ends.
pub(crate) async fn collect(
    mut stream: ResponseStream,
    abort: CancellationToken,
    cancelled: CancellationToken,
    bounds: Bounds,
    progress: Option<Progress>,
) -> Result<Value, CallError> {
    // The subscription ends with this call, whichever way it ends.
    let _end = abort.drop_guard();
    let mut items = Vec::new();
    let deadline = tokio::time::sleep(bounds.max_duration);
    tokio::pin!(deadline);
    let ended = loop {
        if items.len() >= bounds.max_items {
            break Ended::MaxItems;
        }
        let next = tokio::select! {
            next = stream.next() => next,
            () = &mut deadline => break Ended::MaxDuration,
            () = cancelled.cancelled() => break Ended::Cancelled,
        };
        let Some(reply) = next else {
            break Ended::Completed;
        };
        let item = reply.result?;
        if let Some(progress) = &progress {
            progress
                .send((items.len() + 1) as f64, None, Some(item.to_string()))
                .await;
        }
        items.push(item);
    };
    Ok(json!({ "items": items, "ended": ended.as_str() }))
}
