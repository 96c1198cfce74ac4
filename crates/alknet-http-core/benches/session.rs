//! Echo calls over one QUIC connection through the session engine, with 1 and 64 calls in
//! flight, against quinn streams echoing the same envelope bytes (one bidirectional stream per
//! call) as the baseline, in the same run.
//!
//! ```sh
//! cargo bench -p alknet-http-core --features quic --bench session
//! ```
#![allow(missing_docs)]

use std::sync::Arc;

use alknet_http_core::quic::{
    QuicConfig, QuicDialer, QuicServer, ServerIdentity, ServerVerification, quinn, rustls,
};
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::{
    CallRequested, Capabilities, EventEnvelope, HandlerKind, OperationRegistry, OperationSpec,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("bench/echo"),
            HandlerKind::once(|input, _| async move { Ok(input) }),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

async fn session_pair() -> Session {
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let pin = identity.fingerprint_sha256();
    let server = QuicServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        identity,
        QuicConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(|_| SessionOptions::new(registry()), |_| {}));
    let dialer = QuicDialer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ServerVerification::pinned([pin]),
        QuicConfig::default(),
    )
    .unwrap();
    dialer
        .connect(addr, "localhost", SessionOptions::new(registry()))
        .await
        .unwrap()
}

/// A raw quinn echo server: every bidirectional stream gets its bytes back.
async fn raw_pair() -> quinn::Connection {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = generated.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(generated.signing_key.serialize_der()).unwrap();
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .unwrap();
    tls.alpn_protocols = vec![b"echo".to_vec()];
    let server_config = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap(),
    ));
    let server = quinn::Endpoint::server(server_config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let connection = incoming.await.unwrap();
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    tokio::spawn(async move {
                        let bytes = recv.read_to_end(1 << 20).await.unwrap();
                        send.write_all(&bytes).await.unwrap();
                        let _ = send.finish();
                    });
                }
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let mut client_tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client_tls.alpn_protocols = vec![b"echo".to_vec()];
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).unwrap(),
    )));
    client.connect(addr, "localhost").unwrap().await.unwrap()
}

async fn raw_echo(connection: &quinn::Connection, bytes: &[u8]) {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    send.finish().unwrap();
    let back = recv.read_to_end(1 << 20).await.unwrap();
    assert_eq!(back.len(), bytes.len());
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let session = runtime.block_on(session_pair());
    let raw = runtime.block_on(raw_pair());
    let input = json!({ "message": "hello, world", "n": 42 });
    let envelope = serde_json::to_vec(&EventEnvelope::requested(
        "0b9f2d8e-6f5b-4f1e-9a55-0c6e2c1f4a10",
        &CallRequested::new("/bench/echo", input.clone()),
    ))
    .unwrap();

    for in_flight in [1usize, 64] {
        let mut group = c.benchmark_group(format!("quic_echo_{in_flight}_in_flight"));
        group.throughput(Throughput::Elements(in_flight as u64));
        group.bench_function("raw_quinn_streams", |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let calls = (0..in_flight).map(|_| raw_echo(&raw, &envelope));
                    futures::future::join_all(calls).await;
                });
            });
        });
        group.bench_function("session_call", |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let calls = (0..in_flight).map(|_| session.call("/bench/echo", input.clone()));
                    for result in futures::future::join_all(calls).await {
                        result.unwrap();
                    }
                });
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
