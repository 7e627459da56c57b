//! `tether run` (alias `start`) and `tether relink`: link if needed, stay connected, print
//! every lifecycle event; stop gracefully on SIGINT/SIGTERM or `tether stop`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tether_core::connection::{Command, Event};
use tether_core::creds::PersistSeq;
use tether_core::reason::DisconnectReason;

use crate::metrics::Metrics;
use crate::output::Printer;
use crate::rt::{self, Options, ProxySetting};
use crate::session::{ConfirmMode, Session, Step};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config, exit, httpc, paths, snapshot};

pub(crate) const RUN_HELP: &str = "\
Examples:
  tether run                                  link (scan the QR) and stay connected
  tether run --pair-code 15551234567          link by typing a code on the phone instead
  tether run --json | jq -c 'select(.event != \"stanza\")'
  tether run --server ws://127.0.0.1:PORT/ws/chat --trust-root HEX --sim-phone http://127.0.0.1:PORT2
                                              against `tether sim`, linked unattended

JSON events (--json), one object per line, each with a stable \"event\" field (first) and ts
(Unix milliseconds; docs/JSON.md has the whole schema):
  starting {endpoint, store}  qr {code}  pairing_code {code}  paired {jid}  connected {jid}
  disconnected {code, local, reason, detail, cause, advice, terminal}
  reconnecting {delay_ms, attempt, max}  stopped {code, local, reason, detail, advice, exit_code}
  keepalive_timeout {failures}  keepalive_restored  clock_skew {offset_ms}  info {message}
  message {position, id, chat, from, from_alt, from_me, timestamp_ms, push_name, offline, type,
           text, quoted, mentions, reaction}  undecryptable {position, id, chat, from, reason, …}
  receipt {kind, ids, chat, from, participant, timestamp_ms}  sent {id, to, timestamp_ms}
  send_failed {id, to, error, code, device, reason}  identity_changed {user}

Received messages: each is printed once (a readable line, or the `message` object) and, with
--confirm auto (the default), confirmed once the line is written and flushed; with --confirm
manual the consumer of the control socket confirms, and unconfirmed messages are delivered
again after a restart. Reply with `tether send TO TEXT --reply-to ID`; mark read with `tether
read CHAT ID`. Applications in any language use <store>.sock directly: one JSON object per line
(subscribe, send, react, read, typing, presence, confirm, status), see docs/CONTROL.md.

While it runs, `tether status`, `tether backup`, `tether stop`, `tether send`, `tether read`,
`tether quarantine list` and `tether export` talk to it over <store>.sock. Exit codes: 0 stopped on request (SIGINT, SIGTERM,
`tether stop`); 1 runtime failure; 2 usage or input error (including a store linked with another
server); 3 needs a new link (logged out, device removed, QR codes exhausted, or no session with
--no-link); 4 replaced by another instance (440); 5 temporarily banned (until the recorded end);
6 client outdated. Under systemd it sends READY=1 once connected, STATUS= on every state change
and WATCHDOG=1 when the unit sets WatchdogSec (see docs/tether.service).";

