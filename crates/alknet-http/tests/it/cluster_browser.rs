//! A real browser behind the load balancer, called by hub-side code elsewhere in the cluster:
//! two `alknet-http serve` gateways in one session directory (`[nats.directory]`) behind
//! nginx; headless Chromium (Debian's, driven by npm `playwright-core`) loads a page nginx
//! serves, connects over nginx to whichever gateway it is given, calls an operation there and
//! registers `browser/double`. A third node on the bus — this test, as hub-side code does with
//! `SessionDirectory` — finds the page's session by identity on one of the gateways and calls
//! the page's operation; the page checks it was asked. Run by `cargo xtask nats`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use alknet_http::core::ErrorCode;
use alknet_http::nats::{Bus, DirectoryConfig, NatsConnect, SessionDirectory};
use alknet_http::ws::Sessions;
use alknet_http_tests::NatsServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, TOKEN};
use crate::nginx::Nginx;

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");

/// A gateway: the demo operations, its WebSocket sessions in directory `edge`.
fn gateway(dir: &Path, name: &str, nats: &str) -> std::path::PathBuf {
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n\
         [[token]]\nid = \"tester\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\"]\n\n\
         [nats]\nservers = [\"{nats}\"]\nname = \"{name}\"\n\n\
         [nats.directory]\ncluster = \"edge\"\nannounce_interval_ms = 200\nanswer_timeout_ms = 500\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn page() -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>alknet cluster e2e</title>
<script type="module">
import {{ connect }} from "/alknet/client.mjs";
const results = {{}};
try {{
  const gateway = await connect(`ws://${{location.host}}/alknet/call`, {{ token: "{TOKEN}", reconnect: false }});
  results.call = await gateway.call("/demo/greet", {{ name: "page" }});
  let answered;
  const answer = new Promise((resolve) => (answered = resolve));
  gateway.register({{ name: "browser/double", op_type: "query" }}, async (input) => {{
    const output = input.n * 2;
    setTimeout(() => answered(output), 0);
    return output;
  }});
  results.hubAsked = await answer;
  gateway.close();
}} catch (error) {{
  results.error = String(error?.message ?? error);
}}
window.__results = results;
</script>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server, nginx, Chromium and playwright-core; run by `cargo xtask nats`"]
async fn hub_side_code_calls_a_browser_on_another_gateway() {
    let node_modules = std::env::var("ALKNET_E2E_NODE_MODULES")
        .expect("ALKNET_E2E_NODE_MODULES names the folder with node_modules/playwright-core");
    let bus = NatsServer::start().await;
    let dir = temp_dir("cluster-browser");
    let gateways: Vec<NodeProcess> = ["east", "west"]
        .iter()
        .map(|name| NodeProcess::start(Path::new(BIN), true, &gateway(&dir, name, &bus.url), name))
        .collect();
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    std::fs::write(pages.join("page.html"), page()).unwrap();
    let nginx = Nginx::start(&dir, &[&gateways[0].http, &gateways[1].http], Some(&pages)).await;

    // The hub: a node of its own on the bus, with no sessions of its own.
    let hub_bus = Bus::connect(&NatsConnect::new([bus.url.clone()]).with_name("hub"))
        .await
        .unwrap();
    let config = DirectoryConfig::new("edge")
        .with_announce_interval(Duration::from_millis(200))
        .with_answer_timeout(Duration::from_millis(500));
    let hub = SessionDirectory::join(&hub_bus, Sessions::new(), config)
        .await
        .unwrap();

    let driver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../alknet-http-ws/js/test/driver.mjs"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(driver)
        .arg(format!("{}/e2e/page.html", nginx.url))
        .env("ALKNET_E2E_NODE_MODULES", node_modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the browser test");

    let hub_side = async {
        loop {
            let listing = hub.list(Some("tester")).await;
            if let [session] = listing.sessions.as_slice() {
                assert_ne!(session.node, hub.node(), "the page is on a gateway");
                assert!(
                    hub.nodes().contains(&session.node),
                    "the gateway announced itself"
                );
                match hub
                    .call(
                        &session.node,
                        session.id,
                        "browser/double",
                        json!({"n": 21}),
                    )
                    .await
                {
                    Ok(answer) => return (answer, hub.nodes().len()),
                    // The page has not registered its operation yet.
                    Err(e) if e.is(ErrorCode::NotFound) => {}
                    Err(e) => panic!("hub→browser call failed: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (answer, nodes) = tokio::select! {
        found = tokio::time::timeout(Duration::from_secs(90), hub_side) => {
            found.expect("the page's session never answered browser/double")
        }
        status = child.wait() => panic!("the browser's driver ended first: {status:?}"),
    };
    assert_eq!(answer, json!(42));
    assert_eq!(nodes, 2, "both gateways are in the directory");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("chromium did not finish")
        .unwrap();
    assert!(output.status.success(), "driver failed");
    let results: Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("driver printed no JSON");
    assert_eq!(results.get("error"), None, "{results}");
    assert_eq!(
        results["call"],
        json!({"greeting": "hello, PAGE!"}),
        "{results}"
    );
    assert_eq!(results["hubAsked"], json!(42), "the page was asked");

    // Once the page is gone, no gateway lists it.
    let gone = crate::federation::until(Duration::from_secs(10), || async {
        hub.list(Some("tester")).await.sessions.is_empty()
    })
    .await;
    assert!(gone.is_some(), "the closed session is still listed");
    drop(nginx);
}
