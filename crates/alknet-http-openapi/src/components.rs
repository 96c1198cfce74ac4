//! The document's component schemas: the gateway's envelopes, answers and errors as raw JSON
//! Schema 2020-12 (utoipa's `Schema` cannot hold arbitrary JSON Schema).

use serde_json::{Value, json};

/// The schemas, spliced in as raw JSON Schema 2020-12.
pub(crate) fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer", "description": "A node token (alknet-http token new)" }
        },
        "schemas": {
            "QueryString": { "type": "string" },
            "NonEmptyString": { "type": "string", "minLength": 1 },
            "Output": {
                "description": "Any JSON value: the operation's output (see its output_schema via /schema)"
            },
            "CallError": {
                "type": "object",
                "required": ["code", "message", "retryable"],
                "properties": {
                    "code": { "type": "string", "description": "NOT_FOUND, FORBIDDEN, INVALID_INPUT, INVALID_OPERATION_TYPE, INTERNAL, TIMEOUT, RATE_LIMITED, UNAVAILABLE, or a declared domain code" },
                    "message": { "type": "string" },
                    "retryable": { "type": "boolean" },
                    "retry_after_ms": { "type": "integer", "minimum": 0, "description": "How long to wait before retrying, in milliseconds" },
                    "details": { "description": "Structured details; conforms to the declared schema for domain codes" }
                }
            },
            "CallEnvelope": {
                "type": "object",
                "required": ["operation"],
                "properties": {
                    "operation": { "type": "string", "minLength": 1, "description": "The operation name, e.g. /demo/echo" },
                    "input": { "description": "The input; absent means null" }
                }
            },
            "BatchRequest": { "type": "array", "items": { "$ref": "#/components/schemas/CallEnvelope" } },
            "BatchResult": {
                "type": "array",
                "items": {
                    "oneOf": [
                        { "type": "object", "required": ["output"], "properties": { "output": {} }, "additionalProperties": false },
                        {
                            "type": "object",
                            "required": ["error", "status"],
                            "properties": {
                                "error": { "$ref": "#/components/schemas/CallError" },
                                "status": { "type": "integer", "minimum": 400, "maximum": 599 }
                            },
                            "additionalProperties": false
                        }
                    ]
                }
            },
            "OperationSummary": {
                "type": "object",
                "required": ["name", "namespace", "op_type"],
                "properties": {
                    "name": { "type": "string" },
                    "namespace": { "type": "string" },
                    "op_type": { "enum": ["query", "mutation", "subscription"] },
                    "description": { "type": "string" }
                }
            },
            "SearchResult": {
                "type": "object",
                "required": ["operations"],
                "properties": {
                    "operations": { "type": "array", "items": { "$ref": "#/components/schemas/OperationSummary" } }
                }
            },
            "OperationSpec": {
                "type": "object",
                "required": ["name", "namespace", "op_type", "visibility", "input_schema", "output_schema", "error_schemas", "access_control"],
                "properties": {
                    "name": { "type": "string" },
                    "namespace": { "type": "string" },
                    "op_type": { "enum": ["query", "mutation", "subscription"] },
                    "visibility": { "enum": ["external", "internal"] },
                    "description": { "type": "string" },
                    "input_schema": {},
                    "output_schema": {},
                    "error_schemas": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["code", "description", "schema"],
                            "properties": {
                                "code": { "type": "string" },
                                "description": { "type": "string" },
                                "schema": {},
                                "http_status": { "type": ["integer", "null"] }
                            }
                        }
                    },
                    "access_control": { "type": "object" },
                    "resource_id_path": { "type": ["string", "null"] },
                    "cancel_on_disconnect": { "type": "boolean" },
                    "idempotent": { "type": "boolean" }
                }
            },
            "SseEvent": {
                "type": "object",
                "description": "One Server-Sent Event: an item (no `event`, JSON `data`, increasing `id`), `error` (a CallError; terminal) or `completed` (`{}`; natural end). `: ping` comments keep the stream alive.",
                "required": ["data"],
                "properties": {
                    "id": { "type": "string" },
                    "event": { "enum": ["error", "completed"] },
                    "data": { "type": "string", "contentMediaType": "application/json" },
                    "retry": { "type": "integer" }
                }
            }
        }
    })
}
