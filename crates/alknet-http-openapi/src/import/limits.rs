//! [`ImportLimits`]: what importing one document may cost, whatever the document.
//!
//! Reading is bounded by the document's size, normalising by counted schema nodes (objects
//! and arrays walked) and definitions, so neither a huge real description nor a hostile one
//! can exhaust the process or run unbounded. An operation past a per-operation bound is
//! skipped with [`NoteKind::LimitExceeded`](super::NoteKind::LimitExceeded); once the
//! whole-import budget is spent, every operation not yet planned is skipped the same way.

/// Bounds of one import. Every limit has a default and a test that crosses it.
///
/// ```
/// use alknet_http_openapi::import::ImportLimits;
/// let limits = ImportLimits::default().with_max_schema_depth(64);
/// assert_eq!(limits.max_schema_depth, 64);
/// ```
/// Deserializes from a table of any of its fields (the node's `limits = { … }` of an
/// `[[import.openapi]]`); a field left out keeps its default, an unknown one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportLimits {
    /// Largest document text [`OpenApiSpec::parse`](super::OpenApiSpec::parse) accepts, in
    /// bytes. Default 128 MiB (Microsoft Graph's beta description is 47 MB).
    pub max_document_bytes: usize,
    /// Most operations (path and method pairs) read from one document; the rest are skipped
    /// with one note. Default 100,000 (Graph beta has 22,361).
    pub max_operations: usize,
    /// Deepest nesting of one schema. Default 128.
    pub max_schema_depth: usize,
    /// Most schema nodes of one operation's own schemas (input, output, errors; shared
    /// definitions not counted). Default 100,000.
    pub max_operation_schema_nodes: usize,
    /// Most shared definitions one import keeps. Default 50,000 (Graph beta: 3,875).
    pub max_definitions: usize,
    /// Most schema nodes one import normalises in all, operations and definitions together;
    /// it also bounds what one operation's validator compiles on its first call. Default
    /// 1,000,000 (Graph beta: about 176,000; GitHub: about 18,000).
    pub max_total_schema_nodes: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_document_bytes: 128 << 20,
            max_operations: 100_000,
            max_schema_depth: 128,
            max_operation_schema_nodes: 100_000,
            max_definitions: 50_000,
            max_total_schema_nodes: 1_000_000,
        }
    }
}

impl ImportLimits {
    /// Sets `max_document_bytes`.
    #[must_use]
    pub fn with_max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// Sets `max_operations`.
    #[must_use]
    pub fn with_max_operations(mut self, operations: usize) -> Self {
        self.max_operations = operations;
        self
    }

    /// Sets `max_schema_depth`.
    #[must_use]
    pub fn with_max_schema_depth(mut self, depth: usize) -> Self {
        self.max_schema_depth = depth;
        self
    }

    /// Sets `max_operation_schema_nodes`.
    #[must_use]
    pub fn with_max_operation_schema_nodes(mut self, nodes: usize) -> Self {
        self.max_operation_schema_nodes = nodes;
        self
    }

    /// Sets `max_definitions`.
    #[must_use]
    pub fn with_max_definitions(mut self, definitions: usize) -> Self {
        self.max_definitions = definitions;
        self
    }

    /// Sets `max_total_schema_nodes`.
    #[must_use]
    pub fn with_max_total_schema_nodes(mut self, nodes: usize) -> Self {
        self.max_total_schema_nodes = nodes;
        self
    }
}
