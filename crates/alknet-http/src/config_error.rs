//! [`ConfigError`]: why a node's configuration was refused, each cause typed and kept as the
//! error's source.

use std::path::PathBuf;

/// A configuration problem; its `Display` is one line naming the file, entry or import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the configuration's shape.
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Syntax {
        /// The line of the problem, when known.
        line: Option<usize>,
        /// What is wrong, on one line.
        message: String,
        /// The parser's error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A problem inside a configuration file.
    #[error("config {}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The problem.
        #[source]
        source: Box<ConfigError>,
    },
    /// A `[[token]]` entry with a malformed hash.
    #[error("token `{id}`: {source}")]
    Token {
        /// The entry's id.
        id: String,
        /// Why it was refused.
        #[source]
        source: alknet_http_core::identity::TokenError,
    },
    /// A listener's certificate or key cannot be loaded.
    #[error("listener {addr}: {source}")]
    Certificate {
        /// The listener's address.
        addr: String,
        /// Why.
        #[source]
        source: alknet_http_core::tls::TlsError,
    },
    /// The outbound HTTP client of the imports cannot be built.
    #[error("import: {0}")]
    HttpClient(#[from] alknet_http_core::client::HttpClientError),
    /// An import's document or server refused the import.
    #[error("{label}: {source}")]
    Import {
        /// Which import (`import.openapi `ns``).
        label: String,
        /// Why.
        #[source]
        source: alknet_http_core::AdapterError,
    },
    /// A value the configuration does not allow; the text says which and why.
    #[error("{0}")]
    Invalid(String),
}

/// A configuration error that says what is wrong, in one line.
pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(message.into()))
}
