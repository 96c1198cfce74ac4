//! [`Served`]: an `HttpServer` on loopback for the duration of a test.

use std::net::SocketAddr;

use alknet_http_server::{HttpServer, ServerError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An [`HttpServer`] serving plain HTTP (HTTP/1.1 and h2c) on `127.0.0.1:0`. Dropping it stops
/// the server; [`Served::shutdown`] stops it and checks that it ended cleanly.
#[derive(Debug)]
pub struct Served {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Served {
    /// Binds `127.0.0.1:0` and serves `server` there.
    pub async fn start(server: HttpServer) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Served {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and fails the test if serving failed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            crate::within(task)
                .await
                .expect("the server task panicked")
                .expect("the server failed");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
