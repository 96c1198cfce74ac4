//! Rate limits on root calls, on every surface alike (governor's GCRA, keyed): a
//! [`RateLimit`] allows `burst` calls at once and `calls` per `period` after that, counted per
//! calling identity (anonymous callers share one key), per operation, or per source address
//! for anonymous callers (an IPv6 address by its /64, which one client usually holds whole),
//! for every operation or only some, for every caller or only those holding a scope. Upgrade
//! attempts (WebSocket) have limits of their own per source address, checked before the
//! credentials are ([`RateLimits::check_upgrade`]). Over a limit, the call fails
//! with `RATE_LIMITED` and `retry_after_ms` (HTTP 429 with `Retry-After`; `call.error` on
//! sessions; an error result on MCP) before its input is validated or its handler runs.
//! Each key has its own bucket in a sharded map: a limited caller never holds up another.
//! Keys are the node's own identities and operations, never a caller's free text, and idle
//! buckets are dropped as calls go by, so the map stays as small as the set of active callers.
//! Composed calls are not limited (their root call was).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use alknet_http_core::rate_limit::{RateLimit, RateLimits};
//! use alknet_http_core::{HandlerKind, OperationRegistry, OperationSpec};
//!
//! let limits = RateLimits::new(vec![
//!     RateLimit::per_identity(100, Duration::from_secs(1)).with_burst(20),
//!     RateLimit::per_operation(10, Duration::from_secs(1)).for_operations(["demo/register"]),
//! ])
//! .unwrap();
//! let registry = OperationRegistry::builder()
//!     .with_rate_limits(Arc::new(limits))
//!     .with_leaf(OperationSpec::query("demo/echo"), HandlerKind::once(|input, _| async move { Ok(input) }), Default::default())
//!     .build()
//!     .unwrap();
//! ```

use std::hash::{BuildHasher as _, Hasher as _};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{CallError, ErrorCode};
use crate::identity::Identity;

/// What a limit counts calls by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKey {
    /// The calling identity (anonymous callers together).
    Identity,
    /// The operation (all its callers together).
    Operation,
    /// The source address of an anonymous caller (identified callers are not counted).
    Address,
    /// Upgrade attempts from a source address, whoever makes them (not calls).
    Upgrade,
}

/// One limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// What calls are counted by.
    pub key: LimitKey,
    /// Calls allowed per `period` once the burst is spent.
    pub calls: u32,
    /// The period of `calls`.
    pub period: Duration,
    /// Calls allowed at once. Default: `calls`.
    pub burst: u32,
    /// The operations it applies to (exact names, or `prefix/*`); empty: all of them.
    pub operations: Vec<String>,
    /// Only callers holding this scope are limited by it (a tier), when set.
    pub scope: Option<String>,
}

impl RateLimit {
    /// `calls` per `period` for each calling identity.
    pub fn per_identity(calls: u32, period: Duration) -> Self {
        RateLimit::new(LimitKey::Identity, calls, period)
    }

    /// `calls` per `period` for each operation, whoever calls it.
    pub fn per_operation(calls: u32, period: Duration) -> Self {
        RateLimit::new(LimitKey::Operation, calls, period)
    }

    /// `calls` per `period` for each source address of anonymous callers.
    pub fn per_address(calls: u32, period: Duration) -> Self {
        RateLimit::new(LimitKey::Address, calls, period)
    }

    /// `attempts` WebSocket upgrades per `period` for each source address.
    pub fn upgrades_per_address(attempts: u32, period: Duration) -> Self {
        RateLimit::new(LimitKey::Upgrade, attempts, period)
    }

    fn new(key: LimitKey, calls: u32, period: Duration) -> Self {
        RateLimit {
            key,
            calls,
            period,
            burst: calls,
            operations: Vec::new(),
            scope: None,
        }
    }

    /// Sets the burst.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Applies the limit to these operations only (`prefix/*` matches a namespace).
    #[must_use]
    pub fn for_operations<I, S>(mut self, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations = operations.into_iter().map(Into::into).collect();
        self
    }

    /// Applies the limit to callers holding `scope` only.
    #[must_use]
    pub fn for_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    fn applies(&self, operation: &str, identity: Option<&Identity>) -> bool {
        match self.key {
            LimitKey::Upgrade => return false,
            LimitKey::Address if identity.is_some() => return false,
            _ => {}
        }
        let operation_matches = self.operations.is_empty()
            || self
                .operations
                .iter()
                .any(|pattern| match pattern.strip_suffix("/*") {
                    Some(prefix) => operation
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/')),
                    None => pattern == operation,
                });
        let scope_matches = self.scope.as_ref().is_none_or(|scope| {
            identity.is_some_and(|identity| identity.scopes.iter().any(|s| s == scope))
        });
        operation_matches && scope_matches
    }
}

