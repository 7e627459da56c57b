//! The messaging layer's view of the store: a small write-back cache of records, the loads
//! that fill it, and the commits that make changes durable.
//!
//! ```text
//!   sub-machine needs (table, key) ──▶ Cache::get ── hit ──▶ use it
//!                                        │ miss
//!                                        ▼
//!                              Loader::want(keys) ── LoadRecords{id, reads} ──▶ store
//!                                        ▲                                        │
//!      drive() again: the job re-checks ─┴── Loaded{id, data} → Cache::fill ◀─────┘
//!
//!   sub-machine writes ──▶ Cache (dirty) + Commit (writes, credential changes, deferred effects)
//!   Messaging::commit ──▶ PersistCredentials{seq, delta} ── Persisted(seq) ──▶ deferred effects
//!                                                                              run, entries clean
//! ```
//!
//! Rules that keep the cache honest:
//! - a loaded value never replaces a cached one (whatever the cache holds was written after
//!   the load was emitted, or is the same value);
//! - dirty entries (written, not yet durable) are never evicted, nor pinned ones (the records
//!   of an inbox batch being gathered, so a batch larger than the capacity still completes);
//! - eviction happens only between inputs ([`Cache::trim`]), never while a job runs, so a job
//!   that found its records present uses them in the same step.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::creds::{CredentialChange, LoadId};
use crate::records::{RecordData, RecordRead, RecordWrite, Table};

/// A cached record: its value (`None`: known to be absent), whether it is durable, and when it
/// was last used.
#[derive(Debug)]
struct Slot {
    value: Option<Bytes>,
    /// The commit that last wrote it and is not durable yet.
    dirty: Option<CommitId>,
    used: u64,
    /// Kept until [`Cache::unpin_all`] (an inbox batch needs it).
    pinned: bool,
}

/// Identifies one messaging commit (a persist of the connection), to mark its writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CommitId(pub(crate) u64);

/// The write-back cache of records.
#[derive(Debug)]
pub(crate) struct Cache {
    slots: BTreeMap<(Table, Bytes), Slot>,
    clock: u64,
    /// Clean entries kept between inputs.
    capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: BTreeMap::new(),
            clock: 0,
            capacity,
        }
    }

    /// The cached value: `None` when not cached, `Some(None)` when known to be absent.
    pub(crate) fn get(&mut self, table: Table, key: &[u8]) -> Option<Option<Bytes>> {
        self.clock += 1;
        let clock = self.clock;
        // Looking up by `(Table, Bytes)` needs an owned key; records keys are short.
        let slot = self.slots.get_mut(&(table, Bytes::copy_from_slice(key)))?;
        slot.used = clock;
        Some(slot.value.clone())
    }

    /// Whether the record is cached (present or known absent).
    pub(crate) fn has(&self, table: Table, key: &Bytes) -> bool {
        self.slots.contains_key(&(table, key.clone()))
    }

    /// Keeps the record (if cached) until [`Self::unpin_all`]; returns whether it is cached.
    pub(crate) fn pin(&mut self, table: Table, key: &Bytes) -> bool {
        match self.slots.get_mut(&(table, key.clone())) {
            Some(slot) => {
                slot.pinned = true;
                true
            }
            None => false,
        }
    }

    /// Every pinned record may be evicted again.
    pub(crate) fn unpin_all(&mut self) {
        for slot in self.slots.values_mut() {
            slot.pinned = false;
        }
    }

    /// Records a write made by `commit`.
    pub(crate) fn write(
        &mut self,
        table: Table,
        key: Bytes,
        value: Option<Bytes>,
        commit: CommitId,
    ) {
        self.clock += 1;
        let pinned = self
            .slots
            .get(&(table, key.clone()))
            .is_some_and(|s| s.pinned);
        self.slots.insert(
            (table, key),
            Slot {
                value,
                dirty: Some(commit),
                used: self.clock,
                pinned,
            },
        );
    }

    /// Fills the cache with a loaded value, unless it already holds one.
    pub(crate) fn fill(&mut self, table: Table, key: Bytes, value: Option<Bytes>) {
        self.clock += 1;
        let clock = self.clock;
        self.slots.entry((table, key)).or_insert(Slot {
            value,
            dirty: None,
            used: clock,
            pinned: false,
        });
    }

    /// Every write of `commit` (and earlier ones) is durable now.
    pub(crate) fn durable(&mut self, commit: CommitId) {
        for slot in self.slots.values_mut() {
            if slot.dirty.is_some_and(|c| c <= commit) {
                slot.dirty = None;
            }
        }
    }

    /// Every write not yet durable is lost (the connection is stopping or the store failed):
    /// forget them, so nothing reads a value the store does not hold.
    pub(crate) fn drop_dirty(&mut self) {
        self.slots.retain(|_, s| s.dirty.is_none());
    }

    /// Evicts the least recently used clean, unpinned entries beyond the capacity (`keep`:
    /// overrides the capacity, e.g. 0 when idle).
    pub(crate) fn trim(&mut self, keep: Option<usize>) {
        let keep = keep.unwrap_or(self.capacity);
        let evictable = |s: &Slot| s.dirty.is_none() && !s.pinned;
        let clean = self.slots.values().filter(|s| evictable(s)).count();
        if clean <= keep {
            return;
        }
        let mut ages: Vec<u64> = self
            .slots
            .values()
            .filter(|s| evictable(s))
            .map(|s| s.used)
            .collect();
        ages.sort_unstable();
        let cutoff = ages[clean - keep - 1];
        self.slots.retain(|_, s| !evictable(s) || s.used > cutoff);
    }

    /// How many records are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Why a load was issued.
