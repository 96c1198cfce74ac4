//! `[[issuer]]` in the node's TOML configuration (feature `cli`): the OpenID Connect / OAuth
//! issuers whose JWT access tokens the node accepts, beside its static `[[token]]`s (see
//! `alknet_http_core::jwt`).
//!
//! ```toml
//! [[issuer]]
//! issuer = "https://login.example.com"        # the tokens' `iss`; keys by OpenID discovery
//! jwks_url = "https://login.example.com/jwks" # or straight from a JWKS (optional)
//! audience = ["https://node.example.com"]     # a token must be for one of these
//! leeway_s = 30                               # clock skew allowed on exp and nbf
//! id_claim = "sub"                            # the identity's id (default sub)
//! scopes_claim = "scope"                      # default: scope, else scp
//! resources_claim = "groups"                  # {"type": ["name", …]} (optional)
//! algorithms = ["RS256", "ES256", "EdDSA"]    # default: every RS*, PS*, ES256, ES384, EdDSA
//! refresh_s = 600                             # keys fetched again this often
//!
//! [oauth]                                     # RFC 9728 protected-resource metadata
//! resource = "https://node.example.com"       # the node's public URL (its tokens' audience)
//! authorization_servers = ["https://login.example.com"]   # default: the [[issuer]]s
//! scopes_supported = ["demo:read", "demo:write"]
//! ```

use std::time::Duration;

use alknet_http_core::jwt::{Algorithm, JwtIssuer};
use serde::Deserialize;

use alknet_http_server::ProtectedResource;

use crate::config_error::{ConfigError, fail};

/// The `[oauth]` table: the node as an OAuth protected resource.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    /// The node's public base URL.
    pub resource: String,
    /// The authorization servers (default: every `[[issuer]]`).
    pub authorization_servers: Option<Vec<String>>,
    /// The scopes published.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

impl OAuthSection {
    /// The metadata, its MCP variant at `mcp_path` too.
    pub(crate) fn resolve(
        &self,
        issuers: &[JwtIssuer],
        mcp_path: &str,
    ) -> Result<ProtectedResource, ConfigError> {
        if !(self.resource.starts_with("https://") || self.resource.starts_with("http://")) {
            return fail(format!(
                "oauth: resource `{}` is not an http(s) URL",
                self.resource
            ));
        }
        let servers = match &self.authorization_servers {
            Some(servers) => servers.clone(),
            None => issuers.iter().map(|i| i.issuer.clone()).collect(),
        };
        if servers.is_empty() {
            return fail(
                "oauth: no authorization server (configure `authorization_servers` or an [[issuer]])",
            );
        }
        Ok(ProtectedResource::new(self.resource.clone(), servers)
            .with_scopes_supported(self.scopes_supported.iter().cloned())
            .with_endpoint(mcp_path))
    }
}

/// One `[[issuer]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEntry {
    /// The tokens' `iss`.
    pub issuer: String,
    /// A JWKS URL instead of discovery.
    pub jwks_url: Option<String>,
    /// Accepted audiences (at least one).
    pub audience: Vec<String>,
    /// Leeway on `exp`/`nbf` in seconds (default 30).
    pub leeway_s: Option<u64>,
    /// The id claim (default `sub`).
    pub id_claim: Option<String>,
    /// The scopes claim.
    pub scopes_claim: Option<String>,
    /// The resources claim.
    pub resources_claim: Option<String>,
    /// Accepted algorithms.
    pub algorithms: Option<Vec<String>>,
    /// Scheduled key refresh in seconds (default 600).
    pub refresh_s: Option<u64>,
}

impl IssuerEntry {
    /// The issuer, checked: an http(s) URL, an audience, public-key algorithms only.
    pub(crate) fn resolve(&self) -> Result<JwtIssuer, ConfigError> {
        let name = &self.issuer;
        for url in std::iter::once(name).chain(&self.jwks_url) {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return fail(format!("issuer `{name}`: `{url}` is not an http(s) URL"));
            }
        }
        if self.audience.iter().all(|a| a.trim().is_empty()) {
            return fail(format!(
                "issuer `{name}`: `audience` names no audience (every token must be for this node)"
            ));
        }
        let mut issuer = JwtIssuer::discover(name.clone(), self.audience.iter().cloned());
        if let Some(url) = &self.jwks_url {
            issuer = issuer.with_jwks_url(url.clone());
        }
        if let Some(seconds) = self.leeway_s {
            issuer = issuer.with_leeway(Duration::from_secs(seconds));
        }
        if let Some(claim) = &self.id_claim {
            issuer = issuer.with_id_claim(claim.clone());
        }
        if let Some(claim) = &self.scopes_claim {
            issuer = issuer.with_scopes_claim(claim.clone());
        }
        if let Some(claim) = &self.resources_claim {
            issuer = issuer.with_resources_claim(claim.clone());
        }
        if let Some(names) = &self.algorithms {
            let mut algorithms = Vec::new();
            for alg in names {
                match alg.parse::<Algorithm>() {
                    Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | Err(_) => {
                        return fail(format!(
                            "issuer `{name}`: algorithm `{alg}` is not a public-key JWS algorithm"
                        ));
                    }
                    Ok(parsed) => algorithms.push(parsed),
                }
            }
            issuer = issuer.with_algorithms(algorithms);
        }
        if let Some(seconds) = self.refresh_s {
            if seconds == 0 {
                return fail(format!("issuer `{name}`: `refresh_s` is 0"));
            }
            issuer = issuer.with_refresh_interval(Duration::from_secs(seconds));
        }
        Ok(issuer)
    }
}
