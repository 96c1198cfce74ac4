//! The node's TOML configuration (feature `cli`). Unknown keys are errors; every error is one
//! line that names the problem. Relative paths are relative to the configuration file.
//!
//! ```toml
//! demo = true                 # register the demo operations (default true)
//! call_timeout_ms = 30000
//! stealth = "unknown-paths"   # or "full"
//!
//! [[listen]]
//! kind = "tcp"                # "tcp", "tls" or "quic"
//! addr = "127.0.0.1:8080"
//!
//! [[listen]]
//! kind = "tls"
//! addr = "0.0.0.0:8443"
//! cert = "cert.pem"
//! key = "key.pem"
//!
//! [[token]]                   # a static bearer token: see `token_config`
//! id = "alice"
//! sha256 = "<64 hex characters: `alknet-http token new` prints one>"
//! scopes = ["demo:read", "demo:write"]
//! expires_at = 2027-01-01T00:00:00Z
//!
//! [[issuer]]                  # JWT access tokens of an OpenID provider: see `issuer_config`
//! issuer = "https://login.example.com"
//! audience = ["https://node.example.com"]
//!
//! [[rate_limit]]              # limits on calls, every surface: see `rate_limit_config`
//! per = "identity"
//! calls = 100
//!
//! [limits]
//! max_body_bytes = 2097152
//!
//! [decoy]
//! kind = "not-found"          # "not-found", "static" (root = "site") or "redirect" (to = "https://…")
//!
//! [mcp]
//! allowed_hosts = ["localhost", "127.0.0.1", "node.example.com"]   # Host header guard
//! allow_anonymous = false
//! tools = "auto"              # "gateway" (4 tools), "direct" (one per operation) or "auto"
//! max_tools = 40              # auto: direct up to this many operations, gateway beyond
//! subscription_max_items = 100   # a subscription called as a tool returns after this many
//! subscription_max_ms = 30000    # items, or after this long
//!
//! [node]                      # this node's certificate and peer links: see `peer_config`
//! cert = "node.pem"
//! key = "node.key"
//!
//! [[peer]]                    # a node to federate with: see `peer_config`
//! id = "spoke-a"
//! fingerprint = "<64 hex characters>"
//! dial = "10.0.0.2:9443"
//!
//! [telemetry]
//! metrics_listen = "127.0.0.1:9464"   # GET /metrics on a listener of its own, or
//! metrics_scope = "metrics:read"      # on the main listeners for tokens with this scope
//! max_operation_labels = 512          # distinct operation names before `other`
//! otlp_endpoint = "http://127.0.0.1:4318"   # export traces (OTLP over HTTP, protobuf)
//! otlp_headers_file = "otlp.headers"  # `Name: value` lines sent with every export
//! sampling_ratio = 0.1                # share of new traces recorded (default 1.0)
//! service_name = "edge-1"             # `service.name` (default alknet-http)
//!
//! [[import.openapi]]          # a REST API as operations: see the `imports` module
//! namespace = "petstore"
//! spec = "petstore.yaml"
//! base_url = "https://petstore.example.com/v1"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};

use alknet_http_core::StaticTokenProvider;
use alknet_http_core::jwt::JwtIssuer;
use alknet_http_core::tls::ServerIdentity;
use alknet_http_server::{DecoyConfig, ServerLimits, Stealth};
use serde::Deserialize;

use crate::federation::Federation;
use crate::imports::{ImportConfig, ResolvedImport};
pub use crate::issuer_config::{IssuerEntry, OAuthSection};
use crate::node::Listener;
use crate::peer_config::{NodeSection, PeerEntry};
pub use crate::rate_limit_config::RateLimitEntry;
pub use crate::telemetry_config::{MetricsSetup, TelemetrySection};
pub use crate::token_config::TokenConfig;

pub use crate::config_error::ConfigError;
use crate::config_error::fail;

