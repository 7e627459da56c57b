//! [`MemStore`]: an in-memory [`CredentialStore`] for the simulator and tests.
//!
//! It keeps the contract of `DESIGN.md` §5 exactly: each delta is applied with
//! [`Credentials::apply`] as one step, sequence numbers must increase and a replayed one is a
//! no-op, and quarantine moves the identity aside (kept and listed, never deleted) and leaves
//! the store empty ([`MemStore::restore_quarantined`] brings it back). An empty store has no sequence to continue (`load` returns `None`), so a
//! quarantine also restarts the sequence: the next process starts again at 1 and must not
//! have its fresh credentials dropped as a replay. Faults: [`MemStore::fail_next_writes`] makes the next N writes fail without
//! changing anything.

use std::collections::BTreeMap;

use bytes::Bytes;
use tether_core::creds::{CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError};
use tether_core::records::{self, RecordData, RecordRead, RecordWrite, Table};

/// The keyed records of one identity (`tether_core::records`).
pub type Records = BTreeMap<(Table, Bytes), Bytes>;

/// An identity moved aside by a quarantine.
#[derive(Clone, Debug)]
pub struct Quarantined {
    /// The credentials as they were.
    pub credentials: Credentials,
    /// Its keyed records as they were.
    pub records: Records,
    /// Why they were moved aside.
    pub why: String,
    /// The sequence number of the quarantine.
    pub seq: PersistSeq,
}

/// The in-memory credential store.
#[derive(Debug, Default)]
pub struct MemStore {
    current: Option<Credentials>,
    records: Records,
    last_seq: Option<PersistSeq>,
    quarantined: Vec<Quarantined>,
    fail_next: u32,
    fail_reads: u32,
    writes: u64,
    planted_lost_table: Option<Table>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store already holding `credentials` (as if a previous run persisted them at `seq`).
    pub fn with_credentials(credentials: Credentials, seq: PersistSeq) -> Self {
        Self {
            current: Some(credentials),
            last_seq: Some(seq),
            ..Self::default()
        }
    }

    /// The durable credentials (what a restart would load).
    pub fn current(&self) -> Option<&Credentials> {
        self.current.as_ref()
    }

    /// How many durable records `table` holds (e.g. the one-time pre-keys left).
    pub fn count_records(&self, table: Table) -> usize {
        self.records.keys().filter(|(t, _)| *t == table).count()
    }

    /// The durable keyed records (what a restart would read).
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Reads that fail from now on, for the next `n` reads (faults for the simulator).
    pub fn fail_next_reads(&mut self, n: u32) {
        self.fail_reads = n;
    }

    /// The last applied sequence number.
    pub fn last_seq(&self) -> Option<PersistSeq> {
        self.last_seq
    }

    /// Identities moved aside, oldest first.
    pub fn quarantined(&self) -> &[Quarantined] {
        &self.quarantined
    }

    /// Moves the quarantined identity at `index` (in [`MemStore::quarantined`]) back into the
    /// store, with the sequence number of its quarantine. Refused while the store holds an
    /// identity, or when there is no such entry.
    pub fn restore_quarantined(&mut self, index: usize) -> Result<(), StoreError> {
        if self.current.is_some() {
            return Err(StoreError::new(
                "cannot restore a quarantined identity: the store holds a live identity; \
                 quarantine it first",
            ));
        }
        if index >= self.quarantined.len() {
            return Err(StoreError::new(format!(
                "no quarantined identity at index {index}; {} are kept",
                self.quarantined.len()
            )));
        }
        let entry = self.quarantined.remove(index);
        self.current = Some(entry.credentials);
        self.records = entry.records;
        self.last_seq = Some(entry.seq);
        Ok(())
    }

    /// Successful writes (applies and quarantines, replays excluded).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// A planted defect (never set outside the tests that prove the simulator catches it):
    /// from now on every put into `table` is dropped while the write still reports success,
    /// as a store that claims durability for what it never wrote.
    pub fn plant_lost_writes(&mut self, table: Table) {
        self.planted_lost_table = Some(table);
    }

