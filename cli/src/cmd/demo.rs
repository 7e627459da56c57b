//! `tether demo`: the embedded simulator on loopback, a fresh session linked by the simulated
//! phone, a conversation (a contact's phone says hello, Tether answers, the phone shows the
//! answer), then the field report's failure cases live — a zombie socket (keepalive silence →
//! `[408]` and reconnect with backoff), a `515` restart, and a `440` from a second instance
//! (stop with advice) — and last a backlog that reaches a child `tether run` across a real
//! `kill -9` ([`super::demo_backlog`]). Short timers keep it to about 20–30 s.
//!
//! ```text
//!  Linking ─QR─► (phone scans after 1.5 s) ─► Paired ─515─► Connected
//!    └► pre-keys up ─► phone: hello ─► Message ─► reply (acked) ─► the phone shows it
//!    └► Silent ─► [408] ─► backoff ─► Connected ─► 515 ─► Connected ─► 440 ─► Stopped
//!    └► backlog while down ─► tether run #1 ─kill -9─► tether run #2 ─► all arrived ─► exit 0
//!       (--forever: Silent and 515 repeat, no 440 and no backlog, until Ctrl-C)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use tether_core::binary::{Jid, Server};
use tether_core::connection::{Config, Event};
use tether_core::messaging::types::IncomingMessage;
use tether_sim::net::{SimServer, SimServerConfig};

use crate::output::Printer;
use crate::rt::{self, Options, ProxySetting};
use crate::session::{ConfirmMode, Session, Step};
use crate::snapshot::{format_span, unix_now, unix_now_ms};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep going: repeat the recoverable faults until Ctrl-C instead of ending with the 440
    #[arg(long)]
    pub(crate) forever: bool,
    /// One JSON object per event on stdout (the same events as `tether run --json`)
    #[arg(long)]
    pub(crate) json: bool,
    /// A store for the demo session; it must not hold a linked session (the demo links a
    /// simulated account) [default: a temporary store, removed afterwards]
    #[arg(long, value_name = "PATH")]
    pub(crate) store: Option<PathBuf>,
    /// Settings file (its reconnect and keepAlive keys are overridden by the demo's short timers)
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Short timers so a drop is detected in ~3 s and the backoff is visible but brief.
fn demo_config(url: String, root: [u8; 32], settings: &config::Settings) -> Config {
    let mut c = Config::for_server(url, root);
    settings.apply(&mut c);
    c.keep_alive.interval = Duration::from_millis(1000);
    c.keep_alive.timeout = Duration::from_millis(2000);
    c.keep_alive.ping_deadline = Duration::from_millis(1000);
    c.reconnect.base_delay = Duration::from_millis(1500);
    c.reconnect.max_delay = Duration::from_secs(8);
    c.reconnect.stable_after = Duration::from_secs(20);
    c.connect_timeout = Duration::from_secs(5);
    c.handshake_timeout = Duration::from_secs(5);
    c.pre_key_initial_batch = 30;
    c
}

/// The scripted faults, in order.
const STEPS: [(&str, &str); 3] = [
    (
        "the server goes silent: the socket stays open but nothing comes back (a zombie socket)",
        "silent",
    ),
    ("the server asks for a restart (stream error 515)", "515"),
    (
        "a second instance logs in with the same account (stream error 440, connection replaced)",
        "replaced",
    ),
];

pub(crate) fn run(args: DemoArgs) -> Result<(), Failure> {
    // The demo runs on its own simulator and timers: a config file it cannot use is worth a
    // warning, never a reason not to run.
    let settings = config::load(&StoreArgs {
        store: None,
        config: args.config.clone(),
    })
    .unwrap_or_else(|f| {
        crate::logging::warn_line(&format!(
            "{}; the demo goes on without the config file",
            f.message
        ));
        config::Settings::default()
    });
    let (path, _tmp) = match &args.store {
        Some(p) => (p.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "tether-demo-{}-{}",
                std::process::id(),
                unix_now_ms()
            ));
            (dir.join("whatsapp.redb"), Some(TempDir(dir)))
        }
    };
    let server = SimServer::start(SimServerConfig::default())
        .map_err(|e| Failure::runtime(format!("cannot start the simulator on loopback: {e}")))?;
    let config = demo_config(server.ws_url(), server.root_public(), &settings);
    let opened = store::open(&path)?;
    let linked = opened
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read {}: {e}", path.display())))?
        .is_some_and(|(c, _)| c.device.is_some());
    if linked {
        return Err(Failure::input(format!(
            "{} holds a linked session; the demo links a simulated account and would invalidate              it. Leave out --store (the demo uses a temporary store) or give a new path",
            path.display()
        )));
    }
    let shared = SharedStore::new(opened);
    let printer = Printer {
        json: args.json,
        qr: true,
    };
    printer.custom(
        "demo",
        serde_json::json!({"server": server.ws_url(), "store": path.display().to_string()}),
        &format!(
            "tether demo: a simulated WhatsApp server runs at {} (store {}).\n\
             A fresh session links, then meets the failures WhatsApp Web bots meet in production, live.\n",
            server.ws_url(),
            path.display()
        ),
    );
    let mut options = Options::default();
    options.proxy = ProxySetting::Off;
    rt::block_on(script(
        &server,
        config,
        shared,
        options,
        printer,
        args.forever,
    ))
    .map_err(|e| Failure::runtime(format!("cannot start the {} runtime: {e}", rt::NAME)))??;
    if !args.forever {
        super::demo_backlog::run(&server, &path, printer)?;
        printer.custom(
            "demo_finished",
            serde_json::json!({}),
            "\nDemo finished: the conversation went both ways; every drop had a typed reason, the transient\n\
             ones recovered by themselves and the 440 stopped instead of fighting the other instance;\n\
             the backlog arrived once across a kill -9. Next: `tether run` links your phone.",
        );
    }
    server.shutdown();
    Ok(())
}

