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

use crate::cli::{Served, serve, temp_dir, text};
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

/// Runs an SDK client script in a protocol era (`legacy` or `2026-07-28`); its stdout's last
/// line is a JSON report.
pub(crate) fn report(
    program: &Path,
    script_name: &str,
    url: &str,
    token: &str,
    era: &str,
) -> Value {
    let output = Command::new(program)
        .arg(script(script_name))
        .args([url, token, era])
        .env(
            "ALKNET_E2E_NODE_MODULES",
            env_path("ALKNET_E2E_NODE_MODULES"),
        )
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{script_name} {era} failed:\n{stdout}\n{}",
        text(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script_name}: {e}\n{stdout}\n{}", text(&output.stderr)))
}

/// What every SDK, era and tool mode must show: the tools of the mode, the gateway tools'
/// flow, a direct tool when listed, a subscription streamed as progress, and a refusal
/// without a token.
pub(crate) fn check_sdk_report(sdk: &str, mode: &str, report: &Value) {
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    if mode == "gateway" {
        assert_eq!(tools, ["search", "schema", "call", "batch"], "{sdk}");
    } else {
        // The demo node's few operations: listed one tool each, read-only hints from their type.
        for name in ["demo.echo", "demo.greet", "demo.register", "demo.ticks"] {
            assert!(tools.contains(&name), "{sdk} {mode}: {tools:?}");
        }
        assert!(!tools.contains(&"search"), "{sdk} {mode}: {tools:?}");
        assert_eq!(
            report["annotations"]["demo.greet"]["read_only"], true,
            "{sdk}"
        );
        assert_eq!(
            report["annotations"]["demo.register"]["read_only"], false,
            "{sdk}"
        );
        let greeting = report["direct"]["structured"]["greeting"]
            .as_str()
            .unwrap_or_default();
        assert!(greeting.starts_with("hello, "), "{sdk} {mode}: {report}");
        assert_eq!(report["direct_error"]["is_error"], true, "{sdk}");
        let error: Value =
            serde_json::from_str(report["direct_error"]["text"].as_str().unwrap()).unwrap();
        assert_eq!(error["code"], "NAME_TAKEN", "{sdk}");
    }
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
    // demo/ticks through MCP: three items as progress, then all three as the result.
    let subscription = &report["subscription"];
    let items = subscription["structured"]["output"]["items"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 3, "{sdk}: {subscription}");
    assert_eq!(
        subscription["structured"]["output"]["ended"], "completed",
        "{sdk}"
    );
    let progress = subscription["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{sdk} {mode}: {subscription}");
    for (n, (step, item)) in progress.iter().zip(items).enumerate() {
        assert_eq!(step["progress"].as_f64(), Some(n as f64 + 1.0), "{sdk}");
        let message: Value = serde_json::from_str(step["message"].as_str().unwrap()).unwrap();
        assert_eq!(&message, item, "{sdk}");
    }
    assert!(
        report["without_token"]
            .as_str()
            .unwrap()
            .starts_with("refused"),
        "{sdk}: {report}"
    );
}

/// A demo node whose MCP surface offers `tools` (`gateway`, `direct` or `auto`), and its
/// development token.
fn demo_node(dir: &Path, tools: &str, extra: &str) -> (Served, String) {
    node_with(dir, tools, &format!("[mcp]\ntools = \"{tools}\"\n{extra}"))
}

/// A node serving the configuration `toml` (written to `dir/{name}.toml`) on a free port,
/// and its development token.
fn node_with(dir: &Path, name: &str, toml: &str) -> (Served, String) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, toml).unwrap();
    let token_file = dir.join(format!("{name}.token"));
    let node = serve(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    let token = std::fs::read_to_string(&token_file).unwrap();
    (node, token)
}

