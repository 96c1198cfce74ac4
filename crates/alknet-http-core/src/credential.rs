//! Credentials over time: [`ReloadableProvider`] swaps a node's token table while it runs, and
//! [`CredentialCheck`] tells a live session when the credential that opened it stops being
//! accepted — revoked or changed by a reload, or expired.
//!
//! A session is authenticated once, when it opens; HTTP requests are authenticated one by one
//! and need none of this. Sessions watch instead of polling: they wake when the provider's
//! table changes or when the credential's expiry comes, never on a timer.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::identity::{AuthToken, Identity, IdentityProvider};

/// The credential a session was opened with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token.
    Token(AuthToken),
    /// A TLS client certificate's SHA-256 fingerprint.
    Fingerprint(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token([redacted])"),
            Credential::Fingerprint(fingerprint) => write!(f, "Fingerprint({fingerprint})"),
        }
    }
}

impl Credential {
    /// What `provider` makes of the credential now.
    pub fn resolve(&self, provider: &dyn IdentityProvider) -> Option<Arc<Identity>> {
        match self {
            Credential::Token(token) => provider.resolve_from_token(token),
            Credential::Fingerprint(fingerprint) => provider.resolve_from_fingerprint(fingerprint),
        }
    }
}

/// Why a credential stopped being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Its expiry passed.
    Expired,
    /// A reload removed or disabled it.
    Revoked,
    /// A reload gave it another identity (other scopes or resources): the session must be
    /// opened again to run with them.
    Changed,
}

impl Revocation {
    /// The close code for a WebSocket session: 1008, policy violation (RFC 6455 §7.4.1).
    pub const WEBSOCKET_CLOSE_CODE: u16 = 1008;

    /// A short reason for a close frame or a log line.
    pub fn reason(self) -> &'static str {
        match self {
            Revocation::Expired => "credentials expired",
            Revocation::Revoked => "credentials revoked",
            Revocation::Changed => "credentials changed; open a new session",
        }
    }
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A credential and the identity it resolved to when a session opened.
#[derive(Debug, Clone)]
pub struct CredentialCheck {
    provider: Arc<dyn IdentityProvider>,
    credential: Credential,
    identity: Arc<Identity>,
}

impl CredentialCheck {
    /// Watches `credential`, which `provider` resolved to `identity`.
    pub fn new(
        provider: Arc<dyn IdentityProvider>,
        credential: Credential,
        identity: Arc<Identity>,
    ) -> Self {
        CredentialCheck {
            provider,
            credential,
            identity,
        }
    }

    /// The identity the session runs as.
    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// Whether the credential still stands for the same identity at `now`.
    pub fn check(&self, now: SystemTime) -> Result<(), Revocation> {
        if self.identity.is_expired_at(now) {
            return Err(Revocation::Expired);
        }
        match self.credential.resolve(self.provider.as_ref()) {
            None => Err(Revocation::Revoked),
            Some(resolved) if *resolved == *self.identity => Ok(()),
            Some(_) => Err(Revocation::Changed),
        }
    }

    /// Whether this check can ever fail: the credential expires or the provider reloads.
    pub fn can_lapse(&self) -> bool {
        self.identity.expires_at.is_some() || self.provider.changes().is_some()
    }

    /// Resolves when the credential stops being accepted; never, for a credential that
    /// neither expires nor can be reloaded away.
    pub async fn lapsed(&self) -> Revocation {
        let mut changes = self.provider.changes();
        let expiry = self.identity.expires_at.map(|at| {
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or(std::time::Duration::ZERO);
            tokio::time::Instant::now() + left
        });
        loop {
            let changed = async {
                match changes.as_mut() {
                    Some(changes) => {
                        if changes.changed().await.is_err() {
                            // The provider is gone: it will never change again.
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            let expired = async {
                match expiry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = expired => return Revocation::Expired,
                () = changed => {
                    if let Err(revocation) = self.check(SystemTime::now()) {
                        return revocation;
                    }
                }
            }
        }
    }
}

/// An identity provider whose table is replaced while the node runs (a `SIGHUP` reload):
/// requests in progress finish with the table they started with, new ones see the new one at
/// once, and live sessions re-check their credential (see [`CredentialCheck`]).
///
/// ```
/// use std::sync::Arc;
/// use alknet_http_core::credential::ReloadableProvider;
/// use alknet_http_core::{AuthToken, Identity, IdentityProvider, StaticTokenProvider};
///
/// let before = StaticTokenProvider::new().with_token("alk_a", Identity::new("a")).unwrap();
/// let provider = ReloadableProvider::new(Arc::new(before));
/// assert!(provider.resolve_from_token(&AuthToken::new("alk_a")).is_some());
/// provider.replace(Arc::new(StaticTokenProvider::new()));
/// assert!(provider.resolve_from_token(&AuthToken::new("alk_a")).is_none());
/// ```
pub struct ReloadableProvider {
    current: ArcSwap<Arc<dyn IdentityProvider>>,
    generation: watch::Sender<u64>,
}

impl fmt::Debug for ReloadableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableProvider")
            .field("current", &self.current.load())
            .field("generation", &*self.generation.borrow())
            .finish()
    }
}

impl ReloadableProvider {
    /// Starts with `provider`.
    pub fn new(provider: Arc<dyn IdentityProvider>) -> Self {
        ReloadableProvider {
            current: ArcSwap::from_pointee(provider),
            generation: watch::Sender::new(0),
        }
    }

    /// Replaces the table and tells the sessions watching it.
    pub fn replace(&self, provider: Arc<dyn IdentityProvider>) {
        self.current.store(Arc::new(provider));
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// How many times the table was replaced.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }
}

impl IdentityProvider for ReloadableProvider {
    fn resolve_from_fingerprint(&self, fingerprint: &str) -> Option<Arc<Identity>> {
        self.current.load().resolve_from_fingerprint(fingerprint)
    }

    fn resolve_from_token(&self, token: &AuthToken) -> Option<Arc<Identity>> {
        self.current.load().resolve_from_token(token)
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.generation.subscribe())
    }
}
