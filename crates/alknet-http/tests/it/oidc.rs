//! JWT access tokens of a real OpenID provider (npm `oidc-provider`, client credentials,
//! started by the test) accepted by the node on the gateway, WebSocket and MCP; every bad
//! token refused with an `invalid_token` challenge naming the node's protected-resource
//! metadata; the official MCP SDK following that metadata to the provider on its own; the
//! provider's key rotation picked up without restarting the node.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alknet_http::core::session::CloseReason;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, until};
use crate::mcp_sdk::{check_sdk_report, env_path, report};

const AUDIENCE: &str = "https://node.example";
/// An audience whose tokens live 1 s (see `oidc_provider.mjs`).
const SHORT_AUDIENCE: &str = "https://node.example/short";
/// An audience whose tokens are not valid before an hour from now.
const FUTURE_AUDIENCE: &str = "https://node.example/future";

/// The provider process: killed when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    /// Starts `oidc_provider.mjs` on `port` (0: any) signing with a new key named `kid`.
    fn start(port: u16, kid: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/oidc_provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([&port.to_string(), kid])
            .env(
                "ALKNET_E2E_NODE_MODULES",
                env_path("ALKNET_E2E_NODE_MODULES"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = lines
            .find_map(|line| line.ok()?.strip_prefix("issuer ").map(str::to_owned))
            .expect("the provider printed its issuer");
        std::thread::spawn(move || lines.for_each(drop));
        OidcProvider { child, issuer }
    }

    fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A client-credentials access token for `resource`.
    async fn token(&self, resource: &str) -> String {
        use alknet_http::core::client::reqwest;
        // Form-encoded by the URL parser (our reqwest has no `form` feature).
        let mut form = reqwest::Url::parse("http://form/").unwrap();
        form.query_pairs_mut().extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "svc-secret"),
            ("scope", "demo:read demo:write"),
            ("resource", resource),
        ]);
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_owned())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_owned()
    }
}

