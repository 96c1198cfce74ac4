//! Debian's Prometheus scrapes a node under traffic — `/metrics` on a listener of its own, and
//! on the main listener with a token holding the metrics scope — and PromQL through its HTTP
//! API finds the calls by operation and outcome code. Run by `cargo xtask prometheus` (and
//! `cargo xtask ci`), which installs Prometheus and names it in `ALKNET_PROMETHEUS`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alknet_http::core::client::reqwest;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::temp_dir;
use crate::federation::{NodeProcess, TOKEN, until};

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn query_url(prometheus: &str, query: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{prometheus}/api/v1/query"), [("query", query)])
        .unwrap()
}

/// `sum by (operation, code)` of `series` through Prometheus' HTTP API, as
/// `{"operation code": count}`.
async fn counts(http: &reqwest::Client, prometheus: &str, series: &str) -> Value {
    let query = format!("sum by (operation, code) ({series})");
    let Ok(response) = http.get(query_url(prometheus, &query)).send().await else {
        return Value::Null;
    };
    let Ok(body) = response.json::<Value>().await else {
        return Value::Null;
    };
    let mut found = serde_json::Map::new();
    for sample in body["data"]["result"].as_array().into_iter().flatten() {
        let key = format!(
            "{} {}",
            sample["metric"]["operation"].as_str().unwrap_or_default(),
            sample["metric"]["code"].as_str().unwrap_or_default()
        );
        let value: f64 = sample["value"][1]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0.0);
        found.insert(key, json!(value));
    }
    Value::Object(found)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Debian's prometheus; run by `cargo xtask prometheus`"]
async fn prometheus_scrapes_the_calls_by_operation_and_outcome() {
    let prometheus_bin = PathBuf::from(
        std::env::var_os("ALKNET_PROMETHEUS").expect("ALKNET_PROMETHEUS: the prometheus binary"),
    );
    let dir = temp_dir("prometheus");
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[[listen]]\nkind = \"tcp\"\naddr = \"127.0.0.1:0\"\n\n\
             [[token]]\nid = \"scraper\"\nsha256 = \"{hash}\"\nscopes = [\"demo:read\", \"demo:write\", \"metrics:read\"]\n\n\
             [telemetry]\nmetrics_listen = \"127.0.0.1:0\"\nmetrics_scope = \"metrics:read\"\n"
        ),
    )
    .unwrap();
    let node = NodeProcess::start(Path::new(BIN), true, &config, "node");
    let own = node.metrics.unwrap();
    let main = node.http.trim_start_matches("http://").to_owned();

    let gateway = node.gateway();
    for name in ["ada", "bo", "cy", "di", "ed"] {
        let _: Value = gateway
            .call("/demo/greet", &json!({ "name": name }))
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let taken = gateway
            .call::<Value>("/demo/register", &json!({"name": "admin"}))
            .await
            .unwrap_err();
        assert_eq!(taken.code, "NAME_TAKEN");
    }
    let forbidden = gateway
        .call::<Value>("/demo/admin", &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(forbidden.code, "FORBIDDEN");

    let token_file = dir.join("scrape-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let prometheus_config = dir.join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n\
             scrape_configs:\n\
             \x20 - job_name: own\n    static_configs:\n      - targets: [\"{own}\"]\n\
             \x20 - job_name: scoped\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{main}\"]\n",
            token_file.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = Killed(
        Command::new(&prometheus_bin)
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let prometheus = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let expected = json!({
        "demo/greet OK": 5.0,
        "demo/shout OK": 5.0,
        "demo/register NAME_TAKEN": 2.0,
        "demo/admin FORBIDDEN": 1.0,
    });
    for job in ["own", "scoped"] {
        let series = format!("alknet_call_duration_seconds_count{{job=\"{job}\"}}");
        let seen = until(Duration::from_secs(60), || {
            let (http, prometheus, series, expected) = (&http, &prometheus, &series, &expected);
            async move { counts(http, prometheus, series).await == *expected }
        })
        .await;
        assert!(
            seen.is_some(),
            "job {job}: {} (prometheus log: {})",
            counts(&http, &prometheus, &series).await,
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
    }
    // The process basics are scraped too.
    let rss = http
        .get(query_url(
            &prometheus,
            "process_resident_memory_bytes{job=\"own\"}",
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let bytes: f64 = rss["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 1e6, "{rss}");
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}
