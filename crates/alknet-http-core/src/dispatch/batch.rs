//! Batches for gateway-like surfaces: independent calls, answered in order, run a bounded
//! number at a time (http-surfaces §4).

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::{CallOptions, GatewayDispatch};
use crate::error::CallError;
use crate::identity::Identity;

/// One call of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCall {
    /// The operation (slash optional).
    pub operation: String,
    /// Its input.
    pub input: Value,
}

/// The limits of one surface's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchLimits {
    /// Calls a batch may hold. Default 100.
    pub max_len: usize,
    /// Calls of one batch running at once. Default 8.
    pub concurrency: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_len: 100,
            concurrency: 8,
        }
    }
}

impl BatchLimits {
    /// Sets the most calls a batch may hold.
    #[must_use]
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets how many calls of one batch run at once (at least one).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Refuses a batch of `len` calls past the limit.
    pub fn check(&self, len: usize) -> Result<(), BatchTooLarge> {
        if len > self.max_len {
            return Err(BatchTooLarge {
                len,
                max: self.max_len,
            });
        }
        Ok(())
    }
}

/// A batch holds more calls than its surface allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a batch of {len} calls exceeds the maximum of {max}")]
pub struct BatchTooLarge {
    /// The calls it holds.
    pub len: usize,
    /// The most allowed.
    pub max: usize,
}

/// The answer to one call of a batch: `{"output": v}` or `{"error": CallError, "status": n}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BatchOutcome {
    /// The call succeeded.
    Output {
        /// Its output.
        output: Value,
    },
    /// The call failed.
    Error {
        /// The error.
        error: CallError,
        /// The HTTP status the error has for this caller.
        status: u16,
    },
}

impl GatewayDispatch {
    /// Runs `calls` independently (not a transaction) under the disconnect policy of
    /// [`GatewayDispatch::call`], at most `limits.concurrency` at a time; the outcomes have the
    /// order of the calls.
    pub async fn batch(
        &self,
        identity: Option<Arc<Identity>>,
        calls: Vec<BatchCall>,
        limits: BatchLimits,
        options: CallOptions,
    ) -> Result<Vec<BatchOutcome>, BatchTooLarge> {
        limits.check(calls.len())?;
        let outcomes = futures::stream::iter(calls)
            .map(|call| {
                let identity = identity.clone();
                let options = options.clone();
                async move {
                    match self
                        .call(identity, &call.operation, call.input, options)
                        .await
                    {
                        Ok(output) => BatchOutcome::Output { output },
                        Err(failure) => BatchOutcome::Error {
                            status: failure.status.as_u16(),
                            error: failure.error,
                        },
                    }
                }
            })
            .buffered(limits.concurrency.max(1))
            .collect()
            .await;
        Ok(outcomes)
    }
}
