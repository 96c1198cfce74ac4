//! JWT bearer tokens from OpenID Connect / OAuth 2.1 issuers (feature `jwt`).
//!
//! A [`JwtProvider`] accepts the access tokens its configured [`JwtIssuer`]s sign: the
//! signature checked against the issuer's published keys (found through
//! `/.well-known/openid-configuration` or a JWKS URL, fetched with the shared HTTP client,
//! cached, refreshed on schedule and, at most every [`JwtIssuer::min_refresh_interval`], when a
//! token names a key the cache does not hold), `iss`, `aud`, `exp` and `nbf` checked with a
//! small leeway. Only public-key algorithms are accepted (RS*, PS*, ES256, ES384, EdDSA): a
//! token with `alg: none` or an HMAC algorithm — whose secret would be a published key — is
//! refused, as is a key whose own `alg` differs from the token's. Any other token goes to the
//! fallback provider (the node's static tokens), so both kinds work side by side.
//!
//! A verified token is remembered (keyed by its SHA-256, bounded by
//! [`JwtProvider::with_max_cached_tokens`]) until it expires or its issuer's key set changes,
//! so a caller's next requests skip the signature check.
//!
//! The identity's id comes from `sub` (or [`JwtIssuer::id_claim`]), its scopes from `scope`
//! (space-separated) or `scp` (or [`JwtIssuer::scopes_claim`]), its resources from
//! [`JwtIssuer::resources_claim`] (`{"type": ["name", …]}`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
//! use alknet_http_core::jwt::{JwtIssuer, JwtProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default())?);
//! let issuer = JwtIssuer::discover("https://login.example.com", ["https://api.example.com"]);
//! let provider = JwtProvider::connect(vec![issuer], http).await?;
//! # Ok(()) }
//! ```

mod claims;
mod keys;
mod verified;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Validation;

/// The JWS algorithms (from `jsonwebtoken`).
pub use jsonwebtoken::Algorithm;

use crate::client::SharedHttpClient;
use crate::identity::{AuthToken, Identity, IdentityProvider};

use keys::{IssuerKeys, KeyLookup};
use verified::Verified;

/// How many verified tokens a [`JwtProvider`] remembers unless configured otherwise.
pub const DEFAULT_MAX_CACHED_TOKENS: usize = 10_000;

/// Where an issuer's signing keys are published.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// The `jwks_uri` of the issuer's `/.well-known/openid-configuration`.
    Discovery,
    /// A JWKS document at this URL.
    JwksUrl(String),
}

/// One accepted token issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtIssuer {
    /// The `iss` value of its tokens (and, for discovery, the base of its metadata URL).
    pub issuer: String,
    /// Where its keys are.
    pub keys: KeySource,
    /// Accepted `aud` values: a token must name one of them. Never empty.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`. Default 30 s.
    pub leeway: Duration,
    /// The claim that is the identity's id. Default `sub`.
    pub id_claim: String,
    /// The claim that holds the scopes (a space-separated string or an array of strings).
    /// Default: `scope`, else `scp`.
    pub scopes_claim: Option<String>,
    /// The claim that holds the resources (`{"type": ["name", …]}`), if any.
    pub resources_claim: Option<String>,
    /// Accepted signature algorithms (public-key ones only). Default RS256, RS384, RS512,
    /// PS256, PS384, PS512, ES256, ES384, EdDSA.
    pub algorithms: Vec<Algorithm>,
    /// How often the keys are fetched again. Default 10 min.
    pub refresh_interval: Duration,
    /// The shortest time between two fetches caused by tokens naming unknown keys. Default
    /// 10 s.
    pub min_refresh_interval: Duration,
    /// The largest metadata or JWKS document accepted. Default 256 KiB.
    pub max_document_bytes: usize,
    /// How long one fetch may take. Default 10 s.
    pub fetch_timeout: Duration,
}

/// The public-key algorithms a [`JwtIssuer`] accepts unless configured otherwise.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl JwtIssuer {
    /// An issuer whose keys are found through its OpenID discovery document.
    pub fn discover<I, S>(issuer: impl Into<String>, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        JwtIssuer {
            issuer: issuer.into(),
            keys: KeySource::Discovery,
            audiences: audiences.into_iter().map(Into::into).collect(),
            leeway: Duration::from_secs(30),
            id_claim: "sub".to_owned(),
            scopes_claim: None,
            resources_claim: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            refresh_interval: Duration::from_secs(600),
            min_refresh_interval: Duration::from_secs(10),
            max_document_bytes: 256 * 1024,
            fetch_timeout: Duration::from_secs(10),
        }
    }

    /// Takes the keys from a JWKS URL instead of discovery.
    #[must_use]
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = KeySource::JwksUrl(url.into());
        self
    }

    /// Sets the leeway.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the id claim.
    #[must_use]
    pub fn with_id_claim(mut self, claim: impl Into<String>) -> Self {
        self.id_claim = claim.into();
        self
    }

    /// Sets the scopes claim.
    #[must_use]
    pub fn with_scopes_claim(mut self, claim: impl Into<String>) -> Self {
        self.scopes_claim = Some(claim.into());
        self
    }

    /// Sets the resources claim.
    #[must_use]
    pub fn with_resources_claim(mut self, claim: impl Into<String>) -> Self {
        self.resources_claim = Some(claim.into());
        self
    }

    /// Sets the accepted algorithms (HMAC ones are dropped: they are never accepted).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Sets the scheduled refresh interval.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Sets the shortest time between fetches caused by unknown keys.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Sets the largest document accepted.
    #[must_use]
    pub fn with_max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// Sets the fetch timeout.
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The validation of this issuer's tokens signed with `alg`.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }
}

