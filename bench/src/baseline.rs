//! The baselines' servers, each doing the same job as the node without the node: a raw
//! fastwebsockets echo, a bare axum SSE stream of the same items, and a plain JSON echo (the
//! upstream of forwarded calls).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::response::sse::{Event, Sse};
use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, upgrade};
use futures::StreamExt;
use http_body_util::Empty;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// Binds a loopback port and runs `connection` on a task for every accepted TCP stream.
async fn serve_each<F, Fut>(connection: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(connection(stream));
        }
    });
    addr
}

/// A hyper 1.x server whose every connection upgrades to a WebSocket that echoes each data
/// frame's bytes back unchanged.
pub async fn ws_echo() -> SocketAddr {
    serve_each(|stream| async move {
        let service = hyper::service::service_fn(|mut request: Request<_>| async move {
            let (response, fut) = upgrade::upgrade(&mut request)?;
            tokio::spawn(async move {
                let Ok(mut ws) = fut.await else { return };
                while let Ok(frame) = ws.read_frame().await {
                    match frame.opcode {
                        OpCode::Binary | OpCode::Text => {
                            let echo = Frame::new(true, frame.opcode, None, frame.payload);
                            if ws.write_frame(echo).await.is_err() {
                                return;
                            }
                        }
                        OpCode::Close => return,
                        _ => {}
                    }
                }
            });
            Ok::<Response<Empty<Bytes>>, fastwebsockets::WebSocketError>(response)
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await;
    })
    .await
}

/// A bare axum server: `POST /subscribe` streams `{"n": i}` for `i < count` as SSE events with
/// increasing ids, then `event: completed` — the bytes the gateway sends, without the gateway.
pub async fn axum_sse() -> SocketAddr {
    async fn subscribe(
        axum::Json(body): axum::Json<Value>,
    ) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
        let count = body["input"]["count"].as_u64().unwrap_or(0);
        let items = futures::stream::iter(0..count).map(|n| {
            Ok(Event::default()
                .id((n + 1).to_string())
                .data(json!({ "n": n }).to_string()))
        });
        let end =
            futures::stream::once(async { Ok(Event::default().event("completed").data("{}")) });
        Sse::new(items.chain(end))
    }
    let app = axum::Router::new().route("/subscribe", axum::routing::post(subscribe));
    serve_axum(app).await
}

/// A plain JSON echo at `POST /echo` (the upstream of forwarded calls, and the direct target
/// of the baseline).
pub async fn json_echo() -> SocketAddr {
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::post(|axum::Json(body): axum::Json<Value>| async move { axum::Json(body) }),
    );
    serve_axum(app).await
}

async fn serve_axum(app: axum::Router) -> SocketAddr {
    serve_each(move |stream| {
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await
}
