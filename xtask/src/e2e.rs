//! The end-to-end runs against real third-party programs: Chromium, schemathesis, Prism and
//! real OpenAPI documents, the official MCP SDKs, the TypeScript compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, root, run};

/// The pinned playwright-core (drives Debian's Chromium; downloads no browser of its own).
pub(crate) const PLAYWRIGHT_CORE: &str = "playwright-core@1.65.1";

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// The pinned MCP Python SDK (2.x: `MCPServer`, `streamable_http_client`).
pub(crate) const MCP_PYTHON_SDK: &str = "mcp==2.3.0";

/// The pinned MCP TypeScript SDK, 1.x (the 2025-11-25 revision: sessions).
pub(crate) const MCP_TS_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";

/// The pinned MCP TypeScript client, 2.x (pinned to the stateless 2026-07-28 revision).
pub(crate) const MCP_TS_CLIENT: &str = "@modelcontextprotocol/client@2.4.0";

/// The pinned MCP Inspector (its CLI lists a node's tools).
pub(crate) const MCP_INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";

/// The pinned reference MCP server (its streamable-HTTP transport), imported by a node.
pub(crate) const MCP_SERVER_EVERYTHING: &str = "@modelcontextprotocol/server-everything@2026.8.31";

/// The FastAPI upstream of the body tests, in a venv of its own (its Starlette pin need not
/// agree with the MCP SDK's).
pub(crate) const FASTAPI: [&str; 3] = [
    "fastapi==0.165.0",
    "python-multipart==0.0.34",
    "uvicorn==0.55.0",
];

/// A virtualenv `target/e2e/<name>` with the PyPI packages (`name==version`) installed.
pub(crate) fn python_venv(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = root().join("target/e2e").join(name);
    if !venv.join("bin/pip").exists() {
        std::fs::create_dir_all(root().join("target/e2e"))
            .map_err(|e| format!("cannot create target/e2e: {e}"))?;
        run(
            "python3 -m venv",
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
        )?;
    }
    let pip = venv.join("bin/pip");
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let (name, version) = p.split_once("==").unwrap_or((p, ""));
            !Command::new(&pip)
                .args(["show", name])
                .output()
                .is_ok_and(|o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stdout)
                            .contains(&format!("Version: {version}"))
                })
        })
        .collect();
    if !missing.is_empty() {
        run(
            &format!("pip install {}", missing.join(" ")),
            Command::new(&pip)
                .args(["install", "-q", "--disable-pip-version-check"])
                .args(&missing),
        )?;
    }
    Ok(venv)
}

/// MCP with the official SDKs: the Python and TypeScript SDK clients use `/mcp` of running
/// nodes in every tool mode and both protocol eras, raw 2026-07-28 requests alternate between
/// two nodes, the MCP Inspector's CLI lists tools, and a node imports a Python SDK
/// `MCPServer` from `[[import.mcp]]`.
pub(crate) fn mcp_e2e() -> Result {
    let venv = python_venv("venv", &[MCP_PYTHON_SDK])?;
    let e2e = npm_packages(&[
        MCP_TS_SDK,
        MCP_TS_CLIENT,
        MCP_INSPECTOR,
        MCP_SERVER_EVERYTHING,
    ])?;
    let modules = e2e.join("node_modules");
    let python = venv.join("bin/python");
    ignored_tests(
        "MCP SDK clients and a Python MCP server against the node",
        "alknet-http",
        "mcp_sdk",
        &[
            ("ALKNET_E2E_NODE_MODULES", modules.as_path()),
            ("ALKNET_E2E_PYTHON", python.as_path()),
        ],
    )
}

/// The pinned TypeScript compiler.
pub(crate) const TYPESCRIPT: &str = "typescript@7.0.2";

/// `tsc --strict` against a demo node's generated `/alknet/types.d.ts`: a correct program
/// compiles, one with a wrong input and one reading a field the output lacks do not.
pub(crate) fn typescript_e2e() -> Result {
    let e2e = npm_packages(&[TYPESCRIPT])?;
    let modules = e2e.join("node_modules");
    ignored_tests(
        "tsc against the generated types of the demo node",
        "alknet-http",
        "typescript",
        &[("ALKNET_E2E_NODE_MODULES", modules.as_path())],
    )
}

