//! [`Sessions`]: the hub's view of its live WebSocket sessions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use alknet_http_core::adapter::{FromCall, FromCallConfig};
use alknet_http_core::session::Session;
use alknet_http_core::{AdapterError, CallError, Identity};
use serde_json::Value;

/// One live session, as listed by [`Sessions::list`].
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The hub-assigned id (unique for the process lifetime).
    pub id: u64,
    /// Who connected (the identity resolved at upgrade).
    pub identity: Identity,
    /// The HTTP version of the upgrade: HTTP/1.1 (RFC 6455) or HTTP/2 (RFC 8441).
    pub http_version: http::Version,
}

#[derive(Debug)]
struct Entry {
    identity: Identity,
    version: http::Version,
    session: Session,
}

#[derive(Debug, Default)]
struct Inner {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Entry>>,
}

/// The hub's handle on its live WebSocket sessions: list them, call an operation a client
/// registered, or import a client's operations into its connection overlay. Cheap to clone.
///
/// Browsers are not peers: their sessions never join a peer table, so no node can route to
/// them with `PeerRef::Specific`; hub-side code reaches them only through this handle.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Inner>,
}

impl Sessions {
    /// An empty set.
    pub fn new() -> Self {
        Sessions::default()
    }

    pub(crate) fn insert(
        &self,
        identity: Identity,
        version: http::Version,
        session: Session,
    ) -> u64 {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(
            id,
            Entry {
                identity,
                version,
                session: session.clone(),
            },
        );
        let sessions = self.clone();
        tokio::spawn(async move {
            session.closed().await;
            sessions.lock().remove(&id);
        });
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.inner.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.lock()
            .iter()
            .map(|(id, entry)| SessionInfo {
                id: *id,
                identity: entry.identity.clone(),
                http_version: entry.version,
            })
            .collect()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The session with this id.
    pub fn get(&self, id: u64) -> Option<Session> {
        self.lock().get(&id).map(|entry| entry.session.clone())
    }

    /// The live sessions of one identity.
    pub fn by_identity(&self, identity_id: &str) -> Vec<(u64, Session)> {
        self.lock()
            .iter()
            .filter(|(_, entry)| entry.identity.id == identity_id)
            .map(|(id, entry)| (*id, entry.session.clone()))
            .collect()
    }

    /// Calls an operation the client of session `id` registered.
    pub async fn call(&self, id: u64, operation: &str, input: Value) -> Result<Value, CallError> {
        let session = self
            .get(id)
            .ok_or_else(|| CallError::not_found(operation))?;
        session.call(operation, input).await
    }

    /// Calls an operation imported from the client of session `id` (see [`Sessions::import`])
    /// as `authority`: the operation's own access control decides, with `authority` as the
    /// caller (the hub handler's composition authority).
    pub async fn invoke(
        &self,
        id: u64,
        operation: &str,
        input: Value,
        authority: Option<Identity>,
    ) -> Result<Value, CallError> {
        let session = self
            .get(id)
            .ok_or_else(|| CallError::not_found(operation))?;
        let call = alknet_http_core::RootCall::new().identity(authority.map(Arc::new));
        session
            .overlay()
            .invoke_as(operation, input, call)
            .await
            .result
    }

    /// Imports the client's operations (its `services/list`) into the session's connection
    /// overlay, replacing what was there; returns how many were imported. A client without
    /// operations answers `NOT_FOUND` and the overlay stays empty.
    pub async fn import(&self, id: u64) -> Result<usize, AdapterError> {
        let session = self
            .get(id)
            .ok_or_else(|| AdapterError::discovery(format!("no live session {id}")))?;
        FromCall::new(session, FromCallConfig::new(format!("ws-session-{id}")))
            .import_into_overlay()
            .await
    }
}
