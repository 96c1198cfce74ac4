//! The console in a real headless Chromium (Debian's, driven by npm `playwright-core`,
//! keyboard first): `alknet-http serve` with the demo operations and an OpenAPI import whose
//! document holds markup; the driver signs in, searches, fills the form from the input
//! schema, sees the output, a declared error with its description, a subscription streamed
//! and stopped, the call copied as curl, and the imported markup shown as text with nothing
//! run. Screenshots of each step go to `target/console-screenshots/`. Run by
//! `cargo xtask browser`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, TOKEN};

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
             [[token]]\nid = \"tester\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\"]\n\n\
             [[import.openapi]]\nnamespace = \"hostile\"\nspec = \"hostile.json\"\n\
             base_url = \"http://127.0.0.1:9\"\nvisibility = \"external\"\n"
        ),
    )
    .unwrap();
    let node = NodeProcess::start(Path::new(BIN), true, &config, "console");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/drive.mjs");
    let run = tokio::process::Command::new("node")
        .arg(driver)
        .arg(format!("{}/alknet/console", node.http))
        .arg(TOKEN)
        .arg(&shots)
        .env("ALKNET_E2E_NODE_MODULES", node_modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the console run did not finish")
        .expect("node is needed for the console test");
    let seen: Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("the driver printed no JSON");
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
    drop(node);
}