/// The parsed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Register the demo operations. Default `true`.
    #[serde(default = "yes")]
    pub demo: bool,
    /// Deadline of Query/Mutation calls in milliseconds. Default 30000.
    pub call_timeout_ms: Option<u64>,
    /// `unknown-paths` (default) or `full`.
    pub stealth: Option<String>,
    /// Listeners.
    #[serde(default)]
    pub listen: Vec<ListenConfig>,
    /// Bearer tokens, stored as SHA-256 hashes.
    #[serde(default)]
    pub token: Vec<TokenConfig>,
    /// Server limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Gateway limits.
    #[serde(default)]
    pub gateway: GatewayLimits,
    /// The decoy.
    pub decoy: Option<DecoyEntry>,
    /// The MCP surface.
    #[serde(default)]
    pub mcp: crate::mcp_config::McpSection,
    /// Imports (`[[import.openapi]]`, `[[import.mcp]]`).
    #[serde(default)]
    pub import: ImportConfig,
    /// This node's certificate and peer links.
    #[serde(default)]
    pub node: NodeSection,
    /// The peers.
    #[serde(default)]
    pub peer: Vec<PeerEntry>,
    /// Metrics.
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Issuers of accepted JWT access tokens.
    #[serde(default)]
    pub issuer: Vec<IssuerEntry>,
    /// The node as an OAuth protected resource.
    pub oauth: Option<OAuthSection>,
    /// Limits on root calls.
    #[serde(default)]
    pub rate_limit: Vec<RateLimitEntry>,
    /// The message bus (`[nats]`).
    pub nats: Option<crate::nats_config::NatsSection>,
    /// Exports (`[[export.nats]]`).
    #[serde(default)]
    pub export: crate::nats_config::ExportConfig,
}

fn yes() -> bool {
    true
}

impl Default for NodeConfig {
    /// The embedded default: demo operations, no listeners (the command adds loopback), no tokens.
    fn default() -> Self {
        NodeConfig::parse("").unwrap_or_else(|_| NodeConfig {
            demo: true,
            call_timeout_ms: None,
            stealth: None,
            listen: Vec::new(),
            token: Vec::new(),
            limits: LimitsConfig::default(),
            gateway: GatewayLimits::default(),
            decoy: None,
            mcp: crate::mcp_config::McpSection::default(),
            import: ImportConfig::default(),
            node: NodeSection::default(),
            peer: Vec::new(),
            telemetry: TelemetrySection::default(),
            issuer: Vec::new(),
            oauth: None,
            rate_limit: Vec::new(),
            nats: None,
            export: crate::nats_config::ExportConfig::default(),
        })
    }
}

/// One `[[listen]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// `tcp`, `tls` or `quic`.
    pub kind: String,
    /// The address.
    pub addr: SocketAddr,
    /// PEM certificate chain (tls, quic).
    pub cert: Option<PathBuf>,
    /// PEM private key (tls, quic).
    pub key: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// See [`ServerLimits::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// See [`ServerLimits::header_read_timeout`].
    pub header_read_timeout_ms: Option<u64>,
    /// See [`ServerLimits::request_timeout`].
    pub request_timeout_ms: Option<u64>,
    /// See [`ServerLimits::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`ServerLimits::h2_max_concurrent_streams`].
    pub h2_max_concurrent_streams: Option<u32>,
    /// See [`ServerLimits::shutdown_grace`].
    pub shutdown_grace_ms: Option<u64>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GatewayLimits {
    /// Elements a `/batch` may hold.
    pub max_batch_len: Option<usize>,
    /// Elements of one `/batch` running at once.
    pub batch_concurrency: Option<usize>,
    /// Interval of SSE pings in milliseconds.
    pub sse_ping_interval_ms: Option<u64>,
}

/// `[decoy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoyEntry {
    /// `not-found`, `static` or `redirect`.
    pub kind: String,
    /// The directory (`static`).
    pub root: Option<PathBuf>,
    /// The target (`redirect`).
    pub to: Option<String>,
}

