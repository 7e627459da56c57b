//! [`RedbStore`]: the [`CredentialStore`] on one redb file.
//!
//! ```text
//!  open(path) ── parent dir 0700 ─ file 0600 ─ schema check ─ OS lock ─ <store>.owner ─▶ RedbStore
//!                                      │ newer schema: refused      │ held: InUse{holder}
//!  apply(seq, delta)   one write txn: last_seq ≥ seq ? no-op : read live → Credentials::apply
//!                      → write changed rows → last_seq = seq → commit (Durability::Immediate)
//!                      (a `Created` also empties the Signal records and extras of the old identity)
//!                      + the delta's record writes (`records`)
//!  read(reads)         one read txn: the keyed records (`records`)
//!  quarantine(seq, why) one write txn: copy live → quarantine tables (id, when, why, seq), the
//!                      Signal records, extras and keyed records included → empty live tables
//!                      → forget last_seq
//!  restore_quarantined(id)  one write txn: (live must be empty) quarantine → live, last_seq = seq
//!  record_status(s)    one write txn: the status record only (the identity is not touched)
//!  install_identity    one write txn: (live must be empty) a whole imported identity, seq #1
//! ```
//!
//! Every write transaction commits with `Durability::Immediate`: when `apply` returns `Ok`, the
//! change survives a crash or power loss, which is what `Persisted(seq)` promises the core.

use std::path::{Path, PathBuf};

use prost::Message;
use redb::{Durability, ReadableTable, WriteTransaction};

use tether_core::creds::{CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError};
use tether_core::records::{RecordData, RecordRead, Table};

use crate::error::RedbStoreError;
use crate::foreign::{self, Foreign};
use crate::handle::Db;
use crate::opening;
use crate::owner::{self, Owner};
use crate::record::{self, DeviceRecord, QuarantineRecord};
use crate::records;
use crate::schema::{
    self, DEVICE, KEY_LAST_SEQ, KEY_NEXT_QUARANTINE, KEY_STATUS, META, QUARANTINE, SCHEMA_VERSION,
    STATUS, SYNC_KEYS, VERSIONS,
};
use crate::status::{self, StoreStatus};
use crate::tables::{self, Families};

type R<T> = Result<T, RedbStoreError>;

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// An identity moved aside by [`CredentialStore::quarantine`], as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// Its id, for [`RedbStore::restore_quarantined`].
    pub id: u64,
    /// Why it was moved aside.
    pub why: String,
    /// When, in Unix seconds.
    pub at_unix: u64,
    /// The sequence number of the quarantine.
    pub seq: PersistSeq,
    /// Its phone-number JID, if it was paired (an address, not a secret).
    pub jid: Option<String>,
}

