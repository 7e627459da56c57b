//! Helpers for the tests that run `tether` as a user runs it: temporary homes, child
//! processes killed by their own id, a running `tether sim`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tether-live-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its own id) when the test ends.
pub struct Proc {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn spawn(home: &Path, args: &[&str]) -> Self {
        Self::spawn_with(home, args, Stdio::null())
    }

    pub fn spawn_with(home: &Path, args: &[&str], stdin: Stdio) -> Self {
        Self::spawn_env(home, args, stdin, &[])
    }

    pub fn spawn_env(home: &Path, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Self {
        let mut command = StdCommand::new(cargo_bin("tether"));
        for k in NO_PROXY_ENV {
            command.env_remove(k);
        }
        let mut child = command
            .args(args)
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env_remove("SSL_CERT_FILE")
            .envs(env.iter().copied())
            .env("HOME", home)
            .env_remove("TETHER_STORE")
            .env_remove("TETHER_CONFIG")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line matching `pred` (60 s guard against a hang).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what} line; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for a JSON event by name.
    pub fn event(&mut self, name: &str) -> Value {
        let needle = format!("{{\"event\":\"{name}\"");
        let line = self.wait_for(name, |l| l.starts_with(&needle));
        serde_json::from_str(&line).unwrap()
    }

    /// Waits for a JSON event by name whose fields satisfy `pred` (earlier ones are skipped).
    pub fn event_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let needle = format!("{{\"event\":\"{name}\"");
        let line = self.wait_for(name, |l| {
            l.starts_with(&needle) && serde_json::from_str(l).is_ok_and(|v: Value| pred(&v))
        });
        serde_json::from_str(&line).unwrap()
    }

    /// Like [`Proc::event_where`], but gives up after `within` (`None`) instead of failing.
    pub fn try_event_where(
        &mut self,
        name: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let needle = format!("{{\"event\":\"{name}\"");
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if line.starts_with(&needle)
                && let Ok(v) = serde_json::from_str::<Value>(&line)
                && pred(&v)
            {
                return Some(v);
            }
        }
    }

    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stdout lines not read yet, once the process has closed it (for a failure's
    /// message; gives up after 5 s).
    pub fn rest(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut rest = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            rest.push(line);
        }
        rest.join("\n")
    }
}

/// A running `tether sim` and the three values its first line gives.
pub struct Sim {
    pub proc: Proc,
    pub ws: String,
    pub root: String,
    pub control: String,
    /// The CA file of `tether sim --tls`.
    pub ca: Option<String>,
}

pub fn sim(home: &Path) -> Sim {
    sim_with(home, &[])
}

/// `tether sim --auto-scan-ms 200` with more arguments.
pub fn sim_with(home: &Path, more: &[&str]) -> Sim {
    let mut args = vec!["sim", "--auto-scan-ms", "200"];
    args.extend_from_slice(more);
    let mut proc = Proc::spawn_with(home, &args, Stdio::piped());
    let first = proc.wait_for("first", |l| l.starts_with("ws="));
    let field = |k: &str| {
        first
            .split(' ')
            .find_map(|kv| kv.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    let ca = first
        .split(' ')
        .find_map(|kv| kv.strip_prefix("ca="))
        .map(str::to_owned);
    Sim {
        ws: field("ws="),
        root: field("root="),
        control: field("control="),
        ca,
        proc,
    }
}

pub fn run_json(home: &Path, sim: &Sim, store: &Path, cmd: &str) -> Proc {
    run_json_with(home, sim, store, cmd, &[])
}

/// [`run_json`] with more arguments.
pub fn run_json_with(home: &Path, sim: &Sim, store: &Path, cmd: &str, more: &[&str]) -> Proc {
    let store = store.to_str().unwrap();
    let mut args = vec![
        cmd,
        "--json",
        "--server",
        &sim.ws,
        "--trust-root",
        &sim.root,
        "--sim-phone",
        &sim.control,
        "--store",
        store,
    ];
    args.extend_from_slice(more);
    Proc::spawn(home, &args)
}

/// `tether ARGS --server … --trust-root … --store STORE`: a command that connects to `sim`
/// with the store itself (no instance running), its output read with [`output`].
pub fn connecting(home: &Path, sim: &Sim, store: &Path, args: &[&str]) -> Command {
    let mut c = tether(home);
    c.args(args)
        .args(["--server", &sim.ws, "--trust-root", &sim.root, "--store"])
        .arg(store);
    c
}

/// Proxy variables are blanked so that loopback tests never go through a proxy of the host.
pub const NO_PROXY_ENV: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

pub fn tether(home: &Path) -> Command {
    let mut c = Command::cargo_bin("tether").unwrap();
    for k in NO_PROXY_ENV {
        c.env_remove(k);
    }
    c.env("HOME", home)
        .env_remove("TETHER_STORE")
        .env_remove("TETHER_CONFIG")
        .env_remove("OPENCLAW_CONFIG_PATH")
        .env_remove("SSL_CERT_FILE");
    c
}

pub fn output(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Posts `body` to `path` on the sim's control interface with a raw HTTP request; the answer's
/// body (the status must be 200).
pub fn post_raw(sim: &Sim, path: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = sim.control.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// Posts a fault to the sim's control interface.
pub fn inject(sim: &Sim, fault: &str) {
    post_raw(sim, "/fault", fault);
}

/// Posts to the sim's control interface (`/refuse?n=N`, `/hang?n=N`, …).
pub fn post(sim: &Sim, path: &str) {
    post_raw(sim, path, "");
}

/// Posts `body` to `path` on the sim's control interface; its JSON answer.
pub fn post_body(sim: &Sim, path: &str, body: &str) -> Value {
    serde_json::from_str(&post_raw(sim, path, body)).unwrap()
}

/// A plain HTTP GET on loopback; returns the body.
pub fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