#[test]
#[ignore = "needs the MCP Python and TypeScript SDKs; run by `cargo xtask ci`"]
fn the_official_sdks_use_to_mcp_in_every_mode_and_era() {
    let dir = temp_dir("mcp-sdk");
    for mode in ["gateway", "direct", "auto"] {
        let (node, token) = demo_node(&dir, mode, "");
        let url = format!("{}/mcp", node.url);
        for era in ["legacy", "2026-07-28"] {
            let python = report(
                &env_path("ALKNET_E2E_PYTHON"),
                "mcp_client.py",
                &url,
                &token,
                era,
            );
            check_sdk_report(&format!("python {era}"), mode, &python);
            let expected = if era == "legacy" { "2025-11-25" } else { era };
            assert_eq!(python["protocol_version"], expected);
            let typescript = report(Path::new("node"), "mcp_client.mjs", &url, &token, era);
            check_sdk_report(&format!("typescript {era}"), mode, &typescript);
            if era != "legacy" {
                assert_eq!(typescript["protocol_version"], era);
            }
        }
        drop(node);
    }
    // Without a token: 401 and a Bearer challenge, before any MCP processing.
    let (node, _) = demo_node(&dir, "auto", "");
    let (head, _) = mcp_post(&format!("{}/mcp", node.url), None, &[], "{}");
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A POST to an MCP endpoint with curl: the response head (lowercased) and the JSON-RPC
/// messages of its body (an SSE stream or one JSON document).
fn mcp_post(
    url: &str,
    token: Option<&str>,
    headers: &[String],
    body: &str,
) -> (String, Vec<Value>) {
    let mut args = vec![
        "-s".to_owned(),
        "-i".to_owned(),
        "-X".to_owned(),
        "POST".to_owned(),
        url.to_owned(),
        "-H".to_owned(),
        "Content-Type: application/json".to_owned(),
        "-H".to_owned(),
        "Accept: application/json, text/event-stream".to_owned(),
        "-d".to_owned(),
        body.to_owned(),
    ];
    if let Some(token) = token {
        args.extend(["-H".to_owned(), format!("Authorization: Bearer {token}")]);
    }
    for header in headers {
        args.extend(["-H".to_owned(), header.clone()]);
    }
    let output = Command::new("curl").args(&args).output().unwrap();
    let response = text(&output.stdout);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let messages = body
        .lines()
        .map(|line| line.strip_prefix("data:").unwrap_or(line).trim())
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (head.to_lowercase(), messages)
}

/// One 2026-07-28 request, raw: the required headers, the per-request `_meta`, no session.
fn modern_request(
    url: &str,
    token: &str,
    id: u64,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "curl", "version": "1"}
    });
    let mut headers = vec![
        "MCP-Protocol-Version: 2026-07-28".to_owned(),
        format!("Mcp-Method: {method}"),
    ];
    if let Some(name) = name {
        headers.push(format!("Mcp-Name: {name}"));
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let (head, messages) = mcp_post(url, Some(token), &headers, &body.to_string());
    assert!(head.starts_with("http/1.1 200"), "{method}: {head}");
    assert!(
        !head.contains("mcp-session-id"),
        "{method}: a session in {head}"
    );
    let last = messages.last().cloned().unwrap_or_default();
    assert!(last.get("result").is_some(), "{method}: {messages:?}");
    last["result"].clone()
}

