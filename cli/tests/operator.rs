//! Tether run as an operator runs it (issue "operator-grade tether"): JSON5 and OpenClaw
//! configs, `tether config`, exit codes through real `tether sim` faults, `run --no-link`,
//! `status --check`, a store refused against another server, the metrics endpoint scraped, the
//! cause of a failed connection, reading commands while an instance runs, production logs,
//! closed pipes, `--json` results, `wss://` with `--ca-file` and through proxies, and the
//! systemd units verified. Deadlines in the helpers only guard against hangs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../tests/tests/loopback/proxies.rs"]
#[allow(dead_code, unreachable_pub)]
mod proxies;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;

use common::{
    Proc, Tmp, closed_port, connecting, http_get, inject, output, run_json, run_json_with, sim,
    sim_with, tether,
};
use serde_json::Value;

fn stop(home: &std::path::Path, store: &std::path::Path) {
    let (code, _, err) = output(tether(home).args(["stop", "--store"]).arg(store));
    assert_eq!(code, 0, "{err}");
}

/// OpenClaw's real openclaw.json: JSON5 found through OPENCLAW_CONFIG_PATH, OpenClaw's own
/// keys left alone silently, a typo answered with the closest key, and `tether config`
/// showing every value with its source and default.
#[test]
fn an_openclaw_json5_config_and_tether_config() {
    let t = Tmp::new("op-config");
    let cfg = t.0.join("openclaw.json");
    std::fs::write(
        &cfg,
        r#"// OpenClaw
        {
          agents: { defaults: { workspace: "~/.openclaw/workspace" } },
          channels: { whatsapp: {
            dmPolicy: "allowlist", allowFrom: ["+15555550123"], mediaMaxMb: 50,
            reconnect: { maxRetries: 20, baseDelay: 3000, },
            keepalive: { intervalMs: 25000 },
          }, },
        }"#,
    )
    .unwrap();
    let (code, out, err) = output(
        tether(&t.0)
            .env("OPENCLAW_CONFIG_PATH", &cfg)
            .args(["config", "--json"]),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["found_by"], "OPENCLAW_CONFIG_PATH");
    let key = |k: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(key("reconnect.maxRetries")["value"], "20");
    assert!(
        key("reconnect.maxRetries")["source"]
            .as_str()
            .unwrap()
            .starts_with("config ")
    );
    assert_eq!(key("reconnect.maxDelay")["source"], "default");
    assert_eq!(key("reconnect.maxDelay")["default"], "60000");
    assert_eq!(v["openclaw_keys_left_alone"].as_array().unwrap().len(), 3);
    // The typo warns once, with the key it probably meant; OpenClaw's keys never warn.
    assert!(err.contains("did you mean keepAlive?"), "{err}");
    assert!(!err.contains("dmPolicy"), "{err}");
    let (code, out, _) = output(tether(&t.0).env("OPENCLAW_CONFIG_PATH", &cfg).args([
        "config",
        "--server",
        "ws://127.0.0.1:9/ws/chat",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("--server"), "{out}");
    // A missing OPENCLAW_CONFIG_PATH file is an input error.
    let (code, _, err) = output(
        tether(&t.0)
            .env("OPENCLAW_CONFIG_PATH", t.0.join("nope.json"))
            .arg("status"),
    );
    assert_eq!(code, 2, "{err}");
}

/// Values outside their floor and ceiling and invalid URLs are refused when the config loads,
/// exit 2, naming the key; a config the demo cannot use does not stop the demo.
#[test]
fn bad_configs_exit_2_naming_the_key_and_never_break_the_demo() {
    let t = Tmp::new("op-badcfg");
    let cfg = t.0.join("c.json5");
    for (text, key) in [
        (
            "{channels:{whatsapp:{reconnect:{maxDelay:0}}}}",
            "reconnect.maxDelay",
        ),
        (
            "{channels:{whatsapp:{reconnect:{maxDelay:18446744073709551615}}}}",
            "reconnect.maxDelay",
        ),
        (
            "{channels:{whatsapp:{server:'http://x/ws/chat'}}}",
            "server",
        ),
        ("{channels:{whatsapp:{proxy:'gopher://p:1'}}}", "proxy"),
        (
            "{channels:{whatsapp:{caFile:'/nonexistent.pem'}}}",
            "caFile",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let (code, _, err) = output(
            tether(&t.0)
                .args(["run", "--no-link", "--config"])
                .arg(&cfg)
                .arg("--store")
                .arg(t.0.join("s.redb")),
        );
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(&format!("channels.whatsapp.{key}")), "{err}");
    }
    std::fs::write(&cfg, "{ this is not json5").unwrap();
    let mut demo = Proc::spawn(&t.0, &["demo", "--json", "--config", cfg.to_str().unwrap()]);
    demo.event("demo");
}

/// A refused connection says so, with the address, in the JSON event, the human line and
/// `status` afterwards: not "[428] (Connection closed)".
#[test]
fn a_refused_connection_carries_its_cause_everywhere() {
    let t = Tmp::new("op-refused");
    let store = t.0.join("s.redb");
    let port = closed_port();
    let server = format!("ws://127.0.0.1:{port}/ws/chat");
    let root = "11".repeat(32);
    let mut run = Proc::spawn(
        &t.0,
        &[
            "run",
            "--json",
            "--server",
            &server,
            "--trust-root",
            &root,
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let d = run.event("disconnected");
    assert_eq!(d["cause"], "refused", "{d}");
    assert_eq!(d["reason"], "Connection refused", "{d}");
    assert!(
        d["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{d}"
    );
    assert!(d["ts"].as_u64().unwrap() > 1_700_000_000_000, "{d}");
    let (code, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert_eq!(code, 0);
    assert!(out.contains("Connection refused"), "{out}");
    assert!(out.contains("refused the connection"), "{out}");
    let (code, out, _) = output(
        tether(&t.0)
            .args(["status", "--check", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 10, "{out}");
    assert!(out.starts_with("NOT CONNECTED"), "{out}");
    stop(&t.0, &store);
    assert_eq!(run.exit_code(), 0);
    let (code, out, _) = output(
        tether(&t.0)
            .args(["status", "--check", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 12, "{out}");
}

/// Exit codes through real `tether sim` faults: 3 device removed, 5 banned (and a later `run`
/// refused until the recorded end), `--no-link` exits 3 without a QR, `status --check` is 0
/// only while connected.
#[test]
fn exit_codes_a_supervisor_can_act_on() {
    let t = Tmp::new("op-exit");
    let store = t.0.join("s.redb");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["run", "--no-link", "--json", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 3, "{err}");
    assert!(!out.contains("\"qr\""), "{out}");
    assert!(err.contains("--no-link"), "{err}");

    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let (code, out, _) = output(
        tether(&t.0)
            .args(["status", "--check", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK connected as "), "{out}");
    inject(&sim, "failure:402:3600");
    let stopped = run.event("stopped");
    assert_eq!(stopped["code"], 402);
    let ban = run
        .seen
        .iter()
        .position(|l| l.contains("\"code\":402"))
        .unwrap();
    assert!(
        !run.seen[ban..]
            .iter()
            .any(|l| l.contains("\"reconnecting\"")),
        "a ban is not a reconnect: {:?}",
        run.seen
    );
    assert_eq!(run.exit_code(), 5);
    let (code, _, err) = output(&mut connecting(&t.0, &sim, &store, &["run"]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("banned until"), "{err}");
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.contains("banned until"), "{out}");

    // Device removed: exit 3, and the session is quarantined (nothing to log in with).
    let other = t.0.join("other.redb");
    let mut run = run_json(&t.0, &sim, &other, "run");
    run.event("connected");
    inject(&sim, "device_removed");
    assert_eq!(run.event("stopped")["exit_code"], 3);
    assert_eq!(run.exit_code(), 3);
}

/// One store, one server: a store linked with one `tether sim` is refused against another
/// (exit 2, naming both); the sim's hint carries a `--store`.
#[test]
fn a_store_linked_with_one_server_refuses_another() {
    let t = Tmp::new("op-bind");
    let store = t.0.join("s.redb");
    let mut first = sim(&t.0);
    let hint = first.proc.wait_for("hint", |l| {
        l.trim_start().starts_with("tether run --server")
    });
    assert!(hint.contains("--store"), "{hint}");
    let mut run = run_json(&t.0, &first, &store, "run");
    run.event("connected");
    stop(&t.0, &store);
    assert_eq!(run.exit_code(), 0);
    let second = sim_with(&t.0, &["--seed", "2"]);
    let (code, _, err) = output(&mut connecting(&t.0, &second, &store, &["run"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&first.ws) && err.contains(&second.ws), "{err}");
    assert!(err.contains("--force"), "{err}");
    let (_, out, _) = output(
        tether(&t.0)
            .args(["status", "--json", "--store"])
            .arg(&store),
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["server"]["endpoint"], first.ws.as_str());
}

/// While an instance runs: the metrics endpoint is scraped, `quarantine list` and `export
/// baileys` read a copy the owner makes, a second `run` is refused naming `tether stop` and the
/// holder once, `doctor` tests the server the instance uses, and `--json` results parse.
#[test]
fn a_running_instance_serves_metrics_and_reading_commands() {
    let t = Tmp::new("op-running");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json_with(&t.0, &sim, &store, "run", &["--metrics", "127.0.0.1:0"]);
    let url = run.event("metrics")["url"].as_str().unwrap().to_owned();
    run.event("connected");
    inject(&sim, "close");
    run.event("reconnecting");
    run.event("connected");
    let text = http_get(&url);
    for needle in [
        "tether_connected 1",
        "tether_connection_state{state=\"connected\"} 1",
        "tether_reconnects_total",
        "tether_disconnects_total{code=\"428\",local=\"true\"",
        "tether_store_persist_seconds_count",
        "tether_messages_received_total 0",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    let (code, out, err) = output(
        tether(&t.0)
            .args(["quarantine", "list", "--json", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "[]");
    let dir = t.0.join("auth");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["export", "baileys", "--json"])
            .arg(&dir)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert!(dir.join("creds.json").is_file());

    let (code, _, err) = output(&mut connecting(&t.0, &sim, &store, &["run"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tether stop --store"), "{err}");
    let pid = format!("pid {}", run.child.id());
    assert_eq!(err.matches(&pid).count(), 1, "the holder named once: {err}");

    // doctor without --server tests the endpoint the running instance uses.
    let (code, out, _) = output(
        tether(&t.0)
            .args(["doctor", "--timeout", "5", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("testing {} (the running instance's)", sim.ws)),
        "{out}"
    );

    let backup = t.0.join("b.redb");
    let (code, out, _) = output(
        tether(&t.0)
            .args(["backup", "--json"])
            .arg(&backup)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["online"].clone()),
        (Value::from(true), Value::from(true))
    );
    let (code, out, _) = output(tether(&t.0).args(["stop", "--json", "--store"]).arg(&store));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stopped"], true);
    assert_eq!(run.exit_code(), 0);
}

/// `wss://` end to end from the binary: `tether sim --tls` makes a CA, `run --ca-file` trusts
/// it, directly and through an HTTP CONNECT and a SOCKS5 proxy; without the CA the failure is
/// a TLS one, said as such.
#[test]
fn wss_with_a_ca_file_directly_and_through_proxies() {
    let t = Tmp::new("op-tls");
    let sim = sim_with(&t.0, &["--tls"]);
    assert!(sim.ws.starts_with("wss://"), "{}", sim.ws);
    let ca = sim.ca.clone().unwrap();
    let http = proxies::Proxy::start(proxies::Kind::HttpConnect);
    let socks = proxies::Proxy::start(proxies::Kind::Socks5);
    for (name, proxy, via_env) in [
        ("direct", "off".to_owned(), false),
        ("env", "off".to_owned(), true),
        ("connect", format!("http://{}", http.addr), false),
        (
            "socks",
            format!("socks5://user:secret@{}", socks.addr),
            false,
        ),
    ] {
        let store = t.0.join(format!("{name}.redb"));
        let mut args = vec![
            "run",
            "--json",
            "--server",
            &sim.ws,
            "--trust-root",
            &sim.root,
            "--proxy",
            &proxy,
            "--sim-phone",
            &sim.control,
            "--store",
            store.to_str().unwrap(),
        ];
        let env: Vec<(&str, &str)> = if via_env {
            vec![("SSL_CERT_FILE", ca.as_str())]
        } else {
            args.extend(["--ca-file", ca.as_str()]);
            Vec::new()
        };
        let mut run = Proc::spawn_env(&t.0, &args, Stdio::null(), &env);
        run.event("connected");
        stop(&t.0, &store);
        assert_eq!(run.exit_code(), 0, "{name}");
    }
    assert!(!http.targets().is_empty() && !socks.targets().is_empty());
    let store = t.0.join("untrusted.redb");
    let mut run = Proc::spawn(
        &t.0,
        &[
            "run",
            "--json",
            "--server",
            &sim.ws,
            "--trust-root",
            &sim.root,
            "--proxy",
            "off",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let d = run.event("disconnected");
    assert_eq!(d["cause"], "tls", "{d}");
    stop(&t.0, &store);
}

/// A damaged store is reported first, with the way back (restore a backup), never "link
/// again"; `status --check` says so with its own exit code.
#[test]
fn a_damaged_store_comes_first() {
    let t = Tmp::new("op-damaged");
    let store = t.0.join("s.redb");
    std::fs::write(&store, vec![0x5a_u8; 64 * 1024]).unwrap();
    let (code, out, _) = output(
        tether(&t.0)
            .args(["status", "--check", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 13, "{out}");
    assert!(out.starts_with("DAMAGED"), "{out}");
    assert!(out.contains("tether restore"), "{out}");
    let (_, out, _) = output(tether(&t.0).args(["status", "--store"]).arg(&store));
    assert!(out.starts_with("✘ damaged"), "{out}");
    assert!(!out.contains("scan the QR"), "{out}");
}

/// Logs for production: RFC 3339 timestamps, JSON lines with --log-format json, no ANSI
/// colours unless asked, an invalid TETHER_LOG reported; a closed pipe never panics.
#[test]
fn logs_for_production_and_closed_pipes() {
    let t = Tmp::new("op-logs");
    let store = t.0.join("s.redb");
    let (_, _, err) = output(
        tether(&t.0)
            .env("TETHER_LOG", "debug")
            .args(["status", "--store"])
            .arg(&store),
    );
    let line = err.lines().find(|l| !l.is_empty()).unwrap_or_default();
    let stamp = line.get(..24).unwrap_or_default();
    assert!(
        stamp.len() == 24 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "no colours into a pipe: {err}");
    let (_, _, err) = output(
        tether(&t.0)
            .env("TETHER_LOG", "debug")
            .args(["--color", "always", "status", "--store"])
            .arg(&store),
    );
    assert!(err.contains('\u{1b}'), "{err}");
    let (_, _, err) = output(
        tether(&t.0)
            .env("TETHER_LOG", "debug")
            .args(["--log-format", "json", "status", "--store"])
            .arg(&store),
    );
    for l in err.lines().filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    let (code, _, err) = output(
        tether(&t.0)
            .env("TETHER_LOG", "tether=[bogus")
            .args(["status", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0);
    assert!(err.contains("is not a valid log filter"), "{err}");

    // `cmd | head -1`: read one line (or none), close the pipe, the command must not panic.
    for args in [
        vec![
            "doctor",
            "--timeout",
            "1",
            "--server",
            "ws://127.0.0.1:9/ws/chat",
        ],
        vec!["quarantine", "list"],
        vec!["config"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tether"))
            .args(&args)
            .arg("--store")
            .arg(&store)
            .env("HOME", &t.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes its first line.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let mut sim = std::process::Command::new(assert_cmd::cargo::cargo_bin("tether"))
        .arg("sim")
        .env("HOME", &t.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("ws="), "{first}");
    // The first line was read and the reader is gone: the next answer hits a closed pipe.
    let mut stdin = sim.stdin.take().unwrap();
    {
        use std::io::Write as _;
        writeln!(stdin, "status").unwrap();
        stdin.flush().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sim.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = sim.kill();
            panic!("tether sim did not end after its stdout was closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(stdin);
    let mut err = String::new();
    sim.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `docs/tether.service` and `docs/tether@.service` pass `systemd-analyze verify` (with the
/// built binary in ExecStart), when systemd-analyze is installed.
#[test]
fn the_systemd_units_verify() {
    let Ok(probe) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed: skipping the unit check");
        return;
    };
    if !probe.status.success() {
        eprintln!("systemd-analyze does not run here: skipping the unit check");
        return;
    }
    let t = Tmp::new("op-units");
    let bin = assert_cmd::cargo::cargo_bin("tether");
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (file, as_name) in [
        ("tether.service", "tether.service"),
        ("tether@.service", "tether@sales.service"),
    ] {
        let text = std::fs::read_to_string(docs.join(file)).unwrap();
        assert!(
            text.contains("RestartPreventExitStatus=2 3 4 5 6"),
            "{file}"
        );
        assert!(text.contains("--no-link"), "{file}");
        for line in text
            .lines()
            .filter(|l| l.contains("tether ") && !l.starts_with('#'))
        {
            if line.contains("tether run") || line.contains("tether status") {
                assert!(line.contains("--store"), "{file}: {line}");
            }
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with('#') && l.contains("tether status"))
        {
            assert!(line.contains("--store"), "{file}: {line}");
        }
        let local = text.replace("/usr/local/bin/tether", bin.to_str().unwrap());
        std::fs::write(t.0.join(as_name), local).unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(t.0.join(as_name))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{file}: {err}"
        );
    }
}

/// Exit 6 through a real `tether sim` fault: a 405 at login, and again after the version
/// refresh, stops the run as outdated (a supervisor must not restart it in a loop).
#[test]
fn outdated_twice_exits_6() {
    use std::io::{Read as _, Write as _};
    let t = Tmp::new("op-405");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    // The connection after the refresh is refused too.
    let addr = sim.control.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let fault = "failure:405";
    write!(
        s,
        "POST /fault?next=1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{fault}",
        fault.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    inject(&sim, fault);
    let stopped = run.event("stopped");
    assert_eq!(stopped["code"], 405, "{:?}", run.seen);
    assert_eq!(run.exit_code(), 6, "{:?}", run.seen);
}
