//! One running connection as the CLI drives it (shared by `run`, `relink`, `logout` and `demo`):
//! prints every event, keeps the live status (served on the control socket and recorded in the
//! store), talks to systemd, and turns SIGINT/SIGTERM and the control socket's `stop` into a
//! graceful shutdown.
//!
//! ```text
//!  events ─┐
//!  stop  ──┼─► Session::next() ─► Step::{Event, Tick, Stop} ─► the command's loop
//!  tick  ──┤        │ bookkeeping: print, LiveStatus, status record, sd_notify
//!          │        └─ a media message with --download-dir: a download task (at most
//!          │           MAX_DOWNLOADS run at once) instead of printing it now
//!  downloads done ──► print the message with its `path` / `download_error`, then confirm
//! ```
//!
//! A message is confirmed (`--confirm auto`) only once its line is written and flushed, so a
//! media message whose download is still running at shutdown stays unconfirmed and is
//! delivered again by the next run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future;
use serde_json::{Value, json};
use tether_control::hub::PositionFilter;
use tether_control::{Backend, ControlServer};
use tether_core::binary::Jid;
use tether_core::connection::{Command, Config, Event};
use tether_core::driver::{ClientError, MessagingError};
use tether_core::messaging::types::InboxPos;
use tether_core::proto::message::Message;

use crate::metrics::Metrics;
use crate::output::Printer;
use crate::rt::{
    self, Client, Events, GroupQueryError, Options, PendingGroupInfo, PendingGroupList, PendingSend,
};
use crate::snapshot::{LiveStatus, unix_now};
use crate::store::{self, SharedStore, Sidecar};
use crate::{Failure, paths};

/// What the command's loop sees.
#[derive(Debug)]
pub(crate) enum Step {
    /// A connection event (already printed and recorded).
    Event(Event),
    /// The driver ended (after a shutdown, or on its own).
    Ended,
    /// The tick interval passed without anything else happening.
    Tick,
    /// SIGINT/SIGTERM or the control socket asked to stop; the value says who.
    Stop(String),
}

/// Who confirms received messages (`tether run --confirm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum ConfirmMode {
    /// `run` confirms each message once it is written to stdout and flushed.
    #[default]
    Auto,
    /// The consumer of the control socket confirms (`{"cmd":"confirm",…}`); unconfirmed
    /// messages are delivered again after a restart.
    Manual,
}

/// Media downloads of `--download-dir` running at once; more wait for a slot.
const MAX_DOWNLOADS: usize = 4;

/// A media message whose download finished: its event and printed values (with the `path`
/// or the `download_error`).
type Downloaded = (Event, Vec<Value>);

