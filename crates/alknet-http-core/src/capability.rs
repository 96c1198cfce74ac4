//! [`Capabilities`]: a registration's outbound credentials (call-protocol §12).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

/// The kind of an outbound credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An API key (sent in a header or query parameter the importer declares).
    ApiKey,
    /// An HTTP bearer token.
    HttpToken,
}

#[derive(Clone)]
struct Credential {
    kind: CredentialKind,
    secret: SecretString,
}

/// Outbound credentials of one registration, by service name (call-protocol §12).
///
/// Immutable, cheap to clone, zeroized on drop, redacted in `Debug`, and deliberately not
/// serializable. Dispatch hands them to the handler only after access control allowed the call.
///
/// ```
/// use alknet_http_core::Capabilities;
/// use secrecy::ExposeSecret;
///
/// let caps = Capabilities::new().with_http_token("github", "ghp_secret");
/// assert_eq!(caps.get("github").unwrap().expose_secret(), "ghp_secret");
/// assert!(!format!("{caps:?}").contains("ghp_secret"));
/// ```
#[derive(Clone, Default)]
pub struct Capabilities {
    entries: Arc<BTreeMap<String, Credential>>,
}

impl Capabilities {
    /// No credentials.
    pub fn new() -> Self {
        Capabilities::default()
    }

    fn with(mut self, service: impl Into<String>, kind: CredentialKind, secret: String) -> Self {
        let mut entries = Arc::unwrap_or_clone(self.entries);
        entries.insert(
            service.into(),
            Credential {
                kind,
                secret: SecretString::from(secret),
            },
        );
        self.entries = Arc::new(entries);
        self
    }

    /// Adds an API key for `service`.
    #[must_use]
    pub fn with_api_key(self, service: impl Into<String>, key: impl Into<String>) -> Self {
        self.with(service, CredentialKind::ApiKey, key.into())
    }

    /// Adds an HTTP bearer token for `service`.
    #[must_use]
    pub fn with_http_token(self, service: impl Into<String>, token: impl Into<String>) -> Self {
        self.with(service, CredentialKind::HttpToken, token.into())
    }

    /// The secret for `service`.
    pub fn get(&self, service: &str) -> Option<&SecretString> {
        self.entries.get(service).map(|c| &c.secret)
    }

    /// The kind of the credential for `service`.
    pub fn kind(&self, service: &str) -> Option<CredentialKind> {
        self.entries.get(service).map(|c| c.kind)
    }

    /// Whether there are no credentials.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The service names that have credentials.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (service, credential) in self.entries.iter() {
            map.entry(service, &format_args!("{:?}([redacted])", credential.kind));
        }
        map.finish()
    }
}
