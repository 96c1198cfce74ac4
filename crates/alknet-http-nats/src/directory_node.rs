//! A node's part in a session directory (feature `sessions`): its state, its announcements,
//! and its answers to other nodes' listings and calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alknet_http_core::CallError;
use alknet_http_ws::Sessions;
use async_nats::Message;
use bytes::Bytes;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connect::Bus;
use crate::directory_types::{ClusterSession, DirectoryConfig};
use crate::mux::Mux;
use crate::subject::is_token;
use crate::wire::{self, DEADLINE_MS, HEADER_ALLOWANCE, header};

/// On a listing request: the node that asked (it answers for itself without the bus).
pub(crate) const ASKED_BY: async_nats::HeaderName =
    async_nats::HeaderName::from_static("Alknet-Node");

#[derive(Serialize, Deserialize)]
pub(crate) struct Here {
    pub(crate) node: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ListRequest {
    #[serde(default)]
    pub(crate) identity: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ListAnswer {
    pub(crate) node: String,
    pub(crate) sessions: Vec<ClusterSession>,
    #[serde(default)]
    pub(crate) truncated: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CallRequest {
    pub(crate) session: u64,
    pub(crate) operation: String,
    #[serde(default)]
    pub(crate) input: Value,
}

/// The subjects of one cluster.
pub(crate) struct Subjects {
    /// `_ALKNET.sessions.<cluster>`: `.here`, `.bye`, `.probe` and `.list` below it.
    pub(crate) base: String,
}

impl Subjects {
    pub(crate) fn of(&self, what: &str) -> String {
        format!("{}.{what}", self.base)
    }

    pub(crate) fn calls_of(&self, node: &str) -> String {
        format!("{}.node.{node}.call", self.base)
    }
}

/// What the handles and the node's background task share.
pub(crate) struct Inner {
    pub(crate) bus: Bus,
    pub(crate) sessions: Sessions,
    pub(crate) config: DirectoryConfig,
    pub(crate) node: String,
    pub(crate) subjects: Subjects,
    /// Other nodes, by when they were last heard from.
    pub(crate) members: Mutex<HashMap<String, Instant>>,
    pub(crate) mux: Mux,
    pub(crate) joined: Instant,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) stop: CancellationToken,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub(crate) async fn announce(&self, what: &str) {
        let here = serde_json::to_vec(&Here {
            node: self.node.clone(),
        })
        .unwrap_or_default();
        if let Err(e) = self
            .bus
            .client()
            .publish(self.subjects.of(what), here.into())
            .await
        {
            tracing::debug!(error = %e, "announcing to the session directory");
        }
    }

    /// This node's sessions of `identity_id` (all when `None`), as many as fit in `room`
    /// bytes of JSON; and whether some did not.
    pub(crate) fn local(
        &self,
        identity_id: Option<&str>,
        room: usize,
    ) -> (Vec<ClusterSession>, bool) {
        let mut listed = Vec::new();
        let mut used = 0;
        for info in self.sessions.list() {
            if identity_id.is_some_and(|id| id != info.identity.id) {
                continue;
            }
            let session = ClusterSession {
                node: self.node.clone(),
                id: info.id,
                identity: info.identity,
                http_version: format!("{:?}", info.http_version),
            };
            used += serde_json::to_vec(&session).map_or(0, |v| v.len()) + 1;
            if used > room {
                return (listed, true);
            }
            listed.push(session);
        }
        (listed, false)
    }

    pub(crate) fn room(&self) -> usize {
        self.bus.max_payload().saturating_sub(HEADER_ALLOWANCE)
    }

    /// The node's part: keeps the members, answers listings and calls, announces itself.
    pub(crate) async fn serve(
        self: Arc<Self>,
        mut cluster_wide: async_nats::Subscriber,
        mut calls: async_nats::Subscriber,
    ) {
        let mut announce = tokio::time::interval(self.config.announce_interval);
        announce.reset();
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                _ = announce.tick() => {
                    self.announce("here").await;
                    let gone = Instant::now() - 3 * self.config.announce_interval;
                    lock(&self.members).retain(|_, heard| *heard >= gone);
                }
                message = cluster_wide.next() => match message {
                    Some(message) => self.cluster_message(message).await,
                    None => break,
                },
                message = calls.next() => match message {
                    Some(message) => self.clone().session_call(message),
                    None => break,
                },
            }
        }
        let _ = cluster_wide.unsubscribe().await;
        let _ = calls.unsubscribe().await;
    }

