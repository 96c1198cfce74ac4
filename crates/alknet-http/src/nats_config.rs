//! `[nats]`, `[[export.nats]]` and `[[import.nats]]` in the node's TOML configuration (feature
//! `cli`; serving them needs feature `nats`): the bus a node is on, the operations it serves
//! there as a worker, and the services it imports as a gateway.
//!
//! ```toml
//! [nats]
//! servers = ["nats://127.0.0.1:4222"]
//! name = "gateway-1"                    # shown by the server's monitoring
//! credentials_file = "node.creds"      # or token_file, or user + password_file
//! tls_ca = "nats-ca.pem"               # requires TLS, servers' certificates chain to it
//!
//! [[export.nats]]                      # serve this node's External operations on the bus
//! service = "alknet"
//! operations = ["demo/*"]              # names or namespace/*; none: all
//! identity = "bus"                     # whom bus calls run as …
//! scopes = ["demo"]                    # … with these scopes
//!
//! [[import.nats]]                      # import what a service advertises
//! service = "alknet"
//! visibility = "external"              # default internal, like every import
//!
//! [nats.directory]                     # list and call this node's WebSocket sessions
//! cluster = "alknet"                   # from any node of the cluster
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config_error::{ConfigError, fail};

/// The `[nats]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// Server URLs.
    #[serde(default)]
    pub servers: Vec<String>,
    /// The connection's name.
    pub name: Option<String>,
    /// A `.creds` file (a user JWT and its NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// A file holding a token.
    pub token_file: Option<PathBuf>,
    /// A user, with `password_file`.
    pub user: Option<String>,
    /// A file holding the user's password.
    pub password_file: Option<PathBuf>,
    /// PEM roots the servers' certificates must chain to (requires TLS).
    pub tls_ca: Option<PathBuf>,
    /// Heartbeat of running calls, in milliseconds, for exports and imports alike (default 1000).
    pub heartbeat_ms: Option<u64>,
    /// `[nats.directory]`: this node's WebSocket sessions in the cluster's session directory.
    pub directory: Option<NatsDirectorySection>,
}

/// The `[nats.directory]` table: the node answers other nodes for its WebSocket sessions
/// (listed by identity, called by hub-side code anywhere in the cluster).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsDirectorySection {
    /// The cluster's name (default `alknet`).
    pub cluster: Option<String>,
    /// How often the node announces itself, in milliseconds (default 5000).
    pub announce_interval_ms: Option<u64>,
    /// How long a listing waits for the other nodes, in milliseconds (default 1000).
    pub answer_timeout_ms: Option<u64>,
    /// The longest a call to a session may take, in milliseconds (default 30000).
    pub call_timeout_ms: Option<u64>,
    /// Calls from other nodes served at once (default 256).
    pub max_in_flight: Option<usize>,
}

/// The `[export]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// `[[export.nats]]` entries.
    #[serde(default)]
    pub nats: Vec<NatsExportEntry>,
}

/// One `[[export.nats]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsExportEntry {
    /// The service name (default `alknet`).
    pub service: Option<String>,
    /// The subject prefix (default `alknet`).
    pub prefix: Option<String>,
    /// The queue group (default `alknet`).
    pub queue_group: Option<String>,
    /// The operations served (names or `namespace/*`); none serves every External one.
    #[serde(default)]
    pub operations: Vec<String>,
    /// The id of the identity bus calls run as (default `bus`).
    pub identity: Option<String>,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Calls running at once at most (default 1024).
    pub max_in_flight: Option<usize>,
}

/// One `[[import.nats]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsImportEntry {
    /// The service imported (default `alknet`).
    pub service: Option<String>,
    /// A namespace the imported names are put under.
    pub namespace: Option<String>,
    /// The operations imported (names or `namespace/*`); none imports all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// `internal` (the default) or `external`.
    pub visibility: Option<String>,
    /// How often the bus is asked what it serves, in milliseconds (default 2000).
    pub refresh_ms: Option<u64>,
    /// How often a lost Query is sent again (default 1).
    pub query_retries: Option<usize>,
    /// A subscription's window (default 64).
    pub stream_window: Option<u64>,
    /// Discoveries in a row that must miss an operation before it is withdrawn (default 3).
    pub withdraw_after: Option<u32>,
}

/// What the node does on the bus, resolved (feature `nats`).
#[cfg(feature = "nats")]
#[derive(Debug)]
pub struct NatsSetup {
    /// How to reach the bus.
    pub connect: alknet_http_nats::NatsConnect,
    /// What this node serves there.
    pub exports: Vec<alknet_http_nats::NatsExport>,
    /// What it imports.
    pub imports: Vec<alknet_http_nats::NatsImport>,
    /// Its part in the cluster's session directory, if any.
    pub directory: Option<alknet_http_nats::DirectoryConfig>,
}

/// Reads a secret file, at most 64 KiB, trimmed.
fn secret_file(path: &Path, what: &str) -> Result<secrecy::SecretString, ConfigError> {
    use std::io::Read as _;
    const MAX: u64 = 64 * 1024;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX + 1).read_to_string(&mut text))
        .map_err(|e| {
            ConfigError::Invalid(format!("nats: cannot read {what} {}: {e}", path.display()))
        })?;
    if text.len() as u64 > MAX {
        return fail(format!(
            "nats: {what} {} is larger than {MAX} bytes",
            path.display()
        ));
    }
    Ok(text.trim().to_owned().into())
}

