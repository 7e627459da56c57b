//! One running connection as the CLI drives it (shared by `run`, `relink`, `logout` and `demo`):
//! prints every event, keeps the live status (served on the control socket and recorded in the
//! store), talks to systemd, and turns SIGINT/SIGTERM and the control socket's `stop` into a
//! graceful shutdown.
//!
//! ```text
//!  events ─┐
//!  stop  ──┼─► Session::next() ─► Step::{Event, Tick, Stop} ─► the command's loop
//!  tick  ──┘        │ bookkeeping: print, LiveStatus, status record, sd_notify
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future;
use serde_json::{Value, json};
use tether_core::connection::{Config, Event};

use crate::control::{self, ControlServer, Request};
use crate::metrics::Metrics;
use crate::output::Printer;
use crate::rt::{self, Client, Events, Options};
use crate::snapshot::{LiveStatus, ReasonJson, unix_now, unix_now_ms};
use crate::store::{self, SharedStore, Sidecar};
use crate::{Failure, paths, status_record};

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

/// A started connection plus everything around it.
pub(crate) struct Session {
    pub(crate) client: Client,
    events: Events,
    pub(crate) shared: SharedStore,
    pub(crate) live: Arc<Mutex<LiveStatus>>,
    pub(crate) printer: Printer,
    stop_rx: async_channel::Receiver<String>,
    _control: Option<ControlServer>,
    tick: Duration,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
    ready_sent: bool,
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
        let live = Arc::new(Mutex::new(LiveStatus {
            state: "connecting".into(),
            endpoint: config.endpoint.clone(),
            proxy: proxy_text(&options.proxy),
            started_at_ms: unix_now_ms(),
            ..LiveStatus::default()
        }));
        // Without the socket (e.g. a store path too long for a Unix socket name), `status` reads
        // the store and `stop` signals the pid: worth a warning, not a refusal to run.
        let control = serve_control(&shared, &live, stop_tx)
            .map_err(|f| tracing::warn!(target: "tether::control", "{}", f.message))
            .ok();
        let (client, events) = rt::start(config, shared.clone(), options)
            .await
            .map_err(|e| Failure::runtime(format!("cannot start the connection: {e}")))?;
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
            _control: control,
            tick: watchdog.map_or(tick, |w| tick.min(w / 2)),
            watchdog,
            last_watchdog: Instant::now(),
            ready_sent: false,
            base,
            binding,
            metrics,
        })
    }

    /// Waits for the next event, tick or stop request.
    pub(crate) async fn next(&mut self) -> Step {
        let events = &mut self.events;
        let stop_rx = &self.stop_rx;
        let tick = self.tick;
        let step = future::or(
            future::or(
                async {
                    match events.next().await {
                        Some(e) => Step::Event(e),
                        None => Step::Ended,
                    }
                },
                async {
                    match stop_rx.recv().await {
                        Ok(who) => Step::Stop(who),
                        Err(_) => future::pending().await,
                    }
                },
            ),
            async {
                rt::sleep(tick).await;
                Step::Tick
            },
        )
        .await;
        if let Step::Event(e) = &step {
            // Record first: whoever reacts to the printed line may ask for the status at once.
            self.record(e);
            self.printer.event(e, Instant::now());
        }
        self.maybe_watchdog();
        step
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
        let now = unix_now_ms();
        let before = live.state.clone();
        let lifecycle = match event {
            Event::QrCode { .. } | Event::PairingCode { .. } => {
                live.state = "pairing".into();
                false
            }
            Event::Paired { jid } => {
                live.jid = Some(jid.to_string());
                self.bind_server(true);
                true
            }
            Event::Connected { jid } => {
                live.state = "connected".into();
                live.jid = Some(jid.to_string());
                live.connected_since_ms = Some(now);
                live.last_connected_ms = Some(now);
                live.connects += 1;
                live.attempt = 0;
                live.next_retry_at_ms = None;
                if !self.ready_sent {
                    self.ready_sent = true;
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                }
                self.bind_server(false);
                true
            }
            Event::Disconnected {
                reason,
                reconnect_at,
                attempt,
                ..
            } => {
                live.connected_since_ms = None;
                live.disconnects += 1;
                live.last_reason = Some(ReasonJson::new(reason));
                live.banned_until_ms = match reason {
                    tether_core::reason::DisconnectReason::TemporaryBan {
                        until: Some(until),
                        ..
                    } => Some(until.saturating_mul(1000)),
                    _ => None,
                };
                if let Some(at) = reconnect_at.filter(|_| !reason.is_terminal()) {
                    live.state = "waiting to reconnect".into();
                    live.reconnects += 1;
                    live.attempt = *attempt;
                    let ms = at.saturating_duration_since(Instant::now()).as_millis();
                    live.next_retry_at_ms =
                        Some(unix_now_ms().saturating_add(u64::try_from(ms).unwrap_or(0)));
                } else {
                    live.state = "stopping".into();
                    live.next_retry_at_ms = None;
                }
                true
            }
            Event::Stopped { reason } => {
                live.state = "stopped".into();
                live.connected_since_ms = None;
                live.next_retry_at_ms = None;
                let ban = live.banned_until_ms;
                live.last_reason = Some(ReasonJson::new(reason));
                live.banned_until_ms = ban.filter(|_| {
                    matches!(
                        reason,
                        tether_core::reason::DisconnectReason::TemporaryBan { .. }
                    )
                });
                true
            }
            Event::ClockSkew { offset_secs } => {
                live.skew_ms = Some(offset_secs.saturating_mul(1000));
                live.skew_at_ms = Some(now);
                true
            }
            _ => false,
        };
        if let Some(m) = &self.metrics {
            m.observe(event, &live.state, unix_now());
        }
        if live.state != before {
            let line = status_line(&live);
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&line)]);
        }
        if lifecycle {
            let snapshot = live.clone();
            drop(live);
            let store = self.shared.lock();
            if let Err(e) = status_record::write(&store, &self.base, &snapshot) {
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

/// systemd's one-line `STATUS=`: `connected as JID`, `waiting to reconnect (retry 3) after
/// [428] Connection refused`, …
pub(crate) fn status_line(live: &LiveStatus) -> String {
    let mut line = live.state.clone();
    if live.state == "connected"
        && let Some(jid) = &live.jid
    {
        line.push_str(&format!(" as {jid}"));
    }
    if live.attempt > 0 {
        line.push_str(&format!(" (retry {})", live.attempt));
    }
    if live.state != "connected"
        && let Some(r) = &live.last_reason
    {
        line.push_str(&format!(
            " after {} {}",
            ReasonJson::code_text(r.code.map(u64::from), r.local),
            r.reason
        ));
        if let Some(d) = &r.detail {
            line.push_str(&format!(": {d}"));
        }
    }
    line
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
        Ok(c) => store::account_json(c.as_ref().map(|(c, _)| c)),
        Err(e) => json!({"linked": false, "error": e.to_string()}),
    };
    json!({
        "store": shared.path().display().to_string(),
        "owner": Sidecar::read(shared.path()).map(|s| s.to_json()),
        "account": account,
        "live": live,
        "record": status_record::to_json(shared.lock().status().ok().as_ref()),
        "server": shared.lock().server_binding().ok().flatten().map(|b| store::binding_json(&b)),
    })
}

fn serve_control(
    shared: &SharedStore,
    live: &Arc<Mutex<LiveStatus>>,
    stop: async_channel::Sender<String>,
) -> Result<ControlServer, Failure> {
    let (shared, live) = (shared.clone(), Arc::clone(live));
    let path = paths::socket_path(shared.path());
    let handler: control::Handler = Arc::new(move |request| match request {
        Request::Status => {
            let snapshot = live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            Ok(json!({"status": status_json(&shared, &snapshot)}))
        }
        Request::Backup(target) => crate::cmd::backup::write_backup(&shared, &target),
        Request::Stop => {
            let _ = stop.send_blocking("tether stop".into());
            Ok(json!({}))
        }
    });
    control::serve(&path, handler).map_err(|e| {
        Failure::runtime(format!(
            "cannot serve the control socket {}: {e}; check that the store's directory is writable",
            path.display()
        ))
    })
}
