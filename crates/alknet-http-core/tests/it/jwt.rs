//! `JwtProvider` (feature `jwt`) against an issuer on loopback that publishes its discovery
//! document and JWKS: tokens signed here with P-256 keys (rcgen) are accepted or refused by
//! their claims, algorithm and key; a rotated key is picked up without a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alknet_http_core::client::{HttpClientConfig, SharedHttpClient};
use alknet_http_core::identity::{AuthToken, IdentityProvider};
use alknet_http_core::jwt::{JwtIssuer, JwtProvider};
use alknet_http_core::{Identity, StaticTokenProvider};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const AUDIENCE: &str = "https://node.example";

/// A signing key and its public JWK.
struct Key {
    kid: String,
    private: EncodingKey,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    // An uncompressed P-256 point: 0x04, x, y.
    let (x, y) = point[1..].split_at(32);
    Key {
        kid: kid.to_owned(),
        private: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }),
    }
}

/// The issuer: its URL, the JWKS it publishes (replaceable) and how often it was fetched.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn issuer(keys: &[&Key]) -> Issuer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let jwks = Arc::new(Mutex::new(
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted, base) = (jwks.clone(), fetches.clone(), url.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (served, counted, base) = (served.clone(), counted.clone(), base.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                let body = match path {
                    "/.well-known/openid-configuration" => {
                        json!({"issuer": base, "jwks_uri": format!("{base}/jwks")})
                    }
                    "/jwks" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        served.lock().unwrap().clone()
                    }
                    _ => Value::Null,
                }
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Issuer { url, jwks, fetches }
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.private).unwrap()
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "svc-7",
        "exp": now() + 300, "iat": now(), "scope": "demo:read demo:write",
        "groups": {"tenant": ["acme"]},
    })
}

async fn provider(issuer: &Issuer) -> JwtProvider {
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    let config = JwtIssuer::discover(&issuer.url, [AUDIENCE])
        .with_resources_claim("groups")
        .with_min_refresh_interval(Duration::from_millis(200));
    JwtProvider::connect(vec![config], http).await.unwrap()
}

fn resolve(provider: &dyn IdentityProvider, token: &str) -> Option<Arc<Identity>> {
    provider.resolve_from_token(&AuthToken::new(token))
}

#[tokio::test]
async fn a_valid_token_names_its_subject_scopes_and_resources() {
    let signing = key("k1");
    let issuer = issuer(&[&signing]).await;
    let provider = provider(&issuer).await;
    let identity = resolve(&provider, &sign(&signing, &claims(&issuer.url))).expect("accepted");
    assert_eq!(identity.id, "svc-7");
    assert_eq!(identity.scopes, ["demo:read", "demo:write"]);
    assert_eq!(identity.resources["tenant"], ["acme"]);
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let signing = key("k1");
    let stranger = key("k1");
    let issuer = issuer(&[&signing]).await;
    let provider = provider(&issuer).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims(&issuer.url);
        change(&mut claims);
        sign(&signing, &claims)
    };
    let tampered = {
        let token = sign(&signing, &claims(&issuer.url));
        let (rest, _) = token.rsplit_once('.').unwrap();
        let forged = sign(&stranger, &claims(&issuer.url));
        format!("{rest}.{}", forged.rsplit_once('.').unwrap().1)
    };
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(&issuer.url).to_string());
        format!("{header}.{body}.")
    };
    let hmac_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".to_owned());
        let secret = signing.jwk.to_string();
        jsonwebtoken::encode(
            &header,
            &claims(&issuer.url),
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let cases = [
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("https://other.example")),
        ),
        ("expired", with(&|c| c["exp"] = json!(now() - 600))),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 600))),
        (
            "unknown issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
        ),
        ("no subject", with(&|c| c["sub"] = json!(""))),
        (
            "no expiry",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        ("tampered signature", tampered),
        ("alg none", unsigned),
        ("HMAC with the published key", hmac_with_public_key),
    ];
    for (what, token) in &cases {
        assert!(resolve(&provider, token).is_none(), "{what} was accepted");
    }
    // Within the leeway, an expiry just past is still accepted.
    let just_expired = with(&|c| c["exp"] = json!(now() - 5));
    assert!(resolve(&provider, &just_expired).is_some());
}

#[tokio::test]
async fn static_tokens_keep_working_beside_jwts() {
    let signing = key("k1");
    let issuer = issuer(&[&signing]).await;
    let fallback = StaticTokenProvider::new()
        .with_token("static-token-0123456789", Identity::new("ops"))
        .unwrap();
    let provider = provider(&issuer).await.with_fallback(Arc::new(fallback));
    assert_eq!(
        resolve(&provider, "static-token-0123456789").unwrap().id,
        "ops"
    );
    assert_eq!(
        resolve(&provider, &sign(&signing, &claims(&issuer.url)))
            .unwrap()
            .id,
        "svc-7"
    );
    assert!(resolve(&provider, "nothing-we-know").is_none());
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_a_token_names_it() {
    let old = key("k1");
    let new = key("k2");
    let issuer = issuer(&[&old]).await;
    let provider = provider(&issuer).await;
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    // Verified once, then remembered...
    let before = sign(&old, &claims(&issuer.url));
    assert!(resolve(&provider, &before).is_some());
    assert!(resolve(&provider, &before).is_some());
    *issuer.jwks.lock().unwrap() = json!({ "keys": [new.jwk.clone()] });
    let token = sign(&new, &claims(&issuer.url));
    // The first token with the new `kid` starts a fetch; the node picks the key up without a
    // restart.
    let accepted = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if resolve(&provider, &token).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(accepted.is_ok(), "the rotated key was never used");
    // The old key is gone with the old set, and so is what it verified.
    assert!(resolve(&provider, &sign(&old, &claims(&issuer.url))).is_none());
    assert!(
        resolve(&provider, &before).is_none(),
        "remembered past its key"
    );
    // Tokens naming unknown keys cannot make the node fetch more often than allowed.
    let fetched = issuer.fetches.load(Ordering::SeqCst);
    let bogus = key("k-unknown");
    for _ in 0..50 {
        let _ = resolve(&provider, &sign(&bogus, &claims(&issuer.url)));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(issuer.fetches.load(Ordering::SeqCst) <= fetched + 1);
}

#[tokio::test]
async fn an_issuer_without_an_audience_or_reachable_keys_is_an_error() {
    let http = Arc::new(SharedHttpClient::new(HttpClientConfig::default()).unwrap());
    let no_audience = JwtIssuer::discover("http://127.0.0.1:9", Vec::<String>::new());
    assert!(
        JwtProvider::connect(vec![no_audience], http.clone())
            .await
            .is_err()
    );
    let signing = key("k1");
    let issuer = issuer(&[&signing]).await;
    let too_small = JwtIssuer::discover(&issuer.url, [AUDIENCE]).with_max_document_bytes(16);
    let error = JwtProvider::connect(vec![too_small], http)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("larger than 16 bytes"),
        "{error}"
    );
}
