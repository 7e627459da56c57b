//! The control socket a running owner serves beside its store (`<store>.sock`, a Unix socket,
//! mode 0600; DESIGN §5), so `status`, `backup` and `stop` work while the store is locked.
//!
//! The protocol is one request line and one JSON answer line per connection:
//!
//! ```text
//! client: status\n            server: {"ok":true,"status":{...}}\n
//! client: backup /path\n      server: {"ok":true,"path":"/path"}\n
//! client: stop\n              server: {"ok":true}\n
//!                             on failure: {"ok":false,"error":"what, why, what to do"}\n
//! ```
//!
//! Trust and bounds (each in its own small piece, so the protocol can move into a library):
//!
//! * both ends check the other's kernel-recorded credentials (`SO_PEERCRED`): only the owner's
//!   own user is served, and a client talks only to a socket file of its own user served by its
//!   own user ([`peer`]);
//! * the socket is bound under a temporary name, made 0600, then renamed into place: it is
//!   never reachable under its real name with a wider mode;
//! * a request line is at most [`Limits::max_request`] bytes and must arrive within
//!   [`Limits::deadline`] ([`line`](mod@line)); each client is served on its own thread, at most
//!   [`Limits::max_clients`] at once, so a slow client delays nobody.
//!
//! The server runs on plain threads, so it works the same under any async runtime.

mod line;
mod peer;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) use peer::{Peer, own_uid, writable_by_others};

/// One request to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// The live status, as JSON.
    Status,
    /// Write a consistent copy of the store to this path.
    Backup(PathBuf),
    /// Shut down gracefully.
    Stop,
}

impl Request {
    fn parse(line: &str) -> Result<Self, String> {
        let line = line.trim();
        match line.split_once(' ') {
            None if line == "status" => Ok(Self::Status),
            None if line == "stop" => Ok(Self::Stop),
            Some(("backup", path)) if !path.trim().is_empty() => {
                Ok(Self::Backup(PathBuf::from(path.trim())))
            }
            _ => Err(format!(
                "unknown control request {line:?}; the requests are: status, backup PATH, stop"
            )),
        }
    }

    fn line(&self) -> String {
        match self {
            Self::Status => "status".into(),
            Self::Stop => "stop".into(),
            Self::Backup(p) => format!("backup {}", p.display()),
        }
    }
}

/// What the owner does with a request: a JSON answer (merged into `{"ok":true}`) or an error.
pub(crate) type Handler = Arc<dyn Fn(Request) -> Result<Value, String> + Send + Sync>;

/// A running control socket; dropping it stops the thread and removes the socket file.
pub(crate) struct ControlServer {
    path: PathBuf,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The bounds a control server keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The longest request line, in bytes.
    pub(crate) max_request: usize,
    /// How long a client has to send its request.
    pub(crate) deadline: Duration,
    /// How many clients are served at once (more are told to retry).
    pub(crate) max_clients: usize,
    /// The only user served.
    pub(crate) uid: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // `backup PATH` with the longest path Linux accepts fits.
            max_request: 8 * 1024,
            deadline: Duration::from_secs(5),
            max_clients: 8,
            uid: own_uid(),
        }
    }
}

/// The longest answer a client reads (a status is a few KiB).
const MAX_REPLY: usize = 1024 * 1024;

/// Serves the control socket at `path` with the default [`Limits`]. The caller must own the
/// store (so a leftover socket file from a crashed owner is stale and is replaced).
pub(crate) fn serve(path: &Path, handler: Handler) -> std::io::Result<ControlServer> {
    serve_with(path, handler, Limits::default())
}

/// Serves the control socket at `path` within `limits`.
pub(crate) fn serve_with(
    path: &Path,
    handler: Handler,
    limits: Limits,
) -> std::io::Result<ControlServer> {
    if let Some(dir) = path.parent().filter(|d| writable_by_others(d)) {
        tracing::warn!(
            target: "tether::control",
            "the store's directory {} is writable by other users: they could replace files \
             beside the store; make it private with `chmod 700 {}`",
            dir.display(),
            dir.display()
        );
    }
    let listener = bind_private(path)?;
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let active = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::Builder::new()
        .name("tether-control".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                match stream {
                    Ok(stream) => dispatch(stream, &handler, limits, &active),
                    Err(e) => tracing::warn!(target: "tether::control", "accept failed: {e}"),
                }
            }
        })?;
    Ok(ControlServer {
        path: path.to_owned(),
        done,
        thread: Some(thread),
    })
}

/// Binds the socket under a temporary name, makes it 0600 and renames it to `path` (replacing
/// a stale one): under its real name it is never reachable with a wider mode.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    let tmp = crate::paths::beside(path, &format!(".{}.tmp", std::process::id()));
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

