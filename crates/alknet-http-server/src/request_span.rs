//! The request span: a debug span (method, path) around the handling of every request.
//!
//! Why not tower-http's `TraceLayer`: it also wraps the response body and reads the clock twice
//! per body frame, which cost a streamed `/subscribe` about a tenth of its events per second
//! (measured with `cargo xtask bench`). The span here covers the response future only; a
//! streamed body is produced outside it.

use std::task::{Context, Poll};

use tracing::Instrument;
use tracing::instrument::Instrumented;

/// Wraps a service in [`RequestSpanService`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestSpanLayer;

impl<S> tower::Layer<S> for RequestSpanLayer {
    type Service = RequestSpanService<S>;

    fn layer(&self, inner: S) -> RequestSpanService<S> {
        RequestSpanService { inner }
    }
}

/// Runs the inner service's response future inside the request's debug span.
#[derive(Clone, Debug)]
pub(crate) struct RequestSpanService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for RequestSpanService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Never the query: it may hold a secret.
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path()
        );
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}
