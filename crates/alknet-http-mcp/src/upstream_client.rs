//! `from_mcp`'s HTTP client: rmcp's reqwest client, which also
//!
//! - sends the import's bearer token as it is at the time of each request, read from the
//!   registrations' capabilities (call-protocol §12): a credential reload that rotates the
//!   token is seen by the next request, with no reconnect;
//! - sends a request's W3C trace context as `traceparent`/`tracestate` headers. The context
//!   travels in `_meta` already (SEP-414); the headers let the upstream's HTTP layer (a proxy,
//!   a gateway, an OpenTelemetry-instrumented server) join the same trace, as `from_openapi`'s
//!   requests do. rmcp sends the message from its own task, so the context is read from the
//!   message, not from the current span.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use futures::stream::BoxStream;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use alknet_http_core::Capabilities;
use alknet_http_core::client::reqwest;
use alknet_http_core::meta::{TRACEPARENT, TRACESTATE};
use secrecy::ExposeSecret as _;

/// rmcp's reqwest client, with the import's current token on every request and the trace
/// context headers on `tools/call` requests.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamClient {
    pub(crate) http: reqwest::Client,
    /// The capabilities holding the token, and the service it is filed under.
    pub(crate) credential: Option<(Capabilities, String)>,
}

impl UpstreamClient {
    /// The `Authorization` token of a request: the import's, as it is now.
    fn auth(&self, given: Option<String>) -> Option<String> {
        match &self.credential {
            Some((capabilities, service)) => capabilities
                .get(service)
                .map(|token| token.expose_secret().to_owned()),
            None => given,
        }
    }
}

/// Adds the headers of the `_meta` trace context of a `tools/call` in `message`.
fn with_trace_headers(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    let JsonRpcMessage::Request(request) = message else {
        return headers;
    };
    let ClientRequest::CallToolRequest(call) = &request.request else {
        return headers;
    };
    let Some(meta) = call.params.meta.as_ref() else {
        return headers;
    };
    for (name, value) in [
        (TRACEPARENT, meta.get_traceparent()),
        (TRACESTATE, meta.get_tracestate()),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

impl StreamableHttpClient for UpstreamClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = with_trace_headers(&message, custom_headers);
        self.http
            .post_message(uri, message, session_id, self.auth(auth_header), headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = with_trace_headers(&message, custom_headers);
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                self.auth(auth_header),
                headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = with_trace_headers(&message, custom_headers);
        self.http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                self.auth(auth_header),
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.http
            .delete_session(uri, session_id, self.auth(auth_header), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.http
            .get_stream(
                uri,
                session_id,
                last_event_id,
                self.auth(auth_header),
                custom_headers,
            )
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                self.auth(auth_header),
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