/// Which server to talk to, and how.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnArgs {
    /// WebSocket endpoint [default: `server` from the config, else wss://web.whatsapp.com/ws/chat]
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Root public key (64 hex digits) the server's certificates chain to; needed with --server
    /// for anything but WhatsApp (`tether sim` prints its own)
    #[arg(long, value_name = "HEX")]
    pub(crate) trust_root: Option<String>,
    /// Connect through this proxy: `http://host:port` or `socks5://[user:pass@]host:port`; `off`
    /// ignores https_proxy/all_proxy [default: config `proxy`, else the environment]
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Also trust the CA certificates in this PEM file for every TLS connection (a test
    /// server's CA, a company proxy's); SSL_CERT_FILE is honoured too [default: config `caFile`]
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

impl ConnArgs {
    /// The core config and adapter options for these flags and the config file.
    pub(crate) fn resolve(
        &self,
        settings: &config::Settings,
    ) -> Result<(tether_core::connection::Config, Options), Failure> {
        let root = self
            .trust_root
            .as_deref()
            .map(config::parse_root)
            .transpose()
            .map_err(|e| Failure::input(format!("--trust-root: {e}")))?;
        if let Some(url) = &self.server {
            config::websocket_url(url, "--server").map_err(Failure::input)?;
        }
        if let Some(url) = &self.proxy {
            config::proxy_url(url, "--proxy").map_err(Failure::input)?;
        }
        let config = config::core_config(settings, self.server.as_deref(), root);
        config::check(&config)?;
        let mut options = Options::default();
        options.proxy = proxy_setting(self.proxy.as_deref(), settings);
        let ca = match &self.ca_file {
            Some(path) => Some(
                config::ca_file(&path.to_string_lossy(), "--ca-file").map_err(Failure::input)?,
            ),
            None => settings.ca_file.clone(),
        };
        if let Some(ca) = ca {
            options.trust = options.trust.with_ca_file(ca);
        }
        tether_net_common::trust::root_store(&options.trust)
            .map_err(|e| Failure::input(e.to_string()))?;
        Ok((config, options))
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// Hand each QR code (or pair code) to the simulated phone of a `tether sim` (its control
    /// URL), so linking needs no human
    #[arg(long, value_name = "CONTROL_URL")]
    pub(crate) sim_phone: Option<String>,
    /// Link by pair code for this phone number (digits with country code) instead of a QR
    #[arg(long, value_name = "PHONE")]
    pub(crate) pair_code: Option<String>,
    /// One JSON object per event on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// Never link (for supervisors): exit 3 instead of showing a QR code when the store holds
    /// no session, so no QR ever lands in a journal
    #[arg(long)]
    pub(crate) no_link: bool,
    /// Connect even though the store was linked with another server (the binding is replaced
    /// once a login succeeds)
    #[arg(long)]
    pub(crate) force: bool,
    /// Who confirms received messages: `auto` confirms each once it is printed (and flushed);
    /// `manual` leaves it to the control socket's consumer (`{"cmd":"confirm"}`), so messages
    /// it has not confirmed are delivered again after a restart
    #[arg(long, value_enum, default_value_t = ConfirmMode::Auto)]
    pub(crate) confirm: ConfirmMode,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464) [default: config
    /// `metrics`, else off]
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// Save the media of every received message into DIR (verified, as `<id>.<ext>`); a
    /// media message is printed once its file is saved, its `media` object naming the `path`
    /// (or the `download_error`), while other messages go on printing meanwhile
    #[arg(long, value_name = "DIR")]
    pub(crate) download_dir: Option<PathBuf>,
}

/// Which command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Run,
    Relink,
}

/// The proxy setting for the adapter.
pub(crate) fn proxy_setting(flag: Option<&str>, settings: &config::Settings) -> ProxySetting {
    match flag.or(settings.proxy.as_deref()) {
        Some("off" | "none") => ProxySetting::Off,
        Some(url) => ProxySetting::Url(url.to_owned()),
        None => ProxySetting::FromEnv,
    }
}

pub(crate) fn run(args: RunArgs, mode: Mode) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let (config, options) = args.conn.resolve(&settings)?;
    if mode == Mode::Relink && args.no_link {
        return Err(Failure::input(
            "--no-link cannot be given to relink: relink always links a fresh session",
        ));
    }
    let path = settings.store(&args.store);
    let opened = store::open(&path)?;
    preflight(&opened, &config, &args, mode)?;
    let mut shared = SharedStore::new(opened);
    let printer = Printer {
        json: args.json,
        qr: args.pair_code.is_none() && !args.no_link,
    };
    if let Some(addr) = args.metrics.as_deref().or(settings.metrics.as_deref()) {
        let metrics = Arc::new(Metrics::new());
        let bound = crate::metrics::serve(addr, Arc::clone(&metrics)).map_err(Failure::input)?;
        printer.custom(
            "metrics",
            serde_json::json!({"url": format!("http://{bound}/metrics")}),
            &format!("Metrics at http://{bound}/metrics"),
        );
        shared = shared.with_metrics(metrics);
    }
    if mode == Mode::Relink {
        set_aside(&shared, &printer)?;
    }
    rt::block_on(drive(args, config, shared, options, printer))
        .map_err(|e| Failure::runtime(format!("cannot start the {} runtime: {e}", rt::NAME)))?
}

