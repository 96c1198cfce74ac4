//! The credentials a served node accepts, and their reload on `SIGHUP` without a restart: the
//! configuration file is read again, its `[[token]]`s and `[[issuer]]`s (keys fetched) become
//! the new table in one swap — requests in progress finish with the old one, none is dropped —
//! and live sessions opened with a token the new table refuses or changes are closed. The
//! imports' credential files are read again too, and their secrets rotated in. A file that
//! does not load leaves the running table (and every import's secret) as it was.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_core::credential::ReloadableProvider;
use alknet_http_core::identity::IdentityProvider;
use alknet_http_core::jwt::{JwtIssuer, JwtProvider};
use alknet_http_core::{Identity, StaticTokenProvider};
use secrecy::{ExposeSecret, SecretString};

use crate::config::NodeConfig;
use crate::demo;
use crate::imports::ImportSecret;

/// The development token the command mints when no credential is configured: kept across
/// reloads, since the file does not list it.
pub(crate) struct DevToken(pub(crate) SecretString);

impl DevToken {
    fn add_to(&self, tokens: StaticTokenProvider) -> Result<StaticTokenProvider, String> {
        tokens
            .with_token(
                self.0.expose_secret(),
                Identity::new("dev").with_scopes(demo::DEV_SCOPES),
            )
            .map_err(|e| e.to_string())
    }
}

/// The node's identity provider: its static tokens (and the dev token), and JWTs of its
/// issuers when it has any (their keys fetched before it is used).
pub(crate) async fn provider(
    tokens: StaticTokenProvider,
    issuers: Vec<JwtIssuer>,
    dev_token: Option<&DevToken>,
) -> Result<Arc<dyn IdentityProvider>, String> {
    let tokens = match dev_token {
        Some(dev) => dev.add_to(tokens)?,
        None => tokens,
    };
    if issuers.is_empty() {
        return Ok(Arc::new(tokens));
    }
    let http = SharedHttpClient::new(HttpClientConfig::default()).map_err(|e| e.to_string())?;
    let provider = JwtProvider::connect(issuers, Arc::new(http))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(provider.with_fallback(Arc::new(tokens))))
}

/// Reads `path` again and swaps its credentials in, then the imports' secrets (each file
/// read again: every one or none of them changes).
async fn reload(
    path: &Path,
    dev_token: Option<&DevToken>,
    target: &ReloadableProvider,
    imports: &[ImportSecret],
) -> Result<(usize, usize), String> {
    let (config, _) = NodeConfig::load(path).map_err(|e| e.to_string())?;
    let (tokens, issuers) = config
        .credentials()
        .map_err(|e| format!("config {}: {e}", path.display()))?;
    let counts = (config.token.len(), issuers.len());
    let provider = provider(tokens, issuers, dev_token).await?;
    let secrets = imports
        .iter()
        .map(ImportSecret::read_again)
        .collect::<Result<Vec<_>, _>>()?;
    target.replace(provider);
    for (import, secret) in imports.iter().zip(secrets) {
        import.rotate(secret);
    }
    Ok(counts)
}

/// Reloads the credentials of `path` into `target` on every `SIGHUP`, until the process ends.
/// Each outcome is one line: on standard output when it took effect, as a warning when not.
pub(crate) fn reload_on_hangup(
    path: PathBuf,
    dev_token: Option<DevToken>,
    target: Arc<ReloadableProvider>,
    imports: Vec<ImportSecret>,
) -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP: {e}"))?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match reload(&path, dev_token.as_ref(), &target, &imports).await {
                    Ok((tokens, issuers)) => {
                        let _ = writeln!(
                            std::io::stdout().lock(),
                            "credentials reloaded: {tokens} tokens, {issuers} issuers, {} import secrets (generation {})",
                            imports.len(),
                            target.generation()
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, "credentials not reloaded; the running ones stay");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (path, dev_token, target, imports);
    Ok(())
}
