//! # alknet-http-mcp
//!
//! alknet-http's MCP surface, streamable HTTP only (no stdio transport exists under any
//! feature):
//!
//! - [`router`] (`to_mcp`): an MCP server at `/mcp` over the node's dispatch, filtered per
//!   caller like `/search`, in a [`ToolMode`]: the four gateway tools (`search`, `schema`,
//!   `call`, `batch`), one tool per operation ([`direct_tool_name`]), or direct up to a number
//!   of tools. Results are `structuredContent` plus a JSON text block; operation failures are
//!   `isError` results carrying the CallError; MCP cancellation aborts the running call; a
//!   subscription streams its items as progress notifications. Stateless 2026-07-28 requests
//!   and 2025-11-25 sessions are both served.
//! - [`FromMcp`] (`from_mcp`): the tools of an MCP server as operations.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`router`], [`McpConfig`], [`ToolMode`] | `to_mcp`: the MCP server surface |
//! | [`direct_tool_name`], [`MAX_TOOL_NAME_LEN`] | how an operation's direct tool is named |
//! | [`FromMcp`], [`FromMcpConfig`], [`McpImport`] | `from_mcp`: import an MCP server's tools |
//! | [`tool_result`], [`MCP_TOOL_ERROR`] | how a tool result becomes an output or a CallError |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | both directions are always built |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use alknet_http_core::{identity::AnonymousOnly, OperationRegistry};
//! use alknet_http_core::dispatch::GatewayDispatch;
//!
//! let dispatch = GatewayDispatch::new(OperationRegistry::empty(), Arc::new(AnonymousOnly));
//! let mcp = alknet_http_mcp::router(dispatch, alknet_http_mcp::McpConfig::default());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod direct_tools;
mod edge;
mod from_mcp_config;
mod gateway_tools;
mod handler;
mod list_changed;
mod server;
mod span;
mod streamed;
mod upstream_client;

pub use client::{FromMcp, MCP_TOOL_ERROR, McpImport, content_blocks_schema, tool_result};
pub use config::{DEFAULT_PATH, McpConfig, ToolMode};
pub use direct_tools::{MAX_TOOL_NAME_LEN, direct_tool_name};
pub use from_mcp_config::FromMcpConfig;
pub use server::router;

/// The MCP implementation, for callers that build their own clients or servers.
pub use rmcp;