/// What `run` refuses before it touches the network: a ban that has not ended (exit 5), no
/// session with `--no-link` (exit 3), a store linked with another server (exit 2, unless
/// `--force`).
fn preflight(
    opened: &tether_store_redb::RedbStore,
    config: &tether_core::connection::Config,
    args: &RunArgs,
    mode: Mode,
) -> Result<(), Failure> {
    let path = opened.path().display().to_string();
    let status = opened.status().unwrap_or_default();
    if let Some(until) = status.banned_until_unix
        && until > snapshot::unix_now()
        && !args.force
    {
        return Err(Failure {
            message: format!(
                "the account of {path} is temporarily banned until {} (WhatsApp said so at the \
                 last login, 402); connecting earlier only prolongs it. Start again after that \
                 time (a supervisor should not restart before it), or pass --force",
                snapshot::format_unix(until)
            ),
            code: exit::BANNED,
        });
    }
    if mode == Mode::Relink {
        return Ok(());
    }
    let linked = opened
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read the session in {path}: {e}")))?
        .is_some_and(|(c, _)| c.device.is_some());
    if args.no_link && !linked {
        return Err(Failure {
            message: format!(
                "{path} holds no linked session and --no-link forbids linking here; link it once \
                 interactively with `tether run --store {path}` (scan the QR code), then start \
                 the service again"
            ),
            code: exit::NEEDS_LINK,
        });
    }
    let bound = opened
        .server_binding()
        .map_err(|e| Failure::runtime(format!("cannot read {path}: {e}")))?;
    if let Some(b) = bound.filter(|_| linked)
        && (b.endpoint != config.endpoint || b.trusted_roots != config.trusted_roots)
        && !args.force
    {
        let roots = |r: &[[u8; 32]]| r.iter().map(hex::encode).collect::<Vec<_>>().join(",");
        let what = if b.endpoint == config.endpoint {
            format!(
                "with the trust root {}, but this command trusts {}",
                roots(&b.trusted_roots),
                roots(&config.trusted_roots)
            )
        } else {
            format!(
                "with {}, but this command connects to {}",
                b.endpoint, config.endpoint
            )
        };
        return Err(Failure::input(format!(
            "the session in {path} was linked {what}; logging in to another server would get \
             the session refused or logged out. Use the store that belongs to this server (or \
             a new --store), fix --server/--trust-root, or pass --force if the server really \
             moved"
        )));
    }
    Ok(())
}

/// `relink`: back the session up, then quarantine it, so the next start links afresh.
fn set_aside(shared: &SharedStore, printer: &Printer) -> Result<(), Failure> {
    let current = shared
        .lock()
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read the current session: {e}")))?;
    let Some((creds, seq)) = current else {
        printer.info("No session in the store yet; linking a new one.");
        return Ok(());
    };
    let jid = creds.device.as_ref().map(|d| d.jid.to_string());
    drop(creds);
    let backup: PathBuf = paths::beside(
        shared.path(),
        &format!(".before-relink-{}", snapshot::unix_now()),
    );
    crate::cmd::backup::write_backup(shared, &backup).map_err(Failure::runtime)?;
    let id = shared
        .lock()
        .quarantine_identity(PersistSeq(seq.0.saturating_add(1)), "tether relink")
        .map_err(|e| Failure::runtime(format!("cannot set the old session aside: {e}")))?;
    printer.info(&format!(
        "Old session{} set aside (quarantined in the store{}, and backed up to {}); to roll \
         back: {}`tether restore {}`. On the phone, remove the old linked device.",
        jid.map(|j| format!(" of {j}")).unwrap_or_default(),
        id.map(|id| format!(" as id {id}")).unwrap_or_default(),
        backup.display(),
        id.map(|id| format!("`tether quarantine restore {id} --swap`, or "))
            .unwrap_or_default(),
        backup.display()
    ));
    Ok(())
}

