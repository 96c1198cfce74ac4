//! The real `alknet-http` binary, started with temporary configurations and driven over
//! sockets by its own client subcommands.

mod cli;
#[cfg(feature = "nats")]
mod cluster;
#[cfg(feature = "nats")]
mod cluster_browser;
#[cfg(feature = "console")]
mod console;
mod federation;
mod lifecycle;
mod mcp_sdk;
#[cfg(feature = "nats")]
mod nginx;
mod oidc;
mod otlp;
mod prism;
mod prometheus;
mod typescript;
