//! Who is calling: [`Identity`], [`AuthToken`], [`IdentityProvider`] and the reference
//! [`StaticTokenProvider`] that stores only SHA-256 hashes of tokens (call-protocol §9).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A caller: an id, its scopes and the resources it holds by type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// Stable id (peer id, key prefix, or a composition authority's label).
    pub id: String,
    /// Granted scopes, compared exactly.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Resource names by resource type, for static resource checks.
    #[serde(default)]
    pub resources: BTreeMap<String, Vec<String>>,
    /// When the credential this identity was resolved from stops being accepted (a JWT's
    /// `exp` plus leeway, a static token's configured expiry). Sessions opened with it close
    /// then. Never serialized: it is the credential's, not the caller's to forward.
    #[serde(skip)]
    pub expires_at: Option<SystemTime>,
}

impl Identity {
    /// An identity with an id and no scopes.
    pub fn new(id: impl Into<String>) -> Self {
        Identity {
            id: id.into(),
            ..Identity::default()
        }
    }

    /// Adds scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds resource names of one type.
    #[must_use]
    pub fn with_resources<I, S>(mut self, resource_type: impl Into<String>, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources
            .entry(resource_type.into())
            .or_default()
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets when the identity's credential expires.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether the identity's credential has expired by `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the identity's credential has expired (reads the clock only when it expires).
    pub fn is_expired(&self) -> bool {
        self.expires_at.is_some() && self.is_expired_at(SystemTime::now())
    }

    /// Whether the identity holds `scope` (exact match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A raw bearer credential as received. Its bytes are redacted from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    /// The token bytes, exactly as presented.
    pub raw: Vec<u8>,
}

impl AuthToken {
    /// Wraps raw token bytes.
    pub fn new(raw: impl Into<Vec<u8>>) -> Self {
        AuthToken { raw: raw.into() }
    }

    /// The lowercase hex SHA-256 of the token: the only form a token is stored in.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.raw))
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken([redacted])")
    }
}

/// Resolves credentials to identities. Synchronous: providers look up tables, not networks.
pub trait IdentityProvider: Send + Sync + fmt::Debug {
    /// Resolves a TLS client-certificate fingerprint.
    fn resolve_from_fingerprint(&self, fingerprint: &str) -> Option<Arc<Identity>>;
    /// Resolves a bearer token. The identity is shared, not copied: it travels from here to
    /// the handler without a clone of its scopes or resources.
    fn resolve_from_token(&self, token: &AuthToken) -> Option<Arc<Identity>>;
    /// Tells when the provider's table changes (a reload), so that sessions re-check the
    /// credential they were opened with. `None` (the default): the table never changes.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// A provider that resolves nothing: every caller is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnonymousOnly;

impl IdentityProvider for AnonymousOnly {
    fn resolve_from_fingerprint(&self, _fingerprint: &str) -> Option<Arc<Identity>> {
        None
    }

    fn resolve_from_token(&self, _token: &AuthToken) -> Option<Arc<Identity>> {
        None
    }
}

/// Errors building a [`StaticTokenProvider`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// A token hash is not 64 hex characters.
    #[error("token hash for `{id}` is not a 64-character hex SHA-256")]
    BadHash {
        /// The identity the hash was for.
        id: String,
    },
    /// Two entries share one token hash.
    #[error("token hash for `{id}` is configured twice")]
    DuplicateHash {
        /// The identity named by the second entry.
        id: String,
    },
}

/// The reference provider: a fixed table of token hashes and certificate fingerprints.
///
/// Plain tokens are never stored; the table is keyed by the token's SHA-256.
///
/// ```
/// use alknet_http_core::identity::{mint_token, AuthToken, Identity, IdentityProvider, StaticTokenProvider};
/// use secrecy::ExposeSecret;
///
/// let token = mint_token();
/// let provider = StaticTokenProvider::new()
///     .with_token(token.expose_secret(), Identity::new("dev").with_scopes(["demo:read"]))
///     .unwrap();
/// let who = provider.resolve_from_token(&AuthToken::new(token.expose_secret())).unwrap();
/// assert_eq!(who.id, "dev");
/// assert!(provider.resolve_from_token(&AuthToken::new("alk_wrong")).is_none());
/// ```
#[derive(Clone, Default)]
pub struct StaticTokenProvider {
    by_hash: HashMap<[u8; 32], Arc<Identity>>,
    by_fingerprint: HashMap<String, Arc<Identity>>,
}

impl fmt::Debug for StaticTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenProvider")
            .field("tokens", &self.by_hash.len())
            .field("fingerprints", &self.by_fingerprint.len())
            .finish()
    }
}

