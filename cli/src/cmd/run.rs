//! `tether run` (alias `start`) and `tether relink`: link if needed, stay connected, print
//! every lifecycle event; stop gracefully on SIGINT/SIGTERM or `tether stop`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tether_core::connection::{Command, Event};
use tether_core::creds::PersistSeq;
use tether_core::reason::DisconnectReason;

use crate::output::Printer;
use crate::rt::{self, Options, ProxySetting};
use crate::session::{Session, Step};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config, httpc, paths, snapshot};

pub(crate) const RUN_HELP: &str = "\
Examples:
  tether run                                  link (scan the QR) and stay connected
  tether run --pair-code 15551234567          link by typing a code on the phone instead
  tether run --json | jq -c 'select(.event != \"stanza\")'
  tether run --server ws://127.0.0.1:PORT/ws/chat --trust-root HEX --sim-phone http://127.0.0.1:PORT2
                                              against `tether sim`, linked unattended

JSON events (--json), one object per line, each with a stable \"event\" field (first):
  starting {endpoint, store}  qr {code}  pairing_code {code}  paired {jid}  connected {jid}
  disconnected {code, local, reason, advice, terminal}  reconnecting {delay_ms, attempt, max}
  stopped {code, local, reason, advice}  keepalive_timeout {failures}  keepalive_restored
  clock_skew {offset_secs}  info {message}

While it runs, `tether status`, `tether backup` and `tether stop` talk to it over <store>.sock.
A terminal disconnect (440 replaced, 401 logged out, …) exits 1 after printing its advice;
SIGINT/SIGTERM shut down cleanly and exit 0. Under systemd it sends READY=1 once connected and
WATCHDOG=1 when the unit sets WatchdogSec (see docs/tether.service).";

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
        let config = config::core_config(settings, self.server.as_deref(), root);
        let mut options = Options::default();
        options.proxy = proxy_setting(self.proxy.as_deref(), settings);
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
    let path = settings.store(&args.store);
    let opened = store::open(&path)?;
    let shared = SharedStore::new(opened);
    let printer = Printer {
        json: args.json,
        qr: args.pair_code.is_none(),
    };
    if mode == Mode::Relink {
        set_aside(&shared, &printer)?;
    }
    rt::block_on(drive(args, config, shared, options, printer))
        .map_err(|e| Failure::runtime(format!("cannot start the {} runtime: {e}", rt::NAME)))?
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

/// A terminal stop: exit 0 for our own shutdown, 1 (advice already printed) otherwise.
async fn stopped(session: Session, reason: &DisconnectReason) -> Result<(), Failure> {
    let local = matches!(reason, DisconnectReason::LocalShutdown);
    session.shutdown().await?;
    if local {
        Ok(())
    } else {
        Err(Failure::quiet(1))
    }
}
