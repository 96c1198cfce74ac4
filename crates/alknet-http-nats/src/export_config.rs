//! What a worker serves on the bus, and as whom ([`NatsExport`]), and which operations a list
//! of names selects.

use std::time::Duration;

use alknet_http_core::Identity;

use crate::error::NatsError;
use crate::subject::is_token;

/// Metadata keys of each endpoint in the service's `INFO`: the operation's name and its spec
/// (the JSON of `OperationSpec`, as `/schema` gives it).
pub const OPERATION_KEY: &str = "alknet.operation";
/// See [`OPERATION_KEY`].
pub const SPEC_KEY: &str = "alknet.spec";

/// What a node serves on the bus, and as whom.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsExport {
    /// The service name (`A-Z a-z 0-9 - _`): gateways import by it. Default `alknet`.
    pub service: String,
    /// The service version (SemVer). Default this crate's version.
    pub version: String,
    /// The subject prefix, one or more tokens (`alknet` → `alknet.demo.echo`). Default
    /// `alknet`.
    pub prefix: String,
    /// The queue group every endpoint is in: nodes in the same group share calls. Default
    /// `alknet`.
    pub queue_group: String,
    /// The operations served: names, or `namespace/*`; empty serves every `External` one.
    pub operations: Vec<String>,
    /// Whom calls from the bus run as: the bus account is the trust boundary, so whoever can
    /// publish on the subjects acts with these scopes.
    pub identity: Identity,
    /// Calls running at once at most; beyond it a call is answered `UNAVAILABLE` (retryable)
    /// so that the gateway may try another node. Default 1024.
    pub max_in_flight: usize,
    /// How often a running call tells its gateway it is still alive. Default 1 s.
    pub heartbeat: Duration,
}

impl NatsExport {
    /// Serve every `External` operation as `identity`, with the defaults.
    pub fn new(identity: Identity) -> Self {
        NatsExport {
            service: "alknet".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            prefix: "alknet".into(),
            queue_group: "alknet".into(),
            operations: Vec::new(),
            identity,
            max_in_flight: 1024,
            heartbeat: Duration::from_secs(1),
        }
    }

    /// Sets the service name.
    #[must_use]
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Sets the subject prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the queue group.
    #[must_use]
    pub fn with_queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = group.into();
        self
    }

    /// Serves only these operations (names, or `namespace/*`).
    #[must_use]
    pub fn with_operations<I, S>(mut self, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations = operations.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the most calls running at once.
    #[must_use]
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Sets the heartbeat of running calls.
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(10));
        self
    }

    pub(crate) fn check(&self) -> Result<(), NatsError> {
        if !is_token(&self.service) {
            return Err(NatsError::Config(format!(
                "service name `{}`: only A-Z a-z 0-9 - _",
                self.service
            )));
        }
        if !is_token(&self.queue_group) {
            return Err(NatsError::Config(format!(
                "queue group `{}`: only A-Z a-z 0-9 - _",
                self.queue_group
            )));
        }
        if !self.prefix.split('.').all(is_token) {
            return Err(NatsError::Config(format!(
                "subject prefix `{}`: dot-separated tokens of A-Z a-z 0-9 - _",
                self.prefix
            )));
        }
        Ok(())
    }
}

/// Whether `name` is selected by `patterns` (names, or `namespace/*`); none selects all.
pub(crate) fn selected(patterns: &[String], name: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix("/*") {
            Some(namespace) => name
                .strip_prefix(namespace)
                .is_some_and(|rest| rest.starts_with('/')),
            None => p.trim_start_matches('/') == name,
        })
}
