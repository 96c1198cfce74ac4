//! Checklist "Registry": registration rules, the dispatch order, validation, error mapping,
//! panic isolation and deadlines.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::{
    AccessControl, CallError, Capabilities, ErrorDefinition, HandlerKind, HandlerRegistration,
    Identity, InMemoryOwnership, OperationOverlay, OperationRegistry, OperationSpec,
    OwnershipStore, Provenance, RegistryError, SharedDefs,
};
use futures::StreamExt;
use serde_json::json;

use crate::fixtures::{Probe, alice, counting, dispatch, recording_echo, returning};

fn one(spec: OperationSpec, handler: HandlerKind) -> OperationRegistry {
    OperationRegistry::builder()
        .with_leaf(spec, handler, Capabilities::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn register_and_invoke() {
    let d = dispatch(one(
        OperationSpec::query("demo/echo"),
        HandlerKind::once(|i, _| async move { Ok(i) }),
    ));
    let reply = d.invoke(None, "/demo/echo", json!({"a": [1, 2]})).await;
    assert_eq!(reply.result.unwrap(), json!({"a": [1, 2]}));
}

#[test]
fn handler_kind_mismatch_both_ways() {
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::subscription("demo/ticks"),
            returning(json!(1)),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("handler kind mismatch: Subscription requires HandlerKind::Stream"),
        "{err}"
    );
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::mutation("demo/write"),
            counting(1),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("handler kind mismatch: Mutation requires HandlerKind::Once"),
        "{err}"
    );
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/read"),
            counting(1),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        RegistryError::HandlerKindMismatch {
            required: "Once",
            ..
        }
    ));
}

#[test]
fn duplicate_names_fail_at_startup() {
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/echo"),
            returning(json!(1)),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("demo/echo"),
            returning(json!(2)),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert_eq!(err, RegistryError::DuplicateName("demo/echo".into()));
    // The discovery operations are taken too.
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("services/list"),
            returning(json!(1)),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert_eq!(err, RegistryError::DuplicateName("services/list".into()));
}

#[test]
fn malformed_names_and_schemas_fail_at_startup() {
    for name in ["single", "a//b", "a/", "a b/c"] {
        let err = OperationRegistry::builder()
            .with_leaf(
                OperationSpec::query(name),
                returning(json!(1)),
                Capabilities::new(),
            )
            .build()
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidName { .. }),
            "{name}: {err}"
        );
    }
    let err = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("a/b").with_input_schema(json!({"type": 12})),
            returning(json!(1)),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidSchema { .. }), "{err}");
}

#[test]
fn leaves_cannot_carry_authority_and_session_ops_are_internal() {
    let leaf = HandlerRegistration::leaf(
        OperationSpec::query("up/x").internal(),
        returning(json!(1)),
        Provenance::FromOpenApi,
    )
    .with_authority(alknet_http_core::CompositionAuthority::new("x", ["a"]));
    assert!(matches!(
        OperationRegistry::builder().with(leaf).build(),
        Err(RegistryError::InvalidProvenance { .. })
    ));
    let session = HandlerRegistration::leaf(
        OperationSpec::query("s/x"),
        returning(json!(1)),
        Provenance::Session,
    );
    assert!(matches!(
        OperationRegistry::builder().with(session).build(),
        Err(RegistryError::InvalidProvenance { .. })
    ));
}

#[tokio::test]
async fn internal_from_the_wire_is_indistinguishable_from_unknown() {
    let d = dispatch(one(
        OperationSpec::query("demo/secret").internal(),
        returning(json!(1)),
    ));
    let hidden = d
        .invoke(Some(Arc::new(alice())), "/demo/secret", json!({}))
        .await
        .result
        .unwrap_err();
    let unknown = d
        .invoke(Some(Arc::new(alice())), "/demo/secreX", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(hidden.code, "NOT_FOUND");
    assert_eq!(hidden.message, "operation not found: /demo/secret");
    assert_eq!(unknown.message, "operation not found: /demo/secreX");
    assert_eq!(
        (hidden.retryable, hidden.details),
        (unknown.retryable, unknown.details)
    );
    // Same on the streaming path, as a single item.
    let items: Vec<_> = d
        .invoke_streaming(None, "demo/secret", json!({}))
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].result.as_ref().unwrap_err().code, "NOT_FOUND");
}

