//! `SharedHttpClient` against a scripted HTTP/1.1 server on loopback (feature `http-client`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use alknet_http_core::client::{
    HttpClientConfig, HttpClientError, RetryPolicy, SharedHttpClient, reqwest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw: one line per request, `METHOD PATH user-agent`.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serves canned responses in order (the last one repeats), keeping connections alive.
async fn server(responses: Vec<String>) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let responses = Arc::new(responses);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (log, responses) = (log.clone(), responses.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let request_line = head.lines().next().unwrap_or_default().to_owned();
                    let agent = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("user-agent:")
                                .map(|v| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let n = {
                        let mut log = log.lock().unwrap();
                        let parts: Vec<&str> = request_line.split(' ').collect();
                        log.push(format!(
                            "{} {} {agent}",
                            parts[0],
                            parts.get(1).unwrap_or(&"")
                        ));
                        log.len() - 1
                    };
                    let response = &responses[n.min(responses.len() - 1)];
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn response(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

fn fast_config() -> HttpClientConfig {
    HttpClientConfig::default().with_retry_policy(
        RetryPolicy::default()
            .with_max_retries(2)
            .with_initial_backoff(Duration::from_millis(10))
            .with_max_backoff(Duration::from_millis(40))
            .with_max_retry_after(Duration::from_millis(300)),
    )
}

fn get(client: &SharedHttpClient, url: String) -> reqwest::Request {
    client.client().get(url).build().unwrap()
}

#[tokio::test]
async fn idempotent_requests_are_retried() {
    let (addr, seen) = server(vec![
        response("503 Service Unavailable", "", "busy"),
        response("502 Bad Gateway", "", ""),
        response("200 OK", "", "fine"),
    ])
    .await;
    let http = SharedHttpClient::new(fast_config()).unwrap();
    let reply = http
        .send(get(&http, format!("http://{addr}/pets")))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "fine");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn retries_stop_at_the_limit() {
    let (addr, seen) = server(vec![response("503 Service Unavailable", "", "busy")]).await;
    let http = SharedHttpClient::new(fast_config()).unwrap();
    let reply = http
        .send(get(&http, format!("http://{addr}/x")))
        .await
        .unwrap();
    assert_eq!(reply.status(), 503);
    assert_eq!(seen.lock().unwrap().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn post_is_not_retried() {
    let (addr, seen) = server(vec![
        response("503 Service Unavailable", "", ""),
        response("200 OK", "", ""),
    ])
    .await;
    let http = SharedHttpClient::new(fast_config()).unwrap();
    let request = http
        .client()
        .post(format!("http://{addr}/orders"))
        .body("{}")
        .build()
        .unwrap();
    assert_eq!(http.send(request).await.unwrap().status(), 503);
    assert_eq!(seen.lock().unwrap().as_slice().len(), 1);
}

#[tokio::test]
async fn retry_after_seconds_delays_the_retry_capped() {
    let (addr, seen) = server(vec![
        response("429 Too Many Requests", "retry-after: 5\r\n", ""),
        response("200 OK", "", "ok"),
    ])
    .await;
    let http = SharedHttpClient::new(fast_config()).unwrap();
    let started = std::time::Instant::now();
    let reply = http
        .send(get(&http, format!("http://{addr}/limited")))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(reply.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(
        waited >= Duration::from_millis(300),
        "honoured Retry-After up to the cap: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the cap applies: {waited:?}"
    );
    assert_eq!(http.tracked_urls(), 1);
}

#[tokio::test]
async fn retry_after_http_date_delays_the_next_request_to_that_url() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(20));
    let (addr, seen) = server(vec![
        response(
            "503 Service Unavailable",
            &format!("retry-after: {date}\r\n"),
            "",
        ),
        response("200 OK", "", "ok"),
    ])
    .await;
    let http = SharedHttpClient::new(fast_config()).unwrap();
    // A POST is not retried, but its Retry-After is remembered for the URL.
    let post = http
        .client()
        .post(format!("http://{addr}/jobs"))
        .body("x")
        .build()
        .unwrap();
    assert_eq!(http.send(post).await.unwrap().status(), 503);
    let started = std::time::Instant::now();
    assert_eq!(
        http.send(get(&http, format!("http://{addr}/jobs?page=2")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn reload_swaps_the_client() {
    let (addr, seen) = server(vec![response("200 OK", "", "")]).await;
    let http = SharedHttpClient::new(fast_config().with_user_agent("first/1")).unwrap();
    let before = http.client();
    http.send(get(&http, format!("http://{addr}/a")))
        .await
        .unwrap();
    http.reload(fast_config().with_user_agent("second/2"))
        .unwrap();
    assert!(!Arc::ptr_eq(&before, &http.client()));
    http.send(get(&http, format!("http://{addr}/b")))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec!["GET /a first/1", "GET /b second/2"]);
    // A bad configuration is refused and the working client stays.
    let bad = fast_config().with_ca_bundle(Some(b"not a pem".to_vec()));
    assert!(matches!(
        http.reload(bad),
        Err(HttpClientError::Certificate(_))
    ));
    assert!(
        http.send(get(&http, format!("http://{addr}/c")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn transport_failures_map_to_call_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let http = SharedHttpClient::new(fast_config()).unwrap();
    let error = http
        .send(get(&http, format!("http://{addr}/gone?api_key=k-secret")))
        .await
        .unwrap_err();
    assert!(error.is_connect());
    let call = alknet_http_core::client::call_error_from_reqwest(&error);
    assert_eq!(call.code, "INTERNAL");
    // The client sees a fixed text: no upstream address, no query, no key.
    assert_eq!(call.message, "upstream connection failed");
    let wire = serde_json::to_string(&call).unwrap();
    assert!(
        !wire.contains("k-secret") && !wire.contains(&addr.to_string()),
        "{wire}"
    );
    // A request timeout is TIMEOUT.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (_socket, _) = silent.accept().await.unwrap();
        futures::future::pending::<()>().await;
    });
    let http = SharedHttpClient::new(
        fast_config()
            .with_request_timeout(Duration::from_millis(200))
            .with_retry_policy(RetryPolicy::default().with_max_retries(0)),
    )
    .unwrap();
    let error = http
        .send(get(&http, format!("http://{silent_addr}/slow")))
        .await
        .unwrap_err();
    assert_eq!(
        alknet_http_core::client::call_error_from_reqwest(&error).code,
        "TIMEOUT"
    );
}
