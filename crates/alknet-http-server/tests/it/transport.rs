//! Transports: h1 and h2c on plain TCP, TLS with ALPN, in-memory duplex; graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::client::{install_crypto_provider, reqwest};
use alknet_http_core::tls::ServerIdentity;
use axum::routing::get;
use http_body_util::BodyExt;
use tokio::sync::Notify;

use crate::fixtures::{adapter, client, start};

#[tokio::test]
async fn plain_tcp_serves_http1_and_h2c() {
    let server = start(adapter().build()).await;
    install_crypto_provider();
    let h1 = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .build()
        .unwrap();
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    assert_eq!(
        h1.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .version(),
        http::Version::HTTP_11
    );
    assert_eq!(
        h2.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .version(),
        http::Version::HTTP_2
    );
    server.shutdown().await;
}

struct TlsServer {
    addr: std::net::SocketAddr,
    der: Vec<u8>,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_tls() -> TlsServer {
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let der = identity.certificate_der().to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = adapter().build();
    tokio::spawn(async move {
        server
            .serve_tls(listener, &identity, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    TlsServer { addr, der, stop }
}

fn tls_client(der: &[u8], http1_only: bool) -> reqwest::Client {
    install_crypto_provider();
    let builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_der(der).unwrap()]);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_negotiates_h2_or_http1_by_alpn() {
    let server = start_tls().await;
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let h2 = tls_client(&server.der, false)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), http::Version::HTTP_2);
    assert_eq!(h2.text().await.unwrap(), "ok");
    let h1 = tls_client(&server.der, true)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), http::Version::HTTP_11);
    let _ = server.stop.send(());
}

#[tokio::test]
async fn tls_offers_only_h2_and_http1() {
    let server = start_tls().await;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(tokio_rustls::rustls::pki_types::CertificateDer::from(
            server.der.clone(),
        ))
        .unwrap();
    let connect = |alpn: Vec<Vec<u8>>| {
        let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(
            alknet_http_core::tls::provider(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
        config.alpn_protocols = alpn;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let addr = server.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            connector
                .connect("localhost".try_into().unwrap(), tcp)
                .await
        }
    };
    assert!(
        connect(vec![b"h3".to_vec()]).await.is_err(),
        "h3 is never negotiated"
    );
    let stream = connect(vec![b"h3".to_vec(), b"h2".to_vec()]).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let stream = connect(vec![b"http/1.1".to_vec()]).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let _ = server.stop.send(());
}

#[tokio::test]
async fn serves_over_an_in_memory_duplex() {
    let server = adapter().build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move { server.serve_connection(server_io).await });
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(client_io))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            http::Request::builder()
                .uri("/healthz")
                .header("host", "node")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        &response.into_body().collect().await.unwrap().to_bytes()[..],
        b"ok"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let started = Arc::new(Notify::new());
    let s = started.clone();
    let slow = get(move || {
        let s = s.clone();
        async move {
            s.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            "finished"
        }
    });
    let server = start(adapter().with_route("/v1/slow", slow).build()).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(client().get(server.url("/v1/slow")).send());
    started.notified().await;
    let shutting_down = tokio::spawn(server.shutdown());
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    tokio::time::timeout(Duration::from_secs(10), shutting_down)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
