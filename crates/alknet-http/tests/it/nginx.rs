//! nginx (Debian's `nginx-light`, named by `ALKNET_NGINX`), unprivileged from a scratch
//! prefix: the load balancer in front of gateway replicas.

use std::path::Path;
use std::time::Duration;

use crate::federation::until;

/// nginx (Debian's, unprivileged from a scratch prefix) balancing two gateways round-robin.
pub(crate) struct Nginx {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Balances `upstreams` (`http://host:port`); with `pages`, serves that folder's files
    /// itself under `/e2e/`, so that a page and the node it talks to share an origin.
    pub(crate) async fn start(dir: &Path, upstreams: &[&str], pages: Option<&Path>) -> Nginx {
        let program = std::env::var("ALKNET_NGINX").unwrap_or_else(|_| "nginx".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let p = prefix.display();
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {};\n", u.trim_start_matches("http://")))
            .collect();
        let pages = pages
            .map(|dir| format!("    location /e2e/ {{ alias {}/; }}\n", dir.display()))
            .unwrap_or_default();
        let conf = format!(
            "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
               fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
               map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
               upstream gateways {{\n{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n{pages}    location / {{\n\
                 proxy_pass http://gateways;\n      proxy_http_version 1.1;\n\
                 proxy_set_header Upgrade $http_upgrade;\n\
                 proxy_set_header Connection $connection_upgrade;\n\
                 proxy_set_header Host $host;\n      proxy_buffering off;\n\
                 proxy_read_timeout 1h;\n    }}\n  }}\n}}\n"
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = std::process::Command::new(program)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&prefix)
            .args(["-g", "daemon off;"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (Debian's `nginx-light`; `cargo xtask nats` installs it)");
        let up = until(Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up.is_some(), "nginx did not listen");
        Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}
