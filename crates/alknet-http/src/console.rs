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

const PAGE: &str = include_str!("../console/index.html");
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset: its path, content type and body (embedded at build time).
const ASSETS: [(&str, &str, &str); 7] = [
    (PATH, HTML, PAGE),
    (
        "/alknet/console/console.js",
        JS,
        include_str!("../console/console.js"),
    ),
    (
        "/alknet/console/form.js",
        JS,
        include_str!("../console/form.js"),
    ),
    (
        "/alknet/console/copy.js",
        JS,
        include_str!("../console/copy.js"),
    ),
    (
        "/alknet/console/pages.js",
        JS,
        include_str!("../console/pages.js"),
    ),
    (
        "/alknet/console/metrics.js",
        JS,
        include_str!("../console/metrics.js"),
    ),
    (
        "/alknet/console/console.css",
        CSS,
        include_str!("../console/console.css"),
    ),
];

/// The paths the console serves.
pub const PATHS: [&str; ASSETS.len()] = {
    let mut paths = [""; ASSETS.len()];
    let mut i = 0;
    while i < ASSETS.len() {
        paths[i] = ASSETS[i].0;
        i += 1;
    }
    paths
};

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
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { asset(content_type, body) }))
        })
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
        for (path, _, body) in &ASSETS[1..] {
            for markup in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!body.contains(markup), "{path} uses {markup}");
            }
        }
        // The budget is 300 KB for the console's assets in the binary.
        let total: usize = ASSETS.iter().map(|(_, _, body)| body.len()).sum();
        assert!(total < 300 * 1024, "{total} bytes");
    }
}