/// Everything the node needs, resolved from a configuration.
#[derive(Debug)]
pub struct Resolved {
    /// Register the demo operations.
    pub demo: bool,
    /// Listeners, certificates loaded.
    pub listeners: Vec<Listener>,
    /// The token table.
    pub tokens: StaticTokenProvider,
    /// How many tokens are configured.
    pub token_count: usize,
    /// The issuers of accepted JWTs.
    pub issuers: Vec<JwtIssuer>,
    /// The limits on root calls, when any are configured.
    pub rate_limits: Option<Arc<alknet_http_core::rate_limit::RateLimits>>,
    /// The protected-resource metadata, when `[oauth]` is configured.
    pub protected_resource: Option<alknet_http_server::ProtectedResource>,
    /// Server limits.
    pub limits: ServerLimits,
    /// Gateway limits.
    pub gateway: alknet_http_gateway::GatewayConfig,
    /// The decoy.
    pub decoy: DecoyConfig,
    /// The stealth mode.
    pub stealth: Stealth,
    /// Deadline of Query/Mutation calls.
    pub call_timeout: Duration,
    /// Imports, documents and credentials read.
    pub imports: Vec<ResolvedImport>,
    /// The MCP surface.
    pub mcp: alknet_http_mcp::McpConfig,
    /// This node's name for its peers.
    pub node_id: String,
    /// This node's certificate (`[node]`), if configured.
    pub node_certificate: Option<ServerIdentity>,
    /// The peers, when any are configured.
    pub federation: Option<Federation>,
    /// The metrics and where `/metrics` is served, when configured.
    pub metrics: Option<MetricsSetup>,
    /// The node's part on the message bus, when `[nats]` is configured.
    #[cfg(feature = "nats")]
    pub nats: Option<crate::nats_config::NatsSetup>,
}

