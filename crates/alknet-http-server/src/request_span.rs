//! The request layer: every request gets its id (`x-request-id`: the client's when valid, else
//! a fresh UUID v4), kept in its extensions for the surfaces (the call it makes has the same
//! id) and answered in the response's `x-request-id`; and a span around its handling (target
//! `alknet::http`, the OpenTelemetry HTTP server conventions), whose parent is the caller's
//! `traceparent` when it sent one.
//!
//! Why not tower-http's `TraceLayer`: it also wraps the response body and reads the clock twice
//! per body frame, which cost a streamed `/subscribe` about a tenth of its events per second
//! (measured with `cargo xtask bench`). The span here covers the response future only; a
//! streamed body is produced outside it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use alknet_http_core::dispatch::RequestId;
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::trace::{HTTP_SPAN, TraceParent};
use http::HeaderValue;
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// Wraps a service in [`RequestSpanService`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestSpanLayer;

impl<S> tower::Layer<S> for RequestSpanLayer {
    type Service = RequestSpanService<S>;

    fn layer(&self, inner: S) -> RequestSpanService<S> {
        RequestSpanService {
            inner,
            source: None,
        }
    }
}

/// Gives each request its id and runs the inner service's response future inside the
/// request's debug span.
#[derive(Clone, Debug)]
pub(crate) struct RequestSpanService<S> {
    inner: S,
    /// The connection's peer address, given to each of its requests.
    source: Option<SourceAddr>,
}

impl<S> RequestSpanService<S> {
    /// The service for one connection from `remote`.
    pub(crate) fn for_connection(mut self, remote: Option<std::net::SocketAddr>) -> Self {
        self.source = remote.map(|remote| SourceAddr(remote.ip()));
        self
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestSpanService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithRequestId<Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let id = request
            .headers()
            .get(RequestId::HEADER_NAME)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestId::from_header)
            .unwrap_or_default();
        // Valid by construction: the id is ASCII letters, digits and punctuation. Never
        // indexed: a value unique to each response would only churn h2's HPACK table (measured:
        // indexing it cost `POST /call` over h2 about 4 %).
        let header = HeaderValue::from_str(id.as_str()).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        // Never the query: it may hold a secret.
        let span = tracing::info_span!(
            target: HTTP_SPAN,
            "request",
            // `&str` values: the exporter's layer copies them, a `%` value it formats.
            otel.name = request.method().as_str(),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = request.method().as_str(),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
            alknet.request_id = id.as_str(),
            // A request that makes one call (`POST /call`) carries it on this span rather than
            // in a child: see `alknet_http_core::trace::hosts_call`.
            rpc.system = tracing::field::Empty,
            rpc.method = tracing::field::Empty,
            alknet.surface = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        // The caller's context parents the span, and stays in the extensions for a surface
        // whose one call reports it (the access log's trace id when no span is recorded).
        if let Some(parent) = TraceParent::from_headers(request.headers()) {
            parent.adopt(&span);
            request.extensions_mut().insert(parent);
        }
        request.extensions_mut().insert(id);
        if let Some(source) = self.source {
            request.extensions_mut().insert(source);
        }
        let future = span.in_scope(|| self.inner.call(request));
        WithRequestId {
            inner: future.instrument(span.clone()),
            header,
            span,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future with `x-request-id` set on its response.
    pub(crate) struct WithRequestId<F> {
        #[pin]
        inner: F,
        header: Option<HeaderValue>,
        span: tracing::Span,
    }
}

impl<F, R, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            if let Some(header) = this.header.take() {
                response
                    .headers_mut()
                    .insert(RequestId::HEADER_NAME, header);
            }
            let status = response.status();
            this.span
                .record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                this.span.record("otel.status_code", "ERROR");
            }
        }
        Poll::Ready(result)
    }
}
