//! A real upstream round trip: Prism (npm `@stoplight/prism-cli@5.14.2`) mocks the Petstore
//! 3.0 (JSON) and 3.1 (YAML) documents of npm `@readme/oas-examples`; the `alknet-http` node
//! imports them from `[[import.openapi]]` entries, and `POST /call` (driven with curl) returns
//! Prism's responses — including a declared error status as `HTTP_<status>`.
//!
//! `cargo xtask ci` installs the packages and runs this with `ALKNET_E2E_NODE_MODULES`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{serve, temp_dir, text};

const API_KEY: &str = "special-key";

fn node_modules() -> PathBuf {
    PathBuf::from(
        std::env::var_os("ALKNET_E2E_NODE_MODULES")
            .expect("set ALKNET_E2E_NODE_MODULES (cargo xtask ci does)"),
    )
}

struct Prism {
    child: Child,
    url: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn prism(document: &Path, log: &Path) -> Prism {
    let port = free_port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new("node")
        .arg(node_modules().join("@stoplight/prism-cli/dist/index.js"))
        .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(document)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("node is needed for this test");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "prism did not start on {addr}");
        std::thread::sleep(Duration::from_millis(200));
    }
    Prism {
        child,
        url: format!("http://{addr}"),
    }
}

/// `curl`: the status and the JSON body (or null).
pub(crate) fn curl(args: &[&str]) -> (u16, Value) {
    let output = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is needed for this test");
    let out = text(&output.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap();
    (
        status.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `POST /call` with curl: the status and the JSON body.
pub(crate) fn call(node: &str, token: &str, operation: &str, input: Value) -> (u16, Value) {
    let envelope = json!({ "operation": operation, "input": input }).to_string();
    curl(&[
        &format!("{node}/call"),
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        &envelope,
    ])
}

fn direct(prism: &Prism, path: &str) -> (u16, Value) {
    curl(&[
        &format!("{}{path}", prism.url),
        "-H",
        &format!("api_key: {API_KEY}"),
        "-H",
        "Accept: application/json, */*;q=0.5",
    ])
}

#[test]
#[ignore = "needs node, curl and npm @stoplight/prism-cli + @readme/oas-examples; run by `cargo xtask ci`"]
fn the_node_imports_prism_mocked_petstores_and_returns_their_responses() {
    let examples = node_modules().join("@readme/oas-examples");
    let dir = temp_dir("prism");
    let doc30 = examples.join("3.0/json/petstore.json");
    let doc31 = examples.join("3.1/yaml/petstore.yaml");
    let p30 = prism(&doc30, &dir.join("prism30.log"));
    let p31 = prism(&doc31, &dir.join("prism31.log"));
    std::fs::write(dir.join("petstore.key"), format!("{API_KEY}\n")).unwrap();
    let entry = |namespace: &str, doc: &Path, prism: &Prism, extra: &str| {
        format!(
            "[[import.openapi]]\nnamespace = \"{namespace}\"\nspec = {doc:?}\nbase_url = \"{}\"\nauth = \"api-key-header\"\napi_key_name = \"api_key\"\ncredential_file = \"petstore.key\"\nvisibility = \"external\"\n{extra}\n",
            prism.url
        )
    };
    let config = format!(
        "demo = false\n\n{}{}{}",
        entry("pet30", &doc30, &p30, ""),
        entry("pet31", &doc31, &p31, ""),
        // The same API, asking Prism for the declared 404 of getPetById.
        entry(
            "pet404",
            &doc30,
            &p30,
            "include_operations = [\"getPetById\"]\nheaders = { Prefer = \"code=404\" }"
        ),
    );
    let config_path = dir.join("node.toml");
    std::fs::write(&config_path, config).unwrap();
    let token_file = dir.join("dev-token");
    let node = serve(&[
        "--config",
        config_path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--dev-token-file",
        token_file.to_str().unwrap(),
    ]);
    let token = std::fs::read_to_string(&token_file).unwrap();
    // One summary line per import.
    assert_eq!(node.preamble.len(), 3, "{:?}", node.preamble);
    assert!(
        node.preamble[0].starts_with("openapi pet30: imported 20 operations"),
        "{:?}",
        node.preamble
    );
    assert!(node.preamble[1].starts_with("openapi pet31: imported 20 operations"));
    assert!(node.preamble[2].starts_with("openapi pet404: imported 1 operation,"));

    for (namespace, prism) in [("pet30", &p30), ("pet31", &p31)] {
        // A Query with a path parameter: the node's output is Prism's body.
        let (status, through_node) = call(
            &node.url,
            &token,
            &format!("/{namespace}/getPetById"),
            json!({"petId": 1}),
        );
        assert_eq!(status, 200, "{namespace}: {through_node}");
        let (direct_status, from_prism) = direct(prism, "/pet/1");
        assert_eq!(direct_status, 200);
        assert_eq!(through_node, from_prism, "{namespace}");
        assert_eq!(through_node["name"], "doggie");
        // A Query with a query parameter (an array), a different security requirement: Prism
        // refuses the API key (oauth2 needed) with 401, which the gateway answers as 502 so the
        // caller does not take it for its own credential problem.
        let (status, error) = call(
            &node.url,
            &token,
            &format!("/{namespace}/findPetsByStatus"),
            json!({"status": ["available"]}),
        );
        assert_eq!(
            (status, error["code"].as_str()),
            (502, Some("HTTP_401")),
            "{namespace}: {error}"
        );
        // Input validation happens before Prism is asked.
        let (status, error) = call(
            &node.url,
            &token,
            &format!("/{namespace}/getPetById"),
            json!({"petId": "one"}),
        );
        assert_eq!(
            (status, error["code"].as_str()),
            (422, Some("INVALID_INPUT")),
            "{error}"
        );
        // The inventory (a map of integers) and a 3.0/3.1 schema through /schema.
        let (status, inventory) = call(
            &node.url,
            &token,
            &format!("/{namespace}/getInventory"),
            json!({}),
        );
        assert_eq!(status, 200, "{inventory}");
        assert_eq!(inventory, direct(prism, "/store/inventory").1);
    }
    // The declared error status, mapped: 404 with code HTTP_404 (not NOT_FOUND).
    let (status, error) = call(&node.url, &token, "/pet404/getPetById", json!({"petId": 1}));
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["code"], "HTTP_404");
    assert_eq!(error["message"], "HTTP 404: Not Found");
    // The operation's schema shows the imported error.
    let (status, schema) = curl(&[
        &format!("{}/schema?operation=/pet30/getPetById", node.url),
        "-H",
        &format!("Authorization: Bearer {token}"),
    ]);
    assert_eq!(status, 200, "{schema}");
    let codes: Vec<&str> = schema["error_schemas"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["code"].as_str())
        .collect();
    assert_eq!(codes, ["HTTP_400", "HTTP_404"]);
    drop(node);
    drop((p30, p31));
    std::fs::remove_dir_all(dir).unwrap();
}
