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
