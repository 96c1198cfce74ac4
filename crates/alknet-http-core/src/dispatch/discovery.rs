//! Discovery for gateway-like surfaces: what a caller may find ([`SearchQuery`]) and read.

use std::sync::Arc;

use serde::Deserialize;

use super::{CallFailure, GatewayDispatch};
use crate::access::{AccessDecision, ResourceTarget};
use crate::envelope::strip_slash;
use crate::error::CallError;
use crate::identity::Identity;
use crate::registry::RegisteredOperation;
use crate::spec::{OperationSummary, OperationType};

/// A search of the operations a caller may call (`GET /search`, the MCP `search` tool).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Only operations of this namespace (exact match).
    pub namespace: Option<String>,
    /// Only operations whose name or description contains this text, ignoring case.
    pub text: Option<String>,
    /// Whether subscriptions are listed (the gateway lists them; MCP, which cannot call them,
    /// does not).
    pub subscriptions: bool,
}

impl SearchQuery {
    /// Everything the caller may call, subscriptions included.
    pub fn all() -> Self {
        SearchQuery {
            subscriptions: true,
            ..SearchQuery::default()
        }
    }

    /// Only operations of `namespace`.
    #[must_use]
    pub fn namespace(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }

    /// Only operations whose name or description contains `text` (ignoring case).
    #[must_use]
    pub fn text(mut self, text: Option<String>) -> Self {
        self.text = text;
        self
    }

    /// Whether subscriptions are listed.
    #[must_use]
    pub fn subscriptions(mut self, listed: bool) -> Self {
        self.subscriptions = listed;
        self
    }

    fn matches(&self, op: &OperationSummary, needle: Option<&str>) -> bool {
        (self.subscriptions || op.op_type != OperationType::Subscription)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| op.namespace == ns)
            && needle.is_none_or(|needle| {
                op.name.to_lowercase().contains(needle)
                    || op
                        .description
                        .as_deref()
                        .is_some_and(|d| d.to_lowercase().contains(needle))
            })
    }
}

impl GatewayDispatch {
    /// The operations `identity` may call that match `query`, sorted by name: `External`
    /// operations whose access control allows the caller (http-surfaces §4).
    pub fn search(
        &self,
        identity: Option<&Identity>,
        query: &SearchQuery,
    ) -> Vec<OperationSummary> {
        let needle = query.text.as_deref().map(str::to_lowercase);
        self.registry
            .list_for(identity)
            .into_iter()
            .filter(|op| query.matches(op, needle.as_deref()))
            .collect()
    }

    /// The operation `operation` for `identity`, whose `spec()` is its full schema: unknown and
    /// `Internal` operations are `NOT_FOUND` alike; one the caller may not call is `FORBIDDEN`
    /// (401 without identity).
    pub fn schema(
        &self,
        identity: Option<&Identity>,
        operation: &str,
    ) -> Result<Arc<RegisteredOperation>, CallFailure> {
        let name = strip_slash(operation);
        let authenticated = identity.is_some();
        let Some(op) = self.external(name) else {
            return Err(CallFailure::of(
                None,
                CallError::not_found(name),
                authenticated,
            ));
        };
        if let AccessDecision::Forbidden(reason) =
            op.spec
                .access_control
                .check(identity, ResourceTarget::Unspecified, None)
        {
            return Err(CallFailure::of(
                None,
                CallError::forbidden(reason),
                authenticated,
            ));
        }
        Ok(op)
    }
}
