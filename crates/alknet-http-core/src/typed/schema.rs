//! JSON Schemas generated from Rust types (schemars, JSON Schema 2020-12).

use schemars::generate::SchemaSettings;
use schemars::transform::transform_subschemas;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

/// The schema of what deserializes into `T`: a typed operation's input.
///
/// What we choose, and why: every subschema is inlined, because many MCP clients and code
/// generators do not resolve `$ref`; only a recursive type keeps its definition, in the root's
/// `$defs` (a self-reference of the root itself is `{"$ref": "#"}`), so each schema stays
/// self-contained and finite. Integers carry the bounds of their Rust type (schemars leaves them
/// off `i32`, `i64`, `u32` and `u64`, so a schema would pass what serde refuses). No `$schema`
/// keyword: every schema of an operation spec is
/// 2020-12 by definition (call-protocol §7). Doc comments become `description`s. Input schemas
/// describe what deserializes (serde's `deny_unknown_fields` becomes
/// `additionalProperties: false`, a field with a default is not required); output schemas
/// describe what serializes.
///
/// ```
/// use alknet_http_core::typed::input_schema;
/// use schemars::JsonSchema;
///
/// /// A tree.
/// #[derive(serde::Deserialize, JsonSchema)]
/// struct Node {
///     children: Vec<Node>,
/// }
/// let schema = input_schema::<Node>();
/// assert_eq!(schema["description"], "A tree.");
/// assert_eq!(schema["properties"]["children"]["items"]["$ref"], "#");
/// ```
pub fn input_schema<T: JsonSchema>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_deserialize())
}

/// The schema of what `T` serializes to: a typed operation's output, an error's details.
pub fn output_schema<T: JsonSchema>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_serialize())
}

fn generate<T: JsonSchema>(settings: SchemaSettings) -> Value {
    settings
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(bound_integers as fn(&mut Schema))
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// Adds the range of a Rust integer type to a schema with its `format` that lacks one.
fn bound_integers(schema: &mut Schema) {
    let range = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
        Some("uint32") => Some((json!(0), json!(u32::MAX))),
        Some("int64" | "int") => Some((json!(i64::MIN), json!(i64::MAX))),
        Some("uint64" | "uint") => Some((json!(0), json!(u64::MAX))),
        _ => None,
    };
    if let (Some((min, max)), Some(object)) = (range, schema.as_object_mut()) {
        object.entry("minimum").or_insert(min);
        object.entry("maximum").or_insert(max);
    }
    transform_subschemas(&mut bound_integers, schema);
}