/// `--download-dir`: where received media is saved, by tasks beside the event loop.
#[derive(Debug)]
struct Downloads {
    dir: std::path::PathBuf,
    done_tx: async_channel::Sender<Downloaded>,
    done_rx: async_channel::Receiver<Downloaded>,
    /// A counting semaphore: a download holds one of its [`MAX_DOWNLOADS`] places while it
    /// runs.
    slots: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

/// What woke [`Session::next`].
enum Woke {
    Step(Step),
    Downloaded(Downloaded),
}

/// How received messages are printed and confirmed.
#[derive(Debug)]
struct MessageOutput {
    confirm: ConfirmMode,
    /// Each inbox position is printed once per process (a subscriber's catch-up read is
    /// never printed).
    printed: PositionFilter,
}

/// A started connection plus everything around it.
pub(crate) struct Session {
    pub(crate) client: Client,
    events: Events,
    pub(crate) shared: SharedStore,
    pub(crate) live: Arc<Mutex<LiveStatus>>,
    pub(crate) printer: Printer,
    stop_rx: async_channel::Receiver<String>,
    control: Option<ControlServer>,
    messages: Option<MessageOutput>,
    /// Where received media is saved (verified) before its message is printed.
    downloads: Option<Downloads>,
    /// Print nothing (a command that prints its own one result).
    silent: bool,
    tick: Duration,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
    /// The store's status record at start (its counters continue from here).
    base: tether_store_redb::StoreStatus,
    /// The server this session connects to, recorded as the identity's once it logs in.
    binding: tether_store_redb::ServerBinding,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// Forwards SIGINT and SIGTERM to `tx` from a plain thread (works under any runtime).
fn watch_signals(tx: async_channel::Sender<String>) -> Result<(), Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::runtime(format!("cannot install the signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("tether-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if tx.send_blocking(name.to_owned()).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Failure::runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(())
}

impl Session {
    /// Starts the connection on `shared` and serves the control socket beside the store.
    pub(crate) async fn start(
        config: Config,
        shared: SharedStore,
        options: Options,
        printer: Printer,
        tick: Duration,
    ) -> Result<Self, Failure> {
        let (stop_tx, stop_rx) = async_channel::unbounded();
        watch_signals(stop_tx.clone())?;
        let binding = tether_store_redb::ServerBinding {
            endpoint: config.endpoint.clone(),
            trusted_roots: config.trusted_roots.clone(),
        };
        let live = Arc::new(Mutex::new(LiveStatus::starting(
            config.endpoint.clone(),
            proxy_text(&options.proxy),
        )));
        let (client, events) = rt::start(config, shared.clone(), options)
            .await
            .map_err(|e| Failure::runtime(format!("cannot start the connection: {e}")))?;
        // Without the socket (e.g. a store path too long for a Unix socket name), `status` reads
        // the store and `stop` signals the pid: worth a warning, not a refusal to run.
        let backend = Arc::new(RunBackend {
            here: rt::Here::current(),
            client: client.clone(),
            shared: shared.clone(),
            live: Arc::clone(&live),
            stop: stop_tx,
        });
        let control = serve_control(&shared, backend)
            .map_err(|f| tracing::warn!(target: "tether::control", "{}", f.message))
            .ok();
        let watchdog = sd_notify::watchdog_enabled();
        let base = shared.lock().status().unwrap_or_default();
        let metrics = shared.metrics();
        Ok(Self {
            client,
            events,
            shared,
            live,
            printer,
            stop_rx,
            control,
            messages: None,
            downloads: None,
            silent: false,
            tick: watchdog.map_or(tick, |w| tick.min(w / 2)),
            watchdog,
            last_watchdog: Instant::now(),
            base,
            binding,
            metrics,
        })
    }

    /// Prints received messages (each inbox position once) and, with [`ConfirmMode::Auto`],
    /// confirms each once its line is written and flushed.
    pub(crate) fn print_messages(&mut self, confirm: ConfirmMode) {
        self.messages = Some(MessageOutput {
            confirm,
            printed: PositionFilter::from_now(),
        });
    }

    /// Saves the media of every received message into `dir` (verified, as `<id>.<ext>`) by a
    /// task beside the event loop; the message is printed when its download ended, its
    /// `media` object naming the `path` (or the `download_error`), and other events go on
    /// printing meanwhile.
    pub(crate) fn save_media_to(&mut self, dir: std::path::PathBuf) {
        let (done_tx, done_rx) = async_channel::unbounded();
        self.downloads = Some(Downloads {
            dir,
            done_tx,
            done_rx,
            slots: async_channel::bounded(MAX_DOWNLOADS),
        });
    }

    /// Prints no events at all.
    pub(crate) fn silence(&mut self) {
        self.silent = true;
    }

    /// Waits for the next event, tick or stop request (printing finished downloads
    /// meanwhile).
    pub(crate) async fn next(&mut self) -> Step {
        loop {
            match self.wake().await {
                Woke::Downloaded((event, values)) => {
                    self.emit(&event, &values);
                    self.maybe_watchdog();
                }
                Woke::Step(step) => {
                    if let Step::Event(e) = &step {
                        self.handle(e);
                    }
                    self.maybe_watchdog();
                    return step;
                }
            }
        }
    }

    async fn wake(&mut self) -> Woke {
        let events = &mut self.events;
        let stop_rx = &self.stop_rx;
        let downloaded = self.downloads.as_ref().map(|d| &d.done_rx);
        let tick = self.tick;
        future::or(
            future::or(
                async {
                    match events.next().await {
                        Some(e) => Woke::Step(Step::Event(e)),
                        None => Woke::Step(Step::Ended),
                    }
                },
                async {
                    match stop_rx.recv().await {
                        Ok(who) => Woke::Step(Step::Stop(who)),
                        Err(_) => future::pending().await,
                    }
                },
            ),
            future::or(
                async {
                    match downloaded {
                        Some(rx) => match rx.recv().await {
                            Ok(done) => Woke::Downloaded(done),
                            Err(_) => future::pending().await,
                        },
                        None => future::pending().await,
                    }
                },
                async {
                    rt::sleep(tick).await;
                    Woke::Step(Step::Tick)
                },
            ),
        )
        .await
    }

    /// Records, publishes and prints an event; a media message with `--download-dir` is
    /// printed by its download task's end instead.
    fn handle(&mut self, e: &Event) {
        // Record first: whoever reacts to the printed line may ask for the status at once.
        self.record(e);
        let now = Instant::now();
        let values = match &self.control {
            Some(c) => c.hub().json(e, now),
            None => tether_control::events::event_json(e, now),
        };
        if let Some(c) = &self.control {
            c.publish(e);
        }
        if !self.wanted(e) {
            return;
        }
        match (&self.downloads, e) {
            (Some(downloads), Event::Message(m))
                if values.first().is_some_and(|v| v["media"].is_object()) =>
            {
                let client = self.client.clone();
                let message = m.clone();
                let event = e.clone();
                let dir = downloads.dir.clone();
                let done = downloads.done_tx.clone();
                let (take, give) = downloads.slots.clone();
                let mut values = values;
                rt::spawn(async move {
                    let _ = take.send(()).await;
                    let (field, value) = crate::media::save(&client, &message, &dir).await;
                    let _ = give.try_recv();
                    if let Some(v) = values.first_mut() {
                        v["media"][field] = Value::String(value);
                    }
                    let _ = done.send((event, values)).await;
                });
            }
            _ => self.emit(e, &values),
        }
    }

    /// Whether `event` is printed: not at all when silent; a message only when messages are
    /// printed, once per position, and never a subscriber's catch-up read.
    fn wanted(&mut self, event: &Event) -> bool {
        if self.silent {
            return false;
        }
        let Some(position) = tether_control::events::position(event) else {
            return true;
        };
        let Some(out) = self.messages.as_mut() else {
            return false;
        };
        !tether_control::events::replayed(event) && out.printed.take(position)
    }

    /// Prints a wanted event; a message is confirmed after it is out when `run` confirms.
    fn emit(&mut self, event: &Event, values: &[Value]) {
        let printed = self.printer.event(event, values);
        let (Some(position), Some(out)) = (
            tether_control::events::position(event),
            self.messages.as_ref(),
        ) else {
            return;
        };
        match (printed, out.confirm) {
            (Ok(()), ConfirmMode::Auto) => {
                let confirm = Command::Confirm {
                    positions: vec![InboxPos(position)],
                };
                if let Err(e) = self.client.command(confirm) {
                    tracing::warn!(target: "tether::run", "cannot confirm message #{position}: {e}");
                }
            }
            (Ok(()), ConfirmMode::Manual) => {}
            (Err(e), _) => tracing::warn!(
                target: "tether::run",
                "message #{position} could not be written to stdout ({e}); it stays unconfirmed \
                 and is delivered again after a restart"
            ),
        }
    }

    fn maybe_watchdog(&mut self) {
        if let Some(w) = self.watchdog
            && self.last_watchdog.elapsed() >= w / 2
        {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            self.last_watchdog = Instant::now();
        }
    }

    /// Updates the live status from an event, and records it in the store.
    fn record(&mut self, event: &Event) {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let observed = live.observe(event, Instant::now());
        match event {
            Event::Paired { .. } => self.bind_server(true),
            Event::Connected { .. } => self.bind_server(false),
            _ => {}
        }
        if observed.first_connect {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        }
        if let Some(m) = &self.metrics {
            m.observe(event, &live.state, unix_now());
        }
        if observed.state_changed {
            let line = live.status_line();
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&line)]);
        }
        if observed.record {
            let snapshot = live.clone();
            drop(live);
            let store = self.shared.lock();
            if let Err(e) = tether_control::status::record::write(&store, &self.base, &snapshot) {
                tracing::warn!(target: "tether::status", "cannot record the status: {e}");
            }
        }
    }

