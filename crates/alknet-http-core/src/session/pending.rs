//! The pending-request map of outgoing calls (call-protocol §3).

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::CallError;

/// What a subscriber receives: outputs, then at most one terminal error.
type Item = Result<Value, CallError>;

enum Pending {
    Call {
        tx: oneshot::Sender<Item>,
        deadline: Instant,
        parent_request_id: Option<String>,
    },
    Subscribe {
        tx: mpsc::Sender<Value>,
        terminal: oneshot::Sender<CallError>,
        deadline: Option<Instant>,
        parent_request_id: Option<String>,
    },
}

/// How an event for a pending id was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// No pending entry has this id (unknown or late): discarded.
    Unknown,
    /// Delivered to the waiting caller.
    Delivered,
    /// The subscriber's queue was full: the subscription ended with `INTERNAL` `lagged`; the
    /// remote side should be told `call.aborted`.
    Lagged,
}

/// The receiving half of a pending subscription: its outputs, then its terminal error if any.
#[derive(Debug)]
pub struct SubscriptionReceiver {
    items: mpsc::Receiver<Value>,
    terminal: Option<oneshot::Receiver<CallError>>,
}

impl Stream for SubscriptionReceiver {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        match self.items.poll_recv(cx) {
            Poll::Ready(Some(value)) => return Poll::Ready(Some(Ok(value))),
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {}
        }
        let Some(terminal) = self.terminal.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(terminal).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.terminal = None;
                Poll::Ready(result.ok().map(Err))
            }
        }
    }
}

use std::future::Future as _;

/// The outgoing calls of one session, keyed by request id.
///
/// | event | call | subscription |
/// |---|---|---|
/// | `call.responded` | resolve, remove | push, keep |
/// | `call.completed` | — | close, remove |
/// | `call.error` | resolve with the error, remove | push the error, close, remove |
/// | `call.aborted` | resolve with an abort error, remove | close, remove |
#[derive(Default)]
pub struct PendingRequestMap {
    entries: HashMap<String, Pending>,
}

impl std::fmt::Debug for PendingRequestMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequestMap")
            .field("len", &self.entries.len())
            .finish()
    }
}

/// The error a caller sees when the handler side aborted its call.
pub fn aborted_by_peer() -> CallError {
    CallError::internal("call aborted by the peer")
}

/// The error a subscriber sees when it fell more than its queue behind.
pub fn lagged() -> CallError {
    CallError::internal("subscriber lagged behind; subscription ended")
        .with_details(json!({ "reason": "lagged" }))
}

impl PendingRequestMap {
    /// An empty map.
    pub fn new() -> Self {
        PendingRequestMap::default()
    }

    /// Registers an outgoing call; its result arrives on the returned receiver.
    pub fn register_call(
        &mut self,
        id: impl Into<String>,
        deadline: Instant,
        parent_request_id: Option<String>,
    ) -> oneshot::Receiver<Item> {
        let (tx, rx) = oneshot::channel();
        self.entries.insert(
            id.into(),
            Pending::Call {
                tx,
                deadline,
                parent_request_id,
            },
        );
        rx
    }

    /// Registers an outgoing subscription with a queue of `capacity` items.
    pub fn register_subscribe(
        &mut self,
        id: impl Into<String>,
        deadline: Option<Instant>,
        parent_request_id: Option<String>,
        capacity: usize,
    ) -> SubscriptionReceiver {
        let (tx, items) = mpsc::channel(capacity.max(1));
        let (terminal, terminal_rx) = oneshot::channel();
        self.entries.insert(
            id.into(),
            Pending::Subscribe {
                tx,
                terminal,
                deadline,
                parent_request_id,
            },
        );
        SubscriptionReceiver {
            items,
            terminal: Some(terminal_rx),
        }
    }

    /// Delivers a `call.responded` output.
    pub fn handle_responded(&mut self, id: &str, output: Value) -> Delivery {
        match self.entries.get(id) {
            None => Delivery::Unknown,
            Some(Pending::Call { .. }) => {
                if let Some(Pending::Call { tx, .. }) = self.entries.remove(id) {
                    let _ = tx.send(Ok(output));
                }
                Delivery::Delivered
            }
            Some(Pending::Subscribe { tx, .. }) => match tx.try_send(output) {
                Ok(()) => Delivery::Delivered,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    // The subscriber is gone; treat as delivered, the session aborts it.
                    self.entries.remove(id);
                    Delivery::Lagged
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if let Some(Pending::Subscribe { terminal, .. }) = self.entries.remove(id) {
                        let _ = terminal.send(lagged());
                    }
                    Delivery::Lagged
                }
            },
        }
    }

    /// Delivers `call.completed` (ends a subscription; ignored for calls).
    pub fn handle_completed(&mut self, id: &str) -> bool {
        match self.entries.get(id) {
            Some(Pending::Subscribe { .. }) => {
                self.entries.remove(id);
                true
            }
            _ => false,
        }
    }

    /// Delivers `call.error`.
    pub fn handle_error(&mut self, id: &str, error: CallError) -> bool {
        match self.entries.remove(id) {
            None => false,
            Some(Pending::Call { tx, .. }) => {
                let _ = tx.send(Err(error));
                true
            }
            Some(Pending::Subscribe { terminal, .. }) => {
                let _ = terminal.send(error);
                true
            }
        }
    }

    /// Delivers `call.aborted` from the handler side.
    pub fn handle_aborted(&mut self, id: &str) -> bool {
        match self.entries.remove(id) {
            None => false,
            Some(Pending::Call { tx, .. }) => {
                let _ = tx.send(Err(aborted_by_peer()));
                true
            }
            Some(Pending::Subscribe { .. }) => true,
        }
    }

    /// Forgets an entry without resolving it (its caller went away). Returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        self.entries.remove(id).is_some()
    }

    /// Fails every entry whose deadline is at or before `now` with a retryable `TIMEOUT`;
    /// returns their ids (the session tells the remote `call.aborted`).
    pub fn evict_expired(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, p)| match p {
                Pending::Call { deadline, .. } => *deadline <= now,
                Pending::Subscribe { deadline, .. } => deadline.is_some_and(|d| d <= now),
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            let error = CallError::timeout(format!("no response to request {id} in time"));
            self.handle_error(id, error);
        }
        expired
    }

    /// Fails every entry with `error` (on disconnect: `INTERNAL` "connection closed").
    pub fn fail_all(&mut self, error: &CallError) {
        for (_, pending) in self.entries.drain() {
            match pending {
                Pending::Call { tx, .. } => {
                    let _ = tx.send(Err(error.clone()));
                }
                Pending::Subscribe { terminal, .. } => {
                    let _ = terminal.send(error.clone());
                }
            }
        }
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// How many requests are pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ids of entries started on behalf of `parent_request_id`.
    pub fn children_of(&self, parent_request_id: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, p)| {
                let parent = match p {
                    Pending::Call {
                        parent_request_id, ..
                    }
                    | Pending::Subscribe {
                        parent_request_id, ..
                    } => parent_request_id,
                };
                parent.as_deref() == Some(parent_request_id)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}
