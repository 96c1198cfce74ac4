//! Replies to a gateway's calls, routed from one wildcard subscription to the call that waits
//! for them (one subscription per node, not one per call).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::Message;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::connect::Bus;
use crate::error::NatsError;
use crate::wire;

type Slots = Mutex<HashMap<u64, mpsc::Sender<Message>>>;

/// The reply subjects of one node's calls.
pub(crate) struct Mux {
    /// `<inbox prefix>.<node>`: the node's token is unique to it, and makes call ids unique
    /// on the bus.
    prefix: String,
    slots: Arc<Slots>,
    next: AtomicU64,
    stop: CancellationToken,
}

/// One call's reply subject and what arrives on it; freed when dropped.
pub(crate) struct Slot {
    pub(crate) subject: async_nats::Subject,
    pub(crate) replies: mpsc::Receiver<Message>,
    id: u64,
    slots: Arc<Slots>,
}

impl Slot {
    /// The id of the call this slot answers, unique on the bus (a caller's own request id is
    /// not: two clients may well both say `c1`): `<node>.<n>`, as the worker reads it from
    /// the reply subject ([`wire::call_id`]).
    pub(crate) fn call_id(&self) -> &str {
        wire::call_id(&self.subject)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.slots).remove(&self.id);
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A worker still beating for call `id`, which no longer waits for it (it ended, and its
/// abort was lost on the way: NATS delivers at most once): the worker is told again, on the
/// control subject its beat names, so that it does not run (or hold a stream open) for
/// nobody.
async fn orphaned(client: &async_nats::Client, message: &Message) {
    if wire::header(message, wire::KIND) != Some("beat") {
        return;
    }
    if let Some(control) = wire::header(message, wire::CONTROL) {
        let abort = wire::control(wire::call_id(&message.subject), None, true);
        let _ = client.publish(control.to_owned(), abort).await;
    }
}

fn lock(slots: &Slots) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<Message>>> {
    slots.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Mux {
    /// Subscribes to this node's reply subjects.
    pub(crate) async fn start(bus: &Bus) -> Result<Mux, NatsError> {
        let prefix = bus.client().new_inbox();
        let mut replies = bus
            .client()
            .subscribe(format!("{prefix}.*"))
            .await
            .map_err(|e| NatsError::Subscribe(e.to_string()))?;
        let slots: Arc<Slots> = Arc::default();
        let stop = CancellationToken::new();
        let routed = slots.clone();
        let stopped = stop.clone();
        let client = bus.client().clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stopped.cancelled() => break,
                    message = replies.next() => match message {
                        Some(message) => message,
                        None => break,
                    },
                };
                let Some(id) = wire::trailing_number(&message.subject) else {
                    continue;
                };
                let sender = lock(&routed).get(&id).cloned();
                match sender {
                    // A full slot is a worker sending past its window; the call sees the gap
                    // (its next item's number) and fails, and nothing here waits for it.
                    Some(sender) => {
                        let _ = sender.try_send(message);
                    }
                    None => orphaned(&client, &message).await,
                }
            }
        });
        Ok(Mux {
            prefix,
            slots,
            next: AtomicU64::new(1),
            stop,
        })
    }

    /// A fresh reply subject holding at most `capacity` unread replies.
    pub(crate) fn slot(&self, capacity: usize) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, replies) = mpsc::channel(capacity.max(1));
        lock(&self.slots).insert(id, sender);
        Slot {
            subject: format!("{}.{id}", self.prefix).into(),
            replies,
            id,
            slots: self.slots.clone(),
        }
    }
}