/// What the phone says first, and what Tether answers.
const HELLO: &str = "Hello from the simulated phone 👋";
const ANSWER: &str = "Hello back from Tether! 🤝";

/// The conversation before the faults.
#[derive(Debug)]
enum Talk {
    /// Not connected yet.
    NotYet,
    /// Connected as this companion; its pre-keys are not on the server yet (the phone needs
    /// one to encrypt to it).
    PreKeys(Jid),
    /// The phone wrote the message with this id.
    Hello(String),
    /// Tether answered with this id (the server acknowledged it); the phone has not shown it
    /// yet.
    Answered(String),
    /// The phone showed the answer.
    Done,
}

/// The contact's phone writes to the account once the companion can be written to.
fn phone_says_hello(
    server: &SimServer,
    printer: &Printer,
    companion: &Jid,
) -> Result<Option<String>, Failure> {
    let ready = server
        .with_server(|s| s.pre_key_count(companion))
        .unwrap_or(0)
        > 0;
    if !ready {
        return Ok(None);
    }
    let phones = server.phones();
    let (Some(account), Some(contact)) = (phones.first(), phones.get(1)) else {
        return Err(Failure::runtime(
            "the simulator has no contact phone to write from",
        ));
    };
    let to = Jid::user(&account.phone_number, Server::WhatsApp);
    let id = server
        .send_text(1, &to, HELLO)
        .map_err(|e| Failure::runtime(format!("the contact's phone could not write: {e}")))?;
    printer.custom(
        "conversation",
        serde_json::json!({"step": "phone_wrote", "from": contact.phone_number, "id": id, "text": HELLO}),
        &format!("\n▶ A conversation: {} (+{}) writes “{HELLO}”", contact.push_name, contact.phone_number),
    );
    Ok(Some(id))
}

/// Tether answers the phone's hello, quoting it; returns the answer's id once the server
/// acknowledged it.
async fn answer(
    session: &Session,
    printer: &Printer,
    hello: &IncomingMessage,
) -> Result<String, Failure> {
    let pending = session
        .client
        .reply(hello, ANSWER)
        .map_err(|e| Failure::runtime(format!("cannot answer the phone: {e}")))?;
    let sent = pending
        .await
        .map_err(|e| Failure::runtime(format!("the answer to the phone failed: {e}")))?;
    session
        .client
        .confirm(&[hello.inbox])
        .map_err(|e| Failure::runtime(format!("cannot confirm the phone's message: {e}")))?;
    printer.custom(
        "conversation",
        serde_json::json!({"step": "answered", "id": sent.id.0, "text": ANSWER}),
        &format!(
            "  Tether answered “{ANSWER}” (quoting it); the server acknowledged {}",
            sent.id.0
        ),
    );
    Ok(sent.id.0)
}

/// Whether the phone's inbox shows the answer `id` (printed when it does).
fn phone_shows(server: &SimServer, printer: &Printer, id: &str) -> bool {
    let Some(got) = server
        .received(1)
        .ok()
        .and_then(|r| r.into_iter().find(|m| m.id == id))
    else {
        return false;
    };
    let text = got.text.unwrap_or_default();
    printer.custom(
        "conversation",
        serde_json::json!({"step": "phone_inbox", "id": id, "text": text}),
        &format!("  📱 The phone's inbox shows Tether's answer: “{text}”"),
    );
    true
}

struct Script {
    step: usize,
    connected_at: Option<Instant>,
    scan_at: Option<(Instant, String)>,
    talk: Talk,
    deadline: Instant,
}

