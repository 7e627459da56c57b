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
//! Bytes, opens and closes travel through a seeded [`Network`] (latency, jitter, messages
//! re-cut into split or coalesced pieces, resets after N bytes, partitions); with the default
//! [`NetConfig`] it delivers everything at once, as written. [`Stepper::crash_restart`] drops
//! the `Connection` as a crash would (un-persisted state and in-flight store writes are lost,
//! the old sockets close) and builds a new one with `Connection::from_store` from the
//! [`MemStore`] contents only. The server sees connection ids `epoch << 32 | transport id`, so
//! the new process's transport ids (starting at 1 again) never collide with the old ones.
//!
//! The wall clock exists only as a base `Instant` taken once per stepper; everything after it
//! is virtual.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_core::connection::{
    Action, Command, CommandError, Config, Connection, Event, State, TransportId,
};
use tether_core::creds::CredentialStore;
use tether_core::payload::AppVersion;
use tether_core::reason::DisconnectReason;

use crate::network::{NetConfig, Network};
use crate::phone::FakePhone;
use crate::server::{ConnId, FakeServer, ServerConfig};
use crate::store::MemStore;
use crate::trace::{Record, Traced};

mod checks;
mod io;

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
    /// The network between the connection and the server.
    pub net: NetConfig,
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
            net: NetConfig::default(),
        }
    }
}

/// A queued input; connections are named by their server-side id (`epoch << 32 | transport`).
#[derive(Debug)]
enum Input {
    Open(ConnId),
    Failed(ConnId),
    ToServer(ConnId, Bytes),
    CloseToServer(ConnId),
    ToClient(ConnId, Bytes),
    ClosedByServer(ConnId, &'static str),
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
    /// Deadlines fired in a row at the same instant: a deadline that does not move after it
    /// fired would spin forever, so the stepper fails loudly instead.
    same_instant_timeouts: (Instant, u32),
    /// The network between the two sides.
    pub net: Network,
    /// The process epoch: 0, then +1 per crash-restart.
    epoch: u64,
    config: Config,
    seed: u64,
    client_unix_base: u64,
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
        let conn = Connection::from_store(config.clone(), loaded, base, unix_now, seed);
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
            same_instant_timeouts: (base, 0),
            chunk: options.chunk,
            net: Network::new(options.seed, options.net),
            epoch: 0,
            config,
            seed: options.seed,
            client_unix_base: unix_now,
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
        self.conn.transport().map(|t| self.conn_id(t))
    }

    /// The server-side id of this process's transport `t`.
    pub fn conn_id(&self, t: TransportId) -> ConnId {
        ConnId((self.epoch << 32) | (t.0 & 0xffff_ffff))
    }

    /// This process's transport behind server-side id `c` (`None`: an earlier process's).
    pub fn transport_of(&self, c: ConnId) -> Option<TransportId> {
        (c.0 >> 32 == self.epoch).then_some(TransportId(c.0 & 0xffff_ffff))
    }

    /// How many crash-restarts happened.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Crashes the client process now and starts a new one from the store's contents only
    /// (see the module docs). The new connection is `Idle`: give it `Command::Connect`.
    pub fn crash_restart(&mut self) {
        let old: Vec<ConnId> = self
            .open
            .iter()
            .copied()
            .chain(self.conn.transport())
            .map(|t| self.conn_id(t))
            .collect();
        self.epoch += 1;
        // Only what is on its way to the server or the phone survives the process.
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue
            .into_iter()
            .filter(|(_, input)| {
                matches!(
                    input,
                    Input::ToServer(..)
                        | Input::CloseToServer(_)
                        | Input::Scan(_)
                        | Input::EnterCode(_)
                )
            })
            .collect();
        self.open.clear();
        self.stopped = false;
        for id in old {
            // The OS closes the dead process's sockets.
            if let Some(at) = self.net.close(id, crate::network::Direction::Up, self.now) {
                self.push(at, Input::CloseToServer(id));
            }
        }
        let loaded = self.store.load().ok().flatten();
        let from_store = loaded.is_some();
        let unix_now = self
            .client_unix_base
            .saturating_add(self.elapsed().as_secs());
        let mut seed = [0u8; 32];
        let mixed = self.seed ^ self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&mixed.to_le_bytes());
        }
        self.conn = Connection::from_store(self.config.clone(), loaded, self.now, unix_now, seed);
        self.record(Traced::Crashed {
            epoch: self.epoch,
            from_store,
        });
        self.drain();
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
        let id = self.conn_id(transport);
        self.push(self.now, Input::ToClient(id, bytes));
    }

    /// Reports `transport` closed to the connection now (stale or not).
    pub fn inject_closed(&mut self, transport: TransportId) {
        let id = self.conn_id(transport);
        self.push(
            self.now,
            Input::ClosedByServer(id, "closed by the server (simulated)"),
        );
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

    /// Fails when the connection's deadline fires again and again without time moving: its
    /// `handle_timeout` left the deadline due, which would spin a driver forever.
    fn count_timeout_at_now(&mut self) {
        let (at, n) = &mut self.same_instant_timeouts;
        if *at == self.now {
            *n += 1;
        } else {
            *at = self.now;
            *n = 1;
        }
        assert!(
            *n <= 10_000,
            "the connection's deadline stays due after handle_timeout (a driver would spin); \
             last trace lines:\n{}",
            self.dump(20)
        );
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
            self.count_timeout_at_now();
            self.conn.handle_timeout(self.now);
        } else {
            self.server.handle_timeout(self.now);
        }
        self.drain();
        true
    }
}
