//! Access control: [`AccessControl::check`] and resource ownership (call-protocol §9.3).
//!
//! `check` is the only authorization gate. Its subject is the context's identity: the caller
//! for root calls, the composing handler's authority for composed calls. `forwarded_for` is
//! never consulted.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::Identity;

/// Who may call an operation. The default is unrestricted (anonymous callers allowed).
///
/// ```
/// use alknet_http_core::{AccessControl, AccessDecision, Identity, access::ResourceTarget};
///
/// let acl = AccessControl::scopes(["fs:read"]);
/// let reader = Identity::new("alice").with_scopes(["fs:read"]);
/// assert!(acl.check(Some(&reader), ResourceTarget::Unspecified, None).is_allowed());
/// assert_eq!(
///     acl.check(None, ResourceTarget::Unspecified, None),
///     AccessDecision::Forbidden("authentication required".into()),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessControl {
    /// All of these scopes are required.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// At least one of these scopes is required (an empty list denies everyone).
    #[serde(default)]
    pub required_scopes_any: Option<Vec<String>>,
    /// The type of resource the operation acts on.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The action on that resource type (requires `resource_type`).
    #[serde(default)]
    pub resource_action: Option<String>,
}

/// The outcome of [`AccessControl::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// The call may proceed.
    Allowed,
    /// The call is denied, with a reason for the `FORBIDDEN` message.
    Forbidden(String),
}

impl AccessDecision {
    /// Whether the call may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allowed)
    }
}

/// The resource a call targets, as extracted with the operation's `resource_id_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTarget<'a> {
    /// The operation has no `resource_id_path` (or this is a listing check).
    Unspecified,
    /// The operation has a `resource_id_path` but the input holds no string there.
    Missing,
    /// The targeted resource id.
    Id(&'a str),
}

impl<'a> ResourceTarget<'a> {
    /// Extracts the target from `input` with a `$.field` / `$.a.b` path (or `None` for no path).
    pub fn extract(path: Option<&str>, input: &'a Value) -> ResourceTarget<'a> {
        let Some(path) = path else {
            return ResourceTarget::Unspecified;
        };
        let Some(rest) = path.strip_prefix('$') else {
            return ResourceTarget::Missing;
        };
        let mut current = input;
        for segment in rest.split('.').filter(|s| !s.is_empty()) {
            match current.get(segment) {
                Some(next) => current = next,
                None => return ResourceTarget::Missing,
            }
        }
        match current.as_str() {
            Some(id) if !rest.is_empty() => ResourceTarget::Id(id),
            _ => ResourceTarget::Missing,
        }
    }
}

/// Whether a `resource_id_path` is well formed: `$` followed by one or more `.field` segments.
pub(crate) fn is_valid_resource_path(path: &str) -> bool {
    path.strip_prefix("$.")
        .is_some_and(|rest| rest.split('.').all(|s| !s.is_empty()))
}

impl AccessControl {
    /// Requires all of `scopes`.
    pub fn scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AccessControl {
            required_scopes: scopes.into_iter().map(Into::into).collect(),
            ..AccessControl::default()
        }
    }

