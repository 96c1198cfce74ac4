//! [`Surface`]: a router fragment a surface crate mounts with the paths it reserves, and the
//! [`RouteCollision`] of a custom route such a path shadows.

use axum::Router;

/// The path of the health check.
pub const HEALTHZ: &str = "/healthz";

/// A router fragment a surface crate mounts, with the paths it reserves.
///
/// Reserved paths take precedence over custom routes, which take precedence over the decoy.
#[derive(Debug)]
pub struct Surface {
    pub(crate) name: String,
    pub(crate) paths: Vec<String>,
    pub(crate) router: Router,
}

impl Surface {
    /// A surface named `name` (for logs) serving `router` at `paths`.
    pub fn new<I, S>(name: impl Into<String>, paths: I, router: Router) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Surface {
            name: name.into(),
            paths: paths.into_iter().map(Into::into).collect(),
            router,
        }
    }

    /// The surface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The paths it reserves.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }
}

/// A custom route that a reserved path shadows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCollision {
    /// The custom route's path.
    pub path: String,
    /// Who reserves it (`server` for `/healthz`, else the surface's name).
    pub reserved_by: String,
}
