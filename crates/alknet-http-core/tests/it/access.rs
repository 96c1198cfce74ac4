//! Checklist "ACL/spec".

use alknet_http_core::access::ResourceTarget;
use alknet_http_core::{
    AccessControl, AccessDecision, ErrorDefinition, Identity, InMemoryOwnership, OperationRegistry,
    OperationSpec, OwnershipStore, RegistryError,
};
use serde_json::json;

use crate::fixtures::returning;

fn forbidden(reason: &str) -> AccessDecision {
    AccessDecision::Forbidden(reason.into())
}

#[test]
fn path_and_namespace() {
    let spec = OperationSpec::query("docker/container/exec");
    assert_eq!(spec.path(), "/docker/container/exec");
    assert_eq!(spec.namespace, "docker");
    let slashed = OperationSpec::mutation("/fs/writeFile");
    assert_eq!(slashed.name, "fs/writeFile", "leading slash stripped");
    assert_eq!(slashed.namespace, "fs");
}

#[test]
fn spec_json_form_matches_the_protocol() {
    let spec = OperationSpec::query("fs/readFile")
        .with_error(
            ErrorDefinition::new("FILE_NOT_FOUND", "The file does not exist")
                .with_schema(json!({"type": "object"})),
        )
        .with_access_control(AccessControl::scopes(["fs:read"]));
    let expected = json!({"name":"fs/readFile","namespace":"fs","op_type":"query","visibility":"external","input_schema":{},"output_schema":{},
        "error_schemas":[{"code":"FILE_NOT_FOUND","description":"The file does not exist","schema":{"type":"object"},"http_status":null}],
        "access_control":{"required_scopes":["fs:read"],"required_scopes_any":null,"resource_type":null,"resource_action":null},
        "resource_id_path":null});
    assert_eq!(serde_json::to_value(&spec).unwrap(), expected);
    let back: OperationSpec = serde_json::from_value(expected).unwrap();
    assert_eq!(back, spec);
    let sub = serde_json::to_value(OperationSpec::subscription("a/b").internal()).unwrap();
    assert_eq!(sub["op_type"], "subscription");
    assert_eq!(sub["visibility"], "internal");
}

#[test]
fn empty_acl_allows_anonymous() {
    assert!(
        AccessControl::default()
            .check(None, ResourceTarget::Unspecified, None)
            .is_allowed()
    );
}

#[test]
fn any_restriction_without_identity_requires_authentication() {
    for acl in [
        AccessControl::scopes(["a"]),
        AccessControl::any_scope(["a"]),
        AccessControl::default().on_resource("vm", None),
    ] {
        assert_eq!(
            acl.check(None, ResourceTarget::Unspecified, None),
            forbidden("authentication required")
        );
    }
}

#[test]
fn required_scopes_are_all_of_exact_matches() {
    let acl = AccessControl::scopes(["fs:read", "fs:list"]);
    let both = Identity::new("a").with_scopes(["fs:read", "fs:list"]);
    let one = Identity::new("b").with_scopes(["fs:read"]);
    let prefix = Identity::new("c").with_scopes(["fs:read", "fs:*", "fs"]);
    assert!(
        acl.check(Some(&both), ResourceTarget::Unspecified, None)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&one), ResourceTarget::Unspecified, None)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&prefix), ResourceTarget::Unspecified, None)
            .is_allowed(),
        "no wildcard matching"
    );
}

#[test]
fn required_scopes_any_is_one_of() {
    let acl = AccessControl::any_scope(["admin", "ops"]);
    assert!(
        acl.check(
            Some(&Identity::new("a").with_scopes(["ops"])),
            ResourceTarget::Unspecified,
            None
        )
        .is_allowed()
    );
    assert!(
        !acl.check(
            Some(&Identity::new("b").with_scopes(["dev"])),
            ResourceTarget::Unspecified,
            None
        )
        .is_allowed()
    );
    // An empty any-list denies everyone.
    let none: AccessControl = AccessControl::any_scope(Vec::<String>::new());
    assert!(
        !none
            .check(
                Some(&Identity::new("c").with_scopes(["admin"])),
                ResourceTarget::Unspecified,
                None
            )
            .is_allowed()
    );
}

