//! Integration tests of alknet-http-core, one module per area of the spec's test checklist.
//! No sockets, no sleeps: paused tokio time where time matters.

mod access;
#[cfg(feature = "http-client")]
mod client;
mod composition;
mod credential;
mod discovery;
mod errors;
mod fixtures;
mod framing;
mod from_call;
mod identity;
#[cfg(feature = "jwt")]
mod jwt;
mod metrics;
mod peer_imports;
#[cfg(feature = "quic")]
mod quic;
#[cfg(feature = "quic")]
mod quic_mutual_tls;
mod registry;
mod secrets;
mod session;
mod spine;
#[cfg(feature = "typed")]
mod typed;
