//! The bearer layer: `Authorization: Bearer <token>` → `Option<Identity>` in request extensions.
//! It never rejects; endpoints decide (and build their 401s with [`unauthorized`]). It gives a
//! `401` the challenge that fits the request: `error="invalid_token"` when it carried a token
//! the node refused, and the protected-resource metadata's URL when the node publishes one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use alknet_http_core::identity::{ResolvedIdentity, bearer_token};
use alknet_http_core::{AuthToken, IdentityProvider};
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use tower::ServiceExt;

use crate::config::Stealth;
use crate::protected_resource::Challenges;
use crate::surface::HEALTHZ;

#[derive(Clone)]
pub(crate) struct BearerState {
    pub(crate) provider: Arc<dyn IdentityProvider>,
    pub(crate) stealth: Stealth,
    pub(crate) decoy: Router,
    pub(crate) challenges: Challenges,
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

/// The bearer layer as a tower layer (no boxing of the inner service per request).
#[derive(Clone)]
pub(crate) struct BearerLayer(pub(crate) BearerState);

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            state: self.0.clone(),
        }
    }
}

/// Resolves the identity into the request's extensions, or (full stealth, no identity) hands
/// the request to the decoy.
#[derive(Clone)]
pub(crate) struct Bearer<S> {
    inner: S,
    state: BearerState,
}

impl<S, B> tower::Service<http::Request<B>> for Bearer<S>
where
    S: tower::Service<http::Request<B>, Response = Response, Error = std::convert::Infallible>,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        Challenged<S::Future>,
        futures::future::BoxFuture<'static, Result<Response, std::convert::Infallible>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // `/healthz` answers probes before any authentication, whatever the stealth.
        if request.uri().path() == HEALTHZ {
            return futures::future::Either::Left(Challenged {
                inner: self.inner.call(request),
                challenge: None,
            });
        }
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        let identity = ResolvedIdentity(token.and_then(|token| {
            self.state
                .provider
                .resolve_from_token(&AuthToken::new(token))
        }));
        if self.state.stealth == Stealth::Full && identity.0.is_none() {
            let decoy = self.state.decoy.clone();
            return futures::future::Either::Right(Box::pin(decoy.oneshot(request)));
        }
        let refused = token.is_some() && identity.0.is_none();
        let challenge = self.state.challenges.for_request(refused);
        request.extensions_mut().insert(identity);
        futures::future::Either::Left(Challenged {
            inner: self.inner.call(request),
            challenge,
        })
    }
}

pin_project_lite::pin_project! {
    /// The response future, whose `401` gets the request's challenge.
    pub(crate) struct Challenged<F> {
        #[pin]
        inner: F,
        challenge: Option<HeaderValue>,
    }
}

impl<F, E> Future for Challenged<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result
            && let Some(challenge) = this.challenge.take()
        {
            match response.status() {
                StatusCode::UNAUTHORIZED => {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                // A caller short of scopes is told where to get a token that has them too.
                StatusCode::FORBIDDEN => {
                    let headers = response.headers_mut();
                    let scoped = headers
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .filter(|params| params.starts_with("error=\"insufficient_scope\""))
                        .zip(challenge.to_str().ok())
                        .and_then(|(params, ours)| {
                            HeaderValue::from_str(&format!("{ours}, {params}")).ok()
                        });
                    if let Some(scoped) = scoped {
                        headers.insert(header::WWW_AUTHENTICATE, scoped);
                    }
                }
                _ => {}
            }
        }
        Poll::Ready(result)
    }
}

/// The `401 Unauthorized` of every surface (`WWW-Authenticate: Bearer`, the CallError
/// `FORBIDDEN` body), from the core's one rendering of it.
pub fn unauthorized() -> Response {
    alknet_http_core::error::unauthorized_response().map(Body::from)
}
