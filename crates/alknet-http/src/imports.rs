//! `[[import.openapi]]`: REST APIs imported as operations at startup (feature `cli`).
//!
//! ```toml
//! [[import.openapi]]
//! namespace = "petstore"                 # first name segment of the imported operations
//! spec = "petstore.yaml"                 # OpenAPI 3.0/3.1, JSON or YAML
//! base_url = "https://petstore.example.com/v1"
//! auth = "bearer"                        # "bearer", "basic", "api-key-header", "api-key-query"
//! api_key_name = "X-API-Key"             # header or query name for the api-key schemes
//! credential_file = "petstore.token"     # the secret (basic: `user:password`), trailing newline trimmed
//! visibility = "external"                # default "internal": reachable by composition only
//! scopes = ["pets:read"]                 # scopes a caller needs (external imports)
//! include_tags = ["pets"]                # and exclude_tags, include_operations, exclude_operations
//! headers = { "X-Client" = "alknet" }    # sent with every request
//! rename = { listPets = "list", "GET /pets/{petId}" = "get" }
//! max_response_bytes = 16777216
//! # What importing the document may cost (each optional; defaults in `ImportLimits`).
//! limits = { max_document_bytes = 134217728, max_operations = 100000, max_schema_depth = 128 }
//!
//! [[import.mcp]]
//! namespace = "tools"                    # tool `t` becomes `tools/t`
//! endpoint = "http://127.0.0.1:8000/mcp" # streamable HTTP
//! token_file = "tools.token"             # sent as `Authorization: Bearer`
//! visibility = "external"                # default "internal"
//! scopes = ["tools:use"]
//! tools = ["search", "fetch"]            # only these (default: all)
//! exclude = ["delete_everything"]        # never these
//! rename = { fetch = "get" }             # by tool name: `tools/get`
//! connect_retry_ms = 30000               # keep trying an upstream not up yet (default 30 s)
//! ```
//!
//! A `SIGHUP` reads the imports' credential files (`credential_file`, `token_file`) again: the
//! next upstream request sends the new secret.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alknet_http_core::client::SharedHttpClient;
use alknet_http_core::{
    AccessControl, Capabilities, HandlerRegistration, OperationOverlay, Visibility,
};
use alknet_http_mcp::{FromMcp, FromMcpConfig};
use alknet_http_openapi::import::{
    ForwardLimits, FromOpenApi, HttpAuthScheme, HttpServiceConfig, ImportLimits, ImportOptions,
    OpenApiSpec,
};
use serde::Deserialize;

use crate::config_error::ConfigError;

/// The `[import]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// `[[import.openapi]]` entries.
    #[serde(default)]
    pub openapi: Vec<OpenApiImportConfig>,
    /// `[[import.mcp]]` entries.
    #[serde(default)]
    pub mcp: Vec<McpImportConfig>,
    /// `[[import.nats]]` entries (served with feature `nats`).
    #[serde(default)]
    pub nats: Vec<crate::nats_config::NatsImportEntry>,
}

/// One `[[import.mcp]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpImportConfig {
    /// The namespace of the imported operations.
    pub namespace: String,
    /// The server's streamable-HTTP endpoint.
    pub endpoint: String,
    /// A file holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// `internal` (default) or `external`.
    pub visibility: Option<String>,
    /// Scopes a caller needs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Only these tools.
    pub tools: Option<BTreeSet<String>>,
    /// Never these tools.
    #[serde(default)]
    pub exclude: BTreeSet<String>,
    /// New names (the segment after the namespace), by tool name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// How long to keep trying an upstream that is not up yet, in milliseconds.
    pub connect_retry_ms: Option<u64>,
}

/// One `[[import.openapi]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiImportConfig {
    /// The namespace of the imported operations.
    pub namespace: String,
    /// The document (relative to the configuration file).
    pub spec: PathBuf,
    /// Where requests go.
    pub base_url: String,
    /// `bearer`, `basic`, `api-key-header` or `api-key-query`.
    pub auth: Option<String>,
    /// Header or query parameter name of the api-key schemes.
    pub api_key_name: Option<String>,
    /// A file holding the secret.
    pub credential_file: Option<PathBuf>,
    /// `internal` (default) or `external`.
    pub visibility: Option<String>,
    /// Scopes a caller needs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Only operations with one of these tags.
    #[serde(default)]
    pub include_tags: BTreeSet<String>,
    /// Not operations with any of these tags.
    #[serde(default)]
    pub exclude_tags: BTreeSet<String>,
    /// Only these operations (operationId or `METHOD /path`).
    #[serde(default)]
    pub include_operations: BTreeSet<String>,
    /// Not these operations.
    #[serde(default)]
    pub exclude_operations: BTreeSet<String>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// New names, by operationId, `METHOD /path` or generated name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Largest upstream response, in bytes.
    pub max_response_bytes: Option<usize>,
    /// What importing the document may cost (each field optional, defaults as in
    /// `ImportLimits`).
    #[serde(default)]
    pub limits: ImportLimits,
}