#[test]
#[ignore = "needs curl; run by `cargo xtask ci` with the MCP end-to-end tests"]
fn raw_2026_07_28_requests_alternate_between_two_node_processes() {
    let dir = temp_dir("mcp-stateless");
    // Two nodes with the same token table: a load balancer's replicas.
    let token = "alk_stateless_e2e_token_0123456789";
    let hash = alknet_http::core::AuthToken::new(token).sha256_hex();
    let tokens = format!(
        "[[token]]\nid = \"agent\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n"
    );
    let replicas: Vec<Served> = ["a", "b"]
        .iter()
        .map(|name| {
            let config = dir.join(format!("{name}.toml"));
            std::fs::write(&config, format!("[mcp]\ntools = \"direct\"\n\n{tokens}")).unwrap();
            serve(&[
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
        })
        .collect();
    let url = |n: usize| format!("{}/mcp", replicas[n % 2].url);
    let discovered = modern_request(&url(0), token, 1, "server/discover", None, json!({}));
    assert!(
        discovered["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{discovered}"
    );
    let listed = modern_request(&url(1), token, 2, "tools/list", None, json!({}));
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"demo.greet"), "{names:?}");
    for n in 0..4 {
        let called = modern_request(
            &url(n),
            token,
            10 + n as u64,
            "tools/call",
            Some("demo.greet"),
            json!({"name": "demo.greet", "arguments": {"name": format!("replica{n}")}}),
        );
        assert_eq!(called["isError"], false, "{called}");
        assert_eq!(
            called["structuredContent"]["greeting"],
            format!("hello, REPLICA{n}!")
        );
    }
    drop(replicas);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs npm @modelcontextprotocol/inspector; run by `cargo xtask ci`"]
fn the_mcp_inspector_cli_lists_an_anonymous_nodes_tools() {
    let dir = temp_dir("mcp-inspector");
    let (node, _) = demo_node(&dir, "auto", "allow_anonymous = true\n");
    let inspector = env_path("ALKNET_E2E_NODE_MODULES").join(".bin/mcp-inspector");
    let output = Command::new(inspector)
        .args([
            "--cli",
            &format!("{}/mcp", node.url),
            "--method",
            "tools/list",
        ])
        // The inspector keeps a catalog under the home directory.
        .env("HOME", &dir)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let listed: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // Anonymous callers see what needs no scope: demo/echo and demo/ticks, not demo/greet.
    assert!(names.contains(&"demo.echo"), "{names:?}");
    assert!(!names.contains(&"demo.greet"), "{names:?}");
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A node configuration importing the Python upstream on `port` as `py`, with `extra` keys.
fn python_import(port: u16, extra: &str) -> String {
    format!(
        "demo = false\n\n[[import.mcp]]\nnamespace = \"py\"\nendpoint = \"http://127.0.0.1:{port}/mcp\"\nvisibility = \"external\"\n{extra}"
    )
}

struct Upstream(Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python SDK upstream; with `token_file`, it requires the token that file holds now.
fn python_mcp_server(log: &Path, token_file: Option<&Path>) -> (Upstream, u16) {
    let port = free_port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(env_path("ALKNET_E2E_PYTHON"))
        .arg(script("mcp_server.py"))
        .arg(port.to_string())
        .args(token_file)
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
    let (_upstream, port) = python_mcp_server(&dir.join("upstream.log"), None);
    let (node, token) = node_with(&dir, "node", &python_import(port, ""));
    assert_eq!(node.preamble, ["mcp py: imported 3 tools"]);
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

#[test]
#[ignore = "needs the MCP Python SDK; run by `cargo xtask ci`"]
fn an_upstream_token_rotated_while_the_node_runs_is_picked_up_on_reload() {
    let dir = temp_dir("from-mcp-rotation");
    let upstream_token = dir.join("upstream.token");
    let node_token = dir.join("import.token");
    std::fs::write(&upstream_token, "first-upstream-token\n").unwrap();
    std::fs::write(&node_token, "first-upstream-token\n").unwrap();
    let (_upstream, port) = python_mcp_server(&dir.join("upstream.log"), Some(&upstream_token));
    let (node, token) = node_with(
        &dir,
        "node",
        &python_import(port, "token_file = \"import.token\"\n"),
    );
    let add = || call(&node.url, &token, "/py/add", json!({"a": 1, "b": 2}));
    assert_eq!(add(), (200, json!({"total": 3, "terms": [1, 2]})));
    // The upstream's token is rotated: the node's calls are refused …
    std::fs::write(&upstream_token, "second-upstream-token\n").unwrap();
    let (status, error) = add();
    assert_ne!(status, 200, "{error}");
    // … until the node's credential file holds the new token and a reload reads it.
    std::fs::write(&node_token, "second-upstream-token\n").unwrap();
    node.reload_credentials();
    assert_eq!(add(), (200, json!({"total": 3, "terms": [1, 2]})));
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs npm @modelcontextprotocol/server-everything; run by `cargo xtask ci`"]
#[allow(clippy::print_stderr)] // what was imported, in the CI log
fn a_node_imports_every_tool_of_server_everything_with_its_annotations() {
    let dir = temp_dir("from-mcp-everything");
    let port = free_port();
    // The upstream starts a second after the node: the import waits for it.
    let log = std::fs::File::create(dir.join("everything.log")).unwrap();
    let server = env_path("ALKNET_E2E_NODE_MODULES")
        .join("@modelcontextprotocol/server-everything/dist/index.js");
    let starting = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        Upstream(
            Command::new("node")
                .arg(server)
                .arg("streamableHttp")
                .env("PORT", port.to_string())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    });
    let (node, token) = node_with(
        &dir,
        "node",
        &format!(
            "demo = false\n\n[[import.mcp]]\nnamespace = \"everything\"\nendpoint = \"http://127.0.0.1:{port}/mcp\"\nvisibility = \"external\"\n"
        ),
    );
    let _upstream = starting.join().unwrap();
    let summary = node
        .preamble
        .iter()
        .find(|line| line.starts_with("mcp everything: imported "))
        .unwrap_or_else(|| panic!("{:?}", node.preamble));
    assert!(!summary.contains("skipped"), "{summary}");
    let search = Command::new("curl")
        .args([
            "-s",
            &format!("{}/search", node.url),
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .output()
        .unwrap();
    let found: Value = serde_json::from_slice(&search.stdout).unwrap();
    let kinds: std::collections::BTreeMap<&str, &str> = found["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|op| {
            let name = op["name"].as_str()?.strip_prefix("everything/")?;
            Some((name, op["op_type"].as_str()?))
        })
        .collect();
    eprintln!("imported from server-everything: {kinds:?}");
    assert!(kinds.len() >= 10, "{kinds:?}");
    // Its annotations: `echo` and `get-sum` only read (Queries); toggling changes state.
    assert_eq!(kinds.get("echo"), Some(&"query"), "{kinds:?}");
    assert_eq!(kinds.get("get-sum"), Some(&"query"), "{kinds:?}");
    assert_eq!(
        kinds.get("toggle-simulated-logging"),
        Some(&"mutation"),
        "{kinds:?}"
    );
    let (status, echoed) = call(
        &node.url,
        &token,
        "/everything/echo",
        json!({"message": "hi"}),
    );
    assert_eq!(
        (status, echoed),
        (200, json!([{"type": "text", "text": "Echo: hi"}]))
    );
    let (status, sum) = call(
        &node.url,
        &token,
        "/everything/get-sum",
        json!({"a": 2, "b": 3}),
    );
    assert_eq!(status, 200, "{sum}");
    assert!(sum[0]["text"].as_str().unwrap().contains('5'), "{sum}");
    // Its outputSchema is the operation's: the structured result, checked against it.
    let (status, weather) = call(
        &node.url,
        &token,
        "/everything/get-structured-content",
        json!({"location": "Chicago"}),
    );
    assert_eq!(status, 200, "{weather}");
    assert!(weather["temperature"].is_number(), "{weather}");
    let (status, image) = call(&node.url, &token, "/everything/get-tiny-image", json!({}));
    assert_eq!(status, 200);
    assert!(
        image
            .as_array()
            .unwrap()
            .iter()
            .any(|block| block["type"] == "image"),
        "{image}"
    );
    // A bad input is refused locally by the tool's input schema.
    let (status, error) = call(
        &node.url,
        &token,
        "/everything/get-sum",
        json!({"a": "two"}),
    );
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("INVALID_INPUT"))
    );
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}
