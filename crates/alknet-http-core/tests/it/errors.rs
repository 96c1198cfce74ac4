//! http-surfaces §14 "Errors": every row of the §5 mapping, both directions.

use alknet_http_core::error::{
    call_error_from_http, call_error_to_http_response, call_error_to_http_status,
    call_error_to_http_status_with_identity, http_error_definition,
};
use alknet_http_core::{CallError, ErrorCode, ErrorDefinition};
use serde_json::json;

fn status(e: &CallError, has_identity: bool, declared: &[ErrorDefinition]) -> u16 {
    call_error_to_http_status_with_identity(e, has_identity, declared).as_u16()
}

#[test]
fn every_protocol_row() {
    let rows = [
        (CallError::not_found("a/b"), 404),
        (CallError::invalid_input("x"), 422),
        (CallError::invalid_operation_type("x"), 400),
        (CallError::timeout("x"), 504),
        (CallError::internal("x"), 500),
        (CallError::protocol(ErrorCode::RateLimited, "x"), 429),
        (CallError::protocol(ErrorCode::Unavailable, "x"), 503),
    ];
    for (e, expected) in rows {
        assert_eq!(status(&e, true, &[]), expected, "{}", e.code);
        assert_eq!(status(&e, false, &[]), expected, "{}", e.code);
    }
    assert!(CallError::timeout("x").retryable);
    assert!(ErrorCode::ALL.iter().filter(|c| c.default_retryable()).eq([
        &ErrorCode::Timeout,
        &ErrorCode::RateLimited,
        &ErrorCode::Unavailable
    ]));
}

#[test]
fn forbidden_splits_401_and_403_by_identity() {
    let e = CallError::forbidden("missing scope");
    assert_eq!(status(&e, false, &[]), 401);
    assert_eq!(status(&e, true, &[]), 403);
    assert_eq!(call_error_to_http_status(&e, &[]).as_u16(), 403);
}

#[test]
fn upstream_http_codes() {
    let e = |code: &str| CallError::new(code, "upstream");
    assert_eq!(status(&e("HTTP_404"), true, &[]), 404);
    assert_eq!(status(&e("HTTP_429"), true, &[]), 429);
    assert_eq!(status(&e("HTTP_503"), false, &[]), 503);
    // Outside 400–599: 502.
    assert_eq!(status(&e("HTTP_302"), true, &[]), 502);
    assert_eq!(status(&e("HTTP_200"), true, &[]), 502);
    assert_eq!(status(&e("HTTP_999"), true, &[]), 502);
    // Upstream credential problems are never the caller's own.
    for code in ["HTTP_401", "HTTP_403", "HTTP_407"] {
        assert_eq!(status(&e(code), false, &[]), 502, "{code}");
    }
    // Not an HTTP code: other.
    assert_eq!(status(&e("HTTP_4O4"), true, &[]), 500);
    assert_eq!(status(&e("HTTP_4044"), true, &[]), 500);
}

#[test]
fn imported_404_is_distinct_from_not_found() {
    let imported = call_error_from_http(404, b"");
    let resp = call_error_to_http_response(&imported, true, &[]);
    assert_eq!(resp.status().as_u16(), 404);
    let body: CallError = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body.code, "HTTP_404");
    assert_ne!(body.code, "NOT_FOUND");
    assert_eq!(body.protocol_code(), None);
}

#[test]
fn declared_domain_status_and_other_codes() {
    let declared = [
        ErrorDefinition::new("FILE_NOT_FOUND", "missing").with_http_status(404),
        ErrorDefinition::new("QUOTA", "over quota").with_http_status(429),
        ErrorDefinition::new("ODD", "not an error status").with_http_status(204),
        ErrorDefinition::new("PLAIN", "no status"),
    ];
    let e = |code: &str| CallError::new(code, "x");
    assert_eq!(status(&e("FILE_NOT_FOUND"), true, &declared), 404);
    assert_eq!(status(&e("QUOTA"), false, &declared), 429);
    assert_eq!(status(&e("ODD"), true, &declared), 500);
    assert_eq!(status(&e("PLAIN"), true, &declared), 500);
    assert_eq!(status(&e("UNDECLARED"), true, &declared), 500);
}