    /// Records the server this session talks to as the identity's: at pairing (`always`), or
    /// at a login when none is recorded yet or it differs (after `run --force`).
    fn bind_server(&self, always: bool) {
        let store = self.shared.lock();
        let recorded = store.server_binding().ok().flatten();
        if (always || recorded.as_ref() != Some(&self.binding))
            && let Err(e) = store.record_server_binding(&self.binding)
        {
            tracing::warn!(target: "tether::status", "cannot record the server binding: {e}");
        }
    }

    /// The current live status.
    pub(crate) fn live(&self) -> LiveStatus {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Shuts the connection down gracefully and waits for the driver to end.
    pub(crate) async fn shutdown(self) -> Result<(), Failure> {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let result = self.client.clone().shutdown().await;
        drop(self.events);
        result.map_err(|e| Failure::runtime(format!("shutdown did not finish cleanly: {e}")))
    }
}

/// The proxy a setting selects, without credentials (`None`: direct or from the environment).
fn proxy_text(proxy: &rt::ProxySetting) -> Option<String> {
    match proxy {
        rt::ProxySetting::Url(url) => tether_core::proxy::ProxyUrl::parse(url)
            .ok()
            .map(|p| p.to_string()),
        _ => None,
    }
}

/// The owner's answer to `status`.
pub(crate) fn status_json(shared: &SharedStore, live: &LiveStatus) -> Value {
    let creds = shared.lock().load_credentials();
    let account = match &creds {
        Ok(c) => store::account_json(
            c.as_ref().map(|(c, _)| c),
            shared
                .lock()
                .count_records(tether_core::records::Table::PreKeys)
                .ok(),
        ),
        Err(e) => json!({"linked": false, "error": e.to_string()}),
    };
    json!({
        "store": shared.path().display().to_string(),
        "owner": Sidecar::read(shared.path()).map(|s| s.to_json()),
        "account": account,
        "live": live,
        "record": tether_control::status::record::to_json(shared.lock().status().ok().as_ref()),
        "server": shared.lock().server_binding().ok().flatten().map(|b| store::binding_json(&b)),
    })
}

/// What the control socket does with this session's connection.
struct RunBackend {
    here: rt::Here,
    client: Client,
    shared: SharedStore,
    live: Arc<Mutex<LiveStatus>>,
    stop: async_channel::Sender<String>,
}

impl Backend for RunBackend {
    fn status(&self) -> Value {
        let snapshot = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        status_json(&self.shared, &snapshot)
    }

