//! The console in a real headless Chromium (Debian's, driven by npm `playwright-core`,
//! keyboard first): `alknet-http serve` with the demo operations and an OpenAPI import whose
//! document holds markup; the driver signs in, searches, fills the form from the input
//! schema (a nested one too: objects, arrays, an enum, a nullable, a `oneOf`), sees the
//! output, a declared error with its description, a subscription streamed and stopped (the
//! node's metrics show it ended), a batch, the live metrics panel, the call copied as curl,
//! JS and MCP (the copied curl and MCP lines are run against the node), a hub→page call
//! answered (this test is the hub-side caller, through `demo/ask`), and the imported markup
//! shown as text with nothing run; axe-core checks each page for serious or critical
//! violations. Screenshots of each step go to `target/console-screenshots/`. Run by
//! `cargo xtask browser`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, TOKEN};
use crate::on_loopback;

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");

/// An OpenAPI document from nobody we trust: markup in its summary and description.
const HOSTILE: &str = r#"{
  "openapi": "3.1.0",
  "info": {"title": "hostile", "version": "1"},
  "paths": {"/x": {"get": {
    "operationId": "peek",
    "summary": "<script>window.__xss = 'summary'</script><b>bold</b>",
    "description": "<img src=x onerror=\"window.__xss = 'description'\">",
    "responses": {"200": {"description": "ok"}}
  }}}
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core; run by `cargo xtask browser`"]
async fn the_console_explores_calls_and_streams_as_the_caller() {
    alknet_http::core::client::install_crypto_provider();
    let node_modules = std::env::var("ALKNET_E2E_NODE_MODULES")
        .expect("ALKNET_E2E_NODE_MODULES names the folder with node_modules/playwright-core");
    let dir = temp_dir("console");
    std::fs::write(dir.join("hostile.json"), HOSTILE).unwrap();
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let config = dir.join("console.toml");
    std::fs::write(
        &config,
        format!(
            "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n\
             [[token]]\nid = \"tester\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\", \"metrics:read\"]\n\n\
             [telemetry]\nmetrics_scope = \"metrics:read\"\n\n\
             [[import.openapi]]\nnamespace = \"hostile\"\nspec = \"hostile.json\"\n\
             base_url = \"http://127.0.0.1:9\"\nvisibility = \"external\"\n"
        ),
    )
    .unwrap();
    let node = NodeProcess::start(Path::new(BIN), true, &config, "console");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/drive.mjs");
    let mut driver = tokio::process::Command::new("node")
        .arg(driver)
        .arg(format!("{}/alknet/console", node.http))
        .arg(TOKEN)
        .arg(&shots)
        .env("ALKNET_E2E_NODE_MODULES", node_modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the console test");
    let mut to_driver = driver.stdin.take().unwrap();
    let mut from_driver = BufReader::new(driver.stdout.take().unwrap()).lines();
    let gateway = alknet_http::gateway::client::GatewayClient::new(&node.http)
        .unwrap()
        .with_token(TOKEN);
    let run = async {
        let mut asked = None;
        let mut last = String::new();
        while let Some(line) = from_driver.next_line().await.unwrap() {
            if line == "registered" {
                // Hub-side code on the node calls the page's own operation.
                let answers: Result<Value, _> = gateway
                    .call(
                        "/demo/ask",
                        &json!({"operation": "console/answer", "input": {"question": "6 x 7?"}}),
                    )
                    .await;
                asked = Some(answers);
                to_driver.write_all(b"asked\n").await.unwrap();
            } else {
                last = line;
            }
        }
        (asked, last)
    };
    let (asked, last) = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the console run did not finish");
    let _ = driver.wait().await;
    let seen: Value = serde_json::from_str(&last).expect("the driver printed no JSON");
    std::fs::write(shots.join("seen.json"), format!("{seen:#}")).unwrap();
    assert_eq!(seen.get("failure"), None, "{seen:#}");
    assert_eq!(seen["errors"], json!([]), "script errors on the page");
    assert_eq!(
        seen["violations"],
        json!([]),
        "content-security-policy violations"
    );
    let csp = seen["csp"].as_str().unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));

    // Signed in: the token is in the tab's session storage, never in the URL.
    assert_eq!(seen["tokenInUrl"], json!(false));
    assert_eq!(seen["tokenStored"], json!(true));
    let listed: Vec<&str> = seen["listed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["demo/greet", "demo/register", "demo/ticks", "hostile/peek"] {
        assert!(listed.contains(&name), "{name} not in {listed:?}");
    }
    assert_eq!(seen["afterSearch"], json!(["demo/greet"]));

    // The form, the call, the output.
    assert_eq!(seen["fields"], json!(["name"]));
    assert_eq!(seen["inputJson"], json!({"name": "ada"}));
    assert_eq!(seen["greetOutput"], json!({"greeting": "hello, ADA!"}));
    assert!(
        seen["invalidMessage"]
            .as_str()
            .unwrap()
            .starts_with("The input is not JSON"),
        "{seen:#}"
    );

    // The declared error, with the description the operation declares for it.
    let declared = seen["declaredError"].as_str().unwrap();
    assert!(declared.starts_with("Error NAME_TAKEN: "), "{declared}");
    assert_eq!(seen["errorOutput"]["code"], json!("NAME_TAKEN"));
    let curl = seen["curl"].as_str().unwrap();
    assert!(
        curl.contains("/call") && curl.contains("$TOKEN") && curl.contains("demo/register"),
        "{curl}"
    );
    assert!(!curl.contains(TOKEN), "the token is never copied");

    // The subscription streamed and was stopped.
    assert!(
        seen["stopped"]
            .as_str()
            .unwrap()
            .starts_with("Stopped after"),
        "{seen:#}"
    );

    // Markup from an imported document is text; nothing of it ran.
    // (The importer describes an operation by its summary.)
    let markup = "<script>window.__xss = 'summary'</script><b>bold</b>";
    assert_eq!(seen["hostileDescription"], json!(markup));
    assert!(
        seen["hostileListed"].as_str().unwrap().contains(markup),
        "{seen:#}"
    );
    assert_eq!(seen["xss"], Value::Null);
    assert_eq!(seen["tokenAfterSignOut"], Value::Null);
    for step in ["01-sign-in", "03-called", "04-declared-error", "06-stopped"] {
        assert!(shots.join(format!("{step}.png")).is_file(), "{step}");
    }

    // A nested input: the form's JSON, the checks before sending, the output.
    let invalid = seen["quoteInvalid"].as_str().unwrap();
    assert!(
        invalid.contains("traveller.name: required") && invalid.contains("stops: at least 1 items"),
        "{invalid}"
    );
    let trip = json!({
        "traveller": {"name": "Ada"},
        "stops": [{"city": "Lisbon", "nights": 3}],
        "class": "business",
        "note": null,
        "payment": {"invoice": {"company": "ACME"}}
    });
    assert_eq!(seen["quoteJson"], trip);
    assert_eq!(seen["quoteOutput"]["total"], json!(720));
    assert_eq!(seen["secondStop"], json!(["Porto", "2"]));

    // The exact call, copied: the curl and MCP lines answer the same when run.
    for kind in ["quote_curl", "quote_mcp"] {
        let line = seen[kind].as_str().unwrap();
        assert!(!line.contains(TOKEN), "the token is never copied");
        let ran = std::process::Command::new("sh")
            .args(["-c", line])
            .env("TOKEN", TOKEN)
            .output()
            .expect("sh and curl");
        let answer = String::from_utf8_lossy(&ran.stdout);
        assert!(answer.contains("720"), "{kind}: {line}\n{answer}");
    }
    let js = seen["quote_js"].as_str().unwrap();
    assert!(
        js.contains("hub.call(\"/demo/quote\"") && js.contains("process.env.TOKEN"),
        "{js}"
    );

    // The batch, answered in order.
    assert_eq!(seen["batchStatus"], json!("2 answered, 1 failed"));
    let batch = seen["batchResults"].as_array().unwrap();
    assert!(
        batch[0].as_str().unwrap().contains("hello, GRACE!"),
        "{batch:?}"
    );
    assert!(
        batch[1].as_str().unwrap().contains("NAME_TAKEN (409)"),
        "{batch:?}"
    );

    // Hub-side code called the page, and the person at the page answered.
    assert_eq!(seen["incoming"], json!({"question": "6 x 7?"}));
    assert_eq!(seen["answered"], json!("Answered"));
    let answers = asked
        .expect("the page registered its operation")
        .expect("demo/ask");
    assert_eq!(
        answers["answers"][0]["output"],
        json!({"answer": 42}),
        "{answers}"
    );

    // The metrics panel shows the calls made, and draws them.
    let rows = seen["metricsRows"].as_array().unwrap();
    let greet = rows
        .iter()
        .find(|row| row[0] == "demo/greet")
        .expect("a demo/greet row");
    let calls: u64 = greet[6].as_str().unwrap().parse().unwrap();
    assert!(calls >= 2, "{greet}");
    assert!(
        seen["metricsChart"]
            .as_str()
            .unwrap()
            .starts_with("Calls per second"),
        "{seen:#}"
    );

    // The stopped subscription ended on the node (its handler dropped), long before its
    // 1000 ticks of 200 ms.
    let metrics = alknet_http::core::client::reqwest::Client::new()
        .get(format!("{}/metrics", node.http))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("alknet_calls_in_flight{operation=\"demo/ticks\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("alknet_call_duration_seconds_count{operation=\"demo/ticks\""),
        "{metrics}"
    );

    // Every control of the overview (metrics, the operation list, a nested form) is reached
    // by Tab alone.
    assert!(seen["controls"].as_u64().unwrap() >= 15, "{seen:#}");
    assert_eq!(seen["unreachable"], json!([]), "controls Tab never reached");

    // No serious or critical accessibility violation on any page.
    for step in [
        "sign-in",
        "nested-form",
        "batch",
        "page-operations",
        "metrics",
    ] {
        assert_eq!(seen["axe"][step], json!([]), "axe-core on {step}");
    }
    drop(node);
}

