//! The discovery operations `services/list` and `services/schema` (call-protocol §10).

use std::sync::Weak;

use serde::Deserialize;
use serde_json::json;

use super::{HandlerKind, HandlerRegistration, OperationRegistry, RegistryInner};
use crate::error::CallError;
use crate::spec::OperationSpec;

/// The name of the listing discovery operation.
pub const SERVICES_LIST: &str = "services/list";
/// The name of the schema discovery operation.
pub const SERVICES_SCHEMA: &str = "services/schema";

#[derive(Deserialize)]
struct SchemaInput {
    name: String,
}

pub(super) fn registrations(weak: &Weak<RegistryInner>) -> [HandlerRegistration; 2] {
    let list_registry = weak.clone();
    let list = HandlerRegistration::local(
        OperationSpec::query(SERVICES_LIST)
            .with_description("List the operations this caller may call"),
        HandlerKind::once(move |_input, ctx| {
            let registry = list_registry.upgrade();
            async move {
                let registry = registry.ok_or_else(|| CallError::internal("registry dropped"))?;
                let operations = OperationRegistry { inner: registry }.list_for(ctx.identity());
                Ok(json!({ "operations": operations }))
            }
        }),
    );
    let schema_registry = weak.clone();
    let schema = HandlerRegistration::local(
        OperationSpec::query(SERVICES_SCHEMA)
            .with_description("The full spec of one operation")
            .with_input_schema(json!({
                "type": "object",
                "required": ["name"],
                "properties": { "name": { "type": "string" } }
            })),
        HandlerKind::once(move |input, ctx| {
            let registry = schema_registry.upgrade();
            async move {
                let registry = registry.ok_or_else(|| CallError::internal("registry dropped"))?;
                let SchemaInput { name } = SchemaInput::deserialize(&input)
                    .map_err(|e| CallError::invalid_input(e.to_string()))?;
                let spec =
                    OperationRegistry { inner: registry }.schema_for(ctx.identity(), &name)?;
                serde_json::to_value(spec).map_err(|e| CallError::internal(e.to_string()))
            }
        }),
    );
    [list, schema]
}