#[tokio::test]
async fn invalid_operation_type_both_ways() {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/q"),
            returning(json!(1)),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/s"),
            counting(3),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let d = dispatch(registry);
    let e = d
        .invoke(None, "demo/s", json!(null))
        .await
        .result
        .unwrap_err();
    assert_eq!(e.code, "INVALID_OPERATION_TYPE");
    let items: Vec<_> = d
        .invoke_streaming(None, "demo/q", json!(null))
        .collect()
        .await;
    assert_eq!(items.len(), 1, "single-item error stream");
    assert_eq!(
        items[0].result.as_ref().unwrap_err().code,
        "INVALID_OPERATION_TYPE"
    );
}

#[tokio::test]
async fn subscription_streams_items_then_ends() {
    let d = dispatch(one(OperationSpec::subscription("demo/count"), counting(4)));
    let items: Vec<_> = d
        .invoke_streaming(None, "/demo/count", json!(null))
        .collect()
        .await;
    let outputs: Vec<_> = items.into_iter().map(|e| e.result.unwrap()).collect();
    assert_eq!(outputs, vec![json!(0), json!(1), json!(2), json!(3)]);
}

#[tokio::test]
async fn error_item_ends_the_stream_at_once() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let handler = HandlerKind::stream(move |_, _| {
        let guard = DropFlag(flag.clone());
        futures::stream::iter(vec![
            Ok(json!(1)),
            Err(CallError::internal("boom")),
            Ok(json!(3)),
        ])
        .map(move |item| {
            let _keep = &guard;
            item
        })
    });
    let d = dispatch(one(OperationSpec::subscription("demo/fail"), handler));
    let mut stream = d.invoke_streaming(None, "demo/fail", json!(null));
    assert_eq!(stream.next().await.unwrap().result.unwrap(), json!(1));
    assert_eq!(
        stream.next().await.unwrap().result.unwrap_err().message,
        "boom"
    );
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "handler stream dropped right after its error"
    );
    assert!(stream.next().await.is_none(), "nothing after the error");
}

pub(crate) struct DropFlag(pub(crate) Arc<std::sync::atomic::AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn same_checks_on_both_paths_and_denied_calls_never_run() {
    let probe = Probe::default();
    let probe_stream = probe.clone();
    let acl = AccessControl::scopes(["demo:admin"]);
    let schema = json!({"type": "object", "required": ["n"]});
    let caps = Capabilities::new().with_api_key("upstream", "k-123");
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("demo/q")
                .with_access_control(acl.clone())
                .with_input_schema(schema.clone()),
            recording_echo(&probe),
            caps.clone(),
        )
        .with_leaf(
            OperationSpec::subscription("demo/s")
                .with_access_control(acl)
                .with_input_schema(schema),
            HandlerKind::stream(move |_, ctx| {
                probe_stream.record(&ctx);
                futures::stream::iter(vec![Ok(json!(1))])
            }),
            caps,
        )
        .build()
        .unwrap();
    let d = dispatch(registry);
    let admin = Identity::new("root").with_scopes(["demo:admin"]);
    for (who, input, code) in [
        (None, json!({"n": 1}), "FORBIDDEN"),
        (Some(alice()), json!({"n": 1}), "FORBIDDEN"),
        (Some(admin.clone()), json!({"m": 1}), "INVALID_INPUT"),
    ] {
        let once = d
            .invoke(who.clone().map(Arc::new), "demo/q", input.clone())
            .await
            .result
            .unwrap_err();
        let stream: Vec<_> = d
            .invoke_streaming(who.map(Arc::new), "demo/s", input)
            .collect()
            .await;
        assert_eq!(once.code, code);
        assert_eq!(stream.len(), 1);
        assert_eq!(stream[0].result.as_ref().unwrap_err().code, code);
    }
    assert_eq!(
        probe.calls(),
        0,
        "no denied or invalid call reached a handler (nor its capabilities)"
    );
    d.invoke(Some(Arc::new(admin.clone())), "demo/q", json!({"n": 1}))
        .await
        .result
        .unwrap();
    let _: Vec<_> = d
        .invoke_streaming(Some(Arc::new(admin)), "demo/s", json!({"n": 1}))
        .collect()
        .await;
    assert_eq!(probe.calls(), 2);
    assert!(
        probe.last().capabilities().get("upstream").is_some(),
        "allowed calls do get them"
    );
}