impl NodeConfig {
    /// Reads and parses a file; errors name the file and, for TOML errors, the line.
    pub fn load(path: &Path) -> Result<(NodeConfig, PathBuf), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = NodeConfig::parse(&text).map_err(|e| ConfigError::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((config, base))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Syntax {
            line: e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().trim().replace('\n', " "),
            source: Box::new(e),
        })
    }

    /// The credentials the node accepts: its `[[token]]` table and its `[[issuer]]`s. What a
    /// `SIGHUP` reloads.
    pub fn credentials(&self) -> Result<(StaticTokenProvider, Vec<JwtIssuer>), ConfigError> {
        let tokens = crate::token_config::token_table(&self.token)?;
        let issuers = self
            .issuer
            .iter()
            .map(IssuerEntry::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tokens, issuers))
    }

    /// Loads certificates, checks hashes and builds the node's settings. `base` resolves
    /// relative paths.
    pub fn resolve(mut self, base: &Path) -> Result<Resolved, ConfigError> {
        let path = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let (tokens, issuers) = self.credentials()?;
        let node_certificate = self.node.certificate(path)?;
        let mut listeners = Vec::new();
        for entry in self.listen {
            let identity = || -> Result<ServerIdentity, ConfigError> {
                let (Some(cert), Some(key)) = (&entry.cert, &entry.key) else {
                    // A QUIC listener presents the node's certificate unless it has its own.
                    if let (Some(node), "quic") = (&node_certificate, entry.kind.as_str()) {
                        return Ok(node.clone());
                    }
                    return fail(format!(
                        "listener {} ({}): `cert` and `key` are required",
                        entry.addr, entry.kind
                    ));
                };
                ServerIdentity::from_pem_files(&path(cert), &path(key)).map_err(|source| {
                    ConfigError::Certificate {
                        addr: entry.addr.to_string(),
                        source,
                    }
                })
            };
            let listener = match entry.kind.as_str() {
                "tcp" => Listener::Http(entry.addr),
                #[cfg(feature = "tls")]
                "tls" => Listener::Https(entry.addr, identity()?),
                #[cfg(feature = "quic")]
                "quic" => Listener::Quic(entry.addr, identity()?),
                other => {
                    let _ = identity;
                    return fail(format!(
                        "listener {}: unknown or not compiled kind `{other}` (this build has: {})",
                        entry.addr,
                        compiled_listener_kinds()
                    ));
                }
            };
            listeners.push(listener);
        }
        let defaults = ServerLimits::default();
        let ms = Duration::from_millis;
        let l = self.limits;
        let limits = defaults
            .clone()
            .with_max_body_bytes(l.max_body_bytes.unwrap_or(defaults.max_body_bytes))
            .with_header_read_timeout(
                l.header_read_timeout_ms
                    .map_or(defaults.header_read_timeout, ms),
            )
            .with_request_timeout(l.request_timeout_ms.map_or(defaults.request_timeout, ms))
            .with_max_connections(l.max_connections.unwrap_or(defaults.max_connections))
            .with_h2_max_concurrent_streams(
                l.h2_max_concurrent_streams
                    .unwrap_or(defaults.h2_max_concurrent_streams),
            )
            .with_shutdown_grace(l.shutdown_grace_ms.map_or(defaults.shutdown_grace, ms));
        let g = alknet_http_gateway::GatewayConfig::default();
        let gateway = alknet_http_gateway::GatewayConfig::default()
            .with_max_batch_len(self.gateway.max_batch_len.unwrap_or(g.max_batch_len))
            .with_batch_concurrency(
                self.gateway
                    .batch_concurrency
                    .unwrap_or(g.batch_concurrency),
            )
            .with_sse_ping_interval(
                self.gateway
                    .sse_ping_interval_ms
                    .map_or(g.sse_ping_interval, ms),
            );
        let decoy = match self.decoy {
            None => DecoyConfig::NotFound,
            Some(d) => match (d.kind.as_str(), d.root, d.to) {
                ("not-found", None, None) => DecoyConfig::NotFound,
                ("static", Some(root), None) => {
                    let root = path(&root);
                    if !root.is_dir() {
                        return fail(format!(
                            "decoy: static root {} is not a directory",
                            root.display()
                        ));
                    }
                    DecoyConfig::StaticSite { root }
                }
                ("redirect", None, Some(to)) => DecoyConfig::Redirect { to },
                (kind, _, _) => {
                    return fail(format!(
                        "decoy: `kind = \"{kind}\"` needs: not-found (nothing else), static (root), redirect (to)"
                    ));
                }
            },
        };
        let stealth = match self.stealth.as_deref() {
            None | Some("unknown-paths") => Stealth::UnknownPaths,
            Some("full") => Stealth::Full,
            Some(other) => {
                return fail(format!(
                    "stealth: `{other}` is neither \"unknown-paths\" nor \"full\""
                ));
            }
        };
        let nats_imports = std::mem::take(&mut self.import.nats);
        #[cfg(feature = "nats")]
        let nats = crate::nats_config::resolve(
            self.nats.take(),
            std::mem::take(&mut self.export.nats),
            nats_imports,
            path,
        )?;
        #[cfg(not(feature = "nats"))]
        crate::nats_config::refuse(self.nats.as_ref(), &self.export.nats, &nats_imports)?;
        let imports = if self.import.is_empty() {
            Vec::new()
        } else {
            let http = SharedHttpClient::new(HttpClientConfig::default())?;
            self.import.resolve(path, &Arc::new(http))?
        };
        let federation =
            crate::peer_config::federation(&self.node, node_certificate.clone(), self.peer)?;
        let metrics = self.telemetry.metrics()?;
        let protected_resource = match &self.oauth {
            Some(oauth) => Some(oauth.resolve(&issuers, alknet_http_mcp::DEFAULT_PATH)?),
            None => None,
        };
        Ok(Resolved {
            rate_limits: crate::rate_limit_config::rate_limits(&self.rate_limit)?,
            issuers,
            protected_resource,
            metrics,
            node_id: self.node.id().to_owned(),
            node_certificate,
            federation,
            demo: self.demo,
            listeners,
            token_count: self.token.len(),
            tokens,
            limits,
            gateway,
            decoy,
            stealth,
            call_timeout: self
                .call_timeout_ms
                .map_or(alknet_http_core::invoke::DEFAULT_CALL_TIMEOUT, ms),
            imports,
            mcp: self.mcp.resolve()?,
            #[cfg(feature = "nats")]
            nats,
        })
    }
}

fn compiled_listener_kinds() -> &'static str {
    match (cfg!(feature = "tls"), cfg!(feature = "quic")) {
        (true, true) => "tcp, tls, quic",
        (true, false) => "tcp, tls",
        (false, true) => "tcp, quic",
        (false, false) => "tcp",
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
