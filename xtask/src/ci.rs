//! `ci`, `hack` and `package`: the whole check, the feature matrix, verified packaging.

use std::path::PathBuf;

use crate::bench::soak;
use crate::e2e::{
    browser, federation_e2e, mcp_e2e, nats_e2e, oidc_e2e, openapi_e2e, prometheus_e2e,
    schemathesis, typescript_e2e,
};
use crate::openapi_scale::openapi_scale;
use crate::policy::{crypto_guard, lint_source, no_stdio_guard};
use crate::structure::structure;
use crate::{Result, cargo, root, run};

pub(crate) fn ci() -> Result {
    lint_source()?;
    structure()?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "tests",
        cargo().args(["test", "--workspace", "--all-features"]),
    )?;
    run(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    crypto_guard()?;
    no_stdio_guard()?;
    // The short soak: the full load for 15 s on the test build (the full one is `cargo xtask soak`).
    soak(&["--duration".into(), "15".into()], false)?;
    browser()?;
    schemathesis()?;
    openapi_e2e()?;
    openapi_scale()?;
    mcp_e2e()?;
    typescript_e2e()?;
    federation_e2e()?;
    prometheus_e2e()?;
    oidc_e2e()?;
    nats_e2e()?;
    // The cluster soak: a gateway over NATS while its workers churn (nats_e2e installed it).
    soak(
        &[
            "--duration".into(),
            "15".into(),
            "--cluster".into(),
            crate::e2e::NATS_SERVER.into(),
        ],
        false,
    )?;
    hack()?;
    package()
}

/// Workspace packaging extracts our own crates into cargo's registry source cache under a
/// temporary-registry hash; a later run with the same versions would reuse those stale sources.
/// None of our crates come from a real registry, so every cached copy of them is ours to drop.
pub(crate) fn clear_local_package_extractions() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(cargo_home) = cargo_home else { return };
    for area in ["registry/src", "registry/cache"] {
        let Ok(registries) = std::fs::read_dir(cargo_home.join(area)) else {
            continue;
        };
        for registry in registries.flatten() {
            let Ok(entries) = std::fs::read_dir(registry.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with("alknet-http") {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
    }
}

/// Crates that are never published.
pub(crate) const UNPUBLISHED: [&str; 3] = ["xtask", "alknet-http-tests", "alknet-http-bench"];

/// The facade, whose feature powerset is checked.
pub(crate) const FACADE: &str = "alknet-http";

/// Packages (and verifies the build of) every publishable crate.
pub(crate) fn package() -> Result {
    // Registry crates are assumed immutable, so stale extractions and stale builds of our own
    // same-version crates would be reused: start packaging from scratch.
    clear_local_package_extractions();
    let verify_dir = root().join("target/package-verify");
    let _ = std::fs::remove_dir_all(root().join("target/package"));
    let _ = std::fs::remove_dir_all(&verify_dir);
    let mut cmd = cargo();
    cmd.args(["package", "--workspace", "--locked", "--target-dir"]);
    cmd.arg(&verify_dir);
    // The verifying builds are thrown away: debug info and incremental state would only cost
    // time (a packaged crate is built without the workspace's profile, so with full debug
    // info). Measured on 2 cores: 575 s with them, 415 s without.
    cmd.env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0");
    for krate in UNPUBLISHED {
        cmd.args(["--exclude", krate]);
    }
    if std::env::var_os("CI").is_none() {
        // Locally, uncommitted work may be packaged; CI packages its clean clone.
        cmd.arg("--allow-dirty");
    }
    run("cargo package (verified)", &mut cmd)
}

/// Every member crate with each of its features on its own, and the facade's powerset.
pub(crate) fn hack() -> Result {
    ensure_cargo_hack()?;
    let mut members = cargo();
    members.args([
        "hack",
        "check",
        "--workspace",
        "--each-feature",
        "--no-dev-deps",
    ]);
    for krate in UNPUBLISHED.iter().chain([&FACADE]) {
        members.args(["--exclude", krate]);
    }
    run("cargo hack check --each-feature (members)", &mut members)?;
    // `nats` only adds its crate and the modules gated on it, `console` one module and its
    // assets: each is checked on its own and with the defaults rather than in every
    // combination (`nats` alone would add 40 % to this step).
    run(
        "cargo hack check --feature-powerset (facade, without nats and console)",
        cargo().args([
            "hack",
            "check",
            "--package",
            FACADE,
            "--feature-powerset",
            "--depth",
            "3",
            "--exclude-features",
            "nats,console",
            "--no-dev-deps",
        ]),
    )?;
    for features in [
        &["--no-default-features", "--features", "nats"][..],
        &["--features", "nats"],
        &["--no-default-features", "--features", "console"],
    ] {
        run(
            &format!("cargo check (facade, {})", features.join(" ")),
            cargo().args(["check", "--package", FACADE]).args(features),
        )?;
    }
    Ok(())
}

pub(crate) fn ensure_cargo_hack() -> Result {
    let present = cargo()
        .args(["hack", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    run(
        "install cargo-hack",
        cargo().args(["install", "--locked", "cargo-hack"]),
    )
}
