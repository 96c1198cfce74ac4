//! The bearer layer: `Authorization: Bearer <token>` → `Option<Identity>` in request extensions.
//! It never rejects; endpoints decide (and build their 401s with [`unauthorized`]).

use std::sync::Arc;

use alknet_http_core::identity::{ResolvedIdentity, bearer_token};
use alknet_http_core::{AuthToken, IdentityProvider};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use tower::ServiceExt;

use crate::config::Stealth;

#[derive(Clone)]
pub(crate) struct BearerState {
    pub(crate) provider: Arc<dyn IdentityProvider>,
    pub(crate) stealth: Stealth,
    pub(crate) decoy: Router,
}

/// Resolves the bearer token of a request (never the plain token in logs).
pub fn resolve(provider: &dyn IdentityProvider, headers: &http::HeaderMap) -> ResolvedIdentity {
    let identity = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .and_then(|token| provider.resolve_from_token(&AuthToken::new(token)));
    ResolvedIdentity(identity)
}

pub(crate) async fn bearer_layer(
    State(state): State<BearerState>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = resolve(state.provider.as_ref(), request.headers());
    if state.stealth == Stealth::Full && identity.0.is_none() {
        return match state.decoy.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// A `401 Unauthorized` with `WWW-Authenticate: Bearer` and the given JSON body.
pub fn unauthorized(json_body: impl Into<Body>) -> Response {
    let mut response = Response::new(json_body.into());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
