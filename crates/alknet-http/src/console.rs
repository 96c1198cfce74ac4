//! The console (feature `console`): a page at `/alknet/console` to explore and call the
//! node's operations as the signed-in caller, over the WebSocket session.
//!
//! Its assets are embedded in the binary (no CDN, nothing fetched at run time) and served
//! with a Content-Security-Policy that allows only the node's own scripts, styles and
//! connections (no inline script). The console adds no authority: it is a client holding the
//! caller's token, in the tab's session storage. Like every surface it sits behind the bearer
//! layer, so in full stealth it answers only requests with a valid identity.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The console's page.
pub const PATH: &str = "/alknet/console";

const SCRIPT_PATH: &str = "/alknet/console/console.js";
const STYLE_PATH: &str = "/alknet/console/console.css";

/// The paths the console serves.
pub const PATHS: [&str; 3] = [PATH, SCRIPT_PATH, STYLE_PATH];

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Only the node's own script, style and connections (its WebSocket session); no inline
/// script or style, no frames, no form posts elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}

/// The console's routes.
pub fn router() -> Router {
    Router::new()
        .route(
            PATH,
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            SCRIPT_PATH,
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            STYLE_PATH,
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_and_the_assets_are_small() {
        // Every <script> of the page names its source: the policy forbids inline script.
        for tag in PAGE.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains("src=\"/alknet/console/"), "{open}");
            assert!(tag[tag.find('>').unwrap() + 1..].starts_with("</script>"));
        }
        assert!(!PAGE.contains(" style=") && !PAGE.contains("<style"));
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("insertAdjacentHTML"));
        // The budget is 300 KB for the console's assets in the binary.
        assert!(PAGE.len() + SCRIPT.len() + STYLE.len() < 300 * 1024);
    }
}
