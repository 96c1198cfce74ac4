//! [`PeerTable`]: the connection overlays of a node's peers (Layer 2, call-protocol §8.5).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::{OperationLayer, RegisteredOperation};
use crate::spec::Visibility;

/// The connection overlays of a node's peers, by peer id, in insertion order (Layer 2).
#[derive(Debug)]
pub struct PeerTable {
    peers: RwLock<Vec<(String, Arc<dyn OperationLayer>)>>,
    /// Counts the changes of what the peers offer: a peer attached or detached, or an
    /// attached overlay's imports changed.
    changes: Arc<watch::Sender<u64>>,
}

impl Default for PeerTable {
    fn default() -> Self {
        PeerTable {
            peers: RwLock::default(),
            changes: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl PeerTable {
    /// An empty table.
    pub fn new() -> Self {
        PeerTable::default()
    }

    /// Wakes when what the peers offer changes (a peer attached or detached, or its imports
    /// changed), for surfaces that tell their clients (MCP's `tools/list_changed`). The value
    /// counts the changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The sender an attached overlay bumps when its imports change.
    pub(crate) fn change_signal(&self) -> &Arc<watch::Sender<u64>> {
        &self.changes
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Attaches (or replaces, keeping its position) the overlay of `peer_id`.
    pub fn attach(&self, peer_id: impl Into<String>, overlay: Arc<dyn OperationLayer>) {
        let peer_id = peer_id.into();
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        match peers.iter_mut().find(|(id, _)| *id == peer_id) {
            Some(entry) => entry.1 = overlay,
            None => peers.push((peer_id, overlay)),
        }
        drop(peers);
        self.changed();
    }

    /// Detaches `overlay` from `peer_id` (when its session ends). A peer that reconnected
    /// before its old session closed has attached a new overlay since: that one stays.
    pub fn detach<L: OperationLayer + ?Sized>(&self, peer_id: &str, overlay: &Arc<L>) {
        let overlay = Arc::as_ptr(overlay);
        let detached = {
            let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
            let before = peers.len();
            peers.retain(|(id, attached)| {
                id != peer_id || !std::ptr::addr_eq(Arc::as_ptr(attached), overlay)
            });
            peers.len() != before
        };
        if detached {
            self.changed();
        }
    }

    /// The attached peer ids, in order.
    pub fn peer_ids(&self) -> Vec<String> {
        self.read().iter().map(|(id, _)| id.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(String, Arc<dyn OperationLayer>)>> {
        self.peers.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lookup_any(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.read().iter().find_map(|(_, layer)| layer.lookup(name))
    }

    pub(crate) fn lookup_peer(
        &self,
        peer_id: &str,
        name: &str,
    ) -> Option<Arc<RegisteredOperation>> {
        self.read()
            .iter()
            .find(|(id, _)| id == peer_id)
            .and_then(|(_, layer)| layer.lookup(name))
    }
}

impl PeerTable {
    /// The `External` operations of every attached peer except `except` (a peer is never
    /// offered back what it exported: that would loop between two nodes importing each
    /// other), by name; the first peer in order wins a name two peers share.
    pub(crate) fn external_operations(
        &self,
        except: Option<&str>,
    ) -> BTreeMap<String, Arc<RegisteredOperation>> {
        let mut found = BTreeMap::new();
        for (id, layer) in self.read().iter() {
            if except == Some(id.as_str()) {
                continue;
            }
            for op in layer.list() {
                if op.spec.visibility == Visibility::External {
                    found.entry(op.spec.name.clone()).or_insert(op);
                }
            }
        }
        found
    }

    /// The `External` operation `name` of the first attached peer that has one.
    pub(crate) fn lookup_external(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.read().iter().find_map(|(_, layer)| {
            layer
                .lookup(name)
                .filter(|op| op.spec.visibility == Visibility::External)
        })
    }

    /// The attached peers and the names of their `External` operations, in order.
    pub fn external_names(&self) -> Vec<(String, Vec<String>)> {
        self.read()
            .iter()
            .map(|(id, layer)| {
                let names = layer
                    .list()
                    .into_iter()
                    .filter(|op| op.spec.visibility == Visibility::External)
                    .map(|op| op.spec.name.clone())
                    .collect();
                (id.clone(), names)
            })
            .collect()
    }
}
