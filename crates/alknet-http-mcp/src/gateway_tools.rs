//! The four gateway tools — `search`, `schema`, `call`, `batch` — ([`ToolMode::Gateway`](crate::ToolMode::Gateway)):
//! their definitions and the checks of their arguments.

use std::sync::Arc;

use alknet_http_core::dispatch::BatchCall;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// The names of the gateway tools, in listing order.
pub(crate) const NAMES: [&str; 4] = ["search", "schema", "call", "batch"];

pub(crate) struct ToolSet {
    pub(crate) tools: Vec<Tool>,
    validators: Vec<jsonschema::Validator>,
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

pub(crate) fn call_error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message", "retryable"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "retryable": {"type": "boolean"},
            "retry_after_ms": {"type": "integer", "minimum": 0},
            "details": {}
        }
    })
}

/// The input and output schemas of the four tools.
fn tool_definitions() -> Vec<(&'static str, &'static str, Value, Value, bool)> {
    let summary = json!({
        "type": "object",
        "required": ["name", "namespace", "op_type"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "op_type": {"enum": ["query", "mutation", "subscription"]},
            "description": {"type": "string"}
        }
    });
    let operation = json!({"type": "string", "minLength": 1, "description": "The operation name, e.g. `/demo/echo`."});
    let one_call = json!({
        "type": "object",
        "required": ["operation"],
        "additionalProperties": false,
        "properties": {
            "operation": operation,
            "input": {"description": "The operation's input (see the `schema` tool). Default null."}
        }
    });
    vec![
        (
            "search",
            "Find the operations you may call: names, namespaces, types and descriptions. Filter by a case-insensitive text `query` (name or description) and/or an exact `namespace`.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "query": {"type": "string"},
                    "namespace": {"type": "string"}
                }
            }),
            json!({
                "type": "object",
                "required": ["operations"],
                "properties": {"operations": {"type": "array", "items": summary}}
            }),
            true,
        ),
        (
            "schema",
            "The full specification of one operation: input and output JSON Schemas, declared errors and access control.",
            json!({
                "type": "object",
                "required": ["operation"],
                "additionalProperties": false,
                "properties": {"operation": operation}
            }),
            // Error results carry a CallError as structured content, and SDK clients validate it
            // against this schema too (the TypeScript SDK does): allow both shapes.
            json!({"type": "object", "anyOf": [
                {"required": ["name", "op_type", "input_schema"]},
                call_error_schema()
            ]}),
            true,
        ),
        (
            "call",
            "Call one operation with its input. The result is `{\"output\": …}`; a subscription streams its items as progress notifications and its output is `{\"items\": […], \"ended\": …}` once it completes or reaches the node's bounds; a failure is an error result carrying the call error (`code`, `message`, `retryable`, `details`).",
            one_call.clone(),
            json!({"type": "object", "anyOf": [
                {"required": ["output"], "properties": {"output": {}}},
                call_error_schema()
            ]}),
            false,
        ),
        (
            "batch",
            "Call several queries or mutations independently (not a transaction). `results` has the same length and order as `calls`; each is `{\"output\": …}` or `{\"error\": CallError, \"status\": <HTTP status>}`.",
            json!({
                "type": "object",
                "required": ["calls"],
                "additionalProperties": false,
                "properties": {"calls": {"type": "array", "items": one_call}}
            }),
            json!({
                "type": "object",
                "required": ["results"],
                "properties": {"results": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"output": {}, "error": call_error_schema(), "status": {"type": "integer"}}
                }}}
            }),
            false,
        ),
    ]
}

impl ToolSet {
    pub(crate) fn new() -> Self {
        let mut tools = Vec::new();
        let mut validators = Vec::new();
        for (name, description, input, output, read_only) in tool_definitions() {
            validators.push(
                jsonschema::validator_for(&input).unwrap_or_else(|e| {
                    unreachable!("the {name} tool's input schema compiles: {e}")
                }),
            );
            let mut annotations = ToolAnnotations::new();
            annotations.read_only_hint = Some(read_only);
            tools.push(
                Tool::new(name, description, object(input))
                    .with_raw_output_schema(object(output))
                    .with_annotations(annotations),
            );
        }
        ToolSet { tools, validators }
    }
}

impl ToolSet {
    /// The arguments of the gateway tool `name`, checked against its input schema: `None` for
    /// another tool, else the problems found.
    pub(crate) fn check(&self, name: &str, arguments: &Value) -> Option<Result<(), String>> {
        let index = self.tools.iter().position(|t| t.name == name)?;
        let problems: Vec<String> = self.validators[index]
            .iter_errors(arguments)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        Some(if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        })
    }
}

/// One `{operation, input}` of the `call` and `batch` tools (their input schemas have checked
/// its shape), taken apart without copying the input.
pub(crate) fn batch_call(mut call: JsonObject) -> BatchCall {
    BatchCall {
        operation: match call.remove("operation") {
            Some(Value::String(operation)) => operation,
            _ => String::new(),
        },
        input: call.remove("input").unwrap_or(Value::Null),
    }
}
