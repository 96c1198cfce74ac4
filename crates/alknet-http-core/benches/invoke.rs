//! `GatewayDispatch::invoke` of a small echo operation (input schema validation + an ACL check)
//! against calling the same handler closure directly, in the same run.
//!
//! ```sh
//! cargo bench -p alknet-http-core --bench invoke
//! ```
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use alknet_http_core::identity::AnonymousOnly;
use alknet_http_core::{
    AccessControl, Capabilities, GatewayDispatch, HandlerKind, Identity, OperationRegistry,
    OperationSpec,
};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use serde_json::{Value, json};

async fn echo(input: Value) -> Result<Value, alknet_http_core::CallError> {
    Ok(input)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let schema = json!({
        "type": "object",
        "required": ["message"],
        "properties": { "message": { "type": "string", "maxLength": 256 }, "n": { "type": "integer" } }
    });
    let registry = OperationRegistry::builder()
        .with_leaf(
            OperationSpec::query("bench/echo")
                .with_input_schema(schema)
                .with_access_control(AccessControl::scopes(["bench"])),
            HandlerKind::once(|input, _ctx| echo(input)),
            Capabilities::new(),
        )
        .build()
        .unwrap();
    let dispatch = GatewayDispatch::new(registry, Arc::new(AnonymousOnly));
    let caller = Identity::new("bench").with_scopes(["bench"]);
    let input = json!({ "message": "hello, world", "n": 42 });

    let mut group = c.benchmark_group("invoke");
    group.bench_function("direct_closure", |b| {
        b.iter(|| {
            let out = runtime.block_on(echo(black_box(input.clone())).boxed());
            black_box(out)
        });
    });
    group.bench_function("gateway_dispatch", |b| {
        b.iter(|| {
            let reply = runtime.block_on(dispatch.invoke(
                Some(Arc::new(caller.clone())),
                black_box("/bench/echo"),
                black_box(input.clone()),
            ));
            black_box(reply)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
