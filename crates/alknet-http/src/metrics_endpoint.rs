//! `GET /metrics` (feature `server`): the node's [`CallMetrics`] in the Prometheus text format,
//! on a listener of its own or on the node's HTTP listeners for callers holding a scope.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http_core::identity::ResolvedIdentity;
use alknet_http_core::metrics::CallMetrics;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The path of the metrics.
pub const METRICS_PATH: &str = "/metrics";

/// Where a node serves `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsExposure {
    /// On a listener of its own (plain HTTP, no authentication: bind it where only the scraper
    /// reaches, such as loopback or a private network).
    Listener(SocketAddr),
    /// On the node's HTTP listeners, to callers whose token holds this scope (Prometheus sends
    /// it with `authorization: credentials_file`).
    Scoped(String),
}

fn text(metrics: &CallMetrics) -> Response {
    (
        [(header::CONTENT_TYPE, CallMetrics::CONTENT_TYPE)],
        metrics.encode(),
    )
        .into_response()
}

/// `/metrics` for anyone who reaches the router.
pub(crate) fn open_router(metrics: Arc<CallMetrics>) -> axum::Router {
    axum::Router::new().route(METRICS_PATH, get(move || async move { text(&metrics) }))
}

/// `/metrics` on the main listeners: 401 without a token, 403 without `scope`.
pub(crate) fn scoped_surface(
    metrics: Arc<CallMetrics>,
    scope: String,
) -> alknet_http_server::Surface {
    let router = axum::Router::new().route(
        METRICS_PATH,
        get(move |caller: ResolvedIdentity| {
            let (metrics, scope) = (metrics.clone(), scope.clone());
            async move {
                match caller.identity() {
                    None => (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Bearer")],
                    )
                        .into_response(),
                    Some(identity) if !identity.has_scope(&scope) => {
                        StatusCode::FORBIDDEN.into_response()
                    }
                    Some(_) => text(&metrics),
                }
            }
        }),
    );
    alknet_http_server::Surface::new("metrics", [METRICS_PATH], router)
}
