//! `[node]` and `[[peer]]` in the node's TOML configuration (features `cli` and `quic`): this
//! node's certificate and the peers it federates with.
//!
//! ```toml
//! [node]
//! id = "hub"                  # how peers name this node (`alknet-http peer` prints it)
//! cert = "hub.pem"            # this node's certificate: QUIC listeners present it and
//! key = "hub.key"             #   peers pin its SHA-256
//! generate = true             # development: create a self-signed pair there if missing
//! unknown_peers = "refuse"    # or "anonymous": a certificate that matches no [[peer]]
//! peer_keep_alive_ms = 1000   # liveness of the links this node dials
//! peer_idle_timeout_ms = 5000
//! redial_first_ms = 250       # backoff between dials: doubled per failure, jittered
//! redial_max_ms = 30000
//!
//! [[peer]]
//! id = "spoke-a"
//! fingerprint = "<64 hex characters: the peer's `alknet-http peer` prints it>"
//! scopes = ["demo:read"]      # what the peer may call on this node
//! dial = "10.0.0.2:9443"      # this node connects out; without it the peer dials us
//! prefix = "a"                # its `demo/greet` is `a/demo/greet` here
//! filter = ["demo/greet"]     # only these (default: everything it offers us)
//! visibility = "external"     # "internal" (default): only our handlers compose them
//! import = true               # false: import nothing from it
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use alknet_http_core::quic::QuicConfig;
use alknet_http_core::tls::ServerIdentity;
use alknet_http_core::{Identity, Visibility};
use serde::Deserialize;

use crate::config_error::{ConfigError, fail};
use crate::federation::{Federation, Peer, PeerImport, UnknownPeers};

/// The `[node]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// This node's name for its peers (default `node`).
    pub id: Option<String>,
    /// PEM certificate presented on `alknet/call`.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Generate a self-signed pair at `cert`/`key` when neither exists (default false).
    #[serde(default)]
    pub generate: bool,
    /// `refuse` (default) or `anonymous`.
    pub unknown_peers: Option<String>,
    /// Keep-alive of dialed peer links in milliseconds (default 1000).
    pub peer_keep_alive_ms: Option<u64>,
    /// Silence after which a dialed peer is lost, in milliseconds (default 5000).
    pub peer_idle_timeout_ms: Option<u64>,
    /// First redial delay in milliseconds (default 250).
    pub redial_first_ms: Option<u64>,
    /// Longest redial delay in milliseconds (default 30000).
    pub redial_max_ms: Option<u64>,
}

/// One `[[peer]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's id.
    pub id: String,
    /// The SHA-256 of its certificate, hex.
    pub fingerprint: String,
    /// What it may call here.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `host:port` to dial.
    pub dial: Option<String>,
    /// Whether to import from it (default true).
    pub import: Option<bool>,
    /// Local prefix of its operations.
    pub prefix: Option<String>,
    /// Only these of its operations.
    pub filter: Option<Vec<String>>,
    /// `internal` (default) or `external`.
    pub visibility: Option<String>,
}

impl NodeSection {
    /// This node's id.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("node")
    }

    /// The certificate, loaded (or generated when `generate` is set). `path` resolves
    /// relative paths.
    pub fn certificate(
        &self,
        path: impl Fn(&Path) -> PathBuf,
    ) -> Result<Option<ServerIdentity>, ConfigError> {
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (path(cert), path(key)),
            (None, None) => return Ok(None),
            _ => return fail("node: `cert` and `key` go together"),
        };
        let loaded = if self.generate {
            ServerIdentity::load_or_generate(&cert, &key, [self.id().to_owned()])
        } else {
            ServerIdentity::from_pem_files(&cert, &key)
        };
        loaded
            .map(Some)
            .map_err(|e| ConfigError::Invalid(format!("node: certificate: {e}")))
    }
}

/// The federation the `[node]` and `[[peer]]` tables describe; `None` without peers.
pub fn federation(
    node: &NodeSection,
    certificate: Option<ServerIdentity>,
    entries: Vec<PeerEntry>,
) -> Result<Option<Federation>, ConfigError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let Some(certificate) = certificate else {
        return fail(
            "peer: federation needs this node's certificate: set `cert` and `key` in [node]",
        );
    };
    let ms = Duration::from_millis;
    let defaults = Federation::new(certificate.clone());
    let link = QuicConfig::default()
        .with_keep_alive(node.peer_keep_alive_ms.map_or(defaults.link.keep_alive, ms))
        .with_idle_timeout(
            node.peer_idle_timeout_ms
                .map_or(defaults.link.idle_timeout, ms),
        );
    if link.keep_alive >= link.idle_timeout {
        return fail("node: `peer_keep_alive_ms` must be below `peer_idle_timeout_ms`");
    }
    let unknown = match node.unknown_peers.as_deref() {
        None | Some("refuse") => UnknownPeers::Refuse,
        Some("anonymous") => UnknownPeers::Anonymous,
        Some(other) => {
            return fail(format!(
                "node: unknown_peers `{other}` is neither \"refuse\" nor \"anonymous\""
            ));
        }
    };
    let mut federation = Federation::new(certificate)
        .with_unknown_peers(unknown)
        .with_link(link)
        .with_redial(
            node.redial_first_ms.map_or(defaults.first_redial, ms),
            node.redial_max_ms.map_or(defaults.max_redial, ms),
        );
    for entry in entries {
        let id = entry.id.clone();
        if federation.peer(&id).is_some() {
            return fail(format!("peer `{id}`: listed twice"));
        }
        federation = federation.with_peer(peer(entry)?);
    }
    Ok(Some(federation))
}

fn peer(entry: PeerEntry) -> Result<Peer, ConfigError> {
    let id = entry.id;
    let hex = entry.fingerprint.replace(':', "");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(format!(
            "peer `{id}`: fingerprint is not a 64-character hex SHA-256"
        ));
    }
    let visibility = match entry.visibility.as_deref() {
        None | Some("internal") => Visibility::Internal,
        Some("external") => Visibility::External,
        Some(other) => {
            return fail(format!(
                "peer `{id}`: visibility `{other}` is neither \"internal\" nor \"external\""
            ));
        }
    };
    if let Some(address) = &entry.dial
        && address
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return fail(format!("peer `{id}`: dial `{address}` is not host:port"));
    }
    let importing = entry.import.unwrap_or(true);
    if !importing && (entry.prefix.is_some() || entry.filter.is_some()) {
        return fail(format!(
            "peer `{id}`: `prefix` and `filter` need `import = true`"
        ));
    }
    let mut peer = Peer::new(Identity::new(id).with_scopes(entry.scopes), &hex);
    if let Some(address) = entry.dial {
        peer = peer.dialing(address);
    }
    if importing {
        let mut import = PeerImport::default().with_visibility(visibility);
        if let Some(prefix) = entry.prefix {
            import = import.with_prefix(prefix);
        }
        if let Some(filter) = entry.filter {
            import = import.with_filter(filter);
        }
        peer = peer.importing(import);
    }
    Ok(peer)
}
