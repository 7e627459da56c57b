//! Reading and writing a [`Credentials`] set across the live tables and the quarantine tables.
//!
//! The live identity is spread over `device` (core record) and one table per keyed family;
//! [`write_diff`] writes only the rows that differ between the old and the new set, so a
//! routing-info change rewrites one record. A quarantined identity is copied whole into the
//! `quarantine*` tables under its id. One-time pre-keys are not part of the set: they are
//! records (`crate::records`), read on demand.
//!
//! `apply` reads only the families a delta can change ([`Families::touched_by`]). Whatever is
//! not read stays absent on both sides of the diff and is left alone. A change kind this build
//! does not know counts as touching everything.

use std::collections::BTreeMap;

use bytes::Bytes;
use redb::{ReadableTable, WriteTransaction};

use tether_core::creds::{CredentialChange, Credentials, CredentialsDelta};

use crate::error::RedbStoreError;
use crate::record;
use crate::schema::{DEVICE, KEY_CURRENT, Q_SYNC_KEYS, Q_VERSIONS, SYNC_KEYS, VERSIONS};

type R<T> = Result<T, RedbStoreError>;

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// Which keyed families to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Families {
    pub(crate) sync_keys: bool,
    pub(crate) versions: bool,
}

impl Families {
    /// Every family.
    pub(crate) const ALL: Self = Self {
        sync_keys: true,
        versions: true,
    };

    /// No family: only the core record.
    pub(crate) const NONE: Self = Self {
        sync_keys: false,
        versions: false,
    };

    /// The families `delta` can change under `Credentials::apply`.
    pub(crate) fn touched_by(delta: &CredentialsDelta) -> Self {
        let mut f = Self {
            sync_keys: false,
            versions: false,
        };
        for change in &delta.changes {
            match change {
                CredentialChange::Paired(_)
                | CredentialChange::Confirmed
                | CredentialChange::PairingDiscarded
                | CredentialChange::AdvSecret(_)
                | CredentialChange::Lid(_)
                | CredentialChange::RoutingInfo(_)
                | CredentialChange::Version(_)
                | CredentialChange::PushName(_)
                | CredentialChange::PreKeysGenerated { .. }
                | CredentialChange::PreKeysUploaded { .. } => {}
                CredentialChange::AppStateSyncKeys(_) => f.sync_keys = true,
                CredentialChange::AppStateVersion { .. } => f.versions = true,
                // `Created` replaces every family; an unknown kind may touch any.
                _ => return Self::ALL,
            }
        }
        f
    }
}

/// Reads the live identity from its tables (`None` when the store holds none).
pub(crate) fn read_live(
    device: &impl ReadableTable<&'static str, &'static [u8]>,
    sync_keys: &impl ReadableTable<&'static [u8], &'static [u8]>,
    versions: &impl ReadableTable<&'static str, &'static [u8]>,
    families: &Families,
) -> R<Option<Credentials>> {
    let Some(bytes) = device
        .get(KEY_CURRENT)
        .map_err(db("read the device record"))?
    else {
        return Ok(None);
    };
    let mut creds = record::decode_device(bytes.value())?;
    if families.sync_keys {
        read_sync_keys(sync_keys, &mut creds)?;
    }
    if families.versions {
        read_versions(versions, &mut creds)?;
    }
    Ok(Some(creds))
}

fn read_sync_keys(
    sync_keys: &impl ReadableTable<&'static [u8], &'static [u8]>,
    creds: &mut Credentials,
) -> R<()> {
    for row in sync_keys
        .iter()
        .map_err(db("read the app-state sync keys"))?
    {
        let (id, key) = row.map_err(db("read an app-state sync key"))?;
        creds.app_state_sync_keys.insert(
            Bytes::copy_from_slice(id.value()),
            Bytes::copy_from_slice(key.value()),
        );
    }
    Ok(())
}

fn read_versions(
    versions: &impl ReadableTable<&'static str, &'static [u8]>,
    creds: &mut Credentials,
) -> R<()> {
    for row in versions.iter().map_err(db("read the app-state versions"))? {
        let (name, state) = row.map_err(db("read an app-state version"))?;
        creds.app_state_versions.insert(
            name.value().to_owned(),
            Bytes::copy_from_slice(state.value()),
        );
    }
    Ok(())
}

/// Reads the live identity (with `families`) inside a write transaction.
pub(crate) fn read_live_in(txn: &WriteTransaction, families: &Families) -> R<Option<Credentials>> {
    let device = txn
        .open_table(DEVICE)
        .map_err(db("open the device table"))?;
    let sync = txn
        .open_table(SYNC_KEYS)
        .map_err(db("open the sync-key table"))?;
    let versions = txn
        .open_table(VERSIONS)
        .map_err(db("open the version table"))?;
    read_live(&device, &sync, &versions, families)
}