#[test]
fn and_plus_or_combined() {
    let acl = AccessControl {
        required_scopes_any: Some(vec!["x".into(), "y".into()]),
        ..AccessControl::scopes(["base"])
    };
    let ok = Identity::new("a").with_scopes(["base", "y"]);
    let no_base = Identity::new("b").with_scopes(["x"]);
    let no_any = Identity::new("c").with_scopes(["base"]);
    assert!(
        acl.check(Some(&ok), ResourceTarget::Unspecified, None)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&no_base), ResourceTarget::Unspecified, None)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&no_any), ResourceTarget::Unspecified, None)
            .is_allowed()
    );
}

#[test]
fn static_resources_without_provider() {
    let with_action = AccessControl::default().on_resource("vm", Some("start"));
    let without_action = AccessControl::default().on_resource("vm", None);
    let holder = Identity::new("a").with_resources("vm", ["start", "stop"]);
    let other = Identity::new("b").with_resources("vm", ["stop"]);
    let empty = Identity::new("c").with_resources("vm", Vec::<String>::new());
    let t = ResourceTarget::Unspecified;
    assert!(with_action.check(Some(&holder), t, None).is_allowed());
    assert!(!with_action.check(Some(&other), t, None).is_allowed());
    assert!(without_action.check(Some(&other), t, None).is_allowed());
    assert!(!without_action.check(Some(&empty), t, None).is_allowed());
    assert!(
        !without_action
            .check(Some(&Identity::new("d")), t, None)
            .is_allowed()
    );
}

#[tokio::test]
async fn ownership_provider_owns_owns_any_and_missing_id() {
    let store = InMemoryOwnership::new();
    let alice = Identity::new("alice");
    let bob = Identity::new("bob");
    store.record(&alice, "vm", "vm-1").await;
    let acl = AccessControl::default().on_resource("vm", Some("exec"));
    let p: Option<&dyn alknet_http_core::OwnershipProvider> = Some(&store);
    assert!(
        acl.check(Some(&alice), ResourceTarget::Id("vm-1"), p)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&bob), ResourceTarget::Id("vm-1"), p)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&alice), ResourceTarget::Id("vm-2"), p)
            .is_allowed()
    );
    // No resource_id_path: the list case asks owns_any.
    assert!(
        acl.check(Some(&alice), ResourceTarget::Unspecified, p)
            .is_allowed()
    );
    assert!(
        !acl.check(Some(&bob), ResourceTarget::Unspecified, p)
            .is_allowed()
    );
    // A path was declared but the input has no string there: fail closed.
    assert_eq!(
        acl.check(Some(&alice), ResourceTarget::Missing, p),
        forbidden("resource id missing from input")
    );
    assert_eq!(
        alknet_http_core::OwnershipProvider::owned_resources(&store, &alice, "vm"),
        vec!["vm-1"]
    );
    store.revoke("vm", "vm-1").await;
    assert!(
        !acl.check(Some(&alice), ResourceTarget::Id("vm-1"), p)
            .is_allowed()
    );
}

#[test]
fn resource_target_extraction() {
    let input = json!({"vm": {"id": "vm-7"}, "n": 3, "name": "x"});
    assert_eq!(
        ResourceTarget::extract(None, &input),
        ResourceTarget::Unspecified
    );
    assert_eq!(
        ResourceTarget::extract(Some("$.name"), &input),
        ResourceTarget::Id("x")
    );
    assert_eq!(
        ResourceTarget::extract(Some("$.vm.id"), &input),
        ResourceTarget::Id("vm-7")
    );
    assert_eq!(
        ResourceTarget::extract(Some("$.n"), &input),
        ResourceTarget::Missing,
        "not a string"
    );
    assert_eq!(
        ResourceTarget::extract(Some("$.absent"), &input),
        ResourceTarget::Missing
    );
}

#[test]
fn resource_action_without_type_is_rejected_at_registration() {
    let acl = AccessControl {
        resource_action: Some("exec".into()),
        ..AccessControl::default()
    };
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("vm/exec").with_access_control(acl),
            returning(json!(1)),
            Default::default(),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidAccessControl { .. }),
        "{err}"
    );
    let bad_path = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("vm/get").with_resource_id_path("id"),
            returning(json!(1)),
            Default::default(),
        )
        .build()
        .unwrap_err();
    assert!(matches!(
        bad_path,
        RegistryError::InvalidAccessControl { .. }
    ));
}
