//! Direct tools: one MCP tool per operation ([`ToolMode::Direct`](crate::ToolMode::Direct)).
//!
//! - The name is derived from the operation name alone, so every node serving the same
//!   operations names them alike and any replica resolves a `tools/call` without having listed.
//! - The tool's schemas are the operation's where MCP allows them; MCP wants an object for the
//!   arguments and the structured result, so others travel wrapped (under `input` and
//!   `result`).
//! - The annotations say what the operation type says: a Query only reads and may be repeated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use alknet_http_core::OperationSpec;
use alknet_http_core::registry::RegisteredOperation;
use alknet_http_core::spec::OperationType;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The longest tool name: what common agents and model APIs accept.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// The key a non-object input travels under in a direct tool's arguments.
const INPUT_KEY: &str = "input";
/// The key a non-object output travels under in a direct tool's structured result.
const RESULT_KEY: &str = "result";

/// The direct tool name of an operation (registry form `ns/op`, or with a leading `/`):
/// its segments joined by `.`.
///
/// A name that needs more is made unique with a hash of the operation name instead: when a
/// segment holds a character outside `A–Z a–z 0–9 _ -` (it becomes `_`), or when the name would
/// exceed [`MAX_TOOL_NAME_LEN`] (it is cut), the name ends in `-` and 8 hex digits of the
/// operation name's SHA-256.
///
/// ```
/// use alknet_http_mcp::direct_tool_name;
/// assert_eq!(direct_tool_name("/demo/greet"), "demo.greet");
/// assert!(direct_tool_name("petstore/pets:get").starts_with("petstore.pets_get-"));
/// assert!(direct_tool_name(&format!("ns/{}", "x".repeat(100))).len() <= 64);
/// ```
pub fn direct_tool_name(operation: &str) -> String {
    let operation = operation.strip_prefix('/').unwrap_or(operation);
    let mut lossy = false;
    let name: String = operation
        .chars()
        .map(|c| match c {
            '/' => '.',
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c,
            _ => {
                lossy = true;
                '_'
            }
        })
        .collect();
    if !lossy && name.len() <= MAX_TOOL_NAME_LEN {
        return name;
    }
    let digest = Sha256::digest(operation.as_bytes());
    let suffix = hex::encode(&digest[..4]);
    // ASCII only by now: cutting at a byte index is cutting at a character.
    let kept = MAX_TOOL_NAME_LEN - suffix.len() - 1;
    format!("{}-{suffix}", &name[..name.len().min(kept)])
}

/// The operation a direct tool name names without a hash (the inverse of the plain form of
/// [`direct_tool_name`]); `None` for hashed names, which are resolved by search.
pub(crate) fn plain_operation(tool: &str) -> Option<String> {
    let plain = tool.contains('.')
        && tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !is_hashed(tool);
    plain.then(|| tool.replace('.', "/"))
}

