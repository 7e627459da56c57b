//! Who is at the other end of a control connection, checked on both sides: the kernel's record
//! of the peer (`SO_PEERCRED`) must name the same user as this process, and the socket file a
//! client connects to must be a socket owned by that user (never a link).
//!
//! A directory others can write to lets them plant `<store>.sock` before the owner binds it;
//! without these checks a planted socket could answer `status`, accept `stop` and claim a
//! `backup` it never wrote.

use std::fmt;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

/// The peer of a Unix-socket connection, as the kernel recorded it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    /// Its process id.
    pub(crate) pid: u32,
    /// Its effective user id.
    pub(crate) uid: u32,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} running as uid {}", self.pid, self.uid)
    }
}

/// The user every peer must be: this process's effective user.
pub(crate) fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The peer of `socket`.
pub(crate) fn peer_of(socket: impl AsFd) -> std::io::Result<Peer> {
    let cred = rustix::net::sockopt::socket_peercred(socket)?;
    Ok(Peer {
        pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
        uid: cred.uid.as_raw(),
    })
}

/// Checks that the peer of `socket` runs as `uid`; the error says who it is instead.
pub(crate) fn check_peer(socket: impl AsFd, uid: u32) -> Result<Peer, String> {
    let peer = peer_of(socket).map_err(|e| format!("cannot read its credentials ({e})"))?;
    if peer.uid == uid {
        Ok(peer)
    } else {
        Err(format!("it is {peer}, not uid {uid}"))
    }
}

/// Checks, before connecting, that `path` is a socket (not a link to one) owned by `uid`.
/// `Ok(false)`: nothing is there.
pub(crate) fn check_socket_file(path: &Path, uid: u32) -> Result<bool, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot inspect it ({e})")),
    };
    if !meta.file_type().is_socket() {
        return Err("it is not a socket (a link or a file was put there)".to_owned());
    }
    if meta.uid() != uid {
        return Err(format!("it belongs to uid {}, not uid {uid}", meta.uid()));
    }
    Ok(true)
}

/// Whether users other than the owner may create or rename files in `dir` (group- or world-
/// writable; the sticky bit does not stop them from planting a new file there).
pub(crate) fn writable_by_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o022 != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_kernel_names_this_process_as_the_peer_of_a_socket_pair() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let peer = peer_of(&a).unwrap();
        assert_eq!(peer.uid, own_uid());
        assert_eq!(peer.pid, std::process::id());
        assert!(check_peer(&a, own_uid()).is_ok());
        let other = own_uid().wrapping_add(1);
        assert!(check_peer(&a, other).unwrap_err().contains("not uid"));
    }
}
