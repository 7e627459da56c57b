//! The socket file and who may talk through it, checked on both sides:
//!
//! - the server binds under a temporary name, makes it 0600 and renames it into place, so under
//!   its real name it is never reachable with a wider mode; only a stale socket is replaced
//!   (a regular file, directory or link at the path is refused and left alone);
//! - the kernel's record of the peer (`SO_PEERCRED`) must name the served user: the server
//!   serves only its own user, and a client talks only to a socket file of its own user (never
//!   a link) served by a process of its own user.
//!
//! A directory others can write to lets them plant `<store>.sock` before the owner binds it;
//! without these checks a planted socket could answer `status`, accept `stop` and claim a
//! `backup` it never wrote.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The peer of a Unix-socket connection, as the kernel recorded it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its process id.
    pub pid: u32,
    /// Its effective user id.
    pub uid: u32,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} running as uid {}", self.pid, self.uid)
    }
}

/// The user every peer must be by default: this process's effective user.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The peer of `socket`.
pub fn peer_of(socket: impl AsFd) -> io::Result<Peer> {
    let cred = rustix::net::sockopt::socket_peercred(socket)?;
    Ok(Peer {
        pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
        uid: cred.uid.as_raw(),
    })
}

/// Checks that the peer of `socket` runs as `uid`; the error says who it is instead.
pub fn check_peer(socket: impl AsFd, uid: u32) -> Result<Peer, String> {
    let peer = peer_of(socket).map_err(|e| format!("cannot read its credentials ({e})"))?;
    if peer.uid == uid {
        Ok(peer)
    } else {
        Err(format!("it is {peer}, not uid {uid}"))
    }
}

/// Checks, before connecting, that `path` is a socket (not a link to one) owned by `uid`.
/// `Ok(false)`: nothing is there.
pub fn check_socket_file(path: &Path, uid: u32) -> Result<bool, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
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
pub fn writable_by_others(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o022 != 0)
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Binds the listening socket at `path`, mode 0600 (see the module docs). The caller owns the
/// store, so a socket already there was left by a crashed owner and is replaced; anything
/// else there is refused and left alone.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; it was left alone: move it away so the \
                     control socket can be created there",
                    path.display()
                ),
            ));
        }
        Ok(_) | Err(_) => {}
    }
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && writable_by_others(d))
    {
        tracing::warn!(
            target: "tether::control",
            "the store's directory {} is writable by other users: they could replace files \
             beside the store; make it private with `chmod 700 {}`",
            dir.display(),
            dir.display()
        );
    }
    let tmp = beside(path, &format!(".{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::net::UnixStream;

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tether-sock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_stale_socket_is_replaced_and_anything_else_refused() {
        let d = dir("bind");
        let sock = d.join("s.sock");
        drop(bind(&sock).unwrap());
        assert!(
            sock.exists(),
            "a dropped listener leaves its file, as a crash would"
        );
        let listener = bind(&sock).unwrap();
        assert_eq!(
            std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(check_socket_file(&sock, own_uid()), Ok(true));
        drop(listener);
        for (name, make) in [
            (
                "file",
                (|p: &Path| std::fs::write(p, b"keep me").unwrap()) as fn(&Path),
            ),
            ("dir", |p: &Path| std::fs::create_dir(p).unwrap()),
            ("link", |p: &Path| {
                std::os::unix::fs::symlink("/etc/hostname", p).unwrap()
            }),
        ] {
            let p = d.join(format!("{name}.sock"));
            make(&p);
            let e = bind(&p).unwrap_err();
            assert!(e.to_string().contains("not a socket"), "{name}: {e}");
            assert!(
                std::fs::symlink_metadata(&p).is_ok(),
                "{name} was left alone"
            );
        }
        assert_eq!(std::fs::read(d.join("file.sock")).unwrap(), b"keep me");
        assert!(
            check_socket_file(&d.join("link.sock"), own_uid())
                .unwrap_err()
                .contains("not a socket")
        );
        assert_eq!(
            check_socket_file(&d.join("none.sock"), own_uid()),
            Ok(false)
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_kernel_names_this_process_as_the_peer_of_a_socket_pair() {
        let (a, _b) = UnixStream::pair().unwrap();
        let peer = peer_of(&a).unwrap();
        assert_eq!(peer.uid, own_uid());
        assert_eq!(peer.pid, std::process::id());
        assert!(check_peer(&a, own_uid()).is_ok());
        let other = own_uid().wrapping_add(1);
        assert!(check_peer(&a, other).unwrap_err().contains("not uid"));
    }
}
