//! Turning OpenAPI schemas into JSON Schema 2020-12 whose definitions are shared.
//!
//! Every local `$ref` (`#/components/schemas/Pet`, or any other JSON pointer into the document)
//! becomes `#/$defs/<key>`, and the referenced schemas are normalised once per import into one
//! [`SharedDefs`] that every operation's spec holds (and attaches when a self-contained schema
//! is asked for), so recursive and mutually recursive schemas stay what they are and no schema
//! is ever expanded in place or copied per operation. OpenAPI 3.0's dialect is rewritten: `nullable` → a `"null"` type (or
//! `anyOf` with `{"type": "null"}`), boolean `exclusiveMinimum`/`exclusiveMaximum` → numbers.
//! `allOf`/`oneOf`/`anyOf`/`discriminator` are kept.

use std::collections::{BTreeSet, HashMap};

use alknet_http_core::SharedDefs;
use serde_json::{Map, Value, json};

use super::document::OpenApiVersion;
use super::limits::ImportLimits;
use super::reference::{percent_decode, resolve_pointer, unescape_token};
use super::skip::SchemaError;

/// Normalises the schemas of one document, caching each referenced schema.
#[derive(Debug)]
pub(crate) struct Normalizer<'a> {
    document: &'a Value,
    version: OpenApiVersion,
    /// JSON pointer → `$defs` key, unique per document.
    keys: HashMap<String, String>,
    /// `$defs` key → JSON pointer.
    pointers: HashMap<String, String>,
    used_keys: BTreeSet<String>,
    limits: ImportLimits,
    /// Schema nodes walked in all, and since the current operation or definition began.
    nodes: usize,
    schema_nodes: usize,
}

impl<'a> Normalizer<'a> {
    pub(crate) fn new(document: &'a Value, version: OpenApiVersion, limits: ImportLimits) -> Self {
        Normalizer {
            document,
            version,
            keys: HashMap::new(),
            pointers: HashMap::new(),
            used_keys: BTreeSet::new(),
            limits,
            nodes: 0,
            schema_nodes: 0,
        }
    }

    /// Starts counting the nodes of one operation's schemas (or one definition's) afresh.
    pub(crate) fn begin_schema(&mut self) {
        self.schema_nodes = 0;
    }

    /// Normalises `schema` (which may refer to definitions), recording the definitions it needs
    /// in `needs`.
    pub(crate) fn normalize(
        &mut self,
        schema: &Value,
        needs: &mut BTreeSet<String>,
    ) -> Result<Value, SchemaError> {
        self.walk(schema, needs, 0)
    }

