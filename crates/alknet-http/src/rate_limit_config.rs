//! `[[rate_limit]]` in the node's TOML configuration (feature `cli`): limits on root calls,
//! on every surface (see `alknet_http_core::rate_limit`).
//!
//! ```toml
//! [[rate_limit]]
//! per = "identity"            # or "operation" (all callers of an operation together), or
//!                             # "address" (anonymous callers, by source address; IPv6 by /64),
//!                             # or "upgrade" (WebSocket upgrade attempts per source address)
//! calls = 100                 # calls per period once the burst is spent
//! period_ms = 1000            # default 1000
//! burst = 200                 # calls at once (default: `calls`)
//! operations = ["demo/*"]     # exact names or `prefix/*` (default: every operation)
//! scope = "trial"             # only callers holding this scope (default: every caller)
//! ```

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::rate_limit::{RateLimit, RateLimits};
use serde::Deserialize;

use crate::config_error::{ConfigError, fail};

/// One `[[rate_limit]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitEntry {
    /// `identity`, `operation`, `address` or `upgrade`.
    pub per: String,
    /// Calls per period.
    pub calls: u32,
    /// The period in milliseconds (default 1000).
    pub period_ms: Option<u64>,
    /// The burst (default `calls`).
    pub burst: Option<u32>,
    /// The operations it applies to.
    #[serde(default)]
    pub operations: Vec<String>,
    /// The scope of the callers it applies to.
    pub scope: Option<String>,
}

/// The limits of `entries`, `None` when there are none.
pub(crate) fn rate_limits(
    entries: &[RateLimitEntry],
) -> Result<Option<Arc<RateLimits>>, ConfigError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut limits = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        let period = Duration::from_millis(entry.period_ms.unwrap_or(1000));
        let mut limit = match entry.per.as_str() {
            "identity" => RateLimit::per_identity(entry.calls, period),
            "operation" => RateLimit::per_operation(entry.calls, period),
            "address" => RateLimit::per_address(entry.calls, period),
            "upgrade" if entry.operations.is_empty() && entry.scope.is_none() => {
                RateLimit::upgrades_per_address(entry.calls, period)
            }
            "upgrade" => {
                return fail(format!(
                    "rate_limit {}: an upgrade limit counts connections, not calls: it takes no `operations` or `scope`",
                    n + 1
                ));
            }
            other => {
                return fail(format!(
                    "rate_limit {}: `per` is `{other}`; it is \"identity\", \"operation\", \"address\" or \"upgrade\"",
                    n + 1
                ));
            }
        };
        if let Some(burst) = entry.burst {
            limit = limit.with_burst(burst);
        }
        if !entry.operations.is_empty() {
            limit = limit.for_operations(entry.operations.iter().cloned());
        }
        if let Some(scope) = &entry.scope {
            limit = limit.for_scope(scope.clone());
        }
        limits.push(limit);
    }
    RateLimits::new(limits)
        .map(|limits| Some(Arc::new(limits)))
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}
