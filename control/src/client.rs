//! The client side, for `tether status`, `stop`, `backup`, `send`, `read` and tests: connect
//! to `<store>.sock` (checking that the server is this user's), send requests, read answers
//! and events.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::protocol::{MAX_LINE, Request};
use crate::socket::{Peer, check_peer, check_socket_file, own_uid};

/// Why a request could not be answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum AskError {
    /// No instance serves the socket (no file, or nobody listening).
    NoOwner,
    /// The socket is not this user's: another user's file or server, or a link. It was not
    /// used.
    Untrusted(String),
    /// The instance refused the request: its error message, its stable `code`, and the whole
    /// answer.
    Refused {
        /// What it said.
        error: String,
        /// The answer's `code` (`send_failed`, `refused`, `invalid_recipient`, …).
        code: String,
        /// The whole answer line.
        answer: Value,
    },
    /// The exchange failed (unreadable answer, timeout, a socket of another user).
    Failed(String),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoOwner => f.write_str("no running instance serves this store's control socket"),
            Self::Untrusted(e) => f.write_str(e),
            Self::Refused { error, .. } => write!(f, "the running instance refused: {error}"),
            Self::Failed(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for AskError {}

/// A connection to a running instance.
#[derive(Debug)]
pub struct ControlClient {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    path: String,
    server: Peer,
}

impl ControlClient {
    /// Connects to the socket at `path`; `timeout` bounds every read and write (`None`: wait
    /// as long as it takes, for subscribers). The socket must be this user's
    /// ([`ControlClient::connect_as`]).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Self, AskError> {
        Self::connect_as(path, timeout, own_uid())
    }

    /// Connects to `path` if it is a socket file of user `uid` (not a link) served by a
    /// process of user `uid`.
    pub fn connect_as(path: &Path, timeout: Option<Duration>, uid: u32) -> Result<Self, AskError> {
        let shown = path.display().to_string();
        let untrusted = |why: String| {
            AskError::Untrusted(format!(
                "the control socket {shown} cannot be trusted: {why}; it was not used. If you \
                 did not put it there, another user may have: remove it, and keep the store's \
                 directory private (`chmod 700`)"
            ))
        };
        match check_socket_file(path, uid) {
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
                    "cannot connect to the control socket {shown}: {e}"
                )));
            }
        };
        let server =
            check_peer(&stream, uid).map_err(|why| untrusted(format!("its server: {why}")))?;
        let _ = stream.set_read_timeout(timeout);
        let _ = stream.set_write_timeout(timeout.or(Some(Duration::from_secs(10))));
        let reader = stream
            .try_clone()
            .map(BufReader::new)
            .map_err(|e| AskError::Failed(format!("{shown}: {e}")))?;
        Ok(Self {
            stream,
            reader,
            path: shown,
            server,
        })
    }

    /// Who serves the socket.
    pub fn server(&self) -> Peer {
        self.server
    }

    fn io(&self, e: &std::io::Error) -> AskError {
        AskError::Failed(format!(
            "the instance's control socket {} did not answer ({e}); it may be hung: check its \
             logs, or stop it with `tether stop`",
            self.path
        ))
    }

    /// Sends `request` (tagged `req`, when not `null`).
    pub fn send(&mut self, request: &Request, req: &Value) -> Result<(), AskError> {
        let line = request.to_line(req);
        (&self.stream)
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| self.io(&e))
    }

    /// The next line: an answer (`ok`) or an event (`event`). `Ok(None)` at the end of the
    /// stream.
    pub fn next_line(&mut self) -> Result<Option<Value>, AskError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 * 64)
            .read_line(&mut line)
            .map_err(|e| self.io(&e))?;
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_str(&line).map(Some).map_err(|e| {
            AskError::Failed(format!("the instance answered something unreadable: {e}"))
        })
    }

    /// Sends `request` and waits for its answer, skipping events; an `ok: false` answer is
    /// [`AskError::Refused`].
    pub fn request(&mut self, request: &Request) -> Result<Value, AskError> {
        // A server that refuses a client (busy, another user) writes its reason and closes
        // at once, so the request may not go out: the reason is read all the same.
        let sent = self.send(request, &Value::Null);
        loop {
            let line = match self.next_line() {
                Ok(Some(v)) => v,
                Ok(None) => {
                    return Err(sent.err().unwrap_or_else(|| {
                        AskError::Failed(format!(
                            "the instance closed {} without answering",
                            self.path
                        ))
                    }));
                }
                Err(e) => return Err(sent.err().unwrap_or(e)),
            };
            if line.get("ok").is_none() {
                continue;
            }
            return checked(line);
        }
    }
}

/// An answer line as a result.
fn checked(v: Value) -> Result<Value, AskError> {
    if v.get("ok") == Some(&json!(true)) {
        return Ok(v);
    }
    Err(AskError::Refused {
        error: v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_owned(),
        code: v
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_owned(),
        answer: v,
    })
}

/// Sends one request to the instance serving `path` and returns its answer.
pub fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Value, AskError> {
    ask_peer(path, request, timeout, own_uid()).map(|(value, _)| value)
}

/// Sends one request to the socket `path` if it is a socket of user `uid` served by a process
/// of user `uid`; returns the answer and who answered.
pub fn ask_peer(
    path: &Path,
    request: &Request,
    timeout: Duration,
    uid: u32,
) -> Result<(Value, Peer), AskError> {
    let mut client = ControlClient::connect_as(path, Some(timeout), uid)?;
    let server = client.server();
    client.request(request).map(|v| (v, server))
}
