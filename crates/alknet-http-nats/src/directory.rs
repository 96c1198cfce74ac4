//! [`SessionDirectory`] (feature `sessions`): the live WebSocket sessions of every node of a
//! cluster, listed by identity and called from any node — hub-side code on one gateway
//! replica reaches a browser connected to another.
//!
//! Nodes find each other by announcing themselves (`here`, every `announce_interval`, and at
//! once when a node joins and asks); a listing is one broadcast that every node answers with
//! its own sessions, and a call goes to the one node holding the session. See
//! [`SessionDirectory`] for the subjects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alknet_http_core::CallError;
use alknet_http_ws::Sessions;
use async_nats::HeaderMap;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connect::Bus;
use crate::directory_node::{
    ASKED_BY, CallRequest, Inner, ListAnswer, ListRequest, Subjects, lock, timed_out,
};
use crate::directory_types::{ClusterSession, DirectoryConfig, Listing};
use crate::error::NatsError;
use crate::mux::Mux;
use crate::subject::is_token;
use crate::wire::{self, DEADLINE_MS, Reply};

/// Stops the node's part when the last handle goes.
struct Membership(CancellationToken);

impl Drop for Membership {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// This node's place in a cluster's session directory: it answers other nodes for its own
/// WebSocket sessions ([`Sessions`]) and lists and calls theirs. Cheap to clone; the node
/// leaves when the last clone is dropped or on [`SessionDirectory::leave`].
///
/// Subjects, under `_ALKNET.sessions.<cluster>`: `here` and `bye` (a node's id, announced
/// every `announce_interval` and when it leaves), `probe` (a joining node asks every node to
/// announce itself), `list` (a listing, answered by every node with its sessions, filtered
/// by identity) and `node.<id>.call` (a call to a session of node `<id>`, answered like an
/// operation call on the bus: a plain reply or `Alknet-Kind` `error`, `Alknet-Deadline-Ms` on
/// the request).
///
/// Trust is the NATS account's, as for exported operations: any client on it may list
/// sessions and call the operations browsers registered, as the hub-side code of any node
/// may.
#[derive(Clone)]
pub struct SessionDirectory {
    inner: Arc<Inner>,
    _membership: Arc<Membership>,
}

impl std::fmt::Debug for SessionDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDirectory")
            .field("cluster", &self.inner.config.cluster)
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl SessionDirectory {
    /// Joins the directory of `config.cluster` with this node's `sessions`: subscribes,
    /// announces itself and asks the others to.
    pub async fn join(
        bus: &Bus,
        sessions: Sessions,
        config: DirectoryConfig,
    ) -> Result<SessionDirectory, NatsError> {
        if !is_token(&config.cluster) {
            return Err(NatsError::Config(format!(
                "the cluster name {:?} is not a subject token (A-Z a-z 0-9 - _)",
                config.cluster
            )));
        }
        let client = bus.client();
        let node = client
            .new_inbox()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let subjects = Subjects {
            base: format!("_ALKNET.sessions.{}", config.cluster),
        };
        let subscribe = |subject: String| async move {
            client
                .subscribe(subject)
                .await
                .map_err(|e| NatsError::Subscribe(e.to_string()))
        };
        let cluster_wide = subscribe(subjects.of("*")).await?;
        let calls = subscribe(subjects.calls_of(&node)).await?;
        let stop = CancellationToken::new();
        let inner = Arc::new(Inner {
            bus: bus.clone(),
            sessions,
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            node,
            subjects,
            members: Mutex::default(),
            mux: Mux::start(bus).await?,
            joined: Instant::now(),
            stop: stop.clone(),
        });
        inner.announce("probe").await;
        inner.announce("here").await;
        tokio::spawn(inner.clone().serve(cluster_wide, calls));
        Ok(SessionDirectory {
            inner,
            _membership: Arc::new(Membership(stop)),
        })
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The other nodes heard from, by id.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = lock(&self.inner.members).keys().cloned().collect();
        nodes.sort();
        nodes
    }

    /// Every live session in the cluster, or only those of `identity_id`: this node's, and
    /// what the other nodes answer within `answer_timeout`.
    pub async fn list(&self, identity_id: Option<&str>) -> Listing {
        self.inner.list(identity_id).await
    }

    /// Calls `operation` on session `id` of `node` (a browser's registered operation, say),
    /// as the hub-side code of that node would with `Sessions::call`.
    ///
    /// Fails `NOT_FOUND` when that node has no such session (or the client no such
    /// operation), `UNAVAILABLE` when the node is not on the bus or does not answer,
    /// `TIMEOUT` past `call_timeout`, and with the client's own error otherwise.
    pub async fn call(
        &self,
        node: &str,
        id: u64,
        operation: &str,
        input: Value,
    ) -> Result<Value, CallError> {
        self.inner.call(node, id, operation, input).await
    }

    /// Leaves the cluster: says so, and stops answering.
    pub async fn leave(self) {
        self.inner.announce("bye").await;
        let _ = self.inner.bus.client().flush().await;
        self.inner.stop.cancel();
    }
}

impl Inner {
    async fn list(&self, identity_id: Option<&str>) -> Listing {
        let (mut sessions, mut truncated) = self.local(identity_id, usize::MAX);
        let mut unreachable = Vec::new();
        if !self.bus.is_connected() {
            unreachable = lock(&self.members).keys().cloned().collect();
            unreachable.sort();
            return Listing {
                sessions,
                unreachable,
                truncated,
            };
        }
        let mut slot = self.mux.slot(self.config.max_nodes);
        let mut headers = HeaderMap::new();
        headers.insert(ASKED_BY, self.node.as_str());
        let request = serde_json::to_vec(&ListRequest {
            identity: identity_id.map(str::to_owned),
        })
        .unwrap_or_default();
        if let Err(e) = self
            .bus
            .client()
            .publish_with_reply_and_headers(
                self.subjects.of("list"),
                slot.subject.clone(),
                headers,
                request.into(),
            )
            .await
        {
            tracing::debug!(error = %e, "asking for the cluster's sessions");
        }
        let until = Instant::now() + self.config.answer_timeout;
        // Right after joining, the members are not all known yet: wait the whole time.
        let settled = self.joined + self.config.answer_timeout <= Instant::now();
        let mut answered: HashMap<String, Vec<ClusterSession>> = HashMap::new();
        loop {
            let expected = lock(&self.members).clone();
            if settled && expected.keys().all(|node| answered.contains_key(node)) {
                break;
            }
            let message = tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                message = slot.replies.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            let Ok(answer) = serde_json::from_slice::<ListAnswer>(&message.payload) else {
                continue;
            };
            if answer.node == self.node || answered.len() >= self.config.max_nodes {
                continue;
            }
            truncated |= answer.truncated;
            // A node answers for its own sessions only.
            let own: Vec<ClusterSession> = answer
                .sessions
                .into_iter()
                .filter(|s| s.node == answer.node)
                .collect();
            answered.insert(answer.node, own);
        }
        for node in lock(&self.members).keys() {
            if !answered.contains_key(node) {
                unreachable.push(node.clone());
            }
        }
        unreachable.sort();
        let mut others: Vec<(String, Vec<ClusterSession>)> = answered.into_iter().collect();
        others.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, theirs) in others {
            sessions.extend(theirs);
        }
        Listing {
            sessions,
            unreachable,
            truncated,
        }
    }