#[test]
fn www_authenticate_only_for_protocol_forbidden_without_identity() {
    let anonymous =
        call_error_to_http_response(&CallError::forbidden("authentication required"), false, &[]);
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let identified = call_error_to_http_response(&CallError::forbidden("scope"), true, &[]);
    assert!(identified.headers().get("www-authenticate").is_none());
    let declared = [ErrorDefinition::new("LOGIN_NEEDED", "x").with_http_status(401)];
    let domain =
        call_error_to_http_response(&CallError::new("LOGIN_NEEDED", "x"), false, &declared);
    assert_eq!(domain.status().as_u16(), 401);
    assert!(
        domain.headers().get("www-authenticate").is_none(),
        "never for domain codes"
    );
    let upstream = call_error_to_http_response(&CallError::new("HTTP_401", "x"), false, &[]);
    assert!(upstream.headers().get("www-authenticate").is_none());
}

#[test]
fn retry_after_on_retryable_429_and_503_only() {
    let with = |code: &str, retryable: bool, details| {
        CallError::new(code, "x")
            .with_retryable(retryable)
            .with_details(details)
    };
    let r = call_error_to_http_response(
        &with("HTTP_429", true, json!({"retry_after": 7})),
        true,
        &[],
    );
    assert_eq!(r.headers()["retry-after"], "7");
    let r = call_error_to_http_response(
        &with("HTTP_503", true, json!({"retry_after": "12"})),
        true,
        &[],
    );
    assert_eq!(r.headers()["retry-after"], "12");
    let r = call_error_to_http_response(
        &with("HTTP_503", false, json!({"retry_after": 3})),
        true,
        &[],
    );
    assert!(r.headers().get("retry-after").is_none(), "not retryable");
    let r = call_error_to_http_response(
        &with("HTTP_502", true, json!({"retry_after": 3})),
        true,
        &[],
    );
    assert!(r.headers().get("retry-after").is_none(), "not 429/503");
    let r = call_error_to_http_response(&with("HTTP_429", true, json!({"other": 1})), true, &[]);
    assert!(r.headers().get("retry-after").is_none(), "no seconds given");
    // `retry_after_ms` (call-protocol §1) wins, rounded up to whole seconds.
    let limited = CallError::protocol(ErrorCode::RateLimited, "slow down")
        .with_retry_after(std::time::Duration::from_millis(2500));
    assert_eq!(limited.retry_after_ms, Some(2500));
    let r = call_error_to_http_response(&limited, true, &[]);
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    let wire = serde_json::to_value(&limited).unwrap();
    assert_eq!(wire["retry_after_ms"], 2500);
}

#[test]
fn body_is_the_call_error_as_json() {
    let e = CallError::invalid_input("bad").with_details(json!({"errors": []}));
    let r = call_error_to_http_response(&e, true, &[]);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        body,
        json!({"code": "INVALID_INPUT", "message": "bad", "retryable": false, "details": {"errors": []}})
    );
}

#[test]
fn http_to_call_conversion() {
    let e = call_error_from_http(429, br#"{"error":"slow down"}"#);
    assert_eq!(
        (e.code.as_str(), e.message.as_str(), e.retryable),
        ("HTTP_429", "HTTP 429: Too Many Requests", true)
    );
    assert_eq!(e.details.unwrap()["error"], "slow down");
    let text = call_error_from_http(500, b"oops");
    assert_eq!(text.details.unwrap(), json!("oops"));
    assert!(!text.retryable);
    for s in [502, 503, 504] {
        assert!(call_error_from_http(s, b"").retryable, "{s}");
    }
    assert!(call_error_from_http(404, b"").details.is_none());
    let def = http_error_definition(404, "Not found");
    assert_eq!(
        (def.code.as_str(), def.http_status),
        ("HTTP_404", Some(404))
    );
    assert!(
        ErrorCode::from_wire(&def.code).is_none(),
        "imported codes never equal a protocol code"
    );
}

#[test]
fn unknown_codes_deserialize_and_map_as_internal() {
    let e: CallError = serde_json::from_str(r#"{"code":"FROM_THE_FUTURE","message":"?"}"#).unwrap();
    assert!(!e.retryable);
    assert_eq!(status(&e, true, &[]), 500);
}
