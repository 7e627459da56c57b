//! [`check`]: the read-only integrity check behind `tether status` and `tether doctor`.
//!
//! It never takes ownership and never writes to the store, and a damaged store is a report,
//! never a panic:
//!
//! ```text
//!  check(path) ─ missing ─▶ ✘ no store      a link, a directory, … ─▶ ✘ not a store file
//!      │ 0 bytes ─▶ ✔ empty (no identity)
//!      │ open O_NOFOLLOW, read-only probe (crate::verify)
//!      ├─ closed cleanly ─────────────────── copy into memory ─ every page's checksum ─┐
//!      ├─ not closed cleanly (owner killed) ─ copy ─ recover the copy ─ checksums ──────┤
//!      ├─ locked by a running owner ──────── copy ─ recover the copy ─ checksums ──────┤
//!      │      (the owner's control socket has the live status; a copy taken mid-write  │
//!      │       may be unreadable, which the report says)                               │
//!      └─ unreadable, damaged, a panic inside redb ─▶ ✘ damaged, with advice           │
//!                                                  inspect every record of the copy ◀──┘
//! ```
//!
//! The copy lives in memory only (it holds keys) and is wiped when dropped. Every record that
//! cannot be read is named in the report; the rest is still reported.

use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

use tether_core::creds::Credentials;

use bytes::Bytes;
use tether_core::records::{RecordData, RecordRead};

use crate::error::RedbStoreError;
use crate::guard::contain;
use crate::owner::Owner;
use crate::place::{self, Found};
use crate::record::{self, QuarantineRecord};
use crate::schema::{
    self, DEVICE, EXTRA, EXTRA_KEYS, KEY_CURRENT, KEY_LAST_SEQ, KEY_STATUS, META, PRE_KEYS,
    Q_EXTRA, Q_EXTRA_KEYS, Q_PRE_KEYS, Q_SENDER_KEYS, Q_SIGNAL_IDENTITIES, Q_SIGNAL_SESSIONS,
    Q_SYNC_KEYS, Q_VERSIONS, QUARANTINE, SCHEMA_VERSION, SENDER_KEYS, SIGNAL_IDENTITIES,
    SIGNAL_SESSIONS, STATUS, SYNC_KEYS, VERSIONS,
};
use crate::status::{self, StoreStatus};
use crate::verify;

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckItem {
    /// Whether this item is in order.
    pub ok: bool,
    /// What was checked.
    pub what: String,
    /// What was found (for a damaged item: what is wrong and what to do).
    pub detail: String,
}

/// How many records of each kind the live identity has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// One-time pre-keys.
    pub pre_keys: u64,
    /// App-state sync keys.
    pub app_state_sync_keys: u64,
    /// App-state collection versions.
    pub app_state_versions: u64,
    /// Signal sessions.
    pub signal_sessions: u64,
    /// Signal identities.
    pub signal_identities: u64,
    /// Sender keys.
    pub sender_keys: u64,
    /// Extra fields and other key-store items.
    pub extras: u64,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default)]
pub struct IntegrityReport {
    /// The store file checked.
    pub path: PathBuf,
    /// Who held the store while it was checked (a copy was read then).
    pub owner: Option<Owner>,
    /// The schema version found.
    pub schema_version: Option<u64>,
    /// Whether an identity is stored and linked to an account.
    pub paired: bool,
    /// Its phone-number JID (an address, not a secret).
    pub jid: Option<String>,
    /// Its LID.
    pub lid: Option<String>,
    /// Whether the server accepted it since pairing.
    pub confirmed: bool,
    /// The last applied sequence number.
    pub last_seq: Option<u64>,
    /// Record counts of the live identity.
    pub counts: KeyCounts,
    /// Rows of the messaging layer's record families (sessions, identities, sender keys,
    /// outbox, inbox, …) by family name; families without rows are left out.
    pub messaging: Vec<(&'static str, u64)>,
    /// Identities kept in quarantine.
    pub quarantined: u64,
    /// The owner's recorded status.
    pub status: Option<StoreStatus>,
    /// The server the live identity was linked with, when recorded.
    pub server: Option<crate::ServerBinding>,
    /// Every line, in order.
    pub items: Vec<CheckItem>,
}

impl IntegrityReport {
    /// Whether nothing is damaged.
    pub fn is_healthy(&self) -> bool {
        self.items.iter().all(|i| i.ok)
    }

