//! [`OperationOverlay`]: a runtime layer of imported operations (call-protocol §8.5).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::watch;

use super::{
    HandlerRegistration, OperationLayer, RegisteredOperation, RegistryError, insert_unique,
};

/// A runtime layer (session overlay or connection overlay) that imports can be added to and
/// that is dropped with its session (call-protocol §8.5).
#[derive(Debug, Default)]
pub struct OperationOverlay {
    pub(crate) ops: RwLock<BTreeMap<String, Arc<RegisteredOperation>>>,
    /// The change count of the peer table this overlay is attached to, bumped when its
    /// imports change.
    changes: OnceLock<Arc<watch::Sender<u64>>>,
}

impl OperationOverlay {
    /// An empty overlay.
    pub fn new() -> Self {
        OperationOverlay::default()
    }

    /// Reports later changes of this overlay to `changes` (its peer table's).
    pub(crate) fn report_changes_to(&self, changes: Arc<watch::Sender<u64>>) {
        let _ = self.changes.set(changes);
    }

    fn changed(&self) {
        if let Some(changes) = self.changes.get() {
            changes.send_modify(|n| *n += 1);
        }
    }

    /// Adds one imported registration; a name already in this overlay is refused.
    pub fn register_imported(
        &self,
        registration: HandlerRegistration,
    ) -> Result<(), RegistryError> {
        let op = RegisteredOperation::compile(registration)?;
        insert_unique(&mut self.ops.write().unwrap_or_else(|e| e.into_inner()), op)?;
        self.changed();
        Ok(())
    }

    /// Adds all registrations, or none if any is refused.
    pub fn register_imported_all(
        &self,
        registrations: impl IntoIterator<Item = HandlerRegistration>,
    ) -> Result<(), RegistryError> {
        let compiled = registrations
            .into_iter()
            .map(RegisteredOperation::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let mut ops = self.ops.write().unwrap_or_else(|e| e.into_inner());
        let mut seen = std::collections::HashSet::new();
        for op in &compiled {
            if ops.contains_key(&op.spec.name) || !seen.insert(op.spec.name.as_str()) {
                return Err(RegistryError::DuplicateName(op.spec.name.clone()));
            }
        }
        for op in compiled {
            ops.insert(op.spec.name.clone(), Arc::new(op));
        }
        drop(ops);
        self.changed();
        Ok(())
    }

    /// Replaces everything with `registrations` in one step (a re-import): callers see the
    /// old operations or the new ones, never a mix. Refused as a whole (the old ones stay) if
    /// a registration does not compile or two share a name.
    pub fn replace_all(
        &self,
        registrations: impl IntoIterator<Item = HandlerRegistration>,
    ) -> Result<(), RegistryError> {
        let mut fresh = BTreeMap::new();
        for registration in registrations {
            insert_unique(&mut fresh, RegisteredOperation::compile(registration)?)?;
        }
        *self.ops.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.changed();
        Ok(())
    }

    /// Removes everything (on re-import).
    pub fn clear(&self) {
        self.ops.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.changed();
    }

    /// The names in this overlay, sorted.
    pub fn names(&self) -> Vec<String> {
        self.ops
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// How many operations the overlay holds.
    pub fn len(&self) -> usize {
        self.ops.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the overlay is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OperationLayer for OperationOverlay {
    fn lookup(&self, name: &str) -> Option<Arc<RegisteredOperation>> {
        self.ops
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn list(&self) -> Vec<Arc<RegisteredOperation>> {
        self.ops
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