#[tokio::test]
async fn validation_errors_are_in_details() {
    let schema = json!({"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}, "n": {"type": "integer", "minimum": 0}}});
    let d = dispatch(one(
        OperationSpec::query("fs/read").with_input_schema(schema),
        returning(json!("ok")),
    ));
    let e = d
        .invoke(None, "fs/read", json!({"path": 3, "n": -1}))
        .await
        .result
        .unwrap_err();
    assert_eq!(e.code, "INVALID_INPUT");
    assert!(!e.retryable);
    let errors = e.details.unwrap()["errors"].as_array().unwrap().clone();
    let paths: Vec<&str> = errors
        .iter()
        .map(|e| e["instance_path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/path") && paths.contains(&"/n"),
        "{errors:?}"
    );
    assert!(
        d.invoke(None, "fs/read", json!({"path": "/etc"}))
            .await
            .result
            .is_ok()
    );
    // Absent input is null, and null is not an object.
    assert_eq!(
        d.invoke(None, "fs/read", json!(null))
            .await
            .result
            .unwrap_err()
            .code,
        "INVALID_INPUT"
    );
}

#[tokio::test]
async fn error_codes_map_per_spec() {
    let spec = OperationSpec::mutation("fs/write")
        .with_error(ErrorDefinition::new("DISK_FULL", "no space"));
    let handler = HandlerKind::once(|input, _| async move {
        let code = input["code"].as_str().unwrap().to_owned();
        Err(CallError::new(code, "failed at /srv/secret.db").with_details(json!({"k": 1})))
    });
    let d = dispatch(one(spec, handler));
    let run = |code: &'static str| {
        let d = d.clone();
        async move {
            d.invoke(None, "fs/write", json!({"code": code}))
                .await
                .result
                .unwrap_err()
        }
    };
    let declared = run("DISK_FULL").await;
    assert_eq!(
        (declared.code.as_str(), declared.details.clone().unwrap()),
        ("DISK_FULL", json!({"k": 1}))
    );
    let protocol = run("TIMEOUT").await;
    assert_eq!(protocol.code, "TIMEOUT");
    let undeclared = run("WEIRD").await;
    assert_eq!(undeclared.code, "INTERNAL");
    // The client learns the code, not the handler's words (they go to the log).
    assert_eq!(undeclared.message, "the operation failed");
    assert_eq!(
        undeclared.details.unwrap(),
        json!({"original_code": "WEIRD"})
    );
    // Undeclared HTTP_<nnn> from a local op is undeclared too.
    assert_eq!(run("HTTP_404").await.code, "INTERNAL");
}

#[tokio::test]
async fn http_importers_pass_upstream_statuses_through() {
    let leaf = HandlerRegistration::leaf(
        OperationSpec::query("pets/get").internal(),
        HandlerKind::once(|_, _| async {
            Err(CallError::new("HTTP_418", "HTTP 418: I'm a teapot"))
        }),
        Provenance::FromOpenApi,
    );
    let registry = OperationRegistry::builder().with(leaf).build().unwrap();
    let reply = registry
        .invoke_root(
            "pets/get",
            json!(null),
            alknet_http_core::RootCall::new().identity(None),
        )
        .await;
    // Internal: the wire cannot reach it at all.
    assert_eq!(reply.result.unwrap_err().code, "NOT_FOUND");
    let op = registry.get("pets/get").unwrap();
    assert_eq!(
        op.map_error(CallError::new("HTTP_418", "x")).code,
        "HTTP_418"
    );
    assert_eq!(op.map_error(CallError::new("OTHER", "x")).code, "INTERNAL");
}

#[tokio::test]
async fn panics_are_isolated() {
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("p/async"),
            HandlerKind::once(|_, _| async { panic!("inside the future") }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("p/sync"),
            HandlerKind::once(|_, _| -> futures::future::Ready<_> { panic!("before the future") }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::subscription("p/stream"),
            HandlerKind::stream(|_, _| {
                futures::stream::iter(0..3).map(|i| {
                    if i == 1 {
                        panic!("mid-stream")
                    } else {
                        Ok(json!(i))
                    }
                })
            }),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::query("p/fine"),
            returning(json!("still here")),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let d = dispatch(registry);
    for op in ["p/async", "p/sync"] {
        let e = d.invoke(None, op, json!(null)).await.result.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("INTERNAL", "handler panicked")
        );
    }
    let items: Vec<_> = d
        .invoke_streaming(None, "p/stream", json!(null))
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].result.as_ref().unwrap_err().code, "INTERNAL");
    assert_eq!(
        d.invoke(None, "p/fine", json!(null)).await.result.unwrap(),
        json!("still here")
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_expiry_is_a_retryable_timeout() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let d = dispatch(one(
        OperationSpec::query("slow/op"),
        HandlerKind::once(move |_, _| {
            let guard = DropFlag(flag.clone());
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(guard);
                Ok(json!("late"))
            }
        }),
    ))
    .with_timeout(Duration::from_secs(5));
    let started = tokio::time::Instant::now();
    let e = d
        .invoke(None, "slow/op", json!(null))
        .await
        .result
        .unwrap_err();
    assert_eq!(e.code, "TIMEOUT");
    assert!(e.retryable);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the handler future was dropped"
    );
}

