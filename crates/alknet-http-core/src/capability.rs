//! [`Capabilities`]: a registration's outbound credentials (call-protocol §12).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
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
/// Cheap to clone, zeroized on drop, redacted in `Debug`, and deliberately not serializable.
/// Dispatch hands them to the handler only after access control allowed the call.
///
/// The builders (`with_*`) make new, independent capabilities. A clone shares its
/// credentials with the original: [`Capabilities::rotate`] replaces a secret for every clone
/// at once, so registrations built with them send the new secret from their next call (a
/// node's credential reload).
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
    entries: Arc<ArcSwap<BTreeMap<String, Credential>>>,
}

impl Capabilities {
    /// No credentials.
    pub fn new() -> Self {
        Capabilities::default()
    }

    fn with(self, service: impl Into<String>, kind: CredentialKind, secret: String) -> Self {
        let mut entries = BTreeMap::clone(&self.entries.load());
        entries.insert(
            service.into(),
            Credential {
                kind,
                secret: SecretString::from(secret),
            },
        );
        Capabilities {
            entries: Arc::new(ArcSwap::from_pointee(entries)),
        }
    }

    /// Replaces the secret of `service` (keeping its kind) for these capabilities and every
    /// clone of them; `false` when there is no credential for `service`.
    pub fn rotate(&self, service: &str, secret: impl Into<String>) -> bool {
        let secret = SecretString::from(secret.into());
        let mut found = false;
        self.entries.rcu(|entries| {
            let mut entries = BTreeMap::clone(entries);
            found = match entries.get_mut(service) {
                Some(credential) => {
                    credential.secret = secret.clone();
                    true
                }
                None => false,
            };
            entries
        });
        found
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

    /// The secret for `service`, as it is now.
    pub fn get(&self, service: &str) -> Option<SecretString> {
        self.entries.load().get(service).map(|c| c.secret.clone())
    }

    /// The kind of the credential for `service`.
    pub fn kind(&self, service: &str) -> Option<CredentialKind> {
        self.entries.load().get(service).map(|c| c.kind)
    }

    /// Whether there are no credentials.
    pub fn is_empty(&self) -> bool {
        self.entries.load().is_empty()
    }

    /// The service names that have credentials, sorted.
    pub fn services(&self) -> Vec<String> {
        self.entries.load().keys().cloned().collect()
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (service, credential) in self.entries.load().iter() {
            map.entry(service, &format_args!("{:?}([redacted])", credential.kind));
        }
        map.finish()
    }
}
