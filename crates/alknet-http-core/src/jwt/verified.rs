//! Tokens already verified: a caller presents the same access token on every request until
//! it expires, and checking its signature each time would cost more than the call (an ES256
//! verification is tens of microseconds). A token is keyed by its SHA-256; an entry holds
//! until the token's `exp` (plus the leeway) and only while its issuer's key set is the one
//! that verified it. The table is bounded: when full, expired entries go, and a new token is
//! verified without being remembered until there is room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// A verified token's identity, and how long it holds.
struct Entry {
    identity: Arc<Identity>,
    /// Unix seconds after which the token is refused (its `exp` plus the leeway).
    until: u64,
    /// The issuer and the generation of its key set that verified it.
    issuer: usize,
    generation: u64,
}

/// The table of verified tokens.
pub(super) struct Verified {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
}

/// The key of a token.
pub(super) fn key_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Verified {
    pub(super) fn new(capacity: usize) -> Self {
        Verified {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The identity of a token verified before, while it holds; `generation` says which key
    /// set of each issuer is current.
    pub(super) fn get(
        &self,
        key: &[u8; 32],
        generation: impl Fn(usize) -> u64,
    ) -> Option<Arc<Identity>> {
        let mut entries = self.lock();
        let entry = entries.get(key)?;
        if entry.until >= now() && generation(entry.issuer) == entry.generation {
            return Some(entry.identity.clone());
        }
        entries.remove(key);
        None
    }

    /// Remembers a verified token until `until` (Unix seconds), if there is room.
    pub(super) fn insert(
        &self,
        key: [u8; 32],
        identity: Arc<Identity>,
        until: u64,
        issuer: usize,
        generation: u64,
    ) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let now = now();
            entries.retain(|_, entry| entry.until >= now);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                identity,
                until,
                issuer,
                generation,
            },
        );
    }
}
