//! Opening a store: permissions, schema version, persistence across reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use redb::{Database, TableDefinition};
use tether_core::creds::{CredentialChange, CredentialStore, CredentialsDelta, PersistSeq};
use tether_store_redb::{RedbStore, RedbStoreError, SCHEMA_VERSION};

use common::{TempDir, created};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_the_directory_0700_and_the_files_0600() {
    let tmp = TempDir::new("perm");
    let path = tmp.path().join("a/b/tether.redb");
    let mut store = RedbStore::open(&path).unwrap();
    store.apply(PersistSeq(1), &created(1)).unwrap();
    assert_eq!(mode(&tmp.path().join("a")), 0o700);
    assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("a/b/tether.redb.owner")), 0o600);
}

#[test]
fn tightens_an_existing_store_readable_by_others() {
    let tmp = TempDir::new("tighten");
    let path = tmp.path().join("tether.redb");
    drop(RedbStore::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(RedbStore::open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn refuses_a_newer_schema_without_touching_the_file() {
    let tmp = TempDir::new("newer");
    let path = tmp.path().join("tether.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let meta: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", SCHEMA_VERSION + 98)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    match &err {
        RedbStoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 98, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema version {}", SCHEMA_VERSION + 98))
            && text.contains(&format!("up to version {SCHEMA_VERSION}")),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );
}

#[test]
fn reopening_keeps_credentials_and_sequence() {
    let tmp = TempDir::new("reopen");
    let path = tmp.path().join("tether.redb");
    let key = {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(3), &created(5)).unwrap();
        let delta = CredentialsDelta::one(CredentialChange::PushName("ada".into()));
        store.apply(PersistSeq(4), &delta).unwrap();
        store.load().unwrap().unwrap().0.noise_key.public_bytes()
    };
    let mut store = RedbStore::open(&path).unwrap();
    let (creds, seq) = store.load().unwrap().unwrap();
    assert_eq!(seq, PersistSeq(4));
    assert_eq!(creds.noise_key.public_bytes(), key);
    assert_eq!(creds.push_name.as_deref(), Some("ada"));
    store.apply(PersistSeq(4), &created(6)).unwrap();
    assert_eq!(
        store.load().unwrap().unwrap().0.noise_key.public_bytes(),
        key
    );
}

#[test]
fn a_change_before_created_is_refused_and_writes_nothing() {
    let tmp = TempDir::new("before");
    let mut store = RedbStore::open(tmp.path().join("tether.redb")).unwrap();
    let err = store
        .apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Confirmed),
        )
        .unwrap_err();
    assert!(err.message.contains("nothing was written"), "{err}");
    assert!(store.load().unwrap().is_none());
    store.apply(PersistSeq(1), &created(1)).unwrap();
    assert!(
        store.load().unwrap().is_some(),
        "the failed seq 1 was recorded"
    );
}

#[test]
fn restore_refuses_over_a_live_identity_and_unknown_ids() {
    let tmp = TempDir::new("restore");
    let mut store = RedbStore::open(tmp.path().join("tether.redb")).unwrap();
    store.apply(PersistSeq(1), &created(1)).unwrap();
    store.quarantine(PersistSeq(2), "logged out").unwrap();
    store.apply(PersistSeq(1), &created(2)).unwrap();
    let id = store.list_quarantined().unwrap()[0].id;
    assert!(matches!(
        store.restore_quarantined(id),
        Err(RedbStoreError::RestoreOverLive { .. })
    ));
    store.quarantine(PersistSeq(2), "second").unwrap();
    assert!(matches!(
        store.restore_quarantined(999),
        Err(RedbStoreError::NoSuchQuarantine { id: 999 })
    ));
    assert_eq!(store.list_quarantined().unwrap().len(), 2);
}

#[test]
fn swap_rolls_back_a_relink_in_one_step_and_an_unknown_id_changes_nothing() {
    let tmp = TempDir::new("swap");
    let mut store = RedbStore::open(tmp.path().join("tether.redb")).unwrap();
    store.apply(PersistSeq(1), &created(1)).unwrap();
    let old = store.load().unwrap().unwrap().0.noise_key.public_bytes();
    store.quarantine(PersistSeq(2), "tether relink").unwrap();
    store.apply(PersistSeq(1), &created(2)).unwrap();
    let new = store.load().unwrap().unwrap().0.noise_key.public_bytes();
    assert_ne!(old, new);
    let id = store.list_quarantined().unwrap()[0].id;

    assert!(matches!(
        store.swap_quarantined(999, "swap"),
        Err(RedbStoreError::NoSuchQuarantine { id: 999 })
    ));
    assert_eq!(
        store.load().unwrap().unwrap().0.noise_key.public_bytes(),
        new
    );
    assert_eq!(store.list_quarantined().unwrap().len(), 1);

    let set_aside = store.swap_quarantined(id, "rolled back").unwrap();
    let (creds, seq) = store.load().unwrap().unwrap();
    assert_eq!(creds.noise_key.public_bytes(), old);
    assert_eq!(
        seq,
        PersistSeq(2),
        "the restored identity keeps its sequence"
    );
    let listed = store.list_quarantined().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].why, "rolled back");
    assert_eq!(Some(listed[0].id), set_aside);
    assert_ne!(listed[0].id, id);

    // And back again; an empty store swaps like a plain restore.
    store.swap_quarantined(listed[0].id, "again").unwrap();
    assert_eq!(
        store.load().unwrap().unwrap().0.noise_key.public_bytes(),
        new
    );
    store.quarantine(PersistSeq(5), "emptied").unwrap();
    let first = store.list_quarantined().unwrap()[0].id;
    assert_eq!(store.swap_quarantined(first, "swap").unwrap(), None);
    assert_eq!(store.list_quarantined().unwrap().len(), 1);
    assert_eq!(
        store.load().unwrap().unwrap().0.noise_key.public_bytes(),
        old
    );
}

#[test]
fn an_empty_file_left_by_an_interrupted_first_open_is_initialised() {
    let tmp = TempDir::new("empty");
    let path = tmp.path().join("tether.redb");
    std::fs::write(&path, b"").unwrap();
    assert!(tether_store_redb::check(&path).is_healthy());
    let mut store = RedbStore::open(&path).unwrap();
    assert!(store.load().unwrap().is_none());
    store.apply(PersistSeq(1), &created(1)).unwrap();
    drop(store);
    assert_eq!(mode(&path), 0o600);
    let report = tether_store_redb::check(&path);
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.schema_version, Some(SCHEMA_VERSION));
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".init-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