    async fn call(
        &self,
        node: &str,
        id: u64,
        operation: &str,
        input: Value,
    ) -> Result<Value, CallError> {
        let timeout = self.config.call_timeout;
        if node == self.node {
            return tokio::time::timeout(timeout, self.sessions.call(id, operation, input))
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)));
        }
        if !self.bus.is_connected() || !is_token(node) {
            return Err(wire::unavailable(format!("node {node} cannot be reached")));
        }
        let body = serde_json::to_vec(&CallRequest {
            session: id,
            operation: operation.to_owned(),
            input,
        })
        .unwrap_or_default();
        if body.len() > self.room() {
            return Err(wire::too_large("the input", body.len(), self.room()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(DEADLINE_MS, timeout.as_millis().to_string());
        let mut slot = self.mux.slot(1);
        self.bus
            .client()
            .publish_with_reply_and_headers(
                self.subjects.calls_of(node),
                slot.subject.clone(),
                headers,
                body.into(),
            )
            .await
            .map_err(|e| {
                wire::unavailable(format!("the bus refused the call to node {node}: {e}"))
            })?;
        // The node answers TIMEOUT itself at the deadline; past it, it is not answering.
        let reply = tokio::time::timeout(timeout + self.config.answer_timeout, slot.replies.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| wire::unavailable(format!("node {node} did not answer")))?;
        match wire::reply_of(reply) {
            Reply::Result(output) => serde_json::from_slice(&output)
                .map_err(|_| CallError::internal("a node answered with output that is not JSON")),
            Reply::Error(error) => Err(error),
            Reply::NoResponders => Err(wire::unavailable(format!(
                "node {node} is not in the cluster"
            ))),
            _ => Err(CallError::internal(
                "a node answered a session call with a stream",
            )),
        }
    }
}