    /// The next `n` writes fail (and change nothing).
    pub fn fail_next_writes(&mut self, n: u32) {
        self.fail_next = n;
    }

    fn check(&mut self, seq: PersistSeq) -> Result<bool, StoreError> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Err(StoreError::new(format!(
                "simulated write failure at {seq}: the disk refused the transaction"
            )));
        }
        Ok(self.last_seq.is_none_or(|last| seq > last))
    }
}

impl CredentialStore for MemStore {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        Ok(self
            .current
            .clone()
            .map(|c| (c, self.last_seq.unwrap_or_default())))
    }

    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError> {
        if !self.check(seq)? {
            return Ok(()); // replayed: already applied
        }
        let mut next = self.current.clone();
        Credentials::apply(&mut next, delta).map_err(|e| StoreError::new(e.to_string()))?;
        self.current = next;
        if delta.creates_identity() {
            self.records.clear();
        }
        if let Some(lost) = self.planted_lost_table {
            let kept: Vec<RecordWrite> = delta
                .records
                .iter()
                .filter(|w| !matches!(w, RecordWrite::Put { table, .. } if *table == lost))
                .cloned()
                .collect();
            records::write_map(&mut self.records, &kept);
        } else {
            records::write_map(&mut self.records, &delta.records);
        }
        self.last_seq = Some(seq);
        self.writes += 1;
        Ok(())
    }

    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        if !self.check(seq)? {
            return Ok(());
        }
        let records = std::mem::take(&mut self.records);
        if let Some(credentials) = self.current.take() {
            self.quarantined.push(Quarantined {
                credentials,
                records,
                why: why.to_owned(),
                seq,
            });
        }
        // The store is empty now: a new identity starts a new sequence.
        self.last_seq = None;
        self.writes += 1;
        Ok(())
    }

    fn read(&mut self, reads: &[RecordRead]) -> Result<Vec<RecordData>, StoreError> {
        if self.fail_reads > 0 {
            self.fail_reads -= 1;
            return Err(StoreError::new(
                "simulated read failure: the disk refused the read",
            ));
        }
        Ok(records::read_map(&self.records, reads))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use tether_core::creds::CredentialChange;

    use super::*;

    fn created(seed: u64) -> CredentialsDelta {
        let creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        CredentialsDelta::one(CredentialChange::Created(Box::new(creds)))
    }

    #[test]
    fn replayed_sequence_is_a_no_op() {
        let mut store = MemStore::new();
        store.apply(PersistSeq(1), &created(1)).unwrap();
        let key = store.current().unwrap().noise_key.public_bytes();
        store.apply(PersistSeq(1), &created(2)).unwrap();
        assert_eq!(store.current().unwrap().noise_key.public_bytes(), key);
        assert_eq!(store.writes(), 1);
        store.apply(PersistSeq(2), &created(2)).unwrap();
        assert_ne!(store.current().unwrap().noise_key.public_bytes(), key);
    }

    #[test]
    fn failed_write_changes_nothing() {
        let mut store = MemStore::new();
        store.fail_next_writes(1);
        assert!(store.apply(PersistSeq(1), &created(1)).is_err());
        assert!(store.current().is_none() && store.last_seq().is_none());
        store.apply(PersistSeq(1), &created(1)).unwrap();
        assert!(store.current().is_some());
    }

    #[test]
    fn quarantine_keeps_the_identity_aside_and_restarts_the_sequence() {
        let mut store = MemStore::new();
        store.apply(PersistSeq(4), &created(1)).unwrap();
        store.quarantine(PersistSeq(5), "logged out").unwrap();
        assert!(store.current().is_none());
        assert_eq!(store.quarantined().len(), 1);
        assert_eq!(store.quarantined()[0].why, "logged out");
        store.apply(PersistSeq(1), &created(2)).unwrap();
        assert!(
            store.current().is_some(),
            "a fresh identity was taken for a replay"
        );
    }
}
