//! A real headless Chromium (Debian `chromium` driven by npm `playwright-core`) loads a page
//! served by the node over TLS that imports `/alknet/client.mjs`, and: calls an operation,
//! streams a subscription to completion, aborts a second one, answers a hub→browser call the
//! hub checks, and sees a 401 without a token. Once over HTTP/2 (extended CONNECT advertised)
//! and once with a server that does not advertise it (HTTP/1.1 fallback).
//!
//! Needs Chromium and playwright-core, so it is `#[ignore]`d in plain `cargo test`;
//! `cargo xtask ci` (`cargo xtask browser`) installs both and runs it with `--ignored`.

use std::process::Stdio;
use std::time::Duration;

use alknet_http_ws::WsLimits;
use serde_json::{Value, json};

use crate::fixtures::{Hooks, TOKEN, hub_with, within};

fn page() -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>alknet e2e</title>
<script type="module">
import {{ connect }} from "/alknet/client.mjs";
const results = {{}};
try {{
  const url = `wss://${{location.host}}/alknet/call`;
  const hub = await connect(url, {{ token: "{TOKEN}", reconnect: false }});
  results.call = await hub.call("/hub/echo", {{ hello: "browser" }});
  try {{
    await hub.call("/hub/echo", 1, {{ signal: AbortSignal.abort() }});
    results.preAborted = "resolved";
  }} catch (error) {{
    results.preAborted = `${{error.code}}: ${{error.message}}`;
  }}
  results.ticks = [];
  for await (const tick of hub.subscribe("/hub/ticks", {{ count: 3 }})) results.ticks.push(tick);
  const watching = hub.subscribe("/hub/watch");
  results.firstWatch = (await watching.next()).value;
  await watching.return();
  let answered;
  const answer = new Promise((resolve) => (answered = resolve));
  hub.register({{ name: "browser/double", op_type: "query" }}, async (input) => {{
    const output = input.n * 2;
    setTimeout(() => answered(output), 0);
    return output;
  }});
  results.hubAsked = await answer;
  try {{
    await connect(url, {{ reconnect: false }});
    results.noToken = "connected without a token";
  }} catch (error) {{
    results.noToken = error.code;
  }}
  hub.close();
}} catch (error) {{
  results.error = String(error?.message ?? error);
}}
window.__results = results;
</script>"#
    )
}

async fn run_in_chromium(extended_connect: bool) -> (Value, http::Version) {
    let node_modules = std::env::var("ALKNET_E2E_NODE_MODULES").expect("ALKNET_E2E_NODE_MODULES must name the folder with node_modules/playwright-core (cargo xtask ci sets it)");
    let hub = hub_with(WsLimits::default(), extended_connect, Some(page())).await;
    let dropped = Hooks::watch(&hub.hooks.dropped);
    let url = format!("https://localhost:{}/e2e/page.html", hub.tls_addr.port());
    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/js/test/driver.mjs");
    let child = tokio::process::Command::new("node")
        .arg(driver)
        .arg(&url)
        .env("ALKNET_E2E_NODE_MODULES", node_modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the browser test");
    // The hub calls the operation the page registers, and checks the answer.
    let hub_side = async {
        loop {
            if let Some(info) = hub.sessions.list().first().cloned() {
                // The page answers services/list and services/schema: import what it offers.
                if hub.sessions.import(info.id).await.unwrap_or(0) == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let overlay = hub.sessions.get(info.id).unwrap().overlay().names();
                assert_eq!(overlay, vec!["browser/double"]);
                match hub
                    .sessions
                    .invoke(info.id, "/browser/double", json!({"n": 21}), None)
                    .await
                {
                    Ok(answer) => return (answer, info.http_version),
                    Err(e) if e.code == "NOT_FOUND" => {}
                    Err(e) => panic!("hub→browser call failed: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (answer, version) = tokio::time::timeout(Duration::from_secs(90), hub_side)
        .await
        .expect("the page never registered browser/double");
    assert_eq!(answer, json!(42), "the hub checks the browser's answer");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("chromium did not finish")
        .unwrap();
    assert!(output.status.success(), "driver failed");
    within(dropped)
        .await
        .expect_err("the aborted subscription's handler was dropped on the hub");
    let results: Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("driver printed no JSON");
    (results, version)
}

fn check(results: &Value) {
    assert_eq!(results.get("error"), None, "{results}");
    assert_eq!(results["call"], json!({"hello": "browser"}));
    assert_eq!(results["preAborted"], json!("INTERNAL: call aborted"));
    assert_eq!(results["ticks"], json!([0, 1, 2]));
    assert_eq!(results["firstWatch"], json!("watching"));
    assert_eq!(results["hubAsked"], json!(42));
    assert_eq!(
        results["noToken"],
        json!("FORBIDDEN"),
        "401 without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core; run by cargo xtask ci"]
async fn chromium_over_http2_extended_connect() {
    let (results, version) = run_in_chromium(true).await;
    check(&results);
    assert_eq!(
        version,
        http::Version::HTTP_2,
        "Chromium used RFC 8441 over the page's h2 connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core; run by cargo xtask ci"]
async fn chromium_falls_back_to_http1_without_extended_connect() {
    let (results, version) = run_in_chromium(false).await;
    check(&results);
    assert_eq!(
        version,
        http::Version::HTTP_11,
        "without the setting Chromium opens an HTTP/1.1 Upgrade"
    );
}
