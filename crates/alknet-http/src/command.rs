//! The `alknet-http` command's building blocks (feature `cli`): resolve a configuration,
//! build its registry, and serve it — for binaries of your own that serve a configuration
//! with handlers of their own next to it.
//!
//! ```no_run
//! use alknet_http::command::{ServeOptions, serve};
//!
//! # async fn run() -> Result<(), String> {
//! // `alknet-http serve --config node.toml`, plus whatever operations the closure adds.
//! serve(ServeOptions::new(Some("node.toml".into())), |builder, _config| builder).await
//! # }
//! ```
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alknet_http_core::credential::ReloadableProvider;
use alknet_http_core::identity::mint_token;
use alknet_http_core::{OperationRegistry, RegistryBuilder};
use secrecy::ExposeSecret;

use crate::config::{NodeConfig, Resolved};
use crate::credentials::{self, DevToken};
use crate::imports::{ImportSecret, ResolvedImport, plan_imports};
use crate::{Listener, Node, demo};

/// The configuration at `path`, or the embedded default.
pub fn resolve(path: Option<&std::path::Path>) -> Result<Resolved, String> {
    match path {
        Some(path) => {
            let (config, base) = NodeConfig::load(path).map_err(|e| e.to_string())?;
            config
                .resolve(&base)
                .map_err(|e| format!("config {}: {e}", path.display()))
        }
        None => NodeConfig::default()
            .resolve(std::path::Path::new("."))
            .map_err(|e| e.to_string()),
    }
}

