//! The page-zeroing battery: a linked store with every kind of record, one 4 KiB page zeroed
//! at a time (every page of the file), and every store operation run on it.
//!
//! For each page, either the store still reads back exactly what was written (the page was
//! free, or held only an older commit), or every operation refuses it as damaged and leaves
//! the file byte for byte as it was. No operation panics, none loses data silently (no
//! rollback to an older commit passes for the store), `check` agrees with `open`, and
//! `restore` replaces the damaged store while keeping it aside unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use bytes::Bytes;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, CredentialStore, CredentialsDelta, DeviceIdentity, PersistSeq,
};
use tether_core::crypto::KeyPair;
use tether_core::records::{RecordRead, RecordWrite, Table};
use tether_store_redb::{RedbStore, RedbStoreError, check, restore};

use common::{TempDir, created};

const PAGE: usize = 4096;

/// Builds a linked store: identity, 40 pre-keys, pairing, a quarantined identity, the status
/// record, app-state keys, keyed records.
fn linked(path: &Path) {
    let mut s = RedbStore::open(path).unwrap();
    s.apply(PersistSeq(1), &created(1)).unwrap();
    s.quarantine(PersistSeq(2), "test: an old identity")
        .unwrap();
    let keys: Vec<(u32, KeyPair)> = (1..=40)
        .map(|id| (id, KeyPair::from_private_bytes([id as u8; 32])))
        .collect();
    let mut records: Vec<RecordWrite> = keys
        .iter()
        .map(|(id, key)| tether_core::records::pre_key_record(*id, key))
        .collect();
    s.apply(
        PersistSeq(1),
        &CredentialsDelta {
            changes: vec![
                CredentialChange::Created(Box::new(common::credentials(2))),
                CredentialChange::PreKeysGenerated {
                    next_pre_key_id: 41,
                },
            ],
            records: {
                records.push(RecordWrite::Put {
                    table: Table::Sessions,
                    key: Bytes::from_static(b"15550001111.0"),
                    value: real_session(),
                });
                records
            },
        },
    )
    .unwrap();
    s.apply(
        PersistSeq(2),
        &CredentialsDelta::one(CredentialChange::Paired(DeviceIdentity {
            jid: Jid::device("15551234567", 3, Server::WhatsApp),
            lid: Some(Jid::device("123456789012345", 3, Server::Lid)),
            account: Bytes::from(vec![9u8; 210]),
            platform: Some("android".into()),
            business_name: None,
        })),
    )
    .unwrap();
    s.apply(
        PersistSeq(3),
        &CredentialsDelta {
            changes: vec![
                CredentialChange::Confirmed,
                CredentialChange::AppStateSyncKeys(vec![(
                    Bytes::from_static(b"key-1"),
                    Bytes::from_static(b"data-1"),
                )]),
            ],
            records: Vec::new(),
        },
    )
    .unwrap();
    s.record_status(&tether_store_redb::StoreStatus::default())
        .unwrap();
}

/// Everything the store holds, as comparable text (public halves and counts, no secrets
/// printed on failure beyond what the test wrote).
fn contents(store: &mut RedbStore) -> Result<String, RedbStoreError> {
    let (creds, seq) = store.load_credentials()?.expect("an identity");
    let pre: Vec<String> = match store
        .read_records(&[RecordRead::Range {
            table: Table::PreKeys,
            start: Bytes::new(),
            end: Bytes::new(),
            limit: u32::MAX,
        }])?
        .pop()
    {
        Some(tether_core::records::RecordData::Rows(rows)) => rows
            .iter()
            .filter_map(|(k, v)| tether_core::records::pre_key_from_row(k, v))
            .map(|(id, k)| format!("{id}:{}", hex(&k.public_bytes())))
            .collect(),
        _ => Vec::new(),
    };
    let quarantined: Vec<String> = store
        .list_quarantined()?
        .into_iter()
        .map(|q| format!("{} {} {:?}", q.id, q.why, q.jid))
        .collect();
    let records = store.read_records(&[RecordRead::Get {
        table: Table::Sessions,
        key: Bytes::from_static(b"15550001111.0"),
    }])?;
    Ok(format!(
        "seq {seq:?} identity {} jid {:?} confirmed {} pre {pre:?} sync {} quarantined \
         {quarantined:?} status {:?} records {records:?}",
        hex(&creds.identity_key.public_bytes()),
        creds.device.as_ref().map(|d| d.jid.to_string()),
        creds.confirmed,
        creds.app_state_sync_keys.len(),
        store.status()?.to_string(),
    ))
}

