//! One `(path, method)` of a document planned into an operation: name, type, input, output
//! and errors, and the forwarder that serves it.

use std::collections::BTreeSet;

use alknet_http_core::ErrorDefinition;
use alknet_http_core::adapter::slugify;
use alknet_http_core::client::reqwest::Method;
use alknet_http_core::error::http_error_code;
use serde_json::{Map, Value, json};

use super::forward::{self, Binding, Location};
use super::reference::deref;
use super::request_body::{self, BodyKind, RequestBody};
use super::response_body;
use super::schema::Normalizer;
use super::skip::SchemaError;

/// The schemas and bindings of one operation.
pub(super) struct BuiltOperation {
    /// How the `body` input is sent (`None`: the operation takes no body).
    pub(super) body: Option<RequestBody>,
    /// The shared definitions (keys) the schemas below refer to.
    pub(super) needs: BTreeSet<String>,
    pub(super) input_schema: Value,
    pub(super) output_schema: Value,
    pub(super) errors: Vec<ErrorDefinition>,
    pub(super) bindings: Vec<Binding>,
    pub(super) streaming: bool,
}

pub(super) struct OperationPlan<'n, 'd> {
    pub(super) normalizer: &'n mut Normalizer<'d>,
    pub(super) document: &'d Value,
    pub(super) warnings: Vec<String>,
}

