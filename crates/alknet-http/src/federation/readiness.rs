//! The readiness view, `GET /readyz`: 200 when every peer this node dials is connected, else
//! 503. `/healthz` stays liveness only.

/// The path of the readiness view.
pub const READYZ: &str = "/readyz";

/// The `/readyz` surface. Callers with an identity see each peer's state; anonymous probes
/// (load balancers, orchestrators) see only whether the node is ready.
#[cfg(feature = "server")]
pub(crate) fn surface(status: super::PeerStatus) -> alknet_http_server::Surface {
    use alknet_http_core::identity::ResolvedIdentity;
    use axum::Json;
    use axum::http::StatusCode;
    use axum::routing::get;

    let router = axum::Router::new().route(
        READYZ,
        get(move |caller: ResolvedIdentity| {
            let status = status.clone();
            async move {
                let code = if status.ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let body = if caller.identity().is_some() {
                    status.to_json()
                } else {
                    serde_json::json!({ "ready": status.ready() })
                };
                (code, Json(body))
            }
        }),
    );
    alknet_http_server::Surface::new("readyz", [READYZ], router)
}
