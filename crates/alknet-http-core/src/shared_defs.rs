//! [`SharedDefs`]: JSON Schema definitions that the schemas of many operations share — one
//! import's `$defs` — kept once instead of copied into every schema.
//!
//! An importer of a large description (Microsoft Graph: 47 MB, tens of thousands of
//! operations whose bodies reach thousands of definitions each) cannot give every operation
//! a self-contained schema without multiplying the document by its operation count. Instead
//! its schemas refer to `#/$defs/<key>` and carry no `$defs`; the spec holds the shared
//! definitions, and a self-contained schema is made only when one is asked for
//! ([`SharedDefs::attach`]): by `/schema`, by a document generator, or by the validator the
//! first time the operation is called.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// The `$ref` prefix of a shared definition.
const DEFS_PREFIX: &str = "#/$defs/";

/// Definitions shared by the schemas of many operations, with each definition's own references
/// indexed once. Cheap to clone (one `Arc`).
///
/// ```
/// use alknet_http_core::SharedDefs;
/// use serde_json::json;
///
/// let defs = SharedDefs::new(
///     json!({
///         "Pet": {"type": "object", "properties": {"owner": {"$ref": "#/$defs/Person"}}},
///         "Person": {"type": "object"},
///         "Unrelated": {"type": "string"}
///     })
///     .as_object()
///     .unwrap()
///     .clone(),
/// );
/// let schema = defs.attach(&json!({"$ref": "#/$defs/Pet"}));
/// let attached = schema["$defs"].as_object().unwrap();
/// assert!(attached.contains_key("Pet") && attached.contains_key("Person"));
/// assert!(!attached.contains_key("Unrelated"));
/// ```
#[derive(Clone, Default)]
pub struct SharedDefs(Arc<Inner>);

#[derive(Default)]
struct Inner {
    defs: Map<String, Value>,
    /// Each definition's direct references to other definitions.
    refs: HashMap<String, Box<[String]>>,
}

impl SharedDefs {
    /// Indexes `defs` (the keys are what `#/$defs/<key>` names).
    pub fn new(defs: Map<String, Value>) -> Self {
        let refs = defs
            .iter()
            .map(|(key, schema)| {
                let mut found = BTreeSet::new();
                collect_refs(schema, &mut found);
                (key.clone(), found.into_iter().collect())
            })
            .collect();
        SharedDefs(Arc::new(Inner { defs, refs }))
    }

    /// How many definitions there are.
    pub fn len(&self) -> usize {
        self.0.defs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.defs.is_empty()
    }

    /// One definition.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.defs.get(key)
    }

    /// The keys of the definitions `schema` reaches, directly or through other definitions,
    /// in a stable order. A reference to a key that is not here is left out (it fails where it
    /// is resolved, as any dangling `$ref` does).
    pub fn reached_from(&self, schema: &Value) -> BTreeSet<String> {
        let mut direct = BTreeSet::new();
        collect_refs(schema, &mut direct);
        let mut reached = BTreeSet::new();
        let mut pending: Vec<String> = direct.into_iter().collect();
        while let Some(key) = pending.pop() {
            let Some(refs) = self.0.refs.get(&key) else {
                continue;
            };
            pending.extend(refs.iter().filter(|r| !reached.contains(*r)).cloned());
            reached.insert(key);
        }
        reached
    }

    /// `schema` made self-contained: the definitions it reaches attached as its `$defs` (a
    /// boolean schema is wrapped in `allOf` to carry them). Without references it is returned
    /// as it is.
    pub fn attach(&self, schema: &Value) -> Value {
        let reached = self.reached_from(schema);
        if reached.is_empty() {
            return schema.clone();
        }
        let defs: Map<String, Value> = reached
            .into_iter()
            .filter_map(|key| self.0.defs.get(&key).map(|d| (key, d.clone())))
            .collect();
        match schema {
            Value::Object(map) => {
                let mut map = map.clone();
                map.insert("$defs".into(), Value::Object(defs));
                Value::Object(map)
            }
            other => serde_json::json!({ "allOf": [other.clone()], "$defs": defs }),
        }
    }
}

/// Every `#/$defs/<key>` reference in `schema` (keys only, the first pointer segment).
fn collect_refs(schema: &Value, found: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            for (keyword, value) in map {
                match (keyword.as_str(), value) {
                    ("$ref", Value::String(reference)) => {
                        if let Some(rest) = reference.strip_prefix(DEFS_PREFIX) {
                            let key = rest.split('/').next().unwrap_or(rest);
                            found.insert(key.replace("~1", "/").replace("~0", "~"));
                        }
                    }
                    // `enum`, `const`, `examples` and `default` hold data, not schemas.
                    ("enum" | "const" | "examples" | "default", _) => {}
                    _ => collect_refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, found)),
        _ => {}
    }
}

impl PartialEq for SharedDefs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.defs == other.0.defs
    }
}

impl fmt::Debug for SharedDefs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedDefs({} definitions)", self.0.defs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::SharedDefs;
    use serde_json::json;

    fn defs() -> SharedDefs {
        SharedDefs::new(
            json!({
                "A": {"properties": {"b": {"$ref": "#/$defs/B"}, "self": {"$ref": "#/$defs/A"}}},
                "B": {"items": {"$ref": "#/$defs/C"}, "default": {"$ref": "#/$defs/D"}},
                "C": {"type": "integer"},
                "D": {"type": "string"}
            })
            .as_object()
            .unwrap()
            .clone(),
        )
    }

    #[test]
    fn reaches_transitively_through_cycles_and_not_into_data() {
        let reached = defs().reached_from(&json!({"$ref": "#/$defs/A"}));
        assert_eq!(
            reached.into_iter().collect::<Vec<_>>(),
            ["A", "B", "C"],
            "D is only named inside a `default` value"
        );
    }

    #[test]
    fn a_schema_without_references_is_unchanged() {
        let schema = json!({"type": "object"});
        assert_eq!(defs().attach(&schema), schema);
        assert_eq!(defs().attach(&json!(true)), json!(true));
    }

    #[test]
    fn unknown_keys_are_left_out() {
        let attached =
            defs().attach(&json!({"anyOf": [{"$ref": "#/$defs/C"}, {"$ref": "#/$defs/Zed"}]}));
        assert_eq!(attached["$defs"], json!({"C": {"type": "integer"}}));
    }
}