impl<'d> OperationPlan<'_, 'd> {
    pub(super) fn build(
        &mut self,
        path: &str,
        item: &'d Value,
        operation: &'d Value,
    ) -> Result<BuiltOperation, SchemaError> {
        let mut needs = BTreeSet::new();
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut bindings = Vec::new();
        let mut forwarded_body = None;
        let parameters = self.parameters(item, operation)?;
        for parameter in parameters {
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| SchemaError::invalid("a parameter has no name"))?;
            let location = parameter.get("in").and_then(Value::as_str).unwrap_or("");
            let is_required = parameter.get("required") == Some(&Value::Bool(true));
            let location = match location {
                "path" => Location::Path,
                "query" => Location::Query,
                "header" => {
                    if ["accept", "content-type", "authorization"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        // OpenAPI: such header parameters are ignored.
                        continue;
                    }
                    Location::Header
                }
                "cookie" if is_required => {
                    return Err(SchemaError::unsupported(format!(
                        "required cookie parameter `{name}` is unsupported"
                    )));
                }
                "cookie" => {
                    self.warnings.push(format!(
                        "optional cookie parameter `{name}` is unsupported and ignored"
                    ));
                    continue;
                }
                other => {
                    return Err(SchemaError::invalid(format!(
                        "parameter `{name}` has an unknown location `{other}`"
                    )));
                }
            };
            let schema = parameter
                .get("schema")
                .or_else(|| {
                    parameter
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                })
                .cloned()
                .unwrap_or_else(|| json!({}));
            let mut schema = self.normalizer.normalize(&schema, &mut needs)?;
            if let (Value::Object(map), Some(description)) = (
                &mut schema,
                parameter.get("description").filter(|d| d.is_string()),
            ) {
                map.entry("description")
                    .or_insert_with(|| description.clone());
            }
            let mut key = name.to_owned();
            if key == "body" || properties.contains_key(&key) {
                key = format!("{}_{name}", location_name(location));
            }
            if properties.contains_key(&key) {
                return Err(SchemaError::invalid(format!(
                    "parameter `{name}` is declared twice"
                )));
            }
            if location == Location::Path || is_required {
                required.push(Value::String(key.clone()));
            }
            properties.insert(key.clone(), schema);
            let explode = parameter.get("explode").and_then(Value::as_bool).unwrap_or(
                parameter
                    .get("style")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == "form"),
            );
            bindings.push(Binding {
                key,
                name: name.to_owned(),
                location,
                explode,
            });
        }
        // Template names without a declaration (common in hand-written documents): strings.
        for name in forward::template_params(path) {
            if !bindings
                .iter()
                .any(|b| b.location == Location::Path && b.name == name)
            {
                let key = if properties.contains_key(&name) || name == "body" {
                    format!("path_{name}")
                } else {
                    name.clone()
                };
                properties.insert(key.clone(), json!({ "type": "string" }));
                required.push(Value::String(key.clone()));
                bindings.push(Binding {
                    key,
                    name,
                    location: Location::Path,
                    explode: false,
                });
            }
        }
        if let Some(body) = operation.get("requestBody") {
            let body = deref(self.document, body)?;
            let body_required = body.get("required") == Some(&Value::Bool(true));
            let content = body.get("content").and_then(Value::as_object);
            match content.and_then(request_body::choose) {
                Some((media, object, kind)) => {
                    let (mut schema, request_body) =
                        self.body_input(media, object, kind, &mut needs)?;
                    if let (Value::Object(map), Some(description)) = (
                        &mut schema,
                        body.get("description").filter(|d| d.is_string()),
                    ) {
                        map.entry("description")
                            .or_insert_with(|| description.clone());
                    }
                    properties.insert("body".into(), schema);
                    if body_required {
                        required.push(Value::String("body".into()));
                    }
                    forwarded_body = Some(request_body);
                }
                None if body_required => {
                    return Err(SchemaError::invalid(
                        "a required request body declares no media type",
                    ));
                }
                None => self
                    .warnings
                    .push("optional body ignored: it declares no media type".into()),
            }
        }
        let mut input = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            input["required"] = Value::Array(required);
        }
        let (output_schema, errors, streaming) = self.responses(operation, &mut needs)?;
        Ok(BuiltOperation {
            needs,
            body: forwarded_body,
            input_schema: input,
            output_schema,
            errors,
            bindings,
            streaming,
        })
    }

    /// The `body` input's schema for the chosen media type, and how it is sent.
    fn body_input(
        &mut self,
        media: &str,
        object: &'d Value,
        kind: BodyKind,
        needs: &mut BTreeSet<String>,
    ) -> Result<(Value, RequestBody), SchemaError> {
        let mut request_body = RequestBody::new(kind, media);
        let schema = object.get("schema").unwrap_or(&Value::Null);
        let input = match kind {
            BodyKind::Json => match schema {
                Value::Null => json!({}),
                schema => self.normalizer.normalize(schema, needs)?,
            },
            BodyKind::Text => json!({"type": "string"}),
            BodyKind::Binary => json!({"type": "string", "contentEncoding": "base64"}),
            BodyKind::Form | BodyKind::Multipart => {
                // The fields, read through `$ref`s, so that file fields and encodings can be
                // told apart before the schema is normalised.
                let fields = deref(self.document, schema)?;
                if let Some(encoding) = object.get("encoding").and_then(Value::as_object) {
                    for (field, how) in encoding {
                        let explode = how.get("explode").and_then(Value::as_bool).unwrap_or(
                            how.get("style")
                                .and_then(Value::as_str)
                                .is_none_or(|s| s == "form"),
                        );
                        if !explode {
                            request_body.unexploded.insert(field.clone());
                        }
                    }
                }
                let mut properties = Map::new();
                for (name, property) in fields
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let property = deref(self.document, property)?;
                    let items = property
                        .get("items")
                        .map(|i| deref(self.document, i))
                        .transpose()?;
                    let converted =
                        if kind == BodyKind::Multipart && request_body::is_file(property) {
                            request_body.files.insert(name.clone(), false);
                            request_body::file_schema()
                        } else if kind == BodyKind::Multipart
                            && items.is_some_and(request_body::is_file)
                        {
                            request_body.files.insert(name.clone(), true);
                            json!({"type": "array", "items": request_body::file_schema()})
                        } else {
                            self.normalizer.normalize(property, needs)?
                        };
                    properties.insert(name.clone(), converted);
                }
                let mut input = json!({"type": "object", "properties": properties});
                if let Some(required) = fields.get("required").filter(|r| r.is_array()) {
                    input["required"] = required.clone();
                }
                input
            }
        };
        Ok((input, request_body))
    }

    /// Path-level parameters overridden by operation-level ones with the same name and location.
    fn parameters(
        &self,
        item: &'d Value,
        operation: &'d Value,
    ) -> Result<Vec<&'d Value>, SchemaError> {
        let mut out: Vec<&Value> = Vec::new();
        for list in [item.get("parameters"), operation.get("parameters")] {
            for parameter in list.and_then(Value::as_array).into_iter().flatten() {
                let parameter = deref(self.document, parameter)?;
                let id = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                out.retain(|existing| id(existing) != id(parameter));
                out.push(parameter);
            }
        }
        Ok(out)
    }

    fn responses(
        &mut self,
        operation: &Value,
        needs: &mut BTreeSet<String>,
    ) -> Result<(Value, Vec<ErrorDefinition>, bool), SchemaError> {
        let empty = Map::new();
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut success: Vec<(&str, &Value)> = Vec::new();
        let mut errors = Vec::new();
        for (code, response) in responses {
            let response = deref(self.document, response)?;
            let Ok(status) = code.parse::<u16>() else {
                if code.eq_ignore_ascii_case("2XX") {
                    success.push((code, response));
                }
                continue;
            };
            if (200..300).contains(&status) {
                success.push((code, response));
            } else if (100..600).contains(&status) {
                let schema = match json_schema_of(response) {
                    Some(schema) => self.normalizer.normalize(schema, needs)?,
                    None => json!({}),
                };
                let description = response
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|d| !d.trim().is_empty())
                    .map_or_else(|| format!("HTTP {status}"), |d| d.trim().to_owned());
                let mut definition =
                    ErrorDefinition::new(http_error_code(status), description).with_schema(schema);
                if (400..600).contains(&status) {
                    definition = definition.with_http_status(status);
                }
                errors.push(definition);
            }
        }
        let rank = |code: &str| match code {
            "200" => 0,
            "201" => 1,
            c if c.parse::<u16>().is_ok() => 2,
            _ => 3,
        };
        success.sort_by_key(|(code, _)| rank(code));
        let streaming = success.iter().any(|(_, r)| {
            r.get("content")
                .and_then(Value::as_object)
                .is_some_and(|c| c.keys().any(|m| m.starts_with("text/event-stream")))
        });
        let output = match success.first() {
            None => json!({}),
            Some((_, response)) => {
                let content = response.get("content").and_then(Value::as_object);
                if streaming {
                    let sse = content
                        .and_then(|c| c.iter().find(|(m, _)| m.starts_with("text/event-stream")))
                        .map(|(_, m)| m);
                    match sse.and_then(|m| m.get("itemSchema").or_else(|| m.get("schema"))) {
                        // A schema of the event stream itself (a string) says nothing about
                        // the items: keep "any".
                        Some(s) if s.get("type") != Some(&json!("string")) => {
                            self.normalizer.normalize(s, needs)?
                        }
                        _ => json!({}),
                    }
                } else {
                    match (json_schema_of(response), content) {
                        (Some(schema), _) => self.normalizer.normalize(schema, needs)?,
                        (None, None) => json!({ "type": "null" }),
                        (None, Some(c)) if c.is_empty() => json!({ "type": "null" }),
                        (None, Some(_)) => response_body::non_json_output_schema(),
                    }
                }
            }
        };
        Ok((output, errors, streaming))
    }
}