async fn script(
    server: &SimServer,
    config: Config,
    shared: SharedStore,
    options: Options,
    printer: Printer,
    forever: bool,
) -> Result<(), Failure> {
    let mut session =
        Session::start(config, shared, options, printer, Duration::from_millis(250)).await?;
    // Messages print as `run` prints them; the demo confirms the one it answers.
    session.print_messages(ConfirmMode::Manual);
    session
        .client
        .connect()
        .map_err(|e| Failure::runtime(format!("cannot connect: {e}")))?;
    let mut s = Script {
        step: 0,
        connected_at: None,
        scan_at: None,
        talk: Talk::NotYet,
        deadline: Instant::now() + Duration::from_secs(90),
    };
    let mut last_line = Instant::now();
    loop {
        match session.next().await {
            Step::Event(Event::QrCode { code, .. }) if s.scan_at.is_none() => {
                printer.info("📱 The simulated phone will scan this QR code in a moment…");
                s.scan_at = Some((Instant::now() + Duration::from_millis(1500), code));
            }
            Step::Event(Event::Connected { jid }) => {
                s.connected_at = Some(Instant::now());
                if matches!(s.talk, Talk::NotYet) {
                    s.talk = Talk::PreKeys(jid);
                }
                status_line(&session, &printer);
            }
            Step::Event(Event::Message(m)) if matches!(&s.talk, Talk::Hello(id) if *id == m.id.0) =>
            {
                s.talk = Talk::Answered(answer(&session, &printer, &m).await?);
            }
            Step::Event(Event::Disconnected { .. }) => s.connected_at = None,
            Step::Event(Event::Stopped { reason }) => {
                session.shutdown().await?;
                return if s.step == STEPS.len()
                    && matches!(
                        reason,
                        tether_core::reason::DisconnectReason::Replaced { .. }
                    ) {
                    Ok(())
                } else {
                    Err(Failure::runtime(format!(
                        "the demo stopped unexpectedly: {reason}"
                    )))
                };
            }
            Step::Stop(who) => {
                printer.info(&format!("Shutting down ({who})…"));
                return session.shutdown().await;
            }
            Step::Ended => {
                return Err(Failure::runtime("the connection driver ended unexpectedly"));
            }
            Step::Event(_) | Step::Tick => {}
        }
        if let Some((_, code)) = s.scan_at.take_if(|(at, _)| Instant::now() >= *at) {
            match server.scan_qr(&code) {
                Ok(jid) => printer.info(&format!(
                    "📱 Scanned: the phone links this session as {jid}"
                )),
                Err(e) => {
                    return Err(Failure::runtime(format!(
                        "the simulated phone could not scan the QR: {e}"
                    )));
                }
            }
        }
        match &s.talk {
            Talk::PreKeys(companion) => {
                if let Some(id) = phone_says_hello(server, &printer, companion)? {
                    s.talk = Talk::Hello(id);
                }
            }
            Talk::Answered(id) if phone_shows(server, &printer, id) => {
                s.talk = Talk::Done;
                // The faults begin a moment after the conversation.
                s.connected_at = Some(Instant::now() - Duration::from_secs(2));
            }
            _ => {}
        }
        let live = session.live();
        if live.next_retry_at_ms.is_some() && last_line.elapsed() >= Duration::from_secs(1) {
            status_line(&session, &printer);
            last_line = Instant::now();
        }
        if let Some(up) = s.connected_at
            && matches!(s.talk, Talk::Done)
            && up.elapsed() >= Duration::from_secs(3)
        {
            let index = if forever { s.step % 2 } else { s.step };
            if let Some((what, fault)) = STEPS.get(index) {
                s.step += 1;
                s.connected_at = None;
                printer.custom(
                    "scenario",
                    serde_json::json!({"step": s.step, "fault": fault, "what": what}),
                    &if forever {
                        format!("\n▶ Scenario {}: {what}", s.step)
                    } else {
                        format!("\n▶ Scenario {}/{}: {what}", s.step, STEPS.len())
                    },
                );
                match tether_sim::net::parse_fault(fault) {
                    Ok(f) => server.inject(f),
                    Err(e) => {
                        return Err(Failure::runtime(format!("bad scripted fault {fault}: {e}")));
                    }
                }
            }
        }
        if !forever && Instant::now() > s.deadline {
            let _ = session.shutdown().await;
            return Err(Failure::runtime(format!(
                "the demo did not finish within 90 s (stuck after scenario step {}); run it again with TETHER_LOG=tether=debug",
                s.step
            )));
        }
    }
}

/// `status: connected · up 2s · reconnects 1 · next retry in 3s`.
fn status_line(session: &Session, printer: &Printer) {
    let live = session.live();
    let up = live.connected_since_ms.map_or_else(
        || "—".to_owned(),
        |t| format_span(unix_now().saturating_sub(t / 1000)),
    );
    let next = live.next_retry_at_ms.map_or_else(
        || "—".to_owned(),
        |at| {
            format!(
                "in {:.1}s",
                at.saturating_sub(unix_now_ms()) as f64 / 1000.0
            )
        },
    );
    printer.custom(
        "status",
        serde_json::json!({
            "state": live.state, "connected_since_ms": live.connected_since_ms,
            "reconnects": live.reconnects, "next_retry_at_ms": live.next_retry_at_ms,
        }),
        &format!(
            "  ⏱ status: {} · up {up} · reconnects {} · next retry {next}",
            live.state, live.reconnects
        ),
    );
}
