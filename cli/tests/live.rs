//! The connection commands run as a user runs them: `demo`, and `run` against a `tether sim`
//! process — linking unattended, reconnecting through injected faults, `status`/`doctor`/
//! `backup` while it runs, a second `run` refused, `stop`, `relink` and `logout`.
//! Deadlines below only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
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
struct Proc {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(home: &Path, args: &[&str]) -> Self {
        Self::spawn_with(home, args, Stdio::null())
    }

    fn spawn_with(home: &Path, args: &[&str], stdin: Stdio) -> Self {
        Self::spawn_env(home, args, stdin, &[])
    }

    fn spawn_env(home: &Path, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Self {
        let mut child = StdCommand::new(cargo_bin("tether"))
            .args(args)
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
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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
    fn event(&mut self, name: &str) -> Value {
        let needle = format!("{{\"event\":\"{name}\"");
        let line = self.wait_for(name, |l| l.starts_with(&needle));
        serde_json::from_str(&line).unwrap()
    }

    /// Waits for a JSON event by name whose fields satisfy `pred` (earlier ones are skipped).
    fn event_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let needle = format!("{{\"event\":\"{name}\"");
        let line = self.wait_for(name, |l| {
            l.starts_with(&needle) && serde_json::from_str(l).is_ok_and(|v: Value| pred(&v))
        });
        serde_json::from_str(&line).unwrap()
    }

    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running `tether sim` and the three values its first line gives.
struct Sim {
    proc: Proc,
    ws: String,
    root: String,
    control: String,
}

fn sim(home: &Path) -> Sim {
    let mut proc = Proc::spawn_with(home, &["sim", "--auto-scan-ms", "200"], Stdio::piped());
    let first = proc.wait_for("first", |l| l.starts_with("ws="));
    let field = |k: &str| {
        first
            .split(' ')
            .find_map(|kv| kv.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    Sim {
        ws: field("ws="),
        root: field("root="),
        control: field("control="),
        proc,
    }
}

fn run_json(home: &Path, sim: &Sim, store: &Path, cmd: &str) -> Proc {
    let store = store.to_str().unwrap();
    Proc::spawn(
        home,
        &[
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
        ],
    )
}

fn tether(home: &Path) -> Command {
    let mut c = Command::cargo_bin("tether").unwrap();
    c.env("HOME", home)
        .env_remove("TETHER_STORE")
        .env_remove("TETHER_CONFIG");
    c
}

fn output(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Posts a fault to the sim's control interface with a raw HTTP request.
fn inject(sim: &Sim, fault: &str) {
    use std::io::{Read as _, Write as _};
    let addr = sim.control.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /fault HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{fault}",
        fault.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn demo_links_survives_408_and_515_and_stops_on_440() {
    let t = Tmp::new("demo");
    let (code, out, err) = output(tether(&t.0).arg("demo"));
    assert_eq!(code, 0, "{out}\n{err}");
    for needle in [
        "Scan this QR code",
        "Connected as ",
        "Connection closed. Reason: [408] (Connection timed out)",
        "Reconnecting in ",
        "Connection closed. Reason: 515 (Restart required)",
        "Connection closed. Reason: 440 (Connection replaced)",
        "advice: Another Tether",
        "Demo finished",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn demo_json_prints_one_event_object_per_line() {
    let t = Tmp::new("demo-json");
    let (code, out, err) = output(tether(&t.0).args(["demo", "--json"]));
    assert_eq!(code, 0, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for n in [
        "qr",
        "paired",
        "connected",
        "disconnected",
        "reconnecting",
        "stopped",
        "demo_finished",
    ] {
        assert!(names.contains(&n), "no {n} in {names:?}");
    }
    let d440 = events
        .iter()
        .find(|e| e["event"] == "disconnected" && e["code"] == 440)
        .unwrap();
    assert_eq!(d440["terminal"], true);
    assert!(
        d440["advice"]
            .as_str()
            .unwrap()
            .contains("Stop the other one")
    );
}

#[test]
fn run_against_tether_sim_links_reconnects_and_stops() {
    let t = Tmp::new("run");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    let qr = run.event("qr");
    assert!(qr["code"].as_str().unwrap().contains('@'));
    let jid = run.event("connected")["jid"].as_str().unwrap().to_owned();

    // status while it runs comes from the owner, over the control socket.
    let (code, out, _) = output(
        tether(&t.0)
            .args(["status", "--json", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(status["account"]["jid"], jid.as_str());
    assert!(
        status["live"]["connects"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(status["owner"]["pid"].as_u64().is_some(), "{status}");

    // A second instance on the same store is refused, naming the holder.
    let (code, _, err) = output(
        tether(&t.0)
            .args([
                "run",
                "--server",
                &sim.ws,
                "--trust-root",
                &sim.root,
                "--store",
            ])
            .arg(&store),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("is in use by another Tether instance"),
        "{err}"
    );
    assert!(err.contains(&format!("pid {}", run.child.id())), "{err}");

    // A 515 restart and an abrupt close both come back by themselves.
    inject(&sim, "515");
    let d = run.event_where("disconnected", |d| d["code"] == 515);
    assert_eq!(d["terminal"], false);
    run.event("connected");
    inject(&sim, "close");
    let d = run.event_where("disconnected", |d| d["code"] == 428);
    assert_eq!(d["local"], true);
    let r = run.event("reconnecting");
    assert!(r["attempt"].as_u64().unwrap() >= 1, "{r}");
    run.event("connected");

    // doctor against the sim's endpoint: everything passes while the owner runs.
    let (code, out, _) = output(
        tether(&t.0)
            .args(["doctor", "--timeout", "5", "--server", &sim.ws, "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("✔ owner lock: held by the running instance"),
        "{out}"
    );
    assert!(out.contains("✔ WebSocket: upgrade accepted"), "{out}");

    // An online backup from the running owner.
    let backup = t.0.join("b.redb");
    let (code, out, err) = output(
        tether(&t.0)
            .arg("backup")
            .arg(&backup)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("online, from the running owner"), "{out}");

    let (code, out, err) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("asked it over its control socket"), "{out}");
    assert_eq!(run.exit_code(), 0);

    // After it exits, status reads the recorded status from the store.
    let (code, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert_eq!(code, 0);
    assert!(out.contains(&format!("yes, as {jid}")), "{out}");
    assert!(out.contains("owner           none"), "{out}");
    assert!(
        out.contains("last disconnect [428]") || out.contains("last disconnect 515"),
        "{out}"
    );
}

#[test]
fn stop_signals_an_owner_and_a_terminal_reason_exits_1() {
    let t = Tmp::new("terminal");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    inject(&sim, "replaced");
    let stopped = run.event("stopped");
    assert_eq!(stopped["code"], 440);
    assert_eq!(run.exit_code(), 1, "a terminal reason exits 1");

    // SIGTERM (what `tether stop` falls back to, and what systemd sends) is a clean exit.
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let pid = run.child.id().to_string();
    let status = StdCommand::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    run.event("stopped");
    assert_eq!(run.exit_code(), 0);
}

#[test]
fn relink_sets_the_old_session_aside_and_links_again() {
    let t = Tmp::new("relink");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    let first = run.event("connected")["jid"].as_str().unwrap().to_owned();
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(run.exit_code(), 0);

    let mut relink = run_json(&t.0, &sim, &store, "relink");
    let note = relink.wait_for("set aside", |l| l.contains("set aside"));
    assert!(note.contains(&first), "{note}");
    assert!(note.contains("tether restore"), "{note}");
    relink.event("qr");
    let second = relink.event("connected")["jid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second, "a fresh device was linked");
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(relink.exit_code(), 0);
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.contains("1 old identities kept"), "{out}");
}

#[test]
fn stdin_faults_reach_the_client_and_stop_falls_back_to_sigterm() {
    use std::io::Write as _;
    let t = Tmp::new("stdin");
    let store = t.0.join("s.redb");
    let mut sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let stdin = sim.proc.child.stdin.as_mut().unwrap();
    writeln!(stdin, "stream:503").unwrap();
    stdin.flush().unwrap();
    let d = run.event_where("disconnected", |d| d["code"] == 503);
    assert_eq!(d["reason"], "Service unavailable");
    assert!(run.event("reconnecting")["attempt"].as_u64().unwrap() >= 1);
    run.event("connected");

    // Without the control socket, `stop` signals the pid the owner file records.
    std::fs::remove_file(t.0.join("s.redb.sock")).unwrap();
    let (code, out, err) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent it SIGTERM"), "{out}");
    assert_eq!(run.exit_code(), 0);
}

#[test]
fn logout_removes_the_device_and_quarantines_the_session() {
    let t = Tmp::new("logout");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(run.exit_code(), 0);
    let (code, out, err) = output(
        tether(&t.0)
            .args([
                "logout",
                "--server",
                &sim.ws,
                "--trust-root",
                &sim.root,
                "--store",
            ])
            .arg(&store),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Logged out"), "{out}");
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.contains("linked          no"), "{out}");
    assert!(out.contains("1 old identities kept"), "{out}");
}

#[test]
fn export_then_import_baileys_carries_the_identity() {
    let t = Tmp::new("baileys");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    let jid = run.event("connected")["jid"].as_str().unwrap().to_owned();
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(run.exit_code(), 0);
    let dir = t.0.join("auth_info_baileys");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["export", "baileys"])
            .arg(&dir)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Exported {jid}")), "{out}");
    assert!(dir.join("creds.json").is_file());
    let other = t.0.join("other.redb");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["import", "baileys"])
            .arg(&dir)
            .arg("--store")
            .arg(&other),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Imported {jid}")), "{out}");
    // The imported identity logs in again against the same server.
    let mut again = run_json(&t.0, &sim, &other, "run");
    assert_eq!(again.event("connected")["jid"], jid.as_str());
    output(tether(&t.0).args(["stop", "--store"]).arg(&other));
    assert_eq!(again.exit_code(), 0);
    let (code, _, err) = output(
        tether(&t.0)
            .args(["import", "baileys"])
            .arg(t.0.join("nope"))
            .arg("--store")
            .arg(&other),
    );
    assert_eq!(code, 2);
    assert!(err.contains("no creds.json"), "{err}");
}

#[test]
fn pair_code_linking_with_the_sim_phone() {
    let t = Tmp::new("pair");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let store_arg = store.to_str().unwrap();
    let mut run = Proc::spawn(
        &t.0,
        &[
            "run",
            "--json",
            "--server",
            &sim.ws,
            "--trust-root",
            &sim.root,
            "--sim-phone",
            &sim.control,
            "--pair-code",
            "+1 555 600 5838",
            "--store",
            store_arg,
        ],
    );
    let code = run.event("pairing_code");
    assert_eq!(
        code["code"].as_str().unwrap().replace('-', "").len(),
        8,
        "{code}"
    );
    run.event("paired");
    run.event("connected");
    assert!(
        !run.seen.iter().any(|l| l.starts_with("{\"event\":\"qr\"")),
        "no QR is shown while linking by code"
    );
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(run.exit_code(), 0);
}

#[test]
fn under_systemd_run_notifies_ready_and_feeds_the_watchdog() {
    let t = Tmp::new("notify");
    let store = t.0.join("s.redb");
    let sock_path = t.0.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let sim = sim(&t.0);
    let mut run = Proc::spawn_env(
        &t.0,
        &[
            "run",
            "--json",
            "--server",
            &sim.ws,
            "--trust-root",
            &sim.root,
            "--sim-phone",
            &sim.control,
            "--store",
            store.to_str().unwrap(),
        ],
        Stdio::null(),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    run.event("connected");
    let mut got = String::new();
    let mut buf = [0u8; 512];
    while !(got.contains("READY=1") && got.contains("WATCHDOG=1")) {
        let n = sock
            .recv(&mut buf)
            .expect("no notification from tether run");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(run.exit_code(), 0);
    let n = sock.recv(&mut buf).unwrap();
    let mut rest = String::from_utf8_lossy(&buf[..n]).into_owned();
    while !rest.contains("STOPPING=1") {
        let n = sock.recv(&mut buf).expect("no STOPPING=1");
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}