/// An import with its files read, ready to plan.
#[derive(Debug)]
pub struct ResolvedImport {
    label: String,
    importer: Importer,
    secret: Option<ImportSecret>,
}

impl ResolvedImport {
    /// The import's credential file, read again on a credential reload.
    pub fn secret(&self) -> Option<&ImportSecret> {
        self.secret.as_ref()
    }
}

/// An import's credential file and the capabilities it fills: the registrations share them,
/// so a reload (`SIGHUP`) that rotates the secret changes what their next upstream request
/// sends.
#[derive(Debug, Clone)]
pub struct ImportSecret {
    file: PathBuf,
    capabilities: Capabilities,
    service: String,
}

impl ImportSecret {
    /// The secret as the file holds it now.
    pub(crate) fn read_again(&self) -> Result<String, String> {
        read_secret(&self.file)
    }

    /// Makes `secret` the one the import's next requests send.
    pub(crate) fn rotate(&self, secret: String) {
        self.capabilities.rotate(&self.service, secret);
    }
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a few per node, made once at startup
enum Importer {
    OpenApi(FromOpenApi),
    Mcp(FromMcp),
}

fn read_secret(file: &Path) -> Result<String, String> {
    let secret = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read credential {}: {e}", file.display()))?;
    let secret = secret.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("credential file {} is empty", file.display()));
    }
    Ok(secret.to_owned())
}

fn visibility(value: Option<&str>) -> Result<Visibility, String> {
    match value {
        None | Some("internal") => Ok(Visibility::Internal),
        Some("external") => Ok(Visibility::External),
        Some(other) => Err(format!(
            "visibility `{other}` is neither \"internal\" nor \"external\""
        )),
    }
}

fn access_control(scopes: Vec<String>) -> AccessControl {
    if scopes.is_empty() {
        AccessControl::default()
    } else {
        AccessControl::scopes(scopes)
    }
}

/// The operations of every import and one summary line per import.
#[derive(Debug)]
pub struct Imported {
    /// The registrations, to add to the registry.
    pub registrations: Vec<HandlerRegistration>,
    /// The layers MCP imports keep in step with their servers, to add to the registry.
    pub layers: Vec<Arc<OperationOverlay>>,
    /// One line per import: operations imported, skipped and why.
    pub summaries: Vec<String>,
}

impl ImportConfig {
    /// Whether nothing is imported.
    pub fn is_empty(&self) -> bool {
        self.openapi.is_empty() && self.mcp.is_empty()
    }

    /// Reads every document and credential; `resolve` turns relative paths into absolute ones.
    pub fn resolve(
        self,
        resolve: impl Fn(&Path) -> PathBuf,
        http: &Arc<SharedHttpClient>,
    ) -> Result<Vec<ResolvedImport>, ConfigError> {
        let mut imports: Vec<ResolvedImport> = self
            .openapi
            .into_iter()
            .map(|entry| entry.resolve(&resolve, http))
            .collect::<Result<_, _>>()?;
        for entry in self.mcp {
            imports.push(entry.resolve(&resolve, http)?);
        }
        Ok(imports)
    }
}

impl McpImportConfig {
    fn resolve(
        self,
        resolve: &impl Fn(&Path) -> PathBuf,
        http: &Arc<SharedHttpClient>,
    ) -> Result<ResolvedImport, ConfigError> {
        let label = format!("import.mcp `{}`", self.namespace);
        let fail = |message: String| ConfigError::Invalid(format!("{label}: {message}"));
        let mut config = FromMcpConfig::new(self.endpoint, self.namespace.clone());
        let mut secret = None;
        if let Some(file) = &self.token_file {
            let file = resolve(file);
            let token = read_secret(&file).map_err(fail)?;
            let capabilities = Capabilities::new().with_http_token(self.namespace.clone(), token);
            config = config.with_token(self.namespace.clone(), capabilities.clone());
            secret = Some(ImportSecret {
                file,
                capabilities,
                service: self.namespace.clone(),
            });
        }
        config.visibility = visibility(self.visibility.as_deref()).map_err(fail)?;
        config.access_control = access_control(self.scopes);
        config.tools = self.tools;
        config.exclude = self.exclude;
        config.rename = self.rename;
        if let Some(ms) = self.connect_retry_ms {
            config.connect_retry_for = std::time::Duration::from_millis(ms);
        }
        Ok(ResolvedImport {
            label,
            importer: Importer::Mcp(FromMcp::new(config, http.clone())),
            secret,
        })
    }
}

