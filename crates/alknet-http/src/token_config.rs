//! `[[token]]` in the node's TOML configuration (feature `cli`): static bearer tokens, stored
//! as SHA-256 hashes, each with an optional expiry and a disabled flag. A `SIGHUP` reloads
//! them (with the `[[issuer]]`s) without a restart; see `command::serve`.
//!
//! ```toml
//! [[token]]
//! id = "alice"
//! sha256 = "<64 hex characters: `alknet-http token new` prints one>"
//! scopes = ["demo:read", "demo:write"]
//! expires_at = 2027-01-01T00:00:00Z   # refused from then on (RFC 3339, with an offset)
//! disabled = false                    # true: refused, kept in the file
//! ```

use std::time::SystemTime;

use alknet_http_core::{Identity, StaticTokenProvider};
use serde::Deserialize;

use crate::config_error::{ConfigError, fail};

/// One `[[token]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The identity the token stands for.
    pub id: String,
    /// The token's SHA-256, hex.
    pub sha256: String,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the token stops being accepted: a TOML date-time or an RFC 3339 string, with an
    /// offset.
    pub expires_at: Option<Moment>,
    /// A disabled token is refused (its hash still checked, so the entry stays valid).
    #[serde(default)]
    pub disabled: bool,
}

/// A point in time as the configuration writes it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Moment {
    /// `expires_at = 2027-01-01T00:00:00Z`
    Datetime(toml::value::Datetime),
    /// `expires_at = "2027-01-01T00:00:00Z"`
    Text(String),
}

impl Moment {
    fn to_system_time(&self, id: &str) -> Result<SystemTime, ConfigError> {
        let text = match self {
            Moment::Datetime(datetime) => datetime.to_string(),
            Moment::Text(text) => text.clone(),
        };
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .or_else(|_| {
                fail(format!(
                    "token `{id}`: expires_at `{text}` is not an RFC 3339 date-time with an offset (2027-01-01T00:00:00Z)"
                ))
            })
    }
}

/// The token table of the `[[token]]` entries. Disabled entries are checked and left out;
/// entries past their expiry are kept (they are refused by the table itself, and a session
/// opened before the expiry closes at it).
pub fn token_table(entries: &[TokenConfig]) -> Result<StaticTokenProvider, ConfigError> {
    let mut tokens = StaticTokenProvider::new();
    // Hashes are checked for every entry, disabled or not: one table to reject duplicates.
    let mut checked = StaticTokenProvider::new();
    for entry in entries {
        let mut identity =
            Identity::new(entry.id.clone()).with_scopes(entry.scopes.iter().cloned());
        if let Some(moment) = &entry.expires_at {
            identity = identity.with_expiry(moment.to_system_time(&entry.id)?);
        }
        let token_error = |source| ConfigError::Token {
            id: entry.id.clone(),
            source,
        };
        checked = checked
            .with_token_hash(&entry.sha256, Identity::new(entry.id.clone()))
            .map_err(token_error)?;
        if !entry.disabled {
            tokens = tokens
                .with_token_hash(&entry.sha256, identity)
                .map_err(token_error)?;
        }
    }
    Ok(tokens)
}
