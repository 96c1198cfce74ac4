//! Every OpenAPI 3.0/3.1 document (JSON and YAML) of npm `@readme/oas-examples` imports (what
//! cannot be imported is a note on one operation, never the whole document), and every Swagger
//! 2.0 one is refused with a typed error — never a panic. `cargo xtask ci` installs the package and
//! runs this with `ALKNET_E2E_NODE_MODULES` pointing at its `node_modules`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alknet_http_core::OperationRegistry;
use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_openapi::import::{FromOpenApi, HttpServiceConfig, OpenApiSpec};

fn node_modules() -> PathBuf {
    PathBuf::from(
        std::env::var_os("ALKNET_E2E_NODE_MODULES")
            .expect("set ALKNET_E2E_NODE_MODULES (cargo xtask ci does)"),
    )
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Imports one document: `Ok(line)` or the typed refusal as `Err(line)`.
fn outcome(path: &Path, http: &Arc<SharedHttpClient>) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let spec = OpenApiSpec::from_str(&text).map_err(|e| format!("refused: {e:?}"))?;
    let report = FromOpenApi::new(
        spec,
        HttpServiceConfig::new("x", "http://127.0.0.1:9"),
        http.clone(),
    )
    .plan()
    .map_err(|e| format!("refused: {e:?}"))?;
    let summary = report.summary();
    OperationRegistry::builder()
        .with_all(report.into_registrations())
        .build()
        .map_err(|e| format!("registry refused an import: {e}"))?;
    Ok(summary)
}

#[test]
#[ignore = "needs npm @readme/oas-examples; run by `cargo xtask ci`"]
#[allow(clippy::print_stdout)] // the per-file outcome list is this test's report
fn every_oas_example_imports_or_is_refused_with_a_typed_error() {
    let root = node_modules().join("@readme/oas-examples");
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    let mut imported = 0;
    let mut refused = 0;
    let mut panics = Vec::new();
    let mut registry_errors = Vec::new();
    let mut refused_whole = Vec::new();
    for version in ["3.0", "3.1"] {
        for path in documents(&root.join(version)) {
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outcome(&path, &http))) {
                Ok(Ok(summary)) => {
                    imported += 1;
                    println!("{shown}: {summary}");
                }
                Ok(Err(reason)) if reason.starts_with("registry") => {
                    println!("{shown}: {reason}");
                    registry_errors.push(shown);
                }
                Ok(Err(reason)) => {
                    println!("{shown}: {reason}");
                    refused_whole.push(shown);
                }
                Err(_) => {
                    println!("{shown}: PANIC");
                    panics.push(shown);
                }
            }
        }
    }
    // Swagger 2.0 documents are refused, with the reason.
    for path in documents(&root.join("2.0")) {
        let error = outcome(&path, &http).expect_err("Swagger 2.0 is refused");
        assert!(
            error.starts_with("refused: Unsupported(\"Swagger 2.0"),
            "{}: {error}",
            path.display()
        );
        refused += 1;
    }
    println!("{imported} imported, {refused} refused with a typed error");
    assert!(panics.is_empty(), "panicked on {panics:?}");
    // Every OpenAPI 3.x document imports: what cannot be imported is one operation's note.
    assert!(
        refused_whole.is_empty(),
        "OpenAPI 3 documents refused whole: {refused_whole:?}"
    );
    assert!(
        registry_errors.is_empty(),
        "the registry refused imports of {registry_errors:?}"
    );
    assert!(imported >= 60, "only {imported} documents imported");
}
