//! JSON Schema 2020-12 translated into TypeScript types, for the declaration file of
//! `types.rs`.
//!
//! What translates: `type` (and lists of types), `const`, `enum`, objects (required and
//! optional properties, `additionalProperties`: `false` closes nothing more than TypeScript's own
//! excess-property check, a schema becomes an index signature when there are no named
//! properties), arrays (`items`, `prefixItems` as tuples), `oneOf`/`anyOf` (unions), `allOf`
//! (intersections), nullables, `$ref` into the schema's own `$defs` and `#` (as named types,
//! so recursion works), `description` (as doc comments). Anything else is `unknown`, as is
//! anything deeper than [`MAX_DEPTH`]: a declaration never fails, it only gets less precise.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};

/// How deep a schema is followed before the rest is `unknown`.
pub(crate) const MAX_DEPTH: usize = 32;

/// The named types one schema needs: its root and each of its `$defs` that is referred to.
pub(crate) struct Translation {
    /// The root's type expression.
    pub(crate) root: String,
    /// `name → type expression` of the definitions the root refers to.
    pub(crate) defs: BTreeMap<String, String>,
}

/// Translates `schema`; `name` is the TypeScript name the root is declared under (a `#`
/// reference), `prefix` the prefix of its definitions' names.
pub(crate) fn translate(schema: &Value, name: &str, prefix: &str) -> Translation {
    let mut translator = Translator {
        root_name: name,
        prefix,
        root_defs: schema.get("$defs").and_then(Value::as_object),
        wanted: Vec::new(),
        defs: BTreeMap::new(),
    };
    let root = translator.expr(schema, 0);
    while let Some(def) = translator.wanted.pop() {
        if translator.defs.contains_key(&def) {
            continue;
        }
        let body = translator
            .root_defs
            .and_then(|defs| defs.get(&def))
            .cloned()
            .unwrap_or(Value::Bool(true));
        // Reserve the name first: a definition that refers to itself is declared once.
        translator.defs.insert(def.clone(), String::new());
        let expr = translator.expr(&body, 0);
        translator.defs.insert(def, expr);
    }
    let defs = translator
        .defs
        .into_iter()
        .map(|(def, expr)| (def_name(prefix, &def), expr))
        .collect();
    Translation { root, defs }
}

/// The TypeScript name of a definition: the prefix, then the definition's name with every
/// character that cannot stand in an identifier dropped.
pub(crate) fn def_name(prefix: &str, def: &str) -> String {
    let mut name = String::from(prefix);
    name.push('_');
    name.extend(
        def.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_'),
    );
    name
}

struct Translator<'a> {
    root_name: &'a str,
    prefix: &'a str,
    root_defs: Option<&'a Map<String, Value>>,
    /// Definitions referred to and not yet translated.
    wanted: Vec<String>,
    defs: BTreeMap<String, String>,
}

impl Translator<'_> {
    fn expr(&mut self, schema: &Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return "unknown".to_owned();
        }
        let object = match schema {
            Value::Bool(true) => return "unknown".to_owned(),
            Value::Bool(false) => return "never".to_owned(),
            Value::Object(object) => object,
            _ => return "unknown".to_owned(),
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.reference(reference);
        }
        if let Some(value) = object.get("const") {
            return literal(value);
        }
        if let Some(Value::Array(values)) = object.get("enum") {
            return union(values.iter().map(literal).collect());
        }
        for (keyword, join) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
            if let Some(Value::Array(parts)) = object.get(keyword) {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|part| self.with_siblings(object, part, keyword, depth))
                    .collect();
                return join_parts(parts, join);
            }
        }
        match object.get("type") {
            Some(Value::String(kind)) => self.of_type(kind, object, depth),
            Some(Value::Array(kinds)) => union(
                kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|kind| self.of_type(kind, object, depth))
                    .collect(),
            ),
            _ if object.contains_key("properties") => self.of_type("object", object, depth),
            _ if object.contains_key("items") => self.of_type("array", object, depth),
            _ => "unknown".to_owned(),
        }
    }

    /// One part of a `oneOf`/`anyOf`/`allOf`, with the keywords beside it (an object's
    /// `type`, shared `properties`) applied to it as well.
    fn with_siblings(
        &mut self,
        object: &Map<String, Value>,
        part: &Value,
        keyword: &str,
        depth: usize,
    ) -> String {
        let siblings: Map<String, Value> = object
            .iter()
            .filter(|(key, _)| {
                key.as_str() != keyword
                    && !matches!(key.as_str(), "description" | "title" | "$defs")
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let part = self.expr(part, depth + 1);
        if siblings.is_empty() {
            return part;
        }
        let shared = self.expr(&Value::Object(siblings), depth + 1);
        if shared == "unknown" {
            part
        } else {
            format!("({shared}) & ({part})")
        }
    }

    fn reference(&mut self, reference: &str) -> String {
        if reference == "#" {
            return self.root_name.to_owned();
        }
        let Some(def) = reference.strip_prefix("#/$defs/") else {
            return "unknown".to_owned();
        };
        let def = def.replace("~1", "/").replace("~0", "~");
        if self.root_defs.is_some_and(|defs| defs.contains_key(&def)) {
            self.wanted.push(def.clone());
            def_name(self.prefix, &def)
        } else {
            "unknown".to_owned()
        }
    }

    fn of_type(&mut self, kind: &str, object: &Map<String, Value>, depth: usize) -> String {
        match kind {
            "string" => "string".to_owned(),
            "number" | "integer" => "number".to_owned(),
            "boolean" => "boolean".to_owned(),
            "null" => "null".to_owned(),
            "array" => self.array(object, depth),
            "object" => self.object(object, depth),
            _ => "unknown".to_owned(),
        }
    }

    fn array(&mut self, object: &Map<String, Value>, depth: usize) -> String {
        if let Some(Value::Array(prefix)) = object.get("prefixItems") {
            let mut parts: Vec<String> = prefix.iter().map(|p| self.expr(p, depth + 1)).collect();
            match object.get("items") {
                Some(Value::Bool(false)) => {}
                Some(items) => parts.push(format!("...({})[]", self.expr(items, depth + 1))),
                None => parts.push("...unknown[]".to_owned()),
            }
            return format!("[{}]", parts.join(", "));
        }
        match object.get("items") {
            Some(items) => format!("({})[]", self.expr(items, depth + 1)),
            None => "unknown[]".to_owned(),
        }
    }

    fn object(&mut self, object: &Map<String, Value>, depth: usize) -> String {
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = object.get("properties").and_then(Value::as_object);
        let mut out = String::from("{ ");
        for (key, property) in properties.into_iter().flatten() {
            if let Some(text) = property.get("description").and_then(Value::as_str) {
                let _ = write!(out, "{} ", doc_comment(text));
            }
            let optional = if required.contains(&key.as_str()) {
                ""
            } else {
                "?"
            };
            let _ = write!(
                out,
                "{}{optional}: {}; ",
                property_name(key),
                self.expr(property, depth + 1)
            );
        }
        let named = properties.is_some_and(|p| !p.is_empty());
        match object.get("additionalProperties") {
            // An open object with named properties declares just those: reading anything
            // else is then a type error, which is what a caller wants to hear.
            None | Some(Value::Bool(false)) if named => {}
            None | Some(Value::Bool(true)) => out.push_str("[key: string]: unknown; "),
            Some(Value::Bool(false)) => {}
            Some(extra) if !named => {
                let _ = write!(out, "[key: string]: {}; ", self.expr(extra, depth + 1));
            }
            Some(_) => out.push_str("[key: string]: unknown; "),
        }
        out.push('}');
        if out == "{ }" {
            // Closed and empty: no key at all.
            return "Record<string, never>".to_owned();
        }
        out
    }
}

/// A JSON value as a TypeScript literal type (`unknown` for arrays and objects).
fn literal(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => value.to_string(),
        _ => "unknown".to_owned(),
    }
}

