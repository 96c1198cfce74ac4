//! An issuer's signing keys: fetched (discovery, then JWKS) through the shared HTTP client
//! within a size and time limit, cached, and fetched again on schedule or when a token names
//! a key the cache does not hold.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::client::{SharedHttpClient, reqwest};

use super::{JwtError, JwtIssuer, KeySource, is_hmac};

/// One usable public key.
struct CachedKey {
    kid: Option<String>,
    /// The algorithm the key is published for, if it says.
    alg: Option<KeyAlgorithm>,
    kind: KeyKind,
    key: Arc<DecodingKey>,
}

/// What algorithms a key can verify.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn verifies(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

/// The outcome of looking up a token's key.
pub(super) enum KeyLookup {
    Found(Arc<DecodingKey>),
    /// No key with the token's `kid` (or, without one, no single key for its algorithm).
    Unknown,
    /// The key named is for another algorithm.
    WrongAlgorithm,
}

/// An issuer with its cached keys.
pub(super) struct IssuerKeys {
    pub(super) config: JwtIssuer,
    http: Arc<SharedHttpClient>,
    keys: ArcSwap<Vec<CachedKey>>,
    /// When a fetch caused by an unknown key last started.
    last_unknown_fetch: Mutex<Option<Instant>>,
    fetching: AtomicBool,
    /// Counts the key sets installed: a token verified under an older one is verified again.
    generation: AtomicU64,
}

impl IssuerKeys {
    /// Checks the configuration and fetches the keys once.
    pub(super) async fn connect(
        config: JwtIssuer,
        http: Arc<SharedHttpClient>,
    ) -> Result<Arc<Self>, JwtError> {
        let invalid = |reason: &str| JwtError::Config {
            issuer: config.issuer.clone(),
            reason: reason.to_owned(),
        };
        if config.audiences.is_empty() {
            return Err(invalid("no audience: every token must be for this node"));
        }
        if !config.algorithms.iter().any(|alg| !is_hmac(*alg)) {
            return Err(invalid("no public-key algorithm accepted"));
        }
        let issuer = Arc::new(IssuerKeys {
            config,
            http,
            keys: ArcSwap::from_pointee(Vec::new()),
            last_unknown_fetch: Mutex::new(None),
            fetching: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        });
        issuer.refresh().await.map_err(|reason| JwtError::Keys {
            issuer: issuer.config.issuer.clone(),
            reason,
        })?;
        Ok(issuer)
    }

    /// Which key set is current.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key for a token's `kid` and algorithm.
    pub(super) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup {
        let keys = self.keys.load();
        let published_for = |key: &CachedKey| {
            key.kind.verifies(alg) && key.alg.is_none_or(|a| a == KeyAlgorithm::from(alg))
        };
        match kid {
            Some(kid) => match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) if published_for(key) => KeyLookup::Found(key.key.clone()),
                Some(_) => KeyLookup::WrongAlgorithm,
                None => KeyLookup::Unknown,
            },
            // Without a `kid`, only an unambiguous key will do.
            None => {
                let mut candidates = keys.iter().filter(|k| published_for(k));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => KeyLookup::Found(key.key.clone()),
                    _ => KeyLookup::Unknown,
                }
            }
        }
    }

    /// Fetches the keys again soon, unless a fetch runs or one started less than
    /// `min_refresh_interval` ago (so tokens with made-up `kid`s cannot flood the issuer).
    pub(super) fn refresh_soon(self: Arc<Self>) {
        {
            let mut last = self
                .last_unknown_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < self.config.min_refresh_interval) {
                return;
            }
            *last = Some(now);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(reason) = self.refresh().await {
                tracing::warn!(issuer = %self.config.issuer, %reason, "cannot fetch the issuer's keys");
            }
        });
    }

    /// Fetches the keys every `refresh_interval` until `stop`.
    pub(super) fn refresh_on_schedule(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(self.config.refresh_interval) => {}
                }
                if let Err(reason) = self.refresh().await {
                    tracing::warn!(issuer = %self.config.issuer, %reason, "cannot fetch the issuer's keys; the cached ones stay");
                }
            }
        });
    }

    /// Fetches and installs the key set (one fetch at a time; the cached keys stay on error).
    async fn refresh(&self) -> Result<(), String> {
        if self.fetching.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let fetched = tokio::time::timeout(self.config.fetch_timeout, self.fetch()).await;
        self.fetching.store(false, Ordering::Release);
        let keys = fetched.map_err(|_| {
            format!(
                "no answer within {} ms",
                self.config.fetch_timeout.as_millis()
            )
        })??;
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn fetch(&self) -> Result<Vec<CachedKey>, String> {
        let jwks_url = match &self.config.keys {
            KeySource::JwksUrl(url) => url.clone(),
            KeySource::Discovery => {
                let base = self.config.issuer.trim_end_matches('/');
                let metadata = self
                    .get_json(&format!("{base}/.well-known/openid-configuration"))
                    .await?;
                // OpenID Connect Discovery §4.3: the document is the issuer's own.
                if metadata.get("issuer").and_then(Value::as_str) != Some(&self.config.issuer) {
                    return Err("the discovery document names another issuer".to_owned());
                }
                metadata
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or("the discovery document has no `jwks_uri`")?
                    .to_owned()
            }
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_url).await?)
            .map_err(|e| format!("{jwks_url} is not a JWK set: {e}"))?;
        let keys: Vec<CachedKey> = set.keys.iter().filter_map(cached).collect();
        if keys.is_empty() {
            return Err(format!("{jwks_url} has no public signing key"));
        }
        Ok(keys)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
        let request = reqwest::Request::new(Method::GET, url.clone());
        let mut response = self
            .http
            .send(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let limit = self.config.max_document_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(format!("{url} is larger than {limit} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > limit {
                return Err(format!("{url} is larger than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
    }
}

/// A published key we can use: a public signing key (never a symmetric one).
fn cached(jwk: &Jwk) -> Option<CachedKey> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey {
        kid: jwk.common.key_id.clone(),
        alg: jwk.common.key_algorithm,
        kind,
        key: Arc::new(key),
    })
}
