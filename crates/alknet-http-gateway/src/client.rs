//! [`GatewayClient`]: a node's gateway called over HTTP from Rust (feature `client`), with typed
//! inputs and outputs and the node's [`CallError`]s.
//!
//! ```no_run
//! use alknet_http_gateway::client::GatewayClient;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize)]
//! struct Greet<'a> { name: &'a str }
//! #[derive(Deserialize)]
//! struct Greeting { greeting: String }
//!
//! # async fn demo() -> Result<(), alknet_http_core::CallError> {
//! let node = GatewayClient::new("http://127.0.0.1:8080")?.with_token("alk_…");
//! let hello: Greeting = node.call("demo/greet", &Greet { name: "ada" }).await?;
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use alknet_http_core::client::{install_crypto_provider, reqwest};
use alknet_http_core::error::call_error_from_http;
use alknet_http_core::spec::{OperationSpec, OperationSummary};
use alknet_http_core::{CallError, ErrorCode};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sse_stream::SseStream;

/// Limits of a [`GatewayClient`], with documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayClientConfig {
    /// How long a `/call` may take, response included. Default 60 s.
    pub call_timeout: Duration,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
    /// The largest `/call` response body read. Default 16 MiB.
    pub max_response_bytes: usize,
    /// The largest single event of a `/subscribe` stream. Default 1 MiB.
    pub max_event_bytes: usize,
}

impl Default for GatewayClientConfig {
    fn default() -> Self {
        GatewayClientConfig {
            call_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
        }
    }
}

impl GatewayClientConfig {
    /// Sets `call_timeout`: how long a `/call` may take. Default 60 s.
    #[must_use]
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Sets `connect_timeout`: how long connecting may take. Default 10 s.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets `max_response_bytes`: the largest `/call` response body read. Default 16 MiB.
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Sets `max_event_bytes`: the largest single event of a `/subscribe` stream. Default
    /// 1 MiB.
    #[must_use]
    pub fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }
}

/// A node's gateway over HTTP: `POST /call` and `POST /subscribe` with typed inputs and
/// outputs. Every failure is a [`CallError`]: the node's own (with its code and details), or,
/// for what never reached an answer, `UNAVAILABLE` (the node cannot be reached), `TIMEOUT` or
/// `INTERNAL` (an answer that is not what the gateway sends, or an output that does not decode
/// into the asked type). Cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: Arc<str>,
    token: Option<Arc<str>>,
    config: GatewayClientConfig,
}

impl GatewayClient {
    /// A client of the node at `base_url` (`http://host:port`, or `https://…`) with the
    /// default limits.
    pub fn new(base_url: &str) -> Result<Self, CallError> {
        GatewayClient::with_config(base_url, GatewayClientConfig::default())
    }