/// Three node processes federating over QUIC: a hub (the `federation_hub` example) and two
/// spokes (the `alknet-http` command), from configuration files.
pub(crate) fn federation_e2e() -> Result {
    run(
        "build the federation hub",
        cargo().args([
            "build",
            "-q",
            "-p",
            "alknet-http",
            "--all-features",
            "--example",
            "federation_hub",
        ]),
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let hub = target.join("debug/examples/federation_hub");
    ignored_tests(
        "a hub and two spokes",
        "alknet-http",
        "federation",
        &[("ALKNET_FEDERATION_HUB", hub.as_path())],
    )
}

/// The pinned schemathesis.
pub(crate) const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// schemathesis against `/openapi.json` of a running demo node, with a token.
pub(crate) fn schemathesis() -> Result {
    let venv = python_venv("venv", &[SCHEMATHESIS])?;
    let tool = venv.join("bin/schemathesis");
    let e2e = root().join("target/e2e");
    run(
        "build alknet-http",
        cargo().args(["build", "-q", "-p", "alknet-http", "--bin", "alknet-http"]),
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let token_file = e2e.join("schemathesis-token");
    let mut node = Command::new(target.join("debug/alknet-http"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--dev-token-file",
        ])
        .arg(&token_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the node: {e}"))?;
    let outcome = (|| {
        let stdout = node.stdout.take().ok_or("no stdout")?;
        let mut first = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)
            .map_err(|e| format!("the node did not start: {e}"))?;
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !url.starts_with("http://") {
            return Err(format!("unexpected first line from the node: {first}"));
        }
        let token =
            std::fs::read_to_string(&token_file).map_err(|e| format!("no dev token: {e}"))?;
        run(
            "schemathesis --checks all",
            // Its cache lands in the working directory: keep it under target/.
            Command::new(&tool).current_dir(&e2e).args([
                "run",
                &format!("{url}/openapi.json"),
                "-H",
                &format!("Authorization: Bearer {}", token.trim()),
                "--checks",
                "all",
                "--max-examples",
                "50",
                "--seed",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
            ]),
        )
    })();
    let _ = node.kill();
    let _ = node.wait();
    outcome
}

/// Installs Debian's `package` when `program` is missing (as root; otherwise says how).
pub(crate) fn debian_package(program: &str, package: &str) -> Result {
    if Path::new(program).exists() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root {
        return Err(format!(
            "{program} is missing: install Debian's `{package}` package (as root: apt-get install -y {package})"
        ));
    }
    run(
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )?;
    run(
        &format!("apt-get install {package}"),
        Command::new("apt-get").args(["install", "-y", "-q", "--no-install-recommends", package]),
    )
}

/// Debian's Prometheus server.
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Debian's Prometheus scrapes a node under traffic; PromQL through its HTTP API finds the
/// calls by operation and outcome.
pub(crate) fn prometheus_e2e() -> Result {
    debian_package(PROMETHEUS, "prometheus")?;
    ignored_tests(
        "Prometheus scrapes a node",
        "alknet-http",
        "prometheus",
        &[("ALKNET_PROMETHEUS", Path::new(PROMETHEUS))],
    )
}

/// Debian's NATS server.
pub(crate) const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// Debian's nginx (the light build), the load balancer in front of gateway replicas.
const NGINX: &str = "/usr/sbin/nginx";

/// `to_nats` and `from_nats` against Debian's `nats-server`, which each test starts: calls,
/// errors, deadlines, aborts, subscriptions with flow control, load over two workers, the bus
/// and workers going away, payloads past `max_payload`; then `alknet-http serve` nodes on it
/// (two workers and a gateway, a worker killed and the bus restarted under load; two gateways
/// behind Debian's nginx serving calls, batches, SSE, WebSocket sessions and MCP 2026-07-28;
/// a Chromium page behind nginx called by hub-side code on another node); and the session
/// directory across replicas.
pub(crate) fn nats_e2e() -> Result {
    debian_package(NATS_SERVER, "nats-server")?;
    debian_package(NGINX, "nginx-light")?;
    debian_package(CHROMIUM, "chromium")?;
    let e2e = npm_packages(&[PLAYWRIGHT_CORE])?;
    run(
        "to_nats, from_nats and the session directory against nats-server",
        cargo()
            .args([
                "test",
                "-p",
                "alknet-http-nats",
                "--features",
                "sessions",
                "--test",
                "it",
                "--",
                "--ignored",
                "--nocapture",
            ])
            .env("ALKNET_NATS_SERVER", NATS_SERVER),
    )?;
    run(
        "alknet-http nodes on a bus (workers, gateways behind nginx, faults, a browser called across)",
        cargo()
            .args([
                "test",
                "-p",
                "alknet-http",
                "--features",
                "nats",
                "--test",
                "it",
                "cluster",
                "--",
                "--ignored",
                "--nocapture",
            ])
            .env("ALKNET_NATS_SERVER", NATS_SERVER)
            .env("ALKNET_NGINX", NGINX)
            .env("ALKNET_E2E_NODE_MODULES", e2e.join("node_modules")),
    )
}

/// The pinned OpenID provider (npm).
pub(crate) const OIDC_PROVIDER: &str = "oidc-provider@9.13.3";

/// A real OpenID provider's client-credentials JWTs against the node: accepted on the
/// gateway, WebSocket and MCP, bad ones refused, a key rotation picked up.
pub(crate) fn oidc_e2e() -> Result {
    let e2e = npm_packages(&[OIDC_PROVIDER, MCP_TS_SDK])?;
    ignored_tests(
        "JWTs of a real OpenID provider (oidc-provider)",
        "alknet-http",
        "oidc::",
        &[(
            "ALKNET_E2E_NODE_MODULES",
            e2e.join("node_modules").as_path(),
        )],
    )
}

/// The pinned axe-core: the console's pages are checked for accessibility violations.
pub(crate) const AXE_CORE: &str = "axe-core@4.14.1";

/// Real-browser tests of the WebSocket surface and of the console (its screenshots go to
/// `target/console-screenshots/`; axe-core checks its pages).
pub(crate) fn browser() -> Result {
    debian_package(CHROMIUM, "chromium")?;
    let e2e = npm_packages(&[PLAYWRIGHT_CORE, AXE_CORE])?;
    let modules = e2e.join("node_modules");
    let env = [("ALKNET_E2E_NODE_MODULES", modules.as_path())];
    ignored_tests(
        "browser tests (Chromium, h2 and http/1.1)",
        "alknet-http-ws",
        "browser::",
        &env,
    )?;
    ignored_tests("the console in Chromium", "alknet-http", "console::", &env)
}

/// The pinned Prism mock server (5.14.2 is the last release that runs on Node 20).
pub(crate) const PRISM: &str = "@stoplight/prism-cli@5.14.2";

/// Real-world OpenAPI documents (petstore, circular refs, discriminators, callbacks, …).
pub(crate) const OAS_EXAMPLES: &str = "@readme/oas-examples@8.2.2";

/// GitHub's REST description (1,200+ operations), for the import benchmark.
pub(crate) const OCTOKIT_OPENAPI: &str = "@octokit/openapi@23.0.2";

/// Installs the npm packages (`name@version`) that are missing under `target/e2e` and returns
/// that directory (its `node_modules` is what the end-to-end tests get).
pub(crate) fn npm_packages(packages: &[&str]) -> Result<PathBuf> {
    let e2e = root().join("target/e2e");
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let name = &p[..p[1..].find('@').map_or(p.len(), |i| i + 1)];
            !e2e.join("node_modules")
                .join(name)
                .join("package.json")
                .exists()
        })
        .collect();
    if !missing.is_empty() {
        std::fs::create_dir_all(&e2e)
            .map_err(|e| format!("cannot create {}: {e}", e2e.display()))?;
        run(
            &format!("npm install {}", missing.join(" ")),
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent"])
                .args(&missing)
                .current_dir(&e2e),
        )?;
    }
    Ok(e2e)
}

