//! Reading an OpenAPI document: JSON or YAML into one `serde_json::Value`, version checked.

use alknet_http_core::AdapterError;
use serde_json::{Map, Number, Value};

use super::limits::ImportLimits;
use super::style::scalar_text;

/// Which OpenAPI line a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenApiVersion {
    /// OpenAPI 3.0.x: schemas are the OpenAPI dialect (`nullable`, boolean `exclusiveMinimum`).
    V3_0,
    /// OpenAPI 3.1.x (and later 3.x): schemas are JSON Schema 2020-12.
    V3_1,
}

/// A parsed OpenAPI 3.0/3.1 document (http-surfaces §9): one `serde_json::Value`, the source of
/// truth for the importer, with its version checked.
///
/// ```
/// use alknet_http_openapi::import::OpenApiSpec;
///
/// let yaml = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";
/// let spec = OpenApiSpec::from_str(yaml).unwrap();
/// assert_eq!(spec.document()["info"]["title"], "t");
/// assert!(OpenApiSpec::from_str("swagger: '2.0'").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct OpenApiSpec {
    document: Value,
    version: OpenApiVersion,
}

impl OpenApiSpec {
    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, AdapterError> {
        let value = serde_json::from_str(text)
            .map_err(|e| AdapterError::schema_parse_caused("not valid JSON", e))?;
        OpenApiSpec::from_value(value)
    }

    /// Parses YAML (1.2 core schema: `yes`/`on` are strings, as in YAML 1.2; mapping keys of
    /// any scalar type become strings, so `200:` response keys work).
    pub fn from_yaml(text: &str) -> Result<Self, AdapterError> {
        let yaml: yaml_serde::Value = yaml_serde::from_str(text)
            .map_err(|e| AdapterError::schema_parse_caused("not valid YAML", e))?;
        OpenApiSpec::from_value(yaml_to_json(yaml, 0)?)
    }

    /// [`OpenApiSpec::from_str`] for a document no larger than `limits.max_document_bytes`:
    /// a larger one is refused before it is parsed.
    pub fn parse(text: &str, limits: &ImportLimits) -> Result<Self, AdapterError> {
        if text.len() > limits.max_document_bytes {
            return Err(AdapterError::LimitExceeded {
                limit: "max_document_bytes",
                detail: format!(
                    "the document is {} bytes, more than {}",
                    text.len(),
                    limits.max_document_bytes
                ),
            });
        }
        OpenApiSpec::from_str(text)
    }

    /// Parses JSON, or YAML when the text is not JSON (so JSON strings such as `"yes"` are never
    /// reinterpreted by YAML rules). No size limit: see [`OpenApiSpec::parse`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<Self, AdapterError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        match serde_json::from_str::<Value>(text) {
            Ok(value) => OpenApiSpec::from_value(value),
            Err(json_error) => OpenApiSpec::from_yaml(text).map_err(|yaml_error| {
                if text.trim_start().starts_with(['{', '[']) {
                    AdapterError::schema_parse_caused("not valid JSON", json_error)
                } else {
                    yaml_error
                }
            }),
        }
    }

    /// Takes an already parsed document.
    pub fn from_value(document: Value) -> Result<Self, AdapterError> {
        let Some(root) = document.as_object() else {
            return Err(AdapterError::schema_parse(
                "an OpenAPI document is a JSON/YAML object",
            ));
        };
        if let Some(swagger) = root.get("swagger") {
            return Err(AdapterError::Unsupported(format!(
                "Swagger {} documents are not supported; convert the document to OpenAPI 3 first (for example with swagger2openapi)",
                scalar_text(swagger)
            )));
        }
        let Some(version) = root.get("openapi") else {
            return Err(AdapterError::schema_parse(
                "the document has no `openapi` version field",
            ));
        };
        let text = scalar_text(version);
        let version = if text.starts_with("3.0") {
            OpenApiVersion::V3_0
        } else if text.starts_with("3.") {
            OpenApiVersion::V3_1
        } else {
            return Err(AdapterError::Unsupported(format!(
                "OpenAPI version `{text}`; this importer reads 3.0.x and 3.1.x"
            )));
        };
        match root.get("paths") {
            None | Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(AdapterError::schema_parse("`paths` is not an object"));
            }
        }
        Ok(OpenApiSpec { document, version })
    }

    /// The document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The version line.
    pub fn version(&self) -> OpenApiVersion {
        self.version
    }
}

/// Nesting deeper than this is refused (a guard against hostile documents).
const MAX_DEPTH: usize = 256;

fn yaml_to_json(value: yaml_serde::Value, depth: usize) -> Result<Value, AdapterError> {
    if depth > MAX_DEPTH {
        return Err(AdapterError::schema_parse(format!(
            "the YAML nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match value {
        yaml_serde::Value::Null => Value::Null,
        yaml_serde::Value::Bool(b) => Value::Bool(b),
        yaml_serde::Value::Number(n) => yaml_number(&n),
        yaml_serde::Value::String(s) => Value::String(s),
        yaml_serde::Value::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|v| yaml_to_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        yaml_serde::Value::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    yaml_serde::Value::String(s) => s,
                    yaml_serde::Value::Number(n) => n.to_string(),
                    yaml_serde::Value::Bool(b) => b.to_string(),
                    yaml_serde::Value::Null => "null".to_owned(),
                    _ => {
                        return Err(AdapterError::schema_parse(
                            "a YAML mapping key is not a scalar",
                        ));
                    }
                };
                map.insert(key, yaml_to_json(value, depth + 1)?);
            }
            Value::Object(map)
        }
        yaml_serde::Value::Tagged(tagged) => yaml_to_json(tagged.value, depth + 1)?,
    })
}

fn yaml_number(n: &yaml_serde::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Number(i.into())
    } else if let Some(u) = n.as_u64() {
        Value::Number(u.into())
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number)
    }
}
