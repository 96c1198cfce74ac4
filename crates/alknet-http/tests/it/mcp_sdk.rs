//! MCP with the official SDKs, against the real `alknet-http` binary:
//! - the Python SDK (PyPI `mcp` 2.x) and the TypeScript SDK (`@modelcontextprotocol/sdk`) use
//!   `/mcp` (`to_mcp`): list the four tools, search → schema → call, batch, an `isError` result
//!   for a domain error, refused without a token;
//! - a Python SDK `MCPServer` upstream is imported by a node from `[[import.mcp]]` (`from_mcp`)
//!   and called through `POST /call`.
//!
//! `cargo xtask ci` installs both SDKs and runs this with `ALKNET_E2E_NODE_MODULES` and
//! `ALKNET_E2E_PYTHON` (a Python with `mcp` installed).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{serve, temp_dir, text};
use crate::prism::call;

pub(crate) fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(name).unwrap_or_else(|| panic!("set {name} (cargo xtask ci does)")),
    )
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e")
        .join(name)
}

/// Runs an SDK client script; its stdout's last line is a JSON report.
pub(crate) fn report(program: &Path, script_name: &str, url: &str, token: &str) -> Value {
    let output = Command::new(program)
        .arg(script(script_name))
        .args([url, token])
        .env(
            "ALKNET_E2E_NODE_MODULES",
            env_path("ALKNET_E2E_NODE_MODULES"),
        )
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{script_name} failed:\n{stdout}\n{}",
        text(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script_name}: {e}\n{stdout}\n{}", text(&output.stderr)))
}

pub(crate) fn check_sdk_report(sdk: &str, report: &Value) {
    assert_eq!(
        report["tools"],
        json!(["search", "schema", "call", "batch"]),
        "{sdk}"
    );
    assert_eq!(
        report["search"]["operations"][0]["name"], "demo/greet",
        "{sdk}"
    );
    assert_eq!(report["schema_input"]["required"], json!(["name"]), "{sdk}");
    assert_eq!(report["call"]["is_error"], false, "{sdk}");
    let greeting = report["call"]["structured"]["output"]["greeting"]
        .as_str()
        .unwrap_or_default();
    assert!(greeting.starts_with("hello, "), "{sdk}: {report}");
    // The text block is the same JSON.
    let text: Value = serde_json::from_str(report["call"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, report["call"]["structured"], "{sdk}");
    let results = &report["batch"]["results"];
    assert_eq!(results[0], json!({"output": {"n": 1}}), "{sdk}");
    assert_eq!(
        (
            results[1]["error"]["code"].as_str(),
            results[1]["status"].as_u64()
        ),
        (Some("NAME_TAKEN"), Some(409)),
        "{sdk}"
    );
    assert_eq!(report["domain_error"]["is_error"], true, "{sdk}");
    assert_eq!(
        report["domain_error"]["structured"]["code"], "NAME_TAKEN",
        "{sdk}"
    );
    assert!(
        report["without_token"]
            .as_str()
            .unwrap()
            .starts_with("refused"),
        "{sdk}: {report}"
    );
}

#[test]
#[ignore = "needs the MCP Python and TypeScript SDKs; run by `cargo xtask ci`"]
fn the_official_sdks_use_to_mcp() {
    let dir = temp_dir("mcp-sdk");
    let token_file = dir.join("dev-token");
    let node = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let url = format!("{}/mcp", node.url);
    let python = report(
        &env_path("ALKNET_E2E_PYTHON"),
        "mcp_client.py",
        &url,
        &token,
    );
    check_sdk_report("python", &python);
    assert_eq!(python["protocol_version"], "2025-11-25");
    let typescript = report(Path::new("node"), "mcp_client.mjs", &url, &token);
    check_sdk_report("typescript", &typescript);
    // Without a token: 401 and a Bearer challenge, before any MCP processing.
    let output = Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            &url,
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ])
        .output()
        .unwrap();
    let head = text(&output.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

struct Upstream(Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_mcp_server(log: &Path) -> (Upstream, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(env_path("ALKNET_E2E_PYTHON"))
        .arg(script("mcp_server.py"))
        .arg(port.to_string())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let upstream = Upstream(child);
    // Ready when its MCP endpoint answers HTTP (a bare TCP accept may come before the app).
    let url = format!("http://127.0.0.1:{port}/mcp");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default();
        if !status.is_empty() && status != "000" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Python MCP server did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (upstream, port)
}

#[test]
#[ignore = "needs the MCP Python SDK; run by `cargo xtask ci`"]
fn a_node_imports_a_python_mcp_server() {
    let dir = temp_dir("from-mcp");
    let (_upstream, port) = python_mcp_server(&dir.join("upstream.log"));
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!("demo = false\n\n[[import.mcp]]\nnamespace = \"py\"\nendpoint = \"http://127.0.0.1:{port}/mcp\"\nvisibility = \"external\"\n"),
    )
    .unwrap();
    let token_file = dir.join("dev-token");
    let node = serve(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    assert_eq!(node.preamble, ["mcp py: imported 3 tools"]);
    let token = std::fs::read_to_string(&token_file).unwrap();
    // A structured tool: its structuredContent.
    let (status, out) = call(&node.url, &token, "/py/add", json!({"a": 2, "b": 3}));
    assert_eq!((status, out), (200, json!({"total": 5, "terms": [2, 3]})));
    // An unstructured tool: the content blocks unchanged.
    let (status, out) = call(&node.url, &token, "/py/shout", json!({"text": "hi"}));
    assert_eq!(
        (status, out),
        (200, json!([{"type": "text", "text": "HI!"}]))
    );
    // An erroring tool: MCP_TOOL_ERROR (502: the upstream tool failed).
    let (status, error) = call(&node.url, &token, "/py/explode", json!({"reason": "x"}));
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["code"], "MCP_TOOL_ERROR");
    assert!(
        error["details"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("explode"),
        "{error}"
    );
    // The tool's input schema is enforced locally.
    let (status, error) = call(&node.url, &token, "/py/add", json!({"a": "two"}));
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("INVALID_INPUT"))
    );
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}
