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
    },
    Subscribe {
        tx: mpsc::Sender<Value>,
        terminal: oneshot::Sender<CallError>,
        deadline: Option<Instant>,
    },
}

/// How an event for a pending id was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
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
pub(crate) struct SubscriptionReceiver {
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
pub(crate) struct PendingRequestMap {
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
pub(crate) fn aborted_by_peer() -> CallError {
    CallError::internal("call aborted by the peer")
}

/// The error a subscriber sees when it fell more than its queue behind.
pub(crate) fn lagged() -> CallError {
    CallError::internal("subscriber lagged behind; subscription ended")
        .with_details(json!({ "reason": "lagged" }))
}

impl PendingRequestMap {
    /// An empty map.
    pub(crate) fn new() -> Self {
        PendingRequestMap::default()
    }

    /// Registers an outgoing call; its result arrives on the returned receiver.
    pub(crate) fn register_call(
        &mut self,
        id: impl Into<String>,
        deadline: Instant,
    ) -> oneshot::Receiver<Item> {
        let (tx, rx) = oneshot::channel();
        self.entries
            .insert(id.into(), Pending::Call { tx, deadline });
        rx
    }

    /// Registers an outgoing subscription with a queue of `capacity` items.
    pub(crate) fn register_subscribe(
        &mut self,
        id: impl Into<String>,
        deadline: Option<Instant>,
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
            },
        );
        SubscriptionReceiver {
            items,
            terminal: Some(terminal_rx),
        }
    }

