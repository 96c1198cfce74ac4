//! `alknet-http`: run a node, mint tokens, and call a node's gateway.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use alknet_http::config::{NodeConfig, Resolved};
use alknet_http::core::CallError;
use alknet_http::core::identity::{mint_token, token_hash};
use alknet_http::core::{Identity, OperationRegistry, Visibility};
use alknet_http::gateway::client::GatewayClient;
use alknet_http::imports::{ResolvedImport, plan_imports};
use alknet_http::{Listener, Node, demo};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::Value;

/// Writes a line to stdout, ignoring a closed pipe (`alknet-http openapi | head`).
macro_rules! say {
    () => {{
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Define operations once; serve them on every surface; call them.
#[derive(Debug, Parser)]
#[command(name = "alknet-http", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter, e.g. `info`, `debug` or `alknet_http_server=debug`.
    #[arg(long, global = true, default_value = "info,rmcp=warn")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node. Without --config it runs the embedded demo node on 127.0.0.1:8080 and prints
    /// a fresh development token once.
    Serve {
        /// A TOML node configuration (listeners, tokens, limits, decoy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen on this TCP address instead of the configured listeners.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Also write the development token to this file (mode 0600), for scripts.
        #[arg(long)]
        dev_token_file: Option<PathBuf>,
    },
    /// Print the OpenAPI 3.1 document of the gateway (what GET /openapi.json serves).
    Openapi {
        /// Describe a node without the demo operations (their declared error statuses).
        #[arg(long)]
        no_demo: bool,
    },
    /// Print the TypeScript declarations of the operations a configuration serves (what
    /// GET /alknet/types.d.ts answers to a caller who may call them all).
    Types {
        /// A TOML node configuration (default: the embedded demo node).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print this node's certificate fingerprint and a [[peer]] entry for another node's
    /// configuration (generating the certificate first when [node] says `generate = true`).
    Peer {
        /// The node's TOML configuration, with a [node] certificate.
        #[arg(long)]
        config: PathBuf,
    },
    /// Mint bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Call a query or mutation through a node's gateway (POST /call) and print its output.
    Call {
        /// The operation, e.g. /demo/echo.
        operation: String,
        /// The input as JSON (default: null).
        input: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Subscribe through a node's gateway (POST /subscribe) and print each event as it arrives.
    Subscribe {
        /// The operation, e.g. /demo/ticks.
        operation: String,
        /// The input as JSON (default: null).
        input: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new 256-bit token, its SHA-256, and a [[token]] entry for the configuration.
    New {
        /// The identity the token will stand for.
        #[arg(long, default_value = "client")]
        id: String,
        /// Scopes for the configuration entry.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// The node's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A file holding the bearer token.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                config,
                listen,
                dev_token_file,
            } => serve(config, listen, dev_token_file).await,
            Command::Openapi { no_demo } => {
                let builder = OperationRegistry::builder();
                let builder = if no_demo {
                    builder
                } else {
                    demo::register(builder)
                };
                let registry = builder.build().map_err(|e| e.to_string())?;
                let document = alknet_http::openapi::to_openapi(&registry);
                say!(
                    "{}",
                    serde_json::to_string_pretty(&document).unwrap_or_default()
                );
                Ok(())
            }
            Command::Types { config } => types(config).await,
            Command::Peer { config } => peer(&config),
            Command::Token {
                command: TokenCommand::New { id, scopes },
            } => {
                token_new(&id, &scopes);
                Ok(())
            }
            Command::Call {
                operation,
                input,
                target,
            } => call(&operation, input.as_deref(), &target).await,
            Command::Subscribe {
                operation,
                input,
                target,
            } => subscribe(&operation, input.as_deref(), &target).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration at `path`, or the embedded default.
fn resolve(path: Option<&std::path::Path>) -> Result<Resolved, String> {
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

/// The registry a configuration serves (the demo operations when it keeps them, its
/// imports), and the import summaries to print.
async fn registry_of(
    demo: bool,
    imports: Vec<ResolvedImport>,
) -> Result<(OperationRegistry, Vec<String>), String> {
    let builder = OperationRegistry::builder();
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
    let registry = builder
        .with_all(imported.registrations)
        .build()
        .map_err(|e| e.to_string())?;
    Ok((registry, imported.summaries))
}

/// `alknet-http types`: the TypeScript declarations of every External operation the
/// configuration serves (whatever a caller's scopes; the node's `/alknet/types.d.ts` answers
/// per caller).
async fn types(config: Option<PathBuf>) -> Result<(), String> {
    let resolved = resolve(config.as_deref())?;
    let (registry, summaries) = registry_of(resolved.demo, resolved.imports).await?;
    for line in &summaries {
        eprintln!("{line}");
    }
    let mut specs: Vec<_> = registry
        .operations()
        .map(|op| op.spec())
        .filter(|spec| spec.visibility == Visibility::External)
        .collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    print!("{}", alknet_http::ws::declarations(specs, usize::MAX));
    Ok(())
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    dev_token_file: Option<PathBuf>,
) -> Result<(), String> {
    let embedded = config.is_none();
    let resolved = resolve(config.as_deref())?;
    let mut listeners = resolved.listeners;
    if let Some(addr) = listen {
        listeners = vec![Listener::Http(addr)];
    }
    if listeners.is_empty() {
        listeners.push(Listener::Http(SocketAddr::from(([127, 0, 0, 1], 8080))));
    }
    let mut tokens = resolved.tokens;
    let dev_token = if embedded || resolved.token_count == 0 {
        let token = mint_token();
        tokens = tokens
            .with_token(
                token.expose_secret(),
                Identity::new("dev").with_scopes(demo::DEV_SCOPES),
            )
            .map_err(|e| e.to_string())?;
        Some(token)
    } else {
        None
    };
    let (registry, summaries) = registry_of(resolved.demo, resolved.imports).await?;
    for line in &summaries {
        say!("{line}");
    }
    let node_banner = resolved.node_certificate.as_ref().map(|certificate| {
        format!(
            "node {} fingerprint {}",
            resolved.node_id,
            certificate.fingerprint_sha256()
        )
    });
    let mut node = Node::builder();
    if let Some(federation) = resolved.federation {
        node = node.federation(federation);
    }
    let node = node
        .registry(registry)
        .identity_provider(Arc::new(tokens))
        .protected(resolved.token_count > 0)
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
    let running = node.start().await.map_err(|e| e.to_string())?;
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
    running.run_until(stop_signal()).await;
    say!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM (what service managers send).
async fn stop_signal() {
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

/// `alknet-http peer`: this node's fingerprint and the [[peer]] entry another node adds.
fn peer(config: &std::path::Path) -> Result<(), String> {
    let resolved = resolve(Some(config))?;
    let Some(certificate) = &resolved.node_certificate else {
        return Err(format!(
            "config {}: no [node] certificate: set `cert` and `key` in [node] (`generate = true` creates them for development)",
            config.display()
        ));
    };
    let fingerprint = certificate.fingerprint_sha256();
    say!("node {} fingerprint {fingerprint}", resolved.node_id);
    say!();
    say!("# for the other node's configuration:");
    say!("[[peer]]");
    say!("id = {:?}", resolved.node_id);
    say!("fingerprint = {fingerprint:?}");
    say!(
        "scopes = []                 # what {} may call there",
        resolved.node_id
    );
    match resolved.listeners.iter().find(|l| l.scheme() == "quic") {
        Some(quic) => say!(
            "dial = \"{}\"   # or leave out: then {} dials",
            quic.addr(),
            resolved.node_id
        ),
        None => say!("# no dial: this node has no QUIC listener, so it dials the other"),
    }
    Ok(())
}

fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(secret.as_bytes())
}

fn token_new(id: &str, scopes: &[String]) {
    let token = mint_token();
    let hash = token_hash(&token);
    say!("token:  {}", token.expose_secret());
    say!("sha256: {hash}");
    say!();
    say!("[[token]]");
    say!("id = {:?}", id);
    say!("sha256 = {hash:?}");
    say!("scopes = {scopes:?}");
}

/// The node's gateway, with the token of `--token-file` when one is given.
fn gateway(target: &Target) -> Result<GatewayClient, String> {
    let client = GatewayClient::new(&target.url).map_err(|e| describe(&e))?;
    Ok(match &target.token_file {
        Some(file) => {
            let token = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read token file {}: {e}", file.display()))?;
            client.with_token(token.trim())
        }
        None => client,
    })
}

/// The input argument as JSON (absent: null).
fn input_of(input: Option<&str>) -> Result<Value, String> {
    match input {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("input is not JSON: {e}")),
        None => Ok(Value::Null),
    }
}

/// A failed call as the command prints it: code, message, details.
fn describe(error: &CallError) -> String {
    let details = error
        .details
        .as_ref()
        .map(|d| format!(" {d}"))
        .unwrap_or_default();
    format!("{}: {}{details}", error.code, error.message)
}

async fn call(operation: &str, input: Option<&str>, target: &Target) -> Result<(), String> {
    let output: Value = gateway(target)?
        .call(operation, &input_of(input)?)
        .await
        .map_err(|e| describe(&e))?;
    say!(
        "{}",
        serde_json::to_string_pretty(&output).unwrap_or_default()
    );
    Ok(())
}

async fn subscribe(operation: &str, input: Option<&str>, target: &Target) -> Result<(), String> {
    let mut items = gateway(target)?
        .subscribe::<Value>(operation, &input_of(input)?)
        .await
        .map_err(|e| describe(&e))?;
    while let Some(item) = items.next().await {
        let item = item.map_err(|e| describe(&e))?;
        say!("{item}");
        let _ = std::io::stdout().flush();
    }
    Ok(())
}
