//! The shared outbound HTTP client (feature `http-client`, http-surfaces §10).
//!
//! One [`SharedHttpClient`] per process, handed to importers: pooled connections, timeouts,
//! rustls with the ring provider, the system trust store unless a CA bundle is configured, no
//! proxy taken from the environment, and credentials added per request only.
//!
//! Retries are method-aware: idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are
//! retried with exponential backoff and jitter on connect errors, timeouts and 429/502/503/504;
//! any other method only when the connection could not be made (no byte was sent). A 429 or 503
//! with `Retry-After` (delta-seconds or HTTP-date) delays the next request to that URL, capped.
//!
//! ```no_run
//! use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let http = SharedHttpClient::new(HttpClientConfig::default())?;
//! let request = http.client().get("https://api.example.com/pets").bearer_auth("per-request").build()?;
//! let response = http.send(request).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;

use crate::error::CallError;

/// The HTTP client crate, for callers that build requests.
pub use reqwest;

/// How failed requests are retried.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 2.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time. Default 100 ms.
    pub initial_backoff: Duration,
    /// Largest backoff. Default 2 s.
    pub max_backoff: Duration,
    /// Largest delay a `Retry-After` may impose. Default 30 s.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Sets `max_retries`: retries after the first attempt. Default 2.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets `initial_backoff`: backoff before the first retry; doubles each time. Default 100 ms.
    #[must_use]
    pub fn with_initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Sets `max_backoff`: largest backoff. Default 2 s.
    #[must_use]
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// Sets `max_retry_after`: largest delay a `Retry-After` may impose. Default 30 s.
    #[must_use]
    pub fn with_max_retry_after(mut self, max_retry_after: Duration) -> Self {
        self.max_retry_after = max_retry_after;
        self
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Configuration of the shared client, each field with a documented default.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpClientConfig {
    /// Idle pooled connections kept per host. Default 32.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
    /// Timeout of establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Timeout of a whole request (headers and body). Default 30 s.
    pub request_timeout: Duration,
    /// Retry rules.
    pub retry_policy: RetryPolicy,
    /// PEM CA certificates to trust instead of the system trust store.
    pub ca_bundle: Option<Vec<u8>>,
    /// PEM certificate chain and private key presented to servers that ask for one.
    pub client_cert: Option<Vec<u8>>,
    /// URLs whose `Retry-After` deadline is remembered at most. Default 1024.
    pub max_tracked_urls: usize,
    /// The `User-Agent` header. Default `alknet-http/<version>`.
    pub user_agent: String,
}

impl HttpClientConfig {
    /// Sets `pool_max_idle_per_host`: idle pooled connections kept per host. Default 32.
    #[must_use]
    pub fn with_pool_max_idle_per_host(mut self, pool_max_idle_per_host: usize) -> Self {
        self.pool_max_idle_per_host = pool_max_idle_per_host;
        self
    }

    /// Sets `pool_idle_timeout`: how long an idle pooled connection is kept. Default 90 s.
    #[must_use]
    pub fn with_pool_idle_timeout(mut self, pool_idle_timeout: Duration) -> Self {
        self.pool_idle_timeout = pool_idle_timeout;
        self
    }

    /// Sets `connect_timeout`: timeout of establishing a connection. Default 10 s.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets `request_timeout`: timeout of a whole request (headers and body). Default 30 s.
    #[must_use]
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    /// Sets `retry_policy`: retry rules.
    #[must_use]
    pub fn with_retry_policy(mut self, retry_policy: RetryPolicy) -> Self {
        self.retry_policy = retry_policy;
        self
    }

    /// Sets `ca_bundle`: pEM CA certificates to trust instead of the system trust store.
    #[must_use]
    pub fn with_ca_bundle(mut self, ca_bundle: Option<Vec<u8>>) -> Self {
        self.ca_bundle = ca_bundle;
        self
    }

    /// Sets `client_cert`: pEM certificate chain and private key presented to servers that ask for one.
    #[must_use]
    pub fn with_client_cert(mut self, client_cert: Option<Vec<u8>>) -> Self {
        self.client_cert = client_cert;
        self
    }

    /// Sets `max_tracked_urls`: uRLs whose `Retry-After` deadline is remembered at most. Default 1024.
    #[must_use]
    pub fn with_max_tracked_urls(mut self, max_tracked_urls: usize) -> Self {
        self.max_tracked_urls = max_tracked_urls;
        self
    }

    /// Sets `user_agent`: the `User-Agent` header. Default `alknet-http/<version>`.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }
}

impl fmt::Debug for HttpClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientConfig")
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry_policy", &self.retry_policy)
            .field("ca_bundle", &self.ca_bundle.as_ref().map(Vec::len))
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            pool_max_idle_per_host: 32,
            pool_idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry_policy: RetryPolicy::default(),
            ca_bundle: None,
            client_cert: None,
            max_tracked_urls: 1024,
            user_agent: concat!("alknet-http/", "0.1").to_owned(),
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// The CA bundle or client certificate is not valid PEM.
    #[error("invalid certificate configuration: {0}")]
    Certificate(String),
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// The process-wide outbound client: cheap to share, swappable with [`SharedHttpClient::reload`].
pub struct SharedHttpClient {
    client: ArcSwap<reqwest::Client>,
    policy: ArcSwap<RetryPolicy>,
    retry_after: Mutex<RetryAfterMap>,
}

impl fmt::Debug for SharedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedHttpClient")
            .field("policy", &self.policy.load())
            .finish_non_exhaustive()
    }
}

