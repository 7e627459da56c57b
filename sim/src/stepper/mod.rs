//! [`Stepper`]: a tiny deterministic harness that runs one real `Connection` against a
//! [`FakeServer`], a [`FakePhone`] and a [`MemStore`] in virtual time.
//!
//! Every output of either side becomes a queued input with a delivery instant (now, or later
//! for a slow store or a phone that takes time to scan). One [`Stepper::step`] delivers the
//! earliest due input, or — when nothing is due — advances the simulated clock to the next
//! deadline (queue, connection timers, server schedule) and fires it. After every step the
//! connection's and the server's outputs are drained and the invariants checked:
//!
//! - at most one transport is open (one counts as closed the moment `CloseTransport` is
//!   emitted, or when the harness reports it closed or failed);
//! - a transport is only opened on credentials the store already holds: same noise key, and
//!   when the core thinks it is paired, the store holds that same identity;
//! - every ClientPayload the server receives uses durably stored credentials (a login's user,
//!   device and noise key match the store; a registration's noise key too);
//! - after `Stopped`, no transport opens until the application connects again;
//! - no reconnect is scheduled in the past.
//!
//! A violation panics with the tail of the trace. The harness answers the connection's
//! actions: `OpenTransport` (open, or refuse / hang as the server's connect faults say),
//! `CloseTransport`, `PersistCredentials` / `QuarantineCredentials` (through the `MemStore`,
//! after `store_delay`), `FetchVersion` (with the configured answer). QR codes are scanned by
//! the phone according to [`Scan`].
//!
//! The wall clock exists only as a base `Instant` taken once per stepper; everything after it
//! is virtual.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_core::connection::{
    Action, Command, CommandError, Config, Connection, Event, Output, State, TransportEvent,
    TransportId, VersionError,
};
use tether_core::creds::{CredentialStore, StoreResult};
use tether_core::payload::AppVersion;
use tether_core::reason::DisconnectReason;

use crate::phone::FakePhone;
use crate::server::{ConnId, ConnectOutcome, FakeServer, ServerConfig};
use crate::store::MemStore;
use crate::trace::{Record, Traced};

mod checks;

/// Which QR code the phone scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// None: linking must time out.
    Never,
    /// The n-th QR code shown in the run (0-based), `scan_delay` after it appears.
    Nth(usize),
    /// No QR code; the user types every pair code shown, `scan_delay` after it appears.
    PairCode,
}

/// How a [`Stepper`] is set up.
#[derive(Debug)]
pub struct Options {
    /// The server.
    pub server: ServerConfig,
    /// The connection's seed (expanded to 32 bytes).
    pub seed: u64,
    /// The client's wall clock at the start; `None` = the server's (no skew).
    pub unix_now: Option<u64>,
    /// Which QR the phone scans.
    pub scan: Scan,
    /// How long the phone takes to scan.
    pub scan_delay: Duration,
    /// How long every store write takes.
    pub store_delay: Duration,
    /// The answer to `FetchVersion`.
    pub version_answer: Result<AppVersion, String>,
    /// The store the connection loads its credentials from.
    pub store: MemStore,
    /// Deliver server bytes to the connection in pieces of at most this many bytes.
    pub chunk: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            seed: 7,
            unix_now: None,
            scan: Scan::Nth(0),
            scan_delay: Duration::from_secs(5),
            store_delay: Duration::ZERO,
            version_answer: Ok(AppVersion::new(2, 3000, 1_100_000_000)),
            store: MemStore::new(),
            chunk: None,
        }
    }
}

#[derive(Debug)]
enum Input {
    Open(TransportId),
    Failed(TransportId),
    ToServer(TransportId, Bytes),
    CloseToServer(TransportId),
    ToClient(TransportId, Bytes),
    ClosedByServer(TransportId),
    StoreOp(Action),
    Version,
    Scan(String),
    EnterCode(String),
}

