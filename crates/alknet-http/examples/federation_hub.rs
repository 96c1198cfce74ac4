//! A hub that composes its peers: it serves a node configuration exactly as
//! `alknet-http serve --config` does, plus `hub/greet-all`, a Query that greets a name on every
//! peer it imports from with a prefix (`<prefix>/demo/greet`), concurrently, and answers each
//! peer's greeting or error code by peer id.
//!
//! ```text
//! cargo run --example federation_hub -- --config hub.toml
//! ```
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use alknet_http::command::{ServeOptions, serve};
use alknet_http::core::{
    AccessControl, CallError, CompositionAuthority, OperationContext, OperationSpec, ScopedPeerEnv,
};
use alknet_http::demo::Name;
use serde_json::{Value, json};

/// Who `hub/greet-all` calls: each importing peer's id and its greet operation's local name.
fn greeters(config: &alknet_http::config::Resolved) -> Vec<(String, String)> {
    let Some(federation) = &config.federation else {
        return Vec::new();
    };
    federation
        .peers
        .iter()
        .filter_map(|peer| {
            let prefix = peer.import.as_ref()?.prefix.as_ref()?;
            Some((peer.id().to_owned(), format!("{prefix}/demo/greet")))
        })
        .collect()
}

async fn greet_all(
    greeters: Vec<(String, String)>,
    input: Name,
    ctx: OperationContext,
) -> Result<BTreeMap<String, Value>, CallError> {
    let calls = greeters.iter().map(|(peer, operation)| {
        let ctx = &ctx;
        let input = json!({ "name": input.name });
        async move {
            let answer = match ctx.call(operation, input).await {
                Ok(greeting) => greeting,
                Err(error) => json!({ "error": error.code }),
            };
            (peer.clone(), answer)
        }
    });
    Ok(futures::future::join_all(calls).await.into_iter().collect())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let config = match (args.next().as_deref(), args.next()) {
        (Some("--config"), Some(path)) => PathBuf::from(path),
        _ => {
            eprintln!("usage: federation_hub --config <hub.toml>");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,rmcp=warn"))
        .with_writer(std::io::stderr)
        .init();
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("error: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    let served = runtime.block_on(serve(ServeOptions::new(Some(config)), |builder, config| {
        let greeters = greeters(config);
        let reachable: Vec<String> = greeters.iter().map(|(_, op)| op.clone()).collect();
        builder.with(
            OperationSpec::query("hub/greet-all")
                .with_description("Greets a name on every peer, concurrently")
                .with_access_control(AccessControl::scopes(["demo:read"]))
                .handled_by(move |input: Name, ctx: OperationContext| {
                    greet_all(greeters.clone(), input, ctx)
                })
                // The hub calls its peers as itself, with the scope their greet needs.
                .with_authority(CompositionAuthority::new("hub", ["demo:read"]))
                .with_scoped_env(ScopedPeerEnv::allowing(reachable)),
        )
    }));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
