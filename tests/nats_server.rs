//! A `nats-server` process on a free loopback port, for the length of a test (Debian's, named
//! by `ALKNET_NATS_SERVER`; `cargo xtask nats` installs it).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("alknet-nats-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let mut config = std::fs::File::create(dir.join("nats.conf")).expect("config");
        writeln!(config, "host: 127.0.0.1\nport: {port}\n{extra}").expect("config");
        let mut server = NatsServer {
            program: program.to_owned(),
            child: None,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            dir,
        };
        server.restart().await;
        server
    }

    /// Starts the server again on the same port (after [`NatsServer::kill`]).
    pub async fn restart(&mut self) {
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's `nats-server` package; `cargo xtask nats` installs it)");
        self.child = Some(child);
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
