//! What the surface adds around rmcp, in the handler that calls rmcp's service (no middleware
//! layer, and no per-request clone of the service and its configuration):
//!
//! - an anonymous request is refused with 401 unless the surface allows it;
//! - a session belongs to the identity that opened it: a request naming another identity's
//!   session is answered as if the session did not exist (404), and when the credential that
//!   opened a session is revoked by a reload, changed or expired, the session is closed (its
//!   streams end, its id answers 404, and the client's next `initialize` meets the 401);
//! - rmcp's 202 to a session `DELETE` becomes 204 (MCP clients expect 200 or 204; the Python
//!   SDK logs a warning otherwise).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use alknet_http_core::credential::{Credential, CredentialCheck};
use alknet_http_core::error::unauthorized_response;
use alknet_http_core::identity::{ResolvedIdentity, bearer_token};
use alknet_http_core::{AuthToken, IdentityProvider};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::Response;
use rmcp::transport::streamable_http_server::SessionManager as _;
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::handler::McpHandler;

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// How often bindings of sessions that ended on their own (a `DELETE`, the idle timeout) are
/// dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// rmcp's streamable-HTTP service for this surface's handlers.
pub(crate) type McpService = StreamableHttpService<McpHandler, LocalSessionManager>;

/// The surface's state around rmcp.
#[derive(Clone)]
pub(crate) struct Edge {
    pub(crate) allow_anonymous: bool,
    pub(crate) bindings: Arc<SessionBindings>,
    pub(crate) service: Arc<McpService>,
}

impl Edge {
    async fn serve(&self, request: Request) -> Response {
        self.service.handle(request).await.map(Body::new)
    }
}

/// The sessions of this surface and the credentials that opened them.
pub(crate) struct SessionBindings {
    provider: Arc<dyn IdentityProvider>,
    sessions: Arc<LocalSessionManager>,
    by_id: Mutex<HashMap<String, CredentialCheck>>,
    /// Wakes the watch when a binding is added (its expiry may be the next one).
    added: Arc<Notify>,
    watching: std::sync::Once,
    shutdown: CancellationToken,
}

impl SessionBindings {
    pub(crate) fn new(
        provider: Arc<dyn IdentityProvider>,
        sessions: Arc<LocalSessionManager>,
        shutdown: CancellationToken,
    ) -> Self {
        SessionBindings {
            provider,
            sessions,
            by_id: Mutex::new(HashMap::new()),
            added: Arc::new(Notify::new()),
            watching: std::sync::Once::new(),
            shutdown,
        }
    }

    fn by_id(&self) -> std::sync::MutexGuard<'_, HashMap<String, CredentialCheck>> {
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of the identity that opened `session`, if this surface bound it.
    fn owner(&self, session: &str) -> Option<String> {
        self.by_id()
            .get(session)
            .map(|check| check.identity().id.clone())
    }

    fn bind(self: &Arc<Self>, session: String, check: CredentialCheck) {
        self.by_id().insert(session, check);
        self.added.notify_one();
        self.watching.call_once(|| {
            tokio::spawn(watch(Arc::downgrade(self), self.provider.changes()));
        });
    }
}

/// Closes the sessions whose credential lapses: wakes on a reload, at the next expiry, when a
/// binding is added, and now and then to forget sessions that ended on their own. Holds the
/// bindings only while it works, and ends once the surface is gone.
async fn watch(
    bindings: std::sync::Weak<SessionBindings>,
    mut changes: Option<tokio::sync::watch::Receiver<u64>>,
) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        let (next_expiry, added, shutdown) = {
            let Some(bindings) = bindings.upgrade() else {
                return;
            };
            let next_expiry = bindings
                .by_id()
                .values()
                .filter_map(|check| check.identity().expires_at)
                .min();
            (
                next_expiry,
                bindings.added.clone(),
                bindings.shutdown.clone(),
            )
        };
        let until_expiry = async {
            match next_expiry {
                Some(at) => {
                    let left = at
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO);
                    tokio::time::sleep(left).await;
                }
                None => std::future::pending().await,
            }
        };
        let reloaded = async {
            let open = match changes.as_mut() {
                Some(changes) => changes.changed().await.is_ok(),
                None => false,
            };
            if !open {
                std::future::pending::<()>().await;
            }
        };
        let mut pruning = false;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = until_expiry => {}
            () = reloaded => {}
            () = added.notified() => continue,
            _ = prune.tick() => pruning = true,
        }
        let Some(bindings) = bindings.upgrade() else {
            return;
        };
        close_lapsed(&bindings).await;
        if pruning {
            forget_ended(&bindings).await;
        }
    }
}

/// Closes the sessions whose credential no longer stands.
async fn close_lapsed(bindings: &SessionBindings) {
    let now = SystemTime::now();
    let lapsed: Vec<String> = {
        let mut by_id = bindings.by_id();
        let lapsed: Vec<_> = by_id
            .iter()
            .filter_map(|(id, check)| check.check(now).err().map(|r| (id.clone(), r)))
            .collect();
        for (id, revocation) in &lapsed {
            if let Some(check) = by_id.remove(id) {
                tracing::info!(identity = %check.identity().id, %revocation, "closing an mcp session");
            }
        }
        lapsed.into_iter().map(|(id, _)| id).collect()
    };
    for id in lapsed {
        let _ = bindings.sessions.close_session(&id.into()).await;
    }
}

/// Drops the bindings of sessions that ended on their own (a `DELETE`, the idle timeout).
async fn forget_ended(bindings: &SessionBindings) {
    let ids: Vec<String> = bindings.by_id().keys().cloned().collect();
    for id in ids {
        let live = bindings
            .sessions
            .has_session(&id.clone().into())
            .await
            .unwrap_or(false);
        if !live {
            bindings.by_id().remove(&id);
        }
    }
}

pub(crate) async fn edge(State(edge): State<Edge>, request: Request) -> Response {
    let identity = request
        .extensions()
        .get::<ResolvedIdentity>()
        .and_then(|resolved| resolved.0.clone());
    let delete = request.method() == axum::http::Method::DELETE;
    let Some(identity) = identity else {
        if !edge.allow_anonymous {
            return unauthorized_response().map(Body::from);
        }
        return finish(edge.serve(request).await, delete);
    };
    let session = request
        .headers()
        .get(&SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let opening = match &session {
        // Another identity's session is none of this caller's business.
        Some(session) => {
            if edge
                .bindings
                .owner(session)
                .is_some_and(|owner| owner != identity.id)
            {
                return not_found();
            }
            None
        }
        None => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .map(AuthToken::new),
    };
    let response = edge.serve(request).await;
    if delete && let Some(session) = &session {
        edge.bindings.by_id().remove(session);
    }
    if let Some(token) = opening
        && let Some(session) = response
            .headers()
            .get(&SESSION_ID)
            .and_then(|v| v.to_str().ok())
    {
        let check = CredentialCheck::new(
            edge.bindings.provider.clone(),
            Credential::Token(token),
            identity,
        );
        edge.bindings.bind(session.to_owned(), check);
    }
    finish(response, delete)
}

fn finish(mut response: Response, delete: bool) -> Response {
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Body::empty();
    }
    response
}

/// What rmcp answers for a session it does not know.
fn not_found() -> Response {
    let mut response = Response::new(Body::from("Not Found: Session not found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
