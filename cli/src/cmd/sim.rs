//! `tether sim`: the fake WhatsApp server standalone on loopback, for testing any WhatsApp Web
//! client. Faults come from a scenario file, from stdin, or over HTTP.

use std::io::BufRead as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;
use tether_sim::Fault;
use tether_sim::net::{SimServer, SimServerConfig, parse_fault};

use crate::{Failure, simctl};

pub(crate) const SIM_HELP: &str = "\
The first line of stdout is machine-readable:
  ws=ws://127.0.0.1:PORT/ws/chat root=<64 hex digits> control=http://127.0.0.1:PORT2 version=URL
  (with --tls: ws=wss://… and ca=FILE, the PEM of the CA to trust)

Link a client unattended (a store of its own: a simulated session never mixes with a real one):
  tether run --server WS_URL --trust-root ROOT --sim-phone CONTROL_URL --store ~/.tether/sim.redb

Faults (scenario lines, stdin lines, or POST /fault bodies):
  515 | stream:CODE      stream error (515 restart, 503, 429, 401, 516…)
  replaced             440 conflict: another instance took over
  device_removed       the phone removed this device (logged out)
  failure:CODE[:SECS]  login failure (401, 402 with a ban length, 403, 405, 500…)
  silent               keep the socket open, answer nothing (a zombie socket)
  close                close the socket without a word
  ignore-pings | resume-pings       stop/resume answering keepalive pings
  skew:SECONDS         shift the server clock
On stdin, prefix `next ` to aim a fault at the next connection instead; `status`, `quit`.

Messages (the simulated phones have real Signal keys; phone 0 is the account linked clients
join, phones 1… are its contacts; every message a phone receives is printed as it arrives):
  say TEXT             contact phone 1 writes TEXT to the account (the linked client gets it)
  send N TO TEXT       phone N writes TEXT to TO (a phone number or JID)
  phones               list the phones (numbers, LIDs)
  received [N]         what phone N (default 1) received

Scenario file: one `AFTER_MS FAULT` per line (ms since start; # starts a comment), e.g.
  5000 silent
  15000 515

HTTP control (loopback): GET /status, POST /scan (body: QR string), POST /pair-code,
POST /fault[?next=1], POST /refuse?n=N, POST /hang?n=N; GET /phones, POST /send?phone=N[&to=JID]
(body: the text; `to` defaults to the account of phone 0; a group JID sends to the group),
GET /received?phone=N; a slow media host: POST /media/hold?n=N (the next N downloads wait),
GET /media/held, POST /media/release; groups: GET /groups, POST /groups?phone=N&subject=S (body: members,
phone indexes or JIDs, comma-separated), POST /groups/add|remove|promote|demote?phone=N&group=G
(body: members), POST /groups/leave?phone=N&group=G.

Why --auto-scan-ms is a delay and not a timer: a WhatsApp QR carries the client's ADV secret,
which never reaches the server; the simulated phone can only link a QR it is handed (POST /scan,
or `tether run --sim-phone`). It waits --auto-scan-ms before completing each hand-off, as a
person holding up a phone would.";

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// WebSocket port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// HTTP control port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub(crate) control_port: u16,
    /// Timed faults, one `AFTER_MS FAULT` per line
    #[arg(long, value_name = "FILE")]
    pub(crate) scenario: Option<PathBuf>,
    /// How long the simulated phone takes to scan a QR handed to POST /scan (milliseconds)
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    pub(crate) auto_scan_ms: u64,
    /// Seed of the server's keys and refs
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// How many contact phones (1…N) besides the account's phone 0, to write from and to put
    /// in groups
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) contacts: u16,
    /// Serve wss:// (and https:// for sw.js) with a certificate from a CA made now; its PEM is
    /// written to --ca-out for clients to trust (`tether run --ca-file`)
    #[arg(long)]
    pub(crate) tls: bool,
    /// Where --tls writes the CA certificate [default: tether-sim-PID-ca.pem in the temporary
    /// directory]
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub(crate) ca_out: Option<PathBuf>,
}

