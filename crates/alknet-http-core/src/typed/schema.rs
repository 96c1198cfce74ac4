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
/// describe what serializes. An adjacently tagged enum's unit variant allows its content key
/// only as `null`, as serde does (schemars leaves it open).
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
        .with_transform(adjacent_unit_content as fn(&mut Schema))
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

/// In an adjacently tagged enum (`#[serde(tag = "t", content = "c")]`) serde refuses a unit
/// variant whose content key holds anything but `null`; schemars does not say so. An enum is
/// taken as adjacently tagged when every variant is an object with the same `const` tag key
/// and every variant that has another property has the same one, the content key: the unit
/// variants (tag only) then get that key as `null`.
fn adjacent_unit_content(schema: &mut Schema) {
    transform_subschemas(&mut adjacent_unit_content, schema);
    let Some(Value::Array(variants)) = schema.get_mut("oneOf") else {
        return;
    };
    let Some(tag) = common_tag(variants) else {
        return;
    };
    let mut content = None;
    for variant in variants.iter() {
        let others: Vec<&String> = variant["properties"]
            .as_object()
            .map(|p| p.keys().filter(|k| **k != tag).collect())
            .unwrap_or_default();
        match others.as_slice() {
            [] => {}
            [key] if content.as_ref().is_none_or(|c| c == *key) => content = Some((*key).clone()),
            _ => return,
        }
    }
    let Some(content) = content else { return };
    for variant in variants.iter_mut() {
        if let Some(Value::Object(properties)) = variant.get_mut("properties")
            && properties.len() == 1
        {
            properties.insert(content.clone(), json!({ "type": "null" }));
        }
    }
}

/// The property every variant pins with `const`, if there is one.
fn common_tag(variants: &[Value]) -> Option<String> {
    let first = variants.first()?["properties"].as_object()?;
    first
        .iter()
        .filter(|(_, property)| property.get("const").is_some())
        .map(|(key, _)| key)
        .find(|key| {
            variants
                .iter()
                .all(|v| v["properties"][key.as_str()].get("const").is_some())
        })
        .cloned()
}
