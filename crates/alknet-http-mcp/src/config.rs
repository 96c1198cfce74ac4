//! [`McpConfig`]: the MCP surface's settings, each with a default, and [`ToolMode`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The path `to_mcp` is served at unless configured otherwise.
pub const DEFAULT_PATH: &str = "/mcp";

/// Configuration of the MCP surface, each field with a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpConfig {
    /// The endpoint. Default `/mcp`.
    pub path: String,
    /// Accepted `Host` values (`host` or `host:port`), a guard against DNS rebinding. Default:
    /// loopback names only (`localhost`, `127.0.0.1`, `::1`); a public node lists its names.
    /// Empty: any host.
    pub allowed_hosts: Vec<String>,
    /// Whether requests without a valid bearer token may use MCP (they then see only operations
    /// open to anonymous callers). Default `false`: 401 with `WWW-Authenticate: Bearer`.
    pub allow_anonymous: bool,
    /// Largest JSON-RPC request body, in bytes. Default 4 MiB.
    pub max_request_body_bytes: usize,
    /// Most calls in one `batch` tool call. Default 100.
    pub max_batch_len: usize,
    /// Calls of one `batch` tool call running at once. Default 8.
    pub batch_concurrency: usize,
    /// Keep-alive interval of the SSE response streams. Default 15 s.
    pub sse_keep_alive: Duration,
    /// A session idle this long is closed; its id then answers 404 and clients re-initialise.
    /// Default 5 min.
    pub session_idle_timeout: Duration,
    /// Which tools `tools/list` offers. Default [`ToolMode::Auto`] with 40 tools.
    pub tools: ToolMode,
    /// Most items a subscription's tool call streams and returns before it ends the
    /// subscription. Default 100.
    pub subscription_max_items: usize,
    /// Longest a subscription's tool call streams before it ends the subscription and returns
    /// what it collected. Default 30 s.
    pub subscription_max_duration: Duration,
    /// Cancel to end every MCP session (server shutdown).
    pub shutdown: CancellationToken,
}

/// Which tools `tools/list` offers a caller. Whatever the mode, both the four gateway tools
/// and every operation's own tool may be called: a list that changes between a client's
/// `tools/list` and its `tools/call` does not break the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolMode {
    /// Four tools — `search`, `schema`, `call`, `batch` — however many operations there are.
    Gateway,
    /// One tool per operation the caller may call (see [`direct_tool_name`](crate::direct_tool_name)).
    Direct,
    /// [`ToolMode::Direct`] while the caller may call at most `max_tools` operations,
    /// [`ToolMode::Gateway`] beyond.
    Auto {
        /// The most operations listed one tool each.
        max_tools: usize,
    },
}

impl Default for ToolMode {
    fn default() -> Self {
        ToolMode::Auto { max_tools: 40 }
    }
}

impl McpConfig {
    /// Sets `path`: the endpoint. Default `/mcp`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `allowed_hosts`: accepted `Host` values (`host` or `host:port`); empty accepts any.
    #[must_use]
    pub fn with_allowed_hosts(mut self, allowed_hosts: Vec<String>) -> Self {
        self.allowed_hosts = allowed_hosts;
        self
    }

    /// Sets `allow_anonymous`: whether requests without a valid bearer token may use MCP.
    #[must_use]
    pub fn with_allow_anonymous(mut self, allow_anonymous: bool) -> Self {
        self.allow_anonymous = allow_anonymous;
        self
    }

    /// Sets `max_request_body_bytes`: largest JSON-RPC request body, in bytes. Default 4 MiB.
    #[must_use]
    pub fn with_max_request_body_bytes(mut self, max_request_body_bytes: usize) -> Self {
        self.max_request_body_bytes = max_request_body_bytes;
        self
    }

    /// Sets `max_batch_len`: most calls in one `batch` tool call. Default 100.
    #[must_use]
    pub fn with_max_batch_len(mut self, max_batch_len: usize) -> Self {
        self.max_batch_len = max_batch_len;
        self
    }

    /// Sets `batch_concurrency`: calls of one `batch` tool call running at once. Default 8.
    #[must_use]
    pub fn with_batch_concurrency(mut self, batch_concurrency: usize) -> Self {
        self.batch_concurrency = batch_concurrency;
        self
    }

    /// Sets `sse_keep_alive`: keep-alive interval of the SSE response streams. Default 15 s.
    #[must_use]
    pub fn with_sse_keep_alive(mut self, sse_keep_alive: Duration) -> Self {
        self.sse_keep_alive = sse_keep_alive;
        self
    }

    /// Sets `session_idle_timeout`: how long an idle legacy session lives.
    #[must_use]
    pub fn with_session_idle_timeout(mut self, session_idle_timeout: Duration) -> Self {
        self.session_idle_timeout = session_idle_timeout;
        self
    }

    /// Sets `tools`: which tools `tools/list` offers.
    #[must_use]
    pub fn with_tools(mut self, tools: ToolMode) -> Self {
        self.tools = tools;
        self
    }

    /// Sets `subscription_max_items`: most items one subscription tool call streams.
    #[must_use]
    pub fn with_subscription_max_items(mut self, max_items: usize) -> Self {
        self.subscription_max_items = max_items;
        self
    }

    /// Sets `subscription_max_duration`: longest one subscription tool call streams.
    #[must_use]
    pub fn with_subscription_max_duration(mut self, max_duration: Duration) -> Self {
        self.subscription_max_duration = max_duration;
        self
    }

    /// Sets `shutdown`: cancel to end every MCP session (server shutdown).
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            path: DEFAULT_PATH.to_owned(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allow_anonymous: false,
            max_request_body_bytes: 4 << 20,
            max_batch_len: 100,
            batch_concurrency: 8,
            sse_keep_alive: Duration::from_secs(15),
            session_idle_timeout: Duration::from_secs(300),
            tools: ToolMode::default(),
            subscription_max_items: 100,
            subscription_max_duration: Duration::from_secs(30),
            shutdown: CancellationToken::new(),
        }
    }
}

impl McpConfig {
    /// The paths the MCP surface reserves (its endpoint).
    pub fn paths(&self) -> Vec<String> {
        vec![self.path.clone()]
    }
}
