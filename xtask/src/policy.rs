//! Source policy: no environment reads or stubs in library code, the crypto provider and
//! no-stdio guards, no module cycles, no oversized library files.

use std::path::{Path, PathBuf};

use crate::{Result, cargo, root};

/// Library crates whose sources must never read the environment.
pub(crate) const LIBRARY_CRATES_DIR: &str = "crates";

/// Patterns that read configuration or secrets from the process environment.
pub(crate) const ENV_READS: &[&str] = &[
    "std::env::var",
    "env::var(",
    "env::var_os",
    "env::vars(",
    "option_env!",
    "env!(",
    "dotenv",
];

pub(crate) const STUBS: &[&str] = &["todo!(", "unimplemented!("];

/// The stack is ring-only: aws-lc must never enter the dependency graph.
pub(crate) fn crypto_guard() -> Result {
    println!("==> crypto guard (no aws-lc)");
    for krate in ["aws-lc-rs", "aws-lc-sys"] {
        let out = cargo()
            .args([
                "tree",
                "--workspace",
                "--all-features",
                "--edges",
                "normal,build",
                "-i",
                krate,
            ])
            .output()
            .map_err(|e| format!("cargo tree: {e}"))?;
        if out.status.success() && !out.stdout.is_empty() {
            return Err(format!(
                "{krate} is in the dependency graph:\n{}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    Ok(())
}

/// No stdio or child-process MCP transport may be compiled in, under any feature: rmcp's
/// `transport-io` and `transport-child-process` stay off (http-surfaces §11, §13).
pub(crate) fn no_stdio_guard() -> Result {
    println!("==> MCP guard (streamable HTTP only: no stdio, no child process)");
    let out = cargo()
        .args([
            "tree",
            "--workspace",
            "--all-features",
            "--edges",
            "features",
            "-i",
            "rmcp",
        ])
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    let tree = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !tree.contains("rmcp feature \"transport-streamable-http-server\"")
    {
        return Err(format!(
            "cannot read rmcp's features:\n{tree}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for forbidden in [
        "transport-io",
        "transport-child-process",
        "which-command",
        "process-wrap",
    ] {
        if tree.contains(&format!("\"{forbidden}\"")) || tree.contains(&format!("{forbidden} v")) {
            return Err(format!("rmcp is built with `{forbidden}`:\n{tree}"));
        }
    }
    Ok(())
}

/// Library code takes configuration and secrets through types only, and ships no stubs.
pub(crate) fn lint_source() -> Result {
    println!("==> source checks (no env reads, no stubs in library code)");
    let mut hits = Vec::new();
    for file in rust_files(&root().join(LIBRARY_CRATES_DIR)) {
        let rel = file.strip_prefix(root()).unwrap_or(&file).to_path_buf();
        let shipped = !rel.components().any(|c| {
            matches!(
                c.as_os_str().to_str(),
                Some("tests" | "benches" | "examples")
            )
        });
        // Binary entry points are not library code (they may read their own build metadata).
        let binary =
            rel.ends_with("src/main.rs") || rel.components().any(|c| c.as_os_str() == "bin");
        if !shipped || binary {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            // The crate's own version, fixed at compile time, is build metadata, not configuration.
            let code = code.replace("env!(\"CARGO_PKG_VERSION\")", "");
            for pattern in ENV_READS.iter().chain(STUBS) {
                if code.contains(pattern) {
                    hits.push(format!(
                        "{}:{}: `{pattern}`: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    if hits.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "library code reads the environment or ships a stub:\n{}",
            hits.join("\n")
        ))
    }
}

pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
            {
                continue;
            }
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
