//! The Baileys fidelity harness: runs `node interop/fidelity.mjs <ws-url> <auth-dir>` (the real
//! npm Baileys client as an application would run it) and reads its JSON event lines.
//!
//! [`link_baileys_session`] links a Baileys auth directory against a
//! [`SimServer`] by QR (the server's fake phone scans what Baileys
//! shows), through the 515 restart, to `open`; the directory then holds a linked Baileys
//! session that other tests can import.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tether_core::binary::Jid;
use tether_sim::net::SimServer;

use super::harness::Baileys;

/// One running `fidelity.mjs` process.
#[derive(Debug)]
pub struct BaileysApp {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Json>,
    /// Every event line read so far (for failure messages).
    pub seen: Vec<Json>,
}

impl BaileysApp {
    /// Starts Baileys against `url` with its multi-file auth state in `auth_dir`.
    pub fn spawn(url: &str, auth_dir: &Path) -> Result<Self, String> {
        Self::spawn_with(url, auth_dir, &[])
    }

    /// [`spawn`](Self::spawn) with extra environment variables (`FIDELITY_APP_STATE_KEY_ID`).
    pub fn spawn_with(url: &str, auth_dir: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let harness = Baileys::locate()?;
        let mut child = Command::new(harness.node())
            .envs(env.iter().copied())
            .arg(harness.root().join("interop/fidelity.mjs"))
            .arg(url)
            .arg(auth_dir)
            .arg("300")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take();
        let (send, events) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "event": "stdout", "line": line }));
                if send.send(event).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            events,
            seen: Vec::new(),
        })
    }

    /// The next event, waiting at most `limit`.
    pub fn next_event(&mut self, limit: Duration) -> Result<Json, String> {
        match self.events.recv_timeout(limit) {
            Ok(event) => {
                self.seen.push(event.clone());
                Ok(event)
            }
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no Baileys event within {limit:?}; seen: {:?}",
                self.seen
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("Baileys exited; seen: {:?}", self.seen))
            }
        }
    }

    /// Reads events until one named `name` arrives (within `limit` overall); `on_other` sees
    /// the ones before it and may fail the wait.
    pub fn wait_for(
        &mut self,
        name: &str,
        limit: Duration,
        mut on_other: impl FnMut(&Json) -> Result<(), String>,
    ) -> Result<Json, String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.next_event(left)?;
            if event["event"] == name {
                return Ok(event);
            }
            on_other(&event)?;
        }
    }

    /// Sends a command line to the process (`send <jid> <text>`, `quit`).
    pub fn command(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin is closed")?;
        writeln!(stdin, "{line}").map_err(|e| format!("cannot write to Baileys: {e}"))
    }

    /// Asks the process to save its credentials and exit, then waits for it.
    pub fn quit(mut self) -> Result<(), String> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    return Err("Baileys did not exit after `quit`".to_owned());
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

impl Drop for BaileysApp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Status code of a `close` event.
pub fn close_code(event: &Json) -> Option<u64> {
    event["statusCode"].as_u64()
}

/// Links a fresh Baileys auth directory `auth_dir` against `server`: Baileys shows a QR, the
/// server's fake phone scans it, Baileys reports the 515 restart, reconnects and opens. Returns
/// the still-running application and the JID the phone issued; `quit` it to have the linked
/// session saved in `auth_dir`.
pub fn link_baileys_session(
    server: &SimServer,
    auth_dir: &Path,
    limit: Duration,
) -> Result<(BaileysApp, Jid), String> {
    link_baileys_session_with(server, auth_dir, limit, &[])
}

/// [`link_baileys_session`] with extra environment variables for the process.
pub fn link_baileys_session_with(
    server: &SimServer,
    auth_dir: &Path,
    limit: Duration,
    env: &[(&str, &str)],
) -> Result<(BaileysApp, Jid), String> {
    let mut app = BaileysApp::spawn_with(&server.ws_url(), auth_dir, env)?;
    let qr = app.wait_for("qr", limit, no_close)?;
    let qr = qr["qr"].as_str().ok_or("qr event without a qr")?.to_owned();
    let jid = server
        .scan_qr(&qr)
        .map_err(|e| format!("the phone could not scan Baileys' QR {qr:?}: {e}"))?;
    let close = app.wait_for("close", limit, |_| Ok(()))?;
    if close_code(&close) != Some(515) {
        return Err(format!(
            "expected the 515 restart, got {close}; seen: {:?}",
            app.seen
        ));
    }
    let open = app.wait_for("open", limit, no_close)?;
    let me = open["me"].as_str().unwrap_or_default();
    let me: Jid = me
        .parse()
        .map_err(|e| format!("Baileys opened as {me:?}, not a JID: {e}"))?;
    if me.user_str() != jid.user_str() || me.device_id() != jid.device_id() {
        return Err(format!("Baileys opened as {me}, the phone linked {jid}"));
    }
    Ok((app, jid))
}

/// A `wait_for` filter that fails on any `close` event.
pub fn no_close(event: &Json) -> Result<(), String> {
    if event["event"] == "close" || event["event"] == "exit" {
        Err(format!("unexpected {event}"))
    } else {
        Ok(())
    }
}
