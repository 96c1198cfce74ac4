//! `from_call`: import the operations of the node on the other end of a [`Session`]
//! (call-protocol §13).

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapter::{AdapterError, OperationAdapter};
use crate::capability::Capabilities;
use crate::context::OperationContext;
use crate::error::CallError;
use crate::meta::CallMeta;
use crate::registry::{HandlerKind, HandlerRegistration, RegistryError};
use crate::session::{OutgoingOptions, Session};
use crate::spec::{OperationSpec, OperationType, Provenance, Visibility};
use crate::trace::TraceParent;

/// How [`FromCall`] imports.
#[derive(Debug, Clone)]
pub struct FromCallConfig {
    /// The remote node's name, used in error messages (for example its peer id).
    pub peer: String,
    /// A local prefix: remote `fs/readFile` becomes `<prefix>/fs/readFile` in namespace `<prefix>`.
    pub namespace_prefix: Option<String>,
    /// Only these remote names (registry form) are imported, when set.
    pub operation_filter: Option<HashSet<String>>,
    /// Credentials given to every imported registration (assembly-provided).
    pub capabilities: Capabilities,
    /// The capability service whose secret is sent as this node's `auth_token`, when set.
    pub token_service: Option<String>,
    /// Whether forwarded requests name the local caller in `forwarded_for`. Default `true`.
    pub forward_identity: bool,
    /// The visibility of the imports: `Internal` (the default) lets only this node's handlers
    /// compose them; `External` offers them to this node's callers too.
    pub visibility: Visibility,
}

impl FromCallConfig {
    /// Imports everything from `peer`, unprefixed, with no credentials.
    pub fn new(peer: impl Into<String>) -> Self {
        FromCallConfig {
            peer: peer.into(),
            namespace_prefix: None,
            operation_filter: None,
            capabilities: Capabilities::new(),
            token_service: None,
            forward_identity: true,
            visibility: Visibility::Internal,
        }
    }

    /// Sets a local prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.namespace_prefix = Some(prefix.into());
        self
    }

    /// Imports only `names`.
    #[must_use]
    pub fn with_filter<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.operation_filter = Some(
            names
                .into_iter()
                .map(|n| crate::envelope::strip_slash(n.as_ref()).to_owned())
                .collect(),
        );
        self
    }

    /// Sets the visibility of the imports (`Internal` by default).
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sends the secret of capability `service` as `auth_token` with every forwarded request.
    #[must_use]
    pub fn with_token(mut self, service: impl Into<String>, capabilities: Capabilities) -> Self {
        self.token_service = Some(service.into());
        self.capabilities = capabilities;
        self
    }
}

/// Imports a remote session's operations as leaf registrations (`Internal` unless configured)
/// whose handlers forward each call over the session: Query/Mutation as one remote call,
/// Subscription as a remote subscription relayed item by item. A local abort that reaches a forwarder sends
/// `call.aborted` to the remote side.
///
/// ```no_run
/// # async fn demo(session: alknet_http_core::session::Session) -> Result<(), alknet_http_core::AdapterError> {
/// use alknet_http_core::adapter::{FromCall, FromCallConfig};
/// use alknet_http_core::OperationAdapter;
///
/// let importer = FromCall::new(session.clone(), FromCallConfig::new("node-b").with_prefix("b"));
/// let registrations = importer.import().await?;
/// session.overlay().register_imported_all(registrations).expect("names are unique");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FromCall {
    session: Session,
    config: FromCallConfig,
}

