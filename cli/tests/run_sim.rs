//! `tether run` against a `tether sim` process, run as a user runs them: linking unattended (QR
//! and pair code), reconnecting through injected faults, `status`/`doctor`/`backup` while it
//! runs, a second `run` refused, `stop` (control socket and SIGTERM), a terminal 440, systemd
//! notifications, `relink`, `logout`, and the Baileys export/import round trip.
//! Deadlines in the helpers only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use common::{
    Proc, Tmp, connecting, inject, output, run_json, run_json_with, sim, sim_with, tether,
};
use serde_json::Value;

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
    let (code, _, err) = output(&mut connecting(&t.0, &sim, &store, &["run"]));
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
    let code = run.exit_code();
    assert_eq!(code, 0, "run after stop; its last lines:\n{}", run.rest());

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
fn stop_signals_an_owner_and_a_terminal_reason_exits_4() {
    let t = Tmp::new("terminal");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    inject(&sim, "replaced");
    let stopped = run.event("stopped");
    assert_eq!(stopped["code"], 440);
    assert_eq!(stopped["exit_code"], 4);
    assert_eq!(run.exit_code(), 4, "replaced by another instance exits 4");

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

    // Roll the relink back: the old identity returns, the new one is set aside, and the old
    // device logs in again.
    let (code, out, _) = output(
        tether(&t.0)
            .args(["quarantine", "list", "--json", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed[0]["jid"], first.as_str(), "{listed}");
    assert_eq!(listed[0]["why"], "tether relink");
    let id = listed[0]["id"].as_u64().unwrap().to_string();
    assert!(
        note.contains(&format!("`tether quarantine restore {id} --swap`")),
        "{note}"
    );
    let (code, _, err) = output(
        tether(&t.0)
            .args(["quarantine", "restore", "99", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("quarantine list"), "{err}");
    let (code, _, err) = output(
        tether(&t.0)
            .args(["quarantine", "restore", &id, "--store"])
            .arg(&store),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--swap"), "{err}");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["quarantine", "restore", &id, "--swap", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&first) && out.contains(&second), "{out}");
    let (_, out, _) = output(
        tether(&t.0)
            .args(["quarantine", "list", "--store"])
            .arg(&store),
    );
    assert!(out.contains(&second) && !out.contains(&first), "{out}");
    let mut back = run_json(&t.0, &sim, &store, "run");
    let jid = back.event("connected")["jid"].as_str().unwrap().to_owned();
    assert_eq!(jid, first, "the old device logs in again");
    assert!(
        !back.seen.iter().any(|l| l.contains(r#""event":"qr""#)),
        "no QR was needed: {:?}",
        back.seen
    );
    output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(back.exit_code(), 0);
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

    // A server clock two minutes ahead is measured at the next login and recorded.
    let stdin = sim.proc.child.stdin.as_mut().unwrap();
    writeln!(stdin, "next skew:120").unwrap();
    writeln!(stdin, "close").unwrap();
    stdin.flush().unwrap();
    let skew = run.event("clock_skew");
    assert!(
        (100_000..=140_000).contains(&skew["offset_ms"].as_i64().unwrap()),
        "{skew}"
    );
    run.event("connected");
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.contains("clock skew      +1"), "{out}");
    let (code, out, _) = output(
        tether(&t.0)
            .args(["doctor", "--timeout", "2", "--server", &sim.ws, "--store"])
            .arg(&store),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✘ clock skew"), "{out}");

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
    let (code, out, err) = output(&mut connecting(&t.0, &sim, &store, &["logout"]));
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

    // The demo never touches a store that holds a linked session.
    let (code, _, err) = output(tether(&t.0).arg("demo").arg("--store").arg(&other));
    assert_eq!(code, 2);
    assert!(err.contains("holds a linked session"), "{err}");
}

#[test]
fn pair_code_linking_with_the_sim_phone() {
    let t = Tmp::new("pair");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json_with(
        &t.0,
        &sim,
        &store,
        "run",
        &["--pair-code", "+1 555 600 5838"],
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
    while !(got.contains("READY=1")
        && got.contains("WATCHDOG=1")
        && got.contains("STATUS=connected as "))
    {
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

#[test]
fn sim_runs_a_scenario_file_and_refuses_a_bad_one() {
    let t = Tmp::new("scenario");
    let file = t.0.join("faults.txt");
    std::fs::write(&file, "# a comment\n100 515\n200 silent\n").unwrap();
    let mut sim = Proc::spawn(&t.0, &["sim", "--scenario", file.to_str().unwrap()]);
    let first = sim.wait_for("first", |l| l.starts_with("ws="));
    assert!(
        first.contains(" root=") && first.contains(" control=http://127.0.0.1:"),
        "{first}"
    );
    sim.wait_for("515", |l| l == "scenario: +100ms fault 515 injected");
    sim.wait_for("silent", |l| l == "scenario: +200ms fault silent injected");

    std::fs::write(&file, "100 515\nlater silent\n").unwrap();
    let (code, _, err) = output(tether(&t.0).args(["sim", "--scenario"]).arg(&file));
    assert_eq!(code, 2);
    assert!(err.contains("line 2"), "{err}");
}

/// `tether sim --port` listens where it is told, and Ctrl-C (SIGINT) ends a `run` as
/// gracefully as `tether stop` does: a `stopped` event and exit 0.
#[test]
fn sim_listens_on_the_port_asked_and_sigint_stops_run_gracefully() {
    let t = Tmp::new("sigint");
    let store = t.0.join("s.redb");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = sim_with(&t.0, &["--port", &port.to_string()]);
    assert!(
        sim.ws.starts_with(&format!("ws://127.0.0.1:{port}/")),
        "{}",
        sim.ws
    );
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let status = StdCommand::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    run.event("stopped");
    assert_eq!(run.exit_code(), 0);
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.contains("linked          yes"), "{out}");
}
