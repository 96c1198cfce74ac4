//! [`CallMeta`]: the context that travels with a call on the wire (call-protocol §1, `meta` on
//! `call.requested`): W3C trace context, the caller's remaining deadline, and `x-` keys.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The largest `meta` accepted, serialized (call-protocol §1): a larger one is treated as
/// absent.
pub const MAX_META_BYTES: usize = 4096;

/// The key of the caller's remaining deadline, in milliseconds as a decimal string.
pub const DEADLINE_MS: &str = "deadline_ms";
/// The key of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// The key of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// A flat map of string values sent with `call.requested`; never a credential.
///
/// ```
/// use std::time::Duration;
/// use alknet_http_core::meta::CallMeta;
///
/// let meta = CallMeta::new().with_deadline(Duration::from_millis(1500));
/// assert_eq!(meta.get("deadline_ms"), Some("1500"));
/// assert_eq!(meta.deadline(), Some(Duration::from_millis(1500)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CallMeta(BTreeMap<String, String>);

impl CallMeta {
    /// An empty map.
    pub fn new() -> Self {
        CallMeta::default()
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Sets `key` to `value`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Sets the remaining deadline (whole milliseconds, rounded down).
    #[must_use]
    pub fn with_deadline(self, remaining: Duration) -> Self {
        let ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
        self.with(DEADLINE_MS, ms.to_string())
    }

    /// The caller's remaining deadline, when `deadline_ms` is a decimal number.
    pub fn deadline(&self) -> Option<Duration> {
        let ms = self.get(DEADLINE_MS)?;
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ms.parse().ok().map(Duration::from_millis)
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The map a `meta` value on the wire stands for: `None` unless it is an object of string
    /// values of at most [`MAX_META_BYTES`] serialized.
    pub fn from_wire(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        // Keys and values with their quotes, colon and comma: the serialized size, without
        // serializing (escapes only make the real size larger, so a value this check admits
        // may still be refused below).
        let mut size = 2;
        let mut map = BTreeMap::new();
        for (key, value) in object {
            let value = value.as_str()?;
            size += key.len() + value.len() + 6;
            if size > MAX_META_BYTES {
                return None;
            }
            map.insert(key.clone(), value.to_owned());
        }
        let meta = CallMeta(map);
        if serde_json::to_vec(&meta).map_or(true, |bytes| bytes.len() > MAX_META_BYTES) {
            return None;
        }
        Some(meta)
    }
}

/// Deserializes an optional `meta` leniently: malformed or oversized is absent.
pub(crate) fn lenient_meta<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CallMeta>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(CallMeta::from_wire(&value).filter(|meta| !meta.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_flat_string_objects_within_the_size_limit_are_meta() {
        let meta = CallMeta::from_wire(&json!({"deadline_ms": "250", "x-app": "a"})).unwrap();
        assert_eq!(meta.deadline(), Some(Duration::from_millis(250)));
        assert_eq!(meta.get("x-app"), Some("a"));
        assert!(CallMeta::from_wire(&json!({"deadline_ms": 250})).is_none());
        assert!(CallMeta::from_wire(&json!({"nested": {"a": "b"}})).is_none());
        assert!(CallMeta::from_wire(&json!(["a"])).is_none());
        let big = "x".repeat(MAX_META_BYTES);
        assert!(CallMeta::from_wire(&json!({ "x-big": big })).is_none());
        let escaped = "\"".repeat(MAX_META_BYTES / 2 + 10);
        assert!(CallMeta::from_wire(&json!({ "x-quotes": escaped })).is_none());
    }

    #[test]
    fn a_deadline_must_be_a_decimal_number() {
        for bad in ["", "-5", "1e3", "12ms", " 1"] {
            assert_eq!(
                CallMeta::new().with(DEADLINE_MS, bad).deadline(),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            CallMeta::new().with(DEADLINE_MS, "0").deadline(),
            Some(Duration::ZERO)
        );
    }
}
