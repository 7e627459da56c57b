//! Online backup, restore, the integrity check and the status record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use redb::{Database, ReadableDatabase, TableDefinition};
use tether_core::creds::{CredentialChange, CredentialStore, CredentialsDelta, PersistSeq};
use tether_store_redb::{
    LastDisconnect, RedbStore, RedbStoreError, SCHEMA_VERSION, StoreStatus, check, restore,
};

use common::{TempDir, created};

fn push_name(name: &str) -> CredentialsDelta {
    CredentialsDelta::one(CredentialChange::PushName(name.into()))
}

fn status() -> StoreStatus {
    StoreStatus {
        last_connected_unix: Some(1_764_000_000),
        last_disconnect: Some(LastDisconnect {
            at_unix: 1_764_000_100,
            code: Some(428),
            reason: "connection closed".into(),
            detail: Some("127.0.0.1:9 refused the connection".into()),
        }),
        connects: 2,
        reconnects: 5,
        clock_skew_ms: Some(250),
        banned_until_unix: Some(1_764_003_600),
    }
}

#[test]
fn backup_while_the_owner_runs_holds_exactly_the_committed_changes() {
    let tmp = TempDir::new("backup");
    let path = tmp.path().join("tether.redb");
    let mut store = RedbStore::open(&path).unwrap();
    store.apply(PersistSeq(1), &created(1)).unwrap();
    store.apply(PersistSeq(2), &push_name("before")).unwrap();
    store.record_status(&status()).unwrap();
    let dest = tmp.path().join("backups/b1.redb");
    store.backup_to(&dest).unwrap();
    // The owner keeps writing; the backup does not change.
    store.apply(PersistSeq(3), &push_name("after")).unwrap();
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let report = check(&dest);
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.last_seq, Some(2));
    assert_eq!(report.status, Some(status()));
    let again = store.backup_to(&dest).unwrap_err();
    assert!(
        matches!(again, RedbStoreError::BackupExists { .. }),
        "{again}"
    );
    drop(store);
    let backup = RedbStore::open(&dest).unwrap();
    let (creds, seq) = backup.load_credentials().unwrap().unwrap();
    assert_eq!(seq, PersistSeq(2));
    assert_eq!(creds.push_name.as_deref(), Some("before"));
}

#[test]
fn restore_keeps_the_replaced_store_aside_and_is_refused_while_owned() {
    let tmp = TempDir::new("restore");
    let path = tmp.path().join("tether.redb");
    let dest = tmp.path().join("b.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(1), &created(1)).unwrap();
        store.apply(PersistSeq(2), &push_name("old")).unwrap();
        store.backup_to(&dest).unwrap();
        store.apply(PersistSeq(3), &push_name("new")).unwrap();
        let err = restore(&dest, &path).unwrap_err();
        assert!(matches!(err, RedbStoreError::InUse { .. }), "{err}");
    }
    let outcome = restore(&dest, &path).unwrap();
    let aside = outcome.kept_aside.unwrap();
    assert!(
        aside.to_string_lossy().contains("before-restore-"),
        "{aside:?}"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let restored = RedbStore::open(&path).unwrap();
    let (creds, seq) = restored.load_credentials().unwrap().unwrap();
    assert_eq!(
        (seq, creds.push_name.as_deref()),
        (PersistSeq(2), Some("old"))
    );
    drop(restored);
    let old = RedbStore::open(&aside).unwrap();
    let (creds, seq) = old.load_credentials().unwrap().unwrap();
    assert_eq!(
        (seq, creds.push_name.as_deref()),
        (PersistSeq(3), Some("new"))
    );
}

#[test]
fn restore_refuses_a_damaged_backup_and_changes_nothing() {
    let tmp = TempDir::new("damaged");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(1), &created(1)).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let bogus = tmp.path().join("bogus.redb");
    std::fs::write(&bogus, b"not a store at all, just text").unwrap();
    let err = restore(&bogus, &path).unwrap_err();
    assert!(matches!(err, RedbStoreError::NotABackup { .. }), "{err}");
    assert!(err.to_string().contains("bogus.redb"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let missing = restore(&tmp.path().join("nope.redb"), &path).unwrap_err();
    assert!(missing.to_string().contains("no store here"), "{missing}");
}

#[test]
fn check_reports_identity_counts_and_status_without_ownership() {
    let tmp = TempDir::new("check");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        let report = check(&path);
        assert!(report.owner.is_some(), "{report}");
        assert!(report.to_string().contains("control socket"), "{report}");
        store.apply(PersistSeq(1), &created(1)).unwrap();
        store.record_status(&status()).unwrap();
        assert_eq!(store.status().unwrap(), status());
        store.quarantine(PersistSeq(2), "logged out").unwrap();
        store.apply(PersistSeq(1), &created(2)).unwrap();
    }
    let report = check(&path);
    assert!(report.is_healthy(), "{report}");
    assert!(report.owner.is_none());
    assert_eq!(report.schema_version, Some(SCHEMA_VERSION));
    assert!(!report.paired);
    assert_eq!(report.quarantined, 1);
    assert_eq!(report.status, Some(status()));
    let text = report.to_string();
    assert!(
        text.contains("✔ status: last connected 2025-11-24"),
        "{text}"
    );
    assert!(text.contains("428 connection closed"), "{text}");
    // Checking never took the lock: the store opens right after.
    drop(RedbStore::open(&path).unwrap());
}

#[test]
fn check_names_a_credentials_record_that_fails_to_decode() {
    let tmp = TempDir::new("corrupt");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(1), &created(1)).unwrap();
    }
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let device: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("device");
        txn.open_table(device)
            .unwrap()
            .insert("current", &[0xffu8, 0xff, 0x01][..])
            .unwrap();
        txn.commit().unwrap();
    }
    let report = check(&path);
    assert!(!report.is_healthy());
    let problems = report.problems().join("\n");
    assert!(
        problems.contains("credentials record: fails to decode"),
        "{problems}"
    );
    assert!(
        report.to_string().contains("✘ credentials record"),
        "{report}"
    );
}

