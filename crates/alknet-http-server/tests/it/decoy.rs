//! The decoy: uniform, revealing nothing; static-site and redirect modes.

use alknet_http_server::DecoyConfig;

use crate::fixtures::{adapter, client, start, text_of};

/// Status, headers (minus `date`, and `x-request-id`, which every answer carries with its own
/// value) and body, for byte-for-byte comparison.
async fn snapshot(
    response: alknet_http_core::client::reqwest::Response,
) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let status = response.status().as_u16();
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date" && *name != "x-request-id")
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn unknown_paths_and_methods_get_byte_identical_answers() {
    let server = start(adapter().build()).await;
    let http = client();
    let paths = [
        "/",
        "/admin",
        "/fs/readFile",
        "/.env",
        "/wp-login.php",
        "/alknet",
        "/call/extra",
        "/healthz/x",
        "/openapi.json",
        "/mcp",
        "/alknet/call",
        "/%2e%2e/etc/passwd",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    let mut first = None;
    for path in paths {
        for method in methods {
            let response = http
                .request(method.parse().unwrap(), server.url(path))
                .header("authorization", "Bearer whatever")
                .body("{\"operation\":\"x\"}")
                .send()
                .await
                .unwrap();
            let shot = snapshot(response).await;
            match &first {
                None => first = Some(shot),
                Some(expected) => assert_eq!(&shot, expected, "{method} {path}"),
            }
        }
    }
    let (status, headers, body) = first.unwrap();
    assert_eq!(status, 404);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!names.contains(&"server"), "{names:?}");
    assert!(!names.contains(&"www-authenticate"));
    assert!(!names.iter().any(|n| n.contains("alknet")));
    let body = String::from_utf8(body).unwrap();
    assert!(
        !body.to_lowercase().contains("alknet") && !body.contains('{'),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn no_response_anywhere_carries_a_server_header() {
    let server = start(adapter().build()).await;
    let http = client();
    for path in ["/healthz", "/search", "/nothing"] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert!(response.headers().get("server").is_none(), "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn static_site_serves_files_and_never_escapes_its_root() {
    let base = std::env::temp_dir().join(format!("alknet-decoy-{}", std::process::id()));
    let root = base.join("site");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<h1>Welcome</h1>").unwrap();
    std::fs::write(root.join("about.txt"), "about us").unwrap();
    std::fs::write(base.join("secret.txt"), "outside the root").unwrap();
    let server = start(
        adapter()
            .with_decoy(DecoyConfig::StaticSite { root: root.clone() })
            .build(),
    )
    .await;
    let http = client();
    assert_eq!(text_of(http.get(server.url("/"))).await, "<h1>Welcome</h1>");
    assert_eq!(
        text_of(http.get(server.url("/about.txt"))).await,
        "about us"
    );
    let missing = snapshot(http.get(server.url("/nope.html")).send().await.unwrap()).await;
    assert_eq!(missing.0, 404);
    for escape in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/about.txt/../../secret.txt",
    ] {
        let response = http.get(server.url(escape)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("outside the root"),
            "{escape} escaped: {status}"
        );
    }
    let post = snapshot(http.post(server.url("/about.txt")).send().await.unwrap()).await;
    assert_eq!(post, missing, "other methods get the same 404");
    server.shutdown().await;
    std::fs::remove_dir_all(base).unwrap();
}

#[tokio::test]
async fn redirect_sends_everything_elsewhere() {
    let server = start(
        adapter()
            .with_decoy(DecoyConfig::Redirect {
                to: "https://example.org/".into(),
            })
            .build(),
    )
    .await;
    let http = client();
    for (method, path) in [("GET", "/"), ("POST", "/fs/readFile"), ("PUT", "/x/y")] {
        let response = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{method} {path}");
        assert_eq!(response.headers()["location"], "https://example.org/");
    }
    server.shutdown().await;
}
