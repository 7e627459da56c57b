//! The store's tables and its schema version, with the migration path.
//!
//! | table | key → value | content |
//! |---|---|---|
//! | `meta` | name → u64 | `schema_version`, `last_seq` (absent: no sequence), `next_quarantine_id` |
//! | `device` | `"current"` → bytes | the core record ([`crate::record::DeviceRecord`]) |
//! | `app_state_sync_keys` | key id → key data | app-state sync keys |
//! | `app_state_versions` | collection → state | app-state collection versions |
//! | `signal_sessions`, `signal_identities`, `sender_keys` | address → bytes | Signal records (v1: declared; v2: filled by the Baileys import) |
//! | `extra` | name → bytes | identity fields Tether has no column for (e.g. `baileys.creds.lastPropHash` → its JSON) |
//! | `records` | (table id, key) → bytes | the messaging layer's keyed records (`tether_core::records`), one-time pre-keys included |
//! | `quarantine_records` | (id, table id, key) → bytes | the keyed records of a quarantined identity |
//! | `extra_keys` | (type, id) → bytes | key-store items of other types (e.g. Baileys `sender-key-memory`), verbatim |
//! | `status` | `"current"` → bytes | the owner's [`crate::StoreStatus`] (not part of the identity) |
//! | `quarantine` | id → record | why, when, seq, core record of a quarantined identity |
//! | `quarantine_app_state_sync_keys`, `…_app_state_versions` | (id, key) → value | its families |
//! | `quarantine_signal_sessions`, `…_signal_identities`, `…_sender_keys`, `…_extra` | (id, key) → value | its Signal records and extras |
//! | `quarantine_extra_keys` | (id, type, id) → value | its other key-store items |
//!
//! Until Tether has its own Signal implementation, the Signal tables hold the records as the
//! Baileys import found them: the verbatim JSON document of each `session-*.json` /
//! `sender-key-*.json` file, and for `signal_identities` the 33-byte identity key (`0x05 ‖ key`)
//! of each `creds.signalIdentities` entry, keyed `name.deviceId`. A native layout will be a
//! schema step with its own migration.
//!
//! Everything that belongs to an identity (the live tables above except `meta` and `status`)
//! moves to the `quarantine_*` tables together, in one transaction.
//!
//! `schema_version` is written by the first open. [`migrate`] brings an older store up to
//! [`SCHEMA_VERSION`] one step at a time inside one write transaction; a newer store is refused
//! before anything is written to it.
//!
//! | version | step |
//! |---|---|
//! | 1 | every table of the first slice |
//! | 2 | `status`, `extra`, `extra_keys` and the quarantine tables of the Signal records and extras |
//! | 3 | `records` and `quarantine_records`: the messaging layer's keyed records |
//! | 4 | one-time pre-keys move from `pre_keys` / `quarantine_pre_keys` into `records` / `quarantine_records` (family `pre_keys`) and the two tables go: they are read on demand like every record, never loaded with the credentials |

use redb::{ReadableDatabase, TableDefinition, TableError, WriteTransaction};

use crate::error::RedbStoreError;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u64 = 4;

pub(crate) const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
pub(crate) const DEVICE: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("device");
/// One-time pre-keys up to schema 3 (schema 4 keeps them in `records`).
pub(crate) const PRE_KEYS: TableDefinition<'static, u32, &[u8]> = TableDefinition::new("pre_keys");
pub(crate) const SYNC_KEYS: TableDefinition<'static, &[u8], &[u8]> =
    TableDefinition::new("app_state_sync_keys");
pub(crate) const VERSIONS: TableDefinition<'static, &str, &[u8]> =
    TableDefinition::new("app_state_versions");
pub(crate) const SIGNAL_SESSIONS: TableDefinition<'static, &str, &[u8]> =
    TableDefinition::new("signal_sessions");
pub(crate) const SIGNAL_IDENTITIES: TableDefinition<'static, &str, &[u8]> =
    TableDefinition::new("signal_identities");
pub(crate) const SENDER_KEYS: TableDefinition<'static, &str, &[u8]> =
    TableDefinition::new("sender_keys");
pub(crate) const EXTRA: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("extra");
pub(crate) const EXTRA_KEYS: TableDefinition<'static, (&str, &str), &[u8]> =
    TableDefinition::new("extra_keys");
