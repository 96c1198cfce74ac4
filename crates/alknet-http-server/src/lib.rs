//! # alknet-http-server
//!
//! One hardened HTTP server for every alknet-http surface. [`HttpServerBuilder`] mounts the router
//! fragments surface crates export, custom routes and a decoy into one immutable router with
//! the bearer layer and limits; [`HttpServer`] serves it over plain TCP (HTTP/1.1 and h2c),
//! TLS (ALPN `h2` and `http/1.1`, never `h3`) or any byte stream handed in by the node.
//!
//! Precedence: reserved surface paths, then custom routes, then the decoy. `/healthz` answers
//! `200 ok` without any middleware. The bearer layer resolves `Authorization: Bearer` into a
//! [`ResolvedIdentity`](alknet_http_core::identity::ResolvedIdentity) request extension and never
//! rejects; endpoints decide between 401 and 403. HTTP/2 advertises
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL` so WebSockets work over h2.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`HttpServerBuilder`], [`Surface`] | assembling surfaces, custom routes, decoy, stealth and limits |
//! | [`HttpServer`] | serving TCP, TLS and handed-in streams; graceful shutdown |
//! | [`ServerLimits`] | every limit with its default |
//! | [`DecoyConfig`], [`Stealth`] | what unknown paths (or anonymous callers) see |
//! | [`auth`] | the bearer layer's resolution and the 401 helper |
//! | [`decoy`] | the decoy responses |
//! | [`protected_resource`] | OAuth protected-resource metadata (RFC 9728) and the 401 challenges naming it |
//! | `request_span` | the debug span of every request, around its response future (not its body) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tls` | yes | [`HttpServer::serve_tls`] with rustls (ring provider) |
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use alknet_http_core::{identity::AnonymousOnly, OperationRegistry};
//! use alknet_http_server::HttpServerBuilder;
//!
//! # async fn run() -> Result<(), alknet_http_server::ServerError> {
//! let registry = OperationRegistry::builder().build().unwrap();
//! let server = HttpServerBuilder::new(Arc::new(AnonymousOnly), registry).build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod auth;
mod builder;
mod config;
pub mod decoy;
pub mod protected_resource;
mod request_span;
mod serve;
mod surface;

pub use builder::HttpServerBuilder;
pub use config::{DecoyConfig, ServerLimits, Stealth};
pub use protected_resource::ProtectedResource;
pub use serve::{ALPN_PROTOCOLS, HttpServer, ServerError, bind};
pub use surface::{HEALTHZ, RouteCollision, Surface};