/// Resolves the NATS tables; `None` when none is configured. `path` resolves relative files.
#[cfg(feature = "nats")]
pub(crate) fn resolve(
    section: Option<NatsSection>,
    exports: Vec<NatsExportEntry>,
    imports: Vec<NatsImportEntry>,
    path: impl Fn(&Path) -> PathBuf,
) -> Result<Option<NatsSetup>, ConfigError> {
    use std::time::Duration;

    use alknet_http_core::{Identity, Visibility};
    use alknet_http_nats::{NatsAuth, NatsConnect, NatsExport, NatsImport};

    let Some(section) = section else {
        if !exports.is_empty() || !imports.is_empty() {
            return fail("`[[export.nats]]` and `[[import.nats]]` need a `[nats]` table");
        }
        return Ok(None);
    };
    if section.servers.is_empty() {
        return fail("nats: `servers` is empty");
    }
    let auth = match (
        &section.credentials_file,
        &section.token_file,
        &section.user,
        &section.password_file,
    ) {
        (None, None, None, None) => NatsAuth::None,
        (Some(file), None, None, None) => {
            NatsAuth::Credentials(secret_file(&path(file), "credentials_file")?)
        }
        (None, Some(file), None, None) => NatsAuth::Token(secret_file(&path(file), "token_file")?),
        (None, None, Some(user), Some(file)) => NatsAuth::UserPassword {
            user: user.clone(),
            password: secret_file(&path(file), "password_file")?,
        },
        _ => {
            return fail(
                "nats: one of `credentials_file`, `token_file`, or `user` with `password_file`",
            );
        }
    };
    let mut connect = NatsConnect::new(section.servers.clone()).with_auth(auth);
    if let Some(name) = &section.name {
        connect = connect.with_name(name.clone());
    }
    if let Some(ca) = &section.tls_ca {
        let ca = path(ca);
        let pem = std::fs::read(&ca).map_err(|e| {
            ConfigError::Invalid(format!("nats: cannot read tls_ca {}: {e}", ca.display()))
        })?;
        connect = connect.with_tls_roots_pem(pem);
    }
    // The node starts whether or not the bus is up; calls fail fast until it is.
    connect.retry_initial_connect = true;
    let heartbeat = Duration::from_millis(section.heartbeat_ms.unwrap_or(1000));
    let exports = exports
        .into_iter()
        .map(|entry| {
            let identity = Identity::new(entry.identity.unwrap_or_else(|| "bus".to_owned()))
                .with_scopes(entry.scopes);
            let mut export = NatsExport::new(identity)
                .with_operations(entry.operations)
                .with_heartbeat(heartbeat);
            if let Some(service) = entry.service {
                export = export.with_service(service);
            }
            if let Some(prefix) = entry.prefix {
                export = export.with_prefix(prefix);
            }
            if let Some(group) = entry.queue_group {
                export = export.with_queue_group(group);
            }
            if let Some(max) = entry.max_in_flight {
                export = export.with_max_in_flight(max);
            }
            export
        })
        .collect();
    let imports = imports
        .into_iter()
        .map(|entry| {
            let visibility = match entry.visibility.as_deref() {
                None | Some("internal") => Visibility::Internal,
                Some("external") => Visibility::External,
                Some(other) => {
                    return fail(format!(
                        "import.nats: visibility `{other}` is neither \"internal\" nor \"external\""
                    ));
                }
            };
            let mut import = NatsImport::default()
                .with_operations(entry.operations)
                .with_visibility(visibility)
                .with_heartbeat(heartbeat);
            if let Some(service) = entry.service {
                import = import.with_service(service);
            }
            if let Some(namespace) = entry.namespace {
                import = import.with_namespace_prefix(namespace);
            }
            if let Some(ms) = entry.refresh_ms {
                import = import.with_refresh(Duration::from_millis(ms));
            }
            if let Some(retries) = entry.query_retries {
                import = import.with_query_retries(retries);
            }
            if let Some(window) = entry.stream_window {
                import = import.with_stream_window(window);
            }
            if let Some(discoveries) = entry.withdraw_after {
                import = import.with_withdraw_after(discoveries);
            }
            Ok(import)
        })
        .collect::<Result<_, ConfigError>>()?;
    let directory = section.directory.map(|table| {
        let defaults = alknet_http_nats::DirectoryConfig::default();
        let ms =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_millis);
        alknet_http_nats::DirectoryConfig::new(table.cluster.unwrap_or(defaults.cluster))
            .with_announce_interval(ms(table.announce_interval_ms, defaults.announce_interval))
            .with_answer_timeout(ms(table.answer_timeout_ms, defaults.answer_timeout))
            .with_call_timeout(ms(table.call_timeout_ms, defaults.call_timeout))
            .with_max_in_flight(table.max_in_flight.unwrap_or(defaults.max_in_flight))
    });
    if let Some(directory) = &directory
        && (directory.announce_interval.is_zero() || directory.answer_timeout.is_zero())
    {
        return fail(
            "nats.directory: `announce_interval_ms` and `answer_timeout_ms` must be above 0",
        );
    }
    Ok(Some(NatsSetup {
        connect,
        exports,
        imports,
        directory,
    }))
}

/// Without feature `nats`, a configuration that uses the bus is refused.
#[cfg(not(feature = "nats"))]
pub(crate) fn refuse(
    section: Option<&NatsSection>,
    exports: &[NatsExportEntry],
    imports: &[NatsImportEntry],
) -> Result<(), ConfigError> {
    let _ = secret_file;
    if section.is_some() || !exports.is_empty() || !imports.is_empty() {
        return fail("`[nats]` needs an alknet-http built with feature `nats`");
    }
    Ok(())
}
