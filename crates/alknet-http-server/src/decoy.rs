//! The decoy: what a scanner sees for every path the node does not serve. It never reveals the
//! node: no alknet header, no JSON, no `WWW-Authenticate`, no `Server` header, and the same
//! answer for every unknown path and method.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderValue, StatusCode, header};
use tower_http::services::ServeDir;

use crate::config::DecoyConfig;

const NOT_FOUND_PAGE: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The bland 404 page.
pub fn not_found() -> Response {
    let mut response = Response::new(Body::from(NOT_FOUND_PAGE));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// The decoy as a router that answers every path and method.
pub(crate) fn decoy_router(config: &DecoyConfig) -> Router {
    match config {
        DecoyConfig::NotFound => Router::new().fallback(any(|| async { not_found() })),
        DecoyConfig::Redirect { to } => {
            let location =
                HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/"));
            Router::new().fallback(any(move || {
                let location = location.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, location)]).into_response() }
            }))
        }
        DecoyConfig::StaticSite { root } => {
            let files = ServeDir::new(root)
                .append_index_html_on_directories(true)
                .call_fallback_on_method_not_allowed(true)
                .fallback(tower::service_fn(|_| async {
                    Ok::<_, Infallible>(not_found())
                }));
            Router::new().fallback_service(files)
        }
    }
}
