//! Every [`ImportLimits`] bound, crossed: the document is refused before parsing, or the
//! operations past a bound are skipped as `LimitExceeded` while the rest import.

use std::sync::Arc;

use alknet_http_core::AdapterError;
use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_openapi::import::{
    FromOpenApi, HttpServiceConfig, ImportLimits, ImportOptions, ImportReport, NoteKind,
    OpenApiSpec,
};
use serde_json::{Value, json};

fn plan(document: &Value, limits: ImportLimits) -> ImportReport {
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    FromOpenApi::new(
        OpenApiSpec::from_str(&document.to_string()).unwrap(),
        HttpServiceConfig::new("l", "http://127.0.0.1:9"),
        http,
    )
    .with_options(ImportOptions::default().with_limits(limits))
    .plan()
    .unwrap()
}

fn imported(report: &ImportReport) -> Vec<&str> {
    report
        .operations
        .iter()
        .map(|o| o.source.as_str())
        .collect()
}

/// The skipped sources whose reason is a crossed limit, and each reason names the setting.
fn over_limit<'r>(report: &'r ImportReport, setting: &str) -> Vec<&'r str> {
    report
        .skipped
        .iter()
        .filter(|n| n.kind == NoteKind::LimitExceeded)
        .inspect(|n| assert!(n.reason.contains(setting), "{n}"))
        .map(|n| n.source.as_str())
        .collect()
}

fn document(paths: Value, schemas: Value) -> Value {
    json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
           "paths": paths, "components": {"schemas": schemas}})
}

fn post(schema: Value) -> Value {
    json!({"post": {"requestBody": {"required": true,
        "content": {"application/json": {"schema": schema}}}, "responses": {}}})
}

#[test]
fn a_document_over_max_document_bytes_is_refused_before_parsing() {
    let text = document(json!({}), json!({})).to_string();
    let limits = ImportLimits::default().with_max_document_bytes(text.len() - 1);
    let error = OpenApiSpec::parse(&text, &limits).unwrap_err();
    assert!(
        matches!(
            error,
            AdapterError::LimitExceeded {
                limit: "max_document_bytes",
                ..
            }
        ),
        "{error}"
    );
    let limits = ImportLimits::default().with_max_document_bytes(text.len());
    OpenApiSpec::parse(&text, &limits).unwrap();
}

#[test]
fn operations_past_max_operations_are_skipped_with_one_note() {
    let paths: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("/op{i}"), post(json!({"type": "object"}))))
        .collect();
    let doc = document(Value::Object(paths), json!({}));
    let report = plan(&doc, ImportLimits::default().with_max_operations(4));
    assert_eq!(report.operations.len(), 4);
    let over = over_limit(&report, "max_operations");
    assert_eq!(over.len(), 1, "one note for the rest");
    assert!(
        over[0].ends_with("and every operation after it"),
        "{}",
        over[0]
    );
    assert_eq!(plan(&doc, ImportLimits::default()).operations.len(), 10);
}

#[test]
fn a_schema_deeper_than_max_schema_depth_skips_its_operation() {
    let mut deep = json!({"type": "string"});
    for _ in 0..12 {
        deep = json!({"type": "object", "properties": {"x": deep}});
    }
    let doc = document(
        json!({"/deep": post(deep), "/flat": post(json!({"type": "object"}))}),
        json!({}),
    );
    let report = plan(&doc, ImportLimits::default().with_max_schema_depth(8));
    assert_eq!(imported(&report), ["POST /flat"]);
    assert_eq!(over_limit(&report, "max_schema_depth"), ["POST /deep"]);
    assert_eq!(imported(&plan(&doc, ImportLimits::default())).len(), 2);
}

#[test]
fn an_operation_over_max_operation_schema_nodes_is_skipped() {
    let wide: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("p{i}"), json!({"type": "object"})))
        .collect();
    let doc = document(
        json!({"/wide": post(json!({"type": "object", "properties": wide})),
               "/narrow": post(json!({"type": "object"}))}),
        json!({}),
    );
    let report = plan(
        &doc,
        ImportLimits::default().with_max_operation_schema_nodes(30),
    );
    assert_eq!(imported(&report), ["POST /narrow"]);
    assert_eq!(
        over_limit(&report, "max_operation_schema_nodes"),
        ["POST /wide"]
    );
}

#[test]
fn operations_needing_more_than_max_definitions_are_skipped() {
    let schemas = json!({
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "object", "properties": {"c": {"$ref": "#/components/schemas/C"}}},
        "C": {"type": "object"}
    });
    let doc = document(
        json!({"/chain": post(json!({"$ref": "#/components/schemas/A"})),
               "/plain": post(json!({"type": "object"}))}),
        schemas,
    );
    let report = plan(&doc, ImportLimits::default().with_max_definitions(2));
    assert_eq!(imported(&report), ["POST /plain"]);
    assert_eq!(over_limit(&report, "max_definitions"), ["POST /chain"]);
    assert_eq!(
        imported(&plan(&doc, ImportLimits::default().with_max_definitions(3))).len(),
        2
    );
}

#[test]
fn once_max_total_schema_nodes_is_spent_the_remaining_operations_are_skipped() {
    let paths: serde_json::Map<String, Value> = (0..10)
        .map(|i| {
            (
                format!("/op{i}"),
                post(json!({"type": "object", "properties": {"a": {}}})),
            )
        })
        .collect();
    let doc = document(Value::Object(paths), json!({}));
    let report = plan(&doc, ImportLimits::default().with_max_total_schema_nodes(9));
    let skipped = over_limit(&report, "max_total_schema_nodes");
    assert!(
        !report.operations.is_empty() && !skipped.is_empty(),
        "{}",
        report.summary()
    );
    assert_eq!(report.operations.len() + skipped.len(), 10);
    assert_eq!(plan(&doc, ImportLimits::default()).operations.len(), 10);
}

#[test]
fn hostile_yaml_is_refused_not_expanded() {
    // "Billion laughs": nine levels of aliases, each repeating the last nine times.
    let mut yaml =
        String::from("openapi: 3.1.0\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let prev = format!("*a{}", level - 1);
        yaml.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![prev; 9].join(", ")
        ));
    }
    // Refused while reading (the YAML parser bounds alias expansion), long before nine to the
    // ninth nodes could be built.
    let error = OpenApiSpec::parse(&yaml, &ImportLimits::default()).unwrap_err();
    assert!(matches!(error, AdapterError::SchemaParse { .. }), "{error}");
    assert!(error.to_string().contains("not valid YAML"), "{error}");
}