impl StaticTokenProvider {
    /// An empty table.
    pub fn new() -> Self {
        StaticTokenProvider::default()
    }

    /// Adds a plain token (hashed immediately; the plain value is not kept).
    pub fn with_token(self, token: &str, identity: Identity) -> Result<Self, TokenError> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.insert(hash, identity)
    }

    /// Adds a token by its lowercase or uppercase hex SHA-256.
    pub fn with_token_hash(self, sha256_hex: &str, identity: Identity) -> Result<Self, TokenError> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(sha256_hex.trim(), &mut hash).map_err(|_| TokenError::BadHash {
            id: identity.id.clone(),
        })?;
        self.insert(hash, identity)
    }

    /// Adds a certificate fingerprint.
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>, identity: Identity) -> Self {
        self.by_fingerprint.insert(
            normalize_fingerprint(&fingerprint.into()),
            Arc::new(identity),
        );
        self
    }

    /// How many tokens are configured.
    pub fn token_count(&self) -> usize {
        self.by_hash.len()
    }

    fn insert(mut self, hash: [u8; 32], identity: Identity) -> Result<Self, TokenError> {
        if self.by_hash.contains_key(&hash) {
            return Err(TokenError::DuplicateHash { id: identity.id });
        }
        self.by_hash.insert(hash, Arc::new(identity));
        Ok(self)
    }
}

fn normalize_fingerprint(fp: &str) -> String {
    fp.chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

impl IdentityProvider for StaticTokenProvider {
    fn resolve_from_fingerprint(&self, fingerprint: &str) -> Option<Arc<Identity>> {
        self.by_fingerprint
            .get(&normalize_fingerprint(fingerprint))
            .filter(|identity| !identity.is_expired())
            .cloned()
    }

    fn resolve_from_token(&self, token: &AuthToken) -> Option<Arc<Identity>> {
        let hash: [u8; 32] = Sha256::digest(&token.raw).into();
        self.by_hash
            .get(&hash)
            .filter(|identity| !identity.is_expired())
            .cloned()
    }
}

/// Mints a fresh 256-bit token: `alk_` followed by 43 base64url characters.
///
/// # Panics
/// Only if the operating system's random source fails, which leaves no safe way to mint a secret.
pub fn mint_token() -> SecretString {
    let mut bytes = [0u8; 32];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    let token = format!(
        "alk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    SecretString::from(token)
}

/// The lowercase hex SHA-256 of a token, the form a configuration file stores.
pub fn token_hash(token: &SecretString) -> String {
    hex::encode(Sha256::digest(token.expose_secret().as_bytes()))
}

/// The caller identity an HTTP surface resolved from `Authorization: Bearer`, stored in request
/// extensions by the server's bearer layer. `None` = anonymous (or an unresolvable token).
///
/// With feature `axum` it is an extractor; a request that never passed the bearer layer yields
/// `None` (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedIdentity(pub Option<Arc<Identity>>);

impl ResolvedIdentity {
    /// The identity, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.0.as_deref()
    }

    /// Takes the identity.
    pub fn into_inner(self) -> Option<Arc<Identity>> {
        self.0
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for ResolvedIdentity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ResolvedIdentity>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Extracts the token of an `Authorization: Bearer <token>` header value; `None` for any
/// other scheme (`Basic`, …), a missing token or a malformed value.
///
/// ```
/// use alknet_http_core::identity::bearer_token;
/// assert_eq!(bearer_token("Bearer alk_abc"), Some("alk_abc"));
/// assert_eq!(bearer_token("bearer   alk_abc "), Some("alk_abc"));
/// assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
/// assert_eq!(bearer_token("Bearer"), None);
/// assert_eq!(bearer_token("Bearer a b"), None);
/// ```
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, rest) = header_value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}
