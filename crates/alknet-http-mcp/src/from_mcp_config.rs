//! [`FromMcpConfig`]: how `from_mcp` imports — the server, the namespace, the token, which
//! tools and under which names, and who may call them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alknet_http_core::{AccessControl, Capabilities, Visibility};

/// How [`FromMcp`](crate::FromMcp) imports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FromMcpConfig {
    /// The server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    pub endpoint: String,
    /// The namespace of the imported operations: tool `t` becomes `namespace/t`.
    pub namespace: String,
    /// The capability service whose secret is sent as `Authorization: Bearer` (none: no token).
    pub token_service: Option<String>,
    /// Credentials of the imported registrations (the token among them).
    pub capabilities: Capabilities,
    /// Import only these tools (when set).
    pub tools: Option<BTreeSet<String>>,
    /// Never import these tools.
    pub exclude: BTreeSet<String>,
    /// New operation names (the segment after the namespace), by tool name.
    pub rename: BTreeMap<String, String>,
    /// How long [`FromMcp::plan`](crate::FromMcp::plan) keeps trying to reach a server that is not up yet, retrying
    /// with backoff (250 ms doubling to 5 s). Default 30 s; zero tries once.
    pub connect_retry_for: Duration,
    /// Visibility of the imported operations. Default `Internal`.
    pub visibility: Visibility,
    /// Who may call them.
    pub access_control: AccessControl,
}

impl FromMcpConfig {
    /// Sets `endpoint`: the server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets `namespace`: the namespace of the imported operations: tool `t` becomes `namespace/t`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets `token_service`: the capability service whose secret is sent as `Authorization: Bearer` (none: no token).
    #[must_use]
    pub fn with_token_service(mut self, token_service: Option<String>) -> Self {
        self.token_service = token_service;
        self
    }

    /// Sets `capabilities`: credentials of the imported registrations (the token among them).
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets `tools`: import only these tools (when set).
    #[must_use]
    pub fn with_tools(mut self, tools: Option<BTreeSet<String>>) -> Self {
        self.tools = tools;
        self
    }

    /// Sets `exclude`: never import these tools.
    #[must_use]
    pub fn with_exclude(mut self, exclude: BTreeSet<String>) -> Self {
        self.exclude = exclude;
        self
    }

    /// Sets `rename`: new operation names (after the namespace), by tool name.
    #[must_use]
    pub fn with_rename(mut self, rename: BTreeMap<String, String>) -> Self {
        self.rename = rename;
        self
    }

    /// Sets `connect_retry_for`: how long to keep trying an upstream that is not up yet.
    #[must_use]
    pub fn with_connect_retry_for(mut self, connect_retry_for: Duration) -> Self {
        self.connect_retry_for = connect_retry_for;
        self
    }
}

impl FromMcpConfig {
    /// Imports every tool of `endpoint` into `namespace`, without a token, `Internal`.
    pub fn new(endpoint: impl Into<String>, namespace: impl Into<String>) -> Self {
        FromMcpConfig {
            endpoint: endpoint.into(),
            namespace: namespace.into(),
            token_service: None,
            capabilities: Capabilities::new(),
            tools: None,
            exclude: BTreeSet::new(),
            rename: BTreeMap::new(),
            connect_retry_for: Duration::from_secs(30),
            visibility: Visibility::Internal,
            access_control: AccessControl::default(),
        }
    }

    /// Sends the secret of capability `service` as the bearer token.
    #[must_use]
    pub fn with_token(mut self, service: impl Into<String>, capabilities: Capabilities) -> Self {
        self.token_service = Some(service.into());
        self.capabilities = capabilities;
        self
    }

    /// Sets the visibility.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the access control.
    #[must_use]
    pub fn with_access_control(mut self, access_control: AccessControl) -> Self {
        self.access_control = access_control;
        self
    }
}