    /// Normalises, once each, every definition reachable from `needs` (the union of what the
    /// document's operations refer to) and hands them over as one [`SharedDefs`]. Also returns,
    /// for each key whose closure holds a definition that cannot be used, why — an operation
    /// that needs such a key is skipped. Cost: each reachable definition is walked once, so
    /// the whole step is bounded by the document, not by how many operations share what.
    pub(crate) fn share(
        &mut self,
        needs: &BTreeSet<String>,
    ) -> (SharedDefs, HashMap<String, SchemaError>) {
        let mut defs = Map::new();
        let mut broken: Vec<(String, SchemaError)> = Vec::new();
        // key → the keys whose definitions refer to it.
        let mut referrers: HashMap<String, Vec<String>> = HashMap::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut pending: Vec<String> = needs.iter().cloned().collect();
        while let Some(key) = pending.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            if defs.len() >= self.limits.max_definitions {
                let max = self.limits.max_definitions;
                broken.push((
                    key,
                    SchemaError::limit(format!(
                        "the import keeps at most {max} shared definitions (max_definitions)"
                    )),
                ));
                continue;
            }
            self.begin_schema();
            match self.take_definition(&key) {
                Ok((schema, deps)) => {
                    if let Err(e) = jsonschema::meta::validate(&schema) {
                        broken.push((
                            key.clone(),
                            SchemaError::invalid(format!(
                                "definition `{key}` is not a valid schema: {e}"
                            )),
                        ));
                    }
                    for dep in deps {
                        referrers.entry(dep.clone()).or_default().push(key.clone());
                        pending.push(dep);
                    }
                    defs.insert(key, schema);
                }
                Err(reason) => broken.push((key, reason)),
            }
        }
        // A definition is unusable when anything it reaches is: spread each failure up.
        let mut unusable: HashMap<String, SchemaError> = HashMap::new();
        while let Some((key, reason)) = broken.pop() {
            if unusable.contains_key(&key) {
                continue;
            }
            for referrer in referrers.get(&key).into_iter().flatten() {
                if !unusable.contains_key(referrer) {
                    broken.push((referrer.clone(), reason.clone()));
                }
            }
            unusable.insert(key, reason);
        }
        defs.retain(|key, _| !unusable.contains_key(key));
        (SharedDefs::new(defs), unusable)
    }

    /// Normalises the definition `key` names, leaving nothing cached (each is taken once).
    fn take_definition(&mut self, key: &str) -> Result<(Value, BTreeSet<String>), SchemaError> {
        let pointer = self
            .pointers
            .get(key)
            .ok_or_else(|| SchemaError::invalid(format!("internal: unknown definition {key}")))?;
        // `walk` only records references, it never follows them, so a cycle cannot recurse.
        let target = resolve_pointer(self.document, pointer)
            .ok_or_else(|| SchemaError::invalid(format!("unresolvable $ref `#{pointer}`")))?;
        let mut deps = BTreeSet::new();
        let schema = self.walk(target, &mut deps, 0)?;
        Ok((schema, deps))
    }

    fn key_for(&mut self, reference: &str) -> Result<String, SchemaError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(SchemaError::unsupported(format!(
                "external $ref `{reference}` (only references within the document are supported)"
            )));
        };
        let pointer = percent_decode(pointer);
        if pointer.is_empty() || !pointer.starts_with('/') {
            return Err(SchemaError::invalid(format!(
                "$ref `{reference}` does not point at a schema"
            )));
        }
        if let Some(key) = self.keys.get(&pointer) {
            return Ok(key.clone());
        }
        if resolve_pointer(self.document, &pointer).is_none() {
            return Err(SchemaError::invalid(format!(
                "unresolvable $ref `{reference}`"
            )));
        }
        let last = pointer
            .rsplit('/')
            .next()
            .map(unescape_token)
            .unwrap_or_default();
        let base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() { "def".into() } else { base };
        let mut key = base.clone();
        let mut n = 2;
        while self.used_keys.contains(&key) {
            key = format!("{base}_{n}");
            n += 1;
        }
        self.used_keys.insert(key.clone());
        self.pointers.insert(key.clone(), pointer.clone());
        self.keys.insert(pointer, key.clone());
        Ok(key)
    }

    fn walk(
        &mut self,
        schema: &Value,
        needs: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<Value, SchemaError> {
        let limits = &self.limits;
        if depth > limits.max_schema_depth {
            return Err(SchemaError::limit(format!(
                "a schema nests deeper than {} levels (max_schema_depth)",
                limits.max_schema_depth
            )));
        }
        if matches!(schema, Value::Object(_) | Value::Array(_)) {
            self.nodes += 1;
            self.schema_nodes += 1;
            if self.schema_nodes > limits.max_operation_schema_nodes {
                return Err(SchemaError::limit(format!(
                    "a schema has more than {} nodes (max_operation_schema_nodes)",
                    limits.max_operation_schema_nodes
                )));
            }
            if self.nodes > limits.max_total_schema_nodes {
                return Err(SchemaError::limit(format!(
                    "the import has normalised {} schema nodes (max_total_schema_nodes)",
                    limits.max_total_schema_nodes
                )));
            }
        }
        let Value::Object(map) = schema else {
            // Booleans are schemas; anything else is not, and is read as "any".
            return Ok(match schema {
                Value::Bool(_) => schema.clone(),
                _ => Value::Bool(true),
            });
        };
        let mut out = Map::with_capacity(map.len());
        for (keyword, value) in map {
            let converted = match keyword.as_str() {
                "$ref" => match value {
                    Value::String(reference) => {
                        let key = self.key_for(reference)?;
                        needs.insert(key.clone());
                        Value::String(format!("#/$defs/{key}"))
                    }
                    _ => return Err(SchemaError::invalid("a $ref is not a string")),
                },
                // Sub-schema maps.
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" => match value {
                    Value::Object(children) => {
                        let mut converted = Map::with_capacity(children.len());
                        for (name, child) in children {
                            converted.insert(name.clone(), self.walk(child, needs, depth + 1)?);
                        }
                        Value::Object(converted)
                    }
                    _ => continue,
                },
                // Sub-schema arrays.
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => match value {
                    Value::Array(children) => Value::Array(
                        children
                            .iter()
                            .map(|c| self.walk(c, needs, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => continue,
                },
                // `items` is a schema, or (draft-04 style) an array of schemas.
                "items" => match value {
                    Value::Array(children) => {
                        let converted: Vec<Value> = children
                            .iter()
                            .map(|c| self.walk(c, needs, depth + 1))
                            .collect::<Result<_, _>>()?;
                        out.insert("prefixItems".into(), Value::Array(converted));
                        continue;
                    }
                    other => self.walk(other, needs, depth + 1)?,
                },
                // Single sub-schemas.
                "additionalProperties"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "additionalItems"
                | "contains"
                | "propertyNames"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contentSchema" => self.walk(value, needs, depth + 1)?,
                // 3.0 dialect, rewritten below.
                "nullable" if self.version == OpenApiVersion::V3_0 => continue,
                // Boolean bounds are the 3.0 dialect, also found in documents labelled 3.1.
                "exclusiveMinimum" | "exclusiveMaximum"
                    if self.version == OpenApiVersion::V3_0 || value.is_boolean() =>
                {
                    continue;
                }
                // A `$schema`/`$id` inside a document schema would re-base references.
                "$schema" | "$id" | "$anchor" | "$dynamicAnchor" => continue,
                // Mapping values are names, not schemas; keep them as written.
                _ => value.clone(),
            };
            out.insert(keyword.clone(), converted);
        }
        sanitize_shapes(&mut out);
        if let Some(pattern) = out.get("pattern").and_then(Value::as_str)
            && !pattern_is_usable(pattern)
        {
            // An ECMA-262 pattern the regex engine cannot compile is dropped (documented
            // loss of a constraint) rather than losing the whole operation.
            out.remove("pattern");
        }
        rewrite_exclusive(map, &mut out, "exclusiveMinimum", "minimum");
        rewrite_exclusive(map, &mut out, "exclusiveMaximum", "maximum");
        if self.version == OpenApiVersion::V3_0 && map.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(make_nullable(out));
        }
        Ok(Value::Object(out))
    }
}

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// Drops keyword values real documents get wrong and JSON Schema forbids (`type: file`,
/// `required: true` on a property), which would otherwise make the whole schema unusable.
fn sanitize_shapes(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(t)) if !TYPES.contains(&t.as_str()) => {
            out.remove("type");
        }
        Some(Value::Array(types)) => {
            types.retain(|t| t.as_str().is_some_and(|t| TYPES.contains(&t)));
            if types.is_empty() {
                out.remove("type");
            }
        }
        Some(Value::String(_)) | None => {}
        Some(_) => {
            out.remove("type");
        }
    }
    if let Some(required) = out.get("required")
        && !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
    {
        out.remove("required");
    }
    if out.get("enum").is_some_and(|e| !e.is_array()) {
        out.remove("enum");
    }
}

