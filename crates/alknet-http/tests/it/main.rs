//! The real `alknet-http` binary, started with temporary configurations and driven over
//! sockets by its own client subcommands.

mod cli;
#[cfg(feature = "nats")]
mod cluster;
mod federation;
mod lifecycle;
mod mcp_sdk;
mod oidc;
mod otlp;
mod prism;
mod prometheus;
mod typescript;
