//! Single-setting benches (telemetry's cost, a JWT's cost, a limited neighbour's cost): the
//! same node in several modes, each mode in its own process because some settings are
//! process-wide (a tracing subscriber). One binary plays both parts:
//!
//! - `{bin} serve MODE` starts the node in MODE, prints one JSON line ([`Served`]) and serves
//!   until its stdin closes;
//! - `{bin} [ROUNDS]` starts one such process per mode and loads them in interleaved slices
//!   (`crate::interleaved`), then prints the report as one JSON line.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::call_load::CallLoad;
use crate::interleaved::{ROUNDS, SLICE, interleaved_rates, report};

/// What a serving process tells the driver: where it listens and whom to call as.
#[derive(Debug, Serialize, Deserialize)]
pub struct Served {
    /// The node's base URL.
    pub base: String,
    /// The counted callers' bearer token.
    pub token: String,
    /// A neighbour's token whose clients call beside them, if the mode has one.
    pub neighbour: Option<String>,
}

/// How a bench binary was asked to run.
#[derive(Debug)]
pub enum Role {
    /// Serve this mode.
    Serve(String),
    /// Drive every mode over this many rounds.
    Compare(usize),
}

/// The role from the command line (`serve MODE`, or an optional number of rounds).
pub fn role() -> Role {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [serve, mode] if serve == "serve" => Role::Serve(mode.clone()),
        [] => Role::Compare(ROUNDS),
        [rounds] => Role::Compare(rounds.parse().expect("rounds: a number")),
        other => panic!("usage: serve MODE | [ROUNDS], not {other:?}"),
    }
}

/// Prints `served` for the driver and waits until the driver closes this process's stdin.
pub async fn serve_until_released(served: &Served) {
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string(served).expect("json"));
    }
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await
    .expect("stdin");
}

/// One serving process of this binary per mode, each with its load; released when dropped.
struct ModeProcess {
    child: Child,
    load: CallLoad,
}

impl Drop for ModeProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn start(mode: &str, clients: usize) -> ModeProcess {
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args(["serve", mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a serving process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its address");
    let served: Served =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("mode {mode} printed {line:?}: {e}"));
    let load = CallLoad::new(
        &served.base,
        &served.token,
        clients,
        served.neighbour.as_deref(),
    );
    ModeProcess { child, load }
}

/// Starts a process per mode (the first is the baseline), loads each with `clients` clients in
/// interleaved slices over `rounds`, and returns the report.
pub async fn compare(modes: &[&str], clients: usize, rounds: usize) -> serde_json::Value {
    let processes: Vec<ModeProcess> = modes.iter().map(|m| start(m, clients)).collect();
    let rates = interleaved_rates(modes.len(), rounds, async |mode| {
        processes[mode].load.rate_for(SLICE).await
    })
    .await;
    drop(processes);
    report(modes, &rates)
}
