//! [`SchemaError`]: why one operation of a document cannot be imported, with its
//! [`NoteKind`] — it becomes the operation's note in the report.

use super::report::NoteKind;

/// Why an operation cannot be imported: what kind of reason, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    pub(crate) kind: NoteKind,
    pub(crate) reason: String,
}

impl SchemaError {
    /// Something in the document is wrong.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        SchemaError {
            kind: NoteKind::InvalidSchema,
            reason: reason.into(),
        }
    }

    /// Something valid that the importer does not do.
    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        SchemaError {
            kind: NoteKind::Unsupported,
            reason: reason.into(),
        }
    }

    /// One of the [`ImportLimits`] was crossed.
    pub(crate) fn limit(reason: impl Into<String>) -> Self {
        SchemaError {
            kind: NoteKind::LimitExceeded,
            reason: reason.into(),
        }
    }
}