/// Installs rustls' ring provider as the process default, once. reqwest is built without a
/// default provider, so this must run before any `reqwest::Client` is built (the shared client
/// does it itself; call it before building your own).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn build(config: &HttpClientConfig) -> Result<reqwest::Client, HttpClientError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .pool_idle_timeout(config.pool_idle_timeout)
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.clone());
    if let Some(pem) = &config.ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| HttpClientError::Certificate(format!("CA bundle: {e}")))?;
        if certs.is_empty() {
            return Err(HttpClientError::Certificate(
                "CA bundle holds no certificate".into(),
            ));
        }
        builder = builder.tls_certs_only(certs);
    }
    if let Some(pem) = &config.client_cert {
        let identity = reqwest::Identity::from_pem(pem)
            .map_err(|e| HttpClientError::Certificate(format!("client certificate: {e}")))?;
        builder = builder.identity(identity);
    }
    Ok(builder.build()?)
}

impl SharedHttpClient {
    /// Builds the client.
    pub fn new(config: HttpClientConfig) -> Result<Self, HttpClientError> {
        Ok(SharedHttpClient {
            client: ArcSwap::from_pointee(build(&config)?),
            policy: ArcSwap::from_pointee(config.retry_policy.clone()),
            retry_after: Mutex::new(RetryAfterMap::new(config.max_tracked_urls)),
        })
    }

    /// The current client, for building requests (add credentials per request).
    pub fn client(&self) -> Arc<reqwest::Client> {
        self.client.load_full()
    }

    /// Rebuilds the client from `config` and swaps it in; the old pool is dropped once the
    /// requests using it finish.
    pub fn reload(&self, config: HttpClientConfig) -> Result<(), HttpClientError> {
        let client = build(&config)?;
        self.client.store(Arc::new(client));
        self.policy.store(Arc::new(config.retry_policy));
        self.lock_map().resize(config.max_tracked_urls);
        Ok(())
    }

    /// How many URLs currently have a `Retry-After` deadline.
    pub fn tracked_urls(&self) -> usize {
        self.lock_map().len()
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, RetryAfterMap> {
        self.retry_after.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a request with the retry and `Retry-After` rules. A request whose body cannot be
    /// cloned (a stream) is sent once.
    pub async fn send(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let client = self.client();
        let policy = self.policy.load_full();
        let key = url_key(request.url());
        let idempotent = is_idempotent(request.method());
        let mut current = request;
        let mut attempt: u32 = 0;
        loop {
            let wait_until = self.lock_map().deadline(&key, Instant::now());
            if let Some(until) = wait_until {
                tokio::time::sleep_until(until).await;
            }
            let next = if attempt < policy.max_retries {
                current.try_clone()
            } else {
                None
            };
            let outcome = client.execute(current).await;
            let retry = match &outcome {
                Ok(response) => {
                    let status = response.status();
                    if let Some(delay) = retry_after(response.headers(), status) {
                        let delay = jitter(delay.min(policy.max_retry_after), 10);
                        self.lock_map().record(key.clone(), Instant::now() + delay);
                    }
                    retryable_status(idempotent, status)
                }
                Err(error) => retryable_error(idempotent, error),
            };
            current = match next {
                Some(next) if retry => next,
                _ => return outcome,
            };
            attempt += 1;
            let backoff = policy
                .initial_backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(policy.max_backoff);
            tokio::time::sleep(jitter(backoff, 50)).await;
        }
    }
}

/// Whether a method may be repeated without changing the outcome (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a response status is worth retrying for this kind of method.
pub fn retryable_status(idempotent: bool, status: StatusCode) -> bool {
    idempotent
        && matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        )
}

fn retryable_error(idempotent: bool, error: &reqwest::Error) -> bool {
    // A refused or failed connect sent no byte: safe for every method.
    error.is_connect() || (idempotent && error.is_timeout())
}

/// The call error of a non-2xx upstream reply (http-surfaces §5): `HTTP_<status>` with the body
/// as details, and the reply's `Retry-After` (seconds or HTTP-date, on 429 and 503) as the
/// error's `retry_after_ms`, so the gateway's own `Retry-After` passes it on.
pub fn call_error_from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CallError {
    let error = crate::error::call_error_from_http(status.as_u16(), body);
    match retry_after(headers, status) {
        Some(delay) => error.with_retry_after(delay),
        None => error,
    }
}

/// The `Retry-After` delay of a 429 or 503 response: delta-seconds or an HTTP-date.
pub fn retry_after(headers: &HeaderMap, status: StatusCode) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?, SystemTime::now())
}

