//! [`RedbStoreError`]: every way the redb store can fail, each saying what, why and what to do.

use std::path::PathBuf;

use thiserror::Error;

use tether_core::creds::{ApplyError, StoreError};

use crate::owner::Owner;
use crate::record::RecordError;

/// A failure of the redb credential store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RedbStoreError {
    /// Another instance holds the store open.
    #[error(
        "the store {path} is in use by another Tether instance ({}); two instances on one \
         account make the server replace each other's connection (stream error 440 'connection \
         replaced') in an endless loop; stop the other instance ({}) or use another --store",
        holder_text(.holder), holder_text(.holder)
    )]
    InUse {
        /// The store file.
        path: PathBuf,
        /// Who holds it, when the holder recorded itself in `<store>.owner`.
        holder: Option<Owner>,
    },
    /// The store was written by a newer Tether with a newer schema.
    #[error(
        "the store {path} has schema version {found}, but this build understands up to version \
         {supported}; it was left untouched; run the newer Tether that wrote it, or use another \
         --store"
    )]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The schema version found in the store.
        found: u64,
        /// The newest schema version this build knows.
        supported: u64,
    },
    /// The store file cannot be read safely: damaged, or not a Tether store at all.
    #[error(
        "the store {path} cannot be opened safely: {detail}; it was left exactly as it is; if \
         it is your store, it is damaged: `tether doctor` shows what is wrong and `tether \
         restore BACKUP` replaces it with a backup (the damaged file is kept aside); if --store \
         names the wrong file, fix the path"
    )]
    Damaged {
        /// The store file.
        path: PathBuf,
        /// What is wrong, as found.
        detail: String,
    },
    /// The store path names something that is not a store file (a link, a directory, …).
    #[error("{path} {what}")]
    NotAStoreFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead, and what to do.
        what: String,
    },
    /// A reader asked for a store that does not exist (or is an empty file).
    #[error(
        "no store at {path}; link one with `tether run`, import one with `tether import \
         baileys DIR`, or point --store at an existing store"
    )]
    NoStore {
        /// The path given.
        path: PathBuf,
    },
    /// A change was asked of a store opened only for reading.
    #[error(
        "the store {path} was opened read-only (to read it without changing the file); this \
         change needs its owner: stop any running instance and run a command that owns the store"
    )]
    ReadOnly {
        /// The store file.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("cannot {what} {path}: {source}; check that the path exists and is writable by you")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The database engine failed.
    #[error(
        "the store database failed to {what}: {source}; check free disk space and the file's \
         health, or restore a backup"
    )]
    Db {
        /// What was being done.
        what: &'static str,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record cannot be read back.
    #[error(
        "the store holds a record this build cannot read ({0}); nothing was changed; run the \
         Tether version that wrote it, or restore a backup"
    )]
    Record(#[from] RecordError),
    /// The delta cannot be applied to the stored credentials.
    #[error(
        "the change cannot be applied: {0}; nothing was written (the caller must create \
         credentials before changing them)"
    )]
    Apply(#[from] ApplyError),
    /// A restore was asked while the store holds a live identity.
    #[error(
        "cannot restore quarantined identity {id}: the store holds a live identity; quarantine \
         or remove that one first"
    )]
    RestoreOverLive {
        /// The quarantine id asked for.
        id: u64,
    },
    /// An import was asked while the store holds a live identity.
    #[error(
        "cannot import into {path}: it already holds an identity; importing would replace it \
         and lose its pairing; log it out or relink first (its identity is then kept in \
         quarantine), or import into another --store"
    )]
    ImportOverLive {
        /// The store file.
        path: PathBuf,
    },
    /// The backup destination exists already.
    #[error(
        "the backup destination {path} exists already; nothing was written; choose a new file \
         name or move the old file away"
    )]
    BackupExists {
        /// The destination asked for.
        path: PathBuf,
    },
    /// A backup failed its integrity check.
    #[error(
        "the backup {path} fails its integrity check, so it was not used: {problems}; nothing \
         was changed; use another backup"
    )]
    BackupDamaged {
        /// The backup file.
        path: PathBuf,
        /// What is damaged, one item per `;`.
        problems: String,
    },
    /// A restore was given something that is not a healthy Tether store.
    #[error(
        "{path} is not a backup this store can be restored from: {why}; nothing was changed; \
         give a file written by `tether backup`"
    )]
    NotABackup {
        /// The file given.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// No quarantined identity has this id.
    #[error("no quarantined identity has id {id}; list them to see the ids that exist")]
    NoSuchQuarantine {
        /// The id asked for.
        id: u64,
    },
}

fn holder_text(holder: &Option<Owner>) -> String {
    match holder {
        Some(owner) => owner.to_string(),
        None => "holder unknown: its <store>.owner file is missing or stale".to_owned(),
    }
}

impl RedbStoreError {
    pub(crate) fn db(what: &'static str, source: impl Into<redb::Error>) -> Self {
        Self::Db {
            what,
            source: Box::new(source.into()),
        }
    }

    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}

impl From<RedbStoreError> for StoreError {
    fn from(e: RedbStoreError) -> Self {
        Self::new(e.to_string())
    }
}
