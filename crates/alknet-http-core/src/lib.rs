//! # alknet-http-core
//!
//! The call-protocol core of alknet-http. Define an operation once — name, type, JSON Schemas,
//! access control, handler — register it, and every surface (HTTP gateway, SSE, WebSocket, MCP,
//! QUIC) dispatches it with the same identity rules, errors and cancellation. This crate opens
//! no sockets: the registry, access control, composition and errors run and test in memory.
//!
//! ## Module map
//!
//! | module | holds |
//! |---|---|
//! | [`envelope`] | [`EventEnvelope`], event type names, payloads, [`ResponseEnvelope`] |
//! | [`frame`] | length-prefixed codec for byte streams, per-message codec, size limits |
//! | [`error`] | [`CallError`], [`ErrorCode`], HTTP status mapping both ways |
//! | [`identity`] | [`Identity`], [`AuthToken`], [`IdentityProvider`], [`StaticTokenProvider`], token minting |
//! | [`spec`] | [`OperationSpec`], [`OperationType`], [`Visibility`], [`ErrorDefinition`], [`Provenance`] |
//! | `shared_defs` | [`SharedDefs`]: schema definitions many operations share (one large import's), attached when a self-contained schema is asked for |
//! | [`access`] | [`AccessControl`] and its check, ownership providers and stores |
//! | [`capability`] | [`Capabilities`]: a registration's outbound credentials |
//! | [`context`] | [`OperationContext`], [`AbortPolicy`], authorities, scoped envs, [`OperationEnv`] |
//! | [`registry`] | registrations, handler kinds, the builder, layers, overlays, discovery ops |
//! | [`invoke`] | [`RootCall`] and the path every call takes: admission, handler, deadline, abort |
//! | [`rate_limit`] | [`RateLimits`](rate_limit::RateLimits): per identity and per operation limits on root calls |
//! | [`compose`] | [`PeerCompositeEnv`] and the [`PeerTable`](compose::PeerTable): composed calls across layers |
//! | [`dispatch`] | [`GatewayDispatch`], the spine every HTTP-shaped surface uses |
//! | [`session`] | the bidirectional call session over streams and messages |
//! | [`adapter`] | [`OperationAdapter`], [`AdapterError`] and `from_call` |
//! | `typed_call` | typed calls: [`OperationContext::call_typed`], [`Session::call_typed`](session::Session::call_typed), [`Session::subscribe_typed`](session::Session::subscribe_typed) |
//! | `typed` | typed operations: schemas generated from Rust types, declared errors from an enum (feature `typed`) |
//! | `quic` | the QUIC transport (feature `quic`) |
//! | `client` | the shared outbound HTTP client (feature `http-client`) |
//! | `jwt` | JWT bearer tokens of OpenID Connect / OAuth issuers (feature `jwt`) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `typed` | yes | `typed`: operations whose input, output and errors are Rust types (schemars) |
//! | `http-client` | no | `client`: the shared outbound HTTP client (reqwest, rustls with ring) |
//! | `axum` | no | the [`ResolvedIdentity`](identity::ResolvedIdentity) extractor for axum handlers |
//! | `tls` | no | `tls`: server certificates (PEM or self-signed) and rustls configurations (ring) |
//! | `quic` | no | [`quic`]: the `alknet/call` ALPN over QUIC (quinn, rustls with ring, rcgen) |
//! | `jwt` | no | `jwt`: JWT access tokens checked against their issuers' published keys (jsonwebtoken) |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use alknet_http_core::*;
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let registry = OperationRegistry::builder()
//!     .with_leaf(
//!         OperationSpec::query("math/double")
//!             .with_input_schema(json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}))
//!             .with_access_control(AccessControl::scopes(["math"])),
//!         HandlerKind::once(|input, _ctx| async move { Ok(json!(input["n"].as_i64().unwrap_or(0) * 2)) }),
//!         Capabilities::new(),
//!     )
//!     .build()
//!     .unwrap();
//! let dispatch = GatewayDispatch::new(registry, Arc::new(identity::AnonymousOnly));
//! let alice = Arc::new(Identity::new("alice").with_scopes(["math"]));
//!
//! let ok = dispatch.invoke(Some(alice.clone()), "/math/double", json!({"n": 21})).await;
//! assert_eq!(ok.result.unwrap(), json!(42));
//!
//! let denied = dispatch.invoke(None, "math/double", json!({"n": 1})).await;
//! assert_eq!(denied.result.unwrap_err().code, "FORBIDDEN");
//!
//! let invalid = dispatch.invoke(Some(alice), "math/double", json!({"n": "x"})).await;
//! assert_eq!(invalid.result.unwrap_err().code, "INVALID_INPUT");
//! # });
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod access;
pub mod adapter;
pub mod capability;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub mod client;
pub mod compose;
pub mod context;
pub mod credential;
pub mod dispatch;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod identity;
pub mod invoke;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
pub mod meta;
pub mod metrics;
mod metrics_process;
mod observe;
pub mod progress;
pub use observe::ACCESS_LOG;
#[cfg(feature = "quic")]
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
pub mod quic;
pub mod rate_limit;
pub mod registry;
pub mod session;
mod shared_defs;
pub mod spec;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod trace;
#[cfg(feature = "typed")]
#[cfg_attr(docsrs, doc(cfg(feature = "typed")))]
pub mod typed;
mod typed_call;

pub use access::{
    AccessControl, AccessDecision, InMemoryOwnership, OwnershipProvider, OwnershipStore,
};
pub use adapter::{AdapterError, OperationAdapter};
pub use capability::Capabilities;
pub use compose::PeerCompositeEnv;
pub use context::{
    AbortPolicy, CompositionAuthority, OperationContext, OperationEnv, PeerRef, ScopedPeerEnv,
};
pub use dispatch::{CallFailure, CallOptions, GatewayDispatch};
pub use envelope::{CallRequested, Event, EventEnvelope, ResponseEnvelope};
pub use error::{CallError, ErrorCode};
pub use identity::{AuthToken, Identity, IdentityProvider, StaticTokenProvider};
pub use invoke::{ResponseStream, RootCall};
pub use registry::{
    Handler, HandlerKind, HandlerRegistration, HandlerResult, OperationLayer, OperationOverlay,
    OperationRegistry, RegistryBuilder, RegistryError, StreamingHandler,
};
pub use shared_defs::SharedDefs;
pub use spec::{ErrorDefinition, OperationSpec, OperationType, Provenance, Visibility};