/// The harness (see the module docs).
#[derive(Debug)]
pub struct Stepper {
    /// The connection under test.
    pub conn: Connection,
    /// The fake server.
    pub server: FakeServer,
    /// The credential store.
    pub store: MemStore,
    /// The account's phone.
    pub phone: FakePhone,
    base: Instant,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Input>,
    queued: u64,
    open: BTreeSet<TransportId>,
    trace: Vec<Record>,
    qr_seen: usize,
    scan: Scan,
    scan_delay: Duration,
    /// How long every store write takes (changeable mid-run).
    pub store_delay: Duration,
    /// The answer to `FetchVersion` (changeable mid-run).
    pub version_answer: Result<AppVersion, String>,
    logins_checked: usize,
    received_seen: usize,
    chunk: Option<usize>,
    /// A `Stopped` was seen and no `Connect` came since.
    stopped: bool,
}

impl Stepper {
    /// A harness; `configure` adjusts the client config (already pointed at the server).
    pub fn new(options: Options, configure: impl FnOnce(&mut Config)) -> Self {
        let base = Instant::now();
        let server = FakeServer::new(options.server, base);
        let mut config = Config::for_server(server.endpoint(), server.root_public());
        configure(&mut config);
        let mut store = options.store;
        let loaded = store.load().ok().flatten();
        let unix_now = options.unix_now.unwrap_or_else(|| server.unix_at(base));
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&options.seed.to_le_bytes());
        }
        let conn = Connection::from_store(config, loaded, base, unix_now, seed);
        let mut stepper = Self {
            conn,
            server,
            store,
            phone: FakePhone::new(options.seed),
            base,
            now: base,
            queue: BTreeMap::new(),
            queued: 0,
            open: BTreeSet::new(),
            trace: Vec::new(),
            qr_seen: 0,
            scan: options.scan,
            scan_delay: options.scan_delay,
            store_delay: options.store_delay,
            version_answer: options.version_answer,
            logins_checked: 0,
            received_seen: 0,
            stopped: false,
            chunk: options.chunk,
        };
        stepper.drain();
        stepper
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// The instant `offset` after the start.
    pub fn at(&self, offset: Duration) -> Instant {
        self.base + offset
    }

    /// Everything traced so far.
    pub fn trace(&self) -> &[Record] {
        &self.trace
    }

    /// Every event so far, with its time since the start.
    pub fn events(&self) -> impl Iterator<Item = (Duration, &Event)> {
        self.trace.iter().filter_map(|r| match &r.what {
            Traced::Event(e) => Some((r.at, e)),
            _ => None,
        })
    }

    /// Every action so far, with its time since the start.
    pub fn actions(&self) -> impl Iterator<Item = (Duration, &Action)> {
        self.trace.iter().filter_map(|r| match &r.what {
            Traced::Action(a) => Some((r.at, a)),
            _ => None,
        })
    }

    /// Every `Disconnected` event: when, why, the reconnect instant and the attempt.
    pub fn disconnects(&self) -> Vec<(Duration, DisconnectReason, Option<Instant>, u32)> {
        self.events()
            .filter_map(|(at, e)| match e {
                Event::Disconnected {
                    reason,
                    reconnect_at,
                    attempt,
                    ..
                } => Some((at, reason.clone(), *reconnect_at, *attempt)),
                _ => None,
            })
            .collect()
    }

    /// When each `OpenTransport` was emitted, with its id.
    pub fn opens(&self) -> Vec<(Duration, TransportId)> {
        self.actions()
            .filter_map(|(at, a)| match a {
                Action::OpenTransport { id, .. } => Some((at, *id)),
                _ => None,
            })
            .collect()
    }

    /// `Command::Connect`, then runs until `Connected` (linking by QR when unpaired). Panics
    /// with the trace tail if that takes more than ten virtual minutes.
    pub fn link(&mut self) {
        if let Err(error) = self.command(Command::Connect) {
            panic!("connect refused: {error}");
        }
        let done = self.run_until(Duration::from_secs(600), |s| {
            *s.conn.state() == State::Connected
        });
        if !done {
            panic!("not connected after ten minutes\n{}", self.dump(40));
        }
    }

    /// The server side of the connection's current transport.
    pub fn server_conn(&self) -> Option<ConnId> {
        self.conn.transport().map(|t| ConnId(t.0))
    }

    /// The last `n` trace lines, for failure messages.
    pub fn dump(&self, n: usize) -> String {
        let skip = self.trace.len().saturating_sub(n);
        self.trace
            .iter()
            .skip(skip)
            .map(|r| format!("{r}\n"))
            .collect()
    }

    /// Gives the connection a command, then drains.
    pub fn command(&mut self, command: Command) -> Result<(), CommandError> {
        let connect = matches!(
            command,
            Command::Connect | Command::RequestPairingCode { .. }
        );
        let result = self.conn.handle_command(command, self.now);
        if connect && result.is_ok() {
            self.stopped = false;
        }
        self.drain();
        result
    }

    /// Queues bytes for the connection as if they arrived on `transport` now (stale input).
    pub fn inject_bytes(&mut self, transport: TransportId, bytes: Bytes) {
        self.push(self.now, Input::ToClient(transport, bytes));
    }

    /// Reports `transport` closed to the connection now (stale or not).
    pub fn inject_closed(&mut self, transport: TransportId) {
        self.push(self.now, Input::ClosedByServer(transport));
    }

    /// Has the phone scan `qr` now.
    pub fn scan_now(&mut self, qr: String) {
        self.push(self.now, Input::Scan(qr));
    }

    /// Runs until `done` holds (checked after every step) or `limit` of virtual time passes.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(deadline) {
                return done(self);
            }
        }
    }

    /// Runs for `duration` of virtual time (or until nothing is left to do).
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = self.now + duration;
        while self.step(deadline) {}
        self.now = self.now.max(deadline);
    }

    /// One step: deliver the earliest due input or fire the next deadline, as long as it is
    /// not after `deadline`. `false` when nothing is left before `deadline`.
    pub fn step(&mut self, deadline: Instant) -> bool {
        self.drain();
        let next = [
            self.queue.keys().next().map(|(at, _)| *at),
            self.conn.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        if next > deadline {
            self.now = deadline;
            return false;
        }
        self.now = self.now.max(next);
        let first_due = self
            .queue
            .keys()
            .next()
            .is_some_and(|(at, _)| *at <= self.now);
        if first_due {
            if let Some((_, input)) = self.queue.pop_first() {
                self.deliver(input);
            }
        } else if self.conn.poll_timeout().is_some_and(|at| at <= self.now) {
            self.conn.handle_timeout(self.now);
        } else {
            self.server.handle_timeout(self.now);
        }
        self.drain();
        true
    }

    // ---- internals --------------------------------------------------------------------------

    fn push(&mut self, at: Instant, input: Input) {
        self.queued += 1;
        self.queue.insert((at, self.queued), input);
    }

    fn record(&mut self, what: Traced) {
        self.trace.push(Record {
            at: self.now - self.base,
            what,
        });
    }

    fn drain(&mut self) {
        loop {
            match self.conn.poll_output() {
                Output::Transmit(t) => {
                    self.record(Traced::Transmit {
                        transport: t.transport,
                        len: t.payload.len(),
                    });
                    self.push(self.now, Input::ToServer(t.transport, t.payload));
                }
                Output::Action(action) => {
                    self.record(Traced::Action(action.clone()));
                    self.on_action(action);
                }
                Output::Event(event) => {
                    self.record(Traced::Event(event.clone()));
                    self.check_event(&event);
                    self.on_event(&event);
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        while let Some((id, bytes)) = self.server.poll_transmit() {
            let transport = TransportId(id.0);
            match self.chunk {
                // Split every server message, as a stream transport may.
                Some(size) if size > 0 => {
                    for piece in bytes.chunks(size) {
                        let piece = Bytes::copy_from_slice(piece);
                        self.push(self.now, Input::ToClient(transport, piece));
                    }
                }
                _ => self.push(self.now, Input::ToClient(transport, bytes)),
            }
        }
        while let Some(id) = self.server.poll_close() {
            self.record(Traced::ServerClosed(id));
            self.push(self.now, Input::ClosedByServer(TransportId(id.0)));
        }
    }

    fn on_action(&mut self, action: Action) {
        match action {
            Action::OpenTransport { id, .. } => {
                self.open.insert(id);
                if self.open.len() > 1 {
                    self.violation(&format!("two transports open: {:?}", self.open));
                }
                self.check_open_credentials();
                self.check_not_stopped();
                match self.server.connect_outcome() {
                    ConnectOutcome::Accept => self.push(self.now, Input::Open(id)),
                    ConnectOutcome::Refuse => {
                        self.record(Traced::Refused(id));
                        self.push(self.now, Input::Failed(id));
                    }
                    _ => self.record(Traced::Hung(id)),
                }
            }
            Action::CloseTransport { id } => {
                self.open.remove(&id);
                self.push(self.now, Input::CloseToServer(id));
            }
            op @ (Action::PersistCredentials { .. } | Action::QuarantineCredentials { .. }) => {
                self.push(self.now + self.store_delay, Input::StoreOp(op));
            }
            Action::FetchVersion { .. } => self.push(self.now, Input::Version),
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::QrCode { code, .. } => {
                let index = self.qr_seen;
                self.qr_seen += 1;
                if self.scan == Scan::Nth(index) {
                    self.push(self.now + self.scan_delay, Input::Scan(code.clone()));
                }
            }
            Event::PairingCode { code } if self.scan == Scan::PairCode => {
                self.push(self.now + self.scan_delay, Input::EnterCode(code.clone()));
            }
            _ => {}
        }
    }

    fn deliver(&mut self, input: Input) {
        let now = self.now;
        match input {
            Input::Open(id) => {
                self.server.handle_open(ConnId(id.0), now);
                self.record(Traced::ServerOpened(ConnId(id.0)));
                self.conn.handle_transport(id, TransportEvent::Opened, now);
            }
            Input::Failed(id) => {
                self.open.remove(&id);
                let detail = "connection refused (simulated)".to_owned();
                self.conn
                    .handle_transport(id, TransportEvent::Failed { detail }, now);
            }
            Input::ToServer(id, bytes) => {
                self.server.handle_bytes(ConnId(id.0), &bytes, now);
                self.after_server_input();
            }
            Input::CloseToServer(id) => self.server.handle_close(ConnId(id.0), now),
            Input::ToClient(id, bytes) => self.conn.handle_bytes(id, &bytes, now),
            Input::ClosedByServer(id) => {
                self.open.remove(&id);
                let detail = "closed by the server (simulated)".to_owned();
                self.conn
                    .handle_transport(id, TransportEvent::Closed { detail }, now);
            }
            Input::StoreOp(action) => self.store_op(action),
            Input::Version => {
                self.record(Traced::VersionAnswered);
                let answer = self.version_answer.clone().map_err(VersionError);
                self.conn.handle_version(answer, now);
            }
            Input::Scan(code) => {
                let result = self.phone.scan(&mut self.server, &code, now);
                self.record(Traced::Scanned(result.map_err(|e| e.to_string())));
            }
            Input::EnterCode(code) => {
                let result = self.phone.enter_code(&mut self.server, &code, now);
                self.record(Traced::CodeEntered(result.map_err(|e| e.to_string())));
            }
        }
    }

    fn store_op(&mut self, action: Action) {
        let writes_before = self.store.writes();
        let (seq, outcome) = match &action {
            Action::PersistCredentials { seq, delta } => (*seq, self.store.apply(*seq, delta)),
            Action::QuarantineCredentials { seq, reason } => {
                (*seq, self.store.quarantine(*seq, reason))
            }
            _ => return,
        };
        let result = match outcome {
            Ok(()) => {
                if self.store.writes() > writes_before {
                    self.record(Traced::Durable(seq));
                }
                if matches!(action, Action::QuarantineCredentials { .. }) {
                    StoreResult::Quarantined(seq)
                } else {
                    StoreResult::Persisted(seq)
                }
            }
            Err(error) => StoreResult::Failed { seq, error },
        };
        self.record(Traced::Store(result.clone()));
        self.conn.handle_store(result, self.now);
    }
}
