//! Idle WebSocket sessions: how much resident memory the node spends per held session, and that
//! it holds 10,000 of them. The node runs in a child process (so the clients' memory is not
//! counted); the parent opens the sessions (bearer header, `alknet.call.v1`), keeps reading them
//! (answering pings), asks the child for its RSS and session count, makes one call on a sample
//! of the sessions to prove they are alive, and prints one JSON line.
//!
//! ```sh
//! cargo run --release -p alknet-http-bench --bin idle_sessions -- [sessions]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use alknet_http_bench::load::{self, ClientWs, NATIVE_CALL};
use alknet_http_bench::{node, rss};
use fastwebsockets::OpCode;
use serde_json::{Value, json};

/// The child: starts the node, prints its address, then answers `stat` lines on stdin with
/// `{"rss": bytes, "sessions": n}` until stdin closes.
async fn serve() {
    let node::Started {
        running,
        addr,
        sessions,
    } = node::start(Duration::from_secs(30)).await;
    println!("{addr}");
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Ok(Some(_)) = lines.next_line().await {
        println!("{}", json!({"rss": rss().0, "sessions": sessions.len()}));
    }
    running.shutdown().await;
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start() -> (Server, SocketAddr) {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the node");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the node's address");
        let addr = line.trim().parse().expect("an address");
        (
            Server {
                child,
                stdin,
                stdout,
            },
            addr,
        )
    }

    fn stat(&mut self) -> (u64, u64) {
        writeln!(self.stdin, "stat").expect("ask");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        let v: Value = serde_json::from_str(&line).expect("JSON");
        (
            v["rss"].as_u64().unwrap_or(0),
            v["sessions"].as_u64().unwrap_or(0),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps a client connection read (pings answered) until it is asked for a call or closed.
fn hold(mut ws: ClientWs) -> tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<bool>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<bool>>(1);
    tokio::spawn(async move {
        let mut next_id = 0;
        loop {
            tokio::select! {
                ask = rx.recv() => {
                    let Some(reply) = ask else { return };
                    let ok = tokio::time::timeout(
                        Duration::from_secs(10),
                        load::pipelined(&mut ws, NATIVE_CALL, 1, 1, &mut next_id),
                    )
                    .await
                    .is_ok();
                    let _ = reply.send(ok);
                }
                frame = ws.read_frame() => match frame {
                    Ok(frame) if frame.opcode == OpCode::Close => return,
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    });
    tx
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    alknet_http_bench::raise_open_files();
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "serve" {
        serve().await;
        return;
    }
    let target: usize = arg.parse().unwrap_or(10_000);
    let (mut server, addr) = Server::start();
    // Warm the node's allocator and code paths with a few sessions first.
    let mut warm = Vec::new();
    for _ in 0..50 {
        warm.push(hold(
            load::ws_connect(addr, "/alknet/call", &load::node_headers())
                .await
                .expect("connect"),
        ));
    }
    for session in &warm {
        let (tx, rx) = tokio::sync::oneshot::channel();
        session.send(tx).await.expect("held");
        assert!(rx.await.unwrap_or(false), "a warm-up call failed");
    }
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_before, held_before) = server.stat();
    let started = Instant::now();
    let mut held = Vec::with_capacity(target);
    let headers = load::node_headers();
    for i in 0..target {
        match load::ws_connect(addr, "/alknet/call", &headers).await {
            Ok(ws) => held.push(hold(ws)),
            Err(e) => {
                eprintln!("session {i}: {e}");
                break;
            }
        }
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_after, held_after) = server.stat();
    // Every 100th session still answers a call.
    let mut alive = 0usize;
    let mut probed = 0usize;
    for session in held.iter().step_by(100) {
        probed += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        if session.send(tx).await.is_ok() && rx.await.unwrap_or(false) {
            alive += 1;
        }
    }
    let sessions = held_after.saturating_sub(held_before).max(1);
    let line = json!({
        "target": target,
        "opened": held.len(),
        "held": held_after,
        "held_before": held_before,
        "open_seconds": opened.as_secs_f64(),
        "rss_before": rss_before,
        "rss_after": rss_after,
        "bytes_per_session": (rss_after.saturating_sub(rss_before)) / sessions,
        "probed": probed,
        "alive": alive,
    });
    println!("{line}");
    drop(held);
    drop(server);
}
