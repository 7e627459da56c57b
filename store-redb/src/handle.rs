//! [`Db`]: the database handle behind a [`crate::RedbStore`] — the owner's writable file, or a
//! reader's view that never writes to the file.

use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase as _, TransactionError,
    WriteTransaction,
};

/// How a store was opened.
pub(crate) enum Db {
    /// The single owner's writable handle on the file.
    Owned(Database),
    /// A reader's read-only handle on a file closed cleanly: it takes no ownership and writes
    /// nothing.
    Reader(ReadOnlyDatabase),
    /// A reader's verified copy in memory of a file that needs crash recovery or a schema
    /// migration: recovered and migrated in the copy only, never in the file.
    Snapshot(Database),
}

impl Db {
    /// Begins a read transaction, whichever the handle.
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, TransactionError> {
        match self {
            Self::Owned(db) | Self::Snapshot(db) => db.begin_read(),
            Self::Reader(db) => db.begin_read(),
        }
    }

    /// Begins a write transaction on the owner's handle (`None` for a reader).
    pub(crate) fn begin_write(&self) -> Option<Result<WriteTransaction, TransactionError>> {
        match self {
            Self::Owned(db) => Some(db.begin_write()),
            Self::Reader(_) | Self::Snapshot(_) => None,
        }
    }
}
