//! Request bodies of every common media type: which one of a request body's media types is
//! forwarded, what the operation's `body` input looks like for it, and how that input is
//! encoded for the upstream.
//!
//! | media type | `body` input | sent as |
//! |---|---|---|
//! | `application/json`, `*/*+json`, `*/*` | the schema's JSON | JSON |
//! | `application/x-www-form-urlencoded` | an object | `form` style pairs (`encoding.<field>.explode`, default on) |
//! | `multipart/form-data` | an object; a file field is `{base64, filename?, content_type?}` (or a list of them) | one part per field (an array: one part per item; an object: JSON) |
//! | `text/*`, XML, YAML | a string | the string |
//! | anything else (`application/octet-stream`, images, PDF, …) | base64 text | the decoded bytes |
//!
//! When a body offers several, the first kind in that table's order wins.

use std::collections::{BTreeMap, BTreeSet};

use alknet_http_core::CallError;
use base64::Engine;
use serde_json::{Map, Value, json};

use super::style::{form_pairs, scalar_text};

/// `application/json`, `application/problem+json`, `application/vnd.github+json`, …
pub(crate) fn is_json_media(media: &str) -> bool {
    let media = media.split(';').next().unwrap_or_default().trim();
    media == "application/json" || media.ends_with("+json")
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BodyKind {
    Json,
    Form,
    Multipart,
    Text,
    Binary,
}

impl BodyKind {
    /// The kind of a media type (parameters such as `charset` ignored).
    pub(crate) fn of(media: &str) -> BodyKind {
        let media = media.split(';').next().unwrap_or_default().trim();
        let media = media.to_ascii_lowercase();
        match media.as_str() {
            "*/*" | "application/*" => BodyKind::Json,
            "application/x-www-form-urlencoded" => BodyKind::Form,
            "multipart/form-data" => BodyKind::Multipart,
            m if is_json_media(m) => BodyKind::Json,
            m if m.starts_with("text/")
                || m.ends_with("/xml")
                || m.ends_with("+xml")
                || m.ends_with("yaml") =>
            {
                BodyKind::Text
            }
            _ => BodyKind::Binary,
        }
    }
}

/// The body a forwarder sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestBody {
    pub(crate) kind: BodyKind,
    /// The media type sent (for multipart, the boundary is added when the form is built).
    pub(crate) content_type: String,
    /// Form fields whose `encoding` turns `explode` off.
    pub(crate) unexploded: BTreeSet<String>,
    /// Multipart fields that are files: `true` for a list of files.
    pub(crate) files: BTreeMap<String, bool>,
}

/// What encoding a body produced.
#[derive(Debug)]
pub(crate) enum Encoded {
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
    Multipart(reqwest::multipart::Form),
}

/// A file in a multipart input.
pub(crate) fn file_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base64"],
        "properties": {
            "base64": {"type": "string", "contentEncoding": "base64", "description": "The file's bytes, base64"},
            "filename": {"type": "string"},
            "content_type": {"type": "string"}
        },
        "additionalProperties": false
    })
}

/// Whether a (resolved) property schema describes a file: binary string content.
pub(crate) fn is_file(schema: &Value) -> bool {
    let format = schema.get("format").and_then(Value::as_str);
    // 3.0 writes binary content as `format: binary`; 3.1 as a `contentMediaType` without a
    // `contentEncoding` (with one, the string is text that encodes the bytes).
    format == Some("binary")
        || (schema.get("contentMediaType").is_some() && schema.get("contentEncoding").is_none())
}

/// Picks the media type to forward: the first kind in [`BodyKind`]'s order, then the first
/// such media type in the document.
pub(crate) fn choose(content: &Map<String, Value>) -> Option<(&str, &Value, BodyKind)> {
    content
        .iter()
        .map(|(media, object)| (media.as_str(), object, BodyKind::of(media)))
        .min_by_key(|(_, _, kind)| *kind)
}

impl RequestBody {
    /// A JSON body (also what `from_jsonschema` sends).
    pub(crate) fn json() -> Self {
        RequestBody::new(BodyKind::Json, "application/json")
    }

    pub(crate) fn new(kind: BodyKind, media: &str) -> Self {
        let content_type = match kind {
            // A wildcard is no media type to send: JSON is what the input is.
            BodyKind::Json if media.contains('*') => "application/json".to_owned(),
            _ => media.to_owned(),
        };
        RequestBody {
            kind,
            content_type,
            unexploded: BTreeSet::new(),
            files: BTreeMap::new(),
        }
    }

