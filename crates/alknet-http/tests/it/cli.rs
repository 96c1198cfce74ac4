use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");
const TOKEN: &str = "alk_e2e_test_token_with_enough_entropy_0123456789";

pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alknet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn token_config(dir: &Path) -> PathBuf {
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let config = format!(
        "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n[[token]]\nid = \"e2e\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n\n[gateway]\nsse_ping_interval_ms = 100\n"
    );
    let path = dir.join("node.toml");
    std::fs::write(&path, config).unwrap();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    path
}

pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// What the node prints after its first `listening on` line.
    pub(crate) lines: mpsc::Receiver<String>,
    /// What the node printed before its first `listening on` line (import summaries).
    pub(crate) preamble: Vec<String>,
}

impl Served {
    /// Sends `SIGHUP` and waits for the node to say the reload took effect (passing over
    /// what it printed before, such as the development token's banner).
    pub(crate) fn reload_credentials(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).expect("no reload line");
            if line.starts_with("credentials reloaded: ") {
                return;
            }
            assert!(!line.contains("not reloaded"), "{line}");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--log", "warn"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut preamble = Vec::new();
    let first = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the node did not start; it printed {preamble:?}"));
        if line.contains(" listening on ") {
            break line;
        }
        preamble.push(line);
    };
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(first.contains("listening on http://127.0.0.1:"), "{first}");
    Served {
        child,
        url,
        lines,
        preamble,
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn serve_call_subscribe_and_stop_cleanly() {
    let dir = temp_dir("serve");
    let config = token_config(&dir);
    let mut node = serve(&["--config", config.to_str().unwrap()]);
    let token_file = dir.join("token");
    let token_file = token_file.to_str().unwrap();

    let echo = run(&[
        "call",
        "/demo/echo",
        r#"{"hello":"world"}"#,
        "--url",
        &node.url,
    ]);
    assert!(echo.status.success(), "{}", text(&echo.stderr));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&echo.stdout).unwrap(),
        serde_json::json!({"hello": "world"})
    );

    let greet = run(&[
        "call",
        "/demo/greet",
        r#"{"name":"ada"}"#,
        "--url",
        &node.url,
        "--token-file",
        token_file,
    ]);
    assert!(
        text(&greet.stdout).contains("hello, ADA!"),
        "{}",
        text(&greet.stderr)
    );

    let denied = run(&[
        "call",
        "/demo/admin",
        "--url",
        &node.url,
        "--token-file",
        token_file,
    ]);
    assert!(!denied.status.success());
    assert!(
        text(&denied.stderr).contains("FORBIDDEN: missing required scope"),
        "{}",
        text(&denied.stderr)
    );

    let taken = run(&[
        "call",
        "/demo/register",
        r#"{"name":"admin"}"#,
        "--url",
        &node.url,
        "--token-file",
        token_file,
    ]);
    assert!(
        text(&taken.stderr).contains(r#"NAME_TAKEN: admin is already registered {"name":"admin"}"#),
        "{}",
        text(&taken.stderr)
    );

    let ticks = run(&[
        "subscribe",
        "/demo/ticks",
        r#"{"count":3,"interval_ms":10}"#,
        "--url",
        &node.url,
    ]);
    assert!(ticks.status.success(), "{}", text(&ticks.stderr));
    let lines: Vec<String> = text(&ticks.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[2].contains("\"terminal\":true"));

    // Ctrl-C: a clean shutdown.
    let status = Command::new("kill")
        .args(["-INT", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = node
        .lines
        .recv_timeout(Duration::from_secs(30))
        .expect("no shutdown message");
    assert_eq!(stopped, "stopped");
    let exit = node.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_embedded_default_prints_a_dev_token_once() {
    let dir = temp_dir("embedded");
    let token_file = dir.join("dev-token");
    let node = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    let token_line = node.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        token_line.starts_with("dev token (shown once; scopes demo:read, demo:write): alk_"),
        "{token_line}"
    );
    let export = node.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    let curl = node.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(export.trim().starts_with("export TOKEN=alk_"));
    assert!(
        curl.trim()
            .starts_with(&format!("curl -s {}/call", node.url)),
        "{curl}"
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token_line.ends_with(&token));
    let greet = run(&[
        "call",
        "/demo/greet",
        r#"{"name":"bo"}"#,
        "--url",
        &node.url,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert!(
        text(&greet.stdout).contains("hello, BO!"),
        "{}",
        text(&greet.stderr)
    );
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_public_bind_without_tokens_is_refused() {
    let output = run(&["serve", "--listen", "0.0.0.0:0", "--log", "off"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: refusing to listen on 0.0.0.0:0 without a configured token"),
        "{stderr}"
    );
}

#[test]
fn configuration_errors_are_one_clear_line() {
    let dir = temp_dir("config-errors");
    let cases = [
        ("bad.toml", "demo = true\n[[listen]\n", "line 2"),
        ("typo.toml", "demoo = true\n", "demoo"),
        (
            "cert.toml",
            "[[listen]]\nkind = \"tls\"\naddr = \"127.0.0.1:0\"\ncert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n",
            "missing-cert.pem",
        ),
        (
            "hash.toml",
            "[[token]]\nid = \"alice\"\nsha256 = \"not-a-hash\"\n",
            "token `alice`",
        ),
    ];
    for (file, content, needle) in cases {
        let path = dir.join(file);
        std::fs::write(&path, content).unwrap();
        let output = run(&["serve", "--config", path.to_str().unwrap(), "--log", "off"]);
        assert!(!output.status.success(), "{file}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{file}: {stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains(file),
            "{file}: {stderr}"
        );
    }
    let missing = run(&[
        "serve",
        "--config",
        dir.join("nope.toml").to_str().unwrap(),
        "--log",
        "off",
    ]);
    assert!(
        text(&missing.stderr).contains("cannot read config"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn token_new_prints_a_token_and_its_hash() {
    let output = run(&["token", "new", "--id", "alice", "--scope", "demo:read"]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token:  "))
        .unwrap();
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sha256: "))
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(token.as_bytes())), hash);
    assert!(stdout.contains("[[token]]") && stdout.contains("scopes = [\"demo:read\"]"));
    // The printed entry is a valid configuration.
    let entry: String = stdout
        .lines()
        .skip_while(|l| *l != "[[token]]")
        .collect::<Vec<_>>()
        .join("\n");
    alknet_http::config::NodeConfig::parse(&entry)
        .unwrap()
        .resolve(Path::new("."))
        .unwrap();
}

#[test]
fn every_curl_line_of_the_readme_works() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for this test (Debian package `curl`)");
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let lines: Vec<&str> = readme.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(lines.len() >= 8, "the README lost its curl examples");
    let dir = temp_dir("readme");
    let token_file = dir.join("dev-token");
    let node = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let host = node.url.trim_start_matches("http://").to_owned();
    for line in lines {
        // Verbatim but for the port the test node got.
        let command = line.replace("127.0.0.1:8080", &host);
        let output = Command::new("bash")
            .args(["-c", &command])
            .env("TOKEN", &token)
            .output()
            .unwrap();
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{line}: {}", text(&output.stderr));
        assert!(!stdout.is_empty(), "{line}: no output");
        // What each README line must show; the first matching needle wins.
        const EXPECTATIONS: [(&str, &str); 10] = [
            ("/openapi.json", "\"openapi\":\"3.1.0\""),
            ("/healthz", "ok"),
            ("\"admin\"", "NAME_TAKEN"),
            ("-i ", "www-authenticate: Bearer"),
            ("/batch", "\"status\":403"),
            ("/subscribe", "event: completed"),
            ("/demo/greet", "hello, ADA!"),
            ("/schema", "\"error_schemas\""),
            ("Bearer $TOKEN", "demo/register"),
            ("", "demo/echo"),
        ];
        let expectation = EXPECTATIONS
            .iter()
            .find(|(needle, _)| line.contains(needle))
            .map_or("", |(_, expected)| *expected);
        assert!(
            stdout.to_lowercase().contains(&expectation.to_lowercase()),
            "{line}\n{stdout}"
        );
    }
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_node_serves_the_websocket_session() {
    let dir = temp_dir("ws");
    let config = token_config(&dir);
    let node = serve(&["--config", config.to_str().unwrap()]);
    let url = node.url.replace("http://", "ws://") + "/alknet/call";
    let options = alknet_http::ws::client::ClientOptions::new(Some(TOKEN.to_owned()));
    let session = alknet_http::ws::client::connect(&url, options)
        .await
        .unwrap();
    let greeting = session
        .call("/demo/greet", serde_json::json!({"name": "ws"}))
        .await
        .unwrap();
    assert_eq!(greeting, serde_json::json!({"greeting": "hello, WS!"}));
    let refused =
        alknet_http::ws::client::connect(&url, alknet_http::ws::client::ClientOptions::new(None))
            .await;
    assert!(matches!(
        refused,
        Err(alknet_http::ws::client::WsClientError::Refused(401))
    ));
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--log-format json` writes one JSON line per call (the access log); text logs are not
/// coloured when stderr is not a terminal.
#[tokio::test]
async fn the_access_log_is_one_json_line_per_call() {
    let dir = temp_dir("access-log");
    let config = token_config(&dir);
    for format in ["json", "text"] {
        let log = dir.join(format!("{format}.log"));
        let mut child = Command::new(BIN)
            .args(["serve", "--log", "info", "--log-format", format, "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the node printed its address").unwrap();
            if let Some((_, url)) = line.split_once(" listening on ") {
                break url.to_owned();
            }
        };
        let gateway = alknet_http::gateway::client::GatewayClient::new(&url)
            .unwrap()
            .with_token(TOKEN);
        // The caller's trace context names the call's trace in its access line, though no
        // span is exported.
        let greeted = alknet_http::core::client::reqwest::Client::new()
            .post(format!("{url}/call"))
            .bearer_auth(TOKEN)
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(r#"{"operation":"/demo/greet","input":{"name":"log"}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(greeted.status(), 200);
        let refused = gateway
            .call::<serde_json::Value>("/demo/register", &serde_json::json!({"name": "admin"}))
            .await
            .unwrap_err();
        assert_eq!(refused.code, "NAME_TAKEN");
        // The access line is written as the call ends; give the writer a moment.
        std::thread::sleep(Duration::from_millis(200));
        let _ = child.kill();
        let _ = child.wait();
        let written = std::fs::read_to_string(&log).unwrap();
        assert!(
            !written.contains('\u{1b}'),
            "no colour off a terminal: {written}"
        );
        if format == "json" {
            let calls: Vec<serde_json::Value> = written
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect(l))
                .filter(|l| l["target"] == "alknet::access")
                .collect();
            assert_eq!(calls.len(), 2, "{written}");
            assert_eq!(calls[0]["operation"], "demo/greet");
            assert_eq!(calls[0]["code"], "OK");
            assert_eq!(calls[0]["identity"], "e2e");
            assert_eq!(calls[0]["surface"], "gateway");
            assert_eq!(calls[0]["request_id"].as_str().unwrap().len(), 36);
            assert_eq!(calls[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert!(
                calls[1].get("trace_id").is_none(),
                "no context, no trace id"
            );
            assert!(calls[0]["duration_ms"].as_f64().unwrap() >= 0.0);
            assert!(calls[0]["timestamp"].is_string());
            assert_eq!(calls[1]["code"], "NAME_TAKEN");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
