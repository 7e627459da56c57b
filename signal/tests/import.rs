//! Import of npm libsignal's session JSON and Baileys' sender-key JSON, offline: a captured
//! fixture (`data/libsignal-import.json`, written by libsignal 6.0.0 through Baileys' store) and
//! malformed documents. The live version, continuing conversations with libsignal itself, is
//! `tests/tests/signal_differential.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;
use tether_signal::import::{ImportError, MAX_IMPORT_LEN};
use tether_signal::{
    IdentityKey, IdentityPolicy, RegistrationId, SenderKeyMessage, SenderKeyRecord, SessionRecord,
    SignalMessage,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("data/libsignal-import.json")).unwrap()
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap()
}

fn bytes(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(text(v, name)).unwrap()
}

fn bob(v: &Value) -> (IdentityKey, RegistrationId) {
    (
        IdentityKey::deserialize(&bytes(v, "bob_identity")).unwrap(),
        RegistrationId::new(v["bob_registration_id"].as_u64().unwrap() as u32),
    )
}

#[test]
fn a_libsignal_session_continues_after_import() {
    let v = fixture();
    let (identity, registration) = bob(&v);
    let mut record = SessionRecord::from_libsignal_json(
        text(&v, "session_json").as_bytes(),
        &identity,
        registration,
    )
    .unwrap();
    assert!(record.has_open_session());
    assert!(!record.has_pending_pre_key());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (message, plaintext) in [
        ("next_msg", "next_plaintext"),
        ("skipped_msg", "skipped_plaintext"),
    ] {
        let m = SignalMessage::parse(&bytes(&v, message)).unwrap();
        let got = record
            .decrypt(&m, IdentityPolicy::AcceptAny, &mut rng)
            .unwrap();
        assert_eq!(got.plaintext, bytes(&v, plaintext));
    }
    let round_trip = SessionRecord::from_bytes(&record.to_bytes()).unwrap();
    assert_eq!(round_trip, record);
}

#[test]
fn baileys_sender_keys_continue_after_import() {
    let v = fixture();
    let mut theirs =
        SenderKeyRecord::from_baileys_json(text(&v, "sender_key_json").as_bytes()).unwrap();
    assert!(!theirs.is_own());
    let m = SenderKeyMessage::parse(&bytes(&v, "next_skmsg")).unwrap();
    assert_eq!(
        theirs.decrypt(&m).unwrap(),
        bytes(&v, "next_skmsg_plaintext")
    );
    let own =
        SenderKeyRecord::from_baileys_json(text(&v, "own_sender_key_json").as_bytes()).unwrap();
    assert!(own.is_own());
}

/// A mutation of a session entry and the field its error must name.
struct Case(fn(&mut Value), &'static str);

#[test]
fn malformed_documents_are_typed_errors_naming_the_field() {
    let v = fixture();
    let (identity, registration) = bob(&v);
    let import =
        |json: &str| SessionRecord::from_libsignal_json(json.as_bytes(), &identity, registration);
    assert!(matches!(import("not json"), Err(ImportError::Json { .. })));
    assert!(matches!(import("[]"), Err(ImportError::Json { .. })));
    assert_eq!(import("{}").unwrap(), SessionRecord::new());
    let original: Value = serde_json::from_str(text(&v, "session_json")).unwrap();
    let entry_key = original["_sessions"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let mutate = |f: fn(&mut Value)| {
        let mut doc = original.clone();
        f(&mut doc["_sessions"][&entry_key]);
        import(&doc.to_string())
    };
    let cases: [Case; 5] = [
        Case(
            |e| e["currentRatchet"]["rootKey"] = "AAAA".into(),
            "rootKey",
        ),
        Case(|e| e["indexInfo"]["baseKeyType"] = 3.into(), "baseKeyType"),
        Case(
            |e| {
                e["currentRatchet"]["ephemeralKeyPair"]["pubKey"] =
                    e["indexInfo"]["baseKey"].clone()
            },
            "ephemeralKeyPair",
        ),
        Case(
            |e| e["indexInfo"]["remoteIdentityKey"] = "BQ==".into(),
            "remoteIdentityKey",
        ),
        Case(|e| e["_chains"] = serde_json::json!({}), "_chains"),
    ];
    for Case(mutation, field) in cases {
        match mutate(mutation) {
            Err(ImportError::Field { path, .. }) => assert!(path.contains(field), "{path}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    let huge = vec![b' '; MAX_IMPORT_LEN + 1];
    assert!(matches!(
        SessionRecord::from_libsignal_json(&huge, &identity, registration),
        Err(ImportError::TooLarge { .. })
    ));
    assert!(matches!(
        SenderKeyRecord::from_baileys_json(b"[{\"senderKeyId\": 1}]"),
        Err(ImportError::Json { .. })
    ));
    // Buffer objects, base64 or byte arrays, are accepted as Baileys' reviver accepts them.
    let doc = format!(
        r#"[{{"senderKeyId":5,"senderChainKey":{{"iteration":3,"seed":{{"type":"Buffer","data":{:?}}}}},
            "senderSigningKey":{{"public":{{"type":"Buffer","data":"BQ{}"}}}},"senderMessageKeys":[{{}},{{"iteration":1,"seed":"{}"}}]}}]"#,
        vec![7u8; 32],
        "A".repeat(42),
        "B".repeat(43) + "="
    );
    let record = SenderKeyRecord::from_baileys_json(doc.as_bytes()).unwrap();
    assert_eq!(
        record.key_ids().map(|id| id.value()).collect::<Vec<_>>(),
        vec![5]
    );
}