/// `cargo test -p <package> --test it <filter> -- --ignored --nocapture` with the end-to-end
/// environment (the tests print what they found, e.g. the outcome per document).
pub(crate) fn ignored_tests(
    step: &str,
    package: &str,
    filter: &str,
    env: &[(&str, &Path)],
) -> Result {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "-p",
        package,
        "--test",
        "it",
        filter,
        "--",
        "--ignored",
        "--nocapture",
    ]);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run(step, &mut cmd)
}

/// The OpenAPI importer against real documents and real upstreams: every 3.0/3.1 document of
/// `@readme/oas-examples` imports or is refused with a typed error; form, multipart, text and
/// binary bodies reach a FastAPI app byte for byte; and the node imports the Petstores mocked
/// by Prism from config and returns Prism's responses through `POST /call`.
pub(crate) fn openapi_e2e() -> Result {
    let e2e = npm_packages(&[PRISM, OAS_EXAMPLES])?;
    let modules = e2e.join("node_modules");
    let env = [("ALKNET_E2E_NODE_MODULES", modules.as_path())];
    ignored_tests(
        "from_openapi sweep of @readme/oas-examples",
        "alknet-http-openapi",
        "sweep",
        &env,
    )?;
    let fastapi = python_venv("venv-fastapi", &FASTAPI)?.join("bin/python");
    ignored_tests(
        "request and response bodies through a FastAPI upstream",
        "alknet-http-openapi",
        "bodies",
        &[("ALKNET_E2E_FASTAPI_PYTHON", fastapi.as_path())],
    )?;
    ignored_tests(
        "Prism round trip through the node",
        "alknet-http",
        "prism",
        &env,
    )
}

/// `cargo run --release -q <args> <extra>`, whose last stdout line is one JSON object.
pub(crate) fn release_json(args: &[&str], extra: &[&std::ffi::OsStr]) -> Result<serde_json::Value> {
    let what = args.join(" ");
    println!("==> cargo run --release {what}");
    let output = cargo()
        .args(["run", "-q", "--release"])
        .args(args)
        .args(extra)
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let line = stdout.lines().last().unwrap_or_default();
    println!("{line}");
    serde_json::from_str(line).map_err(|e| format!("{what} output: {e}"))
}
