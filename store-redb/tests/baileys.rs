//! Baileys auth directories without Node.js: damaged input is a clear error naming the file,
//! never a fresh identity; exports are private and never overwrite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tether_core::creds::{CredentialStore, PersistSeq};
use tether_store_redb::{BaileysError, RedbStore, RedbStoreError};

use common::{TempDir, created};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An auth directory exported from a fresh Tether identity, with pre-keys.
fn exported(tmp: &TempDir) -> std::path::PathBuf {
    let mut store = RedbStore::open(tmp.path().join("source.redb")).unwrap();
    store.apply(PersistSeq(1), &created(8)).unwrap();
    let dir = tmp.path().join("auth");
    store.export_baileys(&dir).unwrap();
    dir
}

#[test]
fn an_export_is_private_and_imports_back_to_the_same_keys() {
    let tmp = TempDir::new("bl-round");
    let dir = exported(&tmp);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("creds.json")), 0o600);
    let mut source = RedbStore::open(tmp.path().join("source.redb")).unwrap();
    let (want, _) = source.load().unwrap().unwrap();
    let mut store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let summary = store.import_baileys(&dir).unwrap();
    assert_eq!(summary.jid, None);
    let (got, seq) = store.load().unwrap().unwrap();
    assert_eq!(seq, PersistSeq(1));
    assert_eq!(got.noise_key, want.noise_key);
    assert_eq!(got.identity_key, want.identity_key);
    assert_eq!(got.signed_pre_key.signature, want.signed_pre_key.signature);
    assert_eq!(got.registration_id, want.registration_id);
    assert_eq!(got.adv_secret, want.adv_secret);
    assert!(!got.is_paired());
}

#[test]
fn a_truncated_creds_json_is_an_error_naming_the_file() {
    let tmp = TempDir::new("bl-trunc");
    let dir = exported(&tmp);
    let creds = dir.join("creds.json");
    let text = std::fs::read(&creds).unwrap();
    std::fs::write(&creds, &text[..text.len() / 2]).unwrap();
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let err = store.import_baileys(&dir).unwrap_err();
    assert!(matches!(err, BaileysError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&creds.display().to_string()), "{msg}");
    assert!(
        msg.contains("truncated or corrupt") && msg.contains("restore the file"),
        "{msg}"
    );
    assert!(
        store.load_credentials().unwrap().is_none(),
        "something was imported"
    );
    std::fs::write(&creds, b"").unwrap();
    assert!(matches!(
        store.import_baileys(&dir),
        Err(BaileysError::Corrupt { .. })
    ));
}

#[test]
fn a_missing_or_malformed_field_is_named() {
    let tmp = TempDir::new("bl-field");
    let dir = exported(&tmp);
    let creds = dir.join("creds.json");
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    let mut json = original.clone();
    json["noiseKey"]["public"]["data"] =
        serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    std::fs::write(&creds, serde_json::to_vec(&json).unwrap()).unwrap();
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let err = store.import_baileys(&dir).unwrap_err().to_string();
    assert!(
        err.contains("`noiseKey`") && err.contains("does not belong"),
        "{err}"
    );
    let mut json = original;
    json.as_object_mut().unwrap().remove("advSecretKey");
    std::fs::write(&creds, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = store.import_baileys(&dir).unwrap_err().to_string();
    assert!(
        err.contains("`advSecretKey` is missing") || err.contains("`noiseKey`"),
        "{err}"
    );
}

#[test]
fn a_corrupt_key_file_is_named_too() {
    let tmp = TempDir::new("bl-key");
    let dir = exported(&tmp);
    std::fs::write(dir.join("session-1555.0.json"), b"{\"_sessions\":").unwrap();
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let err = store.import_baileys(&dir).unwrap_err().to_string();
    assert!(err.contains("session-1555.0.json"), "{err}");
}

#[test]
fn a_directory_without_creds_json_is_not_taken_for_an_empty_identity() {
    let tmp = TempDir::new("bl-none");
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let err = store.import_baileys(tmp.path()).unwrap_err();
    assert!(matches!(err, BaileysError::NoCreds { .. }), "{err}");
}

#[test]
fn import_over_a_live_identity_and_export_over_files_are_refused() {
    let tmp = TempDir::new("bl-refuse");
    let dir = exported(&tmp);
    let mut store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    store.apply(PersistSeq(1), &created(2)).unwrap();
    let err = store.import_baileys(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            BaileysError::Store(RedbStoreError::ImportOverLive { .. })
        ),
        "{err}"
    );
    let err = store.export_baileys(&dir).unwrap_err();
    assert!(matches!(err, BaileysError::TargetNotEmpty { .. }), "{err}");
    let empty = RedbStore::open(tmp.path().join("empty.redb")).unwrap();
    let err = empty.export_baileys(&tmp.path().join("x")).unwrap_err();
    assert!(matches!(err, BaileysError::NothingToExport { .. }), "{err}");
}

