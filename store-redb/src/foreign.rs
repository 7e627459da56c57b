//! The identity's records beside the core credentials: Signal sessions, Signal identities,
//! sender keys, extra fields and other key-store items ([`Foreign`]).
//!
//! Tether's core does not model them yet; they are kept so that an imported Baileys identity
//! loses nothing and exports back whole, and they travel with the identity: quarantine moves
//! them aside with it ([`quarantine`]), a restore brings them back ([`restore`]), and a fresh
//! identity (`Created`) starts without them ([`clear`]).

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};
use zeroize::Zeroizing;

use crate::error::RedbStoreError;
use crate::schema::{EXTRA_KEYS, Q_EXTRA_KEYS, STR_FAMILIES};

type R<T> = Result<T, RedbStoreError>;

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// A secret-bearing value (session state, sender keys): wiped on drop.
pub(crate) type Blob = Zeroizing<Vec<u8>>;

/// The non-core records of one identity.
#[derive(Default)]
pub(crate) struct Foreign {
    /// Signal sessions by address.
    pub(crate) sessions: BTreeMap<String, Blob>,
    /// Signal identity keys by address.
    pub(crate) identities: BTreeMap<String, Blob>,
    /// Sender keys by (group, sender) name.
    pub(crate) sender_keys: BTreeMap<String, Blob>,
    /// Extra identity fields by name.
    pub(crate) extra: BTreeMap<String, Blob>,
    /// Other key-store items by (type, id).
    pub(crate) extra_keys: BTreeMap<(String, String), Blob>,
}

impl Foreign {
    /// The string-keyed maps in the order of [`STR_FAMILIES`].
    fn str_maps(&self) -> [&BTreeMap<String, Blob>; 4] {
        [
            &self.sessions,
            &self.identities,
            &self.sender_keys,
            &self.extra,
        ]
    }
}

/// Reads the live non-core records from any readable transaction's tables.
pub(crate) fn read(
    tables: [&dyn StrTable; 4],
    extra_keys: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
) -> R<Foreign> {
    let mut out = Foreign::default();
    let maps = [
        &mut out.sessions,
        &mut out.identities,
        &mut out.sender_keys,
        &mut out.extra,
    ];
    for (table, map) in tables.into_iter().zip(maps) {
        table.read_into(map)?;
    }
    for row in extra_keys
        .iter()
        .map_err(db("read the other key-store items"))?
    {
        let (key, value) = row.map_err(db("read a key-store item"))?;
        let (kind, id) = key.value();
        out.extra_keys.insert(
            (kind.to_owned(), id.to_owned()),
            Zeroizing::new(value.value().to_vec()),
        );
    }
    Ok(out)
}

/// A readable `&str → bytes` table, object-safe.
pub(crate) trait StrTable {
    /// Copies every row into `map`.
    fn read_into(&self, map: &mut BTreeMap<String, Blob>) -> R<()>;
}

impl<T: ReadableTable<&'static str, &'static [u8]>> StrTable for T {
    fn read_into(&self, map: &mut BTreeMap<String, Blob>) -> R<()> {
        for row in self.iter().map_err(db("read a record table"))? {
            let (key, value) = row.map_err(db("read a record"))?;
            map.insert(
                key.value().to_owned(),
                Zeroizing::new(value.value().to_vec()),
            );
        }
        Ok(())
    }
}

/// Writes `foreign` into the live tables (which the caller has emptied or knows empty).
pub(crate) fn write(txn: &WriteTransaction, foreign: &Foreign) -> R<()> {
    for ((_, live, _), map) in STR_FAMILIES.iter().zip(foreign.str_maps()) {
        let mut table = txn.open_table(*live).map_err(db("open a record table"))?;
        for (key, value) in map {
            table
                .insert(key.as_str(), value.as_slice())
                .map_err(db("write a record"))?;
        }
    }
    let mut table = txn
        .open_table(EXTRA_KEYS)
        .map_err(db("open the key-store item table"))?;
    for ((kind, id), value) in &foreign.extra_keys {
        table
            .insert((kind.as_str(), id.as_str()), value.as_slice())
            .map_err(db("write a key-store item"))?;
    }
    Ok(())
}

/// Empties the live non-core tables (a fresh identity starts without the old one's records).
pub(crate) fn clear(txn: &WriteTransaction) -> R<()> {
    let what = "empty the record tables";
    for (_, live, _) in STR_FAMILIES {
        txn.open_table(live)
            .map_err(db(what))?
            .retain(|_, _| false)
            .map_err(db(what))?;
    }
    txn.open_table(EXTRA_KEYS)
        .map_err(db(what))?
        .retain(|_, _| false)
        .map_err(db(what))?;
    Ok(())
}