/// Parses a `Retry-After` value relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Adds up to `percent`% random extra to `delay`.
fn jitter(delay: Duration, percent: u32) -> Duration {
    let mut byte = [0u8; 2];
    if getrandom::fill(&mut byte).is_err() {
        return delay;
    }
    let fraction = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    delay + delay.mul_f64(fraction * f64::from(percent) / 100.0)
}

/// The key `Retry-After` deadlines are kept under: scheme, host, port and path.
fn url_key(url: &reqwest::Url) -> String {
    format!(
        "{}://{}:{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default(),
        url.path()
    )
}

/// Per-URL `Retry-After` deadlines, bounded: expired entries go first, then the soonest.
#[derive(Debug)]
struct RetryAfterMap {
    deadlines: HashMap<String, Instant>,
    max: usize,
}

impl RetryAfterMap {
    fn new(max: usize) -> Self {
        RetryAfterMap {
            deadlines: HashMap::new(),
            max: max.max(1),
        }
    }

    fn len(&self) -> usize {
        self.deadlines.len()
    }

    fn resize(&mut self, max: usize) {
        self.max = max.max(1);
        while self.deadlines.len() > self.max {
            self.evict_one(Instant::now());
        }
    }

    fn deadline(&mut self, key: &str, now: Instant) -> Option<Instant> {
        match self.deadlines.get(key) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                self.deadlines.remove(key);
                None
            }
            None => None,
        }
    }

    fn record(&mut self, key: String, until: Instant) {
        if !self.deadlines.contains_key(&key) && self.deadlines.len() >= self.max {
            self.evict_one(Instant::now());
        }
        self.deadlines.insert(key, until);
    }

    fn evict_one(&mut self, now: Instant) {
        self.deadlines.retain(|_, until| *until > now);
        if self.deadlines.len() >= self.max
            && let Some(soonest) = self
                .deadlines
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| k.clone())
        {
            self.deadlines.remove(&soonest);
        }
    }
}

/// The CallError for a failed outbound request (http-surfaces §5): a client timeout is
/// `TIMEOUT`, anything else `INTERNAL`. Never includes request headers (credentials).
pub fn call_error_from_reqwest(error: &reqwest::Error) -> CallError {
    let what = if error.is_timeout() {
        "upstream timed out"
    } else if error.is_connect() {
        "upstream connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the upstream response failed"
    } else {
        "upstream request failed"
    };
    // The client sees a fixed text; the log sees the cause and where, but never a query
    // string (an API key may travel there) nor the error's own rendering, which holds the URL.
    let upstream = error
        .url()
        .map(|u| {
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.path()
            )
        })
        .unwrap_or_default();
    let cause = std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default();
    tracing::warn!(%upstream, %cause, "{what}");
    if error.is_timeout() {
        CallError::timeout(what)
    } else {
        CallError::internal(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            parse_retry_after(&date, now),
            Some(Duration::from_secs(120))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn retry_decisions_are_method_aware() {
        assert!(retryable_status(true, StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable_status(true, StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable_status(false, StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable_status(true, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!retryable_status(true, StatusCode::NOT_FOUND));
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(is_idempotent(&m), "{m}");
        }
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }

    #[test]
    fn the_retry_after_map_is_bounded() {
        let now = Instant::now();
        let mut map = RetryAfterMap::new(3);
        for (i, secs) in [(0, 30), (1, 10), (2, 20)] {
            map.record(format!("u{i}"), now + Duration::from_secs(secs));
        }
        map.record("u3".into(), now + Duration::from_secs(40));
        assert_eq!(map.len(), 3);
        assert!(
            map.deadline("u1", now).is_none(),
            "the soonest deadline was evicted"
        );
        assert!(map.deadline("u3", now).is_some());
        // Expired entries are dropped when read.
        assert!(map.deadline("u0", now + Duration::from_secs(31)).is_none());
        assert_eq!(map.len(), 2);
        map.resize(1);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn url_keys_ignore_queries() {
        let a = reqwest::Url::parse("https://api.example.com/pets?limit=1").unwrap();
        let b = reqwest::Url::parse("https://api.example.com:443/pets?limit=2").unwrap();
        assert_eq!(url_key(&a), url_key(&b));
    }
}
