//! What a [`SessionDirectory`](crate::SessionDirectory) is configured with and what it
//! answers (feature `sessions`).

use std::time::Duration;

use alknet_http_core::Identity;
use serde::{Deserialize, Serialize};

/// How a node takes part in a [`SessionDirectory`](crate::SessionDirectory).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DirectoryConfig {
    /// The cluster: nodes see the sessions of the nodes that joined under the same name (a
    /// subject token: `A-Z a-z 0-9 - _`; default `alknet`).
    pub cluster: String,
    /// How often a node says it is here (default 5 s); a node not heard from for three of
    /// these is taken for gone.
    pub announce_interval: Duration,
    /// How long a listing waits for the nodes' answers (default 1 s); the nodes that did not
    /// answer in time are named in [`Listing::unreachable`].
    pub answer_timeout: Duration,
    /// The longest a call to a session on another node may take (default 30 s); the node
    /// holding the session enforces it too.
    pub call_timeout: Duration,
    /// Nodes tracked at most (default 1024); announcements of more are ignored.
    pub max_nodes: usize,
    /// Calls from other nodes this node serves at once (default 256); past it a call fails
    /// with a retryable `UNAVAILABLE`.
    pub max_in_flight: usize,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            cluster: "alknet".to_owned(),
            announce_interval: Duration::from_secs(5),
            answer_timeout: Duration::from_secs(1),
            call_timeout: Duration::from_secs(30),
            max_nodes: 1024,
            max_in_flight: 256,
        }
    }
}

impl DirectoryConfig {
    /// The defaults, in cluster `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        DirectoryConfig {
            cluster: cluster.into(),
            ..DirectoryConfig::default()
        }
    }

    /// Sets [`DirectoryConfig::announce_interval`].
    #[must_use]
    pub fn with_announce_interval(mut self, interval: Duration) -> Self {
        self.announce_interval = interval;
        self
    }

    /// Sets [`DirectoryConfig::answer_timeout`].
    #[must_use]
    pub fn with_answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// Sets [`DirectoryConfig::call_timeout`].
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets [`DirectoryConfig::max_nodes`].
    #[must_use]
    pub fn with_max_nodes(mut self, max: usize) -> Self {
        self.max_nodes = max;
        self
    }

    /// Sets [`DirectoryConfig::max_in_flight`].
    #[must_use]
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }
}

/// A live WebSocket session on some node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSession {
    /// The node it is connected to ([`SessionDirectory::node`](crate::SessionDirectory::node) there).
    pub node: String,
    /// Its id on that node (as `Sessions` numbers them).
    pub id: u64,
    /// Who connected (resolved at upgrade; never a token).
    pub identity: Identity,
    /// The HTTP version of the upgrade (`HTTP/1.1` or `HTTP/2.0`).
    pub http_version: String,
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The sessions, this node's first, then by node and id.
    pub sessions: Vec<ClusterSession>,
    /// Nodes known to be in the cluster that did not answer in time.
    pub unreachable: Vec<String>,
    /// Whether a node had more sessions than fit in one bus message (only those that fit are
    /// listed).
    pub truncated: bool,
}
