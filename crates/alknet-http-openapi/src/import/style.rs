//! OpenAPI's parameter serialization styles, once: how a JSON value becomes the text of a
//! path segment or header (`simple`) and the pairs of a query string or form body (`form`).

use serde_json::Value;

/// A scalar as text: strings as they are, `null` as nothing, anything else as JSON.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Arrays and objects in a path or header: comma-joined (OpenAPI `simple` style).
pub(crate) fn scalar_or_joined(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| [k.clone(), scalar_text(v)])
            .collect::<Vec<_>>()
            .join(","),
        other => scalar_text(other),
    }
}

/// OpenAPI `form` style: arrays repeat (explode) or comma-join; objects spread (explode) or
/// comma-join; null is omitted.
pub(crate) fn form_pairs(
    name: &str,
    value: &Value,
    explode: bool,
    out: &mut Vec<(String, String)>,
) {
    match value {
        Value::Null => {}
        Value::Array(items) if explode => {
            out.extend(items.iter().map(|v| (name.to_owned(), scalar_text(v))));
        }
        Value::Object(map) if explode => {
            out.extend(map.iter().map(|(k, v)| (k.clone(), scalar_text(v))));
        }
        other => out.push((name.to_owned(), scalar_or_joined(other))),
    }
}
