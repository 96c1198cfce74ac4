//! The `[mcp]` table: the MCP surface's settings (see the `config` module's example).

use std::time::Duration;

use serde::Deserialize;

use crate::config_error::ConfigError;

/// The `[mcp]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// Accepted `Host` values (default: loopback names only); `["*"]` accepts any.
    pub allowed_hosts: Option<Vec<String>>,
    /// Let requests without a token use MCP (default false).
    pub allow_anonymous: Option<bool>,
    /// Most calls in one `batch` tool call (default 100).
    pub max_batch_len: Option<usize>,
    /// Largest JSON-RPC request body (default 4 MiB).
    pub max_request_body_bytes: Option<usize>,
    /// Which tools `tools/list` offers: `gateway` (four tools), `direct` (one per operation)
    /// or `auto` (direct up to `max_tools`, gateway beyond; the default).
    pub tools: Option<McpToolMode>,
    /// The most operations `auto` lists one tool each (default 40).
    pub max_tools: Option<usize>,
    /// Most items one subscription tool call streams (default 100).
    pub subscription_max_items: Option<usize>,
    /// Longest one subscription tool call streams, in milliseconds (default 30000).
    pub subscription_max_ms: Option<u64>,
}

/// `[mcp] tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpToolMode {
    /// The four gateway tools.
    Gateway,
    /// One tool per operation.
    Direct,
    /// Direct up to `max_tools`, gateway beyond.
    Auto,
}

impl McpSection {
    /// The MCP surface's configuration.
    pub(crate) fn resolve(self) -> Result<alknet_http_mcp::McpConfig, ConfigError> {
        let d = alknet_http_mcp::McpConfig::default();
        let tools = self.tool_mode()?;
        Ok(d.clone()
            .with_allowed_hosts(match self.allowed_hosts {
                Some(hosts) if hosts.iter().any(|h| h == "*") => Vec::new(),
                Some(hosts) => hosts,
                None => d.allowed_hosts.clone(),
            })
            .with_allow_anonymous(self.allow_anonymous.unwrap_or(d.allow_anonymous))
            .with_max_batch_len(self.max_batch_len.unwrap_or(d.max_batch_len))
            .with_max_request_body_bytes(
                self.max_request_body_bytes
                    .unwrap_or(d.max_request_body_bytes),
            )
            .with_tools(tools)
            .with_subscription_max_items(
                self.subscription_max_items
                    .unwrap_or(d.subscription_max_items),
            )
            .with_subscription_max_duration(
                self.subscription_max_ms
                    .map_or(d.subscription_max_duration, Duration::from_millis),
            ))
    }

    /// The tool mode this table asks for.
    fn tool_mode(&self) -> Result<alknet_http_mcp::ToolMode, ConfigError> {
        use alknet_http_mcp::ToolMode;
        let default_max = match ToolMode::default() {
            ToolMode::Auto { max_tools } => max_tools,
            _ => 40,
        };
        match (self.tools, self.max_tools) {
            (Some(McpToolMode::Gateway | McpToolMode::Direct), Some(_)) => Err(
                ConfigError::Invalid("[mcp] max_tools applies to tools = \"auto\" only".into()),
            ),
            (Some(McpToolMode::Gateway), None) => Ok(ToolMode::Gateway),
            (Some(McpToolMode::Direct), None) => Ok(ToolMode::Direct),
            (Some(McpToolMode::Auto) | None, max_tools) => Ok(ToolMode::Auto {
                max_tools: max_tools.unwrap_or(default_max),
            }),
        }
    }
}