/// Whether `tool` ends like a hashed name (`-` and 8 lowercase hex digits).
fn is_hashed(tool: &str) -> bool {
    tool.len() > 9
        && tool.as_bytes()[tool.len() - 9] == b'-'
        && tool[tool.len() - 8..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a schema describes JSON objects only.
fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

/// Whether a schema accepts anything (`{}` or `true`).
fn is_any_schema(schema: &Value) -> bool {
    schema == &Value::Bool(true) || schema.as_object().is_some_and(|o| o.is_empty())
}

/// How a direct tool's arguments become the operation's input.
pub(crate) fn input_of(spec: &OperationSpec, mut arguments: JsonObject) -> Value {
    if is_object_schema(&spec.input_schema) || is_any_schema(&spec.input_schema) {
        Value::Object(arguments)
    } else {
        arguments.remove(INPUT_KEY).unwrap_or(Value::Null)
    }
}

/// How an operation's output becomes a direct tool's structured result: as it is when the
/// operation's output schema describes objects, else wrapped (by the schema, not the value,
/// so the result always matches the tool's output schema).
pub(crate) fn structured_output(spec: &OperationSpec, output: Value) -> Value {
    // A subscription's result is already `{items, ended}`.
    if spec.op_type == OperationType::Subscription || is_object_schema(&spec.output_schema) {
        output
    } else {
        json!({ RESULT_KEY: output })
    }
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The direct tool of an operation.
pub(crate) fn tool(spec: &OperationSpec) -> Tool {
    let input = spec.self_contained(&spec.input_schema);
    let input_schema = if is_object_schema(&input) {
        input.into_owned()
    } else if is_any_schema(&input) {
        json!({"type": "object"})
    } else {
        json!({
            "type": "object",
            "required": [INPUT_KEY],
            "properties": { INPUT_KEY: input.into_owned() }
        })
    };
    let output = spec.self_contained(&spec.output_schema);
    let output_schema = match spec.op_type {
        OperationType::Subscription => crate::streamed::result_schema(output.into_owned()),
        _ if is_object_schema(&output) => output.into_owned(),
        _ => json!({
            "type": "object",
            "required": [RESULT_KEY],
            "properties": { RESULT_KEY: output.into_owned() }
        }),
    };
    let mut annotations = ToolAnnotations::new();
    annotations.title = Some(spec.name.clone());
    match spec.op_type {
        OperationType::Query | OperationType::Subscription => {
            annotations = annotations
                .read_only(true)
                .idempotent(true)
                .destructive(false);
        }
        OperationType::Mutation => {
            annotations = annotations.read_only(false).idempotent(spec.idempotent);
        }
    }
    let description = spec.description.clone().unwrap_or_else(|| {
        let kind = match spec.op_type {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        format!("The {kind} `{}`.", spec.name)
    });
    Tool::new(
        direct_tool_name(&spec.name),
        description,
        object(input_schema),
    )
    .with_title(spec.name.clone())
    .with_raw_output_schema(object(output_schema))
    .with_annotations(annotations)
}

/// Direct tools built once per operation: rmcp asks for a tool on every `tools/call` (to check
/// its standard headers against the input schema), and building one copies its schemas.
#[derive(Default)]
pub(crate) struct ToolCache {
    /// By operation name: the operation the tool was built from, and the tool.
    tools: Mutex<HashMap<String, (Weak<RegisteredOperation>, Tool)>>,
}

/// How many tools the cache holds before it drops those of operations that are gone.
const CACHE_PRUNE_AT: usize = 4096;

impl ToolCache {
    /// The direct tool of `op`, built when `op` (this registration of its name) is new.
    pub(crate) fn tool(&self, op: &Arc<RegisteredOperation>) -> Tool {
        let mut tools = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((built_from, tool)) = tools.get(op.spec().name.as_str())
            && std::ptr::eq(built_from.as_ptr(), Arc::as_ptr(op))
        {
            return tool.clone();
        }
        let built = tool(op.spec());
        if tools.len() >= CACHE_PRUNE_AT {
            tools.retain(|_, (built_from, _)| built_from.strong_count() > 0);
        }
        tools.insert(op.spec().name.clone(), (Arc::downgrade(op), built.clone()));
        built
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_invert() {
        for op in ["demo/greet", "a/b/c", "ns-1/op_2"] {
            let name = direct_tool_name(op);
            assert_eq!(plain_operation(&name).as_deref(), Some(op));
        }
    }

    #[test]
    fn lossy_and_long_names_are_hashed_and_distinct() {
        let a = direct_tool_name("ns/a b");
        let b = direct_tool_name("ns/a:b");
        assert_ne!(a, b);
        assert!(is_hashed(&a) && is_hashed(&b));
        assert_eq!(plain_operation(&a), None);
        let long = direct_tool_name(&format!("ns/{}", "y".repeat(200)));
        assert_eq!(long.len(), MAX_TOOL_NAME_LEN);
        assert!(is_hashed(&long));
        // Exactly 64 characters needs no hash.
        let exact = format!("ns/{}", "z".repeat(61));
        assert_eq!(direct_tool_name(&exact).len(), 64);
        assert_eq!(plain_operation(&direct_tool_name(&exact)), Some(exact));
    }

    #[test]
    fn non_object_inputs_and_outputs_travel_wrapped() {
        let spec = OperationSpec::query("ns/len").with_input_schema(json!({"type": "string"}));
        let tool = tool(&spec);
        assert_eq!(tool.input_schema["required"], json!(["input"]));
        let mut args = JsonObject::new();
        args.insert("input".into(), json!("abc"));
        assert_eq!(input_of(&spec, args), json!("abc"));
        assert_eq!(structured_output(&spec, json!(3)), json!({"result": 3}));
        // Wrapped by the schema, whatever the value.
        assert_eq!(
            structured_output(&spec, json!({"n": 3})),
            json!({"result": {"n": 3}})
        );
        let objects = spec.with_output_schema(json!({"type": "object"}));
        assert_eq!(
            structured_output(&objects, json!({"n": 3})),
            json!({"n": 3})
        );
        let annotations = tool.annotations.unwrap();
        assert_eq!(annotations.read_only_hint, Some(true));
    }
}
