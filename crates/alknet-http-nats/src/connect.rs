//! The connection to the bus ([`Bus`]) and how it is configured ([`NatsConnect`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::watch;

use crate::error::NatsError;

/// How a node reaches the bus. Secrets come in as values (the command reads its files), never
/// from the environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConnect {
    /// Server URLs (`nats://127.0.0.1:4222`, `tls://…`); the client moves between them.
    pub servers: Vec<String>,
    /// The connection's name, shown by the server's monitoring (`/connz`).
    pub name: Option<String>,
    /// How the connection authenticates.
    pub auth: NatsAuth,
    /// PEM roots that the servers' certificates must chain to; `Some` requires TLS.
    pub tls_roots_pem: Option<Vec<u8>>,
    /// How long connecting may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How often the server is pinged, which is how a silent server is noticed. Default 5 s.
    pub ping_interval: Duration,
    /// Whether [`Bus::connect`] returns at once when no server answers yet, the client
    /// connecting in the background (calls fail `UNAVAILABLE` until it has). Default `false`:
    /// connecting fails.
    pub retry_initial_connect: bool,
}

/// How a connection authenticates to the bus (whose account is the trust boundary).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A token.
    Token(SecretString),
    /// A user and its password.
    UserPassword {
        /// The user.
        user: String,
        /// Its password.
        password: SecretString,
    },
    /// The contents of a `.creds` file (a user JWT and its NKey seed).
    Credentials(SecretString),
}

impl NatsConnect {
    /// Connect to `servers` without credentials.
    pub fn new<I, S>(servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NatsConnect {
            servers: servers.into_iter().map(Into::into).collect(),
            name: None,
            auth: NatsAuth::None,
            tls_roots_pem: None,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            retry_initial_connect: false,
        }
    }

    /// Sets the connection's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets how the connection authenticates.
    #[must_use]
    pub fn with_auth(mut self, auth: NatsAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Requires TLS, with servers' certificates chaining to these PEM roots.
    #[must_use]
    pub fn with_tls_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots_pem = Some(pem.into());
        self
    }

    fn options(
        &self,
        lost: Arc<watch::Sender<u64>>,
    ) -> Result<async_nats::ConnectOptions, NatsError> {
        let mut options = match &self.auth {
            NatsAuth::None => async_nats::ConnectOptions::new(),
            NatsAuth::Token(token) => {
                async_nats::ConnectOptions::with_token(token.expose_secret().to_owned())
            }
            NatsAuth::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(
                    user.clone(),
                    password.expose_secret().to_owned(),
                )
            }
            NatsAuth::Credentials(creds) => {
                async_nats::ConnectOptions::with_credentials(creds.expose_secret())
                    .map_err(|e| NatsError::Config(format!("credentials: {e}")))?
            }
        };
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        if self.retry_initial_connect {
            options = options.retry_on_initial_connect();
        }
        if let Some(pem) = &self.tls_roots_pem {
            options = options
                .require_tls(true)
                .tls_client_config(tls_config(pem)?);
        }
        Ok(options
            .connection_timeout(self.connect_timeout)
            .ping_interval(self.ping_interval)
            // Calls carry their own deadlines.
            .request_timeout(None)
            .event_callback(move |event| {
                let lost = lost.clone();
                async move {
                    if matches!(event, async_nats::Event::Disconnected) {
                        lost.send_modify(|n| *n += 1);
                    }
                    tracing::info!(%event, "nats");
                }
            }))
    }
}

fn tls_config(pem: &[u8]) -> Result<rustls::ClientConfig, NatsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| NatsError::Config(format!("TLS roots: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| NatsError::Config(format!("TLS roots: {e}")))?;
    }
    if roots.is_empty() {
        return Err(NatsError::Config("TLS roots: no certificate".into()));
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| NatsError::Config(format!("TLS: {e}")))
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// A connection to the bus: the `async-nats` client, and what the node needs to know of its
/// state to fail fast (a call while the bus is away is answered `UNAVAILABLE` at once, and
/// the calls waiting when it goes away are told).
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    lost: watch::Receiver<u64>,
}

impl Bus {
    /// Connects to the bus (see [`NatsConnect::retry_initial_connect`] for a server not up
    /// yet).
    pub async fn connect(config: &NatsConnect) -> Result<Bus, NatsError> {
        if config.servers.is_empty() {
            return Err(NatsError::Config("no servers".into()));
        }
        let (lost_tx, lost) = watch::channel(0);
        let client = config
            .options(Arc::new(lost_tx))?
            .connect(config.servers.as_slice())
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))?;
        Ok(Bus { client, lost })
    }

    /// The client, for callers that talk to the bus themselves.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The largest message the server takes, in bytes (before the first connection, the
    /// servers' default of 1 MiB).
    pub fn max_payload(&self) -> usize {
        // The client keeps it in an atomic; `server_info()` would clone the whole INFO (about
        // fifteen strings) at every call that checks a payload.
        self.client.max_payload()
    }

    /// Changes each time the connection is lost.
    pub(crate) fn losses(&self) -> watch::Receiver<u64> {
        self.lost.clone()
    }
}
