//! A Rust client over WebSocket, on the same session engine as the server: both sides may
//! call, subscriptions stream, drop aborts. Dropping the last handle of a client's session (and
//! of its running calls) closes the connection with 1000.

use alknet_http_core::OperationRegistry;
use alknet_http_core::session::{Session, SessionOptions};
use base64::Engine as _;
use bytes::Bytes;
use fastwebsockets::{Role, WebSocket};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::transport::{self, WsLimits};
use crate::upgrade::{BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL};

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum WsClientError {
    /// The TCP connection failed.
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed (the status says why: 401 without a valid token).
    #[error("handshake: {0}")]
    Handshake(String),
    /// The server answered the upgrade with this status.
    #[error("upgrade refused with status {0}")]
    Refused(u16),
}

/// How a client authenticates and what it serves to the hub.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The bearer token.
    pub token: Option<String>,
    /// Send the token as the `alknet.bearer.<base64url>` subprotocol (as browsers must) instead
    /// of an `Authorization` header.
    pub token_as_subprotocol: bool,
    /// Operations this client serves to the hub.
    pub registry: OperationRegistry,
    /// Connection limits.
    pub limits: WsLimits,
}

impl ClientOptions {
    /// A client serving no operations.
    pub fn new(token: Option<String>) -> Self {
        ClientOptions {
            token,
            token_as_subprotocol: false,
            registry: OperationRegistry::empty(),
            limits: WsLimits::default(),
        }
    }

    /// Serves `registry` to the hub.
    #[must_use]
    pub fn serving(mut self, registry: OperationRegistry) -> Self {
        self.registry = registry;
        self
    }
}

fn protocols(options: &ClientOptions) -> String {
    let mut list = vec![SUBPROTOCOL.to_owned()];
    if options.token_as_subprotocol
        && let Some(token) = &options.token
    {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.as_bytes());
        list.push(format!("{BEARER_SUBPROTOCOL_PREFIX}{encoded}"));
    }
    list.join(", ")
}

fn with_auth(builder: http::request::Builder, options: &ClientOptions) -> http::request::Builder {
    let builder = builder.header(http::header::SEC_WEBSOCKET_PROTOCOL, protocols(options));
    match (&options.token, options.token_as_subprotocol) {
        (Some(token), false) => {
            builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        }
        _ => builder,
    }
}

fn session<S>(ws: WebSocket<S>, options: ClientOptions) -> Session
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (transport, _closer) = transport::start(ws, &options.limits, CancellationToken::new());
    Session::spawn(
        transport,
        SessionOptions::new(options.registry).with_surface("ws"),
    )
}

/// Connects over HTTP/1.1 (RFC 6455) on an established byte stream (TCP, or TLS offering
/// `http/1.1`). `host` is the `Host` header, `path` the upgrade path.
pub async fn connect_http1<IO>(
    io: IO,
    host: &str,
    path: &str,
    options: ClientOptions,
) -> Result<Session, WsClientError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = with_auth(http::Request::builder(), &options)
        .method("GET")
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "upgrade")
        .header(
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        )
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    match fastwebsockets::handshake::client(&TokioExecutor::new(), request, io).await {
        Ok((ws, _)) => Ok(session(ws, options)),
        Err(fastwebsockets::WebSocketError::InvalidStatusCode(status)) => {
            Err(WsClientError::Refused(status))
        }
        Err(e) => Err(WsClientError::Handshake(e.to_string())),
    }
}

/// Connects over HTTP/2 extended CONNECT (RFC 8441) on an established byte stream that speaks
/// HTTP/2 (TLS with ALPN `h2`, or h2c). `authority` is `host:port`, `scheme` `https` or `http`.
pub async fn connect_h2<IO>(
    io: IO,
    scheme: &str,
    authority: &str,
    path: &str,
    options: ClientOptions,
) -> Result<Session, WsClientError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    tokio::spawn(connection);
    sender
        .ready()
        .await
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    let request = with_auth(http::Request::builder(), &options)
        .method(http::Method::CONNECT)
        .uri(format!("{scheme}://{authority}{path}"))
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    if response.status() != http::StatusCode::OK {
        return Err(WsClientError::Refused(response.status().as_u16()));
    }
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| WsClientError::Handshake(e.to_string()))?;
    let ws = WebSocket::after_handshake(TokioIo::new(upgraded), Role::Client);
    Ok(session(ws, options))
}

/// Connects to a plain `ws://host:port/path` URL over TCP and HTTP/1.1.
pub async fn connect(url: &str, options: ClientOptions) -> Result<Session, WsClientError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| WsClientError::Handshake(format!("not a ws:// URL: {url}")))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let path = if path == "/" {
        "/".to_owned()
    } else {
        format!("/{path}")
    };
    let tcp = tokio::net::TcpStream::connect(host).await?;
    let _ = tcp.set_nodelay(true);
    connect_http1(tcp, host, &path, options).await
}
