//! Upstream response bodies: read within a limit, decoded by media type.

use alknet_http_core::CallError;
use alknet_http_core::HandlerResult;
use alknet_http_core::client::call_error_from_reqwest;
use alknet_http_core::client::reqwest::{
    self,
    header::{CONTENT_TYPE, HeaderMap},
};
use base64::Engine;
use serde_json::{Value, json};

use super::request_body::{BodyKind, is_json_media};

pub(super) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

pub(super) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CallError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| call_error_from_reqwest(&e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(super) fn too_large(limit: usize) -> CallError {
    CallError::internal(format!("the upstream response exceeds {limit} bytes"))
}

/// A 2xx body as output: JSON → the value; empty → `null`; anything else together with its
/// content type, as `{content_type, text}` when it is UTF-8 text (`text/*`, XML, YAML, or no
/// content type and valid UTF-8) and `{content_type, base64}` otherwise.
pub(crate) fn decode_body(content_type: &str, body: &[u8]) -> HandlerResult {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if is_json_media(media) {
        return serde_json::from_slice(body)
            .map_err(|e| CallError::internal(format!("the upstream sent invalid JSON: {e}")));
    }
    let textual = media.is_empty() || BodyKind::of(media) == BodyKind::Text;
    Ok(match std::str::from_utf8(body) {
        Ok(text) if textual => json!({"content_type": content_type, "text": text}),
        _ => json!({
            "content_type": content_type,
            "base64": base64::engine::general_purpose::STANDARD.encode(body),
        }),
    })
}

/// The output schema of a response that is not JSON (see [`decode_body`]).
pub(crate) fn non_json_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["content_type"],
        "properties": {
            "content_type": {"type": "string"},
            "text": {"type": "string"},
            "base64": {"type": "string", "contentEncoding": "base64"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_by_media_type() {
        assert_eq!(
            decode_body("application/json; charset=utf-8", b"{\"a\":1}").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            decode_body("application/problem+json", b"[1]").unwrap(),
            json!([1])
        );
        assert_eq!(
            decode_body("text/plain; charset=utf-8", b"hi").unwrap(),
            json!({"content_type": "text/plain; charset=utf-8", "text": "hi"})
        );
        assert_eq!(
            decode_body("application/xml", b"<a/>").unwrap()["text"],
            "<a/>"
        );
        assert_eq!(
            decode_body("application/octet-stream", &[0, 255]).unwrap(),
            json!({"content_type": "application/octet-stream", "base64": "AP8="})
        );
        assert_eq!(
            decode_body("text/plain", &[0xff]).unwrap()["base64"],
            "/w=="
        );
        assert_eq!(decode_body("application/json", b"").unwrap(), Value::Null);
        assert_eq!(
            decode_body("application/json", b"{").unwrap_err().code,
            "INTERNAL"
        );
    }
}
