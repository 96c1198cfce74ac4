//! Federation end to end: three node processes from configuration files — a hub (the
//! `federation_hub` example: `alknet-http serve` plus one composing operation) and two spokes
//! (the `alknet-http` command). Spoke A is dialed by the hub; spoke B dials the hub. Run by
//! `cargo xtask federation` (and `cargo xtask ci`), which builds the example and names it in
//! `ALKNET_FEDERATION_HUB`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alknet_http::core::CallError;
use alknet_http::gateway::client::GatewayClient;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");
pub(crate) const TOKEN: &str = "alk_federation_e2e_token_with_enough_entropy_42";

/// A node process: its listeners, and its log (stderr) in a file.
pub(crate) struct NodeProcess {
    child: Child,
    pub(crate) http: String,
    quic: Option<SocketAddr>,
    /// The `/metrics` listener, when the configuration has one.
    pub(crate) metrics: Option<SocketAddr>,
    log: PathBuf,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Sends the process `SIGHUP` (reload its credentials).
    pub(crate) fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn start(program: &Path, serve: bool, config: &Path, name: &str) -> Self {
        let log = config.with_file_name(format!("{name}.log"));
        let mut command = Command::new(program);
        if serve {
            command.args(["serve", "--log", "info,rmcp=warn"]);
        }
        let mut child = command
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut http, mut quic, mut metrics) = (None, None, None);
        let text = std::fs::read_to_string(config).unwrap();
        let wanted = text.matches("[[listen]]").count() + text.matches("metrics_listen").count();
        let mut seen = 0;
        while seen < wanted {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{name} did not start: {}", read(&log)))
                .unwrap();
            if let Some((_, url)) = line.split_once(" listening on ") {
                seen += 1;
                if let Some(addr) = url.strip_prefix("quic://") {
                    quic = Some(addr.parse().unwrap());
                } else if let Some(addr) = url.strip_prefix("metrics://") {
                    metrics = Some(addr.parse().unwrap());
                } else {
                    http = Some(url.to_owned());
                }
            }
        }
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        NodeProcess {
            child,
            http: http.unwrap(),
            quic,
            metrics,
            log,
        }
    }

    pub(crate) fn gateway(&self) -> GatewayClient {
        GatewayClient::new(&self.http).unwrap().with_token(TOKEN)
    }

    /// What `GET /search` shows the test token.
    async fn listed(&self) -> Vec<String> {
        let found = self.gateway().search(None, None).await.unwrap();
        found.into_iter().map(|op| op.name).collect()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Generates the certificate of node `id` in `dir` (through `alknet-http peer`, as an operator
/// would) and answers its fingerprint.
fn certificate(dir: &Path, id: &str) -> String {
    let config = dir.join(format!("{id}-cert.toml"));
    std::fs::write(&config, node_section(id)).unwrap();
    let out = Command::new(BIN)
        .args(["peer", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::cli::text(&out.stderr));
    let printed = crate::cli::text(&out.stdout);
    let first = printed.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("node {id} fingerprint ")),
        "{first}"
    );
    first.rsplit(' ').next().unwrap().to_owned()
}

fn node_section(id: &str) -> String {
    format!(
        "[node]\nid = \"{id}\"\ncert = \"{id}.pem\"\nkey = \"{id}.key\"\ngenerate = true\n\
         peer_keep_alive_ms = 100\npeer_idle_timeout_ms = 400\nredial_first_ms = 100\nredial_max_ms = 1000\n\n"
    )
}

/// A node configuration: `[node]`, a TCP listener, a QUIC one at `quic` (when given), the test
/// token, and `peers`.
fn config(dir: &Path, id: &str, quic: Option<&str>, peers: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let mut text = node_section(id);
    text += "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n";
    if let Some(addr) = quic {
        text += &format!("[[listen]]\nkind = \"quic\"\naddr = \"{addr}\"\n\n");
    }
    text += &format!(
        "[[token]]\nid = \"tester\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n\n\
         [gateway]\nsse_ping_interval_ms = 100\n\n{peers}"
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn peer(id: &str, fingerprint: &str, extra: &str) -> String {
    format!("[[peer]]\nid = \"{id}\"\nfingerprint = \"{fingerprint}\"\n{extra}\n")
}

/// Polls `check` every 50 ms until it holds or `limit` passes; how long it took.
pub(crate) async fn until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the federation_hub example built; run by `cargo xtask federation`"]
// The measured times go to the CI log (`--nocapture`).
#[allow(clippy::print_stderr)]
async fn a_hub_and_two_spokes() {
    let hub_program = PathBuf::from(
        std::env::var_os("ALKNET_FEDERATION_HUB")
            .expect("ALKNET_FEDERATION_HUB: the federation_hub example binary"),
    );
    let dir = temp_dir("federation");
    let (fp_hub, fp_a, fp_b, fp_impostor) = (
        certificate(&dir, "hub"),
        certificate(&dir, "spoke-a"),
        certificate(&dir, "spoke-b"),
        certificate(&dir, "impostor"),
    );
    let full = "scopes = [\"demo:read\", \"demo:write\"]\nimport = false";

    // Spoke A accepts the hub; the hub dials it.
    let a_config = config(
        &dir,
        "spoke-a",
        Some("127.0.0.1:0"),
        &peer("hub", &fp_hub, full),
    );
    let mut spoke_a = NodeProcess::start(Path::new(BIN), true, &a_config, "spoke-a");
    let a_quic = spoke_a.quic.unwrap();
    let hub_peers = peer(
        "spoke-a",
        &fp_a,
        &format!("dial = \"{a_quic}\"\nprefix = \"a\"\nvisibility = \"external\""),
    ) + &peer(
        "spoke-b",
        &fp_b,
        "scopes = [\"demo:read\"]\nprefix = \"b\"\nvisibility = \"external\"",
    );
    let hub_config = config(&dir, "hub", Some("127.0.0.1:0"), &hub_peers);
    let hub = NodeProcess::start(&hub_program, false, &hub_config, "hub");
    let hub_quic = hub.quic.unwrap();
    // Spoke B dials the hub and imports what the hub lets it call.
    let b_peers = peer(
        "hub",
        &fp_hub,
        &format!(
            "scopes = [\"demo:read\"]\ndial = \"{hub_quic}\"\nprefix = \"hub\"\nvisibility = \"external\""
        ),
    );
    let b_config = config(&dir, "spoke-b", None, &b_peers);
    let spoke_b = NodeProcess::start(Path::new(BIN), true, &b_config, "spoke-b");

    let both_imported = until(Duration::from_secs(15), || async {
        let listed = hub.listed().await;
        listed.contains(&"a/demo/greet".to_owned()) && listed.contains(&"b/demo/greet".to_owned())
    })
    .await;
    assert!(both_imported.is_some(), "hub log:\n{}", read(&hub.log));

    // POST /call, /subscribe and a WebSocket session on the hub reach both spokes.
    let gateway = hub.gateway();
    for op in ["/a/demo/greet", "/b/demo/greet"] {
        let greeting: Value = gateway.call(op, &json!({"name": "ada"})).await.unwrap();
        assert_eq!(greeting, json!({"greeting": "hello, ADA!"}), "{op}");
    }
    let ticks: Vec<Value> = gateway
        .subscribe::<Value>("/b/demo/ticks", &json!({"count": 3, "interval_ms": 10}))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(ticks.len(), 3, "{ticks:?}");
    let ws_url = hub.http.replace("http://", "ws://") + "/alknet/call";
    let options = alknet_http::ws::client::ClientOptions::new(Some(TOKEN.to_owned()));
    let session = alknet_http::ws::client::connect(&ws_url, options)
        .await
        .unwrap();
    assert_eq!(
        session
            .call("/a/demo/echo", json!({"via": "ws"}))
            .await
            .unwrap(),
        json!({"via": "ws"})
    );

    // A hub operation composes calls to both spokes.
    let all: Value = gateway
        .call("/hub/greet-all", &json!({"name": "bo"}))
        .await
        .unwrap();
    assert_eq!(
        all,
        json!({"spoke-a": {"greeting": "hello, BO!"}, "spoke-b": {"greeting": "hello, BO!"}})
    );

    // A spoke's scopes limit what it may call on the hub: spoke B holds demo:read there, so it
    // imports (and may call) the hub's greet but not its register.
    let b_listed = spoke_b.listed().await;
    assert!(
        b_listed.contains(&"hub/demo/greet".to_owned()),
        "{b_listed:?}"
    );
    assert!(
        !b_listed.contains(&"hub/demo/register".to_owned()),
        "{b_listed:?}"
    );
    let via_b: Value = spoke_b
        .gateway()
        .call("/hub/demo/greet", &json!({"name": "cy"}))
        .await
        .unwrap();
    assert_eq!(via_b, json!({"greeting": "hello, CY!"}));
    let refused = spoke_b
        .gateway()
        .call::<Value>("/hub/demo/register", &json!({"name": "cy"}))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "NOT_FOUND");

    // Killing spoke A fails its in-flight calls with INTERNAL "connection closed" within a
    // second, and its operations leave the hub's `/search` within a second.
    let mut in_flight = gateway
        .subscribe::<Value>("/a/demo/ticks", &json!({"count": 1000, "interval_ms": 100}))
        .await
        .unwrap();
    assert!(in_flight.next().await.unwrap().is_ok());
    spoke_a.child.kill().unwrap();
    let killed = Instant::now();
    let failure: CallError = loop {
        match tokio::time::timeout(Duration::from_secs(5), in_flight.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => break error,
            other => panic!("the in-flight subscription did not fail: {other:?}"),
        }
    };
    let failed_after = killed.elapsed();
    eprintln!("in-flight call failed {failed_after:?} after the kill");
    assert_eq!(
        (failure.code.as_str(), failure.message.as_str()),
        ("INTERNAL", "connection closed")
    );
    assert!(failed_after < Duration::from_secs(1), "{failed_after:?}");
    let gone = until(
        Duration::from_secs(1).saturating_sub(killed.elapsed()),
        || async { !hub.listed().await.iter().any(|n| n.starts_with("a/")) },
    )
    .await;
    assert!(
        gone.is_some(),
        "spoke A's operations were still listed a second after it was killed"
    );

    // Restarting it (same certificate, same port) brings them back within the backoff.
    let a_config = config(
        &dir,
        "spoke-a",
        Some(&a_quic.to_string()),
        &peer("hub", &fp_hub, full),
    );
    let _spoke_a = NodeProcess::start(Path::new(BIN), true, &a_config, "spoke-a-again");
    let back = until(Duration::from_secs(10), || async {
        hub.listed().await.contains(&"a/demo/greet".to_owned())
    })
    .await;
    assert!(back.is_some(), "hub log:\n{}", read(&hub.log));
    eprintln!("spoke A back after {back:?}");
    let greeting: Value = gateway
        .call("/a/demo/greet", &json!({"name": "di"}))
        .await
        .unwrap();
    assert_eq!(greeting, json!({"greeting": "hello, DI!"}));

    // A node presenting a certificate the hub does not know is refused, and the hub says so.
    let impostor_config = config(
        &dir,
        "impostor",
        None,
        &peer(
            "hub",
            &fp_hub,
            &format!("dial = \"{hub_quic}\"\nprefix = \"hub\""),
        ),
    );
    let impostor = NodeProcess::start(Path::new(BIN), true, &impostor_config, "impostor");
    let logged = until(Duration::from_secs(10), || async {
        let log = read(&hub.log);
        log.contains("refused a peer with an unknown certificate") && log.contains(&fp_impostor)
    })
    .await;
    assert!(logged.is_some(), "hub log:\n{}", read(&hub.log));
    // Refused before any call: it imported nothing from the hub.
    assert!(
        !impostor
            .listed()
            .await
            .iter()
            .any(|n| n.starts_with("hub/"))
    );
    drop(impostor);
    drop(spoke_b);
    drop(hub);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two nodes in this process through the library: the hub's `RunningNode::peers` and
/// `/readyz` follow the spoke's link, and a QUIC listener must present the federation's
/// certificate.
#[tokio::test]
async fn node_peer_state_and_readiness() {
    use std::sync::Arc;

    use alknet_http::core::tls::ServerIdentity;
    use alknet_http::core::{Identity, OperationRegistry, StaticTokenProvider};
    use alknet_http::federation::{Federation, Peer, PeerImport, PeerState};
    use alknet_http::{Listener, Node, NodeError, demo};

    let (hub_cert, spoke_cert) = (
        ServerIdentity::self_signed(["hub"]).unwrap(),
        ServerIdentity::self_signed(["spoke"]).unwrap(),
    );
    let registry = || {
        demo::register(OperationRegistry::builder())
            .build()
            .unwrap()
    };
    let tokens = Arc::new(
        StaticTokenProvider::new()
            .with_token(TOKEN, Identity::new("tester").with_scopes(["demo:read"]))
            .unwrap(),
    );
    let spoke = Node::builder()
        .registry(registry())
        .identity_provider(tokens.clone())
        .listen(Listener::Quic(
            "127.0.0.1:0".parse().unwrap(),
            spoke_cert.clone(),
        ))
        .federation(Federation::new(spoke_cert.clone()).with_peer(Peer::new(
            Identity::new("hub").with_scopes(["demo:read"]),
            &hub_cert.fingerprint_sha256(),
        )))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let spoke_quic = spoke.addresses()[0].addr;

    let mismatched = Node::builder()
        .registry(registry())
        .listen(Listener::Quic(
            "127.0.0.1:0".parse().unwrap(),
            spoke_cert.clone(),
        ))
        .federation(Federation::new(hub_cert.clone()))
        .build();
    assert!(matches!(
        mismatched,
        Err(NodeError::FederationCertificate(_))
    ));

    let hub = Node::builder()
        .registry(registry())
        .identity_provider(tokens)
        .listen(Listener::Http("127.0.0.1:0".parse().unwrap()))
        .federation(
            Federation::new(hub_cert).with_peer(
                Peer::new(Identity::new("spoke"), &spoke_cert.fingerprint_sha256())
                    .dialing(spoke_quic.to_string())
                    .importing(PeerImport::default().with_prefix("s")),
            ),
        )
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let http = hub.addresses()[0].addr;
    let status = hub.peers().unwrap().clone();
    let connected = until(Duration::from_secs(10), || {
        let status = status.clone();
        async move { status.ready() }
    })
    .await;
    assert!(connected.is_some(), "{:?}", status.snapshot());
    let (id, state) = &status.snapshot()[0];
    assert_eq!(id, "spoke");
    // The hub holds demo:read on the spoke: echo, greet, ticks and quote (register needs
    // demo:write).
    assert_eq!(state, &PeerState::Connected { operations: 4 });
    assert_eq!(readyz(http, None).await.0, 200);
    let (_, body) = readyz(http, Some(TOKEN)).await;
    assert!(body.contains("\"spoke\""), "{body}");
    assert!(
        !readyz(http, None).await.1.contains("spoke"),
        "anonymous sees no peers"
    );

    spoke.shutdown().await;
    let lost = until(Duration::from_secs(10), || async {
        readyz(http, None).await.0 == 503
    })
    .await;
    assert!(lost.is_some(), "{:?}", status.snapshot());
    hub.shutdown().await;
}

/// `GET /readyz`: the status code and the body.
async fn readyz(addr: SocketAddr, token: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET /readyz HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_owned())
}
