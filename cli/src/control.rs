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
//! The server runs on a plain thread, so it works the same under any async runtime.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

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

/// Serves the control socket at `path`. The caller must own the store (so a leftover socket
/// file from a crashed owner is stale and is replaced).
pub(crate) fn serve(path: &Path, handler: Handler) -> std::io::Result<ControlServer> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let thread = std::thread::Builder::new()
        .name("tether-control".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                match stream {
                    Ok(stream) => answer(stream, &handler),
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

fn answer(stream: UnixStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = match Request::parse(&line).and_then(|r| handler(r)) {
        Ok(Value::Object(mut map)) => {
            map.insert("ok".into(), json!(true));
            Value::Object(map)
        }
        Ok(other) => json!({"ok": true, "value": other}),
        Err(error) => json!({"ok": false, "error": error}),
    };
    let mut stream = &stream;
    let _ = writeln!(stream, "{reply}");
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
    /// The owner answered with an error, or the exchange failed.
    Failed(String),
}

/// Sends one request to the owner of the store whose socket is `path`.
pub(crate) fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Value, AskError> {
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
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let io = |e: std::io::Error| {
        AskError::Failed(format!(
            "the owner's control socket {} did not answer ({e}); the owner may be hung: \
             check its logs, or stop it with `tether stop`",
            path.display()
        ))
    };
    (&stream)
        .write_all(format!("{}\n", request.line()).as_bytes())
        .map_err(io)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(io)?;
    let value: Value = serde_json::from_str(&line)
        .map_err(|e| AskError::Failed(format!("the owner answered something unreadable: {e}")))?;
    if value.get("ok") == Some(&json!(true)) {
        Ok(value)
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
    use super::*;

    #[test]
    fn serves_status_and_refuses_unknown_requests() {
        let dir = std::env::temp_dir().join(format!("tether-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let server = serve(
            &sock,
            Arc::new(|r| match r {
                Request::Status => Ok(json!({"status": {"state": "connected"}})),
                _ => Err("nope".into()),
            }),
        )
        .unwrap();
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
}
