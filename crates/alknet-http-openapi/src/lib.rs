//! # alknet-http-openapi
//!
//! Both directions between alknet-http and OpenAPI: `to_openapi` describes the gateway, and
//! [`import`] (`from_openapi`, `from_jsonschema`) turns a REST API into operations.
//!
//! `to_openapi`: the OpenAPI **3.1.0** description of the alknet-http gateway (http-surfaces
//! §8). It describes the five gateway endpoints — never one path per operation — with the
//! `CallError` schema, a bearer security scheme and every status the gateway can answer, and is
//! the same for every caller. Operations are discovered at run time through `/search` and
//! `/schema`. Served as JSON at `GET /openapi.json`.
//!
//! The document is built with utoipa's builders; JSON Schemas are spliced in after
//! serialising, because utoipa's `Schema` cannot hold arbitrary JSON Schema 2020-12.
//!
//! ## Versioning
//!
//! `info.version` is [`GATEWAY_API_VERSION`], a hand-bumped semver of the gateway contract:
//! major for a breaking gateway change (an endpoint removed or renamed, a new required field, an
//! incompatible response, a changed error mapping), minor for additions, patch for wording.
//! Registering or importing operations never changes it.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`to_openapi`] | the document, as JSON (`gateway_document.rs`; its component schemas in `components.rs`) |
//! | [`router`] | `GET /openapi.json` |
//! | [`GATEWAY_API_VERSION`] | the gateway contract's version |
//! | [`import`] | `from_openapi` ([`import::FromOpenApi`]) and `from_jsonschema` ([`import::FromJsonSchema`]) (feature `import`) |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `import` | yes | the REST importers (the shared outbound client of `alknet-http-core`, YAML) |
//!
//! ## Example
//!
//! ```
//! use alknet_http_core::OperationRegistry;
//! let doc = alknet_http_openapi::to_openapi(&OperationRegistry::empty());
//! assert_eq!(doc["openapi"], "3.1.0");
//! assert_eq!(doc["paths"].as_object().unwrap().len(), 5);
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "import")]
#[cfg_attr(docsrs, doc(cfg(feature = "import")))]
pub mod import;

mod components;
mod gateway_document;

pub use gateway_document::{GATEWAY_API_VERSION, PATH, router, to_openapi};
