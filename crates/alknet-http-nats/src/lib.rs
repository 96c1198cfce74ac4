//! # alknet-http-nats
//!
//! alknet-http on a NATS bus (the `async-nats` client; any `nats-server`), so that many nodes
//! serve the same operations and gateways in front of them stay stateless:
//!
//! - [`to_nats`]: a node serves its `External` operations (or those selected) as a NATS
//!   service — one endpoint and subject per operation ([`operation_subject`]), all in one queue
//!   group, so N nodes share the calls. The service API's `PING`, `INFO` and `STATS` answer for
//!   it; `INFO` carries each operation's spec in the endpoint's metadata.
//! - [`FromNats`]: a gateway imports what a service advertises (`$SRV.INFO.<service>`, every
//!   node's answer gathered), `Internal` by default like every import, and
//!   [follows](FromNats::follow) it as nodes come and go.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`Bus`], [`NatsConnect`], [`NatsAuth`] | the connection to the bus, and how it is made |
//! | [`to_nats`], [`NatsExport`], [`NatsExporter`] | a worker: operations served on the bus |
//! | [`FromNats`], [`NatsImport`], [`Following`], [`Advertised`] | a gateway: what the bus serves, imported |
//! | `SessionDirectory`, `DirectoryConfig`, `ClusterSession`, `Listing` | (feature `sessions`) the cluster's WebSocket sessions, listed and called from any node |
//! | [`operation_subject`] | the subject an operation is served on |
//! | [`NatsError`] | what can go wrong setting either up |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | both directions are always built |
//! | `sessions` | no | `SessionDirectory`: hub-side code lists the WebSocket sessions of every node by identity and calls an operation a browser registered on another replica (`alknet-http-ws`) |
//!
//! ## A call on the bus
//!
//! The gateway publishes the input JSON to the operation's subject with a reply subject of
//! its own, `<inbox prefix>.<node>.<n>`, whose last two tokens are the call's id (unique on
//! the bus: the gateway's inbox token and a counter, never a caller's own request id, which
//! two callers may share; aborts and control messages name it), and these headers:
//! `Alknet-Deadline-Ms` (what is left of its deadline; a worker answers `TIMEOUT` without
//! running work already expired), `Alknet-Forwarded-For` (the original caller, for audit: the
//! worker runs the call as its own bus identity, the NATS account being the trust boundary)
//! and `traceparent`/`tracestate`. The worker answers a Query or Mutation with a plain reply,
//! the output JSON without headers, as any NATS service does; an item of a subscription
//! carries only its number; every other reply says what it is in `Alknet-Kind`:
//!
//! | kind | when | body |
//! |---|---|---|
//! | *(no headers)* | a Query or Mutation answered | the output JSON |
//! | `error` | the call failed | the `CallError` JSON (with `Nats-Service-Error` headers) |
//! | `beat` | every heartbeat while a call runs, or while a stream is idle; names the worker's control subject (`Alknet-Control`) | empty |
//! | *(only `Alknet-Seq`)* | an item of a subscription, numbered from 1 | the item JSON |
//! | `done` | a subscription ended | empty |
//!
//! A subscription's request carries `Alknet-Window`: the worker sends at most that many items
//! beyond the last one acknowledged; its first reply names its control subject
//! (`Alknet-Control`), where the gateway acknowledges what it read and sends the stream's
//! abort. Other aborts (the caller went away) are broadcast on `_ALKNET.<service>.abort`, and
//! the worker applies the operation's disconnect policy: a Query stops, a Mutation runs to
//! completion unless it opted in to cancellation. NATS delivers at most once, so an abort can
//! be lost (a reconnect at the wrong moment): a gateway that gets a beat for a call it no
//! longer waits for sends the abort again, to the control subject the beat names. A beat also
//! asks for a reply (`<control>.gone.<n>`) that nobody sends: when the gateway itself is gone
//! (crashed, cut off), the server answers "no responders" there instead, and the worker
//! aborts the call as if its caller went away. Either way a call or stream that nobody waits
//! for ends at the worker's next beat.
//!
//! What a gateway makes of failures:
//!
//! - the bus is not connected: `UNAVAILABLE` at once, nothing sent;
//! - no worker serves the subject (the server's no-responders status): `UNAVAILABLE`;
//! - a worker silent for three heartbeats, or the connection lost while waiting: a Query is
//!   sent once more (`query_retries`), then `UNAVAILABLE`; a Mutation is never sent twice
//!   and fails `INTERNAL` with `details.reason = "worker_lost"` (it may have run);
//! - an input or output larger than the server's `max_payload`: `INVALID_INPUT` (or
//!   `INTERNAL`) with `details.reason = "payload_too_large"`.
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use alknet_http_core::{GatewayDispatch, Identity, OperationOverlay, OperationRegistry};
//! use alknet_http_core::identity::AnonymousOnly;
//! use alknet_http_nats::{Bus, FromNats, NatsConnect, NatsExport, NatsImport, to_nats};
//!
//! # async fn run(registry: OperationRegistry) -> Result<(), alknet_http_nats::NatsError> {
//! let bus = Bus::connect(&NatsConnect::new(["nats://127.0.0.1:4222"])).await?;
//! // A worker: serves its operations as the bus identity `bus`.
//! let dispatch = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
//! let exporter = to_nats(&bus, dispatch, NatsExport::new(Identity::new("bus"))).await?;
//! // A gateway: imports them into a layer of its registry and keeps it in step.
//! let layer = Arc::new(OperationOverlay::new());
//! let following = FromNats::new(&bus, NatsImport::default()).await?.follow(layer.clone());
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
#[cfg(feature = "sessions")]
mod directory;
#[cfg(feature = "sessions")]
mod directory_node;
#[cfg(feature = "sessions")]
mod directory_types;
mod error;
mod export;
mod export_config;
mod forward;
mod import;
mod mux;
mod subject;
mod wire;

pub use connect::{Bus, NatsAuth, NatsConnect};
#[cfg(feature = "sessions")]
#[cfg_attr(docsrs, doc(cfg(feature = "sessions")))]
pub use directory::SessionDirectory;
#[cfg(feature = "sessions")]
#[cfg_attr(docsrs, doc(cfg(feature = "sessions")))]
pub use directory_types::{ClusterSession, DirectoryConfig, Listing};
pub use error::NatsError;
pub use export::{NatsExporter, to_nats};
pub use export_config::{NatsExport, OPERATION_KEY, SPEC_KEY};
pub use import::{Advertised, Following, FromNats, NatsImport};
pub use subject::{MAX_SUBJECT_LEN, operation_subject};

/// The NATS client, for callers that talk to the bus themselves.
pub use async_nats;
