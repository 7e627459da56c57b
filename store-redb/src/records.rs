//! The keyed records of the messaging layer ([`tether_core::records`]) on redb.
//!
//! Every family lives in one table, `records`, keyed by `(table id, key)`: a range read of one
//! family is a contiguous key range, and a quarantine moves the whole identity's records with
//! one range scan into `quarantine_records`, keyed `(quarantine id, table id, key)`. The store
//! never interprets a value (the core owns the layouts).

use bytes::Bytes;
use redb::{ReadTransaction, TableDefinition, WriteTransaction};
use tether_core::records::{RecordData, RecordRead, RecordWrite, Table};

use crate::error::RedbStoreError;

type R<T> = Result<T, RedbStoreError>;

/// `(table id, key) → value`: the live records.
pub(crate) const RECORDS: TableDefinition<'static, (u8, &[u8]), &[u8]> =
    TableDefinition::new("records");
/// `(quarantine id, table id, key) → value`: the records of quarantined identities.
pub(crate) const Q_RECORDS: TableDefinition<'static, (u64, u8, &[u8]), &[u8]> =
    TableDefinition::new("quarantine_records");

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// Applies `writes` inside `txn` (the caller commits).
pub(crate) fn write(txn: &WriteTransaction, writes: &[RecordWrite]) -> R<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut table = txn
        .open_table(RECORDS)
        .map_err(db("open the record table"))?;
    for w in writes {
        match w {
            RecordWrite::Put {
                table: t,
                key,
                value,
            } => {
                table
                    .insert((t.id(), key.as_ref()), value.as_ref())
                    .map_err(db("write a record"))?;
            }
            RecordWrite::Delete { table: t, key } => {
                table
                    .remove((t.id(), key.as_ref()))
                    .map_err(db("delete a record"))?;
            }
        }
    }
    Ok(())
}

/// Answers `reads` from one read transaction (a consistent snapshot).
pub(crate) fn read(txn: &ReadTransaction, reads: &[RecordRead]) -> R<Vec<RecordData>> {
    let table = txn
        .open_table(RECORDS)
        .map_err(db("open the record table"))?;
    reads
        .iter()
        .map(|r| match r {
            RecordRead::Get { table: t, key } => {
                let value = table
                    .get((t.id(), key.as_ref()))
                    .map_err(db("read a record"))?
                    .map(|v| Bytes::copy_from_slice(v.value()));
                Ok(RecordData::Value(value))
            }
            RecordRead::Range {
                table: t,
                start,
                end,
                limit,
            } => {
                let limit = usize::try_from(*limit).unwrap_or(usize::MAX);
                let lower = (t.id(), start.as_ref());
                let rows = if end.is_empty() {
                    collect(table.range(lower..).map_err(db("read records"))?, *t, limit)?
                } else {
                    let upper = (t.id(), end.as_ref());
                    collect(
                        table.range(lower..upper).map_err(db("read records"))?,
                        *t,
                        limit,
                    )?
                };
                Ok(RecordData::Rows(rows))
            }
        })
        .collect()
}

fn collect(
    range: redb::Range<'_, (u8, &'static [u8]), &'static [u8]>,
    table: Table,
    limit: usize,
) -> R<Vec<(Bytes, Bytes)>> {
    let mut rows = Vec::new();
    for row in range {
        if rows.len() >= limit {
            break;
        }
        let (k, v) = row.map_err(db("read a record"))?;
        let (t, key) = k.value();
        if t != table.id() {
            break;
        }
        rows.push((
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(v.value()),
        ));
    }
    Ok(rows)
}

/// How many live records `table` holds.
pub(crate) fn count(txn: &ReadTransaction, table: Table) -> R<u64> {
    let records = txn
        .open_table(RECORDS)
        .map_err(db("open the record table"))?;
    let mut n = 0u64;
    let rows = records
        .range((table.id(), &[][..])..)
        .map_err(db("count records"))?;
    for row in rows {
        let (k, _) = row.map_err(db("count records"))?;
        if k.value().0 != table.id() {
            break;
        }
        n += 1;
    }
    Ok(n)
}