    /// Whether this is a healthy, initialised Tether store (what a backup must be).
    pub fn is_tether_store(&self) -> bool {
        self.is_healthy() && self.schema_version.is_some_and(|v| v >= 1)
    }

    /// The damaged items, as `what: detail`.
    pub fn problems(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| !i.ok)
            .map(|i| format!("{}: {}", i.what, i.detail))
            .collect()
    }

    fn ok(&mut self, what: &str, detail: impl Into<String>) {
        self.items.push(CheckItem {
            ok: true,
            what: what.to_owned(),
            detail: detail.into(),
        });
    }

    fn bad(&mut self, what: &str, detail: impl Into<String>) {
        self.items.push(CheckItem {
            ok: false,
            what: what.to_owned(),
            detail: detail.into(),
        });
    }
}

impl fmt::Display for IntegrityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "store {}", self.path.display())?;
        for item in &self.items {
            let mark = if item.ok { '✔' } else { '✘' };
            writeln!(f, "{mark} {}: {}", item.what, item.detail)?;
        }
        if self.is_healthy() {
            write!(f, "no damage found")
        } else {
            write!(f, "{} damaged item(s)", self.problems().len())
        }
    }
}

/// Checks the store at `path` read-only, without taking ownership (see the module docs).
///
/// Never panics and never writes to the file, whatever it holds.
pub fn check(path: impl AsRef<Path>) -> IntegrityReport {
    let path = path.as_ref();
    let mut report = IntegrityReport {
        path: path.to_owned(),
        ..IntegrityReport::default()
    };
    let meta = match place::inspect(path) {
        Ok(Found::File(meta)) => meta,
        Ok(Found::Empty) => {
            report.ok(
                "file",
                "empty: a first open was interrupted before it initialised the store; the next \
                 open initialises it (no identity is stored)",
            );
            return report;
        }
        Ok(Found::Missing) => {
            report.bad(
                "file",
                "no store here; check --store, or run `tether run` to link a new device, or \
                 `tether import` a Baileys auth directory",
            );
            return report;
        }
        Err(e) => {
            report.bad("file", e.to_string());
            return report;
        }
    };
    let file = match place::open(path, &meta, false) {
        Ok(f) => f,
        Err(e) => {
            report.bad("file", e.to_string());
            return report;
        }
    };
    let clean = match verify::probe(path, &file) {
        Ok(true) => {
            report.ok("file", "opened read-only; closed cleanly by its last owner");
            true
        }
        Ok(false) => {
            report.ok(
                "file",
                "opened read-only; not closed cleanly (its owner stopped without closing it, \
                 e.g. killed): the next open recovers it; a recovered copy was checked",
            );
            false
        }
        Err(RedbStoreError::InUse { holder, .. }) => {
            let who = holder
                .as_ref()
                .map_or_else(|| "an unknown process".to_owned(), ToString::to_string);
            report.ok(
                "owner",
                format!(
                    "in use by {who}; its live status comes over the owner's control socket \
                     (`tether status`); what follows was read from a copy taken now"
                ),
            );
            report.owner = holder;
            // A copy taken while the owner writes is recovered like a crashed store.
            false
        }
        Err(e) => {
            report.bad("file", damage(&e));
            return report;
        }
    };
    match verify::verified_copy(path, &file, clean) {
        Ok((db, _)) => {
            report.ok(
                "pages",
                "every page of the committed data verifies its checksum",
            );
            if let Err(panic) = contain(|| inspect(&db, &mut report)) {
                report.bad("file", format!("damaged: {panic}"));
            }
        }
        Err(e) if report.owner.is_some() => report.bad(
            "file",
            format!(
                "the copy taken while the owner wrote cannot be read ({}); check again",
                damage(&e)
            ),
        ),
        Err(e) => report.bad("file", damage(&e)),
    }
    report
}

/// What is wrong, for a report line, with the advice that goes with it.
fn damage(e: &RedbStoreError) -> String {
    match e {
        RedbStoreError::Damaged { detail, .. } => format!("damaged: {detail}"),
        other => other.to_string(),
    }
}

/// A table, or `None` when the schema has not created it yet.
fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<'static, K, V>,
    report: &mut IntegrityReport,
) -> Option<redb::ReadOnlyTable<K, V>> {
    match txn.open_table(def) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => {
            report.bad(def.name(), format!("cannot open the table: {e}"));
            None
        }
    }
}