fn union(parts: Vec<String>) -> String {
    join_parts(parts, " | ")
}

fn join_parts(parts: Vec<String>, join: &str) -> String {
    match parts.len() {
        0 => "never".to_owned(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => parts
            .into_iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(join),
    }
}

/// A property name: bare when it is an identifier, else a quoted string.
fn property_name(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// `text` as a one-line doc comment (a `*/` inside cannot end it).
pub(crate) fn doc_comment(text: &str) -> String {
    let text = text.replace("*/", "*\\/").replace(['\n', '\r'], " ");
    format!("/** {} */", text.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::translate;

    fn ts(schema: serde_json::Value) -> String {
        translate(&schema, "Root", "Root").root
    }

    #[test]
    fn each_keyword_translates() {
        assert_eq!(ts(json!({})), "unknown");
        assert_eq!(ts(json!(false)), "never");
        assert_eq!(ts(json!({"type": "integer"})), "number");
        assert_eq!(ts(json!({"type": ["string", "null"]})), "(string) | (null)");
        assert_eq!(ts(json!({"const": "a"})), "\"a\"");
        assert_eq!(
            ts(json!({"enum": ["a", 1, null]})),
            "(\"a\") | (1) | (null)"
        );
        assert_eq!(
            ts(json!({"type": "array", "items": {"type": "boolean"}})),
            "(boolean)[]"
        );
        assert_eq!(
            ts(json!({"type": "array", "prefixItems": [{"type": "string"}], "items": false})),
            "[string]"
        );
        assert_eq!(
            ts(
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b-c": {}}, "required": ["a"]})
            ),
            "{ a: string; \"b-c\"?: unknown; }"
        );
        assert_eq!(
            ts(json!({"type": "object", "additionalProperties": {"type": "number"}})),
            "{ [key: string]: number; }"
        );
        assert_eq!(ts(json!({"type": "object"})), "{ [key: string]: unknown; }");
        assert_eq!(
            ts(json!({"type": "object", "additionalProperties": false})),
            "Record<string, never>"
        );
        assert_eq!(
            ts(json!({"oneOf": [{"type": "string"}, {"type": "number"}]})),
            "(string) | (number)"
        );
        assert_eq!(ts(json!({"$ref": "#/$defs/missing"})), "unknown");
    }

    #[test]
    fn recursion_goes_through_named_types() {
        let tree = json!({
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#"}}, "leaf": {"$ref": "#/$defs/Leaf"}},
            "required": ["children"],
            "$defs": {"Leaf": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Leaf"}}}}
        });
        let translation = translate(&tree, "Tree", "Tree");
        assert_eq!(
            translation.root,
            "{ children: (Tree)[]; leaf?: Tree_Leaf; }"
        );
        assert_eq!(translation.defs["Tree_Leaf"], "{ next?: Tree_Leaf; }");
    }

    #[test]
    fn a_schema_too_deep_ends_in_unknown() {
        let mut schema = json!({"type": "string"});
        for _ in 0..100 {
            schema = json!({"type": "array", "items": schema});
        }
        assert!(ts(schema).contains("unknown"));
    }
}