pub(crate) const STATUS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("status");
pub(crate) const QUARANTINE: TableDefinition<'static, u64, &[u8]> =
    TableDefinition::new("quarantine");
/// Quarantined one-time pre-keys up to schema 3 (schema 4 keeps them in `quarantine_records`).
pub(crate) const Q_PRE_KEYS: TableDefinition<'static, (u64, u32), &[u8]> =
    TableDefinition::new("quarantine_pre_keys");
pub(crate) const Q_SYNC_KEYS: TableDefinition<'static, (u64, &[u8]), &[u8]> =
    TableDefinition::new("quarantine_app_state_sync_keys");
pub(crate) const Q_VERSIONS: TableDefinition<'static, (u64, &str), &[u8]> =
    TableDefinition::new("quarantine_app_state_versions");

pub(crate) const Q_SIGNAL_SESSIONS: TableDefinition<'static, (u64, &str), &[u8]> =
    TableDefinition::new("quarantine_signal_sessions");
pub(crate) const Q_SIGNAL_IDENTITIES: TableDefinition<'static, (u64, &str), &[u8]> =
    TableDefinition::new("quarantine_signal_identities");
pub(crate) const Q_SENDER_KEYS: TableDefinition<'static, (u64, &str), &[u8]> =
    TableDefinition::new("quarantine_sender_keys");
pub(crate) const Q_EXTRA: TableDefinition<'static, (u64, &str), &[u8]> =
    TableDefinition::new("quarantine_extra");
pub(crate) const Q_EXTRA_KEYS: TableDefinition<'static, (u64, &str, &str), &[u8]> =
    TableDefinition::new("quarantine_extra_keys");

/// A live `&str`-keyed table and its quarantine counterpart.
pub(crate) type StrFamily = (
    &'static str,
    TableDefinition<'static, &'static str, &'static [u8]>,
    TableDefinition<'static, (u64, &'static str), &'static [u8]>,
);

/// The live `&str`-keyed tables of an identity beside the core families, each with its
/// quarantine counterpart, as (name for messages, live, quarantine).
pub(crate) const STR_FAMILIES: [StrFamily; 4] = [
    ("Signal sessions", SIGNAL_SESSIONS, Q_SIGNAL_SESSIONS),
    ("Signal identities", SIGNAL_IDENTITIES, Q_SIGNAL_IDENTITIES),
    ("sender keys", SENDER_KEYS, Q_SENDER_KEYS),
    ("extra fields", EXTRA, Q_EXTRA),
];

/// `meta` keys.
pub(crate) const KEY_SCHEMA: &str = "schema_version";
pub(crate) const KEY_LAST_SEQ: &str = "last_seq";
pub(crate) const KEY_NEXT_QUARANTINE: &str = "next_quarantine_id";
/// `status` key of the owner's status record.
pub(crate) const KEY_STATUS: &str = "current";
/// `device` key of the live record.
pub(crate) const KEY_CURRENT: &str = "current";

/// The schema version stored in `db` (0 for a store never initialised).
pub(crate) fn stored_version(db: &impl ReadableDatabase) -> Result<u64, RedbStoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| RedbStoreError::db("begin a read", e))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(RedbStoreError::db("open the meta table", e)),
    };
    let version = redb::ReadableTable::get(&meta, KEY_SCHEMA)
        .map_err(|e| RedbStoreError::db("read the schema version", e))?;
    Ok(version.map_or(0, |v| v.value()))
}

/// A step from schema `n` to `n + 1`.
type Migration = fn(&WriteTransaction) -> Result<(), RedbStoreError>;

/// `MIGRATIONS[n]` migrates schema `n` to `n + 1` (schema 0 is "never initialised"). A new
/// schema appends its step here and bumps [`SCHEMA_VERSION`].
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] =
    [create_v1, create_v2, create_v3, pre_keys_into_records_v4];

