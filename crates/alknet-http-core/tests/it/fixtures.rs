//! Shared registrations and probes for the tests.

use std::sync::{Arc, Mutex};

use alknet_http_core::{
    GatewayDispatch, HandlerKind, Identity, OperationContext, OperationRegistry,
    StaticTokenProvider,
};
use serde_json::{Value, json};

/// Records the context of every call a handler receives.
#[derive(Clone, Default)]
pub(crate) struct Probe {
    seen: Arc<Mutex<Vec<OperationContext>>>,
}

impl Probe {
    pub(crate) fn record(&self, ctx: &OperationContext) {
        self.seen.lock().unwrap().push(ctx.clone());
    }

    pub(crate) fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub(crate) fn last(&self) -> OperationContext {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("handler was not called")
    }
}

/// An echo handler that records its context.
pub(crate) fn recording_echo(probe: &Probe) -> HandlerKind {
    let probe = probe.clone();
    HandlerKind::once(move |input, ctx| {
        probe.record(&ctx);
        async move { Ok(input) }
    })
}

/// A handler that returns `output`.
pub(crate) fn returning(output: Value) -> HandlerKind {
    HandlerKind::once(move |_, _| {
        let output = output.clone();
        async move { Ok(output) }
    })
}

/// A subscription handler that yields `0..n`.
pub(crate) fn counting(n: u64) -> HandlerKind {
    HandlerKind::stream(move |_, _| futures::stream::iter((0..n).map(|i| Ok(json!(i)))))
}

pub(crate) fn alice() -> Identity {
    Identity::new("alice").with_scopes(["demo:read", "demo:write"])
}

pub(crate) fn dispatch(registry: OperationRegistry) -> GatewayDispatch {
    GatewayDispatch::new(registry, Arc::new(StaticTokenProvider::new()))
}
