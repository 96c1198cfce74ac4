//! What an import is configured with: the upstream service ([`HttpServiceConfig`]) and the
//! import's own options ([`ImportOptions`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::{AccessControl, AdapterError, Capabilities, Visibility};

use super::forward::{self, ForwardLimits, HttpAuthScheme, Upstream};
use super::limits::ImportLimits;

/// Where an imported API lives and how to reach it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpServiceConfig {
    /// The namespace of the imported operations (the first name segment).
    pub namespace: String,
    /// The API's base URL; every request goes under it, whatever the document's `servers` say.
    pub base_url: String,
    /// How credentials are sent, when the API needs them.
    pub auth: Option<HttpAuthScheme>,
    /// The capability service whose secret is sent. Default: the namespace.
    pub credential: Option<String>,
    /// Headers sent with every request.
    pub default_headers: Vec<(String, String)>,
    /// Limits of forwarded calls.
    pub limits: ForwardLimits,
}

impl HttpServiceConfig {
    /// Sets `namespace`: the namespace of the imported operations (the first name segment).
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets `base_url`: the API's base URL; every request goes under it, whatever the document's `servers` say.
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets `default_headers`: headers sent with every request.
    #[must_use]
    pub fn with_default_headers(mut self, default_headers: Vec<(String, String)>) -> Self {
        self.default_headers = default_headers;
        self
    }
}

impl HttpServiceConfig {
    /// A service under `namespace` at `base_url`, without authentication.
    pub fn new(namespace: impl Into<String>, base_url: impl Into<String>) -> Self {
        HttpServiceConfig {
            namespace: namespace.into(),
            base_url: base_url.into(),
            auth: None,
            credential: None,
            default_headers: Vec::new(),
            limits: ForwardLimits::default(),
        }
    }

    /// Sets the authentication scheme.
    #[must_use]
    pub fn with_auth(mut self, auth: HttpAuthScheme) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Reads the secret from capability `service` instead of the namespace's.
    #[must_use]
    pub fn with_credential(mut self, service: impl Into<String>) -> Self {
        self.credential = Some(service.into());
        self
    }

    /// Adds a header sent with every request.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: ForwardLimits) -> Self {
        self.limits = limits;
        self
    }

    pub(super) fn upstream(&self, http: Arc<SharedHttpClient>) -> Result<Upstream, AdapterError> {
        if self.namespace.is_empty()
            || !self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(AdapterError::InvalidConfig(format!(
                "namespace `{}`: use letters, digits, `_`, `-` and `.`",
                self.namespace
            )));
        }
        Ok(Upstream {
            base: forward::parse_base_url(&self.base_url).map_err(AdapterError::InvalidConfig)?,
            auth: self.auth.clone(),
            credential: self
                .credential
                .clone()
                .unwrap_or_else(|| self.namespace.clone()),
            default_headers: forward::header_map(&self.default_headers)
                .map_err(AdapterError::InvalidConfig)?,
            limits: self.limits,
            http,
        })
    }
}

/// What to import and how the imported operations look.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// New names (the part after the namespace), keyed by operationId, by `METHOD /path` or by
    /// the generated name's part after the namespace. A key matching nothing is an error.
    pub rename: BTreeMap<String, String>,
    /// Import only operations with one of these tags (when not empty).
    pub include_tags: BTreeSet<String>,
    /// Skip operations with any of these tags.
    pub exclude_tags: BTreeSet<String>,
    /// Import only these operations, by operationId or `METHOD /path` (when not empty).
    pub include_operations: BTreeSet<String>,
    /// Skip these operations, by operationId or `METHOD /path`.
    pub exclude_operations: BTreeSet<String>,
    /// Visibility of the imported operations. Default `Internal` (reachable by composition
    /// only); `External` makes them callable from every surface, subject to `access_control`.
    pub visibility: Visibility,
    /// Who may call them.
    pub access_control: AccessControl,
    /// The credentials handed to every imported registration.
    pub capabilities: Capabilities,
    /// What the import may cost.
    pub limits: ImportLimits,
}

impl ImportOptions {
    /// Sets `include_tags`: import only operations with one of these tags (when not empty).
    #[must_use]
    pub fn with_include_tags(mut self, include_tags: BTreeSet<String>) -> Self {
        self.include_tags = include_tags;
        self
    }

    /// Sets `exclude_tags`: skip operations with any of these tags.
    #[must_use]
    pub fn with_exclude_tags(mut self, exclude_tags: BTreeSet<String>) -> Self {
        self.exclude_tags = exclude_tags;
        self
    }

    /// Sets `include_operations`: import only these operations, by operationId or `METHOD /path` (when not empty).
    #[must_use]
    pub fn with_include_operations(mut self, include_operations: BTreeSet<String>) -> Self {
        self.include_operations = include_operations;
        self
    }

    /// Sets `exclude_operations`: skip these operations, by operationId or `METHOD /path`.
    #[must_use]
    pub fn with_exclude_operations(mut self, exclude_operations: BTreeSet<String>) -> Self {
        self.exclude_operations = exclude_operations;
        self
    }
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            rename: BTreeMap::new(),
            include_tags: BTreeSet::new(),
            exclude_tags: BTreeSet::new(),
            include_operations: BTreeSet::new(),
            exclude_operations: BTreeSet::new(),
            visibility: Visibility::Internal,
            access_control: AccessControl::default(),
            capabilities: Capabilities::new(),
            limits: ImportLimits::default(),
        }
    }
}

impl ImportOptions {
    /// Sets the limits of the import.
    #[must_use]
    pub fn with_limits(mut self, limits: ImportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the credentials.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets the visibility.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the access control.
    #[must_use]
    pub fn with_access_control(mut self, access_control: AccessControl) -> Self {
        self.access_control = access_control;
        self
    }

    /// Renames one operation (`key`: operationId, `METHOD /path` or generated name part).
    #[must_use]
    pub fn with_rename(mut self, key: impl Into<String>, name: impl Into<String>) -> Self {
        self.rename.insert(key.into(), name.into());
        self
    }
}