    fn send(&self, to: Jid, message: Message) -> Result<PendingSend, MessagingError> {
        self.client.send(to, message)
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        self.client.command(command)
    }

    fn upload(
        &self,
        kind: tether_core::media::MediaKind,
        path: &std::path::Path,
    ) -> Result<tether_core::media::Upload, tether_core::media::MediaError> {
        self.here.block_on(self.client.upload(kind, path))
    }

    fn group_info(&self, group: Jid) -> Result<PendingGroupInfo, GroupQueryError> {
        self.client.group_info(group)
    }

    fn joined_groups(&self) -> Result<PendingGroupList, GroupQueryError> {
        self.client.joined_groups()
    }

    fn backup(&self, path: &std::path::Path) -> Result<Value, String> {
        crate::cmd::backup::write_backup(&self.shared, path)
    }

    fn stop(&self) {
        let _ = self.stop.send_blocking("tether stop".into());
    }
}

fn serve_control(shared: &SharedStore, backend: Arc<RunBackend>) -> Result<ControlServer, Failure> {
    let path = paths::socket_path(shared.path());
    ControlServer::serve(&path, backend).map_err(|e| {
        Failure::runtime(format!(
            "cannot serve the control socket {}: {e}; check that the store's directory is writable",
            path.display()
        ))
    })
}
