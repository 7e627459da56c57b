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