/// In full stealth the console is like every other path: nothing of it answers a request
/// without a valid identity, and all of it answers one with.
#[tokio::test]
async fn in_full_stealth_the_console_answers_only_a_valid_identity() {
    use std::sync::Arc;

    use alknet_http::core::{Identity, OperationRegistry, StaticTokenProvider};
    use alknet_http::server::Stealth;
    use alknet_http::{Node, console, demo};

    alknet_http::core::client::install_crypto_provider();
    let tokens = StaticTokenProvider::new()
        .with_token(TOKEN, Identity::new("tester"))
        .unwrap();
    let node = Node::builder()
        .registry(
            demo::register(OperationRegistry::builder())
                .build()
                .unwrap(),
        )
        .identity_provider(Arc::new(tokens))
        .protected(true)
        .stealth(Stealth::Full);
    let (node, base) = on_loopback(node).await;
    let http = alknet_http::core::client::reqwest::Client::new();
    for path in console::PATHS {
        for bearer in [None, Some("alk_not_a_valid_token_at_all_0000")] {
            let mut request = http.get(format!("{base}{path}"));
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(status, 200, "{path} with {bearer:?}");
            assert!(!body.contains("alknet console"), "{path}: {body}");
        }
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    node.shutdown().await;
}

/// `demo/ask` reaches only the caller's own pages: another identity's page is never asked,
/// an anonymous caller is refused, and a page's own error comes back as its answer.
#[tokio::test]
async fn demo_ask_asks_only_the_callers_own_pages() {
    use std::sync::Arc;

    use alknet_http::core::{
        CallError, Capabilities, HandlerKind, Identity, OperationRegistry, OperationSpec,
        StaticTokenProvider,
    };
    use alknet_http::ws::client::{ClientOptions, connect};
    use alknet_http::{Node, demo_pages};

    const OTHER: &str = "alk_console_other_caller_token_0001";
    alknet_http::core::client::install_crypto_provider();
    let tokens = StaticTokenProvider::new()
        .with_token(TOKEN, Identity::new("ada"))
        .unwrap()
        .with_token(OTHER, Identity::new("grace"))
        .unwrap();
    let builder = Node::builder();
    let registry = demo_pages::register(OperationRegistry::builder(), builder.sessions())
        .build()
        .unwrap();
    let (node, base) = on_loopback(
        builder
            .registry(registry)
            .identity_provider(Arc::new(tokens)),
    )
    .await;
    let ws = base.replace("http://", "ws://") + "/alknet/call";
    // Ada's page answers; Grace's page would say who it is, and must never be asked.
    let page = |who: &'static str, fails: bool| {
        OperationRegistry::builder()
            .with_leaf(
                OperationSpec::query("page/answer"),
                HandlerKind::once(move |input, _| async move {
                    if fails {
                        Err(CallError::new("BUSY", "not now"))
                    } else {
                        Ok(json!({ "page": who, "input": input }))
                    }
                }),
                Capabilities::new(),
            )
            .build()
            .unwrap()
    };
    let ada = connect(
        &ws,
        ClientOptions::new(Some(TOKEN.to_owned())).serving(page("ada", false)),
    )
    .await
    .unwrap();
    let grace = connect(
        &ws,
        ClientOptions::new(Some(OTHER.to_owned())).serving(page("grace", false)),
    )
    .await
    .unwrap();
    let ask = json!({"operation": "page/answer", "input": 7});
    let answers = ada.call("/demo/ask", ask.clone()).await.unwrap();
    let answers = answers["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["output"], json!({"page": "ada", "input": 7}));

    // Over HTTP too, as Grace: only Grace's page.
    let gateway = alknet_http::gateway::client::GatewayClient::new(&base)
        .unwrap()
        .with_token(OTHER);
    let answers: Value = gateway.call("/demo/ask", &ask).await.unwrap();
    assert_eq!(answers["answers"][0]["output"]["page"], json!("grace"));
    assert_eq!(answers["answers"].as_array().unwrap().len(), 1);

    // No page serves the operation: NOT_FOUND. An anonymous caller: refused.
    let missing = json!({"operation": "page/nothing", "input": null});
    let error = gateway
        .call::<Value>("/demo/ask", &missing)
        .await
        .unwrap_err();
    assert_eq!(error.code, "NOT_FOUND", "{error:?}");
    let anonymous = alknet_http::gateway::client::GatewayClient::new(&base).unwrap();
    let error = anonymous
        .call::<Value>("/demo/ask", &ask)
        .await
        .unwrap_err();
    assert_eq!(error.code, "FORBIDDEN", "{error:?}");

    // A page's own error is its answer (undeclared, so its session masks it as INTERNAL).
    grace.close();
    let busy = connect(
        &ws,
        ClientOptions::new(Some(OTHER.to_owned())).serving(page("grace", true)),
    )
    .await
    .unwrap();
    let answers: Value = gateway.call("/demo/ask", &ask).await.unwrap();
    // (The closed page may still be listed for a moment: look for the busy one.)
    let busy_answered = answers["answers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|answer| answer["error"]["details"]["original_code"] == "BUSY");
    assert!(busy_answered, "{answers}");
    busy.close();
    ada.close();
    node.shutdown().await;
}