/// Parses a scenario file: `AFTER_MS FAULT` per line.
pub(crate) fn parse_scenario(text: &str) -> Result<Vec<(u64, String, Fault)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (ms, fault) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {}: {line:?} is not `AFTER_MS FAULT`", i + 1))?;
        let ms: u64 = ms
            .parse()
            .map_err(|_| format!("line {}: {ms:?} is not a number of milliseconds", i + 1))?;
        let parsed = parse_fault(fault.trim()).map_err(|e| {
            format!(
                "line {}: {e} (see `tether sim --help` for the faults)",
                i + 1
            )
        })?;
        out.push((ms, fault.trim().to_owned(), parsed));
    }
    out.sort_by_key(|(ms, _, _)| *ms);
    Ok(out)
}

enum Quit {
    Signal,
    Stdin,
}

pub(crate) fn run(args: SimArgs) -> Result<(), Failure> {
    let scenario = match &args.scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::input(format!("cannot read the scenario {}: {e}", p.display()))
            })?;
            parse_scenario(&text)
                .map_err(|e| Failure::input(format!("scenario {}: {e}", p.display())))?
        }
        None => Vec::new(),
    };
    let control = TcpListener::bind((Ipv4Addr::LOCALHOST, args.control_port)).map_err(|e| {
        Failure::runtime(format!(
            "cannot bind the control port {}: {e}",
            args.control_port
        ))
    })?;
    let control_addr = control
        .local_addr()
        .map_err(|e| Failure::runtime(format!("control port: {e}")))?;
    let mut config = SimServerConfig {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        control: false,
        contacts: usize::from(args.contacts),
        ..SimServerConfig::default()
    };
    config.server.seed = args.seed;
    let ca_path = if args.tls {
        let ca = tether_sim::net::TestCa::generate()
            .map_err(|e| Failure::runtime(format!("cannot make the test CA: {e}")))?;
        let path = args.ca_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("tether-sim-{}-ca.pem", std::process::id()))
        });
        std::fs::write(&path, ca.ca_pem()).map_err(|e| {
            Failure::input(format!(
                "cannot write the CA certificate to {}: {e}",
                path.display()
            ))
        })?;
        config.tls = Some(ca);
        Some(path)
    } else {
        None
    };
    let server = Arc::new(SimServer::start(config).map_err(|e| {
        Failure::runtime(format!(
            "cannot start the simulator on port {}: {e}; pick another --port",
            args.port
        ))
    })?);
    let root = hex::encode(server.root_public());
    let ca = ca_path
        .as_ref()
        .map(|p| format!(" ca={}", p.display()))
        .unwrap_or_default();
    outln!(
        "ws={} root={root} control=http://{control_addr} version={}{ca}",
        server.ws_url(),
        server.version_url()
    );
    let ca_flag = ca_path
        .as_ref()
        .map(|p| format!(" --ca-file {}", p.display()))
        .unwrap_or_default();
    outln!(
        "tether sim: link a client with (a store of its own, never your real one)\n  tether run --server {} --trust-root {root}{ca_flag} --sim-phone http://{control_addr} --store ~/.tether/sim.redb\n\
         Type a fault and Enter to inject it (e.g. 515, silent, replaced); `tether sim --help` lists them.",
        server.ws_url()
    );
    simctl::serve(
        control,
        Arc::clone(&server),
        Duration::from_millis(args.auto_scan_ms),
    );
    crate::simphones::watch(Arc::clone(&server), |line| outln!("{line}"));
    let (quit_tx, quit_rx) = mpsc::channel();
    spawn_signals(quit_tx.clone())?;
    spawn_stdin(Arc::clone(&server), quit_tx);
    spawn_scenario(Arc::clone(&server), scenario);
    let why = quit_rx.recv().unwrap_or(Quit::Signal);
    outln!(
        "tether sim: shutting down ({})",
        match why {
            Quit::Signal => "signal",
            Quit::Stdin => "quit",
        }
    );
    Ok(())
}

fn spawn_signals(tx: mpsc::Sender<Quit>) -> Result<(), Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::runtime(format!("cannot install the signal handlers: {e}")))?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(Quit::Signal);
        }
    });
    Ok(())
}

