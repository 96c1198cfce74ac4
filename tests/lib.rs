//! # alknet-http-tests
//!
//! The workspace's test kit (unpublished): what integration tests of every crate need and
//! would otherwise each write again — a bound on every wait ([`within`]), and handlers that
//! report what happened to them ([`Probe`]): started, dropped unfinished, finished.
//!
//! The workspace end-to-end tests live in `it/`: real nodes on loopback driven by real clients
//! on every surface.
//!
//! ## Module map
//!
//! | item | what it is |
//! |---|---|
//! | [`within`], [`LIMIT`] | a bounded wait: a test that would hang fails instead |
//! | [`Probe`] | a handler that reports its start, its drop unfinished, and its end |
//! | `Served` | an `HttpServer` on `127.0.0.1:0` until shut down or dropped |
//! | `NatsServer` | a `nats-server` process on a free port, killable and restartable |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | no | `Served` (`alknet-http-server`) |
//! | `nats-server` | no | `NatsServer` |
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use alknet_http_core::{HandlerKind, HandlerResult, OperationContext};
use serde_json::Value;
use tokio::sync::Notify;

#[cfg(feature = "nats-server")]
mod nats_server;
#[cfg(feature = "nats-server")]
pub use nats_server::NatsServer;
#[cfg(feature = "server")]
mod served;
#[cfg(feature = "server")]
pub use served::Served;

/// How long a test waits for anything before it fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`LIMIT`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("timed out: the awaited event never happened")
}

/// A handler that reports what happened to it: each start, each drop before it finished (a
/// caller that went away, an abort), each end. It holds until [`Probe::release`] is called.
///
/// ```
/// use alknet_http_tests::Probe;
/// let probe = Probe::new();
/// let handler = probe.handler(serde_json::json!("done"));
/// assert_eq!(probe.started(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Probe {
    inner: Arc<ProbeInner>,
}

#[derive(Debug, Default)]
struct ProbeInner {
    started: AtomicUsize,
    dropped: AtomicUsize,
    finished: AtomicUsize,
    released: AtomicBool,
    release: Notify,
    changed: Notify,
}

/// Counts a drop unless the run finished first.
struct DropReport(Option<Arc<ProbeInner>>);

impl Drop for DropReport {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.dropped.fetch_add(1, Ordering::SeqCst);
            inner.changed.notify_waiters();
        }
    }
}

impl Probe {
    /// A probe nothing has run yet.
    pub fn new() -> Self {
        Probe::default()
    }

    /// A request/response handler that holds until released, then returns `output`.
    pub fn handler(&self, output: Value) -> HandlerKind {
        let inner = self.inner.clone();
        HandlerKind::once(move |_input, _ctx: OperationContext| {
            let inner = inner.clone();
            let output = output.clone();
            async move { run(inner, output).await }
        })
    }

    /// Lets every held run finish (those running now and those that start later).
    pub fn release(&self) {
        self.inner.released.store(true, Ordering::SeqCst);
        self.inner.release.notify_waiters();
    }

    /// Holds runs again (those that start from now on) until the next [`Probe::release`].
    pub fn hold(&self) {
        self.inner.released.store(false, Ordering::SeqCst);
    }

    /// Runs started so far.
    pub fn started(&self) -> usize {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Runs dropped before they finished.
    pub fn dropped(&self) -> usize {
        self.inner.dropped.load(Ordering::SeqCst)
    }

    /// Runs that finished.
    pub fn finished(&self) -> usize {
        self.inner.finished.load(Ordering::SeqCst)
    }

    /// Waits until `what` (say [`Probe::started`]) reaches `n`, bounded by [`within`].
    pub async fn wait_for(&self, what: fn(&Probe) -> usize, n: usize) {
        within(async {
            loop {
                let changed = self.inner.changed.notified();
                if what(self) >= n {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
}

async fn run(inner: Arc<ProbeInner>, output: Value) -> HandlerResult {
    let mut report = DropReport(Some(inner.clone()));
    inner.started.fetch_add(1, Ordering::SeqCst);
    inner.changed.notify_waiters();
    loop {
        let release = inner.release.notified();
        if inner.released.load(Ordering::SeqCst) {
            break;
        }
        release.await;
    }
    report.0 = None;
    inner.finished.fetch_add(1, Ordering::SeqCst);
    inner.changed.notify_waiters();
    Ok(output)
}