#[test]
fn check_refuses_to_read_a_newer_schema_and_says_so() {
    let tmp = TempDir::new("newer");
    let path = tmp.path().join("tether.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let meta: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let report = check(&path);
    assert!(
        report.problems()[0].contains("unknown schema version"),
        "{report}"
    );
}

#[test]
fn a_schema_1_store_is_migrated_and_keeps_its_identity() {
    let tmp = TempDir::new("migrate");
    let path = tmp.path().join("tether.redb");
    let key = {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(4), &created(3)).unwrap();
        store.load().unwrap().unwrap().0.noise_key.public_bytes()
    };
    // Turn it back into what schema 1 wrote: no status/extra tables, version 1.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        for name in ["status", "extra"] {
            let def: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(name);
            assert!(txn.delete_table(def).unwrap(), "{name}");
        }
        let def: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("extra_keys");
        assert!(txn.delete_table(def).unwrap());
        for name in [
            "quarantine_signal_sessions",
            "quarantine_signal_identities",
            "quarantine_sender_keys",
            "quarantine_extra",
        ] {
            let def: TableDefinition<'_, (u64, &str), &[u8]> = TableDefinition::new(name);
            assert!(txn.delete_table(def).unwrap(), "{name}");
        }
        let def: TableDefinition<'_, (u64, &str, &str), &[u8]> =
            TableDefinition::new("quarantine_extra_keys");
        assert!(txn.delete_table(def).unwrap());
        let meta: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let report = check(&path);
    assert!(report.is_healthy(), "{report}");
    assert!(
        report.to_string().contains("migrates it to version"),
        "{report}"
    );
    let mut store = RedbStore::open(&path).unwrap();
    let (creds, seq) = store.load().unwrap().unwrap();
    assert_eq!((seq, creds.noise_key.public_bytes()), (PersistSeq(4), key));
    store.record_status(&status()).unwrap();
    store.quarantine(PersistSeq(5), "after migration").unwrap();
    drop(store);
    assert_eq!(check(&path).schema_version, Some(SCHEMA_VERSION));
}

#[test]
fn check_reads_a_store_whose_owner_was_killed() {
    let tmp = TempDir::new("killed");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(1), &created(1)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether-store-hold"))
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready"), "{line}");
    let held = check(&path);
    assert!(held.owner.is_some(), "{held}");
    assert!(held.paired || held.last_seq == Some(1), "{held}");
    child.kill().unwrap();
    child.wait().unwrap();
    let report = check(&path);
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.last_seq, Some(1));
}