impl fmt::Debug for FromCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromCall")
            .field("peer", &self.config.peer)
            .field("prefix", &self.config.namespace_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Listing {
    operations: Vec<ListedOperation>,
}

#[derive(Deserialize)]
struct ListedOperation {
    name: String,
}

impl FromCall {
    /// An importer over `session`.
    pub fn new(session: Session, config: FromCallConfig) -> Self {
        FromCall { session, config }
    }

    /// Imports and replaces the session's connection overlay with the result (what a node does
    /// on every session establishment).
    pub async fn import_into_overlay(&self) -> Result<usize, AdapterError> {
        let registrations = self.import().await?;
        let count = registrations.len();
        let overlay = self.session.overlay();
        overlay.clear();
        overlay
            .register_imported_all(registrations)
            .map_err(|e| match e {
                RegistryError::DuplicateName(name) => AdapterError::SamePeerCollision {
                    peer: self.config.peer.clone(),
                    name,
                },
                other => AdapterError::schema_parse_caused("an imported operation", other),
            })?;
        Ok(count)
    }

    /// This node's own token for the remote side, from the configured capability.
    fn node_token(&self) -> Option<String> {
        let service = self.config.token_service.as_deref()?;
        let secret = self.config.capabilities.get(service)?;
        Some(secret.expose_secret().to_owned())
    }

    async fn remote_call(&self, operation: &str, input: Value) -> Result<Value, AdapterError> {
        let options = OutgoingOptions {
            auth_token: self.node_token(),
            ..OutgoingOptions::default()
        };
        self.session
            .request(operation, input, options)
            .await
            .map_err(|e| discovery_error(&e))
    }

    async fn discover(&self) -> Result<Vec<HandlerRegistration>, AdapterError> {
        let listing = self
            .remote_call(crate::registry::SERVICES_LIST, Value::Null)
            .await?;
        let Listing { operations } = serde_json::from_value(listing)
            .map_err(|e| AdapterError::schema_parse_caused("services/list", e))?;
        let mut seen = BTreeSet::new();
        for listed in &operations {
            if !seen.insert(listed.name.as_str()) {
                return Err(AdapterError::SamePeerCollision {
                    peer: self.config.peer.clone(),
                    name: listed.name.clone(),
                });
            }
        }
        let wanted = operations.iter().filter(|listed| {
            !listed.name.starts_with("services/")
                && self
                    .config
                    .operation_filter
                    .as_ref()
                    .is_none_or(|filter| filter.contains(&listed.name))
        });
        let mut registrations = Vec::new();
        for listed in wanted {
            let spec = self
                .remote_call(
                    crate::registry::SERVICES_SCHEMA,
                    json!({ "name": listed.name }),
                )
                .await?;
            let remote: OperationSpec = serde_json::from_value(spec).map_err(|e| {
                AdapterError::schema_parse_caused(format!("services/schema {}", listed.name), e)
            })?;
            registrations.push(self.registration(remote));
        }
        Ok(registrations)
    }

    fn registration(&self, remote: OperationSpec) -> HandlerRegistration {
        let remote_name = remote.name.clone();
        let mut spec = remote;
        if let Some(prefix) = &self.config.namespace_prefix {
            spec.name = format!("{prefix}/{}", spec.name);
            spec.namespace = prefix.clone();
        }
        spec.visibility = self.config.visibility;
        let forwarder = Forwarder {
            session: self.session.clone(),
            remote_name,
            token_service: self.config.token_service.clone(),
            forward_identity: self.config.forward_identity,
        };
        let handler = match spec.op_type {
            OperationType::Subscription => HandlerKind::stream(move |input, ctx| {
                let forwarder = forwarder.clone();
                async move {
                    let options = forwarder.options(&ctx);
                    forwarder
                        .session
                        .subscribe_with(&forwarder.remote_name, input, options)
                        .await
                }
                .into_stream()
                .flatten()
            }),
            OperationType::Query | OperationType::Mutation => {
                HandlerKind::once(move |input, ctx| {
                    let forwarder = forwarder.clone();
                    async move {
                        let options = forwarder.options(&ctx);
                        forwarder
                            .session
                            .request(&forwarder.remote_name, input, options)
                            .await
                    }
                })
            }
        };
        HandlerRegistration::leaf(spec, handler, Provenance::FromCall)
            .with_capabilities(self.config.capabilities.clone())
    }
}

fn discovery_error(error: &CallError) -> AdapterError {
    if error.is(crate::error::ErrorCode::Forbidden) {
        AdapterError::Unauthorized(error.message.clone())
    } else if error.message == "connection closed" {
        AdapterError::transport(error.message.clone())
    } else {
        AdapterError::discovery_caused("the discovery call failed", error.clone())
    }
}

#[derive(Clone)]
struct Forwarder {
    session: Session,
    remote_name: String,
    token_service: Option<String>,
    forward_identity: bool,
}

impl Forwarder {
    fn options(&self, ctx: &OperationContext) -> OutgoingOptions {
        OutgoingOptions {
            // Credentials come from the registration's capabilities only.
            auth_token: self
                .token_service
                .as_deref()
                .and_then(|service| ctx.capabilities().get(service))
                .map(|secret| secret.expose_secret().to_owned()),
            forwarded_for: if self.forward_identity {
                ctx.identity().cloned()
            } else {
                None
            },
            parent_request_id: Some(ctx.request_id().to_owned()),
            // The far node stops when the local caller would no longer wait, and its span
            // joins this call's trace.
            deadline: ctx.deadline(),
            meta: TraceParent::current()
                .map_or_else(CallMeta::new, |parent| parent.into_meta(CallMeta::new())),
        }
    }
}

impl OperationAdapter for FromCall {
    fn import(&self) -> BoxFuture<'_, Result<Vec<HandlerRegistration>, AdapterError>> {
        self.discover().boxed()
    }
}
