//! Forwarding one call to the upstream REST API (http-surfaces §9 "Forwarding").

use super::request_body::{Encoded, RequestBody};
use super::response_body::{content_type, decode_body, read_limited};
use super::sse_decoder::SseDecoder;
use super::style::{form_pairs, scalar_or_joined};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::client::reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use alknet_http_core::client::reqwest::{self, Method, Url};
use alknet_http_core::client::{
    SharedHttpClient, call_error_from_reqwest, call_error_from_response,
};
use alknet_http_core::registry::HandlerResult;
use alknet_http_core::trace::TraceParent;
use alknet_http_core::{CallError, HandlerKind, OperationContext};
use base64::Engine as _;
use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

/// How the importer authenticates to the upstream API. The secret itself is never configured
/// here: it is read per call from the registration's capabilities (`ctx.capabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpAuthScheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `<header_name>: <secret>`.
    ApiKey {
        /// The header carrying the key, e.g. `X-API-Key`.
        header_name: String,
    },
    /// `?<param_name>=<secret>` on every request.
    ApiKeyQuery {
        /// The query parameter carrying the key.
        param_name: String,
    },
    /// `Authorization: Basic base64(<secret>)`, the secret being `user:password`.
    Basic,
}

/// Limits of forwarded calls, each with a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardLimits {
    /// Largest upstream response body read, in bytes. Default 16 MiB.
    pub max_response_bytes: usize,
    /// Largest single server-sent event, in bytes. Default 1 MiB.
    pub max_event_bytes: usize,
    /// How long an upstream event stream may stay open. Default 24 h. (Requests and replies
    /// use the shared client's request timeout.)
    pub stream_timeout: Duration,
}

impl ForwardLimits {
    /// Sets `max_response_bytes`: largest upstream response body read, in bytes. Default 16 MiB.
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Sets `max_event_bytes`: largest single server-sent event, in bytes. Default 1 MiB.
    #[must_use]
    pub fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }

    /// Sets `stream_timeout`: how long an upstream event stream may stay open. Default 24 h. (Requests and replies
    #[must_use]
    pub fn with_stream_timeout(mut self, stream_timeout: Duration) -> Self {
        self.stream_timeout = stream_timeout;
        self
    }
}

impl Default for ForwardLimits {
    fn default() -> Self {
        ForwardLimits {
            max_response_bytes: 16 << 20,
            max_event_bytes: 1 << 20,
            stream_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where an input field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
}

/// One input field bound to a request part.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    /// The input property.
    pub(crate) key: String,
    /// The wire name (parameter or header name).
    pub(crate) name: String,
    pub(crate) location: Location,
    /// OpenAPI `explode` (query arrays/objects as repeated/separate parameters).
    pub(crate) explode: bool,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param(String),
}

/// Characters that stay literal in a path parameter value: only RFC 3986 unreserved ones.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters escaped in the literal parts of a path template (which come from the document).
const PATH_LITERAL: &AsciiSet = &PATH_VALUE
    .remove(b'/')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'%');

/// Everything a forwarder needs; one per imported operation, shared by its handler.
#[derive(Debug)]
pub(crate) struct Forwarder {
    pub(crate) method: Method,
    base: Url,
    template: Vec<Segment>,
    /// `None`: bind dynamically (`from_jsonschema`): template names → path, `body` → body,
    /// every other field → query.
    bindings: Option<Vec<Binding>>,
    /// How the `body` input is sent.
    body: RequestBody,
    auth: Option<HttpAuthScheme>,
    credential: String,
    default_headers: HeaderMap,
    limits: ForwardLimits,
    http: Arc<SharedHttpClient>,
}

/// The common settings of the forwarders of one import.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) base: Url,
    pub(crate) auth: Option<HttpAuthScheme>,
    pub(crate) credential: String,
    pub(crate) default_headers: HeaderMap,
    pub(crate) limits: ForwardLimits,
    pub(crate) http: Arc<SharedHttpClient>,
}

/// Parses and checks a `base_url`: absolute `http`/`https`, no query or fragment.
pub(crate) fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("base_url `{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "base_url `{text}`: only http and https are supported"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(format!(
            "base_url `{text}`: must not have a query or fragment"
        ));
    }
    Ok(url)
}

/// Parses `default_headers` into a header map.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("default header name `{name}` is not valid"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("default header `{name}` has an invalid value"))?;
        map.append(header, value);
    }
    Ok(map)
}

/// The names of the `{param}`s of a path template, in order.
pub(crate) fn template_params(template: &str) -> Vec<String> {
    parse_template(template)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Param(name) => Some(name),
            Segment::Literal(_) => None,
        })
        .collect()
}

fn parse_template(template: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            segments.push(Segment::Literal(rest[..open].to_owned()));
        }
        segments.push(Segment::Param(rest[open + 1..open + close].to_owned()));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest.to_owned()));
    }
    segments
}

