//! `notifications/tools/list_changed`: what a caller may call changes when a peer attaches,
//! detaches or changes its imports, and when a credential reload changes identities. A legacy
//! session hears of it on its standing stream; a 2026-07-28 client on the
//! `subscriptions/listen` stream it opened.

use std::time::Duration;

use alknet_http_core::dispatch::GatewayDispatch;
use rmcp::service::{Peer, RoleServer, SubscriptionContext};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Changes arriving this close together are told once (a peer's imports land one by one).
const COALESCE: Duration = Duration::from_millis(100);

/// The changes a node's tool lists follow.
struct Changes {
    peers: watch::Receiver<u64>,
    credentials: Option<watch::Receiver<u64>>,
}

impl Changes {
    fn of(dispatch: &GatewayDispatch) -> Self {
        Changes {
            peers: dispatch.registry().peers().changes(),
            credentials: dispatch.identity_provider().changes(),
        }
    }

    /// Waits for the next change (and those right behind it); `false` once nothing can change
    /// any more.
    async fn next(&mut self) -> bool {
        let credentials = async {
            let open = match self.credentials.as_mut() {
                Some(credentials) => credentials.changed().await.is_ok(),
                None => false,
            };
            if !open {
                // A provider that cannot change any more: the peers alone tell.
                std::future::pending::<()>().await;
            }
        };
        let open = tokio::select! {
            changed = self.peers.changed() => changed.is_ok(),
            () = credentials => true,
        };
        if open {
            tokio::time::sleep(COALESCE).await;
            self.peers.mark_unchanged();
            if let Some(credentials) = self.credentials.as_mut() {
                credentials.mark_unchanged();
            }
        }
        open
    }
}

/// Tells a legacy session's client of every change until the session ends.
pub(crate) async fn notify_session(
    dispatch: GatewayDispatch,
    peer: Peer<RoleServer>,
    ended: CancellationToken,
) {
    let mut changes = Changes::of(&dispatch);
    loop {
        let open = tokio::select! {
            () = ended.cancelled() => return,
            open = changes.next() => open,
        };
        if !open || peer.notify_tool_list_changed().await.is_err() {
            return;
        }
    }
}

/// Tells a `subscriptions/listen` stream of every change until the client cancels it.
pub(crate) async fn notify_listener(dispatch: GatewayDispatch, context: SubscriptionContext) {
    if context.accepted().tools_list_changed != Some(true) {
        context.cancelled().await;
        return;
    }
    let mut changes = Changes::of(&dispatch);
    loop {
        let open = tokio::select! {
            () = context.cancelled() => return,
            open = changes.next() => open,
        };
        if !open {
            context.cancelled().await;
            return;
        }
        if context.sink().notify_tool_list_changed().await.is_err() {
            return;
        }
    }
}