/// A session record as the messaging layer writes it (the integrity check decodes sessions, so
/// a stand-in would be reported as damaged).
fn real_session() -> Bytes {
    let identity =
        tether_signal::IdentityKey::new(tether_signal::PublicKey::from_montgomery([9u8; 32]));
    let record = tether_signal::SessionRecord::from_libsignal_json(
        include_bytes!("data/libsignal-session.json"),
        &identity,
        tether_signal::RegistrationId::new(1),
    )
    .unwrap();
    Bytes::from(record.to_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_zeroed_page_is_either_harmless_or_refused_untouched_and_restore_replaces_it() {
    let tmp = TempDir::new("zero");
    let good = tmp.path().join("good.redb");
    linked(&good);
    let backup = tmp.path().join("backup.redb");
    let want = {
        let mut s = RedbStore::open_read_only(&good).unwrap();
        s.backup_to(&backup).unwrap();
        contents(&mut s).unwrap()
    };
    let original = std::fs::read(&good).unwrap();
    let pages = original.len() / PAGE;
    assert!(
        pages >= 8,
        "a store of {pages} pages is too small to mean much"
    );
    let (mut refused, mut harmless) = (Vec::new(), Vec::new());
    for page in 0..pages {
        let mut zeroed = original.clone();
        zeroed[page * PAGE..(page + 1) * PAGE].fill(0);
        if zeroed == original {
            continue;
        }
        let dir = tmp.path().join(format!("p{page}"));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("s.redb");
        std::fs::write(&path, &zeroed).unwrap();
        let unchanged = |what: &str| {
            assert!(
                std::fs::read(&path).unwrap() == zeroed,
                "page {page}: {what} changed a damaged store"
            );
        };
        let report = check(&path);
        if report.is_healthy() {
            harmless.push(page);
            // Every reader and the owner read back exactly what was written.
            let mut reader = RedbStore::open_read_only(&path)
                .unwrap_or_else(|e| panic!("page {page}: check passed but a reader fails: {e}"));
            assert_eq!(contents(&mut reader).unwrap(), want, "page {page}: reader");
            drop(reader);
            let mut owner = RedbStore::open(&path)
                .unwrap_or_else(|e| panic!("page {page}: check passed but open fails: {e}"));
            assert_eq!(contents(&mut owner).unwrap(), want, "page {page}: owner");
            continue;
        }
        refused.push(page);
        unchanged("check");
        let damaged = |what: &str, r: Result<RedbStore, RedbStoreError>| match r {
            Err(RedbStoreError::Damaged { .. }) => {}
            Err(e) => panic!("page {page}: {what} failed otherwise: {e}"),
            Ok(mut s) => panic!(
                "page {page}: check found {:?} but {what} opened it: {:?}",
                report.problems(),
                contents(&mut s).map(|c| c == want)
            ),
        };
        damaged("a reader", RedbStore::open_read_only(&path));
        unchanged("a reader");
        damaged("the owner", RedbStore::open(&path));
        unchanged("the owner");
        // Restore replaces it, and keeps the damaged file aside byte for byte.
        let outcome =
            restore(&backup, &path).unwrap_or_else(|e| panic!("page {page}: restore refused: {e}"));
        let aside = outcome.kept_aside.expect("the damaged store kept aside");
        assert!(
            std::fs::read(&aside).unwrap() == zeroed,
            "page {page}: the store kept aside is not the damaged one"
        );
        let mut back = RedbStore::open(&path).unwrap();
        assert_eq!(contents(&mut back).unwrap(), want, "page {page}: restored");
    }
    println!(
        "{pages} pages: {} refused as damaged {refused:?}, {} harmless {harmless:?}",
        refused.len(),
        harmless.len()
    );
    assert!(
        refused.len() >= pages / 3,
        "too few pages matter ({refused:?}): the battery no longer damages the store"
    );
}