/// Migrates from `from` to [`SCHEMA_VERSION`] inside `txn` (the caller commits).
pub(crate) fn migrate(txn: &WriteTransaction, from: u64) -> Result<(), RedbStoreError> {
    let skip = usize::try_from(from).unwrap_or(usize::MAX);
    for step in MIGRATIONS.iter().skip(skip) {
        step(txn)?;
    }
    let mut meta = txn
        .open_table(META)
        .map_err(|e| RedbStoreError::db("open the meta table", e))?;
    meta.insert(KEY_SCHEMA, SCHEMA_VERSION)
        .map_err(|e| RedbStoreError::db("write the schema version", e))?;
    Ok(())
}

/// Schema 1: creates every table, so that readers never meet a missing one.
fn create_v1(txn: &WriteTransaction) -> Result<(), RedbStoreError> {
    let err = |e| RedbStoreError::db("create the tables", e);
    txn.open_table(META).map_err(err)?;
    txn.open_table(DEVICE).map_err(err)?;
    txn.open_table(PRE_KEYS).map_err(err)?;
    txn.open_table(SYNC_KEYS).map_err(err)?;
    txn.open_table(VERSIONS).map_err(err)?;
    txn.open_table(SIGNAL_SESSIONS).map_err(err)?;
    txn.open_table(SIGNAL_IDENTITIES).map_err(err)?;
    txn.open_table(SENDER_KEYS).map_err(err)?;
    txn.open_table(QUARANTINE).map_err(err)?;
    txn.open_table(Q_PRE_KEYS).map_err(err)?;
    txn.open_table(Q_SYNC_KEYS).map_err(err)?;
    txn.open_table(Q_VERSIONS).map_err(err)?;
    Ok(())
}

/// Schema 2: the status record, the extras, and quarantine tables for every Signal table and
/// the extras (so that quarantine moves all of an identity). No existing row changes.
fn create_v2(txn: &WriteTransaction) -> Result<(), RedbStoreError> {
    let err = |e| RedbStoreError::db("create the schema 2 tables", e);
    txn.open_table(EXTRA).map_err(err)?;
    txn.open_table(EXTRA_KEYS).map_err(err)?;
    txn.open_table(STATUS).map_err(err)?;
    txn.open_table(Q_SIGNAL_SESSIONS).map_err(err)?;
    txn.open_table(Q_SIGNAL_IDENTITIES).map_err(err)?;
    txn.open_table(Q_SENDER_KEYS).map_err(err)?;
    txn.open_table(Q_EXTRA).map_err(err)?;
    txn.open_table(Q_EXTRA_KEYS).map_err(err)?;
    Ok(())
}

/// Schema 3: the keyed records of the messaging layer and their quarantine table. No existing
/// row changes.
fn create_v3(txn: &WriteTransaction) -> Result<(), RedbStoreError> {
    let err = |e| RedbStoreError::db("create the schema 3 tables", e);
    txn.open_table(crate::records::RECORDS).map_err(err)?;
    txn.open_table(crate::records::Q_RECORDS).map_err(err)?;
    Ok(())
}

const MOVE_PRE_KEYS: &str = "move the pre-keys into the records";

/// Schema 4: one-time pre-keys become records of the `pre_keys` family (key: the id, 4 bytes
/// big-endian), live and quarantined, and their own tables are deleted. Every row moves as
/// it is (a damaged value stays damaged, for `check` to name).
fn pre_keys_into_records_v4(txn: &WriteTransaction) -> Result<(), RedbStoreError> {
    let family = tether_core::records::Table::PreKeys.id();
    {
        let mut old = txn
            .open_table(PRE_KEYS)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        let mut records = txn
            .open_table(crate::records::RECORDS)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        for row in old
            .extract_if(|_, _| true)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?
        {
            let (id, key) = row.map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
            records
                .insert((family, &id.value().to_be_bytes()[..]), key.value())
                .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        }
        let mut old = txn
            .open_table(Q_PRE_KEYS)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        let mut aside = txn
            .open_table(crate::records::Q_RECORDS)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        for row in old
            .extract_if(|_, _| true)
            .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?
        {
            let (k, key) = row.map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
            let (quarantine, id) = k.value();
            aside
                .insert((quarantine, family, &id.to_be_bytes()[..]), key.value())
                .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
        }
    }
    txn.delete_table(PRE_KEYS)
        .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
    txn.delete_table(Q_PRE_KEYS)
        .map_err(|e| RedbStoreError::db(MOVE_PRE_KEYS, e))?;
    Ok(())
}