#[tokio::test]
async fn resource_id_path_is_checked_against_ownership() {
    let store = Arc::new(InMemoryOwnership::new());
    store.record(&alice(), "vm", "vm-1").await;
    let spec = OperationSpec::mutation("vm/stop")
        .with_access_control(AccessControl::default().on_resource("vm", Some("stop")))
        .with_resource_id_path("$.id");
    let d = dispatch(one(spec, returning(json!("stopped")))).with_ownership(store);
    assert!(
        d.invoke(Some(Arc::new(alice())), "vm/stop", json!({"id": "vm-1"}))
            .await
            .result
            .is_ok()
    );
    let other = d
        .invoke(Some(Arc::new(alice())), "vm/stop", json!({"id": "vm-2"}))
        .await
        .result
        .unwrap_err();
    assert_eq!(other.code, "FORBIDDEN");
    let missing = d
        .invoke(Some(Arc::new(alice())), "vm/stop", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(missing.code, "FORBIDDEN");
}

#[test]
fn overlays_accept_imports_and_refuse_duplicates() {
    let overlay = OperationOverlay::new();
    let reg = |name: &str| {
        HandlerRegistration::leaf(
            OperationSpec::query(name).internal(),
            returning(json!(1)),
            Provenance::FromCall,
        )
    };
    overlay.register_imported(reg("peer/a")).unwrap();
    assert_eq!(
        overlay.register_imported(reg("peer/a")),
        Err(RegistryError::DuplicateName("peer/a".into()))
    );
    // All or nothing.
    assert!(
        overlay
            .register_imported_all([reg("peer/b"), reg("peer/b")])
            .is_err()
    );
    assert_eq!(overlay.names(), vec!["peer/a"]);
    overlay
        .register_imported_all([reg("peer/b"), reg("peer/c")])
        .unwrap();
    assert_eq!(overlay.len(), 3);
    overlay.clear();
    assert!(overlay.is_empty());
}

/// Schemas that keep their definitions in `SharedDefs` (large imports) are meta-checked at
/// registration and compiled on the first call: the gate then holds as for any schema, a
/// broken definition is an `INTERNAL` error for that operation only, and `/schema`'s JSON
/// form carries the definitions it needs.
#[tokio::test]
async fn shared_definitions_are_compiled_on_first_use() {
    let defs = SharedDefs::new(
        json!({
            "Pet": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "owner": {"$ref": "#/$defs/Person"}}},
            "Person": {"type": "object", "properties": {"age": {"type": "integer"}}},
            "Broken": {"type": "string", "pattern": "(unclosed"}
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let echo = || HandlerKind::once(|i, _| async move { Ok(i) });
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::mutation("pets/add")
                .with_input_schema(json!({"$ref": "#/$defs/Pet"}))
                .with_shared_defs(defs.clone()),
            echo(),
            Capabilities::new(),
        )
        .with_leaf(
            OperationSpec::mutation("pets/broken")
                .with_input_schema(json!({"$ref": "#/$defs/Broken"}))
                .with_shared_defs(defs.clone()),
            echo(),
            Capabilities::new(),
        )
        .build()
        .expect("a meta-valid root registers; its definitions compile later");
    let d = dispatch(registry.clone());
    let ok = d
        .invoke(
            None,
            "/pets/add",
            json!({"name": "rex", "owner": {"age": 3}}),
        )
        .await;
    assert_eq!(ok.result.unwrap()["name"], "rex");
    let invalid = d
        .invoke(
            None,
            "/pets/add",
            json!({"name": "rex", "owner": {"age": "x"}}),
        )
        .await;
    assert_eq!(invalid.result.unwrap_err().code, "INVALID_INPUT");
    for _ in 0..2 {
        let broken = d
            .invoke(None, "/pets/broken", json!("x"))
            .await
            .result
            .unwrap_err();
        assert_eq!(broken.code, "INTERNAL");
        assert_eq!(
            broken.message,
            "the operation's input schema cannot be used"
        );
    }
    let shown = serde_json::to_value(registry.get("pets/add").unwrap().spec()).unwrap();
    assert_eq!(
        shown["input_schema"]["$defs"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["Person", "Pet"]
    );
    // A root that is not a schema at all is still refused at registration.
    let error = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("pets/bad")
                .with_input_schema(json!({"type": 5}))
                .with_shared_defs(defs),
            echo(),
            Capabilities::new(),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::InvalidSchema { .. }),
        "{error}"
    );
}