/// Writes the rows in which `new` differs from `old` (`None`: the live tables are empty).
pub(crate) fn write_diff(
    txn: &WriteTransaction,
    old: Option<&Credentials>,
    new: Option<&Credentials>,
) -> R<()> {
    let Some(new) = new else {
        return Ok(()); // `Credentials::apply` never removes an identity
    };
    let old_record = old.map(record::encode_device);
    let new_record = record::encode_device(new);
    if old_record.as_ref() != Some(&new_record) {
        let mut device = txn
            .open_table(DEVICE)
            .map_err(db("open the device table"))?;
        device
            .insert(KEY_CURRENT, new_record.as_slice())
            .map_err(db("write the device record"))?;
    }
    let (old_sync, old_versions) = match old {
        Some(o) => (&o.app_state_sync_keys, &o.app_state_versions),
        None => (&BTreeMap::new(), &BTreeMap::new()),
    };
    let mut sync = txn
        .open_table(SYNC_KEYS)
        .map_err(db("open the sync-key table"))?;
    for id in old_sync
        .keys()
        .filter(|id| !new.app_state_sync_keys.contains_key(*id))
    {
        sync.remove(id.as_ref()).map_err(db("remove a sync key"))?;
    }
    for (id, key) in &new.app_state_sync_keys {
        if old_sync.get(id) != Some(key) {
            sync.insert(id.as_ref(), key.as_ref())
                .map_err(db("write a sync key"))?;
        }
    }
    let mut versions = txn
        .open_table(VERSIONS)
        .map_err(db("open the version table"))?;
    for name in old_versions
        .keys()
        .filter(|n| !new.app_state_versions.contains_key(*n))
    {
        versions
            .remove(name.as_str())
            .map_err(db("remove a version"))?;
    }
    for (name, state) in &new.app_state_versions {
        if old_versions.get(name) != Some(state) {
            versions
                .insert(name.as_str(), state.as_ref())
                .map_err(db("write a version"))?;
        }
    }
    Ok(())
}

/// Empties the live tables.
pub(crate) fn clear_live(txn: &WriteTransaction) -> R<()> {
    let what = "empty the live tables";
    txn.open_table(DEVICE)
        .map_err(db(what))?
        .retain(|_, _| false)
        .map_err(db(what))?;
    txn.open_table(SYNC_KEYS)
        .map_err(db(what))?
        .retain(|_, _| false)
        .map_err(db(what))?;
    txn.open_table(VERSIONS)
        .map_err(db(what))?
        .retain(|_, _| false)
        .map_err(db(what))?;
    Ok(())
}

/// Copies the keyed families of `creds` into the quarantine tables under `id`.
pub(crate) fn write_quarantined_families(
    txn: &WriteTransaction,
    id: u64,
    creds: &Credentials,
) -> R<()> {
    let what = "write the quarantined keys";
    let mut sync = txn.open_table(Q_SYNC_KEYS).map_err(db(what))?;
    for (key_id, key) in &creds.app_state_sync_keys {
        sync.insert((id, key_id.as_ref()), key.as_ref())
            .map_err(db(what))?;
    }
    let mut versions = txn.open_table(Q_VERSIONS).map_err(db(what))?;
    for (name, state) in &creds.app_state_versions {
        versions
            .insert((id, name.as_str()), state.as_ref())
            .map_err(db(what))?;
    }
    Ok(())
}

/// Moves the keyed families quarantined under `id` into `creds`, removing their rows.
pub(crate) fn take_quarantined_families(
    txn: &WriteTransaction,
    id: u64,
    creds: &mut Credentials,
) -> R<()> {
    let what = "read the quarantined keys";
    let mut sync = txn.open_table(Q_SYNC_KEYS).map_err(db(what))?;
    let range = (id, &[][..])..(id.saturating_add(1), &[][..]);
    for row in sync.extract_from_if(range, |_, _| true).map_err(db(what))? {
        let (key, value) = row.map_err(db(what))?;
        creds.app_state_sync_keys.insert(
            Bytes::copy_from_slice(key.value().1),
            Bytes::copy_from_slice(value.value()),
        );
    }
    let mut versions = txn.open_table(Q_VERSIONS).map_err(db(what))?;
    for row in versions
        .extract_from_if((id, "")..(id.saturating_add(1), ""), |_, _| true)
        .map_err(db(what))?
    {
        let (key, value) = row.map_err(db(what))?;
        creds.app_state_versions.insert(
            key.value().1.to_owned(),
            Bytes::copy_from_slice(value.value()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn delta(changes: Vec<CredentialChange>) -> CredentialsDelta {
        CredentialsDelta::changes(changes)
    }

    #[test]
    fn core_record_changes_read_no_family() {
        let f = Families::touched_by(&delta(vec![
            CredentialChange::PushName("a".into()),
            CredentialChange::Confirmed,
            CredentialChange::PreKeysGenerated {
                next_pre_key_id: 41,
            },
        ]));
        assert_eq!(f, Families::NONE);
    }

    #[test]
    fn sync_key_changes_read_only_their_family() {
        let f = Families::touched_by(&delta(vec![
            CredentialChange::PreKeysGenerated {
                next_pre_key_id: 41,
            },
            CredentialChange::AppStateSyncKeys(vec![(Bytes::new(), Bytes::new())]),
        ]));
        assert!(f.sync_keys && !f.versions);
    }

    #[test]
    fn created_anywhere_in_a_delta_reads_everything() {
        use rand_core::SeedableRng;
        let fresh = Credentials::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let f = Families::touched_by(&delta(vec![
            CredentialChange::Confirmed,
            CredentialChange::Created(Box::new(fresh)),
        ]));
        assert_eq!(f, Families::ALL);
    }
}