fn pattern_is_usable(pattern: &str) -> bool {
    jsonschema::validator_for(&json!({ "pattern": pattern })).is_ok()
}

fn rewrite_exclusive(
    source: &Map<String, Value>,
    out: &mut Map<String, Value>,
    flag: &str,
    bound: &str,
) {
    match source.get(flag) {
        Some(Value::Bool(true)) => {
            if let Some(limit) = out.remove(bound) {
                out.insert(flag.to_owned(), limit);
            }
        }
        Some(number @ Value::Number(_)) => {
            // Already the 2020-12 form (seen in documents that mix dialects).
            out.insert(flag.to_owned(), number.clone());
        }
        _ => {}
    }
}

fn make_nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    let has_enum = out.contains_key("enum");
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            out.insert("type".into(), json!([t, "null"]));
            Value::Object(out)
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push(Value::String("null".into()));
            }
            Value::Object(out)
        }
        _ if has_enum => Value::Object(out),
        // No type to widen (a $ref or a composition): accept null beside it.
        _ => json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(
        doc: &Value,
        version: OpenApiVersion,
        schema: &Value,
    ) -> Result<Value, SchemaError> {
        let mut n = Normalizer::new(doc, version, ImportLimits::default());
        let mut needs = BTreeSet::new();
        let root = n.normalize(schema, &mut needs)?;
        let (shared, unusable) = n.share(&needs);
        if let Some(reason) = needs.iter().find_map(|k| unusable.get(k)) {
            return Err(reason.clone());
        }
        Ok(shared.attach(&root))
    }

    #[test]
    fn nullable_and_exclusive_bounds_become_2020_12() {
        let doc = json!({});
        let out = normalize(
            &doc,
            OpenApiVersion::V3_0,
            &json!({"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"type": ["integer", "null"], "exclusiveMinimum": 0, "maximum": 9})
        );
        let out = normalize(
            &doc,
            OpenApiVersion::V3_0,
            &json!({"enum": ["a"], "nullable": true}),
        )
        .unwrap();
        assert_eq!(out, json!({"enum": ["a", null]}));
        // 3.1 keeps `nullable` as an unknown keyword and numeric bounds as they are.
        let out = normalize(
            &doc,
            OpenApiVersion::V3_1,
            &json!({"type": "integer", "exclusiveMinimum": 3}),
        )
        .unwrap();
        assert_eq!(out, json!({"type": "integer", "exclusiveMinimum": 3}));
    }

    #[test]
    fn refs_become_defs_and_cycles_stay_finite() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}, "leaf": {"$ref": "#/components/schemas/Leaf"}}},
            "Leaf": {"type": "string", "nullable": true}
        }}});
        let out = normalize(
            &doc,
            OpenApiVersion::V3_0,
            &json!({"$ref": "#/components/schemas/Node"}),
        )
        .unwrap();
        assert_eq!(out["$ref"], "#/$defs/Node");
        assert_eq!(
            out["$defs"]["Node"]["properties"]["next"]["$ref"],
            "#/$defs/Node"
        );
        assert_eq!(out["$defs"]["Leaf"]["type"], json!(["string", "null"]));
        let validator = jsonschema::validator_for(&out).unwrap();
        assert!(validator.is_valid(&json!({"next": {"next": {"leaf": null}}})));
        assert!(!validator.is_valid(&json!({"next": {"leaf": 3}})));
    }

    #[test]
    fn nullable_refs_accept_null() {
        let doc = json!({"components": {"schemas": {"P": {"type": "object"}}}});
        let out = normalize(
            &doc,
            OpenApiVersion::V3_0,
            &json!({"allOf": [{"$ref": "#/components/schemas/P"}], "nullable": true}),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&out).unwrap();
        assert!(validator.is_valid(&Value::Null));
        assert!(validator.is_valid(&json!({})));
        assert!(!validator.is_valid(&json!(1)));
    }

    #[test]
    fn bad_refs_are_reported() {
        let doc = json!({});
        for (reference, expected) in [
            ("other.yaml#/Pet", "external $ref"),
            ("#/components/schemas/Missing", "unresolvable"),
            ("#", "does not point"),
        ] {
            let error =
                normalize(&doc, OpenApiVersion::V3_1, &json!({"$ref": reference})).unwrap_err();
            assert!(
                error.reason.contains(expected),
                "{reference}: {}",
                error.reason
            );
        }
    }

    #[test]
    fn escaped_pointers_resolve() {
        let doc = json!({"paths": {"/a/{b}": {"get": {"x": {"type": "string"}}}}, "components": {"schemas": {"A B": {"type": "integer"}}}});
        let out = normalize(
            &doc,
            OpenApiVersion::V3_1,
            &json!({"properties": {
                "p": {"$ref": "#/paths/~1a~1{b}/get/x"},
                "q": {"$ref": "#/components/schemas/A%20B"}
            }}),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&out).unwrap();
        assert!(validator.is_valid(&json!({"p": "s", "q": 1})));
        assert!(!validator.is_valid(&json!({"q": "s"})));
    }
}