    async fn cluster_message(&self, message: Message) {
        let what = message.subject.rsplit('.').next().unwrap_or_default();
        match what {
            "here" | "bye" | "probe" => {
                let Ok(Here { node }) = serde_json::from_slice(&message.payload) else {
                    return;
                };
                if node == self.node || !is_token(&node) {
                    return;
                }
                {
                    let mut members = lock(&self.members);
                    if what == "bye" {
                        members.remove(&node);
                    } else if members.len() < self.config.max_nodes || members.contains_key(&node) {
                        members.insert(node, Instant::now());
                    }
                }
                if what == "probe" {
                    self.announce("here").await;
                }
            }
            "list" => {
                if header(&message, ASKED_BY) == Some(self.node.as_str()) {
                    return;
                }
                let (Some(reply), Ok(request)) = (
                    message.reply.clone(),
                    serde_json::from_slice::<ListRequest>(&message.payload),
                ) else {
                    return;
                };
                // Room for the envelope around the sessions.
                let room = self.room().saturating_sub(self.node.len() + 64);
                let (sessions, truncated) = self.local(request.identity.as_deref(), room);
                let answer = serde_json::to_vec(&ListAnswer {
                    node: self.node.clone(),
                    sessions,
                    truncated,
                })
                .unwrap_or_default();
                let _ = self.bus.client().publish(reply, answer.into()).await;
            }
            _ => {}
        }
    }

    /// Runs a call from another node on one of this node's sessions.
    fn session_call(self: Arc<Self>, message: Message) {
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let deadline = header(&message, DEADLINE_MS)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(self.config.call_timeout, Duration::from_millis)
            .min(self.config.call_timeout);
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            let busy = wire::unavailable("this node serves too many session calls at once")
                .with_retry_after(Duration::from_millis(100))
                .with_details(json!({ "reason": "overloaded" }));
            tokio::spawn(async move { self.answer(reply, Err(busy)).await });
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let result = match serde_json::from_slice::<CallRequest>(&message.payload) {
                Err(e) => Err(CallError::invalid_input(format!(
                    "a session call must be {{session, operation, input}}: {e}"
                ))),
                Ok(request) => {
                    let call =
                        self.sessions
                            .call(request.session, &request.operation, request.input);
                    tokio::select! {
                        () = self.stop.cancelled() => Err(wire::unavailable("the node left the cluster")),
                        result = tokio::time::timeout(deadline, call) => {
                            result.unwrap_or_else(|_| Err(timed_out(deadline)))
                        }
                    }
                }
            };
            self.answer(reply, result).await;
        });
    }

    async fn answer(&self, reply: async_nats::Subject, result: Result<Value, CallError>) {
        let answer = result.and_then(|output| {
            let body: Bytes = serde_json::to_vec(&output).unwrap_or_default().into();
            if body.len() > self.room() {
                Err(wire::output_too_large(body.len(), self.room()))
            } else {
                Ok(body)
            }
        });
        let client = self.bus.client();
        // A result is a plain reply, as an operation's on the bus.
        let published = match answer {
            Ok(body) => client.publish(reply, body).await,
            Err(error) => {
                let (headers, body) = wire::error_reply(&error, wire::status_of(&error));
                client.publish_with_headers(reply, headers, body).await
            }
        };
        if let Err(e) = published {
            tracing::debug!(error = %e, "answering a session call");
        }
    }
}

pub(crate) fn timed_out(after: Duration) -> CallError {
    CallError::timeout(format!(
        "the session call took longer than {} ms",
        after.as_millis()
    ))
}
