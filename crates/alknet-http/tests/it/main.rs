//! The real `alknet-http` binary, started with temporary configurations and driven over
//! sockets by its own client subcommands.

mod cli;
#[cfg(feature = "nats")]
mod cluster;
#[cfg(feature = "nats")]
mod cluster_browser;
#[cfg(feature = "console")]
mod console;
mod federation;
mod lifecycle;
mod mcp_sdk;
#[cfg(feature = "nats")]
mod nginx;
mod oidc;
mod otlp;
mod prism;
mod prometheus;
mod typescript;

/// `node` started on a loopback HTTP listener, and its base URL.
pub(crate) async fn on_loopback(
    node: alknet_http::NodeBuilder,
) -> (alknet_http::RunningNode, String) {
    let node = node
        .listen(alknet_http::Listener::Http("127.0.0.1:0".parse().unwrap()))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", node.addresses()[0].addr);
    (node, base)
}