/// Baileys' Signal files become the messaging layer's records: sessions (with the peer's
/// identity), sender keys and LID mappings, a session named like a phone number moving to the
/// LID when a mapping names its user as one.
#[test]
fn signal_sessions_sender_keys_and_lid_mappings_import_as_records() {
    use bytes::Bytes;
    use tether_core::records::{RecordData, RecordRead, Table};
    use tether_signal::{SenderKeyRecord, SessionRecord};

    let tmp = TempDir::new("bl-signal");
    let dir = exported(&tmp);
    let session = include_bytes!("data/libsignal-session.json");
    std::fs::write(dir.join("session-15550001111.0.json"), session).unwrap();
    // Baileys 6 names a LID device like a phone number; the mapping below says it is a LID.
    std::fs::write(dir.join("session-200000000000002.3.json"), session).unwrap();
    std::fs::write(dir.join("session-200000000000009_1.1.json"), session).unwrap();
    std::fs::write(
        dir.join("sender-key-120363000000000001@g.us--200000000000009_1--1.json"),
        include_bytes!("data/baileys-sender-key.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("lid-mapping-15557770000.json"),
        b"\"200000000000002\"",
    )
    .unwrap();
    std::fs::write(
        dir.join("lid-mapping-200000000000002_reverse.json"),
        b"\"15557770000\"",
    )
    .unwrap();
    let mut store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let summary = store.import_baileys(&dir).unwrap();
    assert_eq!((summary.sessions, summary.sender_keys), (3, 1), "{summary}");
    let get = |store: &mut RedbStore, table: Table, key: &str| -> Option<Bytes> {
        let read = store
            .read(&[RecordRead::get(table, Bytes::from(key.to_owned()))])
            .unwrap();
        match read.into_iter().next() {
            Some(RecordData::Value(v)) => v,
            other => panic!("unexpected answer {other:?}"),
        }
    };
    for address in [
        "15550001111.0",
        "200000000000002_1.3",
        "200000000000009_1.1",
    ] {
        let bytes = get(&mut store, Table::Sessions, address)
            .unwrap_or_else(|| panic!("no session for {address}"));
        let record = SessionRecord::from_bytes(&bytes).unwrap();
        assert!(record.has_open_session(), "{address}");
        let identity = get(&mut store, Table::Identities, address).unwrap();
        assert_eq!(
            &identity[..],
            record
                .remote_identity_key()
                .unwrap()
                .public_key()
                .as_montgomery()
        );
    }
    assert_eq!(get(&mut store, Table::Sessions, "200000000000002.3"), None);
    let sender = get(
        &mut store,
        Table::SenderKeys,
        "120363000000000001@g.us|200000000000009_1.1",
    )
    .unwrap();
    SenderKeyRecord::from_bytes(&sender).unwrap();
    assert_eq!(
        get(&mut store, Table::LidMap, "pn:15557770000").as_deref(),
        Some(&b"200000000000002"[..])
    );
    assert_eq!(
        get(&mut store, Table::LidMap, "lid:200000000000002").as_deref(),
        Some(&b"15557770000"[..])
    );
    drop(store);
    // The integrity check counts and decodes them.
    let report = tether_store_redb::check(tmp.path().join("s.redb"));
    assert!(report.is_healthy(), "{report}");
    let count = |name: &str| {
        report
            .messaging
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, c)| *c)
    };
    assert_eq!(
        (
            count("sessions"),
            count("identities"),
            count("sender_keys"),
            count("lid_map")
        ),
        (3, 3, 1, 2)
    );
    // An export gives back the files Tether has not used, and leaves out one it has.
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let out = tmp.path().join("back");
    let summary = store.export_baileys(&out).unwrap();
    assert_eq!(summary.left_out, 0, "{summary}");
    assert_eq!(
        std::fs::read(out.join("session-15550001111.0.json")).unwrap(),
        session
    );
    assert!(out.join("lid-mapping-15557770000.json").exists());
    drop(store);
    // A damaged session is named by the check.
    let mut store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let seq = store.load().unwrap().unwrap().1;
    let damage = tether_core::creds::CredentialsDelta {
        changes: Vec::new(),
        records: vec![tether_core::records::RecordWrite::put(
            Table::Sessions,
            &b"15550001111.0"[..],
            &b"\x01garbage"[..],
        )],
    };
    store.apply(seq.next(), &damage).unwrap();
    drop(store);
    let report = tether_store_redb::check(tmp.path().join("s.redb"));
    assert!(!report.is_healthy());
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let summary = store.export_baileys(&tmp.path().join("back2")).unwrap();
    assert_eq!(summary.left_out, 1, "{summary}");
    assert!(!tmp.path().join("back2/session-15550001111.0.json").exists());
    assert!(
        tmp.path()
            .join("back2/session-200000000000009_1.1.json")
            .exists()
    );
    drop(store);
    let problems = report.problems().join("\n");
    assert!(problems.contains("sessions 15550001111.0"), "{problems}");
}

/// A session file libsignal could not have written is refused, naming the file.
#[test]
fn a_session_that_does_not_convert_is_named() {
    let tmp = TempDir::new("bl-badsession");
    let dir = exported(&tmp);
    std::fs::write(
        dir.join("session-15550001111.0.json"),
        br#"{"_sessions":{"BQ":{"registrationId":7}},"version":"v1"}"#,
    )
    .unwrap();
    let store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    let err = store.import_baileys(&dir).unwrap_err().to_string();
    assert!(err.contains("session-15550001111.0.json"), "{err}");
    assert!(err.contains("does not import"), "{err}");
}
