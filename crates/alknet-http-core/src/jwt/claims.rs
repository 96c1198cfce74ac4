//! From a verified token's claims to an [`Identity`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::identity::Identity;

use super::JwtIssuer;

/// The `iss` of a token before it is verified: only to pick the issuer whose keys verify it.
pub(super) fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Issuer {
        iss: String,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
        .ok()
        .map(|claims| claims.iss)
}

/// The identity a verified token names, or why it names none.
pub(super) fn identity(
    config: &JwtIssuer,
    claims: &Map<String, Value>,
) -> Result<Identity, String> {
    let id = match claims.get(&config.id_claim) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err(format!("no `{}` claim naming the caller", config.id_claim)),
    };
    let scopes = match &config.scopes_claim {
        Some(claim) => strings(claims.get(claim)),
        None => strings(claims.get("scope").or_else(|| claims.get("scp"))),
    };
    let resources = match config.resources_claim.as_ref().and_then(|c| claims.get(c)) {
        Some(Value::Object(by_type)) => by_type
            .iter()
            .map(|(kind, names)| (kind.clone(), strings(Some(names))))
            .collect(),
        _ => BTreeMap::new(),
    };
    // `exp` is required and checked before this; the identity lapses with it (plus leeway).
    let expires_at = claims.get("exp").and_then(Value::as_u64).map(|exp| {
        std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(exp.saturating_add(config.leeway.as_secs()))
    });
    Ok(Identity {
        id,
        scopes,
        resources,
        expires_at,
    })
}

/// A space-separated string or an array of strings (other values are ignored).
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