/// The redb credential store: one file, one owner (or a reader that never writes to it).
pub struct RedbStore {
    pub(crate) db: Db,
    pub(crate) path: PathBuf,
    sidecar: PathBuf,
    /// This process as the owner (`None` for a reader).
    me: Option<Owner>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("owner", &self.me)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path` and becomes its single owner.
    ///
    /// Creates the parent directory with mode 0700 and the file with mode 0600 (a store file
    /// readable by others is tightened to 0600 once it is verified to be a store). The path
    /// must be a regular file or nothing: a symbolic link, a directory or any other kind of
    /// file is refused untouched ([`RedbStoreError::NotAStoreFile`]). The file is verified
    /// before it is opened for writing: a damaged store (or a file that is not a Tether store)
    /// is refused untouched with [`RedbStoreError::Damaged`], a store written by a newer
    /// Tether with [`RedbStoreError::NewerSchema`]; another owner is
    /// [`RedbStoreError::InUse`].
    pub fn open(path: impl AsRef<Path>) -> R<Self> {
        let path = path.as_ref().to_owned();
        let sidecar = owner::sidecar_path(&path);
        let (db, found) = opening::owned(&path)?;
        let me = Owner::me();
        owner::write_sidecar(&sidecar, &me)
            .map_err(|e| RedbStoreError::io("write the owner file", &sidecar, e))?;
        let store = Self {
            db,
            path,
            sidecar,
            me: Some(me),
        };
        store.init_schema(found)?;
        Ok(store)
    }

    /// Opens the existing store at `path` for reading only: it takes no ownership, writes
    /// nothing to the file (not even redb's crash recovery, which runs on a private copy in
    /// memory when needed) and refuses every change with [`RedbStoreError::ReadOnly`].
    ///
    /// The path rules and the verification of [`RedbStore::open`] apply; a missing or empty
    /// file is [`RedbStoreError::NoStore`]. While an owner holds the store it is
    /// [`RedbStoreError::InUse`].
    pub fn open_read_only(path: impl AsRef<Path>) -> R<Self> {
        let path = path.as_ref().to_owned();
        let db = opening::reader(&path)?;
        Ok(Self {
            db,
            sidecar: owner::sidecar_path(&path),
            path,
            me: None,
        })
    }

    /// Whether this handle is the owner's (`false` for [`RedbStore::open_read_only`]).
    pub fn is_owner(&self) -> bool {
        self.me.is_some()
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_schema(&self, found: u64) -> R<()> {
        if found > SCHEMA_VERSION {
            return Err(self.newer(found));
        }
        if found < SCHEMA_VERSION {
            let txn = self.begin_write()?;
            schema::migrate(&txn, found)?;
            txn.commit().map_err(db("commit the schema"))?;
        }
        Ok(())
    }

    fn newer(&self, found: u64) -> RedbStoreError {
        RedbStoreError::NewerSchema {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        }
    }

    pub(crate) fn begin_write(&self) -> R<WriteTransaction> {
        let Some(txn) = self.db.begin_write() else {
            return Err(RedbStoreError::ReadOnly {
                path: self.path.clone(),
            });
        };
        let mut txn = txn.map_err(db("begin a write"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(db("set immediate durability"))?;
        Ok(txn)
    }

    /// The stored credentials and last applied sequence number.
    pub fn load_credentials(&self) -> R<Option<(Credentials, PersistSeq)>> {
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        let meta = txn.open_table(META).map_err(db("open the meta table"))?;
        let device = txn
            .open_table(DEVICE)
            .map_err(db("open the device table"))?;
        let sync = txn
            .open_table(SYNC_KEYS)
            .map_err(db("open the sync-key table"))?;
        let versions = txn
            .open_table(VERSIONS)
            .map_err(db("open the version table"))?;
        let seq = meta.get(KEY_LAST_SEQ).map_err(db("read the sequence"))?;
        let seq = PersistSeq(seq.map_or(0, |s| s.value()));
        Ok(tables::read_live(&device, &sync, &versions, &Families::ALL)?.map(|c| (c, seq)))
    }

    /// Applies `delta` as change `seq` in one durable transaction (see [`CredentialStore::apply`]).
    pub fn apply_delta(&self, seq: PersistSeq, delta: &CredentialsDelta) -> R<()> {
        let txn = self.begin_write()?;
        if !accepts(&txn, seq)? {
            return txn.abort().map_err(db("abort a replay")); // replayed: already applied
        }
        let old = tables::read_live_in(&txn, &Families::touched_by(delta))?;
        if delta.creates_identity() {
            // A fresh identity starts without the old one's Signal records and extras.
            foreign::clear(&txn)?;
            records::clear(&txn)?;
        }
        let mut new = old.clone();
        Credentials::apply(&mut new, delta)?;
        tables::write_diff(&txn, old.as_ref(), new.as_ref())?;
        records::write(&txn, &delta.records)?;
        set_last_seq(&txn, Some(seq))?;
        txn.commit().map_err(db("commit the change"))
    }

    /// Answers record reads from one consistent snapshot (see [`CredentialStore::read`]).
    pub fn read_records(&self, reads: &[RecordRead]) -> R<Vec<RecordData>> {
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        records::read(&txn, reads)
    }

    /// How many live records `table` holds (e.g. the one-time pre-keys left).
    pub fn count_records(&self, table: Table) -> R<u64> {
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        records::count(&txn, table)
    }

    /// Moves the live identity aside under `why` and empties the store (see
    /// [`CredentialStore::quarantine`]). Returns the quarantine id it was given (`None` for a
    /// replayed `seq` or a store without a live identity).
    pub fn quarantine_identity(&self, seq: PersistSeq, why: &str) -> R<Option<u64>> {
        let txn = self.begin_write()?;
        if !accepts(&txn, seq)? {
            txn.abort().map_err(db("abort a replay"))?;
            return Ok(None);
        }
        let id = quarantine_live(&txn, seq, why)?;
        txn.commit().map_err(db("commit the quarantine"))?;
        Ok(id)
    }

    /// The quarantined identities, oldest first.
    pub fn list_quarantined(&self) -> R<Vec<QuarantineEntry>> {
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        let table = txn
            .open_table(QUARANTINE)
            .map_err(db("open the quarantine table"))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(db("list the quarantine"))? {
            let (id, value) = row.map_err(db("read a quarantine record"))?;
            let record = decode_quarantine(value.value())?;
            let jid = DeviceRecord::decode(record.device.as_slice())
                .ok()
                .and_then(|mut d| {
                    let jid = d.device.take().map(|d| d.jid);
                    record::wipe(d);
                    jid
                });
            out.push(QuarantineEntry {
                id: id.value(),
                why: record.why.clone(),
                at_unix: record.at_unix,
                seq: PersistSeq(record.seq),
                jid,
            });
            wipe_quarantine(record);
        }
        Ok(out)
    }

    /// Moves quarantined identity `id` back into the live tables, with the sequence number of
    /// its quarantine. The store must hold no live identity.
    pub fn restore_quarantined(&self, id: u64) -> R<()> {
        let txn = self.begin_write()?;
        if tables::read_live_in(&txn, &Families::ALL)?.is_some() {
            txn.abort().map_err(db("abort the restore"))?;
            return Err(RedbStoreError::RestoreOverLive { id });
        }
        let restored = restore_in(&txn, id);
        commit_or_abort(txn, restored, "commit the restore")
    }

    /// Swaps the live identity with quarantined identity `id` in one transaction: the live one
    /// (if any) is quarantined under `why`, then `id` is restored. Either both happen or
    /// neither does; this is the rollback of a relink. Returns the quarantine id the live
    /// identity was given (`None` when the store held none).
    pub fn swap_quarantined(&self, id: u64, why: &str) -> R<Option<u64>> {
        let txn = self.begin_write()?;
        let swapped = (|| {
            let seq = PersistSeq(last_seq(&txn)?.map_or(0, |last| last.saturating_add(1)));
            let set_aside = quarantine_live(&txn, seq, why)?;
            restore_in(&txn, id)?;
            Ok(set_aside)
        })();
        commit_or_abort(txn, swapped, "commit the swap")
    }
}

/// Commits `txn` when `result` is `Ok` (`commit` names the step in a database error), else
/// aborts it (nothing of it is written) and returns the error.
fn commit_or_abort<T>(txn: WriteTransaction, result: R<T>, commit: &'static str) -> R<T> {
    match result {
        Ok(value) => {
            txn.commit().map_err(db(commit))?;
            Ok(value)
        }
        Err(e) => {
            txn.abort().map_err(db("abort the failed change"))?;
            Err(e)
        }
    }
}

/// Moves the live identity (if any) into the quarantine tables under a new id, which it
/// returns, and empties the live tables; the caller commits.
fn quarantine_live(txn: &WriteTransaction, seq: PersistSeq, why: &str) -> R<Option<u64>> {
    let mut set_aside = None;
    if let Some(creds) = tables::read_live_in(txn, &Families::ALL)? {
        let mut meta = txn.open_table(META).map_err(db("open the meta table"))?;
        let id = meta
            .get(KEY_NEXT_QUARANTINE)
            .map_err(db("read the quarantine id"))?
            .map_or(1, |v| v.value());
        meta.insert(KEY_NEXT_QUARANTINE, id.saturating_add(1))
            .map_err(db("write the quarantine id"))?;
        drop(meta);
        let record = QuarantineRecord {
            why: why.to_owned(),
            at_unix: owner::unix_now(),
            seq: seq.0,
            device: record::encode_device(&creds).to_vec(),
        };
        let mut bytes = zeroize::Zeroizing::new(record.encode_to_vec());
        txn.open_table(QUARANTINE)
            .map_err(db("open the quarantine table"))?
            .insert(id, bytes.as_slice())
            .map_err(db("write the quarantine record"))?;
        bytes.clear();
        wipe_quarantine(record);
        tables::write_quarantined_families(txn, id, &creds)?;
        tables::clear_live(txn)?;
        foreign::quarantine(txn, id)?;
        records::quarantine(txn, id)?;
        set_aside = Some(id);
    }
    // The store is empty now: a new identity starts a new sequence.
    set_last_seq(txn, None)?;
    Ok(set_aside)
}

/// Moves quarantined identity `id` into the (empty) live tables with the sequence number of
/// its quarantine; the caller commits.
fn restore_in(txn: &WriteTransaction, id: u64) -> R<()> {
    let taken = {
        let mut table = txn
            .open_table(QUARANTINE)
            .map_err(db("open the quarantine table"))?;
        let removed = table.remove(id).map_err(db("take the quarantine record"))?;
        removed.map(|bytes| decode_quarantine(bytes.value()))
    };
    let Some(record) = taken else {
        return Err(RedbStoreError::NoSuchQuarantine { id });
    };
    let record = record?;
    let mut creds = record::decode_device(&record.device)?;
    let seq = PersistSeq(record.seq);
    wipe_quarantine(record);
    tables::take_quarantined_families(txn, id, &mut creds)?;
    tables::write_diff(txn, None, Some(&creds))?;
    foreign::restore(txn, id)?;
    records::restore(txn, id)?;
    set_last_seq(txn, Some(seq))
}

impl RedbStore {
    /// Records the owner's connection status in its own durable transaction (the identity is
    /// not touched). The whole record is replaced: the caller keeps the counters.
    pub fn record_status(&self, status: &StoreStatus) -> R<()> {
        let txn = self.begin_write()?;
        txn.open_table(STATUS)
            .map_err(db("open the status table"))?
            .insert(KEY_STATUS, status::encode(status).as_slice())
            .map_err(db("write the status"))?;
        txn.commit().map_err(db("commit the status"))
    }

    /// The recorded status (the default, all empty, when none was recorded).
    pub fn status(&self) -> R<StoreStatus> {
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        let table = txn
            .open_table(STATUS)
            .map_err(db("open the status table"))?;
        match table.get(KEY_STATUS).map_err(db("read the status"))? {
            Some(bytes) => Ok(status::decode(bytes.value())?),
            None => Ok(StoreStatus::default()),
        }
    }

    /// The live identity with its non-core records (for export).
    pub(crate) fn read_identity(&self) -> R<Option<(Credentials, Foreign)>> {
        let Some((creds, _)) = self.load_credentials()? else {
            return Ok(None);
        };
        let txn = self.db.begin_read().map_err(db("begin a read"))?;
        let open = db("open a record table");
        let sessions = txn.open_table(schema::SIGNAL_SESSIONS).map_err(&open)?;
        let identities = txn.open_table(schema::SIGNAL_IDENTITIES).map_err(&open)?;
        let senders = txn.open_table(schema::SENDER_KEYS).map_err(&open)?;
        let extra = txn.open_table(schema::EXTRA).map_err(&open)?;
        let extra_keys = txn.open_table(schema::EXTRA_KEYS).map_err(&open)?;
        let foreign = foreign::read([&sessions, &identities, &senders, &extra], &extra_keys)?;
        Ok(Some((creds, foreign)))
    }

    /// Installs a whole identity (an import) as change `seq` in one durable transaction. The
    /// store must hold no live identity.
    pub(crate) fn install_identity(
        &self,
        creds: &Credentials,
        foreign: &Foreign,
        messaging: &[tether_core::records::RecordWrite],
        seq: PersistSeq,
    ) -> R<()> {
        let txn = self.begin_write()?;
        if tables::read_live_in(&txn, &Families::NONE)?.is_some() {
            txn.abort().map_err(db("abort the import"))?;
            return Err(RedbStoreError::ImportOverLive {
                path: self.path.clone(),
            });
        }
        foreign::clear(&txn)?;
        records::clear(&txn)?;
        tables::write_diff(&txn, None, Some(creds))?;
        foreign::write(&txn, foreign)?;
        records::write(&txn, messaging)?;
        set_last_seq(&txn, Some(seq))?;
        txn.commit().map_err(db("commit the import"))
    }
}

impl CredentialStore for RedbStore {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        Ok(self.load_credentials()?)
    }

    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError> {
        Ok(self.apply_delta(seq, delta)?)
    }

    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        self.quarantine_identity(seq, why)?;
        Ok(())
    }

    fn read(&mut self, reads: &[RecordRead]) -> Result<Vec<RecordData>, StoreError> {
        Ok(self.read_records(reads)?)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Runs before `db` is dropped, so the sidecar goes while the lock is still held.
        if let Some(me) = &self.me {
            owner::remove_sidecar_if_mine(&self.sidecar, me);
        }
    }
}

/// Whether `seq` is new (greater than the last applied one, or there is none).
fn accepts(txn: &WriteTransaction, seq: PersistSeq) -> R<bool> {
    Ok(last_seq(txn)?.is_none_or(|last| seq.0 > last))
}

/// The last applied sequence number (`None` in an empty store).
fn last_seq(txn: &WriteTransaction) -> R<Option<u64>> {
    let meta = txn.open_table(META).map_err(db("open the meta table"))?;
    let last = meta.get(KEY_LAST_SEQ).map_err(db("read the sequence"))?;
    Ok(last.map(|v| v.value()))
}

fn set_last_seq(txn: &WriteTransaction, seq: Option<PersistSeq>) -> R<()> {
    let mut meta = txn.open_table(META).map_err(db("open the meta table"))?;
    match seq {
        Some(seq) => meta.insert(KEY_LAST_SEQ, seq.0).map(drop),
        None => meta.remove(KEY_LAST_SEQ).map(drop),
    }
    .map_err(db("write the sequence"))
}

fn decode_quarantine(bytes: &[u8]) -> R<QuarantineRecord> {
    QuarantineRecord::decode(bytes).map_err(|e| {
        RedbStoreError::Record(record::RecordError::Malformed {
            what: "quarantine",
            reason: e.to_string(),
        })
    })
}

fn wipe_quarantine(mut record: QuarantineRecord) {
    use zeroize::Zeroize;
    record.device.zeroize();
}