#[test]
fn check_names_a_bad_signature_and_pre_keys_above_the_watermark() {
    use tether_core::crypto::KeyPair;
    let tmp = TempDir::new("marks");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        let created = created(1);
        let CredentialChange::Created(creds) = &created.changes[0] else {
            unreachable!()
        };
        let mut creds = creds.clone();
        creds.signed_pre_key.signature[0] ^= 1;
        let delta = CredentialsDelta {
            changes: vec![
                CredentialChange::Created(creds),
                CredentialChange::PreKeysGenerated { next_pre_key_id: 1 },
            ],
            records: vec![tether_core::records::pre_key_record(
                50,
                &KeyPair::from_private_bytes([5; 32]),
            )],
        };
        store.apply(PersistSeq(1), &delta).unwrap();
    }
    let report = check(&path);
    let problems = report.problems().join("\n");
    assert!(
        problems.contains("signed pre-key: its signature does not verify"),
        "{problems}"
    );
    assert!(
        problems.contains("pre-key id(s) [50] at or above"),
        "{problems}"
    );
    assert_eq!(report.counts.pre_keys, 1);
}

#[test]
fn check_names_quarantined_keys_that_belong_to_no_quarantined_identity() {
    let tmp = TempDir::new("orphans");
    let path = tmp.path().join("tether.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(PersistSeq(1), &created(1)).unwrap();
        store.quarantine(PersistSeq(2), "kept").unwrap();
    }
    assert!(check(&path).is_healthy());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let def: TableDefinition<'_, (u64, u32), &[u8]> =
            TableDefinition::new("quarantine_pre_keys");
        txn.open_table(def)
            .unwrap()
            .insert((99, 1), &[1u8; 32][..])
            .unwrap();
        txn.commit().unwrap();
    }
    let report = check(&path);
    let problems = report.problems().join("\n");
    assert!(
        problems.contains("1 quarantined key row(s) belong to no quarantined identity"),
        "{problems}"
    );
    assert_eq!(report.quarantined, 1);
}

#[test]
fn a_schema_3_store_moves_its_pre_keys_into_the_records() {
    let tmp = TempDir::new("migrate-pre-keys");
    let path = tmp.path().join("tether.redb");
    let kept = {
        let store = RedbStore::open(&path).unwrap();
        let next = |next_pre_key_id| {
            CredentialsDelta::one(CredentialChange::PreKeysGenerated { next_pre_key_id })
        };
        store.apply_delta(PersistSeq(1), &created(4)).unwrap();
        store.apply_delta(PersistSeq(2), &next(10)).unwrap();
        let kept = store.quarantine_identity(PersistSeq(3), "old").unwrap();
        store.apply_delta(PersistSeq(4), &created(5)).unwrap();
        store.apply_delta(PersistSeq(5), &next(10)).unwrap();
        kept.unwrap()
    };
    // What schema 3 wrote: pre-keys in their own tables, live and quarantined.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let live: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("pre_keys");
        let mut t = txn.open_table(live).unwrap();
        t.insert(1, &[1u8; 32][..]).unwrap();
        t.insert(2, &[2u8; 32][..]).unwrap();
        drop(t);
        let aside: TableDefinition<'_, (u64, u32), &[u8]> =
            TableDefinition::new("quarantine_pre_keys");
        txn.open_table(aside)
            .unwrap()
            .insert((kept, 7), &[7u8; 32][..])
            .unwrap();
        let meta: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", 3)
            .unwrap();
        txn.commit().unwrap();
    }
    let report = check(&path);
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.counts.pre_keys, 2, "the check counts the old table");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(common::pre_key_ids(&store), vec![1, 2]);
    store.quarantine_identity(PersistSeq(6), "new").unwrap();
    store.restore_quarantined(kept).unwrap();
    assert_eq!(
        common::pre_key_ids(&store),
        vec![7],
        "the quarantined identity's pre-key came back with it"
    );
    drop(store);
    let report = check(&path);
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.schema_version, Some(SCHEMA_VERSION));
    assert_eq!(report.counts.pre_keys, 1);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let live: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("pre_keys");
    assert!(txn.open_table(live).is_err(), "the old table is gone");
}