#[derive(Debug)]
pub(crate) enum LoadPurpose {
    /// Point reads filling the cache.
    Keys(Vec<(Table, Bytes)>),
    /// A range read for one sub-machine; the rows go to it.
    Range(RangeFor),
}

/// The sub-machine a range read answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RangeFor {
    /// The inbox replay at start (and its next pages).
    InboxReplay,
    /// A replay the application asked for, from a position (every entry, confirmed or not).
    InboxRead,
    /// Sessions and identities of a user, to migrate or delete (key: the purpose's token).
    UserRecords(u64),
    /// The outbox's pending markers at start.
    OutboxPending,
    /// Rows retention may delete.
    Retention(super::retention::Part),
    /// The one-time pre-keys a server digest lists.
    PreKeyDigest,
}

/// Loads in flight.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    next: u64,
    pending: BTreeMap<LoadId, LoadPurpose>,
    in_flight: BTreeSet<(Table, Bytes)>,
    /// Loads to emit.
    queued: Vec<(LoadId, Vec<RecordRead>)>,
    /// Loads answered so far: a job waiting for records re-checks only when this moved.
    answered: u64,
}

impl Loader {
    /// Asks for the records in `keys` that are neither cached nor already being loaded.
    /// Returns whether every key is cached already.
    pub(crate) fn want(
        &mut self,
        cache: &Cache,
        keys: impl IntoIterator<Item = (Table, Bytes)>,
    ) -> bool {
        let mut missing = Vec::new();
        let mut all_cached = true;
        for (table, key) in keys {
            if cache.has(table, &key) {
                continue;
            }
            all_cached = false;
            if self.in_flight.insert((table, key.clone())) {
                missing.push((table, key));
            }
        }
        if !missing.is_empty() {
            let reads = missing
                .iter()
                .map(|(t, k)| RecordRead::get(*t, k.clone()))
                .collect();
            let id = self.next_id();
            self.pending.insert(id, LoadPurpose::Keys(missing));
            self.queued.push((id, reads));
        }
        all_cached
    }

    /// Issues a range read for `purpose`.
    pub(crate) fn range(&mut self, read: RecordRead, purpose: RangeFor) -> LoadId {
        let id = self.next_id();
        self.pending.insert(id, LoadPurpose::Range(purpose));
        self.queued.push((id, vec![read]));
        id
    }

    fn next_id(&mut self) -> LoadId {
        self.next += 1;
        LoadId(self.next)
    }

    /// How many loads were issued so far (progress accounting).
    pub(crate) fn issued(&self) -> u64 {
        self.next
    }

    /// The loads to emit as actions.
    pub(crate) fn take_queued(&mut self) -> Vec<(LoadId, Vec<RecordRead>)> {
        std::mem::take(&mut self.queued)
    }

    /// How many loads were answered so far.
    pub(crate) fn answered(&self) -> u64 {
        self.answered
    }

    /// Whether a load is still unanswered.
    pub(crate) fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.queued.is_empty()
    }

    /// An answer: point reads fill `cache`; a range read is returned with its purpose.
    /// Unknown ids (a load issued before a restart of this machine) return `None`.
    pub(crate) fn answer(
        &mut self,
        cache: &mut Cache,
        id: LoadId,
        data: Vec<RecordData>,
    ) -> Option<(RangeFor, Vec<(Bytes, Bytes)>)> {
        let purpose = self.pending.remove(&id)?;
        self.answered += 1;
        match purpose {
            LoadPurpose::Keys(keys) => {
                for ((table, key), answer) in keys.into_iter().zip(data) {
                    self.in_flight.remove(&(table, key.clone()));
                    let value = match answer {
                        RecordData::Value(v) => v,
                        RecordData::Rows(_) => None,
                    };
                    cache.fill(table, key, value);
                }
                None
            }
            LoadPurpose::Range(purpose) => {
                let rows = data
                    .into_iter()
                    .next()
                    .map(|d| match d {
                        RecordData::Rows(rows) => rows,
                        RecordData::Value(_) => Vec::new(),
                    })
                    .unwrap_or_default();
                Some((purpose, rows))
            }
        }
    }

    /// Forgets every load (the store failed; nothing will be answered usefully).
    pub(crate) fn reset(&mut self) {
        self.pending.clear();
        self.in_flight.clear();
        self.queued.clear();
    }
}

/// An effect that waits for a commit to be durable (`messaging.md` §8.1: nothing leaves
/// before the state it depends on is durable).
#[derive(Debug)]
pub(crate) enum Deferred {
    /// Send this stanza (on the live connection; dropped if there is none: the server keeps
    /// what was not acknowledged and the outbox resends what was not acked).
    Send(crate::binary::Node),
    /// Tell the application.
    Event(crate::connection::Event),
    /// Tell a sub-machine that its commit is durable.
    Notify(Durable),
    /// The commit's writes are durable: their cache entries are clean now.
    Durable(CommitId),
}

