//! `alknet-http`: run a node, mint tokens, and call a node's gateway.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use alknet_http::command::{ServeOptions, registry_of, resolve, serve};
use alknet_http::config::NodeConfig;
use alknet_http::core::CallError;
use alknet_http::core::identity::{mint_token, token_hash};
use alknet_http::core::{OperationRegistry, Visibility};
use alknet_http::demo;
use alknet_http::gateway::client::GatewayClient;
use alknet_http::telemetry::TraceExport;
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
    /// Log filter, e.g. `info`, `debug` or `alknet_http_server=debug`; the access log (one
    /// line per call) is the target `alknet::access` (`info,alknet::access=off` silences it).
    #[arg(
        long,
        global = true,
        default_value = "info,rmcp=warn,alknet::call=warn,alknet::http=warn"
    )]
    log: String,
    /// `text` (coloured only on a terminal) or `json` (one JSON object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
    let export = match trace_export(&cli.command) {
        Ok(export) => export,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    init_logs(filter, cli.log_format, export.as_ref());
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
            } => {
                let options = ServeOptions::new(config)
                    .listen(listen)
                    .dev_token_file(dev_token_file);
                serve(options, |builder, _| builder).await
            }
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
    if let Some(export) = export {
        export.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `alknet-http types`: the TypeScript declarations of every External operation the
/// configuration serves (whatever a caller's scopes; the node's `/alknet/types.d.ts` answers
/// per caller).
async fn types(config: Option<PathBuf>) -> Result<(), String> {
    let resolved = resolve(config.as_deref())?;
    let (registry, summaries) = registry_of(
        OperationRegistry::builder(),
        resolved.demo,
        resolved.imports,
    )
    .await?;
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

/// The trace export `serve --config` asks for in `[telemetry]`, started.
fn trace_export(command: &Command) -> Result<Option<TraceExport>, String> {
    let Command::Serve {
        config: Some(path), ..
    } = command
    else {
        return Ok(None);
    };
    // A configuration that does not load is reported by `serve` itself.
    let Ok((config, base)) = NodeConfig::load(path) else {
        return Ok(None);
    };
    let otlp = config
        .telemetry
        .otlp(&base)
        .map_err(|e| format!("config {}: {e}", path.display()))?;
    otlp.map(|otlp| TraceExport::start(&otlp)).transpose()
}

/// Logs to stderr as text (coloured only on a terminal) or JSON, filtered by `filter`, and the
/// trace export's spans when there is one.
fn init_logs(
    filter: tracing_subscriber::EnvFilter,
    format: LogFormat,
    export: Option<&TraceExport>,
) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
    };
    let mut layers = vec![logs];
    if let Some(export) = export {
        layers.push(export.layer().boxed());
    }
    tracing_subscriber::registry().with(layers).init();
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
