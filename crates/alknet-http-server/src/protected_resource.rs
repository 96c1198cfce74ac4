//! OAuth 2.0 Protected Resource Metadata (RFC 9728), which MCP's authorization asks of a
//! server that takes tokens from an authorization server: the node publishes where its tokens
//! come from at `/.well-known/oauth-protected-resource` (and at the same path suffixed with
//! the MCP endpoint, where MCP clients look first), and every `401` names that document in
//! its challenge: `WWW-Authenticate: Bearer resource_metadata="…"`, with
//! `error="invalid_token"` when the request carried a token the node refused (RFC 6750 §3).

use axum::Router;
use axum::routing::get;
use http::HeaderValue;
use serde_json::json;

/// The path of the metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// What the node says of itself as an OAuth protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtectedResource {
    /// The node's resource identifier: its public base URL (`https://node.example.com`), the
    /// audience its tokens carry.
    pub resource: String,
    /// The issuers of its tokens.
    pub authorization_servers: Vec<String>,
    /// The scopes its operations use, when published.
    pub scopes_supported: Vec<String>,
    /// Endpoints under the resource (`/mcp`) whose suffixed metadata path is served too.
    pub endpoints: Vec<String>,
}

impl ProtectedResource {
    /// A resource at `resource` whose tokens come from `authorization_servers`.
    pub fn new<I, S>(resource: impl Into<String>, authorization_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ProtectedResource {
            resource: resource.into().trim_end_matches('/').to_owned(),
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
            scopes_supported: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// Sets the published scopes.
    #[must_use]
    pub fn with_scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Also serves the metadata at its path suffixed with `endpoint` (`/mcp`).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// The URL of the metadata document.
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", self.resource)
    }

    /// The paths the metadata is served at.
    pub(crate) fn paths(&self) -> Vec<String> {
        std::iter::once(METADATA_PATH.to_owned())
            .chain(
                self.endpoints
                    .iter()
                    .map(|e| format!("{METADATA_PATH}/{}", e.trim_start_matches('/'))),
            )
            .collect()
    }

    /// The router of the metadata document.
    pub(crate) fn router(&self) -> Router {
        let document = json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
        });
        let mut router = Router::new();
        for path in self.paths() {
            let document = document.clone();
            router = router.route(&path, get(move || async move { axum::Json(document) }));
        }
        router
    }
}

/// The challenges a `401` may carry, built once.
#[derive(Debug, Clone)]
pub(crate) struct Challenges {
    /// No token, or none presented: only when there is metadata to name (the surfaces' plain
    /// `Bearer` says the rest).
    plain: Option<HeaderValue>,
    /// A token was presented and refused.
    invalid_token: HeaderValue,
}

impl Challenges {
    /// The challenges, naming the metadata when there is one.
    pub(crate) fn new(resource: Option<&ProtectedResource>) -> Self {
        let metadata = resource.map(|r| format!("resource_metadata=\"{}\"", r.metadata_url()));
        let invalid = match &metadata {
            Some(metadata) => format!("Bearer {metadata}, {INVALID_TOKEN}"),
            None => format!("Bearer {INVALID_TOKEN}"),
        };
        Challenges {
            plain: metadata.and_then(|m| HeaderValue::from_str(&format!("Bearer {m}")).ok()),
            invalid_token: HeaderValue::from_str(&invalid)
                .unwrap_or(HeaderValue::from_static("Bearer")),
        }
    }

    /// The challenge of a request that presented a token the node `refused`, or of any other;
    /// `None` when the surfaces' own `Bearer` is the whole answer.
    pub(crate) fn for_request(&self, refused: bool) -> Option<HeaderValue> {
        if refused {
            Some(self.invalid_token.clone())
        } else {
            self.plain.clone()
        }
    }
}

/// RFC 6750 §3.1's error of a refused token.
const INVALID_TOKEN: &str =
    "error=\"invalid_token\", error_description=\"the token is invalid, expired or revoked\"";