impl OpenApiImportConfig {
    fn resolve(
        self,
        resolve: &impl Fn(&Path) -> PathBuf,
        http: &Arc<SharedHttpClient>,
    ) -> Result<ResolvedImport, ConfigError> {
        let label = format!("import.openapi `{}`", self.namespace);
        let fail = |message: String| ConfigError::Invalid(format!("{label}: {message}"));
        let spec_path = resolve(&self.spec);
        // Never more than one byte past the limit is read: `parse` then refuses the document.
        let limits = self.limits;
        let mut text = String::new();
        std::fs::File::open(&spec_path)
            .and_then(|file| {
                use std::io::Read as _;
                file.take(limits.max_document_bytes as u64 + 1)
                    .read_to_string(&mut text)
            })
            .map_err(|e| fail(format!("cannot read {}: {e}", spec_path.display())))?;
        let spec = OpenApiSpec::parse(&text, &limits)
            .map_err(|e| fail(format!("{}: {e}", spec_path.display())))?;
        let auth = match (self.auth.as_deref(), self.api_key_name) {
            (None, None) => None,
            (Some("bearer"), None) => Some(HttpAuthScheme::Bearer),
            (Some("basic"), None) => Some(HttpAuthScheme::Basic),
            (Some("api-key-header"), Some(header_name)) => {
                Some(HttpAuthScheme::ApiKey { header_name })
            }
            (Some("api-key-query"), Some(param_name)) => {
                Some(HttpAuthScheme::ApiKeyQuery { param_name })
            }
            (auth, name) => {
                return Err(fail(format!(
                    "auth = {auth:?} with api_key_name = {name:?}: use bearer or basic (no api_key_name), or api-key-header / api-key-query with api_key_name"
                )));
            }
        };
        let mut capabilities = Capabilities::new();
        let mut import_secret = None;
        match (&auth, &self.credential_file) {
            (Some(_), Some(file)) => {
                let file = resolve(file);
                let secret = read_secret(&file).map_err(fail)?;
                capabilities = capabilities.with_api_key(self.namespace.clone(), secret);
                import_secret = Some(ImportSecret {
                    file,
                    capabilities: capabilities.clone(),
                    service: self.namespace.clone(),
                });
            }
            (None, Some(_)) => {
                return Err(fail("credential_file needs an `auth` scheme".into()));
            }
            (Some(_), None) | (None, None) => {}
        }
        let visibility = visibility(self.visibility.as_deref()).map_err(fail)?;
        let mut config = HttpServiceConfig::new(self.namespace.clone(), self.base_url);
        config.auth = auth;
        config.default_headers = self.headers.into_iter().collect();
        if let Some(max) = self.max_response_bytes {
            config.limits = ForwardLimits::default().with_max_response_bytes(max);
        }
        let access_control = access_control(self.scopes);
        let mut options = ImportOptions::default()
            .with_limits(limits)
            .with_visibility(visibility)
            .with_access_control(access_control)
            .with_capabilities(capabilities);
        options.rename = self.rename;
        options.include_tags = self.include_tags;
        options.exclude_tags = self.exclude_tags;
        options.include_operations = self.include_operations;
        options.exclude_operations = self.exclude_operations;
        Ok(ResolvedImport {
            label,
            importer: Importer::OpenApi(
                FromOpenApi::new(spec, config, http.clone()).with_options(options),
            ),
            secret: import_secret,
        })
    }
}