impl Forwarder {
    pub(crate) fn new(
        upstream: &Upstream,
        method: Method,
        template: &str,
        bindings: Option<Vec<Binding>>,
        body: RequestBody,
    ) -> Self {
        Forwarder {
            method,
            body,
            base: upstream.base.clone(),
            template: parse_template(template),
            bindings,
            auth: upstream.auth.clone(),
            credential: upstream.credential.clone(),
            default_headers: upstream.default_headers.clone(),
            limits: upstream.limits,
            http: upstream.http.clone(),
        }
    }

    /// The handler: one request (Query/Mutation) or an event stream (Subscription).
    pub(crate) fn handler(self: Arc<Self>, streaming: bool) -> HandlerKind {
        if streaming {
            HandlerKind::stream(move |input, ctx| self.clone().stream(input, ctx))
        } else {
            HandlerKind::once(move |input, ctx| {
                let this = self.clone();
                async move { this.call(input, ctx).await }
            })
        }
    }

    /// Builds the upstream request for `input` (public within the crate for tests).
    pub(crate) fn request(
        &self,
        input: &Value,
        ctx: &OperationContext,
        streaming: bool,
    ) -> Result<reqwest::Request, CallError> {
        let empty = Map::new();
        let fields = match input {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => return Err(CallError::invalid_input("the input must be an object")),
        };
        let mut path_values: Vec<(&str, String)> = Vec::new();
        let mut query: Vec<(String, String)> = Vec::new();
        let mut headers = self.default_headers.clone();
        let mut body = None;
        let dynamic;
        let bindings = match &self.bindings {
            Some(b) => b,
            None => {
                dynamic = self.dynamic_bindings(fields);
                &dynamic
            }
        };
        for binding in bindings {
            let Some(value) = fields.get(&binding.key) else {
                continue;
            };
            match binding.location {
                Location::Path => {
                    path_values.push((binding.name.as_str(), scalar_or_joined(value)));
                }
                Location::Query => form_pairs(&binding.name, value, binding.explode, &mut query),
                Location::Header => {
                    if value.is_null() {
                        continue;
                    }
                    let name = HeaderName::from_bytes(binding.name.as_bytes()).map_err(|_| {
                        CallError::invalid_input(format!("`{}` is not a header name", binding.name))
                    })?;
                    let value = HeaderValue::from_str(&scalar_or_joined(value)).map_err(|_| {
                        CallError::invalid_input(format!(
                            "header `{}` has characters a header cannot carry",
                            binding.name
                        ))
                    })?;
                    headers.insert(name, value);
                }
            }
        }
        if self.method != Method::GET
            && self.method != Method::HEAD
            && let Some(value) = fields.get("body")
        {
            body = Some(value);
        }
        let url = self.url(&path_values, &query, ctx)?;
        let client = self.http.client();
        let mut builder = client.request(self.method.clone(), url).headers(headers);
        builder = builder.header(
            ACCEPT,
            if streaming {
                "text/event-stream"
            } else {
                "application/json, */*;q=0.5"
            },
        );
        builder = match body.map(|body| self.body.encode(body)).transpose()? {
            None => builder,
            Some(Encoded::Bytes {
                content_type,
                bytes,
            }) => builder.header(CONTENT_TYPE, content_type).body(bytes),
            Some(Encoded::Multipart(form)) => builder.multipart(form),
        };
        if let Some(value) = self.auth_header(ctx)? {
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(HttpAuthScheme::ApiKey { header_name }) = &self.auth
            && let Some(secret) = ctx.capabilities().get(&self.credential)
        {
            let mut value = HeaderValue::from_str(secret.expose_secret())
                .map_err(|_| CallError::internal("the API key is not a valid header value"))?;
            value.set_sensitive(true);
            builder = builder.header(header_name.as_str(), value);
        }
        if streaming {
            builder = builder.timeout(self.limits.stream_timeout);
        }
        // The upstream joins the call's trace (W3C trace context).
        if let Some(parent) = TraceParent::current() {
            builder = builder.header("traceparent", parent.traceparent());
            if let Some(state) = parent.tracestate() {
                builder = builder.header("tracestate", state);
            }
        }
        builder
            .build()
            .map_err(|e| CallError::internal(format!("cannot build the upstream request: {e}")))
    }

    fn dynamic_bindings(&self, fields: &Map<String, Value>) -> Vec<Binding> {
        let path: Vec<&str> = self
            .template
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(name.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        fields
            .keys()
            .filter(|k| k.as_str() != "body")
            .map(|key| Binding {
                key: key.clone(),
                name: key.clone(),
                location: if path.contains(&key.as_str()) {
                    Location::Path
                } else {
                    Location::Query
                },
                explode: true,
            })
            .collect()
    }

    fn auth_header(&self, ctx: &OperationContext) -> Result<Option<HeaderValue>, CallError> {
        let Some(secret) = ctx.capabilities().get(&self.credential) else {
            return Ok(None);
        };
        let text = match &self.auth {
            Some(HttpAuthScheme::Bearer) => format!("Bearer {}", secret.expose_secret()),
            Some(HttpAuthScheme::Basic) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(secret.expose_secret())
            ),
            _ => return Ok(None),
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| CallError::internal("the credential is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    fn url(
        &self,
        path_values: &[(&str, String)],
        query: &[(String, String)],
        ctx: &OperationContext,
    ) -> Result<Url, CallError> {
        let mut path = self.base.path().trim_end_matches('/').to_owned();
        for segment in &self.template {
            match segment {
                Segment::Literal(text) => {
                    path.extend(utf8_percent_encode(text, PATH_LITERAL));
                }
                Segment::Param(name) => {
                    let Some((_, value)) = path_values.iter().find(|(n, _)| n == name) else {
                        return Err(CallError::invalid_input(format!(
                            "path parameter `{name}` is required"
                        )));
                    };
                    if value.is_empty() || value == "." || value == ".." {
                        return Err(CallError::invalid_input(format!(
                            "path parameter `{name}` must not be empty, `.` or `..`"
                        )));
                    }
                    path.extend(utf8_percent_encode(value, PATH_VALUE));
                }
            }
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
            if let Some(HttpAuthScheme::ApiKeyQuery { param_name }) = &self.auth
                && let Some(secret) = ctx.capabilities().get(&self.credential)
            {
                pairs.append_pair(param_name, secret.expose_secret());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        // Defence in depth: whatever the input, the request stays under base_url.
        let base_path = self.base.path().trim_end_matches('/');
        if url.origin() != self.base.origin() || !url.path().starts_with(base_path) {
            return Err(CallError::invalid_input(
                "the input would send the request outside the configured base_url",
            ));
        }
        Ok(url)
    }

    async fn call(self: Arc<Self>, input: Value, ctx: OperationContext) -> HandlerResult {
        let request = self.request(&input, &ctx, false)?;
        let started = std::time::Instant::now();
        let result = self.exchange(request).await;
        if let Some(metrics) = ctx.metrics() {
            let error = result.as_ref().err().map(|e| e.code.as_str());
            metrics.upstream_request(&self.credential, started.elapsed(), error);
        }
        result
    }

    /// Sends a request and reads its answer: the decoded body, or the upstream's error.
    async fn exchange(&self, request: reqwest::Request) -> HandlerResult {
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| call_error_from_reqwest(&e))?;
        let status = response.status();
        let content_type = content_type(response.headers());
        let headers = (!status.is_success()).then(|| response.headers().clone());
        let body = read_limited(response, self.limits.max_response_bytes).await?;
        if let Some(headers) = headers {
            return Err(call_error_from_response(status, &headers, &body));
        }
        decode_body(&content_type, &body)
    }

    fn stream(
        self: Arc<Self>,
        input: Value,
        ctx: OperationContext,
    ) -> impl Stream<Item = HandlerResult> + Send + 'static {
        enum State {
            Start(Arc<Forwarder>, Value, Box<OperationContext>),
            Reading(
                BoxStream<'static, reqwest::Result<Bytes>>,
                SseDecoder,
                VecDeque<Value>,
            ),
            Done,
        }
        stream::unfold(
            State::Start(self, input, Box::new(ctx)),
            |mut state| async move {
                loop {
                    state = match state {
                        State::Done => return None,
                        State::Start(this, input, ctx) => {
                            let request = match this.request(&input, &ctx, true) {
                                Ok(r) => r,
                                Err(e) => return Some((Err(e), State::Done)),
                            };
                            let response = match this.http.send(request).await {
                                Ok(r) => r,
                                Err(e) => {
                                    return Some((Err(call_error_from_reqwest(&e)), State::Done));
                                }
                            };
                            let status = response.status();
                            if !status.is_success() {
                                let headers = response.headers().clone();
                                let error =
                                    match read_limited(response, this.limits.max_response_bytes)
                                        .await
                                    {
                                        Ok(body) => {
                                            call_error_from_response(status, &headers, &body)
                                        }
                                        Err(e) => e,
                                    };
                                return Some((Err(error), State::Done));
                            }
                            State::Reading(
                                response.bytes_stream().boxed(),
                                SseDecoder::new(this.limits.max_event_bytes),
                                VecDeque::new(),
                            )
                        }
                        State::Reading(mut body, mut decoder, mut queue) => {
                            if let Some(item) = queue.pop_front() {
                                return Some((Ok(item), State::Reading(body, decoder, queue)));
                            }
                            match body.next().await {
                                Some(Ok(chunk)) => match decoder.feed(&chunk) {
                                    Ok(items) => {
                                        queue.extend(items);
                                        State::Reading(body, decoder, queue)
                                    }
                                    Err(e) => return Some((Err(e), State::Done)),
                                },
                                Some(Err(e)) => {
                                    return Some((
                                        Err(CallError::internal(format!(
                                            "reading the upstream event stream failed: {}",
                                            call_error_from_reqwest(&e).message
                                        ))),
                                        State::Done,
                                    ));
                                }
                                // An unterminated last event is discarded, as EventSource does.
                                None => return None,
                            }
                        }
                    };
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert_eq!(template_params("/a/{b}/c.{fmt}/{d}"), ["b", "fmt", "d"]);
        assert!(template_params("/plain").is_empty());
    }
}
