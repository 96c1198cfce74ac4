//! Typed handlers: a spec handled by a Rust function of typed input, output and errors, and
//! typed composed calls.

use std::future::Future;

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors::DeclaredErrors;
use super::schema::{input_schema, output_schema};
use crate::context::OperationContext;
use crate::error::CallError;
use crate::registry::{HandlerKind, HandlerRegistration, HandlerResult};
use crate::spec::OperationSpec;

impl OperationSpec {
    /// Registers a Query or Mutation handled by a typed function: the spec's input and output
    /// schemas are generated from `I` and `O`, and `E`'s declared errors are added to it.
    ///
    /// The wire gate is unchanged: the input is validated against the generated schema before
    /// the handler runs. A value that passes the schema but does not deserialize into `I` (a
    /// schema can be looser than serde) answers `INVALID_INPUT`.
    ///
    /// ```
    /// use alknet_http_core::{CallError, OperationContext, OperationRegistry, OperationSpec};
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// Who to greet.
    /// #[derive(Deserialize, JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct Greet {
    ///     /// A name.
    ///     name: String,
    /// }
    ///
    /// #[derive(Serialize, JsonSchema)]
    /// struct Greeting {
    ///     greeting: String,
    /// }
    ///
    /// async fn greet(input: Greet, _ctx: OperationContext) -> Result<Greeting, CallError> {
    ///     Ok(Greeting { greeting: format!("hello, {}!", input.name) })
    /// }
    ///
    /// let registry = OperationRegistry::builder()
    ///     .with(OperationSpec::query("demo/greet").handled_by(greet))
    ///     .build()
    ///     .unwrap();
    /// let spec = registry.external_spec("demo/greet").unwrap();
    /// assert_eq!(spec.input_schema["additionalProperties"], false);
    /// assert_eq!(spec.input_schema["required"][0], "name");
    /// ```
    pub fn handled_by<I, O, E, F, Fut>(self, handler: F) -> HandlerRegistration
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        E: DeclaredErrors,
        F: Fn(I, OperationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let typed = self.typed::<I, O, E>();
        let handler = HandlerKind::once(move |input, ctx| {
            let decoded = decode::<I>(input).map(|input| handler(input, ctx));
            async move {
                match decoded {
                    Ok(running) => encode(running.await),
                    Err(error) => Err(error),
                }
            }
        });
        typed.handled_by(handler)
    }

    /// Registers a Subscription handled by a typed function returning a stream of items: the
    /// spec's output schema is generated from the item type `T`. An `Err` item ends the stream
    /// with that error.
    ///
    /// ```
    /// use alknet_http_core::{CallError, OperationContext, OperationRegistry, OperationSpec};
    /// use schemars::JsonSchema;
    /// use futures::stream;
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Count {
    ///     to: u32,
    /// }
    ///
    /// let registry = OperationRegistry::builder()
    ///     .with(OperationSpec::subscription("demo/count").streamed_by(
    ///         |input: Count, _ctx: OperationContext| stream::iter((0..input.to).map(Ok::<u32, CallError>)),
    ///     ))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(registry.external_spec("demo/count").unwrap().output_schema["type"], "integer");
    /// ```
    pub fn streamed_by<I, T, E, F, S>(self, handler: F) -> HandlerRegistration
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        T: Serialize + JsonSchema + 'static,
        E: DeclaredErrors,
        F: Fn(I, OperationContext) -> S + Send + Sync + 'static,
        S: Stream<Item = Result<T, E>> + Send + 'static,
    {
        let typed = self.typed::<I, T, E>();
        let handler = HandlerKind::stream(move |input, ctx| match decode::<I>(input) {
            Ok(input) => handler(input, ctx).map(encode).left_stream(),
            Err(error) => futures::stream::once(async move { Err(error) }).right_stream(),
        });
        typed.handled_by(handler)
    }

    /// The spec with `I`'s input schema, `O`'s output schema and `E`'s declared errors.
    fn typed<I: JsonSchema, O: JsonSchema, E: DeclaredErrors>(self) -> TypedSpec {
        let mut spec = self
            .with_input_schema(input_schema::<I>())
            .with_output_schema(output_schema::<O>());
        let defect = match E::definitions() {
            Ok(definitions) => {
                spec.error_schemas.extend(definitions);
                None
            }
            Err(reason) => Some(reason),
        };
        TypedSpec { spec, defect }
    }
}

/// A spec filled in from types, and why its error type cannot declare errors, if it cannot.
struct TypedSpec {
    spec: OperationSpec,
    defect: Option<String>,
}

impl TypedSpec {
    /// The registration; a defective one is refused when the registry is built, naming the
    /// reason.
    fn handled_by(self, handler: HandlerKind) -> HandlerRegistration {
        let registration = HandlerRegistration::local(self.spec, handler);
        match self.defect {
            None => registration,
            Some(reason) => registration.with_defect(reason),
        }
    }
}

fn decode<I: DeserializeOwned>(mut input: Value) -> Result<I, CallError> {
    integral_floats_as_integers(&mut input);
    serde_json::from_value(input)
        .map_err(|e| CallError::invalid_input(format!("the input does not fit the operation: {e}")))
}

/// `3.0` becomes `3`. JSON Schema counts `3.0` as an integer and the input gate lets it pass,
/// but serde refuses it for a Rust integer; a float field takes `3` as well.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // Exactly representable range only (|f| < 2^63): larger floats stay floats.
                if f.abs() < 9.2e18 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn encode<O: Serialize, E: DeclaredErrors>(result: Result<O, E>) -> HandlerResult {
    match result {
        Ok(output) => serde_json::to_value(output).map_err(|e| {
            tracing::warn!(error = %e, "a typed output did not serialize");
            CallError::internal("the operation's output could not be serialized")
        }),
        Err(error) => Err(error.into_call_error()),
    }
}
