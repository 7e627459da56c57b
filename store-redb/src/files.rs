//! Reading files that someone else may have put there, without trusting them: a symbolic link
//! is never followed, only a regular file is read (a FIFO never blocks the reader, a device is
//! never opened for long), and never more than a bound.
//!
//! ```text
//!  read_bounded(path, limit)  open(O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
//!                               ├─ a link ─────────────▶ Symlink
//!                               └─ fstat ─ not a regular file ─▶ NotAFile(kind)
//!                                        ─ size > limit ────────▶ TooLarge (nothing read)
//!                                        ─ read at most limit + 1 bytes ─ more? ─▶ TooLarge
//! ```

use std::fmt;
use std::fs::{File, FileType};
use std::io::Read as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use zeroize::Zeroizing;

/// Why a file was not read.
#[derive(Debug)]
pub(crate) enum ReadProblem {
    /// The path is a symbolic link.
    Symlink,
    /// The path is not a regular file (a directory, FIFO, socket or device).
    NotAFile(&'static str),
    /// The file is larger than the bound.
    TooLarge {
        /// Its size (at least this many bytes).
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The OS refused (missing, permissions, I/O error).
    Io(std::io::Error),
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symlink => f.write_str("is a symbolic link (links are never followed)"),
            Self::NotAFile(kind) => write!(f, "is {kind}, not a regular file"),
            Self::TooLarge { size, limit } => write!(
                f,
                "is {} ({size} bytes), more than the {} this kind of file may hold",
                human_size(*size),
                human_size(*limit)
            ),
            Self::Io(e) => write!(f, "cannot be read ({e})"),
        }
    }
}

/// `12 KiB`, `3.0 MiB`: a size for a human.
pub(crate) fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// What kind of non-regular file `t` is, as a phrase ("a directory").
pub(crate) fn kind_of(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading without following a final symbolic link and without blocking on a
/// FIFO; the caller checks what it opened.
pub(crate) fn open_no_follow(path: &Path) -> Result<File, ReadProblem> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => Ok(File::from(fd)),
        // O_NOFOLLOW on a link fails with ELOOP.
        Err(rustix::io::Errno::LOOP) => Err(ReadProblem::Symlink),
        Err(e) => Err(ReadProblem::Io(e.into())),
    }
}

/// Reads the regular file at `path`, at most `limit` bytes (see the module docs). The bytes
/// are wiped when dropped: these files hold keys.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, ReadProblem> {
    let file = open_no_follow(path)?;
    let meta = file.metadata().map_err(ReadProblem::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadProblem::NotAFile(kind_of(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadProblem::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadProblem::Io)?;
    let read = u64::try_from(out.len()).unwrap_or(u64::MAX);
    if read > limit {
        // It grew while we read it.
        return Err(ReadProblem::TooLarge { size: read, limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn reads_only_regular_files_within_the_bound() {
        let dir = std::env::temp_dir().join(format!("tether-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.json");
        std::fs::write(&file, b"{\"a\":1}").unwrap();
        assert_eq!(read_bounded(&file, 7).unwrap().as_slice(), b"{\"a\":1}");
        assert!(matches!(
            read_bounded(&file, 6),
            Err(ReadProblem::TooLarge { size: 7, limit: 6 })
        ));
        let link = dir.join("l.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            read_bounded(&link, 100),
            Err(ReadProblem::Symlink)
        ));
        assert!(matches!(
            read_bounded(&dir, 100),
            Err(ReadProblem::NotAFile("a directory"))
        ));
        let fifo = dir.join("f.json");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        // Never blocks waiting for a writer.
        assert!(matches!(
            read_bounded(&fifo, 100),
            Err(ReadProblem::NotAFile("a FIFO (named pipe)"))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
