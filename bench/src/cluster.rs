//! The soak's cluster mode: the node under test is a gateway that serves the benchmark
//! operations from workers on a NATS bus (a real `nats-server`), and the workers churn — a new
//! one joins, the oldest leaves, gracefully or by crashing — while the load runs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use alknet_http::core::{
    GatewayDispatch, Identity, OperationOverlay, OperationRegistry, Visibility,
};
use alknet_http::nats::{Bus, Following, FromNats, NatsConnect, NatsExport, NatsImport, to_nats};
use alknet_http_tests::NatsServer;

use crate::node::{identities, operations};

/// How often running calls say they are alive, on both sides (a crashed worker is noticed
/// after three).
const HEARTBEAT: Duration = Duration::from_millis(200);

/// How long a retiring worker lets its running calls finish.
pub const DRAIN: Duration = Duration::from_millis(500);

/// A worker: the benchmark operations exported on the bus, on a runtime of its own so that it
/// can crash (its runtime dropped: every task and the connection gone at once).
#[derive(Debug)]
pub struct Worker {
    runtime: Option<tokio::runtime::Runtime>,
    exporter: Option<alknet_http::nats::NatsExporter>,
    /// Its live tasks once idle after starting: what it must return to.
    idle_tasks: usize,
}

impl Worker {
    /// Connects to `url` and exports the benchmark operations as `bus`.
    ///
    /// # Panics
    /// When the runtime, the connection or the export fails.
    pub fn start(url: &str) -> Worker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("worker")
            .enable_all()
            .build()
            .expect("a worker runtime");
        let exporter = runtime.block_on(async {
            let bus = Bus::connect(&NatsConnect::new([url]).with_name("soak-worker"))
                .await
                .expect("a worker connects");
            let registry = operations(OperationRegistry::builder())
                .build()
                .expect("the benchmark registry");
            let export = NatsExport::new(Identity::new("bus").with_scopes(["bench"]))
                .with_heartbeat(HEARTBEAT);
            let exporter = to_nats(&bus, GatewayDispatch::new(registry, identities()), export)
                .await
                .expect("the worker exports");
            tokio::time::sleep(Duration::from_millis(100)).await;
            exporter
        });
        let idle_tasks = runtime.metrics().num_alive_tasks();
        Worker {
            runtime: Some(runtime),
            exporter: Some(exporter),
            idle_tasks,
        }
    }

    /// Tasks alive beyond its idle count (calls running, or leaked).
    pub fn busy_tasks(&self) -> usize {
        self.runtime.as_ref().map_or(0, |r| {
            r.metrics()
                .num_alive_tasks()
                .saturating_sub(self.idle_tasks)
        })
    }

    /// Leaves the bus: stops taking calls, lets the running ones answer for [`DRAIN`], then
    /// stops (subscriptions still running are cut: their callers see the worker lost).
    pub fn retire(mut self) {
        if let (Some(runtime), Some(exporter)) = (self.runtime.take(), self.exporter.take()) {
            runtime.block_on(async {
                exporter.stop().await;
                // The soak's calls last at most its 300 ms deadline.
                tokio::time::sleep(DRAIN).await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }

    /// Crashes: every task dropped mid-call, the connection cut.
    pub fn crash(mut self) {
        self.exporter.take();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The bus, the workers and the gateway's import.
#[derive(Debug)]
pub struct Cluster {
    server: NatsServer,
    monitor: String,
    workers: VecDeque<Worker>,
    churned: usize,
    /// The gateway's connection and import (kept for the run).
    _gateway: (Bus, Following),
}

impl Cluster {
    /// Starts `nats-server` (the program at `nats_server`, with its monitoring port), two
    /// workers, and the gateway's import into `layer` (External, refreshed every 200 ms);
    /// returns once the gateway sees the operations.
    ///
    /// # Panics
    /// When any part fails to start.
    pub async fn start(nats_server: &str, layer: Arc<OperationOverlay>) -> Cluster {
        let monitor_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server =
            NatsServer::start_program(nats_server, &format!("http: 127.0.0.1:{monitor_port}"))
                .await;
        let url = server.url.clone();
        let workers = tokio::task::spawn_blocking(move || {
            [Worker::start(&url), Worker::start(&url)]
                .into_iter()
                .collect::<VecDeque<Worker>>()
        })
        .await
        .expect("workers started");
        let bus = Bus::connect(&NatsConnect::new([server.url.clone()]).with_name("soak-gateway"))
            .await
            .expect("the gateway connects");
        let import = NatsImport::default()
            .with_visibility(Visibility::External)
            .with_refresh(Duration::from_millis(200))
            .with_heartbeat(HEARTBEAT);
        let following = FromNats::new(&bus, import)
            .await
            .expect("the gateway imports")
            .follow(layer.clone());
        while layer.names().len() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Cluster {
            server,
            monitor: format!("http://127.0.0.1:{monitor_port}"),
            workers,
            churned: 0,
            _gateway: (bus, following),
        }
    }

    /// One step of churn (blocking; run it off the async runtimes): a new worker joins, then
    /// the oldest leaves — every other time by crashing.
    pub fn churn(&mut self) {
        self.workers.push_back(Worker::start(&self.server.url));
        // Let the gateway's next discovery see the newcomer before the oldest goes.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(oldest) = self.workers.pop_front() {
            if self.churned.is_multiple_of(2) {
                oldest.retire();
            } else {
                oldest.crash();
            }
        }
        self.churned += 1;
    }

    /// Workers that left so far.
    pub fn churned(&self) -> usize {
        self.churned
    }

    /// Tasks the live workers run beyond their idle counts.
    pub fn busy_worker_tasks(&self) -> usize {
        self.workers.iter().map(Worker::busy_tasks).sum()
    }

    /// The server's count of subscriptions, from its monitoring endpoint (`/subsz`).
    pub async fn subscriptions(&self) -> u64 {
        let subsz: serde_json::Value =
            alknet_http::core::client::reqwest::get(format!("{}/subsz", self.monitor))
                .await
                .expect("the monitoring endpoint answers")
                .json()
                .await
                .expect("subsz is JSON");
        subsz["num_subscriptions"].as_u64().unwrap_or(u64::MAX)
    }

    /// Stops the workers (gracefully) and the server.
    pub fn stop(mut self) {
        for worker in self.workers.drain(..) {
            worker.retire();
        }
        drop(self.server);
    }
}
