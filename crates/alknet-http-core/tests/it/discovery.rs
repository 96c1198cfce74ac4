//! Checklist "Discovery": `services/list` and `services/schema`.

use alknet_http_core::{
    AccessControl, Capabilities, ErrorDefinition, Identity, OperationRegistry, OperationSpec,
    OperationType, Visibility,
};
use serde_json::json;

use crate::fixtures::{counting, dispatch, returning};

fn registry() -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("fs/readFile")
                .with_description("Read a file")
                .with_error(
                    ErrorDefinition::new("FILE_NOT_FOUND", "The file does not exist")
                        .with_schema(json!({"type": "object"})),
                )
                .with_access_control(AccessControl::scopes(["fs:read"])),
            returning(json!("x")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("agent/chat"),
            counting(1),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("fs/internalIndex").internal(),
            returning(json!("x")),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("admin/reset")
                .with_access_control(AccessControl::any_scope(["admin"])),
            returning(json!("x")),
            Capabilities::new(),
        )
        .build()
        .unwrap()
}

fn names(value: &serde_json::Value) -> Vec<String> {
    value["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_shows_external_ops_the_caller_may_call() {
    let d = dispatch(registry());
    let anonymous = d
        .invoke(None, "/services/list", json!(null))
        .await
        .result
        .unwrap();
    assert_eq!(
        names(&anonymous),
        vec!["agent/chat", "services/list", "services/schema"]
    );
    let reader = Identity::new("r").with_scopes(["fs:read"]);
    let listed = d
        .invoke(
            Some(std::sync::Arc::new(reader)),
            "services/list",
            json!({"ignored": true}),
        )
        .await
        .result
        .unwrap();
    assert_eq!(
        names(&listed),
        vec![
            "agent/chat",
            "fs/readFile",
            "services/list",
            "services/schema"
        ]
    );
    let admin = Identity::new("a").with_scopes(["admin", "fs:read"]);
    let all = d
        .invoke(
            Some(std::sync::Arc::new(admin)),
            "services/list",
            json!(null),
        )
        .await
        .result
        .unwrap();
    assert!(
        !names(&all).contains(&"fs/internalIndex".to_owned()),
        "Internal never listed"
    );
    let entry = &all["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "agent/chat")
        .unwrap();
    assert_eq!(
        **entry,
        json!({"name": "agent/chat", "namespace": "agent", "op_type": "subscription"})
    );
    let fs = all["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "fs/readFile")
        .unwrap();
    assert_eq!(fs["description"], "Read a file");
}

#[tokio::test]
async fn schema_returns_the_full_spec_in_both_name_forms() {
    let d = dispatch(registry());
    let reader = Identity::new("r").with_scopes(["fs:read"]);
    for name in ["fs/readFile", "/fs/readFile"] {
        let spec = d
            .invoke(
                Some(std::sync::Arc::new(reader.clone())),
                "services/schema",
                json!({"name": name}),
            )
            .await
            .result
            .unwrap();
        assert_eq!(spec["name"], "fs/readFile");
        assert_eq!(spec["error_schemas"][0]["code"], "FILE_NOT_FOUND");
        assert_eq!(
            spec["access_control"]["required_scopes"],
            json!(["fs:read"])
        );
        let parsed: OperationSpec = serde_json::from_value(spec).unwrap();
        assert_eq!(
            (parsed.op_type, parsed.visibility),
            (OperationType::Query, Visibility::External)
        );
    }
}

#[tokio::test]
async fn schema_hides_unknown_internal_and_unauthorized_alike() {
    let d = dispatch(registry());
    for (who, name) in [
        (None, "fs/readFile"),
        (
            Some(Identity::new("a").with_scopes(["admin", "fs:read"])),
            "fs/internalIndex",
        ),
        (
            Some(Identity::new("a").with_scopes(["admin"])),
            "nope/nothing",
        ),
    ] {
        let e = d
            .invoke(
                who.map(std::sync::Arc::new),
                "services/schema",
                json!({"name": name}),
            )
            .await
            .result
            .unwrap_err();
        assert_eq!(e.code, "NOT_FOUND", "{name}");
        assert_eq!(e.message, format!("operation not found: /{name}"));
    }
    let bad = d
        .invoke(None, "services/schema", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(bad.code, "INVALID_INPUT");
}