/// Why a [`JwtProvider`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// An issuer is configured wrongly (no audience, no public-key algorithm, a bad URL).
    #[error("issuer `{issuer}`: {reason}")]
    Config {
        /// The issuer.
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// An issuer's keys could not be fetched.
    #[error("issuer `{issuer}`: cannot fetch its keys: {reason}")]
    Keys {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
}

/// An [`IdentityProvider`] of JWT access tokens; see the [module docs](self).
pub struct JwtProvider {
    issuers: Vec<Arc<IssuerKeys>>,
    fallback: Option<Arc<dyn IdentityProvider>>,
    verified: Verified,
    /// Stops the refresh tasks when the provider goes.
    _refreshing: tokio_util::sync::DropGuard,
}

impl fmt::Debug for JwtProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtProvider")
            .field(
                "issuers",
                &self
                    .issuers
                    .iter()
                    .map(|i| i.config.issuer.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl JwtProvider {
    /// Fetches every issuer's keys, then keeps them fresh in the background (on the current
    /// tokio runtime) for as long as the provider lives.
    pub async fn connect(
        issuers: Vec<JwtIssuer>,
        http: Arc<SharedHttpClient>,
    ) -> Result<Self, JwtError> {
        let stop = tokio_util::sync::CancellationToken::new();
        let mut connected = Vec::with_capacity(issuers.len());
        for config in issuers {
            let keys = IssuerKeys::connect(config, http.clone()).await?;
            keys.clone().refresh_on_schedule(stop.child_token());
            connected.push(keys);
        }
        Ok(JwtProvider {
            issuers: connected,
            fallback: None,
            verified: Verified::new(DEFAULT_MAX_CACHED_TOKENS),
            _refreshing: stop.drop_guard(),
        })
    }

    /// Sends every token that is not a JWT of a configured issuer, and every certificate
    /// fingerprint, to `fallback` (the node's static tokens).
    #[must_use]
    pub fn with_fallback(mut self, fallback: Arc<dyn IdentityProvider>) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Remembers at most `max` verified tokens (0: verifies every request's token).
    /// Default [`DEFAULT_MAX_CACHED_TOKENS`].
    #[must_use]
    pub fn with_max_cached_tokens(mut self, max: usize) -> Self {
        self.verified = Verified::new(max);
        self
    }

    /// The identity of a JWT, `None` when it is not one of ours or is refused (the reason is
    /// logged at debug level: a client's bad token is not the operator's problem).
    fn resolve_jwt(&self, token: &str) -> Option<Option<Arc<Identity>>> {
        let cache_key = verified::key_of(token);
        if let Some(identity) = self
            .verified
            .get(&cache_key, |issuer| self.issuers[issuer].generation())
        {
            return Some(Some(identity));
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let issuer = claims::unverified_issuer(token)?;
        let index = self
            .issuers
            .iter()
            .position(|i| i.config.issuer == issuer)?;
        let keys = &self.issuers[index];
        let generation = keys.generation();
        let refused = |reason: &dyn fmt::Display| {
            tracing::debug!(issuer = %issuer, %reason, "JWT refused");
            Some(None)
        };
        if !keys.config.algorithms.contains(&header.alg) || is_hmac(header.alg) {
            return refused(&format_args!("algorithm {:?} is not accepted", header.alg));
        }
        let key = match keys.lookup(header.kid.as_deref(), header.alg) {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown => {
                keys.clone().refresh_soon();
                return refused(&"no key of the issuer matches the token's `kid`");
            }
            KeyLookup::WrongAlgorithm => {
                return refused(&"the key is not for the token's algorithm");
            }
        };
        let validation = keys.config.validation(header.alg);
        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        ) {
            Ok(data) => match claims::identity(&keys.config, &data.claims) {
                Ok(identity) => {
                    let identity = Arc::new(identity);
                    if let Some(exp) = data.claims.get("exp").and_then(serde_json::Value::as_u64) {
                        let until = exp.saturating_add(keys.config.leeway.as_secs());
                        self.verified
                            .insert(cache_key, identity.clone(), until, index, generation);
                    }
                    Some(Some(identity))
                }
                Err(reason) => refused(&reason),
            },
            Err(error) => refused(&error),
        }
    }
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl IdentityProvider for JwtProvider {
    fn resolve_from_fingerprint(&self, fingerprint: &str) -> Option<Arc<Identity>> {
        self.fallback
            .as_ref()?
            .resolve_from_fingerprint(fingerprint)
    }

    fn resolve_from_token(&self, token: &AuthToken) -> Option<Arc<Identity>> {
        if let Ok(text) = std::str::from_utf8(&token.raw)
            && let Some(resolved) = self.resolve_jwt(text)
        {
            return resolved;
        }
        self.fallback.as_ref()?.resolve_from_token(token)
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.fallback.as_ref()?.changes()
    }
}
