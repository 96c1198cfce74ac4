//! [`FromJsonSchema`]: one operation declared by hand and forwarded to a REST endpoint.

use std::fmt;
use std::sync::Arc;

use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::client::reqwest::Method;
use alknet_http_core::{
    AdapterError, Capabilities, HandlerRegistration, OperationAdapter, OperationSpec, Provenance,
    Visibility,
};
use futures::future::BoxFuture;

use super::HttpServiceConfig;
use super::forward::Forwarder;
use super::request_body::RequestBody;

/// `from_jsonschema` (http-surfaces §9): one operation declared by the caller's
/// [`OperationSpec`], forwarded over HTTP with the same rules as [`FromOpenApi`](super::FromOpenApi): fields named
/// in `path_template` fill the path, `body` is the JSON body, every other field is a query
/// parameter; a `Subscription` reads `text/event-stream`.
///
/// ```no_run
/// use std::sync::Arc;
/// use alknet_http_core::client::{HttpClientConfig, SharedHttpClient, reqwest::Method};
/// use alknet_http_core::OperationSpec;
/// use alknet_http_openapi::import::{FromJsonSchema, HttpServiceConfig};
/// use serde_json::json;
///
/// let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
/// let spec = OperationSpec::query("weather/forecast")
///     .with_input_schema(json!({"type": "object", "properties": {"city": {"type": "string"}}}));
/// let config = HttpServiceConfig::new("weather", "https://api.example.com");
/// let registration = FromJsonSchema::new(spec, config, "/forecast/{city}", Method::GET, http)
///     .registration()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct FromJsonSchema {
    spec: OperationSpec,
    config: HttpServiceConfig,
    path_template: String,
    method: Method,
    http: Arc<SharedHttpClient>,
    capabilities: Capabilities,
    visibility: Visibility,
}

impl fmt::Debug for FromJsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromJsonSchema")
            .field("name", &self.spec.name)
            .field("method", &self.method)
            .field("path_template", &self.path_template)
            .finish_non_exhaustive()
    }
}

impl FromJsonSchema {
    /// One operation `spec` forwarded as `method path_template` to `config.base_url`.
    pub fn new(
        spec: OperationSpec,
        config: HttpServiceConfig,
        path_template: impl Into<String>,
        method: Method,
        http: Arc<SharedHttpClient>,
    ) -> Self {
        FromJsonSchema {
            spec,
            config,
            path_template: path_template.into(),
            method,
            http,
            capabilities: Capabilities::new(),
            visibility: Visibility::Internal,
        }
    }

    /// Sets the visibility. Default `Internal`, as for every import (call-protocol §13): the
    /// operation is reachable by composition only until it is made `External`. The spec's own
    /// visibility is not consulted.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the credentials of the registration.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The registration (provenance `FromJsonSchema`, `Internal` unless
    /// [`FromJsonSchema::with_visibility`] says otherwise).
    pub fn registration(&self) -> Result<HandlerRegistration, AdapterError> {
        let upstream = self.config.upstream(self.http.clone())?;
        if !self.path_template.starts_with('/') {
            return Err(AdapterError::InvalidConfig(format!(
                "path template `{}` must start with `/`",
                self.path_template
            )));
        }
        let streaming = self.spec.op_type.is_streaming();
        let forwarder = Arc::new(Forwarder::new(
            &upstream,
            self.method.clone(),
            &self.path_template,
            None,
            RequestBody::json(),
        ));
        Ok(HandlerRegistration::leaf(
            self.spec.clone().with_visibility(self.visibility),
            forwarder.handler(streaming),
            Provenance::FromJsonSchema,
        )
        .with_capabilities(self.capabilities.clone()))
    }
}

impl OperationAdapter for FromJsonSchema {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        Box::pin(async move { Ok(vec![self.registration()?]) })
    }
}