fn count<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<'static, K, V>,
    report: &mut IntegrityReport,
) -> u64 {
    table(txn, def, report).map_or(0, |t| match t.len() {
        Ok(n) => n,
        Err(e) => {
            report.bad(def.name(), format!("cannot count the rows: {e}"));
            0
        }
    })
}

/// The messaging layer's records: counted, and the Signal ones decoded.
fn inspect_messaging(txn: &redb::ReadTransaction, report: &mut IntegrityReport) {
    let found = match crate::records::inspect(txn) {
        Ok(found) => found,
        Err(e) => {
            report.bad("messaging records", format!("cannot read them: {e}"));
            return;
        }
    };
    report.messaging = found.counts.iter().map(|(t, n)| (t.name(), *n)).collect();
    if found.damaged_total > 0 {
        let named: Vec<String> = found
            .damaged
            .iter()
            .map(|(t, key, why)| format!("{} {key}: {why}", t.name()))
            .collect();
        report.bad(
            "messaging records",
            format!(
                "{} records do not decode ({}); the messaging layer treats a damaged session or \
                 sender key as missing and asks the contact to start a new one, so messages \
                 keep flowing; restore a backup to keep them",
                found.damaged_total,
                named.join("; ")
            ),
        );
    } else if found.unknown_family > 0 {
        report.bad(
            "messaging records",
            format!(
                "{} records belong to a family this build does not know: the store was written \
                 by a newer Tether; check it with that version",
                found.unknown_family
            ),
        );
    } else if !found.counts.is_empty() {
        let list: Vec<String> = found
            .counts
            .iter()
            .map(|(t, n)| format!("{n} {}", t.name().replace('_', " ")))
            .collect();
        report.ok("messaging records", list.join(", "));
    }
}

fn inspect(db: &impl ReadableDatabase, report: &mut IntegrityReport) {
    let version = match schema::stored_version(db) {
        Ok(v) => v,
        Err(e) => {
            report.bad("schema", e.to_string());
            return;
        }
    };
    report.schema_version = Some(version);
    match version {
        0 => {
            report.bad(
                "schema",
                "no schema version: this is not a Tether store (or it was never initialised)",
            );
            return;
        }
        v if v > SCHEMA_VERSION => {
            report.bad(
                "schema",
                format!(
                    "unknown schema version {v} (this build reads up to {SCHEMA_VERSION}); \
                     it was written by a newer Tether: check it with that version"
                ),
            );
            return;
        }
        v if v < SCHEMA_VERSION => report.ok(
            "schema",
            format!("version {v}; the next open migrates it to version {SCHEMA_VERSION}"),
        ),
        v => report.ok("schema", format!("version {v}")),
    }
    let txn = match db.begin_read() {
        Ok(t) => t,
        Err(e) => {
            report.bad("file", format!("cannot begin a read: {e}"));
            return;
        }
    };
    if let Some(meta) = table(&txn, META, report) {
        match meta.get(KEY_LAST_SEQ) {
            Ok(seq) => report.last_seq = seq.map(|s| s.value()),
            Err(e) => report.bad("sequence", format!("cannot read it: {e}")),
        }
    }
    let creds = inspect_device(&txn, report);
    inspect_pre_keys(&txn, creds.as_ref(), report);
    report.counts.app_state_sync_keys = count(&txn, SYNC_KEYS, report);
    report.counts.app_state_versions = count(&txn, VERSIONS, report);
    report.counts.signal_sessions = count(&txn, SIGNAL_SESSIONS, report);
    report.counts.signal_identities = count(&txn, SIGNAL_IDENTITIES, report);
    report.counts.sender_keys = count(&txn, SENDER_KEYS, report);
    report.counts.extras = count(&txn, EXTRA, report) + count(&txn, EXTRA_KEYS, report);
    if creds.is_some() {
        let c = report.counts;
        report.ok(
            "keys",
            format!(
                "{} pre-keys, {} app-state sync keys, {} app-state versions, {} Signal \
                 sessions, {} Signal identities, {} sender keys, {} extra records",
                c.pre_keys,
                c.app_state_sync_keys,
                c.app_state_versions,
                c.signal_sessions,
                c.signal_identities,
                c.sender_keys,
                c.extras
            ),
        );
    }
    inspect_messaging(&txn, report);
    match (creds.is_some(), report.last_seq) {
        (true, None) => report.bad(
            "sequence",
            "the identity has no sequence number; the next change may be taken for a replay; \
             restore a backup",
        ),
        (false, Some(seq)) => report.bad(
            "sequence",
            format!("sequence #{seq} but no identity; restore a backup"),
        ),
        (true, Some(seq)) => report.ok("sequence", format!("last change #{seq}")),
        (false, None) => {}
    }
    inspect_quarantine(&txn, report);
    inspect_status(&txn, report);
}

