//! What can go wrong setting up `to_nats` or `from_nats` (a call's failures are `CallError`s).

/// A failure to connect, to start the service or to subscribe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The configuration cannot work (a bad service name, credentials, TLS roots).
    #[error("NATS configuration: {0}")]
    Config(String),
    /// The bus could not be reached.
    #[error("NATS connection: {0}")]
    Connect(String),
    /// The service or one of its endpoints could not be started.
    #[error("NATS service: {0}")]
    Service(String),
    /// A subscription could not be made.
    #[error("NATS subscription: {0}")]
    Subscribe(String),
}
