//! The TypeScript declarations of a node: the demo's pinned by a golden file, answered per
//! caller at `/alknet/types.d.ts`, and checked by the real `tsc` (npm `typescript`) against
//! sample programs, one that compiles and two that must not.
//!
//! Regenerate the golden file with `UPDATE_GOLDEN=1 cargo test -p alknet-http --test it types`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{serve, temp_dir, text, token_config};

const BIN: &str = env!("CARGO_BIN_EXE_alknet-http");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/demo.d.ts");

/// `GET /alknet/types.d.ts` of a node, with the token in `token_file` if given.
fn fetch_types(url: &str, token_file: Option<&Path>) -> String {
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--fail-with-body",
        &format!("{url}/alknet/types.d.ts"),
    ]);
    if let Some(file) = token_file {
        let token = std::fs::read_to_string(file).unwrap();
        curl.args(["-H", &format!("Authorization: Bearer {}", token.trim())]);
    }
    let out = curl.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_demo_declarations_are_pinned() {
    let out = Command::new(BIN).arg("types").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let declarations = text(&out.stdout);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &declarations).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    assert!(
        declarations == golden,
        "the demo's declarations differ from tests/golden/demo.d.ts; rerun with UPDATE_GOLDEN=1 and review the diff:\n{declarations}"
    );
}

#[test]
fn each_caller_gets_the_declarations_of_what_it_may_call() {
    let dir = temp_dir("types");
    let config = token_config(&dir);
    let node = serve(&["--config", config.to_str().unwrap()]);
    let member = fetch_types(&node.url, Some(&dir.join("token")));
    assert!(
        member.contains("\"demo/greet\": { kind: \"query\""),
        "{member}"
    );
    assert!(member.contains("errors: \"NAME_TAKEN\""), "{member}");
    assert!(
        !member.contains("\"demo/shout\":"),
        "Internal operations have no types: {member}"
    );
    assert!(
        member.contains("\"demo/ticks\": { kind: \"subscription\""),
        "{member}"
    );
    let anonymous = fetch_types(&node.url, None);
    assert!(anonymous.contains("\"demo/echo\""), "{anonymous}");
    assert!(
        !anonymous.contains("demo/greet"),
        "what a caller may not call is not declared to it: {anonymous}"
    );
}

/// A program against the client and the node's declarations.
fn program(dir: &Path, name: &str, body: &str) -> PathBuf {
    let source = format!(
        "import {{ connect }} from \"./alknet-call.mjs\";\nimport type {{ Operations }} from \"./types\";\n\nconst client = await connect<Operations>(\"ws://127.0.0.1:1/alknet/call\", {{ token: \"t\" }});\n{body}\n"
    );
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

fn tsc(dir: &Path, file: &Path) -> std::process::Output {
    let modules = PathBuf::from(
        std::env::var_os("ALKNET_E2E_NODE_MODULES")
            .expect("ALKNET_E2E_NODE_MODULES: a node_modules with typescript"),
    );
    Command::new(modules.join(".bin/tsc"))
        .args([
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
        ])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs npm typescript; run by `cargo xtask ci`"]
fn tsc_checks_calls_against_the_generated_types() {
    let dir = temp_dir("tsc");
    let config = token_config(&dir);
    let node = serve(&["--config", config.to_str().unwrap()]);
    let types = fetch_types(&node.url, Some(&dir.join("token")));
    std::fs::write(dir.join("types.d.ts"), types).unwrap();
    std::fs::write(dir.join("alknet-call.mjs"), alknet_http::ws::CLIENT_SCRIPT).unwrap();
    std::fs::write(
        dir.join("alknet-call.d.mts"),
        alknet_http::ws::CLIENT_SCRIPT_TYPES,
    )
    .unwrap();

    let good = program(
        &dir,
        "good.ts",
        r#"const hello: string = (await client.call("demo/greet", { name: "ada" })).greeting;
const registered: string = (await client.call("demo/register", { name: "bob" })).registered;
for await (const tick of client.subscribe("demo/ticks", { count: 2, interval_ms: 10 })) {
  const n: number = tick.tick;
  const last: boolean = tick.terminal;
}
const anything = await client.call("demo/echo", { any: ["json"] });
console.log(hello, registered, anything);"#,
    );
    let out = tsc(&dir, &good);
    assert!(
        out.status.success(),
        "a correct program must compile:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let wrong_input = program(
        &dir,
        "wrong_input.ts",
        r#"await client.call("demo/greet", { name: 42 });"#,
    );
    let out = tsc(&dir, &wrong_input);
    assert!(!out.status.success(), "a number is not a name");
    assert!(
        text(&out.stdout).contains("wrong_input.ts"),
        "{}",
        text(&out.stdout)
    );

    let missing_field = program(
        &dir,
        "missing_field.ts",
        r#"const greeting = await client.call("demo/greet", { name: "ada" });
console.log(greeting.salutation);"#,
    );
    let out = tsc(&dir, &missing_field);
    assert!(!out.status.success(), "the output has no `salutation`");
    assert!(
        text(&out.stdout).contains("salutation"),
        "{}",
        text(&out.stdout)
    );
}
