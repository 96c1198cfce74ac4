use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http_core::tls::ServerIdentity;
use alknet_http_core::{
    AccessControl, Capabilities, CompositionAuthority, HandlerKind, Identity, OperationRegistry,
    OperationSpec, PeerRef, ScopedPeerEnv, StaticTokenProvider,
};
use alknet_http_server::{HttpServerBuilder, Surface};
use alknet_http_ws::client::{self, ClientOptions};
use alknet_http_ws::{Sessions, WsConfig, WsLimits, router};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) const TOKEN: &str = "alk_ws_test_token_0123456789abcdef";
pub(crate) use alknet_http_tests::within;

type Slot = Arc<Mutex<Option<oneshot::Sender<()>>>>;

#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) started: Arc<Notify>,
    pub(crate) dropped: Slot,
    pub(crate) child_dropped: Slot,
}

impl Hooks {
    pub(crate) fn watch(slot: &Slot) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *slot.lock().unwrap() = Some(tx);
        rx
    }
}

fn take(slot: &Slot) -> Option<oneshot::Sender<()>> {
    slot.lock().unwrap().take()
}

pub(crate) fn hub_registry(hooks: &Hooks) -> OperationRegistry {
    let h = hooks.clone();
    let watch = HandlerKind::stream(move |_, ctx| {
        let guard = take(&h.dropped);
        let started = h.started.clone();
        futures::stream::once(async { Ok(json!("watching")) })
            .chain(futures::stream::once(async move {
                started.notify_one();
                ctx.call("hub/hang", json!({})).await
            }))
            .map(move |item| {
                let _keep = &guard;
                item
            })
    });
    let h = hooks.clone();
    let hang = HandlerKind::once(move |_, _| {
        let guard = take(&h.child_dropped);
        async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
            Ok(json!(null))
        }
    });
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("hub/echo"),
            HandlerKind::once(|i, _| async move { Ok(i) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("hub/bulk"),
            HandlerKind::once(|i: serde_json::Value, _| async move {
                let n = i["n"].as_u64().unwrap_or(0) as usize;
                Ok(json!("x".repeat(n)))
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("hub/whoami"),
            HandlerKind::once(
                |_, ctx| async move { Ok(json!(ctx.identity().map(|i| i.id.clone()))) },
            ),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("hub/admin").with_access_control(AccessControl::scopes(["admin"])),
            HandlerKind::once(|_, _| async { Ok(json!("admin")) }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("hub/ticks"),
            HandlerKind::stream(|input: Value, _| {
                futures::stream::iter(
                    (0..input["count"].as_u64().unwrap_or(3)).map(|n| Ok(json!(n))),
                )
            }),
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::subscription("hub/watch"),
            watch,
            Some(CompositionAuthority::new("hub", Vec::<String>::new())),
            Some(ScopedPeerEnv::allowing(["hub/hang"])),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("hub/hang").internal(),
            hang,
            Capabilities::new(),
        )
        .with_local(
            OperationSpec::query("hub/reach-browser"),
            HandlerKind::once(|input: Value, ctx| async move {
                let peer = PeerRef::Specific(input["peer"].as_str().unwrap_or_default().to_owned());
                ctx.call_peer(&peer, "client/name", json!({})).await
            }),
            Some(CompositionAuthority::new("hub", Vec::<String>::new())),
            Some(ScopedPeerEnv::allowing(["client/name"]).with_pin("browser", "client/name")),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

pub(crate) struct Hub {
    pub(crate) addr: SocketAddr,
    pub(crate) tls_addr: SocketAddr,
    pub(crate) cert: Vec<u8>,
    pub(crate) sessions: Sessions,
    pub(crate) hooks: Hooks,
    pub(crate) shutdown: CancellationToken,
    _stop: oneshot::Sender<()>,
}

pub(crate) async fn hub(limits: WsLimits) -> Hub {
    hub_with(limits, true, None).await
}

/// A hub; `extended_connect` says whether HTTP/2 advertises WebSockets; `page` is served at
/// `/e2e/page.html`.
#[allow(dead_code)]
pub(crate) async fn hub_with(
    limits: WsLimits,
    extended_connect: bool,
    page: Option<String>,
) -> Hub {
    let hooks = Hooks::default();
    let provider = Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("browser").with_scopes(["demo"]))
            .unwrap(),
    );
    let registry = hub_registry(&hooks);
    let sessions = Sessions::new();
    let shutdown = CancellationToken::new();
    let config = WsConfig::default()
        .with_limits(limits)
        .with_shutdown(shutdown.clone());
    let dispatch = alknet_http_core::GatewayDispatch::new(registry.clone(), provider.clone());
    let fragment = router(dispatch, config, sessions.clone());
    let mut adapter = HttpServerBuilder::new(provider, registry)
        .with_surface(Surface::new(
            "ws",
            ["/alknet/call", "/alknet/client.mjs"],
            fragment,
        ))
        .with_extended_connect(extended_connect);
    if let Some(page) = page {
        adapter = adapter.with_route(
            "/e2e/page.html",
            axum::routing::get(move || {
                let page = page.clone();
                async move { axum::response::Html(page) }
            }),
        );
    }
    let server = adapter.build();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let cert = identity.certificate_der().to_vec();
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = futures::FutureExt::shared(async move {
        let _ = stopped.await;
    });
    tokio::spawn(server.clone().serve(plain, stopped.clone()));
    tokio::spawn(async move { server.serve_tls(tls, &identity, stopped).await });
    Hub {
        addr,
        tls_addr,
        cert,
        sessions,
        hooks,
        shutdown,
        _stop: stop,
    }
}

pub(crate) fn options() -> ClientOptions {
    ClientOptions::new(Some(TOKEN.to_owned()))
}

pub(crate) async fn connect_h1(
    hub: &Hub,
    options: ClientOptions,
) -> Result<alknet_http_core::session::Session, client::WsClientError> {
    client::connect(&format!("ws://{}/alknet/call", hub.addr), options).await
}

pub(crate) async fn tls_stream(
    hub: &Hub,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(tokio_rustls::rustls::pki_types::CertificateDer::from(
            hub.cert.clone(),
        ))
        .unwrap();
    let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(
        alknet_http_core::tls::provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(hub.tls_addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(alpn));
    stream
}

pub(crate) async fn connect_h2(
    hub: &Hub,
    options: ClientOptions,
) -> Result<alknet_http_core::session::Session, client::WsClientError> {
    let tls = tls_stream(hub, b"h2").await;
    client::connect_h2(
        tls,
        "https",
        &format!("localhost:{}", hub.tls_addr.port()),
        "/alknet/call",
        options,
    )
    .await
}

/// Waits until the hub lists `n` sessions (the server registers them from its upgrade task).
pub(crate) async fn sessions_listed(hub: &Hub, n: usize) -> Vec<alknet_http_ws::SessionInfo> {
    within(async {
        loop {
            let list = hub.sessions.list();
            if list.len() >= n {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}
