//! Opening a store, as its owner or as a reader: the path rules ([`crate::place`]), the
//! verification ([`crate::verify`]) and, for an owner, the creation of a new store.
//!
//! ```text
//!  owner:  parent dir (0700 when created) ─ path: missing/0 bytes ─ initialise ─┐
//!          path: a link, a directory, … ─ refused untouched        regular file ◀┘
//!          open O_NOFOLLOW (same inode as inspected) ─ verify (InUse / Damaged / NewerSchema
//!          / not a store: refused untouched) ─ fchmod 0600 ─ writable open (redb's lock;
//!          crash recovery, proven safe on the copy) ─ <store>.owner ─ schema migration
//!  reader: path ─ open O_NOFOLLOW read-only ─ verify ─ closed cleanly and current schema:
//!          read-only handle on the file; else the verified copy in memory (recovered and
//!          migrated there): the file is never written
//! ```

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use redb::backends::FileBackend;
use redb::{Builder, DatabaseError, Durability};

use crate::error::RedbStoreError;
use crate::guard::contain;
use crate::handle::Db;
use crate::owner;
use crate::place::{self, Found};
use crate::schema::{self, SCHEMA_VERSION};
use crate::verify::{self, damaged};

type R<T> = Result<T, RedbStoreError>;

fn db<E: Into<redb::Error>>(what: &'static str) -> impl Fn(E) -> RedbStoreError {
    move |e| RedbStoreError::db(what, e)
}

/// Opens (creating when there is none) the store file as its owner: the writable handle and
/// the schema version it holds (the caller migrates).
pub(crate) fn owned(path: &Path) -> R<(Db, u64)> {
    prepare_dir(path)?;
    let mut created = false;
    let meta = loop {
        match place::inspect(path)? {
            Found::File(meta) => break meta,
            Found::Missing | Found::Empty if created => {
                return Err(RedbStoreError::io(
                    "find the new store at",
                    path,
                    std::io::Error::other("it vanished right after it was created"),
                ));
            }
            Found::Missing => initialise(path, false)?,
            Found::Empty => initialise(path, true)?,
        }
        created = true;
    };
    let file = place::open(path, &meta, true)?;
    let verdict = verify::verify(path, &file)?;
    place::make_private(path, &file)?;
    let schema = verdict.schema;
    drop(verdict);
    let backend = FileBackend::new(file).map_err(db("open the store file"))?;
    match contain(|| Builder::new().create_with_backend(backend)) {
        Ok(Ok(db)) => Ok((Db::Owned(db), schema)),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(in_use(path)),
        Ok(Err(e)) => Err(RedbStoreError::db("open the store file", e)),
        Err(panic) => Err(damaged(path, panic)),
    }
}

/// Opens an existing store for reading only (see the module docs).
pub(crate) fn reader(path: &Path) -> R<Db> {
    let meta = match place::inspect(path)? {
        Found::File(meta) => meta,
        Found::Missing | Found::Empty => {
            return Err(RedbStoreError::NoStore {
                path: path.to_owned(),
            });
        }
    };
    let file = place::open(path, &meta, false)?;
    let verdict = verify::verify(path, &file)?;
    if !verdict.clean || verdict.schema < SCHEMA_VERSION {
        // Recover and migrate the copy, never the file.
        let copy = verdict.copy;
        let migrated = (|| {
            let mut txn = copy.begin_write().map_err(db("begin a write"))?;
            txn.set_durability(Durability::Immediate)
                .map_err(db("set immediate durability"))?;
            schema::migrate(&txn, verdict.schema)?;
            txn.commit().map_err(db("commit the schema"))
        })();
        migrated?;
        return Ok(Db::Snapshot(copy));
    }
    drop(verdict);
    let backend = FileBackend::new(file).map_err(|e| damaged(path, e.to_string()))?;
    match contain(|| Builder::new().open_read_only_with_backend(backend)) {
        Ok(Ok(db)) => Ok(Db::Reader(db)),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(in_use(path)),
        Ok(Err(e)) => Err(RedbStoreError::db("open the store file", e)),
        Err(panic) => Err(damaged(path, panic)),
    }
}

pub(crate) fn in_use(path: &Path) -> RedbStoreError {
    RedbStoreError::InUse {
        path: path.to_owned(),
        holder: owner::current_holder(&owner::sidecar_path(path)),
    }
}

/// Creates the parent directory of `path` with mode 0700 when it is missing.
pub(crate) fn prepare_dir(path: &Path) -> R<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && fs::symlink_metadata(parent).is_err()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| RedbStoreError::io("create the store directory", parent, e))?;
    }
    Ok(())
}

/// Creates an initialised store at `path` (`replace_empty`: over a 0-byte file).
///
/// It is built under `<store>.init-<pid>` (created 0600 with `O_EXCL`, so whatever the umask,
/// and never through a link; every table and the schema version committed) and only then
/// linked into place, so a process killed during its first open leaves no store or a complete
/// one, never a half-initialised file that redb could not open.
fn initialise(path: &Path, replace_empty: bool) -> R<()> {
    let tmp = crate::backup::sibling(path, &format!("init-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| RedbStoreError::io("create the store file", &tmp, e))?;
    let built = build(file);
    let placed = built.and_then(|()| {
        let linked = if replace_empty {
            fs::rename(&tmp, path)
        } else {
            fs::hard_link(&tmp, path)
        };
        match linked {
            Ok(()) => Ok(()),
            // Something appeared there meanwhile: the caller inspects it again.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(RedbStoreError::io(
                "move the new store into place at",
                path,
                e,
            )),
        }
    });
    let _ = fs::remove_file(&tmp);
    placed?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes every table and the schema version into the new, empty `file`.
fn build(file: File) -> R<()> {
    let backend = FileBackend::new(file).map_err(db("initialise the store file"))?;
    let fresh = Builder::new()
        .create_with_backend(backend)
        .map_err(db("initialise the store file"))?;
    let mut txn = fresh.begin_write().map_err(db("begin a write"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(db("set immediate durability"))?;
    schema::migrate(&txn, 0)?;
    txn.commit().map_err(db("commit the schema"))?;
    fresh.close().map_err(db("close the new store"))
}
