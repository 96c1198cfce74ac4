//! [`HttpServerBuilder`]: assembles surfaces, custom routes, `/healthz` and the decoy into one
//! immutable router with the bearer layer and limits, and hands out an [`HttpServer`].

use std::sync::Arc;

use alknet_http_core::{GatewayDispatch, IdentityProvider, OperationRegistry};
use axum::Router;
use axum::routing::{MethodRouter, get};
use http::{HeaderValue, header};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{BearerLayer, BearerState};
use crate::config::{DecoyConfig, ServerLimits, Stealth};
use crate::decoy::decoy_router;
use crate::protected_resource::{Challenges, ProtectedResource};
use crate::request_span::RequestSpanLayer;
use crate::serve::HttpServer;
use crate::surface::{HEALTHZ, RouteCollision, Surface};

/// Builds the HTTP server of a node.
///
/// ```
/// use std::sync::Arc;
/// use alknet_http_core::{identity::AnonymousOnly, OperationRegistry};
/// use alknet_http_server::{DecoyConfig, HttpServerBuilder};
/// use axum::routing::get;
///
/// let registry = OperationRegistry::builder().build().unwrap();
/// let server = HttpServerBuilder::new(Arc::new(AnonymousOnly), registry)
///     .with_decoy(DecoyConfig::Redirect { to: "https://example.com/".into() })
///     .with_route("/v1/status", get(|| async { "fine" }))
///     .build();
/// assert!(server.collisions().is_empty());
/// ```
pub struct HttpServerBuilder {
    identity_provider: Arc<dyn IdentityProvider>,
    registry: OperationRegistry,
    surfaces: Vec<Surface>,
    routes: Vec<(String, MethodRouter)>,
    extra: Option<Router>,
    decoy: DecoyConfig,
    stealth: Stealth,
    limits: ServerLimits,
    extended_connect: bool,
    protected_resource: Option<ProtectedResource>,
}

impl std::fmt::Debug for HttpServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServerBuilder")
            .field(
                "surfaces",
                &self.surfaces.iter().map(Surface::name).collect::<Vec<_>>(),
            )
            .field(
                "routes",
                &self.routes.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("decoy", &self.decoy)
            .field("stealth", &self.stealth)
            .finish_non_exhaustive()
    }
}

impl HttpServerBuilder {
    /// A builder of a server serving nothing but `/healthz` and the default decoy until surfaces are added.
    pub fn new(identity_provider: Arc<dyn IdentityProvider>, registry: OperationRegistry) -> Self {
        HttpServerBuilder {
            identity_provider,
            registry,
            surfaces: Vec::new(),
            routes: Vec::new(),
            extra: None,
            decoy: DecoyConfig::default(),
            stealth: Stealth::default(),
            limits: ServerLimits::default(),
            extended_connect: true,
            protected_resource: None,
        }
    }

    /// The dispatch spine surfaces are built on.
    pub fn dispatch(&self) -> GatewayDispatch {
        GatewayDispatch::new(self.registry.clone(), self.identity_provider.clone())
    }

    /// Mounts a surface fragment.
    #[must_use]
    pub fn with_surface(mut self, surface: Surface) -> Self {
        self.surfaces.push(surface);
        self
    }

    /// Sets the decoy.
    #[must_use]
    pub fn with_decoy(mut self, decoy: DecoyConfig) -> Self {
        self.decoy = decoy;
        self
    }

    /// Sets the stealth mode.
    #[must_use]
    pub fn with_stealth(mut self, stealth: Stealth) -> Self {
        self.stealth = stealth;
        self
    }

    /// Publishes the node as an OAuth protected resource (RFC 9728): the metadata document,
    /// and `401`s whose challenge names it.
    #[must_use]
    pub fn with_protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.protected_resource = Some(resource);
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether HTTP/2 advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` (WebSockets over h2,
    /// RFC 8441). Default `true`; without it browsers open WebSockets over HTTP/1.1.
    #[must_use]
    pub fn with_extended_connect(mut self, enabled: bool) -> Self {
        self.extended_connect = enabled;
        self
    }

    /// Adds a custom route (raw HTTP, behind the bearer layer). A path a surface reserves
    /// shadows it; [`HttpServer::collisions`] lists such routes and a warning is logged.
    #[must_use]
    pub fn with_route(mut self, path: impl Into<String>, route: MethodRouter) -> Self {
        self.routes.push((path.into(), route));
        self
    }

    /// Adds a whole router of custom routes. Its paths cannot be inspected, so collisions with
    /// reserved paths are not reported: reserved paths shadow it silently.
    #[must_use]
    pub fn with_extra_routes(mut self, router: Router) -> Self {
        self.extra = Some(match self.extra.take() {
            Some(existing) => existing.merge(router),
            None => router,
        });
        self
    }

    /// Freezes the router. It is cloned per connection and never changes afterwards.
    pub fn build(mut self) -> HttpServer {
        let mut collisions = Vec::new();
        for (path, _) in &self.routes {
            let owner = if path == HEALTHZ {
                Some("server".to_owned())
            } else {
                self.surfaces
                    .iter()
                    .find(|s| s.paths.iter().any(|p| p == path))
                    .map(|s| s.name.clone())
            };
            if let Some(reserved_by) = owner {
                tracing::warn!(%path, %reserved_by, "custom route shadowed by a reserved path");
                collisions.push(RouteCollision {
                    path: path.clone(),
                    reserved_by,
                });
            }
        }
        let limits = self.limits;
        let decoy = decoy_router(&self.decoy);
        if let Some(resource) = &self.protected_resource {
            self.surfaces.push(Surface::new(
                "oauth-protected-resource",
                resource.paths(),
                resource.router(),
            ));
        }
        // One flat router for every known path, so that a request is routed once (each level of
        // routing clones and drops a boxed route service and inserts its extensions per request).
        let mut routes = Router::new();
        for surface in self.surfaces {
            routes = routes.merge(surface.router);
        }
        for (path, route) in self.routes {
            if !collisions.iter().any(|c| c.path == path) {
                routes = routes.route(&path, route);
            }
        }
        let routes = guarded(routes, &limits);
        // Routes of `with_extra_routes` cannot be inspected for collisions, so they stay a level
        // below, where a reserved path shadows them instead of clashing with it.
        let unknown = match self.extra {
            Some(extra) => guarded(extra, &limits).fallback_service(decoy.clone()),
            None => decoy.clone(),
        };
        let router = routes.fallback_service(unknown).route(HEALTHZ, get(health));
        // The bearer layer and the request span wrap the router as a whole, not each route: nothing is
        // routed (not even a wrong method's 405) before the bearer layer has decided, and no
        // per-route box is cloned and dropped for them per request.
        let app = tower::ServiceBuilder::new()
            .layer(RequestSpanLayer)
            .layer(BearerLayer(BearerState {
                provider: self.identity_provider,
                stealth: self.stealth,
                decoy,
                challenges: Challenges::new(self.protected_resource.as_ref()),
            }))
            .service(router);
        HttpServer::new(app, limits, collisions, self.extended_connect)
    }
}

/// Guards `router`'s routes with the request timeout and body limit, as one layer (one box per
/// route). `route_layer` leaves the fallback alone: the decoy reads no body and must answer
/// every unknown path alike, whatever its `Content-Length`.
fn guarded(router: Router, limits: &ServerLimits) -> Router {
    if !router.has_routes() {
        return router;
    }
    router.route_layer(
        tower::ServiceBuilder::new()
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                limits.request_timeout,
            )),
    )
}

async fn health() -> ([(header::HeaderName, HeaderValue); 1], &'static str) {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "ok",
    )
}
