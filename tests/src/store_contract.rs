//! The credential-store contract (`DESIGN.md` §5), as checks every store must pass.
//!
//! Each `check_*` function takes a [`ContractStore`] harness around an empty store and panics
//! on a breach. `tests/tests/store_contract.rs` runs all of them ([`run_all`]) against
//! `MemStore` (tether-sim) and `RedbStore` (tether-store-redb), so the two cannot drift apart.
//!
//! What "right" means is always [`Credentials::apply`]: the checks keep a model
//! `Option<Credentials>` updated by it and compare every loaded state with the model field by
//! field ([`assert_same_credentials`]; `Credentials` has no `PartialEq` on purpose).

use bytes::Bytes;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, DeviceIdentity, PersistSeq,
    Secret32,
};
use tether_core::crypto::KeyPair;
use tether_core::payload::AppVersion;
use tether_core::records::{self, RecordData, RecordRead, RecordWrite, Table};

/// A store under test plus the operations outside the core trait.
pub trait ContractStore {
    /// The store, through the core's trait.
    fn store(&mut self) -> &mut dyn CredentialStore;
    /// The reasons of the quarantined identities, oldest first.
    fn quarantined(&mut self) -> Vec<String>;
    /// Restores the quarantined identity at `index` (oldest first).
    fn restore(&mut self, index: usize) -> Result<(), String>;
    /// Closes and reopens the store (a no-op for a store without a disk).
    fn reopen(&mut self);
}

/// Runs every check, each on a fresh store from `fresh`.
pub fn run_all<H: ContractStore>(mut fresh: impl FnMut() -> H) {
    check_empty_store_loads_none(&mut fresh());
    check_loads_what_credentials_apply_computes(&mut fresh());
    check_created_replaces_every_family(&mut fresh());
    check_replayed_seq_is_a_no_op(&mut fresh());
    check_seq_must_increase(&mut fresh());
    check_failed_apply_changes_nothing(&mut fresh());
    check_quarantine_empties_lists_and_restores(&mut fresh());
    check_reopen_keeps_everything(&mut fresh());
    check_records_read_what_was_written(&mut fresh());
    check_records_follow_the_delta_rules(&mut fresh());
    check_records_move_with_the_identity(&mut fresh());
    check_pre_keys_are_records_of_the_identity(&mut fresh());
}

/// Deterministic credentials: the core's own generator on a seeded stream.
pub fn credentials(seed: u8) -> Credentials {
    use rand_chacha::rand_core::SeedableRng as _;
    Credentials::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(
        seed,
    )))
}

/// A delta creating [`credentials`]`(seed)`.
pub fn created(seed: u8) -> CredentialsDelta {
    CredentialsDelta::one(CredentialChange::Created(Box::new(credentials(seed))))
}

