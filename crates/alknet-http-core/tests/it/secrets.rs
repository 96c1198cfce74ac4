//! Checklist "Secrets": capabilities are never serialized, never printed.

use alknet_http_core::capability::CredentialKind;
use alknet_http_core::{Capabilities, OperationContext};
use secrecy::ExposeSecret;

// Compile-time: no Serialize on capabilities nor on the context that carries them.
static_assertions::assert_not_impl_any!(Capabilities: serde::Serialize);
static_assertions::assert_not_impl_any!(OperationContext: serde::Serialize);
static_assertions::assert_impl_all!(Capabilities: Clone, Send, Sync);

#[test]
fn capabilities_are_redacted_and_readable_only_by_service() {
    let caps = Capabilities::new()
        .with_api_key("stripe", "sk_live_123")
        .with_http_token("github", "ghp_456");
    let shown = format!("{caps:?}");
    assert!(
        !shown.contains("sk_live_123") && !shown.contains("ghp_456"),
        "{shown}"
    );
    assert!(shown.contains("stripe") && shown.contains("redacted"));
    assert_eq!(caps.get("stripe").unwrap().expose_secret(), "sk_live_123");
    assert_eq!(caps.kind("github"), Some(CredentialKind::HttpToken));
    assert!(caps.get("other").is_none());
    let copy = caps.clone().with_api_key("extra", "e");
    assert_eq!(
        caps.services().len(),
        2,
        "built capabilities are independent"
    );
    assert_eq!(copy.services(), ["extra", "github", "stripe"]);
}

#[test]
fn a_rotated_secret_reaches_every_clone() {
    let caps = Capabilities::new().with_http_token("upstream", "old");
    let held_by_a_registration = caps.clone();
    assert!(caps.rotate("upstream", "new"));
    assert_eq!(
        held_by_a_registration
            .get("upstream")
            .unwrap()
            .expose_secret(),
        "new"
    );
    assert_eq!(caps.kind("upstream"), Some(CredentialKind::HttpToken));
    assert!(!caps.rotate("unknown", "x"), "rotating adds nothing");
    assert!(caps.get("unknown").is_none());
}
