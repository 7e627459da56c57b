//! Verifying a store file before anything opens it for writing, without writing to it.
//!
//! redb trusts its file: a writable open of a damaged store may panic, or repair it by rolling
//! back to an older commit. So every open first proves the file sound on a private copy in
//! memory (never on disk: it holds keys), and a damaged store is refused untouched.
//!
//! ```text
//!  verify(file)  probe: read-only open of the file (no write, takes no ownership)
//!                  ├─ locked by an owner ───────────────────────────▶ InUse
//!                  ├─ closed cleanly ── copy into memory ─ open ─ check every page's checksum
//!                  │                      └─ all verify ─▶ Verdict{clean}  (else ─▶ Damaged)
//!                  ├─ not closed cleanly (owner killed) ── copy into memory ─ open (redb's
//!                  │     crash recovery, on the copy) ─ check every page
//!                  │                      └─ all verify ─▶ Verdict{not clean, the copy}
//!                  └─ anything else, or a panic inside redb ───────────▶ Damaged
//!                then the schema: newer than this build ─▶ NewerSchema; tables but no Tether
//!                schema ─▶ not a store (Damaged)
//! ```

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use redb::backends::FileBackend;
use redb::{Builder, Database, DatabaseError, ReadableDatabase as _, StorageBackend};
use zeroize::Zeroizing;

use crate::error::RedbStoreError;
use crate::guard::contain;
use crate::owner;
use crate::schema::{self, SCHEMA_VERSION};

type R<T> = Result<T, RedbStoreError>;

/// redb's page cache on the verification copy of a cleanly closed store. The copy is already
/// in memory, so caching its pages again only costs: with redb's default (1 GiB) the integrity
/// check caches every page of the store, and the freed pages stay in the process after the
/// copy is dropped (+5.6 MiB resident for a store of 8.5 MiB, `docs/PERFORMANCE.md`). A copy
/// that needs crash recovery keeps the default: redb's repair with a small cache is slow.
const VERIFY_CACHE_BYTES: usize = 256 * 1024;

/// What [`verify`] found: the file is sound.
pub(crate) struct Verdict {
    /// Closed cleanly (`false`: its owner was killed, and a writable open will run redb's
    /// crash recovery, which succeeded on the copy).
    pub(crate) clean: bool,
    /// The schema version it holds (0: a redb file with no table yet).
    pub(crate) schema: u64,
    /// The verified copy, in memory (recovered when `clean` is false).
    pub(crate) copy: Database,
}

pub(crate) fn damaged(path: &Path, detail: impl Into<String>) -> RedbStoreError {
    RedbStoreError::Damaged {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Verifies the store `path`, whose regular file `file` the caller opened without following
/// links (see the module docs). Nothing is written to the file.
pub(crate) fn verify(path: &Path, file: &File) -> R<Verdict> {
    let clean = probe(path, file)?;
    let (copy, schema) = verified_copy(path, file, clean)?;
    if schema > SCHEMA_VERSION {
        return Err(RedbStoreError::NewerSchema {
            path: path.to_owned(),
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    if schema == 0 && has_tables(&copy) {
        return Err(damaged(
            path,
            "it is a redb database without Tether's schema: not a Tether store",
        ));
    }
    Ok(Verdict {
        clean,
        schema,
        copy,
    })
}

/// A copy of `file` in memory, opened (recovered by redb when the file was not closed
/// cleanly) and checked page by page, with the schema version it holds.
pub(crate) fn verified_copy(path: &Path, file: &File, clean: bool) -> R<(Database, u64)> {
    let copy = load(path, file)?;
    let mut builder = Builder::new();
    if clean {
        builder.set_cache_size(VERIFY_CACHE_BYTES);
    }
    let mut db = match contain(|| builder.create_with_backend(copy)) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(damaged(path, format!("redb cannot open it ({e})"))),
        Err(panic) => return Err(damaged(path, panic)),
    };
    match contain(|| db.check_integrity()) {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            return Err(damaged(
                path,
                if clean {
                    "pages of its last commit fail their checksums (redb could only roll it back \
                     to an older commit, losing the newest changes)"
                } else {
                    "pages fail their checksums even after redb's crash recovery"
                },
            ));
        }
        Ok(Err(e)) => return Err(damaged(path, format!("its integrity check fails ({e})"))),
        Err(panic) => return Err(damaged(path, panic)),
    }
    let schema = match contain(|| schema::stored_version(&db)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(damaged(path, format!("its schema cannot be read ({e})"))),
        Err(panic) => return Err(damaged(path, panic)),
    };
    Ok((db, schema))
}

/// Whether the file was closed cleanly (`true`) or needs crash recovery (`false`), from a
/// read-only open of a second handle on it; an owner's lock is [`RedbStoreError::InUse`].
pub(crate) fn probe(path: &Path, file: &File) -> R<bool> {
    let handle = file
        .try_clone()
        .map_err(|e| RedbStoreError::io("open", path, e))?;
    let backend = FileBackend::new(handle).map_err(|e| damaged(path, e.to_string()))?;
    match contain(|| Builder::new().open_read_only_with_backend(backend)) {
        Ok(Ok(ro)) => {
            drop(ro);
            Ok(true)
        }
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(RedbStoreError::InUse {
            path: path.to_owned(),
            holder: owner::current_holder(&owner::sidecar_path(path)),
        }),
        Ok(Err(DatabaseError::RepairAborted)) => Ok(false),
        Ok(Err(e)) => Err(damaged(path, format!("redb cannot open it ({e})"))),
        Err(panic) => Err(damaged(path, panic)),
    }
}

/// The whole file, copied into a private memory backend.
fn load(path: &Path, file: &File) -> R<Memory> {
    let len = file
        .metadata()
        .map_err(|e| RedbStoreError::io("inspect", path, e))?
        .len();
    let len = usize::try_from(len).map_err(|_| damaged(path, "it is too large to verify"))?;
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| RedbStoreError::io("read", path, e))?;
    Ok(Memory(Mutex::new(bytes)))
}

fn has_tables(db: &Database) -> bool {
    contain(|| {
        db.begin_read()
            .ok()
            .and_then(|t| t.list_tables().ok().map(|mut l| l.next().is_some()))
            .unwrap_or(true)
    })
    .unwrap_or(true)
}

/// A database file in memory, wiped when dropped (it holds keys).
#[derive(Debug)]
pub(crate) struct Memory(Mutex<Zeroizing<Vec<u8>>>);

impl Memory {
    fn bytes(&self) -> MutexGuard<'_, Zeroizing<Vec<u8>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn out_of_range() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "beyond the end of the copy",
    )
}

impl StorageBackend for Memory {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.bytes().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(out.len()).ok_or_else(out_of_range)?;
        out.copy_from_slice(bytes.get(start..end).ok_or_else(out_of_range)?);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let len = usize::try_from(len).map_err(|_| out_of_range())?;
        self.bytes().resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut bytes = self.bytes();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(data.len()).ok_or_else(out_of_range)?;
        bytes
            .get_mut(start..end)
            .ok_or_else(out_of_range)?
            .copy_from_slice(data);
        Ok(())
    }
}