/// The registry a configuration serves (`builder`'s operations, the demo operations when it
/// keeps them, its imports), and the import summaries to print.
pub async fn registry_of(
    builder: RegistryBuilder,
    demo: bool,
    imports: Vec<ResolvedImport>,
) -> Result<(OperationRegistry, Vec<String>), String> {
    let builder = if demo {
        demo::register(builder)
    } else {
        builder
    };
    let local: Vec<(String, String)> = if demo {
        demo::register(OperationRegistry::builder())
            .build()
            .map_err(|e| e.to_string())?
            .operations()
            .map(|op| (op.spec().name.clone(), "the demo operations".to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    let imported = plan_imports(imports, &local)
        .await
        .map_err(|e| e.to_string())?;
    let builder = imported.layers.into_iter().fold(
        builder.with_all(imported.registrations),
        |builder, layer| builder.with_layer(layer),
    );
    let registry = builder.build().map_err(|e| e.to_string())?;
    Ok((registry, imported.summaries))
}

/// What `alknet-http serve` is given.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The TOML configuration; `None` runs the embedded demo node.
    pub config: Option<PathBuf>,
    /// Listen on this TCP address instead of the configured listeners.
    pub listen: Option<SocketAddr>,
    /// Also write the development token to this file (mode 0600).
    pub dev_token_file: Option<PathBuf>,
}

impl ServeOptions {
    /// Serves the configuration at `config` (`None`: the embedded demo node).
    pub fn new(config: Option<PathBuf>) -> Self {
        ServeOptions {
            config,
            ..ServeOptions::default()
        }
    }

    /// Listens on `addr` instead of the configured listeners.
    #[must_use]
    pub fn listen(mut self, addr: Option<SocketAddr>) -> Self {
        self.listen = addr;
        self
    }

    /// Writes the development token to `path` too.
    #[must_use]
    pub fn dev_token_file(mut self, path: Option<PathBuf>) -> Self {
        self.dev_token_file = path;
        self
    }
}

/// `alknet-http serve`: runs the node a configuration describes, with the operations
/// `operations` adds to the configuration's (the command adds none; a binary of your own adds
/// its handlers), until Ctrl-C or SIGTERM.
pub async fn serve(
    options: ServeOptions,
    operations: impl FnOnce(RegistryBuilder, &Resolved) -> RegistryBuilder,
) -> Result<(), String> {
    let ServeOptions {
        config,
        listen,
        dev_token_file,
    } = options;
    let embedded = config.is_none();
    #[cfg_attr(not(feature = "nats"), allow(unused_mut))]
    let mut resolved = resolve(config.as_deref())?;
    let mut builder = operations(OperationRegistry::builder(), &resolved);
    #[cfg(feature = "nats")]
    let mut on_the_bus = match resolved.nats.take() {
        Some(setup) => {
            let (bus, layers, lines) = crate::nats_node::OnTheBus::join(setup).await?;
            for line in lines {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            builder = layers
                .into_iter()
                .fold(builder, |builder, layer| builder.with_layer(layer));
            Some(bus)
        }
        None => None,
    };
    if let Some(setup) = &resolved.metrics {
        builder = builder.with_metrics(setup.metrics.clone());
    }
    if let Some(limits) = &resolved.rate_limits {
        builder = builder.with_rate_limits(limits.clone());
    }
    let mut listeners = resolved.listeners;
    if let Some(addr) = listen {
        listeners = vec![Listener::Http(addr)];
    }
    if listeners.is_empty() {
        listeners.push(Listener::Http(SocketAddr::from(([127, 0, 0, 1], 8080))));
    }
    let credentials = resolved.token_count + resolved.issuers.len();
    let dev_token = (embedded || credentials == 0).then(|| DevToken(mint_token()));
    // One swappable table: a `SIGHUP` reloads the file's tokens and issuers into it.
    let identities = Arc::new(ReloadableProvider::new(
        credentials::provider(resolved.tokens, resolved.issuers, dev_token.as_ref()).await?,
    ));
    let import_secrets: Vec<ImportSecret> = resolved
        .imports
        .iter()
        .filter_map(|import| import.secret().cloned())
        .collect();
    let mut node = Node::builder();
    if resolved.demo {
        // Hub-side code for the demo: it calls the caller's own pages.
        builder = crate::demo_pages::register(builder, node.sessions());
    }
    let (registry, summaries) = registry_of(builder, resolved.demo, resolved.imports).await?;
    for line in &summaries {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
    let node_banner = resolved.node_certificate.as_ref().map(|certificate| {
        format!(
            "node {} fingerprint {}",
            resolved.node_id,
            certificate.fingerprint_sha256()
        )
    });
    if let Some(resource) = resolved.protected_resource {
        node = node.protected_resource(resource);
    }
    if let Some(federation) = resolved.federation {
        node = node.federation(federation);
    }
    for exposure in resolved.metrics.into_iter().flat_map(|m| m.exposures) {
        node = node.metrics(exposure);
    }
    #[cfg(feature = "nats")]
    let registry_for_bus = registry.clone();
    let node = node
        .registry(registry)
        .identity_provider(identities.clone())
        .protected(credentials > 0)
        .call_timeout(resolved.call_timeout)
        .limits(resolved.limits)
        .decoy(resolved.decoy)
        .stealth(resolved.stealth)
        .gateway_config(resolved.gateway)
        .mcp_config(resolved.mcp);
    let node = listeners
        .into_iter()
        .fold(node, |node, listener| node.listen(listener))
        .build()
        .map_err(|e| e.to_string())?;
    #[cfg(feature = "nats")]
    let sessions = node.sessions();
    let running = node.start().await.map_err(|e| e.to_string())?;
    #[cfg(feature = "nats")]
    if let Some(bus) = &mut on_the_bus {
        if let Some(line) = bus.join_directory(sessions).await? {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        let identities: Arc<dyn alknet_http_core::IdentityProvider> = identities.clone();
        for line in bus
            .export(&registry_for_bus, identities, resolved.call_timeout)
            .await?
        {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
    let dev_token_secret = dev_token.as_ref().map(|dev| dev.0.clone());
    if let Some(path) = config {
        credentials::reload_on_hangup(path, dev_token, identities, import_secrets)?;
    }
    let dev_token = dev_token_secret;
    // The file first: whoever reads the banner may read the file right away.
    if let (Some(token), Some(path)) = (&dev_token, &dev_token_file) {
        write_secret_file(path, token.expose_secret())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if let Some(line) = &node_banner {
        let _ = writeln!(out, "{line}");
    }
    let version = env!("CARGO_PKG_VERSION");
    let mut base_url = None;
    for bound in running.addresses() {
        let _ = writeln!(
            out,
            "alknet-http {version} listening on {}://{}",
            bound.scheme, bound.addr
        );
        if base_url.is_none() && bound.scheme.starts_with("http") {
            base_url = Some(format!("{}://{}", bound.scheme, bound.addr));
        }
    }
    if let Some(token) = &dev_token {
        let token = token.expose_secret();
        let _ = writeln!(
            out,
            "dev token (shown once; scopes {}): {token}",
            demo::DEV_SCOPES.join(", ")
        );
        let _ = writeln!(out, "  export TOKEN={token}");
        if let Some(url) = &base_url {
            let _ = writeln!(
                out,
                "  curl -s {url}/call -H \"Authorization: Bearer $TOKEN\" -d '{{\"operation\":\"/demo/greet\",\"input\":{{\"name\":\"ada\"}}}}'"
            );
        }
    }
    let _ = out.flush();
    drop(out);
    #[cfg(feature = "nats")]
    let stop = async {
        stop_signal().await;
        // Off the bus first: gateways stop sending calls here while the node drains.
        if let Some(bus) = on_the_bus {
            bus.leave().await;
        }
    };
    #[cfg(not(feature = "nats"))]
    let stop = stop_signal();
    running.run_until(stop).await;
    let _ = writeln!(std::io::stdout().lock(), "stopped");
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM (what service managers send).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

/// Writes a secret to a new or truncated file readable by its owner only.
pub fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(secret.as_bytes())
}