    /// Encodes the validated `body` input.
    pub(crate) fn encode(&self, value: &Value) -> Result<Encoded, CallError> {
        let bytes = match self.kind {
            BodyKind::Json => serde_json::to_vec(value)
                .map_err(|_| CallError::internal("the body cannot be encoded as JSON"))?,
            BodyKind::Form => {
                let Value::Object(fields) = value else {
                    return Err(CallError::invalid_input("a form body is an object"));
                };
                let mut pairs = Vec::new();
                for (name, value) in fields {
                    form_pairs(name, value, !self.unexploded.contains(name), &mut pairs);
                }
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes()
            }
            BodyKind::Multipart => return self.multipart(value).map(Encoded::Multipart),
            BodyKind::Text => match value {
                Value::String(text) => text.clone().into_bytes(),
                _ => return Err(CallError::invalid_input("a text body is a string")),
            },
            BodyKind::Binary => match value {
                Value::String(text) => base64_bytes(text, "body")?,
                _ => return Err(CallError::invalid_input("a binary body is base64 text")),
            },
        };
        Ok(Encoded::Bytes {
            content_type: self.content_type.clone(),
            bytes,
        })
    }

    fn multipart(&self, value: &Value) -> Result<reqwest::multipart::Form, CallError> {
        let Value::Object(fields) = value else {
            return Err(CallError::invalid_input("a multipart body is an object"));
        };
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            let items: Vec<&Value> = match value {
                Value::Null => continue,
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                let part = if self.files.contains_key(name) {
                    file_part(name, item)?
                } else {
                    match item {
                        Value::Object(_) | Value::Array(_) => {
                            reqwest::multipart::Part::text(item.to_string())
                                .mime_str("application/json")
                                .map_err(|_| CallError::internal("a JSON part"))?
                        }
                        scalar => reqwest::multipart::Part::text(scalar_text(scalar)),
                    }
                };
                form = form.part(name.clone(), part);
            }
        }
        Ok(form)
    }
}

/// One file part from `{base64, filename?, content_type?}`.
fn file_part(name: &str, file: &Value) -> Result<reqwest::multipart::Part, CallError> {
    let text = |key: &str| file.get(key).and_then(Value::as_str);
    let bytes = base64_bytes(text("base64").unwrap_or_default(), name)?;
    let mut part = reqwest::multipart::Part::bytes(bytes)
        .file_name(text("filename").unwrap_or(name).to_owned());
    if let Some(content_type) = text("content_type") {
        part = part.mime_str(content_type).map_err(|_| {
            CallError::invalid_input(format!("`{name}`: `{content_type}` is not a media type"))
        })?;
    }
    Ok(part)
}

fn base64_bytes(text: &str, field: &str) -> Result<Vec<u8>, CallError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| CallError::invalid_input(format!("`{field}` is not valid base64")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(encoded: Encoded) -> (String, Vec<u8>) {
        match encoded {
            Encoded::Bytes {
                content_type,
                bytes,
            } => (content_type, bytes),
            Encoded::Multipart(_) => panic!("multipart"),
        }
    }

    #[test]
    fn media_types_pick_their_kind_in_preference_order() {
        for (media, kind) in [
            ("application/json; charset=utf-8", BodyKind::Json),
            ("application/vnd.api+json", BodyKind::Json),
            ("*/*", BodyKind::Json),
            ("application/x-www-form-urlencoded", BodyKind::Form),
            ("multipart/form-data", BodyKind::Multipart),
            ("text/plain", BodyKind::Text),
            ("application/xml", BodyKind::Text),
            ("application/atom+xml", BodyKind::Text),
            ("application/x-yaml", BodyKind::Text),
            ("application/octet-stream", BodyKind::Binary),
            ("image/png", BodyKind::Binary),
        ] {
            assert_eq!(BodyKind::of(media), kind, "{media}");
        }
        let content = json!({"text/plain": {}, "multipart/form-data": {}, "application/x-www-form-urlencoded": {}});
        assert_eq!(
            choose(content.as_object().unwrap()).unwrap().0,
            "application/x-www-form-urlencoded"
        );
    }

    #[test]
    fn forms_follow_the_form_style() {
        let mut body = RequestBody::new(BodyKind::Form, "application/x-www-form-urlencoded");
        body.unexploded.insert("ids".into());
        let (content_type, encoded) = bytes(
            body.encode(&json!({"name": "a b&c", "tags": ["x", "y"], "ids": [1, 2], "none": null}))
                .unwrap(),
        );
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(encoded).unwrap(),
            "ids=1%2C2&name=a+b%26c&tags=x&tags=y"
        );
    }

    #[test]
    fn text_and_binary_bodies_are_sent_as_given() {
        let text = RequestBody::new(BodyKind::Text, "text/xml");
        assert_eq!(bytes(text.encode(&json!("<a/>")).unwrap()).1, b"<a/>");
        assert_eq!(text.encode(&json!(1)).unwrap_err().code, "INVALID_INPUT");
        let binary = RequestBody::new(BodyKind::Binary, "image/png");
        assert_eq!(bytes(binary.encode(&json!("AP8=")).unwrap()).1, [0, 255]);
        assert_eq!(
            binary.encode(&json!("%%")).unwrap_err().code,
            "INVALID_INPUT"
        );
        assert_eq!(
            bytes(
                RequestBody::new(BodyKind::Json, "*/*")
                    .encode(&json!([1]))
                    .unwrap()
            )
            .0,
            "application/json"
        );
    }
}
