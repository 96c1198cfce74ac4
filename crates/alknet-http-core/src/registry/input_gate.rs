//! The input gate of an operation: its input schema compiled once and checked before the
//! handler runs.
//!
//! A self-contained schema is compiled at registration, so a broken one fails the registry
//! build. A schema that keeps its definitions in [`SharedDefs`](crate::SharedDefs) (a large
//! import: thousands of operations reaching thousands of definitions each) is checked against
//! the meta-schema at registration and compiled the first time the operation is called, so
//! importing a description costs what the description weighs, not what every operation's
//! closure of definitions would weigh together.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::error::CallError;
use crate::spec::OperationSpec;

/// An operation's compiled input check.
pub(crate) enum InputGate {
    /// `{}` or `true`: every input passes.
    Open,
    /// Compiled at registration.
    Compiled(jsonschema::Validator),
    /// Compiled on first use, from the spec's self-contained input schema.
    Deferred(OnceLock<Result<jsonschema::Validator, String>>),
}

impl InputGate {
    /// Compiles (or, for shared definitions, meta-checks) `spec`'s input schema.
    pub(crate) fn for_spec(spec: &OperationSpec) -> Result<Self, String> {
        let schema = &spec.input_schema;
        if is_trivial_schema(schema) {
            return Ok(InputGate::Open);
        }
        if spec.shared_defs.is_some() {
            jsonschema::meta::validate(schema).map_err(|e| e.to_string())?;
            return Ok(InputGate::Deferred(OnceLock::new()));
        }
        jsonschema::validator_for(schema)
            .map(InputGate::Compiled)
            .map_err(|e| e.to_string())
    }

    /// Checks `input`: `INVALID_INPUT` with the first 32 violations in `details.errors`.
    pub(crate) fn check(&self, spec: &OperationSpec, input: &Value) -> Result<(), CallError> {
        let validator = match self {
            InputGate::Open => return Ok(()),
            InputGate::Compiled(validator) => validator,
            InputGate::Deferred(cell) => {
                let compiled = cell.get_or_init(|| {
                    jsonschema::validator_for(&spec.self_contained(&spec.input_schema))
                        .map_err(|e| e.to_string())
                });
                match compiled {
                    Ok(validator) => validator,
                    Err(reason) => {
                        // The detail is ours to fix, not the caller's: it goes to the log.
                        tracing::error!(operation = %spec.name, %reason, "input schema unusable");
                        return Err(CallError::internal(
                            "the operation's input schema cannot be used",
                        ));
                    }
                }
            }
        };
        if validator.is_valid(input) {
            return Ok(());
        }
        const MAX_REPORTED: usize = 32;
        let errors: Vec<Value> = validator
            .iter_errors(input)
            .take(MAX_REPORTED)
            .map(|e| {
                json!({
                    "instance_path": e.instance_path().to_string(),
                    "schema_path": e.schema_path().to_string(),
                    "message": e.to_string(),
                })
            })
            .collect();
        let first = errors
            .first()
            .and_then(|e| e["message"].as_str())
            .unwrap_or("invalid input")
            .to_owned();
        Err(
            CallError::invalid_input(format!("input does not match the schema: {first}"))
                .with_details(json!({ "errors": errors })),
        )
    }
}

fn is_trivial_schema(schema: &Value) -> bool {
    match schema {
        Value::Bool(true) => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}