/// Hands a QR code (`route` `/scan`) or a pair code (`/pair-code`) to a `tether sim` phone, on
/// its own thread (the phone waits a moment before a scan).
pub(crate) fn hand_to_phone(control: &str, route: &'static str, code: &str, printer: Printer) {
    let (control, code) = (control.to_owned(), code.to_owned());
    std::thread::spawn(move || {
        match httpc::request(&control, "POST", route, &code, Duration::from_secs(30)) {
            Ok((200, _)) => {
                tracing::info!(target: "tether::run", "the simulated phone scanned the QR")
            }
            Ok((status, body)) => printer.info(&format!(
                "The simulated phone at {control} refused the QR ({status}): {}",
                body.trim()
            )),
            Err(e) => printer.info(&format!("Could not hand the QR to {control}: {e}")),
        }
    });
}

async fn drive(
    args: RunArgs,
    config: tether_core::connection::Config,
    shared: SharedStore,
    options: Options,
    printer: Printer,
) -> Result<(), Failure> {
    let endpoint = config.endpoint.clone();
    let mut session =
        Session::start(config, shared, options, printer, Duration::from_secs(1)).await?;
    session.print_messages(args.confirm);
    if let Some(dir) = &args.download_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::runtime(format!(
                "cannot use --download-dir {}: {e}; give a directory this user can write",
                dir.display()
            ))
        })?;
        session.save_media_to(dir.clone());
    }
    printer.custom(
        "starting",
        serde_json::json!({"endpoint": endpoint, "store": session.shared.path().display().to_string()}),
        &format!("Connecting to {endpoint} (store {})…", session.shared.path().display()),
    );
    session
        .client
        .connect()
        .map_err(|e| Failure::runtime(format!("cannot connect: {e}")))?;
    let mut pair_requested = false;
    loop {
        match session.next().await {
            Step::Event(Event::QrCode { .. }) if args.no_link => {
                printer.info(
                    "The session needs a new link, and --no-link forbids linking here: no QR \
                     code is shown. Link it interactively with `tether run` (or `tether relink`).",
                );
                let _ = session.shutdown().await;
                return Err(Failure::quiet(exit::NEEDS_LINK));
            }
            Step::Event(Event::QrCode { code, .. }) => {
                if let Some(phone) = &args.pair_code {
                    if !pair_requested {
                        pair_requested = true;
                        let cmd = Command::RequestPairingCode {
                            phone: phone.clone(),
                        };
                        if let Err(e) = session.client.command(cmd) {
                            let _ = session.shutdown().await;
                            return Err(Failure::input(format!("--pair-code: {e}")));
                        }
                    }
                } else if let Some(control) = &args.sim_phone {
                    hand_to_phone(control, "/scan", &code, printer);
                }
            }
            Step::Event(Event::PairingCode { code }) => {
                if let Some(control) = &args.sim_phone {
                    hand_to_phone(control, "/pair-code", &code, printer);
                }
            }
            Step::Event(Event::Stopped { reason }) => return stopped(session, &reason).await,
            Step::Ended => {
                return Err(Failure::runtime(
                    "the connection driver ended unexpectedly; run again with TETHER_LOG=tether=debug and report the log",
                ));
            }
            Step::Stop(who) => {
                printer.info(&format!("Shutting down ({who})…"));
                session.shutdown().await?;
                printer.stopped(&DisconnectReason::LocalShutdown);
                return Ok(());
            }
            Step::Event(_) | Step::Tick => {}
        }
    }
}

/// A terminal stop: exit 0 for our own shutdown, else the reason's code for a supervisor
/// (advice already printed).
async fn stopped(session: Session, reason: &DisconnectReason) -> Result<(), Failure> {
    session.shutdown().await?;
    match exit::for_reason(reason) {
        0 => Ok(()),
        code => Err(Failure::quiet(code)),
    }
}
