//! What an import produced: [`ImportReport`] with its operations and notes.

use std::collections::BTreeMap;
use std::fmt;

use alknet_http_core::HandlerRegistration;

/// One imported operation and the `(method, path)` it came from.
#[derive(Debug, Clone)]
pub struct ImportedOperation {
    /// `METHOD /path`.
    pub source: String,
    /// The registration.
    pub registration: HandlerRegistration,
}

/// What kind of reason an [`ImportNote`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NoteKind {
    /// Left out by the import's filters.
    Filtered,
    /// Valid OpenAPI that the importer does not forward (a required cookie, an external
    /// `$ref`, a body media type it cannot encode).
    Unsupported,
    /// The document is wrong here (an unresolvable `$ref`, a schema that is not one).
    InvalidSchema,
    /// One of the [`ImportLimits`](super::ImportLimits) was crossed.
    LimitExceeded,
    /// Imported under another name than its own (a name taken in the same document).
    Renamed,
    /// Imported with part of it ignored (an optional cookie, an optional non-JSON body).
    Ignored,
}

/// One operation left out, or imported with a caveat, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// `METHOD /path`.
    pub source: String,
    /// What kind of reason.
    pub kind: NoteKind,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for ImportNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// The outcome of planning an import.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The namespace imported into.
    pub namespace: String,
    /// The operations, in path order (then get, put, post, delete, options, head, patch, trace).
    pub operations: Vec<ImportedOperation>,
    /// Operations not imported (unsupported features, filters).
    pub skipped: Vec<ImportNote>,
    /// Operations imported with a caveat (an ignored optional cookie parameter, a non-JSON
    /// optional body).
    pub warnings: Vec<ImportNote>,
}

impl ImportReport {
    /// One line: how many operations were imported and skipped, and why.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "openapi {}: imported {} operation{}",
            self.namespace,
            self.operations.len(),
            if self.operations.len() == 1 { "" } else { "s" }
        );
        if !self.skipped.is_empty() {
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for note in &self.skipped {
                *reasons.entry(note.reason.as_str()).or_default() += 1;
            }
            let reasons: Vec<String> = reasons
                .into_iter()
                .map(|(reason, n)| {
                    if n == 1 {
                        let source = self
                            .skipped
                            .iter()
                            .find(|s| s.reason == reason)
                            .map(|s| s.source.as_str())
                            .unwrap_or_default();
                        format!("{source}: {reason}")
                    } else {
                        format!("{n}× {reason}")
                    }
                })
                .collect();
            line.push_str(&format!(
                ", skipped {} ({})",
                self.skipped.len(),
                reasons.join("; ")
            ));
        }
        if !self.warnings.is_empty() {
            line.push_str(&format!(", {} with warnings", self.warnings.len()));
        }
        line
    }

    /// The registrations, for a registry builder.
    pub fn into_registrations(self) -> Vec<HandlerRegistration> {
        self.operations
            .into_iter()
            .map(|o| o.registration)
            .collect()
    }
}