/// Plans every import (MCP imports connect and list their tools) and drops the documents.
/// Two operations with one name — across imports, or an import and one of `local` (name →
/// where it is defined) — are an error naming both.
pub async fn plan_imports(
    imports: Vec<ResolvedImport>,
    local: &[(String, String)],
) -> Result<Imported, ConfigError> {
    let mut owners: HashMap<String, String> = local.iter().cloned().collect();
    let mut imported = Imported {
        registrations: Vec::new(),
        layers: Vec::new(),
        summaries: Vec::new(),
    };
    for import in imports {
        let fail = |source| ConfigError::Import {
            label: import.label.clone(),
            source,
        };
        // MCP imports' operations are in their layer already: here only their names count.
        let (operations, summary, into_base) = match import.importer {
            Importer::OpenApi(importer) => {
                let report = importer.plan().map_err(fail)?;
                // The document is not needed any more: handlers keep only what they forward with.
                drop(importer);
                let summary = report.summary();
                let operations = report
                    .operations
                    .into_iter()
                    .map(|o| (o.source, o.registration))
                    .collect::<Vec<_>>();
                (operations, summary, true)
            }
            Importer::Mcp(importer) => {
                // Its operations live in a layer that follows the server's tool list.
                let namespace = importer.namespace().to_owned();
                let layer = Arc::new(OperationOverlay::new());
                let report = importer.follow(layer.clone()).await.map_err(fail)?;
                imported.layers.push(layer);
                let summary = report.summary(&namespace);
                let operations = report
                    .registrations
                    .into_iter()
                    .map(|r| ("tool".to_owned(), r))
                    .collect::<Vec<_>>();
                (operations, summary, false)
            }
        };
        imported.summaries.push(summary);
        for (source, registration) in operations {
            let name = registration.spec.name.clone();
            let here = format!("{} ({source})", import.label);
            if let Some(first) = owners.get(&name) {
                return Err(ConfigError::Invalid(format!(
                    "operation name `{name}` is defined twice: by {first} and by {here}; rename one (`rename = {{ ... }}`)"
                )));
            }
            owners.insert(name, here);
            if into_base {
                imported.registrations.push(registration);
            }
        }
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use alknet_http_core::client::HttpClientConfig;

    use super::*;

    #[tokio::test]
    async fn collisions_across_imports_and_local_operations_name_both() {
        let dir = std::env::temp_dir().join(format!("alknet-imports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"operationId":"echo","responses":{}}}}}"#,
        )
        .unwrap();
        let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
        let config = |namespace: &str| -> ImportConfig {
            toml::from_str(&format!(
                "[[openapi]]\nnamespace = \"{namespace}\"\nspec = \"a.json\"\nbase_url = \"http://h\"\n\n[[openapi]]\nnamespace = \"other\"\nspec = \"a.json\"\nbase_url = \"http://h\"\n"
            ))
            .unwrap()
        };
        let resolve = |p: &Path| dir.join(p);
        let imports = config("demo").resolve(resolve, &http).unwrap();
        let local = [("demo/echo".to_owned(), "the demo operations".to_owned())];
        let error = plan_imports(imports, &local).await.unwrap_err().to_string();
        assert_eq!(
            error,
            "operation name `demo/echo` is defined twice: by the demo operations and by import.openapi `demo` (GET /a); rename one (`rename = { ... }`)"
        );
        let imported = plan_imports(config("pets").resolve(resolve, &http).unwrap(), &local)
            .await
            .unwrap();
        assert_eq!(imported.registrations.len(), 2);
        assert_eq!(
            imported.summaries,
            [
                "openapi pets: imported 1 operation",
                "openapi other: imported 1 operation"
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn import_limits_come_from_the_configuration() {
        let dir = std::env::temp_dir().join(format!("alknet-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let document = r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{}}},"/b":{"get":{"responses":{}}}}}"#;
        std::fs::write(dir.join("a.json"), document).unwrap();
        let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
        let resolve = |p: &Path| dir.join(p);
        let config = |limits: &str| -> ImportConfig {
            toml::from_str(&format!(
                "[[openapi]]\nnamespace = \"n\"\nspec = \"a.json\"\nbase_url = \"http://h\"\nlimits = {{ {limits} }}\n"
            ))
            .unwrap()
        };
        let small = format!("max_document_bytes = {}", document.len() - 1);
        let error = config(&small)
            .resolve(resolve, &http)
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_document_bytes"), "{error}");
        let imported = plan_imports(
            config("max_operations = 1")
                .resolve(resolve, &http)
                .unwrap(),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(imported.registrations.len(), 1);
        let unknown: Result<ImportConfig, _> = toml::from_str(
            "[[openapi]]\nnamespace = \"n\"\nspec = \"a.json\"\nbase_url = \"http://h\"\nlimits = { max_nothing = 1 }\n",
        );
        assert!(unknown.is_err(), "an unknown limit is refused");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
