//! Typed calls: the input serialized from a Rust value, the output decoded into one — for
//! composed calls ([`OperationContext::call_typed`]) and session calls
//! ([`Session::call_typed`], [`Session::subscribe_typed`]).

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::OperationContext;
use crate::error::CallError;
use crate::session::Session;

/// `input` as JSON; one that does not serialize is `INVALID_INPUT`.
fn encode<I: Serialize + ?Sized>(operation: &str, input: &I) -> Result<Value, CallError> {
    serde_json::to_value(input).map_err(|e| {
        CallError::invalid_input(format!(
            "the input of {operation} could not be serialized: {e}"
        ))
    })
}

/// `output` decoded; one that does not decode is `INTERNAL` (the detail goes to the log too).
fn decode<O: DeserializeOwned>(operation: &str, output: Value) -> Result<O, CallError> {
    serde_json::from_value(output).map_err(|e| {
        tracing::warn!(%operation, error = %e, "an output did not decode into the asked type");
        CallError::internal(format!(
            "the output of {operation} does not decode into the asked type"
        ))
    })
}

impl OperationContext {
    /// Composes a call with typed input and output: `input` is serialized, the callee's output
    /// is decoded into `O`.
    ///
    /// ```no_run
    /// # async fn demo(ctx: alknet_http_core::OperationContext) -> Result<(), alknet_http_core::CallError> {
    /// let loud: String = ctx.call_typed("demo/shout", &serde_json::json!({ "text": "hi" })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn call_typed<O: DeserializeOwned>(
        &self,
        name: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<O, CallError> {
        let output = self.call(name, encode(name, input)?).await?;
        decode(name, output)
    }
}

impl Session {
    /// Calls a Query or Mutation on the other side with typed input and output (see
    /// [`Session::call`]).
    pub async fn call_typed<O: DeserializeOwned>(
        &self,
        operation: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<O, CallError> {
        let output = self.call(operation, encode(operation, input)?).await?;
        decode(operation, output)
    }

    /// Subscribes with a typed input and typed items (see [`Session::subscribe`]). An item that
    /// does not decode ends the stream with `INTERNAL`; dropping the stream aborts the
    /// subscription.
    pub async fn subscribe_typed<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &str,
        input: &(impl Serialize + ?Sized),
    ) -> BoxStream<'static, Result<T, CallError>> {
        let input = match encode(operation, input) {
            Ok(input) => input,
            Err(error) => return futures::stream::once(async { Err(error) }).boxed(),
        };
        let operation: std::sync::Arc<str> = operation.into();
        let items = self.subscribe(&operation, input).await;
        items
            .map(move |item| item.and_then(|output| decode(&operation, output)))
            .scan(false, |ended, item| {
                if *ended {
                    return futures::future::ready(None);
                }
                *ended = item.is_err();
                futures::future::ready(Some(item))
            })
            .boxed()
    }
}