fn json_schema_of(response: &Value) -> Option<&Value> {
    let content = response.get("content")?.as_object()?;
    content
        .iter()
        .find(|(m, _)| request_body::is_json_media(m))
        .and_then(|(_, media)| media.get("schema"))
}

fn location_name(location: Location) -> &'static str {
    match location {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
    }
}

/// The generated name part: the operationId's slug, else `{method}_{segments}`.
pub(super) fn default_slug(operation_id: Option<&str>, method: &Method, path: &str) -> String {
    if let Some(slug) = operation_id.map(slugify).filter(|s| !s.is_empty()) {
        return slug;
    }
    let mut out = method.as_str().to_ascii_lowercase();
    let mut last_underscore = true;
    out.push('_');
    for c in path.chars() {
        match c {
            '{' | '}' => {}
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                last_underscore = false;
            }
            _ if !last_underscore => {
                out.push('_');
                last_underscore = true;
            }
            _ => {}
        }
    }
    out.trim_end_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(
            default_slug(None, &Method::GET, "/pets/{petId}"),
            "get_pets_petid"
        );
        assert_eq!(default_slug(None, &Method::POST, "/"), "post");
        assert_eq!(
            default_slug(None, &Method::DELETE, "/a-b/{c}.json"),
            "delete_a_b_c_json"
        );
        assert_eq!(
            default_slug(Some("listPets"), &Method::GET, "/pets"),
            "listPets"
        );
        assert_eq!(
            default_slug(Some("repos/get-content"), &Method::GET, "/x"),
            "repos/get-content"
        );
        assert_eq!(default_slug(Some("a b//c?"), &Method::GET, "/x"), "a_b/c_");
        assert_eq!(default_slug(Some("//"), &Method::GET, "/x"), "get_x");
    }
}
