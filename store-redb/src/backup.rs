//! Online backup and restore.
//!
//! ```text
//!  backup_to(dest)   one read transaction (a consistent snapshot; the owner keeps writing)
//!                    → every table copied into <dest>.tmp-<pid> (new redb file, 0600, durable)
//!                    → integrity check of the copy → hard-link to <dest> (never replaces
//!                    anything) → fsync the directory
//!  restore(b, store) check(b) must be a healthy Tether store (an empty or foreign file is
//!                    NotABackup) → store path rules (no link, no directory)
//!                    → take the store's lock without writing to it (refused: InUse; a store
//!                    too damaged to open has no owner to fear)
//!                    → copy b to <store>.restore-tmp-<pid> (0600, fsync)
//!                    → hard-link the old store as <store>.before-restore-<ts> (byte for byte)
//!                    → rename the copy over <store> (atomic) → fsync the directory
//! ```
//!
//! The store path never points at a half-written file: the new content appears by one
//! `rename`, and the replaced store stays on disk under its `before-restore` name.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{
    Builder, DatabaseError, Durability, Key, ReadOnlyDatabase, ReadTransaction, TableDefinition,
    TableError, Value, WriteTransaction,
};

use crate::check::check;
use crate::error::RedbStoreError;
use crate::guard::contain;
use crate::opening::{self, prepare_dir};
use crate::owner::unix_now;
use crate::place::{self, Found};
use crate::schema::{
    DEVICE, EXTRA, EXTRA_KEYS, META, Q_EXTRA, Q_EXTRA_KEYS, Q_SENDER_KEYS, Q_SIGNAL_IDENTITIES,
    Q_SIGNAL_SESSIONS, Q_SYNC_KEYS, Q_VERSIONS, QUARANTINE, SENDER_KEYS, SIGNAL_IDENTITIES,
    SIGNAL_SESSIONS, STATUS, SYNC_KEYS, VERSIONS,
};
use crate::store::RedbStore;
use crate::verify;

type R<T> = Result<T, RedbStoreError>;

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// What [`restore`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Where the replaced store was kept (`None` when there was no store).
    pub kept_aside: Option<PathBuf>,
}

impl RedbStore {
    /// Writes a consistent snapshot of the whole store (live identity, quarantine, status)
    /// to `dest`, a new redb file with mode 0600, while this owner keeps running (a reader
    /// from [`RedbStore::open_read_only`] can write one too).
    ///
    /// The snapshot is one read transaction: it holds exactly the changes committed before
    /// the call. It is written under a temporary name, checked, and linked to `dest`, so
    /// `dest` never holds a partial backup. Refused when anything (a file, a link, even a
    /// dangling one) is at `dest`: a backup never overwrites.
    pub fn backup_to(&self, dest: &Path) -> R<()> {
        if fs::symlink_metadata(dest).is_ok() {
            return Err(RedbStoreError::BackupExists {
                path: dest.to_owned(),
            });
        }
        prepare_dir(dest)?;
        let tmp = sibling(dest, &format!("tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let file = create_private(&tmp)?;
        let result = self.write_snapshot(file).and_then(|()| {
            let report = check(&tmp);
            if report.is_tether_store() {
                Ok(())
            } else {
                Err(RedbStoreError::BackupDamaged {
                    path: dest.to_owned(),
                    problems: report.problems().join("; "),
                })
            }
        });
        // A hard link, unlike a rename, never replaces what appeared at `dest` meanwhile.
        let placed = result.and_then(|()| match fs::hard_link(&tmp, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RedbStoreError::BackupExists {
                    path: dest.to_owned(),
                })
            }
            Err(e) => Err(RedbStoreError::io("link the backup to", dest, e)),
        });
        let _ = fs::remove_file(&tmp);
        placed?;
        sync_dir(dest)
    }

