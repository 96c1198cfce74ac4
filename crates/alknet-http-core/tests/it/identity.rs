//! Identity: hashed static tokens and token minting.

use alknet_http_core::identity::{TokenError, mint_token, token_hash};
use alknet_http_core::{AuthToken, Identity, IdentityProvider, StaticTokenProvider};
use secrecy::ExposeSecret;

#[test]
fn tokens_resolve_by_hash_only() {
    let provider = StaticTokenProvider::new()
        .with_token("alk_plain", Identity::new("a"))
        .unwrap()
        .with_token_hash(
            &AuthToken::new("alk_hashed").sha256_hex(),
            Identity::new("b").with_scopes(["s"]),
        )
        .unwrap();
    assert_eq!(
        provider
            .resolve_from_token(&AuthToken::new("alk_plain"))
            .unwrap()
            .id,
        "a"
    );
    assert_eq!(
        provider
            .resolve_from_token(&AuthToken::new("alk_hashed"))
            .unwrap()
            .scopes,
        vec!["s"]
    );
    assert!(provider.resolve_from_token(&AuthToken::new("")).is_none());
    assert!(
        provider
            .resolve_from_token(&AuthToken::new("alk_plai"))
            .is_none()
    );
    let debug = format!("{provider:?}");
    assert!(!debug.contains("alk_plain"), "{debug}");
    assert!(!format!("{:?}", AuthToken::new("alk_plain")).contains("alk_plain"));
}

#[test]
fn bad_and_duplicate_hashes_are_refused() {
    let err = StaticTokenProvider::new()
        .with_token_hash("abc", Identity::new("x"))
        .unwrap_err();
    assert_eq!(err, TokenError::BadHash { id: "x".into() });
    let h = AuthToken::new("t").sha256_hex();
    let err = StaticTokenProvider::new()
        .with_token_hash(&h, Identity::new("x"))
        .unwrap()
        .with_token_hash(&h.to_uppercase(), Identity::new("y"))
        .unwrap_err();
    assert_eq!(err, TokenError::DuplicateHash { id: "y".into() });
}

#[test]
fn minted_tokens_are_256_bit_and_distinct() {
    let a = mint_token();
    let b = mint_token();
    assert_ne!(a.expose_secret(), b.expose_secret());
    let body = a.expose_secret().strip_prefix("alk_").unwrap();
    assert_eq!(body.len(), 43, "32 bytes in unpadded base64url");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        token_hash(&a),
        AuthToken::new(a.expose_secret()).sha256_hex()
    );
    assert_eq!(token_hash(&a).len(), 64);
}

#[test]
fn fingerprints_resolve_case_and_colon_insensitively() {
    let provider = StaticTokenProvider::new().with_fingerprint("AB:CD:EF", Identity::new("peer"));
    assert_eq!(
        provider.resolve_from_fingerprint("abcdef").unwrap().id,
        "peer"
    );
    assert!(provider.resolve_from_fingerprint("abcdee").is_none());
}
