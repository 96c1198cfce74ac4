//! The upgrade handler: HTTP/1.1 `GET` + `Upgrade: websocket` (RFC 6455) and HTTP/2 extended
//! `CONNECT` with `:protocol websocket` (RFC 8441), authenticated by bearer header or by the
//! `alknet.bearer.<base64url>` subprotocol.

use std::sync::Arc;

use alknet_http_core::credential::{Credential, CredentialCheck, Revocation};
use alknet_http_core::identity::{ResolvedIdentity, bearer_token};
use alknet_http_core::rate_limit::SourceAddr;
use alknet_http_core::session::{Session, SessionOptions};
use alknet_http_core::{AuthToken, Identity};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use fastwebsockets::{Role, WebSocket};
use http::{HeaderValue, header};
use hyper_util::rt::TokioIo;

use crate::WsState;
use crate::rejection::WsRejection;
use crate::transport;

/// The subprotocol the server selects.
pub const SUBPROTOCOL: &str = "alknet.call.v1";
/// The prefix of the subprotocol that carries a bearer token (base64url, no padding).
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "alknet.bearer.";

fn offered_protocols(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `Authorization: Bearer` token, if any.
fn header_token(headers: &http::HeaderMap) -> Option<AuthToken> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(AuthToken::new)
}

/// The bearer subprotocol's token (browsers cannot set headers on a WebSocket), if any.
fn subprotocol_token(offered: &[String]) -> Option<AuthToken> {
    let encoded = offered
        .iter()
        .find_map(|p| p.strip_prefix(BEARER_SUBPROTOCOL_PREFIX))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()
        .map(AuthToken::new)
}

/// The credential the session opens with and what it resolves to: the header's token (which
/// the bearer layer resolved already), else the subprotocol's.
fn authenticate(
    state: &WsState,
    headers: &http::HeaderMap,
    offered: &[String],
    from_header: Option<Arc<Identity>>,
) -> Option<CredentialCheck> {
    let (token, identity) = match (from_header, header_token(headers)) {
        (Some(identity), Some(token)) => (token, identity),
        _ => {
            let token = subprotocol_token(offered)?;
            let identity = state.identity_provider.resolve_from_token(&token)?;
            (token, identity)
        }
    };
    Some(CredentialCheck::new(
        state.identity_provider.clone(),
        Credential::Token(token),
        identity,
    ))
}

pub(crate) async fn upgrade(
    State(state): State<Arc<WsState>>,
    ResolvedIdentity(identity): ResolvedIdentity,
    mut request: Request,
) -> Response {
    // Counted before the credentials are checked: guessing tokens by upgrades is bounded too.
    let source = request.extensions().get::<SourceAddr>().map(|s| s.0);
    if let (Some(limits), Some(source)) = (state.registry.rate_limits(), source)
        && let Err(wait) = limits.check_upgrade(source)
    {
        let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        return WsRejection::TooManyUpgrades { retry_after_ms }.into_response();
    }
    let offered = offered_protocols(request.headers());
    let version = request.version();
    // The session is authenticated once, by this token: kept to notice when a reload revokes
    // it or it expires, which closes the session.
    let Some(check) = authenticate(&state, request.headers(), &offered, identity) else {
        return WsRejection::Unauthenticated.into_response();
    };
    // Never echo the token subprotocol; select ours when offered.
    let selected = offered.iter().any(|p| p == SUBPROTOCOL);
    let mut response = if request.method() == http::Method::CONNECT {
        let is_websocket = request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str() == "websocket");
        let version_ok = request
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
        if !is_websocket || !version_ok {
            return WsRejection::BadExtendedConnect.into_response();
        }
        let on_upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => run(
                    &state,
                    WebSocket::after_handshake(TokioIo::new(upgraded), Role::Server),
                    check,
                    version,
                    source,
                ),
                Err(e) => tracing::debug!(error = %e, "h2 websocket upgrade failed"),
            }
        });
        Response::new(Body::empty())
    } else {
        if !fastwebsockets::upgrade::is_upgrade_request(&request) {
            return WsRejection::NotAnUpgrade.into_response();
        }
        let Ok((response, upgrade)) = fastwebsockets::upgrade::upgrade(&mut request) else {
            return WsRejection::InvalidUpgrade.into_response();
        };
        tokio::spawn(async move {
            match upgrade.await {
                Ok(ws) => run(&state, ws, check, version, source),
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        response.map(|_| Body::empty())
    };
    if selected {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    response
}

fn run<S>(
    state: &WsState,
    ws: WebSocket<S>,
    check: CredentialCheck,
    version: http::Version,
    source: Option<std::net::IpAddr>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (transport, closer) = transport::start(ws, &state.config.limits, state.shutdown.clone());
    let identity = check.identity().clone();
    let mut options = SessionOptions::new(state.registry.clone())
        .with_identity_provider(state.identity_provider.clone())
        .with_config(state.config.session.clone())
        .with_surface("ws");
    options.connection_identity = Some(identity.clone());
    options.source = source;
    let session = Session::spawn(transport, options);
    tracing::debug!(identity = %identity.id, "websocket session open");
    if check.can_lapse() {
        let closed = session.on_close();
        let session = session.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = closed => {}
                revocation = check.lapsed() => {
                    tracing::info!(identity = %check.identity().id, %revocation, "closing a websocket session");
                    // The close frame first: the session's own close would say 1000.
                    closer.close(Revocation::WEBSOCKET_CLOSE_CODE, revocation.reason()).await;
                    session.close();
                }
            }
        });
    }
    state.sessions.insert((*identity).clone(), version, session);
}
