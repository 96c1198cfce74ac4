//! The declared errors of a typed operation: a Rust enum whose variants become the spec's
//! [`ErrorDefinition`]s, and whose values become exactly those declared errors on the wire.

use std::fmt::Display;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::schema::output_schema;
use crate::error::{CallError, ErrorCode};
use crate::spec::ErrorDefinition;

/// The error type of a typed handler.
///
/// Two kinds implement it:
/// - [`CallError`]: the operation declares no errors of its own; a handler returns protocol
///   errors (`INVALID_INPUT`, `NOT_FOUND`, …) or passes on what a composed call answered.
/// - An enum of declared errors, through serde and schemars with no hand-written JSON: serde
///   tags each variant with its `code` and carries its fields as `details`; the variant's doc
///   comment is the error's description; `x-http-status` sets its HTTP status; `Display`
///   (thiserror) is the message a client reads.
///
/// ```
/// use alknet_http_core::typed::DeclaredErrors;
/// use schemars::JsonSchema;
/// use serde::Serialize;
///
/// #[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
/// #[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
/// enum RegisterError {
///     /// That name is already registered.
///     #[error("{name} is already registered")]
///     #[schemars(extend("x-http-status" = 409))]
///     NameTaken { name: String },
///     /// Registrations are closed for now.
///     #[error("registrations are closed")]
///     #[schemars(extend("x-http-status" = 503))]
///     Closed,
/// }
///
/// let definitions = RegisterError::definitions().unwrap();
/// assert_eq!(definitions[0].code, "NAME_TAKEN");
/// assert_eq!(definitions[0].http_status, Some(409));
/// assert_eq!(definitions[0].description, "That name is already registered.");
/// let error = RegisterError::NameTaken { name: "ada".into() }.into_call_error();
/// assert_eq!((error.code.as_str(), error.message.as_str()), ("NAME_TAKEN", "ada is already registered"));
/// assert_eq!(error.details, Some(serde_json::json!({ "name": "ada" })));
/// ```
pub trait DeclaredErrors: Sized + Send + 'static {
    /// The definitions this type declares, in variant order; `Err` says why the type cannot
    /// declare errors (registration then fails with that reason).
    fn definitions() -> Result<Vec<ErrorDefinition>, String>;

    /// The error a client receives for this value.
    fn into_call_error(self) -> CallError;
}

impl DeclaredErrors for CallError {
    fn definitions() -> Result<Vec<ErrorDefinition>, String> {
        Ok(Vec::new())
    }

    fn into_call_error(self) -> CallError {
        self
    }
}

impl<E> DeclaredErrors for E
where
    E: Serialize + JsonSchema + Display + Send + 'static,
{
    fn definitions() -> Result<Vec<ErrorDefinition>, String> {
        definitions_from_schema(&output_schema::<E>())
    }

    fn into_call_error(self) -> CallError {
        let message = self.to_string();
        match serde_json::to_value(&self) {
            Ok(Value::Object(mut tagged)) => match tagged.remove("code") {
                Some(Value::String(code)) => {
                    let error = CallError::new(code, message);
                    match tagged.remove("details") {
                        Some(details) => error.with_details(details),
                        None => error,
                    }
                }
                _ => untagged(&message),
            },
            _ => untagged(&message),
        }
    }
}

/// A declared-error value that does not serialize as `{code, details}` (its schema would have
/// refused registration, so only a hand-written `Serialize` gets here).
fn untagged(message: &str) -> CallError {
    tracing::warn!(%message, "a declared error did not serialize as {{code, details}}");
    CallError::internal("the operation failed")
}

const SHAPE: &str = "declared errors must serialize as {\"code\": …, \"details\": …}: put \
                     #[serde(tag = \"code\", content = \"details\")] on the enum";

/// One definition per variant of an adjacently tagged enum's schema.
fn definitions_from_schema(schema: &Value) -> Result<Vec<ErrorDefinition>, String> {
    let variants: Vec<&Value> = match schema.get("oneOf").or_else(|| schema.get("anyOf")) {
        Some(Value::Array(variants)) => variants.iter().collect(),
        _ => vec![schema],
    };
    let defs = schema.get("$defs");
    let mut definitions = Vec::new();
    for variant in variants {
        let codes = codes_of(variant).ok_or(SHAPE)?;
        let description = variant
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let http_status = match variant.get("x-http-status") {
            None => None,
            Some(status) => Some(
                status
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| (400..600).contains(s))
                    .ok_or_else(|| format!("x-http-status {status} is not a 4xx or 5xx status"))?,
            ),
        };
        let details = variant
            .pointer("/properties/details")
            .map(|details| with_defs(details, defs));
        for code in codes {
            if ErrorCode::from_wire(code).is_some() {
                return Err(format!(
                    "{code} is a protocol code (call-protocol §11); a declared error needs a code of its own"
                ));
            }
            let mut definition =
                ErrorDefinition::new(code, description.clone().unwrap_or_else(|| code.to_owned()));
            if let Some(details) = &details {
                definition = definition.with_schema(details.clone());
            }
            if let Some(status) = http_status {
                definition = definition.with_http_status(status);
            }
            definitions.push(definition);
        }
    }
    if definitions.is_empty() {
        return Err(SHAPE.to_owned());
    }
    Ok(definitions)
}

/// The codes one variant schema stands for: its `code` property's `const`, or each value of its
/// `enum` (schemars folds unit variants into one).
fn codes_of(variant: &Value) -> Option<Vec<&str>> {
    let code = variant.pointer("/properties/code")?;
    if let Some(code) = code.get("const") {
        return code.as_str().map(|c| vec![c]);
    }
    code.get("enum")?
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect()
}

/// `details` with the root's `$defs` attached (a recursive type refers to them), so that each
/// definition's schema stands alone.
fn with_defs(details: &Value, defs: Option<&Value>) -> Value {
    let mut details = details.clone();
    if let (Some(defs), Value::Object(object)) = (defs, &mut details) {
        object.insert("$defs".to_owned(), defs.clone());
    }
    details
}