fn inspect_device(
    txn: &redb::ReadTransaction,
    report: &mut IntegrityReport,
) -> Option<Credentials> {
    let device = table(txn, DEVICE, report)?;
    let bytes = match device.get(KEY_CURRENT) {
        Ok(Some(b)) => b,
        Ok(None) => {
            report.ok(
                "identity",
                "none stored (not paired); `tether run` links a new device",
            );
            return None;
        }
        Err(e) => {
            report.bad("credentials record", format!("cannot be read: {e}"));
            return None;
        }
    };
    let creds = match record::decode_device(bytes.value()) {
        Ok(c) => c,
        Err(e) => {
            report.bad(
                "credentials record",
                format!("fails to decode ({e}); restore a backup (`tether restore`)"),
            );
            return None;
        }
    };
    let mut message = vec![tether_core::payload::KEY_TYPE_DJB];
    message.extend_from_slice(&creds.signed_pre_key.key_pair.public_bytes());
    if creds
        .identity_key
        .verify(&message, &creds.signed_pre_key.signature)
    {
        report.ok(
            "signed pre-key",
            format!("id {}, signature verifies", creds.signed_pre_key.id),
        );
    } else {
        report.bad(
            "signed pre-key",
            "its signature does not verify against the identity key: peers will refuse it; \
             restore a backup or relink",
        );
    }
    match &creds.device {
        Some(d) => {
            report.paired = true;
            report.confirmed = creds.confirmed;
            report.jid = Some(d.jid.to_string());
            report.lid = d.lid.as_ref().map(ToString::to_string);
            let mut detail = format!("paired as {}", d.jid);
            if let Some(lid) = &d.lid {
                detail.push_str(&format!(" (lid {lid})"));
            }
            if let Some(p) = &d.platform {
                detail.push_str(&format!(", primary on {p}"));
            }
            detail.push_str(if creds.confirmed {
                ", logged in since pairing"
            } else {
                ", not yet logged in since pairing"
            });
            report.ok("identity", detail);
        }
        None => report.ok(
            "identity",
            "keys present, not paired; `tether run` links this device",
        ),
    }
    Some(creds)
}

/// One-time pre-keys: records of the `pre_keys` family (schema 4), or the `pre_keys` table of
/// an older schema that the next open migrates. Each is 32 bytes, under an id below the next
/// one to generate.
fn inspect_pre_keys(
    txn: &redb::ReadTransaction,
    creds: Option<&Credentials>,
    report: &mut IntegrityReport,
) {
    let mut found: Vec<(u32, usize)> = Vec::new();
    if let Some(table) = table(txn, PRE_KEYS, report) {
        match table.iter() {
            Ok(rows) => {
                for row in rows {
                    match row {
                        Ok((id, key)) => found.push((id.value(), key.value().len())),
                        Err(e) => report.bad("pre-keys", format!("a row cannot be read: {e}")),
                    }
                }
            }
            Err(e) => report.bad("pre-keys", format!("cannot be listed: {e}")),
        }
    }
    let read = RecordRead::Range {
        table: tether_core::records::Table::PreKeys,
        start: Bytes::new(),
        end: Bytes::new(),
        limit: u32::MAX,
    };
    let stored = match table(txn, crate::records::RECORDS, report) {
        None => Vec::new(), // a schema before the records
        Some(_) => match crate::records::read(txn, &[read]) {
            Ok(mut data) => match data.pop() {
                Some(RecordData::Rows(rows)) => rows,
                _ => Vec::new(),
            },
            Err(e) => {
                report.bad("pre-keys", format!("cannot be listed: {e}"));
                Vec::new()
            }
        },
    };
    for (key, value) in stored {
        match <[u8; 4]>::try_from(key.as_ref()) {
            Ok(id) => found.push((u32::from_be_bytes(id), value.len())),
            Err(_) => report.bad(
                "pre-keys",
                format!(
                    "a pre-key record has a {}-byte key, not a 4-byte id; restore a backup",
                    key.len()
                ),
            ),
        }
    }
    let next = creds.map(|c| c.next_pre_key_id);
    let (mut bad_len, mut above) = (Vec::new(), Vec::new());
    for (id, len) in &found {
        if *len != 32 {
            bad_len.push(*id);
        }
        if next.is_some_and(|next| *id >= next) {
            above.push(*id);
        }
    }
    report.counts.pre_keys = u64::try_from(found.len()).unwrap_or(u64::MAX);
    if !bad_len.is_empty() {
        report.bad(
            "pre-keys",
            format!("pre-key(s) {bad_len:?} are not 32 bytes; restore a backup"),
        );
    }
    if let (Some(next), false) = (next, above.is_empty()) {
        report.bad(
            "pre-keys",
            format!(
                "pre-key id(s) {above:?} at or above the next id to generate ({next}): the \
                 next generation would overwrite them; restore a backup"
            ),
        );
    }
}