/// Removes every live record (a fresh identity starts without the old one's).
pub(crate) fn clear(txn: &WriteTransaction) -> R<()> {
    txn.open_table(RECORDS)
        .map_err(db("open the record table"))?
        .retain(|_, _| false)
        .map_err(db("empty the record table"))
}

/// Moves every live record into the quarantine under `id`.
pub(crate) fn quarantine(txn: &WriteTransaction, id: u64) -> R<()> {
    let what = "quarantine the records";
    let mut live = txn.open_table(RECORDS).map_err(db(what))?;
    let mut aside = txn.open_table(Q_RECORDS).map_err(db(what))?;
    for row in live.extract_if(|_, _| true).map_err(db(what))? {
        let (k, v) = row.map_err(db(what))?;
        let (t, key) = k.value();
        aside.insert((id, t, key), v.value()).map_err(db(what))?;
    }
    Ok(())
}

/// Moves the records quarantined under `id` back into the (empty) live table.
pub(crate) fn restore(txn: &WriteTransaction, id: u64) -> R<()> {
    let what = "restore the quarantined records";
    let mut aside = txn.open_table(Q_RECORDS).map_err(db(what))?;
    let mut live = txn.open_table(RECORDS).map_err(db(what))?;
    let range = (id, 0u8, &[][..])..(id.saturating_add(1), 0u8, &[][..]);
    for row in aside
        .extract_from_if(range, |_, _| true)
        .map_err(db(what))?
    {
        let (k, v) = row.map_err(db(what))?;
        let (_, t, key) = k.value();
        live.insert((t, key), v.value()).map_err(db(what))?;
    }
    Ok(())
}

/// What [`inspect`] found in the live records: rows per family, and the rows whose value the
/// messaging layer could not use.
#[derive(Debug, Default)]
pub(crate) struct Inspection {
    /// Rows per family, in [`Table::ALL`] order (families without rows left out).
    pub(crate) counts: Vec<(Table, u64)>,
    /// Damaged rows: (family, key as text, why), at most a few per family.
    pub(crate) damaged: Vec<(Table, String, String)>,
    /// All damaged rows, counted.
    pub(crate) damaged_total: u64,
    /// Rows of a family this build does not know.
    pub(crate) unknown_family: u64,
}

/// How many damaged rows of one family are named in a report.
const NAMED_PER_FAMILY: usize = 3;

/// Reads every live record once: counts each family and decodes the Signal ones (sessions,
/// sender keys, identity keys), so a check names a record the messaging layer would have to
/// drop.
pub(crate) fn inspect(txn: &ReadTransaction) -> R<Inspection> {
    let table = match txn.open_table(RECORDS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Inspection::default()),
        Err(e) => return Err(RedbStoreError::db("open the record table", e)),
    };
    let mut out = Inspection::default();
    let mut counts = std::collections::BTreeMap::<u8, u64>::new();
    let mut named = std::collections::BTreeMap::<u8, usize>::new();
    for row in redb::ReadableTable::iter(&table).map_err(db("read records"))? {
        let (k, v) = row.map_err(db("read a record"))?;
        let (id, key) = k.value();
        let Some(family) = Table::from_id(id) else {
            out.unknown_family += 1;
            continue;
        };
        *counts.entry(id).or_default() += 1;
        if let Some(why) = damage(family, v.value()) {
            out.damaged_total += 1;
            let n = named.entry(id).or_default();
            if *n < NAMED_PER_FAMILY {
                *n += 1;
                out.damaged
                    .push((family, String::from_utf8_lossy(key).into_owned(), why));
            }
        }
    }
    out.counts = Table::ALL
        .into_iter()
        .filter_map(|t| counts.get(&t.id()).map(|n| (t, *n)))
        .collect();
    Ok(out)
}

/// Why a record's value is unusable, for the families whose layout is checkable here.
fn damage(family: Table, value: &[u8]) -> Option<String> {
    match family {
        Table::Sessions => tether_signal::SessionRecord::from_bytes(value)
            .err()
            .map(|e| e.to_string()),
        Table::SenderKeys => tether_signal::SenderKeyRecord::from_bytes(value)
            .err()
            .map(|e| e.to_string()),
        Table::Identities => {
            (value.len() != 32).then(|| format!("an identity key of {} bytes, not 32", value.len()))
        }
        _ => None,
    }
}
