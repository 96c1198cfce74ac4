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
    assert_eq!(caps.services().count(), 2, "clones are independent");
    assert_eq!(
        copy.services().collect::<Vec<_>>(),
        vec!["extra", "github", "stripe"]
    );
}
