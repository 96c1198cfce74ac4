//! The adapter contract (call-protocol §13): importers turn a foreign API into leaf
//! registrations.

use futures::future::BoxFuture;

use crate::registry::HandlerRegistration;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The source could not be reached or listed.
    #[error("discovery failed: {detail}{}", cause(source))]
    DiscoveryFailed {
        /// What was being done.
        detail: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A document or schema could not be parsed.
    #[error("schema parse error: {detail}{}", cause(source))]
    SchemaParse {
        /// What was being parsed, or what is wrong with it.
        detail: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The transport failed mid-import.
    #[error("transport error: {detail}{}", cause(source))]
    Transport {
        /// What was being done.
        detail: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A configured limit was crossed; `limit` names the setting.
    #[error("{detail} (limit `{limit}`)")]
    LimitExceeded {
        /// The setting (for example `max_document_bytes`).
        limit: &'static str,
        /// What crossed it.
        detail: String,
    },
    /// The source refused our credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The source uses something this importer does not support (for example a Swagger 2.0
    /// document).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The importer's configuration is wrong (for example a rename of an unknown operation).
    #[error("invalid import configuration: {0}")]
    InvalidConfig(String),
    /// Two imported operations would get the same name.
    #[error("name collision: `{name}` from {first} and from {second}")]
    NameCollision {
        /// The name both would get.
        name: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// One peer offered the same operation name twice.
    #[error("peer `{peer}` offered operation `{name}` twice")]
    SamePeerCollision {
        /// The peer.
        peer: String,
        /// The duplicated name.
        name: String,
    },
}

/// The cause of an [`AdapterError`]: any error, sent between threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `": <cause>"`, so that an error's one line also says why (as the config errors do).
fn cause(source: &Option<BoxError>) -> String {
    source
        .as_ref()
        .map(|source| format!(": {source}"))
        .unwrap_or_default()
}

impl AdapterError {
    /// [`AdapterError::DiscoveryFailed`] with no underlying error.
    pub fn discovery(detail: impl Into<String>) -> Self {
        AdapterError::DiscoveryFailed {
            detail: detail.into(),
            source: None,
        }
    }

    /// [`AdapterError::DiscoveryFailed`] caused by `source`.
    pub fn discovery_caused(detail: impl Into<String>, source: impl Into<BoxError>) -> Self {
        AdapterError::DiscoveryFailed {
            detail: detail.into(),
            source: Some(source.into()),
        }
    }

    /// [`AdapterError::SchemaParse`] with no underlying error.
    pub fn schema_parse(detail: impl Into<String>) -> Self {
        AdapterError::SchemaParse {
            detail: detail.into(),
            source: None,
        }
    }

    /// [`AdapterError::SchemaParse`] caused by `source` (a parser's error).
    pub fn schema_parse_caused(detail: impl Into<String>, source: impl Into<BoxError>) -> Self {
        AdapterError::SchemaParse {
            detail: detail.into(),
            source: Some(source.into()),
        }
    }

    /// [`AdapterError::Transport`] with no underlying error.
    pub fn transport(detail: impl Into<String>) -> Self {
        AdapterError::Transport {
            detail: detail.into(),
            source: None,
        }
    }
}

/// Imports operations from elsewhere as leaf registrations (`From*` provenance, `Internal` by
/// default, no authority, no scoped env).
///
/// Startup imports join the base layer; runtime imports a connection overlay.
pub trait OperationAdapter: Send + Sync + std::fmt::Debug {
    /// Discovers the source's operations and returns one registration each.
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>>;
}

/// Longest imported operation name (architecture §6 "Imported names").
pub const MAX_IMPORTED_NAME_LEN: usize = 64;

/// A foreign name (operationId, tool name) as name segments: ASCII letters, digits and `_ - .`
/// are kept, `/` separates segments (empty ones dropped), everything else becomes `_`.
///
/// ```
/// use alknet_http_core::adapter::slugify;
/// assert_eq!(slugify("repos/get-content"), "repos/get-content");
/// assert_eq!(slugify("a b//c?"), "a_b/c_");
/// ```
pub fn slugify(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    mapped
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// The deterministic name of an import: `namespace/slug`, at most [`MAX_IMPORTED_NAME_LEN`]
/// characters — a longer one is cut and ends in `-` + 8 hex digits of its SHA-256, so distinct
/// long names stay distinct.
///
/// ```
/// use alknet_http_core::adapter::imported_name;
/// assert_eq!(imported_name("gh", "repos/get"), "gh/repos/get");
/// assert_eq!(imported_name("gh", &"x".repeat(100)).len(), 64);
/// ```
pub fn imported_name(namespace: &str, slug: &str) -> String {
    use sha2::Digest as _;
    let name = format!("{namespace}/{slug}");
    if name.len() <= MAX_IMPORTED_NAME_LEN {
        return name;
    }
    let hash = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..4]);
    let mut keep = MAX_IMPORTED_NAME_LEN - hash.len() - 1;
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut cut = name[..keep]
        .trim_end_matches(['/', '_', '-', '.'])
        .to_owned();
    cut.push('-');
    cut.push_str(&hash);
    cut
}

mod from_call;

pub use from_call::{FromCall, FromCallConfig};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let capped = imported_name("ns", &"x".repeat(100));
        assert_eq!(capped.len(), MAX_IMPORTED_NAME_LEN);
        assert!(capped.starts_with("ns/xxx"));
        let other = imported_name("ns", &format!("{}y", "x".repeat(100)));
        assert_ne!(capped, other, "different names keep different hashes");
        assert_eq!(imported_name("ns", "short"), "ns/short");
        let at_slash = imported_name("ns", &format!("{}/{}", "a".repeat(52), "b".repeat(30)));
        assert!(!at_slash.contains("/-"), "{at_slash}");
        // A namespace with multi-byte characters is cut on a character boundary.
        assert!(imported_name(&"é".repeat(40), "x").len() <= MAX_IMPORTED_NAME_LEN);
    }
}