/// A life of deltas touching every field and family: pairing, confirmation, LID, routing,
/// version, push name, ADV secret, pre-key generation/upload/consumption, app-state keys.
pub fn life() -> Vec<CredentialsDelta> {
    let device = DeviceIdentity {
        jid: Jid::device("15551234567", 12, Server::WhatsApp),
        lid: None,
        account: Bytes::from_static(b"signed device identity"),
        platform: Some("android".into()),
        business_name: Some("Shop".into()),
    };
    let pre_keys = |from: u32, to: u32| -> Vec<RecordWrite> {
        (from..to)
            .map(|id| records::pre_key_record(id, &life_pre_key(id)))
            .collect()
    };
    vec![
        CredentialsDelta {
            changes: vec![
                CredentialChange::Created(Box::new(credentials(9))),
                CredentialChange::PreKeysGenerated {
                    next_pre_key_id: 31,
                },
            ],
            records: pre_keys(1, 31),
        },
        CredentialsDelta::one(CredentialChange::PreKeysUploaded {
            first_unuploaded_pre_key_id: 31,
        }),
        CredentialsDelta::one(CredentialChange::Paired(device)),
        CredentialsDelta::changes(vec![
            CredentialChange::Confirmed,
            CredentialChange::Lid(Jid::device("123456789012345", 12, Server::Lid)),
            CredentialChange::RoutingInfo(Bytes::from_static(&[8, 2, 8, 5])),
            CredentialChange::Version(AppVersion::new(2, 3000, 1_023_456_789)),
            CredentialChange::PushName("Ada".into()),
        ]),
        CredentialsDelta {
            changes: vec![
                CredentialChange::AppStateSyncKeys(vec![
                    (Bytes::from_static(b"key-1"), Bytes::from_static(b"data-1")),
                    (Bytes::from_static(b"key-2"), Bytes::from_static(b"data-2")),
                ]),
                CredentialChange::AppStateVersion {
                    name: "regular_high".into(),
                    state: Bytes::from_static(b"v1"),
                },
            ],
            // Two one-time pre-keys consumed by peers' first messages.
            records: [7, 8]
                .into_iter()
                .map(|id| RecordWrite::delete(Table::PreKeys, records::pre_key_key(id)))
                .collect(),
        },
        CredentialsDelta {
            changes: vec![
                CredentialChange::AdvSecret(Secret32::new([0xad; 32])),
                CredentialChange::AppStateSyncKeys(vec![(
                    Bytes::from_static(b"key-1"),
                    Bytes::from_static(b"data-1b"),
                )]),
                CredentialChange::AppStateVersion {
                    name: "regular_high".into(),
                    state: Bytes::from_static(b"v2"),
                },
                CredentialChange::PreKeysGenerated {
                    next_pre_key_id: 41,
                },
                CredentialChange::RoutingInfo(Bytes::from_static(&[8, 3])),
            ],
            records: pre_keys(31, 41),
        },
    ]
}

/// One-time pre-key `id` of [`life`].
fn life_pre_key(id: u32) -> KeyPair {
    KeyPair::from_private_bytes([(id % 251) as u8 + 4; 32])
}

/// The one-time pre-keys the store holds, by id (records of [`Table::PreKeys`]).
fn stored_pre_keys(h: &mut impl ContractStore) -> Vec<(u32, KeyPair)> {
    let read = RecordRead::Range {
        table: Table::PreKeys,
        start: Bytes::new(),
        end: Bytes::new(),
        limit: u32::MAX,
    };
    match h.store().read(&[read]) {
        Ok(mut data) => match data.pop() {
            Some(RecordData::Rows(rows)) => rows
                .iter()
                .map(|(k, v)| match records::pre_key_from_row(k, v) {
                    Some(key) => key,
                    None => panic!("a stored pre-key does not decode"),
                })
                .collect(),
            other => panic!("a range read answered {other:?}"),
        },
        Err(e) => panic!("reading the pre-keys failed: {e}"),
    }
}

/// Panics unless `a` and `b` agree on every field and family.
pub fn assert_same_credentials(a: &Credentials, b: &Credentials, context: &str) {
    assert_eq!(
        a.noise_key.public_bytes(),
        b.noise_key.public_bytes(),
        "{context}: noise key"
    );
    assert_eq!(a.noise_key, b.noise_key, "{context}: noise private key");
    assert_eq!(a.identity_key, b.identity_key, "{context}: identity key");
    assert_eq!(
        a.signed_pre_key.id, b.signed_pre_key.id,
        "{context}: spk id"
    );
    assert_eq!(
        a.signed_pre_key.key_pair, b.signed_pre_key.key_pair,
        "{context}: spk"
    );
    assert_eq!(
        a.signed_pre_key.signature, b.signed_pre_key.signature,
        "{context}: spk sig"
    );
    assert_eq!(
        a.registration_id, b.registration_id,
        "{context}: registration id"
    );
    assert_eq!(a.adv_secret, b.adv_secret, "{context}: adv secret");
    assert_eq!(a.device, b.device, "{context}: device identity");
    assert_eq!(a.confirmed, b.confirmed, "{context}: confirmed");
    assert_eq!(a.push_name, b.push_name, "{context}: push name");
    assert_eq!(a.routing_info, b.routing_info, "{context}: routing info");
    assert_eq!(a.version, b.version, "{context}: version");
    assert_eq!(
        a.next_pre_key_id, b.next_pre_key_id,
        "{context}: next pre-key id"
    );
    assert_eq!(
        a.first_unuploaded_pre_key_id, b.first_unuploaded_pre_key_id,
        "{context}: first un-uploaded pre-key id"
    );
    assert_eq!(
        a.app_state_sync_keys, b.app_state_sync_keys,
        "{context}: sync keys"
    );
    assert_eq!(
        a.app_state_versions, b.app_state_versions,
        "{context}: versions"
    );
}

