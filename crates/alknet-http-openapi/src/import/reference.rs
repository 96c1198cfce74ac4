//! JSON pointers and `$ref`s within one document: resolving them, and following the `$ref`s of
//! objects that are not schemas (parameters, request bodies, responses).

use serde_json::Value;

use super::skip::SchemaError;

/// Resolves a JSON pointer (already percent-decoded) in `document`.
pub(crate) fn resolve_pointer<'v>(document: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(document);
    }
    let mut current = document;
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = unescape_token(token);
        current = match current {
            Value::Object(map) => map.get(&token)?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

pub(crate) fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

pub(crate) fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Follows `$ref`s of non-schema objects (parameters, request bodies, responses), at most a
/// few hops, returning the object they end at.
pub(crate) fn deref<'v>(
    document: &'v Value,
    mut value: &'v Value,
) -> Result<&'v Value, SchemaError> {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(SchemaError::unsupported(format!(
                "external $ref `{reference}` (only references within the document are supported)"
            )));
        };
        value = resolve_pointer(document, &percent_decode(pointer))
            .ok_or_else(|| SchemaError::invalid(format!("unresolvable $ref `{reference}`")))?;
    }
    Err(SchemaError::invalid(
        "a $ref chain is longer than 16 hops or loops",
    ))
}