/// Moves every live non-core record into the quarantine tables under `id`.
pub(crate) fn quarantine(txn: &WriteTransaction, id: u64) -> R<()> {
    let what = "move the records into quarantine";
    for (_, live, quarantined) in STR_FAMILIES {
        let mut from = txn.open_table(live).map_err(db(what))?;
        let mut to = txn.open_table(quarantined).map_err(db(what))?;
        for row in from.extract_if(|_, _| true).map_err(db(what))? {
            let (key, value) = row.map_err(db(what))?;
            to.insert((id, key.value()), value.value())
                .map_err(db(what))?;
        }
    }
    let mut from = txn.open_table(EXTRA_KEYS).map_err(db(what))?;
    let mut to = txn.open_table(Q_EXTRA_KEYS).map_err(db(what))?;
    for row in from.extract_if(|_, _| true).map_err(db(what))? {
        let (key, value) = row.map_err(db(what))?;
        let (kind, item) = key.value();
        to.insert((id, kind, item), value.value())
            .map_err(db(what))?;
    }
    Ok(())
}

/// Moves the non-core records quarantined under `id` back into the live tables.
pub(crate) fn restore(txn: &WriteTransaction, id: u64) -> R<()> {
    let what = "move the records out of quarantine";
    let next = id.saturating_add(1);
    for (_, live, quarantined) in STR_FAMILIES {
        let mut from = txn.open_table(quarantined).map_err(db(what))?;
        let mut to = txn.open_table(live).map_err(db(what))?;
        for row in from
            .extract_from_if((id, "")..(next, ""), |_, _| true)
            .map_err(db(what))?
        {
            let (key, value) = row.map_err(db(what))?;
            to.insert(key.value().1, value.value()).map_err(db(what))?;
        }
    }
    let mut from = txn.open_table(Q_EXTRA_KEYS).map_err(db(what))?;
    let mut to = txn.open_table(EXTRA_KEYS).map_err(db(what))?;
    for row in from
        .extract_from_if((id, "", "")..(next, "", ""), |_, _| true)
        .map_err(db(what))?
    {
        let (key, value) = row.map_err(db(what))?;
        let (_, kind, item) = key.value();
        to.insert((kind, item), value.value()).map_err(db(what))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use tether_core::creds::{
        CredentialChange, CredentialStore, Credentials, CredentialsDelta, PersistSeq,
    };

    use super::*;
    use crate::RedbStore;

    fn blob(text: &str) -> Blob {
        Zeroizing::new(text.as_bytes().to_vec())
    }

    fn records() -> Foreign {
        let mut f = Foreign::default();
        f.sessions.insert("15551234567.0".into(), blob("{\"s\":1}"));
        f.identities.insert("15551234567.0".into(), blob("key"));
        f.sender_keys
            .insert("group--15551234567--0".into(), blob("{\"k\":2}"));
        f.extra
            .insert("baileys.creds.lastPropHash".into(), blob("\"abc\""));
        f.extra_keys
            .insert(("sender-key-memory".into(), "g@g.us".into()), blob("{}"));
        f
    }

    fn same(a: &Foreign, b: &Foreign) -> bool {
        a.sessions == b.sessions
            && a.identities == b.identities
            && a.sender_keys == b.sender_keys
            && a.extra == b.extra
            && a.extra_keys == b.extra_keys
    }

    #[test]
    fn quarantine_moves_every_signal_record_aside_and_restore_brings_them_back() {
        let dir = std::env::temp_dir().join(format!("tether-foreign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = RedbStore::open(dir.join("s.redb")).unwrap();
        let creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(1));
        store
            .install_identity(&creds, &records(), &[], PersistSeq(1))
            .unwrap();
        let (_, read) = store.read_identity().unwrap().unwrap();
        assert!(same(&read, &records()));
        let again = store.install_identity(&creds, &records(), &[], PersistSeq(2));
        assert!(matches!(again, Err(RedbStoreError::ImportOverLive { .. })));

        store.quarantine(PersistSeq(2), "logged out").unwrap();
        let fresh = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(2));
        store
            .apply(
                PersistSeq(1),
                &CredentialsDelta::one(CredentialChange::Created(Box::new(fresh))),
            )
            .unwrap();
        let (_, live) = store.read_identity().unwrap().unwrap();
        assert!(same(&live, &Foreign::default()), "records stayed live");
        store.quarantine(PersistSeq(2), "second").unwrap();
        let id = store.list_quarantined().unwrap()[0].id;
        store.restore_quarantined(id).unwrap();
        let (_, back) = store.read_identity().unwrap().unwrap();
        assert!(same(&back, &records()), "records were not restored");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_fresh_identity_starts_without_the_old_records() {
        let dir = std::env::temp_dir().join(format!("tether-foreign-c-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = RedbStore::open(dir.join("s.redb")).unwrap();
        let creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(1));
        store
            .install_identity(&creds, &records(), &[], PersistSeq(1))
            .unwrap();
        let fresh = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(2));
        store
            .apply(
                PersistSeq(2),
                &CredentialsDelta::one(CredentialChange::Created(Box::new(fresh))),
            )
            .unwrap();
        let (_, live) = store.read_identity().unwrap().unwrap();
        assert!(same(&live, &Foreign::default()));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
