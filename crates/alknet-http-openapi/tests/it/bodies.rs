//! Request and response bodies of every common media type, forwarded to a real FastAPI
//! upstream (`tests/upstream/bodies_app.py`, imported from its own `/openapi.json`): form
//! fields, multipart files and fields, raw text and raw bytes reach it byte for byte, and
//! its text and binary responses come back with their content type. `cargo xtask
//! openapi-e2e` makes a venv with FastAPI and runs this with `ALKNET_E2E_FASTAPI_PYTHON`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient, reqwest};
use alknet_http_core::dispatch::GatewayDispatch;
use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{OperationRegistry, Visibility};
use alknet_http_openapi::import::{FromOpenApi, HttpServiceConfig, ImportOptions, OpenApiSpec};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

/// The FastAPI app, killed when dropped.
struct App {
    child: Child,
    base: String,
}

impl App {
    fn start() -> App {
        let python = std::env::var_os("ALKNET_E2E_FASTAPI_PYTHON")
            .expect("set ALKNET_E2E_FASTAPI_PYTHON (cargo xtask openapi-e2e does)");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream/bodies_app.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the app prints its port");
        let port: u16 = line.trim().parse().expect("a port");
        App {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn import(app: &App) -> GatewayDispatch {
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    let document = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let report = FromOpenApi::new(
        OpenApiSpec::from_str(&document).unwrap(),
        HttpServiceConfig::new("up", &app.base),
        http,
    )
    .with_options(ImportOptions::default().with_visibility(Visibility::External))
    .plan()
    .unwrap();
    assert!(report.skipped.is_empty(), "{}", report.summary());
    let registry = OperationRegistry::builder()
        .with_all(report.into_registrations())
        .build()
        .unwrap();
    GatewayDispatch::new(registry, Arc::new(AnonymousOnly))
}

async fn call(d: &GatewayDispatch, op: &str, input: Value) -> Value {
    match d.invoke(None, op, input).await.result {
        Ok(out) => out,
        Err(e) => panic!("{op}: {e:?}"),
    }
}

#[tokio::test]
#[ignore = "needs a Python with FastAPI; run by `cargo xtask openapi-e2e`"]
async fn every_common_body_reaches_a_fastapi_upstream_byte_correct() {
    let app = App::start();
    let d = import(&app).await;

    // A form: fields, a repeated (exploded) list, a number; characters that need escaping.
    let out = call(
        &d,
        "/up/form",
        json!({"body": {"name": "a b&c=d é", "tags": ["x", "y z"], "count": 3}}),
    )
    .await;
    assert_eq!(
        out,
        json!({"name": "a b&c=d é", "tags": ["x", "y z"], "count": 3})
    );

    // Multipart: a file (all 256 byte values), a list of files, a field.
    let file: Vec<u8> = (0..=255u8).rev().collect();
    let out = call(
        &d,
        "/up/upload",
        json!({"body": {
            "note": "n1",
            "file": {"base64": b64(&file), "filename": "f.bin", "content_type": "application/x-test"},
            "extras": [{"base64": b64(b"one"), "filename": "1.txt"}, {"base64": b64(b""), "filename": "2.txt"}]
        }}),
    )
    .await;
    assert_eq!(out["note"], "n1");
    assert_eq!(out["filename"], "f.bin");
    assert_eq!(out["content_type"], "application/x-test");
    assert_eq!(
        (out["sha256"].as_str(), out["size"].as_u64()),
        (Some(sha256(&file).as_str()), Some(256))
    );
    assert_eq!(
        out["extras"][0],
        json!({"sha256": sha256(b"one"), "size": 3, "filename": "1.txt"})
    );
    assert_eq!(out["extras"][1]["size"], 0);

    // Raw text and raw bytes.
    let out = call(&d, "/up/text", json!({"body": "line 1\nlïne 2 <&>"})).await;
    assert_eq!(
        out,
        json!({"content_type": "text/plain", "text": "line 1\nlïne 2 <&>"})
    );
    let bytes = [0u8, 1, 2, 254, 255, 10, 13];
    let out = call(&d, "/up/binary", json!({"body": b64(&bytes)})).await;
    assert_eq!(out["content_type"], "application/octet-stream");
    assert_eq!(out["sha256"], sha256(&bytes));

    // Responses that are not JSON come back with their content type.
    let out = call(&d, "/up/image", json!({})).await;
    assert_eq!(out["content_type"], "image/png");
    let image = base64::engine::general_purpose::STANDARD
        .decode(out["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(image, (0..=255u8).collect::<Vec<_>>());
    let out = call(&d, "/up/plain", json!({})).await;
    assert_eq!(out["text"], "héllo\nwörld");
    assert!(
        out["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain")
    );

    // What the schema gate refuses never reaches the upstream.
    let refused = d
        .invoke(None, "/up/binary", json!({"body": "%%%"}))
        .await
        .result
        .unwrap_err();
    assert_eq!(refused.code, "INVALID_INPUT");
    let refused = d
        .invoke(None, "/up/upload", json!({"body": {"note": "n"}}))
        .await
        .result
        .unwrap_err();
    assert_eq!(refused.code, "INVALID_INPUT");
}
