//! # alknet-http
//!
//! Define an operation once — a named query, mutation or subscription with JSON Schemas for
//! input, output and errors, guarded by per-caller access control — and serve it on every
//! enabled surface. This facade re-exports the member crates behind cargo features and wires
//! them into a [`Node`]; the `alknet-http` command runs one.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`core`] | the call protocol: registry, identity, access control, errors, sessions (`alknet-http-core`) |
//! | [`server`] | listeners, bearer auth, `/healthz`, decoy, limits (`alknet-http-server`) |
//! | [`gateway`] | `/search`, `/schema`, `/call`, `/batch`, `/subscribe` (`alknet-http-gateway`) |
//! | [`openapi`] | `to_openapi`, `/openapi.json`, and `from_openapi`/`from_jsonschema` imports (`alknet-http-openapi`) |
//! | [`ws`] | the WebSocket call session at `/alknet/call` (`alknet-http-ws`) |
//! | [`mcp`] | `/mcp` (`to_mcp`) and `from_mcp` imports (`alknet-http-mcp`) |
//! | [`Node`], [`NodeBuilder`], [`Listener`] | one process serving a registry on its listeners |
//! | [`demo`] | the demo operations of the embedded default node |
//! | `demo_pages` | `demo/ask`: hub-side code calling the caller's own pages (feature `ws`) |
//! | [`config`] | the TOML node configuration (feature `cli`) |
//! | [`imports`] | `[[import.openapi]]`: REST APIs imported at startup (feature `cli`) |
//! | [`console`] | the console's page and embedded assets at `/alknet/console` (feature `console`) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | yes | the HTTP server (`alknet-http-server`) |
//! | `gateway` | yes | the HTTP gateway (`alknet-http-gateway`); implies `server` |
//! | `ws` | yes | the WebSocket call session (`alknet-http-ws`); implies `server` |
//! | `openapi` | yes | `/openapi.json` and the REST importers (`alknet-http-openapi`); implies `gateway` |
//! | `mcp` | yes | `/mcp` and `from_mcp` (`alknet-http-mcp`); implies `server` |
//! | `tls` | yes | HTTPS listeners (rustls with ring, ALPN `h2`/`http/1.1`) |
//! | `quic` | yes | the native `alknet/call` transport over QUIC, and federation |
//! | `cli` | yes | the `alknet-http` command and the TOML configuration |
//! | [`console`] | yes | the console at `/alknet/console`: explore and call operations as the signed-in caller; implies `ws` |
//! | [`nats`] | no | scale-out on a NATS bus: `to_nats`, `from_nats`, `[nats]` in the configuration (`alknet-http-nats`) |
//! | `full` | no | all of the above |
//!
//! ## Example
//!
//! ```no_run
//! use alknet_http::{demo, Listener, Node};
//! use alknet_http::core::OperationRegistry;
//!
//! # async fn run() -> Result<(), alknet_http::NodeError> {
//! let registry = demo::register(OperationRegistry::builder()).build().unwrap();
//! let node = Node::builder()
//!     .registry(registry)
//!     .listen(Listener::Http("127.0.0.1:8080".parse().unwrap()))
//!     .build()?;
//! let running = node.start().await?;
//! running.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub use alknet_http_core as core;
#[cfg(feature = "gateway")]
#[cfg_attr(docsrs, doc(cfg(feature = "gateway")))]
pub use alknet_http_gateway as gateway;
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub use alknet_http_mcp as mcp;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use alknet_http_nats as nats;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub use alknet_http_openapi as openapi;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use alknet_http_server as server;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use alknet_http_ws as ws;

#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod command;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod config;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
mod config_error;
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
#[cfg(feature = "cli")]
mod credentials;
pub mod demo;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod demo_pages;
#[cfg(feature = "quic")]
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
pub mod federation;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod imports;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod issuer_config;
mod listener;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod mcp_config;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod metrics_endpoint;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod nats_config;
#[cfg(all(feature = "cli", feature = "nats"))]
mod nats_node;
mod node;
mod node_builder;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod peer_config;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod rate_limit_config;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod telemetry;
#[cfg(feature = "cli")]
mod telemetry_config;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod token_config;

pub use node::{BoundListener, Listener, Node, NodeBuilder, NodeError, RunningNode};

/// The workspace README's Rust examples ("Define an operation"), compiled and run as doc tests.
#[cfg(all(doctest, feature = "server"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