    /// A client with its own limits.
    pub fn with_config(base_url: &str, config: GatewayClientConfig) -> Result<Self, CallError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .no_proxy()
            .build()
            .map_err(|e| CallError::internal(format!("the HTTP client cannot start: {e}")))?;
        Ok(GatewayClient::with_http_client(http, base_url, config))
    }

    /// A client over an HTTP client the caller configured (CA roots, proxies, pools).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        config: GatewayClientConfig,
    ) -> Self {
        GatewayClient {
            http,
            base: base_url.trim_end_matches('/').into(),
            token: None,
            config,
        }
    }

    /// Sends `token` as the bearer credential of every request.
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Calls a Query or Mutation and decodes its output into `O` (`serde_json::Value` takes
    /// any output).
    pub async fn call<O: DeserializeOwned>(
        &self,
        operation: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<O, CallError> {
        let response = self
            .post("/call", operation, input)?
            .timeout(self.config.call_timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.answer(response, operation).await
    }

    /// `GET /search`: the operations the caller may call, sorted by name; only those of
    /// `namespace`, and only those whose name or description contains `text`, when given.
    pub async fn search(
        &self,
        namespace: Option<&str>,
        text: Option<&str>,
    ) -> Result<Vec<OperationSummary>, CallError> {
        #[derive(serde::Deserialize)]
        struct Found {
            operations: Vec<OperationSummary>,
        }
        let query: Vec<(&str, &str)> = [("namespace", namespace), ("q", text)]
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key, v)))
            .collect();
        let found: Found = self.get("/search", &query, "/search").await?;
        Ok(found.operations)
    }

    /// `GET /schema`: the full spec of `operation`.
    pub async fn schema(&self, operation: &str) -> Result<OperationSpec, CallError> {
        self.get("/schema", &[("operation", operation)], operation)
            .await
    }

    async fn get<O: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<O, CallError> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), query)
            .map_err(|e| CallError::invalid_input(format!("{}{path}: {e}", self.base)))?;
        let request = self.http.get(url).timeout(self.config.call_timeout);
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        self.answer(response, what).await
    }

    /// A whole answer: its body decoded into `O`, or the node's error.
    async fn answer<O: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<O, CallError> {
        let status = response.status();
        let body = self.read_body(response).await?;
        if !status.is_success() {
            return Err(answered_error(status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| undecodable(what, &e))
    }

    /// Subscribes to a Subscription: its items decoded into `T`, in order. The stream ends
    /// after the last item, or with one `Err` (the node's error, a cut stream, an item that
    /// does not decode).
    pub async fn subscribe<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<Items<T>, CallError> {
        let response = self
            .post("/subscribe", operation, input)?
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            let body = self.read_body(response).await?;
            return Err(answered_error(status.as_u16(), &body));
        }
        let bytes = BoundedEvents {
            inner: response.bytes_stream().boxed(),
            since_blank_line: 0,
            after_newline: false,
            max: self.config.max_event_bytes,
        };
        let operation: Arc<str> = operation.into();
        let events = SseStream::from_bytes_stream(bytes);
        let items = futures::stream::unfold(Some(Box::pin(events)), move |events| {
            let operation = operation.clone();
            async move {
                let mut events = events?;
                loop {
                    let event = match events.next().await {
                        None => {
                            let cut = CallError::protocol(
                                ErrorCode::Unavailable,
                                "the stream ended without `completed`",
                            );
                            return Some((Err(cut), None));
                        }
                        Some(Err(e)) => {
                            let error = CallError::internal(format!("the event stream broke: {e}"));
                            return Some((Err(error), None));
                        }
                        Some(Ok(event)) => event,
                    };
                    let Some(data) = event.data else { continue };
                    match event.event.as_deref() {
                        Some("completed") => return None,
                        Some("error") => {
                            let error = serde_json::from_str::<CallError>(&data)
                                .unwrap_or_else(|_| CallError::internal(data));
                            return Some((Err(error), None));
                        }
                        _ => {
                            let item = serde_json::from_str::<T>(&data)
                                .map_err(|e| undecodable(&operation, &e));
                            let next = item.is_ok().then_some(events);
                            return Some((item, next));
                        }
                    }
                }
            }
        });
        Ok(Items {
            inner: items.boxed(),
        })
    }

    fn post(
        &self,
        path: &str,
        operation: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<reqwest::RequestBuilder, CallError> {
        let input = serde_json::to_value(input).map_err(|e| {
            CallError::invalid_input(format!(
                "the input of {operation} could not be serialized: {e}"
            ))
        })?;
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&json!({ "operation": operation, "input": input }));
        Ok(match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    }

    /// The body, up to `max_response_bytes`.
    async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, CallError> {
        let max = self.config.max_response_bytes;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large(max));
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            if body.len() + chunk.len() > max {
                return Err(too_large(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// A request that got no answer: `TIMEOUT` past the deadline, else `UNAVAILABLE`. The URL
    /// is named without its query; the token is never in it.
    fn unreachable(&self, error: &reqwest::Error) -> CallError {
        if error.is_timeout() {
            return CallError::timeout(format!("{} did not answer in time", self.base));
        }
        let cause = std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| "the request failed".to_owned());
        CallError::protocol(
            ErrorCode::Unavailable,
            format!("{} cannot be reached: {cause}", self.base),
        )
    }
}

/// The items of a subscription through [`GatewayClient::subscribe`], decoded, in order. Ends
/// after the last item, or with one `Err`. Dropping it closes the stream (the node drops the
/// subscription's handler).
pub struct Items<T> {
    inner: futures::stream::BoxStream<'static, Result<T, CallError>>,
}

impl<T> std::fmt::Debug for Items<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items").finish_non_exhaustive()
    }
}

impl<T> Stream for Items<T> {
    type Item = Result<T, CallError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The node's error as it answered it: its `CallError` body, or one made from the status.
fn answered_error(status: u16, body: &[u8]) -> CallError {
    serde_json::from_slice::<CallError>(body).unwrap_or_else(|_| call_error_from_http(status, body))
}

fn undecodable(operation: &str, error: &serde_json::Error) -> CallError {
    CallError::internal(format!(
        "the output of {operation} does not decode into the asked type: {error}"
    ))
}

fn too_large(max: usize) -> CallError {
    CallError::internal(format!(
        "the answer exceeds max_response_bytes ({max} bytes)"
    ))
    .with_details(json!({ "max": max }))
}

/// The body of an event stream, failing once more than `max` bytes arrive without a blank line
/// (the end of an event): an endless line or event would otherwise grow the parser's buffer
/// without bound. Line ends are LF or CRLF, as the gateway writes them.
struct BoundedEvents {
    inner: futures::stream::BoxStream<'static, Result<Bytes, reqwest::Error>>,
    since_blank_line: usize,
    after_newline: bool,
    max: usize,
}

impl BoundedEvents {
    /// Counts `chunk` into the current event; `false` once it is over the limit.
    fn admit(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            match byte {
                b'\n' if self.after_newline => self.since_blank_line = 0,
                b'\n' => self.after_newline = true,
                b'\r' => {}
                _ => self.after_newline = false,
            }
            self.since_blank_line += 1;
            if self.since_blank_line > self.max {
                return false;
            }
        }
        true
    }
}

/// Why an event stream was cut by the client.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("an event exceeds max_event_bytes ({0} bytes)")]
    EventTooLarge(usize),
}

impl Stream for BoundedEvents {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                if !self.admit(&chunk) {
                    return Poll::Ready(Some(Err(StreamError::EventTooLarge(self.max))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