    /// Requires at least one of `scopes`.
    pub fn any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AccessControl {
            required_scopes_any: Some(scopes.into_iter().map(Into::into).collect()),
            ..AccessControl::default()
        }
    }

    /// Adds a resource type and optional action.
    #[must_use]
    pub fn on_resource(mut self, resource_type: impl Into<String>, action: Option<&str>) -> Self {
        self.resource_type = Some(resource_type.into());
        self.resource_action = action.map(str::to_owned);
        self
    }

    /// Whether the ACL restricts nothing.
    pub fn is_unrestricted(&self) -> bool {
        self.required_scopes.is_empty()
            && self.required_scopes_any.is_none()
            && self.resource_type.is_none()
            && self.resource_action.is_none()
    }

    /// The scopes a token would need for this ACL, when `identity` lacks some of them: every
    /// required scope, and the alternatives when it holds none of them (an OAuth client asks
    /// for them all at once; RFC 6750's `insufficient_scope`). `None` when its scopes suffice.
    pub fn needed_scopes(&self, identity: &Identity) -> Option<Vec<String>> {
        let lacks_required = self.required_scopes.iter().any(|s| !identity.has_scope(s));
        let lacks_any = self
            .required_scopes_any
            .as_ref()
            .is_some_and(|any| !any.iter().any(|s| identity.has_scope(s)));
        if !lacks_required && !lacks_any {
            return None;
        }
        let mut scopes = self.required_scopes.clone();
        if lacks_any {
            scopes.extend(self.required_scopes_any.iter().flatten().cloned());
        }
        Some(scopes)
    }

    /// Decides whether `identity` may make a call that targets `resource` (call-protocol §9.3).
    pub fn check(
        &self,
        identity: Option<&Identity>,
        resource: ResourceTarget<'_>,
        ownership: Option<&dyn OwnershipProvider>,
    ) -> AccessDecision {
        if self.is_unrestricted() {
            return AccessDecision::Allowed;
        }
        let Some(identity) = identity else {
            return AccessDecision::Forbidden("authentication required".into());
        };
        if let Some(missing) = self.required_scopes.iter().find(|s| !identity.has_scope(s)) {
            return AccessDecision::Forbidden(format!("missing required scope: {missing}"));
        }
        if let Some(any) = &self.required_scopes_any
            && !any.iter().any(|s| identity.has_scope(s))
        {
            return AccessDecision::Forbidden(format!(
                "requires one of the scopes: {}",
                any.join(", ")
            ));
        }
        let Some(resource_type) = &self.resource_type else {
            return AccessDecision::Allowed;
        };
        let action = self.resource_action.as_deref();
        let allowed = match (ownership, resource) {
            (_, ResourceTarget::Missing) => {
                return AccessDecision::Forbidden("resource id missing from input".into());
            }
            (Some(provider), ResourceTarget::Id(id)) => {
                provider.owns(identity, resource_type, id, action)
            }
            (Some(provider), ResourceTarget::Unspecified) => {
                provider.owns_any(identity, resource_type)
            }
            (None, _) => {
                let held = identity.resources.get(resource_type);
                match action {
                    Some(a) => held.is_some_and(|names| names.iter().any(|n| n == a)),
                    None => held.is_some_and(|names| !names.is_empty()),
                }
            }
        };
        if allowed {
            AccessDecision::Allowed
        } else {
            AccessDecision::Forbidden(format!("no access to resource type {resource_type}"))
        }
    }
}

/// Answers "does this identity own that resource?" for resource-typed ACLs. Synchronous.
pub trait OwnershipProvider: Send + Sync + fmt::Debug {
    /// Whether `identity` owns resource `id` of `resource_type` for `action`.
    fn owns(
        &self,
        identity: &Identity,
        resource_type: &str,
        id: &str,
        action: Option<&str>,
    ) -> bool;
    /// The ids of `resource_type` that `identity` owns (handlers filter listings with it).
    fn owned_resources(&self, identity: &Identity, resource_type: &str) -> Vec<String>;
    /// Whether `identity` owns any resource of `resource_type`.
    fn owns_any(&self, identity: &Identity, resource_type: &str) -> bool;
}

/// Records and revokes ownership as resources are spawned and torn down.
pub trait OwnershipStore: Send + Sync + fmt::Debug {
    /// Records that `identity` owns resource `id` of `resource_type`.
    fn record<'a>(
        &'a self,
        identity: &'a Identity,
        resource_type: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, ()>;
    /// Forgets resource `id` of `resource_type` (the lifecycle handler calls this on teardown).
    fn revoke<'a>(&'a self, resource_type: &'a str, id: &'a str) -> BoxFuture<'a, ()>;
}

/// The in-memory default for both [`OwnershipProvider`] and [`OwnershipStore`]: the spawner owns.
#[derive(Debug, Default)]
pub struct InMemoryOwnership {
    owners: RwLock<HashMap<(String, String), String>>,
}

impl InMemoryOwnership {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryOwnership::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(String, String), String>> {
        self.owners.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl OwnershipProvider for InMemoryOwnership {
    fn owns(
        &self,
        identity: &Identity,
        resource_type: &str,
        id: &str,
        _action: Option<&str>,
    ) -> bool {
        self.read()
            .get(&(resource_type.to_owned(), id.to_owned()))
            .is_some_and(|owner| *owner == identity.id)
    }

    fn owned_resources(&self, identity: &Identity, resource_type: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .read()
            .iter()
            .filter(|((t, _), owner)| t == resource_type && **owner == identity.id)
            .map(|((_, id), _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn owns_any(&self, identity: &Identity, resource_type: &str) -> bool {
        self.read()
            .iter()
            .any(|((t, _), owner)| t == resource_type && *owner == identity.id)
    }
}

impl OwnershipStore for InMemoryOwnership {
    fn record<'a>(
        &'a self,
        identity: &'a Identity,
        resource_type: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.owners
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    (resource_type.to_owned(), id.to_owned()),
                    identity.id.clone(),
                );
        })
    }

    fn revoke<'a>(&'a self, resource_type: &'a str, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.owners
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(resource_type.to_owned(), id.to_owned()));
        })
    }
}
