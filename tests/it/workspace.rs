//! Invariants every publishable crate of the workspace keeps.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn member_crates() -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    crates.sort();
    assert!(!crates.is_empty(), "no crates found under crates/");
    crates
}

#[test]
fn lib_rs_opens_with_docs_a_module_map_and_a_feature_table() {
    for krate in member_crates() {
        let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            lib.starts_with("//!"),
            "{name}: lib.rs must open with crate docs"
        );
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "{name}: unsafe must be forbidden"
        );
        assert!(
            lib.contains("#![warn(missing_docs)]"),
            "{name}: missing_docs must warn"
        );
        assert!(
            lib.contains("## Module map"),
            "{name}: lib.rs docs need a module map"
        );
        assert!(
            lib.contains("## Features"),
            "{name}: lib.rs docs need a feature table"
        );
    }
}

#[test]
fn every_dependency_is_pinned_in_the_workspace() {
    for krate in member_crates() {
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        let mut section = String::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            let is_dep_section = section.ends_with("dependencies]");
            if !is_dep_section || line.is_empty() || line.starts_with('#') {
                continue;
            }
            assert!(
                line.contains("workspace = true") || line.contains(".workspace = true"),
                "{}: `{line}` in {section} must use `workspace = true`",
                krate.display()
            );
        }
        for key in [
            "description",
            "license.workspace",
            "documentation",
            "keywords.workspace",
            "categories.workspace",
            "readme",
        ] {
            assert!(
                manifest.contains(key),
                "{}: package metadata `{key}` missing",
                krate.display()
            );
        }
    }
}
