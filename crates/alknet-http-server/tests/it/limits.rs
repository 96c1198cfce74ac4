//! Every limit, crossed: body size, header read timeout, idle keep-alive, request timeout,
//! connection count, HTTP/2 concurrent streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alknet_http_server::ServerLimits;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures::{adapter, client, start, start_with_limits};

const GUARD: Duration = Duration::from_secs(10);

fn limits() -> ServerLimits {
    ServerLimits::default()
}

/// Reads until the server closes the connection (0 bytes or an error); returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("server never closed the connection")
        {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let server = start_with_limits(limits().with_max_body_bytes(1024)).await;
    let http = client();
    let small = http
        .post(server.url("/call"))
        .body(vec![b'a'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    let big = http
        .post(server.url("/call"))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // The node keeps serving.
    let after = http
        .post(server.url("/call"))
        .body(vec![b'a'; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn the_decoy_answers_unknown_paths_alike_whatever_their_body() {
    let server = start_with_limits(limits().with_max_body_bytes(1024)).await;
    let http = client();
    let plain = http.get(server.url("/nothing/here")).send().await.unwrap();
    let (plain_status, plain_body) = (plain.status(), plain.text().await.unwrap());
    // Past the body limit, on an unknown path: the decoy, not a 413 that reveals the limit.
    let big = http
        .post(server.url("/nothing/here"))
        .body(vec![b'a'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), plain_status);
    assert_eq!(big.text().await.unwrap(), plain_body);
    server.shutdown().await;
}

#[tokio::test]
async fn clients_trickling_headers_are_cut_off_and_others_are_served_meanwhile() {
    let server = start_with_limits(limits().with_header_read_timeout(Duration::from_secs(2))).await;
    let started = std::time::Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // Never finish the head; the server must give up on us.
        stream
            .write_all(b"GET /search HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // While they hang (still open: nothing to read yet), an ordinary client is served.
    let ok = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let mut probe = [0u8; 1];
    assert!(
        matches!(slow[0].try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the hanging clients were cut off before the ordinary one was served"
    );
    for stream in &mut slow {
        let _ = read_until_closed(stream).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server =
        start_with_limits(limits().with_header_read_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /search HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let response = read_until_closed(&mut stream).await;
    assert!(
        String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"),
        "the request was served before the idle close"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn slow_handlers_get_408() {
    let server = start(
        adapter()
            .with_route(
                "/v1/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .with_limits(limits().with_request_timeout(Duration::from_millis(200)))
            .build(),
    )
    .await;
    let response = client().get(server.url("/v1/slow")).send().await.unwrap();
    assert_eq!(response.status(), 408);
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let server = start_with_limits(limits().with_max_connections(1)).await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(b"GET /search HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The first connection is alive (keep-alive); a second one is refused service.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    let _ = second
        .write_all(b"GET /search HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut second).await;
    assert!(
        answer.is_empty(),
        "no response beyond the limit: {:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    // Once the first is gone, a new connection is served again.
    let mut third = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let _ = stream
            .write_all(b"GET /search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = read_until_closed(&mut stream).await;
        if !answer.is_empty() {
            third = Some(answer);
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        String::from_utf8_lossy(&third.expect("never served again")).starts_with("HTTP/1.1 200")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn h2_concurrent_streams_are_capped() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let slow = get(move || {
        let (r, p) = (r.clone(), p.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            "done"
        }
    });
    let server = start(
        adapter()
            .with_route("/v1/slow", slow)
            .with_limits(limits().with_h2_max_concurrent_streams(1))
            .build(),
    )
    .await;
    alknet_http_core::client::install_crypto_provider();
    let h2 = alknet_http_core::client::reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let calls = (0..4).map(|_| h2.get(server.url("/v1/slow")).send());
    for response in futures::future::join_all(calls).await {
        let response = response.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        1,
        "one stream at a time on the connection"
    );
    server.shutdown().await;
}