/// `POST /call` of `demo/greet` (scope `demo:read`) with `token`: the status and the
/// challenge (a refused token leaves the caller anonymous, and `demo/greet` answers an
/// anonymous caller 401).
async fn call_answer(node: &NodeProcess, token: Option<&str>) -> (u16, String) {
    let mut request = alknet_http::core::client::reqwest::Client::new()
        .post(format!("{}/call", node.http))
        .body(r#"{"operation":"/demo/greet","input":{"name":"jwt"}}"#);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

async fn call_status(node: &NodeProcess, token: &str) -> u16 {
    call_answer(node, Some(token)).await.0
}

/// `token` with its payload replaced by `change(payload)`, the signature kept.
fn with_payload(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut payload);
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs npm's oidc-provider; run by `cargo xtask ci` (cargo xtask oidc)"]
async fn tokens_of_a_real_openid_provider() {
    alknet_http::core::client::install_crypto_provider();
    let provider = OidcProvider::start(0, "k1");
    let stranger = OidcProvider::start(0, "k1");
    let dir = temp_dir("oidc");
    let config = dir.join("node.toml");
    // The node's own URL is its resource (MCP clients check that the metadata's resource is
    // the server they talk to): a port chosen before the node starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let resource = format!("http://127.0.0.1:{port}");
    std::fs::write(
        &config,
        format!(
            "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:{port}\"\n\n\
             [[issuer]]\nissuer = \"{}\"\naudience = [\"{AUDIENCE}\", \"{SHORT_AUDIENCE}\", \"{FUTURE_AUDIENCE}\", \"{resource}\"]\nleeway_s = 0\n\n\
             [oauth]\nresource = \"{resource}\"\nscopes_supported = [\"demo:read\", \"demo:write\"]\n",
            provider.issuer
        ),
    )
    .unwrap();
    let node = NodeProcess::start(
        Path::new(env!("CARGO_BIN_EXE_alknet-http")),
        true,
        &config,
        "node",
    );
    let token = provider.token(AUDIENCE).await;

    // Accepted on the gateway, WebSocket and MCP (the official TypeScript SDK).
    assert_eq!(call_status(&node, &token).await, 200);
    let ws = alknet_http::ws::client::connect(
        &format!("{}/alknet/call", node.http.replace("http://", "ws://")),
        alknet_http::ws::client::ClientOptions::new(Some(token.clone())),
    )
    .await
    .expect("the WebSocket session opens with the JWT");
    let echoed = ws
        .request("/demo/echo", json!({"over": "ws"}), Default::default())
        .await
        .unwrap();
    assert_eq!(echoed, json!({"over": "ws"}));
    let mcp = report(
        Path::new("node"),
        "mcp_client.mjs",
        &format!("{}/mcp", node.http),
        &token,
        "legacy",
    );
    check_sdk_report("typescript with a JWT", "auto", &mcp);

    // Refused, each with 401.
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        let payload = token.split('.').nth(1).unwrap();
        format!("{header}.{payload}.")
    };
    let short = provider.token(SHORT_AUDIENCE).await;
    let future = provider.token(FUTURE_AUDIENCE).await;
    let nbf = serde_json::from_slice::<Value>(
        &URL_SAFE_NO_PAD
            .decode(future.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()["nbf"]
        .as_u64();
    assert!(nbf.is_some(), "the provider set no nbf: {future}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = [
        (
            "wrong audience",
            provider.token("https://other.example").await,
        ),
        ("expired", short),
        ("not yet valid", future),
        (
            "tampered",
            with_payload(&token, |p| p["scope"] = json!("demo:read demo:write admin")),
        ),
        ("unknown issuer", stranger.token(AUDIENCE).await),
        ("alg none", unsigned),
    ];
    let metadata = format!("resource_metadata=\"{resource}/.well-known/oauth-protected-resource\"");
    for (what, bad) in &refused {
        let (status, challenge) = call_answer(&node, Some(bad)).await;
        assert_eq!(status, 401, "{what}");
        assert!(
            challenge.starts_with(&format!("Bearer {metadata}, error=\"invalid_token\"")),
            "{what}: {challenge}"
        );
    }
    assert_eq!(
        call_answer(&node, None).await,
        (401, format!("Bearer {metadata}")),
        "no token: the challenge names the metadata"
    );

    // The metadata names the provider; the official MCP SDK, holding only client
    // credentials, follows the chain (401 → metadata → provider → token) and calls a tool.
    let document: Value = alknet_http::core::client::reqwest::Client::new()
        .get(format!(
            "{resource}/.well-known/oauth-protected-resource/mcp"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], resource.as_str());
    assert_eq!(document["authorization_servers"], json!([provider.issuer]));
    let agent = report(
        Path::new("node"),
        "mcp_oauth_client.mjs",
        &format!("{resource}/mcp"),
        &provider.issuer,
        "legacy",
    );
    assert!(agent.get("error").is_none(), "{agent}");
    // The agent's token may call the demo's few operations: one tool each (`auto`).
    let tools = agent["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("demo.greet")), "{agent}");
    assert_eq!(agent["is_error"], false, "{agent}");
    assert!(
        agent["greeting"]
            .as_str()
            .is_some_and(|g| g.to_lowercase().contains("agent")),
        "{agent}"
    );
    assert_eq!(agent["token_audience"], resource.as_str(), "{agent}");
    assert_eq!(
        call_status(&node, &token).await,
        200,
        "the good token still works"
    );

    // Key rotation: the provider restarts on the same port with a new key; its new tokens
    // are accepted without restarting the node.
    let port = provider.port();
    drop(provider);
    let rotated = OidcProvider::start(port, "k2");
    let fresh = rotated.token(AUDIENCE).await;
    let accepted = until(Duration::from_secs(10), || {
        let (node, fresh) = (&node, &fresh);
        async move { call_status(node, fresh).await == 200 }
    })
    .await;
    assert!(accepted.is_some(), "the rotated key was never picked up");

    // A session opened with a JWT closes when the token expires (leeway 0 here).
    let brief = rotated.token(SHORT_AUDIENCE).await;
    let ws_url = format!("{}/alknet/call", node.http.replace("http://", "ws://"));
    let connect = |token: &str| {
        alknet_http::ws::client::connect(
            &ws_url,
            alknet_http::ws::client::ClientOptions::new(Some(token.to_owned())),
        )
    };
    let expiring = connect(&brief).await.expect("opens with the 1 s token");
    let reason = tokio::time::timeout(Duration::from_secs(4), expiring.closed())
        .await
        .expect("the session outlived its JWT");
    assert!(
        matches!(&reason, CloseReason::Transport { close_code: 1008, message } if message.contains("credentials expired")),
        "{reason:?}"
    );

    // Issuer settings reload without a restart: a configuration without the issuer, on
    // SIGHUP, refuses its tokens at once and closes the sessions they opened.
    let session = connect(&fresh)
        .await
        .expect("opens with the rotated key's token");
    let text = std::fs::read_to_string(&config).unwrap();
    let without_issuer = text
        .split("\n\n")
        .filter(|section| !section.starts_with("[[issuer]]") && !section.starts_with("[oauth]"))
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n[[token]]\nid = \"static\"\nsha256 = \"00000000000000000000000000000000000000000000000000000000000000aa\"\n";
    std::fs::write(&config, without_issuer).unwrap();
    node.hang_up();
    let reason = tokio::time::timeout(Duration::from_secs(5), session.closed())
        .await
        .expect("the JWT's session stayed open after the issuer was removed");
    assert!(
        matches!(&reason, CloseReason::Transport { close_code: 1008, message } if message.contains("credentials revoked")),
        "{reason:?}"
    );
    assert_eq!(call_status(&node, &fresh).await, 401);
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}
