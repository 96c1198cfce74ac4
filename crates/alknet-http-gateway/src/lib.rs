//! # alknet-http-gateway
//!
//! The only HTTP way to discover and invoke operations (http-surfaces §4–§6), as a router
//! fragment over [`GatewayDispatch`]:
//!
//! | endpoint | backed by | success |
//! |---|---|---|
//! | `GET /search?namespace=&q=` | `services/list` | `200 {"operations": [...]}`, filtered per caller |
//! | `GET /schema?operation=<name>` | the registry | `200` full `OperationSpec` |
//! | `POST /call {"operation","input"}` | `invoke` | `200`, body = the output |
//! | `POST /batch [{"operation","input"}…]` | `invoke` per element | `200`, ordered `{"output"}` / `{"error","status"}` |
//! | `POST /subscribe {"operation","input"}` | `invoke_streaming` | `200 text/event-stream` |
//!
//! Errors are a JSON `CallError` with the status of http-surfaces §5 (401 with
//! `WWW-Authenticate: Bearer` for anonymous callers, 403 otherwise; 400 for a malformed
//! envelope, 422 for input that fails its schema; 504 on deadline). `Internal` and unknown
//! operations are indistinguishable. A caller that disconnects during `/call` cancels a Query;
//! a Mutation completes unless its spec opts in to cancellation.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`router`], [`PATHS`] | the fragment and the paths it reserves |
//! | [`GatewayConfig`] | batch and SSE limits |
//! | [`GatewayRejection`] | every malformed request, each `400` with a `CallError` body |
//! | [`sse`] | the SSE projection of a subscription |
//! | `client` | [`GatewayClient`](client::GatewayClient): the gateway called over HTTP from Rust, typed (feature `client`) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `client` | no | `client`: `GatewayClient` (reqwest, rustls with ring, sse-stream) |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use alknet_http_core::{identity::AnonymousOnly, GatewayDispatch, OperationRegistry};
//! use alknet_http_gateway::{router, GatewayConfig, PATHS};
//!
//! let dispatch = GatewayDispatch::new(OperationRegistry::builder().build().unwrap(), Arc::new(AnonymousOnly));
//! let fragment: axum::Router = router(dispatch, GatewayConfig::default());
//! assert_eq!(PATHS, ["/search", "/schema", "/call", "/batch", "/subscribe"]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod endpoints;
mod rejection;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::GatewayDispatch;
use alknet_http_core::dispatch::BatchLimits;
use axum::Router;
use axum::routing::{get, post};

/// The paths the gateway reserves.
pub const PATHS: [&str; 5] = ["/search", "/schema", "/call", "/batch", "/subscribe"];

/// Limits of the gateway, each with a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Elements a `/batch` may hold; more is `400`. Default 100.
    pub max_batch_len: usize,
    /// Elements of one `/batch` running at once. Default 8.
    pub batch_concurrency: usize,
    /// Interval of `: ping` comments on `/subscribe`. Default 15 s.
    pub sse_ping_interval: Duration,
}

impl GatewayConfig {
    /// Sets `max_batch_len`: elements a `/batch` may hold; more is `400`. Default 100.
    #[must_use]
    pub fn with_max_batch_len(mut self, max_batch_len: usize) -> Self {
        self.max_batch_len = max_batch_len;
        self
    }

    /// Sets `batch_concurrency`: elements of one `/batch` running at once. Default 8.
    #[must_use]
    pub fn with_batch_concurrency(mut self, batch_concurrency: usize) -> Self {
        self.batch_concurrency = batch_concurrency;
        self
    }

    /// Sets `sse_ping_interval`: interval of `: ping` comments on `/subscribe`. Default 15 s.
    #[must_use]
    pub fn with_sse_ping_interval(mut self, sse_ping_interval: Duration) -> Self {
        self.sse_ping_interval = sse_ping_interval;
        self
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_batch_len: 100,
            batch_concurrency: 8,
            sse_ping_interval: Duration::from_secs(15),
        }
    }
}

pub use rejection::GatewayRejection;

#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) dispatch: GatewayDispatch,
    pub(crate) config: GatewayConfig,
}

impl Gateway {
    pub(crate) fn batch_limits(&self) -> BatchLimits {
        BatchLimits::default()
            .max_len(self.config.max_batch_len)
            .concurrency(self.config.batch_concurrency)
    }
}

/// The gateway's router fragment. Mount it behind the server's bearer layer (it reads the
/// caller from the `ResolvedIdentity` request extension; without it every caller is anonymous).
pub fn router(dispatch: GatewayDispatch, config: GatewayConfig) -> Router {
    let gateway = Arc::new(Gateway { dispatch, config });
    Router::new()
        .route("/search", get(endpoints::search))
        .route("/schema", get(endpoints::schema))
        .route("/call", post(endpoints::call))
        .route("/batch", post(endpoints::batch))
        .route("/subscribe", post(sse::subscribe))
        .with_state(gateway)
}
