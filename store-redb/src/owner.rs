//! Single ownership of a store: who holds it, recorded in the `<store>.owner` sidecar.
//!
//! redb takes an OS lock on the store file, so a second open (in this process or another)
//! fails; the OS drops the lock when the holder dies, even by `SIGKILL`. The lock alone cannot
//! say *who* holds it, so the holder writes `<store>.owner` right after taking the lock:
//!
//! ```text
//! pid=4711
//! host=laptop
//! since=1764000000        (Unix seconds)
//! ```
//!
//! written atomically (temporary file, mode 0600, `fsync`, rename). A refused opener reads it
//! to name the holder. A holder that died leaves its sidecar behind, but the sidecar never
//! decides anything: the next owner takes the redb lock and simply overwrites it.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The process holding a store open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// When it opened the store, in Unix seconds.
    pub since: u64,
}

impl Owner {
    /// This process, now.
    pub(crate) fn me() -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            since: unix_now(),
        }
    }

    fn encode(&self) -> String {
        format!(
            "pid={}\nhost={}\nsince={}\n",
            self.pid, self.host, self.since
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let (mut pid, mut host, mut since) = (None, None, None);
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                Some(("host", v)) => host = Some(v.trim().to_owned()),
                Some(("since", v)) => since = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Self {
            pid: pid?,
            host: host?,
            since: since?,
        })
    }

    /// Whether this owner is certainly gone: same host and no such process.
    fn is_dead(&self) -> bool {
        let proc = Path::new("/proc");
        self.host == hostname()
            && proc.join("self").exists()
            && !proc.join(self.pid.to_string()).exists()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host {}, running since {}",
            self.pid,
            self.host,
            format_unix(self.since)
        )
    }
}

/// The sidecar path of a store: `<store>.owner`.
pub(crate) fn sidecar_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".owner");
    PathBuf::from(name)
}

/// Writes `owner` to `sidecar` atomically with mode 0600.
pub(crate) fn write_sidecar(sidecar: &Path, owner: &Owner) -> std::io::Result<()> {
    let mut tmp = sidecar.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", owner.pid));
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(owner.encode().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, sidecar)
}

/// Reads the sidecar, if there is a readable one (a regular file, never through a link, at
/// most 4 KiB: a planted `/dev/zero` link cannot stall the reader).
pub(crate) fn read_sidecar(sidecar: &Path) -> Option<Owner> {
    let bytes = crate::files::read_bounded(sidecar, 4096).ok()?;
    Owner::decode(std::str::from_utf8(&bytes).ok()?)
}

impl Owner {
    /// The owner `<store>.owner` records, if it holds a readable record. The record says who
    /// took the store last; only [`lock_held`] says whether anyone holds it now.
    pub fn recorded(store: &Path) -> Option<Self> {
        read_sidecar(&sidecar_path(store))
    }
}

/// Whether an owner holds the store's lock right now. Probed with a read-only handle: nothing
/// is written, no ownership is taken, and a path that is not a store file is never locked.
pub fn lock_held(store: &Path) -> bool {
    let Ok(crate::place::Found::File(meta)) = crate::place::inspect(store) else {
        return false;
    };
    let Ok(file) = crate::place::open(store, &meta, false) else {
        return false;
    };
    matches!(
        crate::verify::probe(store, &file),
        Err(crate::RedbStoreError::InUse { .. })
    )
}

/// The holder named by the sidecar, waiting briefly while it is missing or names a dead
/// process (the live holder may have taken the lock a moment ago and not written it yet).
pub(crate) fn current_holder(sidecar: &Path) -> Option<Owner> {
    let mut last = None;
    for _ in 0..20 {
        last = read_sidecar(sidecar);
        if last.as_ref().is_some_and(|o| !o.is_dead()) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    last
}

/// Removes the sidecar if it still names `owner`.
pub(crate) fn remove_sidecar_if_mine(sidecar: &Path, owner: &Owner) {
    if read_sidecar(sidecar).as_ref() == Some(owner) {
        let _ = fs::remove_file(sidecar);
    }
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (proleptic Gregorian calendar).
pub(crate) fn format_unix(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_unix(1_764_000_000), "2025-11-24 16:00:00 UTC");
    }

    #[test]
    fn sidecar_round_trips_and_rejects_partial_text() {
        let owner = Owner {
            pid: 12,
            host: "box".into(),
            since: 99,
        };
        assert_eq!(Owner::decode(&owner.encode()), Some(owner));
        assert_eq!(Owner::decode("pid=12\nhost=box\n"), None);
    }
}
