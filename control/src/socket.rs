//! The socket file and who may talk through it: created mode 0600 with no window in which it
//! is more open (the umask is tightened around `bind`), only ever replacing a stale socket
//! (never a regular file, a directory or a symlink), and the peer's credentials checked on
//! both ends (`SO_PEERCRED`: the same user as this process, or root for a client), so another
//! user can neither talk to a running instance nor pose as one.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use rustix::fs::Mode;

/// Why a peer is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The kernel could not say who the peer is.
    #[error("cannot read the peer's credentials on the control socket: {0}")]
    Unknown(io::Error),
    /// Another user is on the other end.
    #[error(
        "the control socket's other end belongs to user {peer}, not to this user ({me}); \
         refusing to talk to it (another user may have planted it)"
    )]
    OtherUser {
        /// The peer's uid.
        peer: u32,
        /// This process's effective uid.
        me: u32,
    },
}

/// The effective uid of this process.
pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The uid of the process on the other end of `stream`.
pub fn peer_uid(stream: &UnixStream) -> Result<u32, PeerError> {
    rustix::net::sockopt::socket_peercred(stream)
        .map(|cred| cred.uid.as_raw())
        .map_err(|e| PeerError::Unknown(e.into()))
}

/// Checks that the peer is this user (`allow_root`: or root, for a server accepting an
/// administrator's client).
pub fn check_peer(stream: &UnixStream, allow_root: bool) -> Result<(), PeerError> {
    verdict(peer_uid(stream)?, my_uid(), allow_root)
}

/// The rule of [`check_peer`]: the same uid, or root when `allow_root`.
pub fn verdict(peer: u32, me: u32, allow_root: bool) -> Result<(), PeerError> {
    if peer == me || (allow_root && peer == 0) {
        Ok(())
    } else {
        Err(PeerError::OtherUser { peer, me })
    }
}

/// Binds the listening socket at `path`, mode 0600. A socket left by a crashed owner is
/// replaced (the caller owns the store, so nobody else serves it); anything else in the way is
/// refused and left alone. Warns when the directory is writable by other users.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; it was left alone: move it away so the \
                     control socket can be created there",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(meta) = std::fs::metadata(dir)
        && meta.mode() & 0o022 != 0
        && meta.mode() & 0o1000 == 0
    {
        tracing::warn!(
            target: "tether::control",
            "the directory {} is writable by other users: anyone there could replace the store's \
             files; keep stores in a directory only you can write (chmod 700)",
            dir.display()
        );
    }
    // The socket file is created by bind with the process umask: tighten it for the call so
    // the file never exists with a wider mode. (The umask is per process; a file another
    // thread creates meanwhile only comes out stricter.)
    let old = rustix::process::umask(Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
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
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn only_the_same_user_or_root_as_a_client_is_served() {
        assert!(verdict(1000, 1000, false).is_ok());
        assert!(
            verdict(0, 1000, true).is_ok(),
            "root may ask a user's instance"
        );
        assert!(
            matches!(
                verdict(0, 1000, false),
                Err(PeerError::OtherUser { peer: 0, me: 1000 })
            ),
            "a client does not trust a socket root made for it"
        );
        let e = verdict(1001, 1000, true).unwrap_err();
        assert!(e.to_string().contains("user 1001"), "{e}");
    }

    #[test]
    fn the_peer_is_this_user() {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), my_uid());
        check_peer(&b, false).unwrap();
    }
}