/// Serves one client on its own thread, or tells it to retry when too many are being served.
fn dispatch(stream: UnixStream, handler: &Handler, limits: Limits, active: &Arc<AtomicUsize>) {
    if active.fetch_add(1, Ordering::SeqCst) >= limits.max_clients {
        active.fetch_sub(1, Ordering::SeqCst);
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let busy = json!({"ok": false, "error": "the owner is busy with other control clients; retry in a moment"});
        let _ = writeln!(&stream, "{busy}");
        return;
    }
    let (handler, active) = (Arc::clone(handler), Arc::clone(active));
    let spawned = std::thread::Builder::new()
        .name("tether-control-client".into())
        .spawn(move || {
            answer(&stream, &handler, limits);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "tether::control", "cannot serve a control client: {e}");
    }
}

fn answer(stream: &UnixStream, handler: &Handler, limits: Limits) {
    let _ = stream.set_write_timeout(Some(limits.deadline));
    let request = peer::check_peer(stream, limits.uid)
        .map_err(|why| {
            tracing::warn!(target: "tether::control", "refused a control connection: {why}");
            format!(
                "refused: this control socket serves only uid {}; {why}",
                limits.uid
            )
        })
        .and_then(|_| {
            let deadline = Instant::now() + limits.deadline;
            line::read_line(stream, limits.max_request, deadline)
                .map_err(|e| format!("no valid control request: {e}"))
        });
    let reply = match request
        .and_then(|line| Request::parse(&line))
        .and_then(|r| handler(r))
    {
        Ok(Value::Object(mut map)) => {
            map.insert("ok".into(), json!(true));
            Value::Object(map)
        }
        Ok(other) => json!({"ok": true, "value": other}),
        Err(error) => json!({"ok": false, "error": error}),
    };
    let _ = writeln!(&*stream, "{reply}");
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag. If the socket file was removed behind our
        // back, nothing can wake it: leave the thread to end with the process.
        let woken = UnixStream::connect(&self.path).is_ok();
        if let Some(t) = self.thread.take()
            && woken
        {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why a request could not be answered.
#[derive(Debug)]
pub(crate) enum AskError {
    /// No owner serves the socket (no file, or nobody listening).
    NoOwner,
    /// The socket is not the owner's: another user's file or server. It was not used.
    Untrusted(String),
    /// The owner answered with an error, or the exchange failed.
    Failed(String),
}

/// Sends one request to the owner of the store whose socket is `path`.
pub(crate) fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Value, AskError> {
    ask_peer(path, request, timeout, own_uid()).map(|(value, _)| value)
}

/// Sends one request to the socket `path` if it is a socket of user `uid` served by a process
/// of user `uid`; returns the answer and who answered.
pub(crate) fn ask_peer(
    path: &Path,
    request: &Request,
    timeout: Duration,
    uid: u32,
) -> Result<(Value, Peer), AskError> {
    let untrusted = |why: String| {
        AskError::Untrusted(format!(
            "the control socket {} cannot be trusted: {why}; it was not used. If you did not \
             put it there, another user may have: remove it, and keep the store's directory \
             private (`chmod 700`)",
            path.display()
        ))
    };
    match peer::check_socket_file(path, uid) {
        Ok(true) => {}
        Ok(false) => return Err(AskError::NoOwner),
        Err(why) => return Err(untrusted(why)),
    }
    let stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(AskError::NoOwner);
        }
        Err(e) => {
            return Err(AskError::Failed(format!(
                "cannot connect to the control socket {}: {e}",
                path.display()
            )));
        }
    };
    let server =
        peer::check_peer(&stream, uid).map_err(|why| untrusted(format!("its server: {why}")))?;
    let _ = stream.set_write_timeout(Some(timeout));
    let hung = |e: &dyn std::fmt::Display| {
        AskError::Failed(format!(
            "the owner's control socket {} did not answer ({e}); the owner may be hung: \
             check its logs, or stop it with `tether stop`",
            path.display()
        ))
    };
    (&stream)
        .write_all(format!("{}\n", request.line()).as_bytes())
        .map_err(|e| hung(&e))?;
    let line =
        line::read_line(&stream, MAX_REPLY, Instant::now() + timeout).map_err(|e| hung(&e))?;
    let value: Value = serde_json::from_str(&line)
        .map_err(|e| AskError::Failed(format!("the owner answered something unreadable: {e}")))?;
    if value.get("ok") == Some(&json!(true)) {
        Ok((value, server))
    } else {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        Err(AskError::Failed(format!(
            "the running owner refused: {error}"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::{Read as _, Write as _};

    use super::*;

    /// A fresh directory for one test's socket.
    fn sock_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tether-ctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn status_handler() -> Handler {
        Arc::new(|r| match r {
            Request::Status => Ok(json!({"status": {"state": "connected"}})),
            _ => Err("nope".into()),
        })
    }

    /// Reads the server's one answer line.
    fn reply(stream: &mut UnixStream) -> String {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    }

    #[test]
    fn serves_status_and_refuses_unknown_requests() {
        let dir = sock_dir("basic");
        let sock = dir.join("s.sock");
        let server = serve(&sock, status_handler()).unwrap();
        let v = ask(&sock, &Request::Status, Duration::from_secs(5)).unwrap();
        assert_eq!(v["status"]["state"], "connected");
        assert!(matches!(
            ask(&sock, &Request::Stop, Duration::from_secs(5)),
            Err(AskError::Failed(e)) if e.contains("nope")
        ));
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(server);
        assert!(matches!(
            ask(&sock, &Request::Status, Duration::from_secs(5)),
            Err(AskError::NoOwner)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(Request::parse("status\n"), Ok(Request::Status));
        assert_eq!(
            Request::parse("backup /tmp/b.redb"),
            Ok(Request::Backup(PathBuf::from("/tmp/b.redb")))
        );
        assert!(Request::parse("rm -rf").is_err());
    }

    #[test]
    fn a_request_without_an_end_is_cut_at_the_bound_not_read_whole() {
        let dir = sock_dir("long");
        let sock = dir.join("s.sock");
        let _server = serve(&sock, status_handler()).unwrap();
        let mut client = UnixStream::connect(&sock).unwrap();
        client
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // 400 MiB without a newline, in 1 MiB writes: the server stops reading at its bound
        // and closes, so the writes fail long before the end.
        let chunk = vec![b'x'; 1024 * 1024];
        let mut sent = 0usize;
        for _ in 0..400 {
            if client.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        assert!(
            sent < 64 * 1024 * 1024,
            "the server read {sent} bytes of one request"
        );
        let answer = reply(&mut client);
        assert!(answer.contains("longer than 8192 bytes"), "{answer}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_slow_client_delays_nobody_and_is_cut_at_the_deadline() {
        let dir = sock_dir("slow");
        let sock = dir.join("s.sock");
        let limits = Limits {
            deadline: Duration::from_millis(300),
            ..Limits::default()
        };
        let _server = serve_with(&sock, status_handler(), limits).unwrap();
        // It starts a request and never finishes it.
        let mut slow = UnixStream::connect(&sock).unwrap();
        slow.write_all(b"sta").unwrap();
        // Meanwhile another client is answered.
        let v = ask(&sock, &Request::Status, Duration::from_secs(30)).unwrap();
        assert_eq!(v["status"]["state"], "connected");
        // And the slow one is dropped at the deadline, with the reason.
        let answer = reply(&mut slow);
        assert!(answer.contains("did not arrive in time"), "{answer}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn clients_beyond_the_limit_are_told_to_retry() {
        let dir = sock_dir("busy");
        let sock = dir.join("s.sock");
        let limits = Limits {
            max_clients: 1,
            deadline: Duration::from_secs(30),
            ..Limits::default()
        };
        let _server = serve_with(&sock, status_handler(), limits).unwrap();
        let mut holder = UnixStream::connect(&sock).unwrap();
        holder.write_all(b"sta").unwrap();
        // The slot is taken once the server has accepted the holder; retry until it has.
        let busy =
            (0..300).find_map(
                |_| match ask(&sock, &Request::Status, Duration::from_secs(5)) {
                    Err(AskError::Failed(e)) if e.contains("busy") => Some(e),
                    _ => {
                        std::thread::sleep(Duration::from_millis(10));
                        None
                    }
                },
            );
        assert!(
            busy.is_some(),
            "a second client was served beside the first"
        );
        holder.write_all(b"tus\n").unwrap();
        assert!(reply(&mut holder).contains("connected"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_same_user_is_served_and_only_its_sockets_are_asked() {
        let dir = sock_dir("uid");
        let sock = dir.join("s.sock");
        let other = own_uid().wrapping_add(1);
        // A server for another user refuses us.
        let server = serve_with(
            &sock,
            status_handler(),
            Limits {
                uid: other,
                ..Limits::default()
            },
        )
        .unwrap();
        match ask(&sock, &Request::Status, Duration::from_secs(5)) {
            Err(AskError::Failed(e)) => assert!(e.contains("serves only uid"), "{e}"),
            r => panic!("served another user: {r:?}"),
        }
        drop(server);
        // A client expecting another user does not trust our socket.
        let _server = serve(&sock, status_handler()).unwrap();
        match ask_peer(&sock, &Request::Status, Duration::from_secs(5), other) {
            Err(AskError::Untrusted(e)) => assert!(e.contains("not uid"), "{e}"),
            r => panic!("trusted another user's socket: {r:?}"),
        }
        // A link in place of the socket is never followed.
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        match ask(&link, &Request::Status, Duration::from_secs(5)) {
            Err(AskError::Untrusted(e)) => assert!(e.contains("not a socket"), "{e}"),
            r => panic!("followed a link: {r:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
