//! Checklist "Framing/conversion".

use alknet_http_core::envelope::event_type;
use alknet_http_core::frame::{FrameCodec, FrameError, MessageCodec};
use alknet_http_core::{
    CallError, CallRequested, Event, EventEnvelope, Identity, ResponseEnvelope,
};
use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use serde_json::json;
use tokio_util::codec::{Decoder, Encoder};

fn encode(envelope: &EventEnvelope) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::default().encode(envelope, &mut buf).unwrap();
    buf
}

#[test]
fn frame_round_trip() {
    let env = EventEnvelope::responded("c1", json!({"content": "127.0.0.1 localhost"}));
    let mut buf = encode(&env);
    let back = FrameCodec::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(back, env);
    assert!(buf.is_empty());
}

#[test]
fn length_prefix_is_four_bytes_big_endian() {
    let env = EventEnvelope::completed("s7");
    let buf = encode(&env);
    let body = serde_json::to_vec(&env).unwrap();
    assert_eq!(&buf[..4], &(body.len() as u32).to_be_bytes());
    assert_eq!(&buf[4..], &body[..]);
}

#[test]
fn large_payload_round_trips_and_oversize_is_refused() {
    let big = "x".repeat(3 * 1024 * 1024);
    let env = EventEnvelope::responded("big", json!({ "blob": big }));
    let mut buf = encode(&env);
    assert_eq!(
        FrameCodec::default().decode(&mut buf).unwrap().unwrap(),
        env
    );

    // A small limit refuses both directions.
    let mut small = FrameCodec::new(1024);
    let mut out = BytesMut::new();
    assert!(matches!(
        small.encode(&env, &mut out),
        Err(FrameError::EnvelopeTooLarge { max: 1024, .. })
    ));
    assert!(
        out.is_empty(),
        "a refused frame leaves nothing half-written"
    );
    let mut incoming = encode(&env);
    assert!(matches!(
        small.decode(&mut incoming),
        Err(FrameError::TooLarge { max: 1024, .. })
    ));
}

#[test]
fn oversize_length_prefix_alone_is_refused() {
    // The prefix announces 1 GiB: refused before any body arrives.
    let mut buf = BytesMut::new();
    buf.put_u32(1 << 30);
    let err = FrameCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { size, .. } if size == 1 << 30));
}

#[test]
fn truncated_frame_is_connection_closed() {
    let full = encode(&EventEnvelope::completed("s1"));
    let mut codec = FrameCodec::default();
    let mut partial = BytesMut::from(&full[..full.len() - 3]);
    assert!(
        codec.decode(&mut partial).unwrap().is_none(),
        "waits for more bytes"
    );
    assert!(matches!(
        codec.decode_eof(&mut partial),
        Err(FrameError::ConnectionClosed)
    ));
    // EOF at a frame boundary is a clean end.
    let mut empty = BytesMut::new();
    assert!(codec.decode_eof(&mut empty).unwrap().is_none());
}

#[test]
fn invalid_body_is_skipped_and_stream_continues() {
    let mut buf = BytesMut::new();
    let garbage = b"{not json";
    buf.put_u32(garbage.len() as u32);
    buf.put_slice(garbage);
    let wrong_shape = br#"{"hello":"world"}"#;
    buf.put_u32(wrong_shape.len() as u32);
    buf.put_slice(wrong_shape);
    buf.extend_from_slice(&encode(&EventEnvelope::aborted("a1")));
    let env = FrameCodec::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(env.id, "a1");
    assert_eq!(env.event_type, event_type::CALL_ABORTED);
}

#[test]
fn messages_have_no_length_prefix() {
    let codec = MessageCodec::default();
    let env = EventEnvelope::completed("s1");
    let bytes = codec.encode(&env).unwrap();
    assert_eq!(bytes, serde_json::to_vec(&env).unwrap());
    assert_eq!(codec.decode(&bytes).unwrap(), env);
}

#[test]
fn message_codec_distinguishes_oversize_from_undecodable() {
    // The WebSocket surface closes with 1009 for the first and 1007 for the second.
    let codec = MessageCodec::new(64);
    let big = codec.encode(&EventEnvelope::responded("x", json!("y".repeat(100))));
    assert!(matches!(big, Err(FrameError::EnvelopeTooLarge { ref id, .. }) if id == "x"));
    assert!(matches!(
        codec.decode(&[b'a'; 65]),
        Err(FrameError::TooLarge { size: 65, max: 64 })
    ));
    assert!(matches!(
        codec.decode(b"not json"),
        Err(FrameError::Json(_))
    ));
}

#[test]
fn ok_and_err_map_to_responded_and_error() {
    let ok = ResponseEnvelope::ok("c1", json!({"n": 1})).into_event();
    assert_eq!(
        ok,
        EventEnvelope {
            event_type: "call.responded".into(),
            id: "c1".into(),
            payload: json!({"output": {"n": 1}})
        }
    );

    let err = ResponseEnvelope::error(
        "c2",
        CallError::new("FILE_NOT_FOUND", "file not found").with_details(json!({"errno": 2})),
    );
    let event = err.to_event();
    assert_eq!(event.event_type, "call.error");
    assert_eq!(event.id, "c2");
    assert_eq!(
        event.payload,
        json!({"code": "FILE_NOT_FOUND", "message": "file not found", "retryable": false, "details": {"errno": 2}})
    );

    // details omitted when None
    let bare = ResponseEnvelope::not_found("c3", "x/y").to_event();
    assert!(bare.payload.get("details").is_none());
    assert_eq!(bare.payload["message"], "operation not found: /x/y");
}