/// What a sub-machine learns when its commit is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Durable {
    /// Freshly generated pre-keys may be uploaded. Their public halves ride here, so the
    /// upload needs no read of the records just written.
    PreKeysGenerated {
        /// The keys' ids and public keys, in id order.
        public: Vec<(u32, [u8; 32])>,
        /// One past the last id: the upload watermark once the server accepts them.
        end: u32,
    },
    /// A staged signed pre-key may be sent in a rotate iq.
    SignedPreKeyStaged(u32),
    /// An outgoing message is in the outbox (and its sessions advanced): it may go on the wire.
    OutboxReady(String),
}

/// One transaction's worth of changes, with what waits for it.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    pub(crate) changes: Vec<CredentialChange>,
    pub(crate) records: Vec<RecordWrite>,
    pub(crate) then: Vec<Deferred>,
}

impl Commit {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.records.is_empty() && self.then.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn loads_fill_only_what_is_missing_and_never_overwrite() {
        let mut cache = Cache::new(8);
        let mut loader = Loader::default();
        cache.write(Table::Sessions, k("a"), Some(k("new")), CommitId(1));
        assert!(!loader.want(
            &cache,
            [(Table::Sessions, k("a")), (Table::Sessions, k("b"))]
        ));
        // asking again does not load twice
        assert!(!loader.want(&cache, [(Table::Sessions, k("b"))]));
        let loads = loader.take_queued();
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].1, vec![RecordRead::get(Table::Sessions, k("b"))]);
        assert!(loader.busy());
        let rest = loader.answer(&mut cache, loads[0].0, vec![RecordData::Value(None)]);
        assert!(rest.is_none());
        assert!(!loader.busy());
        assert_eq!(cache.get(Table::Sessions, b"b"), Some(None));
        cache.fill(Table::Sessions, k("a"), Some(k("stale")));
        assert_eq!(cache.get(Table::Sessions, b"a"), Some(Some(k("new"))));
        assert!(loader.want(
            &cache,
            [(Table::Sessions, k("a")), (Table::Sessions, k("b"))]
        ));
    }

    #[test]
    fn dirty_entries_survive_trimming_until_durable() {
        let mut cache = Cache::new(1);
        cache.write(Table::Sessions, k("a"), Some(k("1")), CommitId(1));
        cache.write(Table::Sessions, k("b"), Some(k("2")), CommitId(2));
        cache.fill(Table::Sessions, k("c"), None);
        cache.fill(Table::Sessions, k("d"), None);
        cache.trim(Some(0));
        assert_eq!(cache.len(), 2, "only the dirty ones stay");
        cache.durable(CommitId(1));
        cache.trim(Some(0));
        assert_eq!(cache.get(Table::Sessions, b"a"), None);
        assert_eq!(cache.get(Table::Sessions, b"b"), Some(Some(k("2"))));
        cache.drop_dirty();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn trimming_keeps_the_most_recently_used() {
        let mut cache = Cache::new(2);
        for name in ["a", "b", "c"] {
            cache.fill(Table::Meta, k(name), None);
        }
        let _ = cache.get(Table::Meta, b"a");
        cache.trim(None);
        assert!(cache.has(Table::Meta, &k("a")));
        assert!(cache.has(Table::Meta, &k("c")));
        assert!(!cache.has(Table::Meta, &k("b")));
    }

    #[test]
    fn pinned_entries_survive_trimming_and_writes_until_unpinned() {
        let mut cache = Cache::new(0);
        cache.fill(Table::Sessions, k("a"), None);
        cache.fill(Table::Sessions, k("b"), None);
        assert!(cache.pin(Table::Sessions, &k("a")));
        assert!(
            !cache.pin(Table::Sessions, &k("z")),
            "absent: nothing to pin"
        );
        cache.trim(Some(0));
        assert!(cache.has(Table::Sessions, &k("a")));
        assert!(!cache.has(Table::Sessions, &k("b")));
        // Written and made durable: still pinned.
        cache.write(Table::Sessions, k("a"), Some(k("1")), CommitId(1));
        cache.durable(CommitId(1));
        cache.trim(Some(0));
        assert_eq!(cache.get(Table::Sessions, b"a"), Some(Some(k("1"))));
        cache.unpin_all();
        cache.trim(Some(0));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn answered_loads_are_counted() {
        let mut cache = Cache::new(8);
        let mut loader = Loader::default();
        assert!(!loader.want(&cache, [(Table::Sessions, k("a"))]));
        let (id, _) = loader.take_queued().remove(0);
        assert_eq!(loader.answered(), 0);
        loader.answer(&mut cache, id, vec![RecordData::Value(None)]);
        assert_eq!(loader.answered(), 1);
        loader.answer(&mut cache, id, vec![RecordData::Value(None)]);
        assert_eq!(loader.answered(), 1, "an unknown id is not an answer");
    }
}