/// A limit that cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit: {0}")]
pub struct RateLimitError(String);

/// One limit with its buckets.
struct Rule {
    limit: RateLimit,
    buckets: DefaultKeyedRateLimiter<u64>,
    /// Checks since the idle buckets were last dropped.
    checks: AtomicU64,
}

impl Rule {
    /// Counts one call under `key`: `Err` with how long to wait when it is over the limit.
    fn check(&self, key: u64) -> Result<(), Duration> {
        let outcome = self.buckets.check_key(&key);
        self.maybe_clean();
        outcome.map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops the idle buckets every [`CLEAN_EVERY`] checks.
    fn maybe_clean(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
            self.buckets.retain_recent();
        }
    }
}

/// The limits of a registry's root calls; see the [module docs](self).
pub struct RateLimits {
    rules: Vec<Rule>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field(
                "limits",
                &self.rules.iter().map(|r| &r.limit).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// An address's key: IPv4 whole, IPv6 by its /64 prefix (one client usually holds the whole
/// /64, so counting its addresses one by one would not limit it). Not hashed: the map's own
/// hasher spreads it, and no caller chooses it freely.
fn address_key(source: IpAddr) -> u64 {
    match source.to_canonical() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        // The top 64 bits; a v4 key collides only with a /64 whose top 32 bits are zero,
        // which no global unicast address has.
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64,
    }
}

/// The source address of a request, as the server's listener saw it, stored in the request's
/// extensions. With feature `axum`, `Option<SourceAddr>` is an extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAddr(pub IpAddr);

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<SourceAddr>().copied())
    }
}

/// How often (in checks) a limit drops its idle buckets.
const CLEAN_EVERY: u64 = 1024;

impl RateLimits {
    /// The limits, checked: each allows at least one call per a non-zero period.
    pub fn new(limits: Vec<RateLimit>) -> Result<Self, RateLimitError> {
        let rules = limits
            .into_iter()
            .map(|limit| {
                let (Some(calls), Some(burst)) =
                    (NonZeroU32::new(limit.calls), NonZeroU32::new(limit.burst))
                else {
                    return Err(RateLimitError("`calls` and `burst` must be above 0".into()));
                };
                let quota = Quota::with_period(limit.period / calls.get())
                    .ok_or_else(|| RateLimitError("`period` must be above 0".into()))?
                    .allow_burst(burst);
                Ok(Rule {
                    buckets: DefaultKeyedRateLimiter::dashmap(quota),
                    limit,
                    checks: AtomicU64::new(0),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RateLimits {
            rules,
            hasher: std::collections::hash_map::RandomState::new(),
        })
    }

    /// Counts a root call of `operation` by `identity` against every limit that applies;
    /// the first one it is over refuses it.
    pub(crate) fn check(
        &self,
        operation: &str,
        identity: Option<&Identity>,
        source: Option<IpAddr>,
    ) -> Result<(), CallError> {
        for rule in &self.rules {
            if !rule.limit.applies(operation, identity) {
                continue;
            }
            let key = match rule.limit.key {
                LimitKey::Identity => self.key_of(identity.map_or("", |i| i.id.as_str())),
                LimitKey::Operation => self.key_of(operation),
                // A call that came from nowhere in particular (an in-process caller) is not
                // an address's.
                LimitKey::Address => match source {
                    Some(source) => address_key(source),
                    None => continue,
                },
                LimitKey::Upgrade => continue,
            };
            if let Err(wait) = rule.check(key) {
                return Err(CallError::protocol(
                    ErrorCode::RateLimited,
                    format!("{operation}: over the rate limit, retry later"),
                )
                .with_retry_after(wait));
            }
        }
        Ok(())
    }

    /// Counts an upgrade attempt from `source` against the upgrade limits: `Err` with how long
    /// to wait when it is over one.
    pub fn check_upgrade(&self, source: IpAddr) -> Result<(), Duration> {
        let key = address_key(source);
        self.rules
            .iter()
            .filter(|rule| rule.limit.key == LimitKey::Upgrade)
            .try_for_each(|rule| rule.check(key))
    }

    /// Whether any limit counts upgrade attempts.
    pub fn limits_upgrades(&self) -> bool {
        self.rules.iter().any(|r| r.limit.key == LimitKey::Upgrade)
    }

    /// A key's 64-bit hash (keys are never stored as text).
    fn key_of(&self, text: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(text.as_bytes());
        hasher.finish()
    }
}
