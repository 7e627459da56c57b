//! Where a store may live, decided once for every command: the store path names a regular file
//! or nothing.
//!
//! * A **symbolic link** as the store path is refused (never followed, never replaced): the
//!   rules below then always apply to the file the user named, and a link planted where a store
//!   is expected cannot redirect a chmod, a restore or a new store with keys inside.
//! * A **directory, FIFO, socket or device** is refused; its permissions are never touched.
//! * A missing or 0-byte path is "no store".
//! * The store file is opened with `O_NOFOLLOW`, and the opened file must be the one inspected
//!   (same device and inode), so a swap between the check and the open is refused too.
//! * Permissions are tightened to 0600 only on a file verified to be a Tether store, through
//!   its open descriptor (`fchmod`), never by path.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use crate::error::RedbStoreError;
use crate::files::kind_of;

type R<T> = Result<T, RedbStoreError>;

/// What the store path holds.
pub(crate) enum Found {
    /// Nothing: no store yet.
    Missing,
    /// A 0-byte regular file (an interrupted first open of an old build): no store yet.
    Empty,
    /// A regular file with content.
    File(Metadata),
}

/// Inspects the store path without following a link (see the module docs).
pub(crate) fn inspect(path: &Path) -> R<Found> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(RedbStoreError::io("inspect", path, e)),
    };
    let t = meta.file_type();
    if t.is_symlink() {
        let target = fs::read_link(path).map_or_else(
            |_| "an unreadable target".to_owned(),
            |t| t.display().to_string(),
        );
        return Err(RedbStoreError::NotAStoreFile {
            path: path.to_owned(),
            what: format!(
                "is a symbolic link (to {target}); Tether never follows a link at the store path; \
                 point --store at the real file"
            ),
        });
    }
    if !t.is_file() {
        return Err(RedbStoreError::NotAStoreFile {
            path: path.to_owned(),
            what: format!("is {}, not a store file", kind_of(t)),
        });
    }
    Ok(if meta.len() == 0 {
        Found::Empty
    } else {
        Found::File(meta)
    })
}

/// Opens the store file found by [`inspect`] without following a link, for reading (and
/// writing when `write`), and checks that it is still the file inspected.
pub(crate) fn open(path: &Path, inspected: &Metadata, write: bool) -> R<File> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let flags = access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(rustix::io::Errno::LOOP) => return Err(swapped(path)),
        Err(e) => return Err(RedbStoreError::io("open", path, e.into())),
    };
    let meta = file
        .metadata()
        .map_err(|e| RedbStoreError::io("inspect", path, e))?;
    if !meta.file_type().is_file() || meta.dev() != inspected.dev() || meta.ino() != inspected.ino()
    {
        return Err(swapped(path));
    }
    Ok(file)
}

fn swapped(path: &Path) -> RedbStoreError {
    RedbStoreError::NotAStoreFile {
        path: path.to_owned(),
        what: "was replaced while it was being opened (by a link or another file); nothing was \
               changed; check who else writes to its directory"
            .to_owned(),
    }
}

/// Tightens a verified store file readable by others to 0600, through its descriptor.
pub(crate) fn make_private(path: &Path, file: &File) -> R<()> {
    let meta = file
        .metadata()
        .map_err(|e| RedbStoreError::io("inspect", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| RedbStoreError::io("restrict the permissions of", path, e))?;
    }
    Ok(())
}