fn load(h: &mut impl ContractStore) -> Option<(Credentials, PersistSeq)> {
    match h.store().load() {
        Ok(loaded) => loaded,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn apply(h: &mut impl ContractStore, seq: u64, delta: &CredentialsDelta) {
    if let Err(e) = h.store().apply(PersistSeq(seq), delta) {
        panic!("apply {seq} failed: {e}");
    }
}

fn quarantine(h: &mut impl ContractStore, seq: u64, why: &str) {
    if let Err(e) = h.store().quarantine(PersistSeq(seq), why) {
        panic!("quarantine {seq} failed: {e}");
    }
}

fn expect_state(h: &mut impl ContractStore, model: &Credentials, seq: u64, context: &str) {
    let Some((loaded, at)) = load(h) else {
        panic!("{context}: the store is empty");
    };
    assert_eq!(at, PersistSeq(seq), "{context}: sequence");
    assert_same_credentials(&loaded, model, context);
}

/// A new store holds nothing.
pub fn check_empty_store_loads_none(h: &mut impl ContractStore) {
    assert!(load(h).is_none(), "a new store is not empty");
    assert!(
        h.quarantined().is_empty(),
        "a new store has quarantined identities"
    );
}

/// After every delta, `load` returns exactly what `Credentials::apply` computes.
pub fn check_loads_what_credentials_apply_computes(h: &mut impl ContractStore) {
    let mut model = None;
    for (i, delta) in life().iter().enumerate() {
        let seq = i as u64 * 2 + 1; // gaps are allowed: only "strictly increasing" matters
        apply(h, seq, delta);
        if let Err(e) = Credentials::apply(&mut model, delta) {
            panic!("the model refused delta {i}: {e}");
        }
        let Some(m) = model.as_ref() else {
            panic!("no model after delta {i}")
        };
        expect_state(h, m, seq, &format!("after delta {i}"));
    }
}

/// `Created` over a full identity replaces it entirely: no key of the old one survives.
pub fn check_created_replaces_every_family(h: &mut impl ContractStore) {
    for (i, delta) in life().iter().enumerate() {
        apply(h, i as u64 + 1, delta);
    }
    let next = life().len() as u64 + 1;
    apply(h, next, &created(2));
    expect_state(h, &credentials(2), next, "after a second Created");
    h.reopen();
    expect_state(
        h,
        &credentials(2),
        next,
        "after a second Created and reopen",
    );
}

/// Applying an already applied `seq` again changes nothing and succeeds.
pub fn check_replayed_seq_is_a_no_op(h: &mut impl ContractStore) {
    apply(h, 1, &created(1));
    apply(
        h,
        2,
        &CredentialsDelta::one(CredentialChange::PushName("first".into())),
    );
    apply(
        h,
        2,
        &CredentialsDelta::one(CredentialChange::PushName("replay".into())),
    );
    apply(h, 1, &created(2));
    let mut model = credentials(1);
    model.push_name = Some("first".into());
    expect_state(h, &model, 2, "after replays");
}

/// A lower `seq` than the last applied one is ignored; the next higher one applies.
pub fn check_seq_must_increase(h: &mut impl ContractStore) {
    apply(h, 10, &created(3));
    apply(h, 4, &CredentialsDelta::one(CredentialChange::Confirmed));
    apply(h, 10, &CredentialsDelta::one(CredentialChange::Confirmed));
    expect_state(h, &credentials(3), 10, "after stale seqs");
    apply(
        h,
        11,
        &CredentialsDelta::one(CredentialChange::PushName("n".into())),
    );
    let mut model = credentials(3);
    model.push_name = Some("n".into());
    expect_state(h, &model, 11, "after seq 11");
}

/// A delta that cannot be applied fails, changes nothing and does not consume its `seq`.
pub fn check_failed_apply_changes_nothing(h: &mut impl ContractStore) {
    let refused = h.store().apply(
        PersistSeq(1),
        &CredentialsDelta::one(CredentialChange::Confirmed),
    );
    assert!(refused.is_err(), "a change before Created was accepted");
    assert!(load(h).is_none(), "a refused delta left credentials");
    apply(h, 1, &created(4));
    expect_state(h, &credentials(4), 1, "seq 1 after a refused seq 1");
}

/// Quarantine empties the store and restarts the sequence; the identity is kept, listed and
/// restorable with the sequence of its quarantine.
pub fn check_quarantine_empties_lists_and_restores(h: &mut impl ContractStore) {
    let mut first = None;
    for (i, delta) in life().iter().enumerate() {
        apply(h, i as u64 + 1, delta);
        let _ = Credentials::apply(&mut first, delta);
    }
    let Some(first) = first else {
        panic!("no model")
    };
    quarantine(h, 7, "logged out");
    assert!(load(h).is_none(), "quarantine left the identity live");
    assert_eq!(h.quarantined(), vec!["logged out".to_owned()]);
    quarantine(h, 7, "replayed quarantine");
    assert_eq!(
        h.quarantined().len(),
        1,
        "an empty store's quarantine moved something"
    );
    // The sequence restarted: fresh credentials at seq 1 are applied, not taken for a replay.
    apply(h, 1, &created(5));
    expect_state(h, &credentials(5), 1, "fresh identity after quarantine");
    assert!(h.restore(0).is_err(), "a restore overwrote a live identity");
    quarantine(h, 2, "second");
    assert_eq!(
        h.quarantined(),
        vec!["logged out".to_owned(), "second".into()]
    );
    assert!(
        h.restore(5).is_err(),
        "restored a quarantine that does not exist"
    );
    if let Err(e) = h.restore(0) {
        panic!("restore failed: {e}");
    }
    expect_state(h, &first, 7, "restored identity");
    assert_eq!(h.quarantined(), vec!["second".to_owned()]);
    apply(
        h,
        8,
        &CredentialsDelta::one(CredentialChange::PushName("back".into())),
    );
    let mut model = first;
    model.push_name = Some("back".into());
    expect_state(h, &model, 8, "change after restore");
}

/// Everything survives closing and reopening the store.
pub fn check_reopen_keeps_everything(h: &mut impl ContractStore) {
    apply(h, 1, &created(6));
    quarantine(h, 2, "kept");
    let mut model = None;
    for (i, delta) in life().iter().enumerate() {
        apply(h, i as u64 + 1, delta);
        let _ = Credentials::apply(&mut model, delta);
    }
    let Some(model) = model else {
        panic!("no model")
    };
    let last = life().len() as u64;
    h.reopen();
    expect_state(h, &model, last, "after reopen");
    assert_eq!(h.quarantined(), vec!["kept".to_owned()]);
    apply(h, last, &created(7));
    expect_state(h, &model, last, "replay after reopen");
    h.reopen();
    if let Err(e) = h.store().quarantine(PersistSeq(last + 1), "again") {
        panic!("{e}");
    }
    if let Err(e) = h.restore(0) {
        panic!("{e}");
    }
    h.reopen();
    expect_state(
        h,
        &credentials(6),
        2,
        "the first identity, restored after reopen",
    );
}

fn records(writes: Vec<RecordWrite>) -> CredentialsDelta {
    CredentialsDelta {
        changes: Vec::new(),
        records: writes,
    }
}

fn read(h: &mut impl ContractStore, reads: &[RecordRead]) -> Vec<RecordData> {
    match h.store().read(reads) {
        Ok(data) => {
            assert_eq!(data.len(), reads.len(), "one answer per read");
            data
        }
        Err(e) => panic!("read failed: {e}"),
    }
}

fn value(h: &mut impl ContractStore, table: Table, key: &'static [u8]) -> Option<Bytes> {
    match read(h, &[RecordRead::get(table, key)]).pop() {
        Some(RecordData::Value(v)) => v,
        other => panic!("a get answered {other:?}"),
    }
}

fn keys(h: &mut impl ContractStore, read_one: RecordRead) -> Vec<Bytes> {
    match read(h, &[read_one]).pop() {
        Some(RecordData::Rows(rows)) => rows.into_iter().map(|(k, _)| k).collect(),
        other => panic!("a range answered {other:?}"),
    }
}

/// Puts, deletes, point reads and ranges (byte order, limits, bounds, one table only).
pub fn check_records_read_what_was_written(h: &mut impl ContractStore) {
    apply(h, 1, &created(8));
    assert_eq!(
        value(h, Table::Sessions, b"a.1"),
        None,
        "a new store has records"
    );
    let mut delta = records(vec![
        RecordWrite::put(Table::Sessions, &b"a.1"[..], &b"s1"[..]),
        RecordWrite::put(Table::Sessions, &b"a.2"[..], &b"s2"[..]),
        RecordWrite::put(Table::Sessions, &b"b.0"[..], &b"s3"[..]),
        RecordWrite::put(Table::Identities, &b"a.1"[..], &b"i1"[..]),
        RecordWrite::put(Table::Inbox, vec![0, 0, 0, 2], &b"m2"[..]),
        RecordWrite::put(Table::Inbox, vec![0, 0, 0, 1], &b"m1"[..]),
        RecordWrite::put(Table::Inbox, vec![0, 0, 1, 0], &b"m256"[..]),
        RecordWrite::put(Table::Meta, &b"k"[..], &b"old"[..]),
        RecordWrite::put(Table::Meta, &b"k"[..], &b"new"[..]),
    ]);
    delta
        .changes
        .push(CredentialChange::PushName("records".into()));
    apply(h, 2, &delta);
    assert_eq!(value(h, Table::Sessions, b"a.2"), Some(Bytes::from("s2")));
    assert_eq!(value(h, Table::Identities, b"a.1"), Some(Bytes::from("i1")));
    assert_eq!(
        value(h, Table::Identities, b"a.2"),
        None,
        "tables are separate"
    );
    assert_eq!(
        value(h, Table::Meta, b"k"),
        Some(Bytes::from("new")),
        "last put wins"
    );
    let mut model = credentials(8);
    model.push_name = Some("records".into());
    expect_state(h, &model, 2, "credentials beside records");
    assert_eq!(
        keys(h, RecordRead::prefix(Table::Sessions, &b"a."[..], 100)),
        vec![Bytes::from("a.1"), Bytes::from("a.2")]
    );
    assert_eq!(
        keys(h, RecordRead::prefix(Table::Sessions, Bytes::new(), 100)).len(),
        3,
        "a whole table, and nothing of the next one"
    );
    assert_eq!(
        keys(h, RecordRead::prefix(Table::Inbox, Bytes::new(), 2)),
        vec![Bytes::from(vec![0, 0, 0, 1]), Bytes::from(vec![0, 0, 0, 2])],
        "byte order and the limit"
    );
    let bounded = RecordRead::Range {
        table: Table::Inbox,
        start: Bytes::from(vec![0, 0, 0, 2]),
        end: Bytes::from(vec![0, 0, 1, 0]),
        limit: 10,
    };
    assert_eq!(
        keys(h, bounded),
        vec![Bytes::from(vec![0, 0, 0, 2])],
        "the end is exclusive"
    );
    apply(
        h,
        3,
        &records(vec![
            RecordWrite::delete(Table::Sessions, &b"a.1"[..]),
            RecordWrite::delete(Table::Sessions, &b"never"[..]),
        ]),
    );
    assert_eq!(value(h, Table::Sessions, b"a.1"), None);
    assert_eq!(value(h, Table::Sessions, b"a.2"), Some(Bytes::from("s2")));
    h.reopen();
    assert_eq!(
        value(h, Table::Sessions, b"a.2"),
        Some(Bytes::from("s2")),
        "after reopen"
    );
    assert_eq!(
        keys(h, RecordRead::prefix(Table::Inbox, Bytes::new(), 10)).len(),
        3
    );
}

/// Record writes share the delta's fate: a replayed `seq` writes nothing, a refused delta
/// writes nothing, and a `Created` starts without the old identity's records.
pub fn check_records_follow_the_delta_rules(h: &mut impl ContractStore) {
    let refused = h.store().apply(
        PersistSeq(1),
        &CredentialsDelta {
            changes: vec![CredentialChange::Confirmed],
            records: vec![RecordWrite::put(Table::Meta, &b"x"[..], &b"1"[..])],
        },
    );
    assert!(refused.is_err(), "a change before Created was accepted");
    assert_eq!(
        value(h, Table::Meta, b"x"),
        None,
        "a refused delta wrote a record"
    );
    apply(h, 1, &created(9));
    apply(
        h,
        2,
        &records(vec![RecordWrite::put(Table::Meta, &b"x"[..], &b"2"[..])]),
    );
    apply(
        h,
        2,
        &records(vec![RecordWrite::put(
            Table::Meta,
            &b"x"[..],
            &b"replay"[..],
        )]),
    );
    assert_eq!(
        value(h, Table::Meta, b"x"),
        Some(Bytes::from("2")),
        "a replay wrote"
    );
    apply(h, 3, &created(10));
    assert_eq!(
        value(h, Table::Meta, b"x"),
        None,
        "a fresh identity kept the old one's records"
    );
}

/// Quarantine moves the records aside with the identity; restore brings them back.
pub fn check_records_move_with_the_identity(h: &mut impl ContractStore) {
    apply(h, 1, &created(11));
    apply(
        h,
        2,
        &records(vec![
            RecordWrite::put(Table::Sessions, &b"a.1"[..], &b"s"[..]),
            RecordWrite::put(Table::Inbox, vec![0, 0, 0, 1], &b"m"[..]),
        ]),
    );
    quarantine(h, 3, "moved");
    assert_eq!(
        value(h, Table::Sessions, b"a.1"),
        None,
        "quarantine left records live"
    );
    apply(h, 1, &created(12));
    apply(
        h,
        2,
        &records(vec![RecordWrite::put(
            Table::Sessions,
            &b"b.1"[..],
            &b"t"[..],
        )]),
    );
    quarantine(h, 3, "second");
    if let Err(e) = h.restore(0) {
        panic!("restore failed: {e}");
    }
    assert_eq!(value(h, Table::Sessions, b"a.1"), Some(Bytes::from("s")));
    assert_eq!(
        value(h, Table::Inbox, &[0, 0, 0, 1]),
        Some(Bytes::from("m"))
    );
    assert_eq!(
        value(h, Table::Sessions, b"b.1"),
        None,
        "another identity's record"
    );
    h.reopen();
    assert_eq!(
        value(h, Table::Sessions, b"a.1"),
        Some(Bytes::from("s")),
        "after reopen"
    );
}

/// One-time pre-keys are records of the identity, not credentials: generated, consumed and
/// read by id like every record, gone with a `Created`, moved by quarantine and restore.
pub fn check_pre_keys_are_records_of_the_identity(h: &mut impl ContractStore) {
    for (i, delta) in life().iter().enumerate() {
        apply(h, i as u64 + 1, delta);
    }
    let expected: Vec<u32> = (1..41).filter(|id| ![7, 8].contains(id)).collect();
    let held = stored_pre_keys(h);
    assert_eq!(
        held.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        expected,
        "the pre-keys after the life"
    );
    assert!(
        held.iter().all(|(id, key)| *key == life_pre_key(*id)),
        "a stored pre-key differs from the one written"
    );
    h.reopen();
    assert_eq!(stored_pre_keys(h).len(), expected.len(), "after reopen");
    quarantine(h, 20, "pre-keys aside");
    assert!(
        stored_pre_keys(h).is_empty(),
        "quarantine left pre-keys live"
    );
    apply(h, 1, &created(6));
    assert!(
        stored_pre_keys(h).is_empty(),
        "a fresh identity has another's pre-keys"
    );
    quarantine(h, 2, "fresh aside");
    if let Err(e) = h.restore(0) {
        panic!("restore failed: {e}");
    }
    assert_eq!(
        stored_pre_keys(h).len(),
        expected.len(),
        "the restored identity's pre-keys"
    );
    let next = life().len() as u64 + 30;
    apply(h, next, &created(7));
    assert!(
        stored_pre_keys(h).is_empty(),
        "Created kept the old identity's pre-keys"
    );
}