#[test]
fn spec_examples_decode() {
    let lines = [
        r#"{"type":"call.requested","id":"c1","payload":{"operationId":"/fs/readFile","input":{"path":"/etc/hosts"},"auth_token":"alk_3f9a"}}"#,
        r#"{"type":"call.responded","id":"c1","payload":{"output":{"content":"127.0.0.1 localhost"}}}"#,
        r#"{"type":"call.error","id":"c2","payload":{"code":"FILE_NOT_FOUND","message":"file not found: /etc/nonexistent","retryable":false,"details":{"path":"/etc/nonexistent","errno":2}}}"#,
        r#"{"type":"call.completed","id":"s7","payload":{}}"#,
        r#"{"type":"call.aborted","id":"s7","payload":{}}"#,
    ];
    let events: Vec<Event> = lines
        .iter()
        .map(|l| {
            MessageCodec::default()
                .decode(l.as_bytes())
                .unwrap()
                .event()
                .unwrap()
        })
        .collect();
    let Event::Requested(req) = &events[0] else {
        panic!("not a request")
    };
    assert_eq!(req.operation_name(), "fs/readFile");
    assert_eq!(req.auth_token.as_deref(), Some("alk_3f9a"));
    assert_eq!(
        events[1],
        Event::Responded(json!({"content": "127.0.0.1 localhost"}))
    );
    assert!(
        matches!(&events[2], Event::Error(e) if e.code == "FILE_NOT_FOUND" && e.details.as_ref().unwrap()["errno"] == 2)
    );
    assert_eq!(events[3], Event::Completed);
    assert_eq!(events[4], Event::Aborted);
}

#[test]
fn unknown_fields_and_types_are_tolerated() {
    let env: EventEnvelope =
        serde_json::from_str(r#"{"type":"call.teleported","id":"x","payload":{},"extra":1}"#)
            .unwrap();
    assert_eq!(
        env.event().unwrap(),
        Event::Unknown("call.teleported".into())
    );
    let req: EventEnvelope = serde_json::from_str(
        r#"{"type":"call.requested","id":"y","payload":{"operationId":"a/b","future":true}}"#,
    )
    .unwrap();
    let Event::Requested(req) = req.event().unwrap() else {
        panic!()
    };
    assert_eq!(req.input, serde_json::Value::Null, "absent input is null");
    assert_eq!(req.operation_name(), "a/b", "unslashed form accepted");
}

#[test]
fn malformed_forwarded_for_is_absent() {
    let good = json!({"operationId": "/a/b", "forwarded_for": {"id": "n1", "scopes": ["x"], "resources": {}}});
    let bad = json!({"operationId": "/a/b", "forwarded_for": {"scopes": 7}});
    let good: CallRequested = serde_json::from_value(good).unwrap();
    let bad: CallRequested = serde_json::from_value(bad).unwrap();
    assert_eq!(
        good.forwarded_for,
        Some(Identity::new("n1").with_scopes(["x"]))
    );
    assert_eq!(bad.forwarded_for, None);
}

#[test]
fn missing_operation_id_is_a_payload_error() {
    let env = EventEnvelope::new("call.requested", "z", json!({"input": 1}));
    assert!(env.event().is_err());
}

proptest! {
    #[test]
    fn frame_decoder_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let mut codec = FrameCodec::new(4096);
        let mut buf = BytesMut::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        }
        let _ = codec.decode_eof(&mut buf);
    }

    #[test]
    fn envelope_decoder_never_panics(json in arbitrary_json()) {
        let bytes = serde_json::to_vec(&json).unwrap();
        if let Ok(env) = MessageCodec::default().decode(&bytes) {
            let _ = env.event();
        }
    }

    #[test]
    fn encode_decode_round_trips(id in "[a-z0-9-]{1,36}", output in arbitrary_json()) {
        let env = EventEnvelope::responded(id, output);
        let mut buf = encode(&env);
        prop_assert_eq!(FrameCodec::default().decode(&mut buf).unwrap().unwrap(), env);
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z. ]{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("call.requested"),
            Just("call.error"),
            Just("call.responded"),
            Just("type"),
            Just("id"),
            Just("payload"),
            Just("operationId")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("id".to_string()),
                    Just("payload".to_string()),
                    Just("operationId".to_string()),
                    Just("code".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn text_messages_close_1003_and_other_failures_have_their_codes() {
    use alknet_http_core::frame::TransportMessage;
    let codec = MessageCodec::new(64);
    let valid = serde_json::to_string(&EventEnvelope::completed("s1")).unwrap();
    let text = codec
        .decode_message(TransportMessage::Text(&valid))
        .unwrap_err();
    assert!(matches!(text, FrameError::TextMessage));
    assert_eq!(text.close_code(), 1003);
    assert!(
        codec
            .decode_message(TransportMessage::Binary(valid.as_bytes()))
            .is_ok()
    );
    let garbage = codec
        .decode_message(TransportMessage::Binary(b"\xff\xfe"))
        .unwrap_err();
    assert_eq!(garbage.close_code(), 1007);
    let big = codec
        .decode_message(TransportMessage::Binary(&[b' '; 65]))
        .unwrap_err();
    assert_eq!(big.close_code(), 1009);
}
