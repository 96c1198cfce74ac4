//! The adapter contract (call-protocol §13): importers turn a foreign API into leaf
//! registrations.

use futures::future::BoxFuture;

use crate::registry::HandlerRegistration;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The source could not be reached or listed.
    #[error("discovery failed: {0}")]
    DiscoveryFailed(String),
    /// A document or schema could not be parsed.
    #[error("schema parse error: {0}")]
    SchemaParse(String),
    /// The transport failed mid-import.
    #[error("transport error: {0}")]
    Transport(String),
    /// The source refused our credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The source uses something this importer does not support (for example a Swagger 2.0
    /// document).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The importer's configuration is wrong (for example a rename of an unknown operation).
    #[error("invalid import configuration: {0}")]
    InvalidConfig(String),
    /// Two imported operations would get the same name.
    #[error("name collision: `{name}` from {first} and from {second}")]
    NameCollision {
        /// The name both would get.
        name: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// One peer offered the same operation name twice.
    #[error("peer `{peer}` offered operation `{name}` twice")]
    SamePeerCollision {
        /// The peer.
        peer: String,
        /// The duplicated name.
        name: String,
    },
}

/// Imports operations from elsewhere as leaf registrations (`From*` provenance, `Internal` by
/// default, no authority, no scoped env).
///
/// Startup imports join the base layer; runtime imports a connection overlay.
pub trait OperationAdapter: Send + Sync + std::fmt::Debug {
    /// Discovers the source's operations and returns one registration each.
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>>;
}

mod from_call;

pub use from_call::{FromCall, FromCallConfig};