    /// Delivers a `call.responded` output.
    pub(crate) fn handle_responded(&mut self, id: &str, output: Value) -> Delivery {
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
    pub(crate) fn handle_completed(&mut self, id: &str) -> bool {
        match self.entries.get(id) {
            Some(Pending::Subscribe { .. }) => {
                self.entries.remove(id);
                true
            }
            _ => false,
        }
    }

    /// Delivers `call.error`.
    pub(crate) fn handle_error(&mut self, id: &str, error: CallError) -> bool {
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
    pub(crate) fn handle_aborted(&mut self, id: &str) -> bool {
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
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        self.entries.remove(id).is_some()
    }

    /// Fails every entry whose deadline is at or before `now` with a retryable `TIMEOUT`;
    /// returns their ids (the session tells the remote `call.aborted`).
    pub(crate) fn evict_expired(&mut self, now: Instant) -> Vec<String> {
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
    pub(crate) fn fail_all(&mut self, error: &CallError) {
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
    #[cfg(test)]
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// How many requests are pending.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The pending map on its own (checklist "Pending map").
#[cfg(test)]
mod tests {
    use super::{CallError, Delivery, PendingRequestMap};
    use futures::StreamExt;
    use serde_json::json;
    use tokio::time::{Duration, Instant};

    #[tokio::test]
    async fn call_resolves_once() {
        let mut map = PendingRequestMap::new();
        let rx = map.register_call("c1", Instant::now() + Duration::from_secs(30));
        assert!(map.contains("c1"));
        assert_eq!(map.handle_responded("c1", json!(1)), Delivery::Delivered);
        assert_eq!(
            map.handle_responded("c1", json!(2)),
            Delivery::Unknown,
            "late frame discarded"
        );
        assert!(!map.handle_completed("c1"));
        assert_eq!(rx.await.unwrap().unwrap(), json!(1));
        assert!(map.is_empty());
    }

    #[tokio::test]
    async fn subscription_gets_n_items_then_completes() {
        let mut map = PendingRequestMap::new();
        let mut rx = map.register_subscribe("s1", None, 8);
        for i in 0..3 {
            assert_eq!(map.handle_responded("s1", json!(i)), Delivery::Delivered);
        }
        assert!(map.contains("s1"), "subscriptions stay until they end");
        assert!(map.handle_completed("s1"));
        let items: Vec<_> = (&mut rx).collect().await;
        assert_eq!(
            items.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![json!(0), json!(1), json!(2)]
        );
        assert_eq!(map.len(), 0);
    }

    #[tokio::test]
    async fn errors_resolve_calls_and_end_subscriptions() {
        let mut map = PendingRequestMap::new();
        let call = map.register_call("c", Instant::now() + Duration::from_secs(30));
        let mut sub = map.register_subscribe("s", None, 8);
        map.handle_responded("s", json!("a"));
        assert!(map.handle_error("c", CallError::new("X", "x")));
        assert!(map.handle_error("s", CallError::new("Y", "y")));
        assert_eq!(call.await.unwrap().unwrap_err().code, "X");
        assert_eq!(sub.next().await.unwrap().unwrap(), json!("a"));
        assert_eq!(sub.next().await.unwrap().unwrap_err().code, "Y");
        assert!(sub.next().await.is_none());
    }

    #[tokio::test]
    async fn aborts_from_the_handler_side() {
        let mut map = PendingRequestMap::new();
        let call = map.register_call("c", Instant::now() + Duration::from_secs(30));
        let mut sub = map.register_subscribe("s", None, 8);
        assert!(map.handle_aborted("c"));
        assert!(map.handle_aborted("s"));
        assert!(!map.handle_aborted("zzz"), "unknown id");
        assert_eq!(call.await.unwrap().unwrap_err().code, "INTERNAL");
        assert!(
            sub.next().await.is_none(),
            "an aborted subscription just ends"
        );
    }

    #[tokio::test]
    async fn unknown_ids_are_discarded() {
        let mut map = PendingRequestMap::new();
        assert_eq!(map.handle_responded("nope", json!(1)), Delivery::Unknown);
        assert!(!map.handle_completed("nope"));
        assert!(!map.handle_error("nope", CallError::internal("x")));
        assert!(!map.handle_aborted("nope"));
    }

    #[tokio::test]
    async fn sweep_times_out_expired_entries_only() {
        let now = Instant::now();
        let mut map = PendingRequestMap::new();
        let early = map.register_call("early", now + Duration::from_secs(5));
        let late = map.register_call("late", now + Duration::from_secs(50));
        let mut sub = map.register_subscribe("sub", Some(now + Duration::from_secs(5)), 8);
        let open_sub = map.register_subscribe("open", None, 8);
        let mut expired = map.evict_expired(now + Duration::from_secs(10));
        expired.sort();
        assert_eq!(expired, vec!["early", "sub"]);
        let e = early.await.unwrap().unwrap_err();
        assert_eq!(e.code, "TIMEOUT");
        assert!(e.retryable);
        assert_eq!(sub.next().await.unwrap().unwrap_err().code, "TIMEOUT");
        assert!(map.contains("late") && map.contains("open"));
        drop((late, open_sub));
    }

    #[tokio::test]
    async fn fail_all_is_connection_closed() {
        let mut map = PendingRequestMap::new();
        let call = map.register_call("c", Instant::now() + Duration::from_secs(30));
        let mut sub = map.register_subscribe("s", None, 8);
        map.fail_all(&CallError::connection_closed());
        let e = call.await.unwrap().unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("INTERNAL", "connection closed")
        );
        assert_eq!(
            sub.next().await.unwrap().unwrap_err().message,
            "connection closed"
        );
        assert!(map.is_empty());
    }

    #[tokio::test]
    async fn a_full_subscriber_queue_ends_as_lagged() {
        let mut map = PendingRequestMap::new();
        let mut sub = map.register_subscribe("s", None, 2);
        assert_eq!(map.handle_responded("s", json!(1)), Delivery::Delivered);
        assert_eq!(map.handle_responded("s", json!(2)), Delivery::Delivered);
        assert_eq!(map.handle_responded("s", json!(3)), Delivery::Lagged);
        assert!(!map.contains("s"));
        assert_eq!(map.handle_responded("s", json!(4)), Delivery::Unknown);
        let items: Vec<_> = (&mut sub).collect().await;
        assert_eq!(
            items.len(),
            3,
            "the buffered items, then the terminal error"
        );
        let e = items[2].as_ref().unwrap_err();
        assert_eq!(
            (
                e.code.as_str(),
                e.details.as_ref().unwrap()["reason"].as_str()
            ),
            ("INTERNAL", Some("lagged"))
        );
    }
}
