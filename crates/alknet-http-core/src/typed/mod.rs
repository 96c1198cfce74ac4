//! Typed operations (feature `typed`, on by default): input, output and declared errors are
//! Rust types, and their JSON Schemas are generated (schemars, JSON Schema 2020-12) instead of
//! written by hand.
//!
//! - [`OperationSpec::handled_by`](crate::OperationSpec::handled_by) registers a Query or
//!   Mutation handled by `async fn(I, OperationContext) -> Result<O, E>`;
//!   [`OperationSpec::streamed_by`](crate::OperationSpec::streamed_by) a Subscription whose
//!   handler returns a stream of `Result<T, E>`.
//! - `E` is [`CallError`](crate::CallError) (no declared errors) or an enum of declared errors
//!   ([`DeclaredErrors`]): each variant becomes an
//!   [`ErrorDefinition`](crate::ErrorDefinition), and returning it answers exactly that
//!   declared error on every surface.
//! - [`OperationContext::call_typed`](crate::OperationContext::call_typed) composes with typed
//!   input and output.
//! - [`input_schema`] and [`output_schema`] give the schemas on their own (for hand-built specs
//!   and importers' tests).
//!
//! Typed and untyped operations live in one registry: the untyped API
//! ([`HandlerKind`](crate::HandlerKind) over `serde_json::Value`) stays for importers and
//! dynamic cases.
//!
//! How schemas are generated: see [`input_schema`].

mod errors;
mod handler;
mod schema;

pub use errors::DeclaredErrors;
pub use schema::{input_schema, output_schema};
/// schemars, whose `JsonSchema` typed inputs, outputs and errors implement. Its derive names
/// the crate `schemars`: depend on it directly (`schemars = "1"`), as with rmcp.
pub use schemars;
