//! A `nats-server` process on a free loopback port, for the length of a test (Debian's, named
//! by `ALKNET_NATS_SERVER`; `cargo xtask nats` installs it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A running (or killed, and restartable) `nats-server`.
#[derive(Debug)]
pub struct NatsServer {
    program: String,
    child: Option<Child>,
    /// Its client URL (`nats://127.0.0.1:PORT`).
    pub url: String,
    port: u16,
    dir: PathBuf,
}

fn program() -> String {
    std::env::var("ALKNET_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// Numbers the scratch directories of one test process.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Writes the configuration with `port` (`-1`: the server picks a free one and says which in
/// its ports file).
fn configure(dir: &Path, port: i32, extra: &str) {
    let mut config = std::fs::File::create(dir.join("nats.conf")).expect("config");
    writeln!(
        config,
        "host: 127.0.0.1\nport: {port}\nports_file_dir: \"{}\"\n{extra}",
        dir.display()
    )
    .expect("config");
}

impl NatsServer {
    /// A server with its defaults.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A server with these extra configuration lines (`max_payload: 4096`).
    pub async fn start_with(extra: &str) -> Self {
        Self::start_program(&program(), extra).await
    }

    /// The server at `program` with these extra configuration lines.
    ///
    /// # Panics
    /// When the server cannot be started or does not listen within five seconds.
    pub async fn start_program(program: &str, extra: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "alknet-nats-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        // The server picks its port (no race with other tests for a free one), and keeps it
        // across restarts.
        configure(&dir, -1, extra);
        let mut server = NatsServer {
            program: program.to_owned(),
            child: None,
            url: String::new(),
            port: 0,
            dir,
        };
        server.spawn();
        let pid = server.child.as_ref().map_or(0, Child::id);
        let ports = server.dir.join(format!("nats-server_{pid}.ports"));
        for _ in 0..200 {
            let listed = std::fs::read(&ports)
                .ok()
                .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
                .and_then(|v| v["nats"][0].as_str().map(str::to_owned));
            if let Some(url) = listed {
                server.port = url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("a port in the ports file");
                server.url = format!("nats://127.0.0.1:{}", server.port);
                configure(&server.dir, i32::from(server.port), extra);
                server.wait_listening().await;
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nats-server did not say which port it listens on");
    }

    /// Starts the server again on the same port (after [`NatsServer::kill`]).
    pub async fn restart(&mut self) {
        self.spawn();
        self.wait_listening().await;
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's `nats-server` package; `cargo xtask nats` installs it)");
        self.child = Some(child);
    }

    async fn wait_listening(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nats-server did not listen on {}", self.url);
    }

    /// Kills the server (SIGKILL): connections drop without a goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