    fn write_snapshot(&self, file: File) -> R<()> {
        let read = self.db.begin_read().map_err(db("begin the snapshot"))?;
        let backend = FileBackend::new(file).map_err(db("create the backup file"))?;
        let copy = Builder::new()
            .create_with_backend(backend)
            .map_err(db("create the backup file"))?;
        let mut txn = copy.begin_write().map_err(db("begin writing the backup"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(db("set immediate durability"))?;
        copy_all(&read, &txn)?;
        txn.commit().map_err(db("commit the backup"))?;
        drop(read);
        copy.close().map_err(db("close the backup file"))?;
        Ok(())
    }
}

/// Replaces the store at `store` with the backup at `backup`.
///
/// The backup must be a healthy Tether store (an empty file, a file that is not a store, or a
/// damaged one is refused with [`RedbStoreError::NotABackup`] and nothing changes). The store
/// path follows the rules of [`RedbStore::open`] (a link or a directory there is refused).
/// Refused with [`RedbStoreError::InUse`] while an owner holds the store. The replaced store,
/// even one too damaged to open, is kept as `<store>.before-restore-<unix seconds>`, byte for
/// byte; the store path switches to the restored content in one atomic rename.
pub fn restore(backup: &Path, store: &Path) -> R<RestoreOutcome> {
    // The backup is only read: a link to it is fine (the rules are the store path's).
    let source = fs::canonicalize(backup).unwrap_or_else(|_| backup.to_owned());
    let report = check(&source);
    if !report.is_tether_store() {
        let why = if report.is_healthy() {
            "it holds no Tether store (an empty file, or one never initialised)".to_owned()
        } else {
            report.problems().join("; ")
        };
        return Err(RedbStoreError::NotABackup {
            path: backup.to_owned(),
            why,
        });
    }
    prepare_dir(store)?;
    let existing = match place::inspect(store)? {
        Found::File(meta) => Some(place::open(store, &meta, false)?),
        Found::Missing | Found::Empty => None,
    };
    // Holding the old store's lock for the whole swap keeps an owner from starting on it. A
    // store that fails verification cannot get an owner (every open verifies first).
    let _lock = match &existing {
        Some(file) => lock_for_swap(store, file)?,
        None => None,
    };
    let tmp = sibling(store, &format!("restore-tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    copy_private(&source, &tmp)?;
    let kept_aside = if existing.is_some() {
        let aside = free_name(store, &format!("before-restore-{}", unix_now()));
        if let Err(e) = fs::hard_link(store, &aside) {
            let _ = fs::remove_file(&tmp);
            return Err(RedbStoreError::io("keep the old store aside as", &aside, e));
        }
        Some(aside)
    } else {
        None
    };
    fs::rename(&tmp, store)
        .map_err(|e| RedbStoreError::io("move the restored store into place at", store, e))?;
    sync_dir(store)?;
    Ok(RestoreOutcome { kept_aside })
}

/// Takes the old store's lock without writing to it: a read-only handle when it was closed
/// cleanly; the owner's open (redb's crash recovery, verified on a copy first) when it was
/// not; nothing when it fails verification (no owner can open it then either).
fn lock_for_swap(store: &Path, file: &File) -> R<Option<Lock>> {
    match verify::verify(store, file) {
        Ok(v) if v.clean => {
            drop(v);
            let handle = file
                .try_clone()
                .map_err(|e| RedbStoreError::io("open", store, e))?;
            let backend = FileBackend::new(handle).map_err(db("lock the old store"))?;
            match contain(|| Builder::new().open_read_only_with_backend(backend)) {
                Ok(Ok(ro)) => Ok(Some(Lock::Reader(ro))),
                Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(opening::in_use(store)),
                _ => Ok(None),
            }
        }
        Ok(_) => Ok(Some(Lock::Owner(RedbStore::open(store)?))),
        Err(e @ RedbStoreError::InUse { .. }) => Err(e),
        Err(_) => Ok(None),
    }
}

/// A held store lock.
enum Lock {
    Reader(#[allow(dead_code)] ReadOnlyDatabase),
    Owner(#[allow(dead_code)] RedbStore),
}

/// `<path>.<suffix>`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// `<path>.<suffix>`, or `<path>.<suffix>-2`, … whichever does not exist yet.
fn free_name(path: &Path, suffix: &str) -> PathBuf {
    let mut candidate = sibling(path, suffix);
    let mut n = 2u32;
    while candidate.exists() {
        candidate = sibling(path, &format!("{suffix}-{n}"));
        n = n.saturating_add(1);
    }
    candidate
}

fn create_private(path: &Path) -> R<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| RedbStoreError::io("create", path, e))
}

/// Copies `from` to a new file `to` with mode 0600, durably.
pub(crate) fn copy_private(from: &Path, to: &Path) -> R<()> {
    let mut src = File::open(from).map_err(|e| RedbStoreError::io("open", from, e))?;
    let mut dst = create_private(to)?;
    let copied = std::io::copy(&mut src, &mut dst)
        .and_then(|_| dst.set_permissions(fs::Permissions::from_mode(0o600)))
        .and_then(|()| dst.sync_all());
    if let Err(e) = copied {
        let _ = fs::remove_file(to);
        return Err(RedbStoreError::io("copy the store to", to, e));
    }
    Ok(())
}

/// Makes a rename in `path`'s directory durable.
fn sync_dir(path: &Path) -> R<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| RedbStoreError::io("sync the directory", dir, e))
}

/// Copies every table of the schema from `from` into `to`.
fn copy_all(from: &ReadTransaction, to: &WriteTransaction) -> R<()> {
    copy(from, to, META)?;
    copy(from, to, DEVICE)?;
    copy(from, to, SYNC_KEYS)?;
    copy(from, to, VERSIONS)?;
    copy(from, to, SIGNAL_SESSIONS)?;
    copy(from, to, SIGNAL_IDENTITIES)?;
    copy(from, to, SENDER_KEYS)?;
    copy(from, to, EXTRA)?;
    copy(from, to, EXTRA_KEYS)?;
    copy(from, to, STATUS)?;
    copy(from, to, QUARANTINE)?;
    copy(from, to, Q_SYNC_KEYS)?;
    copy(from, to, Q_VERSIONS)?;
    copy(from, to, Q_SIGNAL_SESSIONS)?;
    copy(from, to, Q_SIGNAL_IDENTITIES)?;
    copy(from, to, Q_SENDER_KEYS)?;
    copy(from, to, Q_EXTRA)?;
    copy(from, to, Q_EXTRA_KEYS)?;
    copy(from, to, crate::records::RECORDS)?;
    copy(from, to, crate::records::Q_RECORDS)?;
    Ok(())
}

fn copy<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<'static, K, V>,
) -> R<()> {
    let what = "copy a table into the backup";
    let source = match from.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(RedbStoreError::db(what, e)),
    };
    let mut dest = to.open_table(def).map_err(db(what))?;
    for row in redb::ReadableTable::iter(&source).map_err(db(what))? {
        let (k, v) = row.map_err(db(what))?;
        dest.insert(k.value(), v.value()).map_err(db(what))?;
    }
    Ok(())
}