fn inspect_quarantine(txn: &redb::ReadTransaction, report: &mut IntegrityReport) {
    let Some(table) = table(txn, QUARANTINE, report) else {
        return;
    };
    let iter = match table.iter() {
        Ok(i) => i,
        Err(e) => {
            report.bad("quarantine", format!("cannot be listed: {e}"));
            return;
        }
    };
    let mut kept = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for row in iter {
        let Ok((id, value)) = row else {
            report.bad("quarantine", "a row cannot be read");
            continue;
        };
        let id = id.value();
        ids.insert(id);
        match QuarantineRecord::decode(value.value()) {
            Ok(mut q) => {
                match record::decode_device(&q.device) {
                    Ok(c) => kept.push(format!(
                        "#{id} {} ({})",
                        c.device.as_ref().map_or_else(|| "unpaired".to_owned(), |d| d.jid.to_string()),
                        q.why
                    )),
                    Err(e) => report.bad(
                        "quarantine",
                        format!("quarantined identity #{id}: its credentials record fails to decode ({e})"),
                    ),
                }
                zeroize::Zeroize::zeroize(&mut q.device);
            }
            Err(e) => report.bad(
                "quarantine",
                format!("quarantined identity #{id}: its record fails to decode ({e})"),
            ),
        }
    }
    drop(table);
    let orphans = orphaned_rows(txn, &ids);
    if orphans > 0 {
        report.bad(
            "quarantine",
            format!(
                "{orphans} quarantined key row(s) belong to no quarantined identity (a count \
                 mismatch between the quarantine records and their keys); restore a backup"
            ),
        );
    }
    report.quarantined = kept.len() as u64;
    if !kept.is_empty() {
        report.ok(
            "quarantine",
            format!("{} kept: {}", kept.len(), kept.join(", ")),
        );
    }
}

fn inspect_status(txn: &redb::ReadTransaction, report: &mut IntegrityReport) {
    report.server = crate::binding::read(txn);
    let Some(table) = table(txn, STATUS, report) else {
        return;
    };
    match table.get(KEY_STATUS) {
        Ok(Some(bytes)) => match status::decode(bytes.value()) {
            Ok(s) => {
                report.ok("status", s.to_string());
                report.status = Some(s);
            }
            Err(e) => report.bad("status record", format!("fails to decode ({e})")),
        },
        Ok(None) => report.ok("status", "nothing recorded yet (never run)"),
        Err(e) => report.bad("status record", format!("cannot be read: {e}")),
    }
}

/// Rows of the quarantine key tables whose quarantine id has no quarantine record.
fn orphaned_rows(txn: &redb::ReadTransaction, ids: &std::collections::BTreeSet<u64>) -> u64 {
    let mut orphans = 0u64;
    macro_rules! scan {
        ($def:expr) => {
            if let Ok(table) = txn.open_table($def)
                && let Ok(rows) = table.iter()
            {
                for (key, _) in rows.flatten() {
                    if !ids.contains(&key.value().0) {
                        orphans += 1;
                    }
                }
            }
        };
    }
    scan!(Q_PRE_KEYS);
    scan!(Q_SYNC_KEYS);
    scan!(Q_VERSIONS);
    scan!(Q_SIGNAL_SESSIONS);
    scan!(Q_SIGNAL_IDENTITIES);
    scan!(Q_SENDER_KEYS);
    scan!(Q_EXTRA);
    scan!(Q_EXTRA_KEYS);
    orphans
}