fn spawn_stdin(server: Arc<SimServer>, tx: mpsc::Sender<Quit>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim();
            match line {
                "" => {}
                "quit" | "exit" => {
                    let _ = tx.send(Quit::Stdin);
                    return;
                }
                "status" => {
                    let st = server.stats();
                    outln!(
                        "status: {} accepted, {} open, {} logins, {} registrations, {} devices, {} pongs",
                        st.accepted,
                        st.open,
                        st.logins,
                        st.registrations,
                        st.devices,
                        st.pongs
                    );
                }
                "phones" => {
                    for p in server.phones() {
                        outln!(
                            "phone {}: +{} (LID {}), {}{}",
                            p.index,
                            p.phone_number,
                            p.lid_user,
                            p.push_name,
                            if p.index == 0 {
                                " — the account linked clients join"
                            } else {
                                ""
                            }
                        );
                    }
                }
                _ if line.starts_with("say ")
                    || line.starts_with("send ")
                    || line.starts_with("received") =>
                {
                    phone_command(&server, line);
                }
                _ => {
                    let (next, text) = line
                        .strip_prefix("next ")
                        .map_or((false, line), |t| (true, t));
                    match parse_fault(text) {
                        Ok(f) if next => {
                            server.fault_next(f);
                            outln!("stdin: fault {text} armed for the next connection");
                        }
                        Ok(f) => {
                            server.inject(f);
                            outln!("stdin: fault {text} injected");
                        }
                        Err(e) => outln!("stdin: {e}; `tether sim --help` lists the faults"),
                    }
                }
            }
        }
        // stdin closed (e.g. run from a script): keep serving until a signal.
    });
}

/// `say TEXT`, `send N TO TEXT`, `received [N]` on stdin.
fn phone_command(server: &SimServer, line: &str) {
    let sent = |r: Result<(String, tether_core::binary::Jid), String>, phone: usize| match r {
        Ok((id, to)) => outln!("phone {phone}: sent {id} to {to}"),
        Err(e) => outln!("stdin: {e}"),
    };
    if let Some(text) = line.strip_prefix("say ") {
        sent(crate::simphones::send(server, 1, None, text.trim()), 1);
    } else if let Some(rest) = line.strip_prefix("send ") {
        let mut parts = rest.trim().splitn(3, char::is_whitespace);
        match (
            parts.next().and_then(|n| n.parse::<usize>().ok()),
            parts.next(),
            parts.next(),
        ) {
            (Some(phone), Some(to), Some(text)) => {
                sent(
                    crate::simphones::send(server, phone, Some(to), text.trim()),
                    phone,
                );
            }
            _ => outln!("stdin: write `send N TO TEXT`, e.g. `send 1 +15550001234 hello`"),
        }
    } else {
        let phone = line
            .strip_prefix("received")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or(Ok(1), str::parse::<usize>);
        match phone
            .map_err(|e| e.to_string())
            .and_then(|p| crate::simphones::received_json(server, p).map(|v| (p, v)))
        {
            Ok((p, Value::Array(list))) => {
                outln!("phone {p} received {} message(s):", list.len());
                for m in list {
                    outln!(
                        "  {} from {}: {}",
                        m["id"].as_str().unwrap_or("?"),
                        m["sender"].as_str().unwrap_or("?"),
                        m["text"].as_str().unwrap_or("[no text]")
                    );
                }
            }
            Ok(_) => {}
            Err(e) => outln!("stdin: {e}"),
        }
    }
}

fn spawn_scenario(server: Arc<SimServer>, scenario: Vec<(u64, String, Fault)>) {
    if scenario.is_empty() {
        return;
    }
    let start = Instant::now();
    std::thread::spawn(move || {
        for (ms, text, fault) in scenario {
            let at = start + Duration::from_millis(ms);
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            server.inject(fault);
            outln!("scenario: +{ms}ms fault {text} injected");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_lines_are_sorted_and_checked() {
        let s = parse_scenario("# demo\n2000 515\n1000 silent\n\n").unwrap();
        assert_eq!(
            s.iter()
                .map(|(ms, t, _)| (*ms, t.as_str()))
                .collect::<Vec<_>>(),
            [(1000, "silent"), (2000, "515")]
        );
        assert!(parse_scenario("soon 515").unwrap_err().contains("line 1"));
        assert!(parse_scenario("10 explode").is_err());
    }
}
