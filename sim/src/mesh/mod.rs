//! [`Mesh`]: several Tether companions and simulated devices on one [`FakeServer`], in
//! virtual time — the harness of the messaging world.
//!
//! ```text
//!   Companion 0 (Connection + MemStore) ─ Network 0 ─┐
//!   Companion 1 (Connection + MemStore) ─ Network 1 ─┼─ FakeServer ─┬─ SimDevice (phone A)
//!   …                                                 │              ├─ SimDevice (phone B)
//!                                                     │              └─ … (local devices)
//! ```
//!
//! Like the [`Stepper`](crate::Stepper), every output of a side becomes a queued input with
//! a delivery instant, and one [`Mesh::step`] delivers the earliest due input or fires the
//! next deadline (queue, any connection's timers, the server's schedule). After every step
//! each companion's outputs are drained (transmits through its network, store actions
//! answered from its `MemStore` after `store_delay`, version fetches answered at once), the
//! server's transmits and closes travel down the right network, and the local devices
//! exchange stanzas with the server until nothing moves (no latency: a phone is close to its
//! server). Everything is traced ([`Mesh::trace`]) with who did it.
//!
//! A companion can crash at any time ([`Mesh::crash_restart`]: the new process starts from
//! its `MemStore` only, what was on its way to the server still arrives) or at its next
//! durable step ([`Mesh::crash_at`]: a write in flight, a write just durable, a message just
//! accepted). Checked after every step: each companion has at most one transport open.

mod companion;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_core::connection::{
    Action, Command, CommandError, Config, Output, TransportEvent, VersionError,
};
use tether_core::reason::TransportFailure;

pub use companion::{Companion, CrashPoint};

use crate::device::SimDevice;
use crate::network::{Direction, Loss, NetConfig, Sent};
use crate::server::{ConnId, ConnectOutcome, FakeServer, ServerConfig};
use crate::store::MemStore;
use crate::trace::Traced;

/// Who did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Who {
    /// The server.
    Server,
    /// Companion `n`.
    Companion(usize),
    /// Local device `n`.
    Device(usize),
    /// The harness itself (faults, crashes).
    Harness,
}

/// One traced happening of a mesh.
#[derive(Clone, Debug)]
pub struct MeshRecord {
    /// Virtual time since the mesh started.
    pub at: Duration,
    /// Who.
    pub who: Who,
    /// What.
    pub what: Traced,
}

/// A queued input.
#[derive(Debug)]
enum Input {
    Open(ConnId),
    Failed(ConnId),
    ToServer(ConnId, Bytes),
    CloseToServer(ConnId),
    ToClient(ConnId, Bytes),
    ClosedByServer(ConnId, &'static str),
    StoreOp(usize, Action),
    Version(usize),
}

impl Input {
    /// The companion this input is for (`None`: the server's).
    fn companion(&self) -> Option<usize> {
        match self {
            Self::Open(c) | Self::Failed(c) | Self::ToClient(c, _) | Self::ClosedByServer(c, _) => {
                Companion::index_of(*c)
            }
            Self::StoreOp(i, _) | Self::Version(i) => Some(*i),
            Self::ToServer(..) | Self::CloseToServer(_) => None,
        }
    }
}

/// A local device of the mesh.
#[derive(Debug)]
pub struct LocalDevice {
    /// The device.
    pub device: SimDevice,
    /// Whether it is online (its stanzas flow).
    pub online: bool,
}

/// The harness (see the module docs).
#[derive(Debug)]
pub struct Mesh {
    /// The shared server.
    pub server: FakeServer,
    /// The Tether companions.
    pub companions: Vec<Companion>,
    /// The local devices (phones, headless companions).
    pub devices: Vec<LocalDevice>,
    base: Instant,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Input>,
    queued: u64,
    trace: Vec<MeshRecord>,
    received_seen: usize,
    /// Companions whose planned crash fired during the current drain.
    crash_now: Vec<usize>,
}

impl Mesh {
    /// An empty mesh with a server built from `config`.
    pub fn new(config: ServerConfig) -> Self {
        let base = Instant::now();
        Self {
            server: FakeServer::new(config, base),
            companions: Vec::new(),
            devices: Vec::new(),
            base,
            now: base,
            queue: BTreeMap::new(),
            queued: 0,
            trace: Vec::new(),
            received_seen: 0,
            crash_now: Vec::new(),
        }
    }

    /// Adds a companion whose process starts from `store`; returns its index.
    pub fn add_companion(
        &mut self,
        configure: impl FnOnce(&mut Config),
        store: MemStore,
        seed: u64,
        net: NetConfig,
    ) -> usize {
        let mut config = Config::for_server(self.server.endpoint(), self.server.root_public());
        configure(&mut config);
        let index = self.companions.len();
        let unix = self.server.unix_at(self.now);
        let companion = Companion::new(index, config, store, seed, net, self.now, unix);
        self.companions.push(companion);
        index
    }

    /// Adds a local device (online: it connects now); returns its index.
    pub fn add_device(&mut self, device: SimDevice) -> usize {
        let index = self.devices.len();
        self.devices.push(LocalDevice {
            device,
            online: false,
        });
        self.set_online(index, true);
        index
    }

    /// Takes local device `index` online or offline.
    pub fn set_online(&mut self, index: usize, online: bool) {
        let Some(slot) = self.devices.get_mut(index) else {
            return;
        };
        if slot.online == online {
            return;
        }
        slot.online = online;
        let jid = slot.device.jid();
        if online {
            if let Err(error) = self.server.connect_local(&jid, self.now) {
                tracing::debug!(%error, "a local device did not come online");
            }
        } else {
            self.server.disconnect_local(&jid);
        }
        self.drain();
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

    /// Everything traced so far (since the last [`take_trace`](Self::take_trace)).
    pub fn trace(&self) -> &[MeshRecord] {
        &self.trace
    }

    /// Takes the records traced since the last call (a long run's reader keeps what it
    /// needs; the mesh keeps nothing).
    pub fn take_trace(&mut self) -> Vec<MeshRecord> {
        std::mem::take(&mut self.trace)
    }

    /// Records something the harness did.
    pub fn note(&mut self, what: Traced) {
        self.record(Who::Harness, what);
    }

    fn record(&mut self, who: Who, what: Traced) {
        self.trace.push(MeshRecord {
            at: self.now - self.base,
            who,
            what,
        });
    }

    fn push(&mut self, at: Instant, input: Input) {
        self.queued += 1;
        self.queue.insert((at, self.queued), input);
    }

    /// Gives companion `index` a command, then drains.
    pub fn command(&mut self, index: usize, command: Command) -> Result<(), CommandError> {
        let now = self.now;
        let result = match self.companions.get_mut(index) {
            Some(c) => c.conn.handle_command(command, now),
            None => Ok(()),
        };
        self.drain();
        result
    }

    /// Companion `index` sends `message` to `to` (`Connection::send_message`), then drains.
    pub fn send_message(
        &mut self,
        index: usize,
        to: tether_core::binary::Jid,
        message: tether_core::proto::message::Message,
    ) -> Result<tether_core::messaging::ids::MessageId, CommandError> {
        let now = self.now;
        let result = match self.companions.get_mut(index) {
            Some(c) => c.conn.send_message(to, message, now),
            None => Err(CommandError::NotLinked),
        };
        self.drain();
        result
    }

    /// Lets everything that is due now happen (after changing a side directly).
    pub fn settle(&mut self) {
        self.drain();
    }

    /// Arms a crash of companion `index` at its next durable step of this kind.
    pub fn crash_at(&mut self, index: usize, point: CrashPoint) {
        if let Some(c) = self.companions.get_mut(index) {
            c.crash_at = Some(point);
        }
    }

    /// Crashes companion `index` now and starts a new process from its store alone (the new
    /// connection is `Idle`: give it `Command::Connect`).
    pub fn crash_restart(&mut self, index: usize) {
        let Some(companion) = self.companions.get(index) else {
            return;
        };
        let old: Vec<ConnId> = companion
            .open
            .iter()
            .copied()
            .chain(companion.conn.transport())
            .map(|t| companion.conn_id(t))
            .collect();
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue
            .into_iter()
            .filter(|(_, input)| input.companion() != Some(index))
            .collect();
        for id in old {
            let at = self.companions[index]
                .net
                .close(id, Direction::Up, self.now);
            if let Some(at) = at {
                self.push(at, Input::CloseToServer(id));
            }
        }
        let (now, elapsed) = (self.now, self.elapsed());
        let companion = &mut self.companions[index];
        let from_store = companion.restart(now, elapsed);
        let epoch = companion.epoch;
        self.record(Who::Companion(index), Traced::Crashed { epoch, from_store });
        self.drain();
    }

    /// One step (see the module docs); `false` when nothing is left before `deadline`.
    pub fn step(&mut self, deadline: Instant) -> bool {
        self.drain();
        let next = self
            .queue
            .keys()
            .next()
            .map(|(at, _)| *at)
            .into_iter()
            .chain(self.companions.iter().filter_map(|c| c.conn.poll_timeout()))
            .chain(self.server.poll_timeout())
            .min();
        let Some(next) = next else {
            return false;
        };
        if next > deadline {
            self.now = deadline;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        if self.queue.keys().next().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, input)) = self.queue.pop_first() {
                self.deliver(input);
            }
        } else if let Some(c) = self
            .companions
            .iter_mut()
            .find(|c| c.conn.poll_timeout().is_some_and(|at| at <= now))
        {
            c.conn.handle_timeout(now);
        } else {
            self.server.handle_timeout(now);
        }
        self.drain();
        true
    }

    /// What is due at this instant (for a livelock report): queued inputs, companions whose
    /// deadline is due, the server's deadline.
    pub fn due_now(&self) -> String {
        let now = self.now;
        let inputs = self.queue.keys().filter(|(at, _)| *at <= now).count();
        let companions: Vec<usize> = self
            .companions
            .iter()
            .enumerate()
            .filter(|(_, c)| c.conn.poll_timeout().is_some_and(|at| at <= now))
            .map(|(i, _)| i)
            .collect();
        let server = self.server.poll_timeout().is_some_and(|at| at <= now);
        format!("{inputs} inputs, companions {companions:?}, server {server}")
    }

    /// Steps until `deadline` (or nothing is left), then lets the clock reach it.
    pub fn run_until_instant(&mut self, deadline: Instant) {
        while self.step(deadline) {}
        self.now = self.now.max(deadline);
    }

    fn drain(&mut self) {
        loop {
            for index in 0..self.companions.len() {
                self.drain_companion(index);
            }
            for index in std::mem::take(&mut self.crash_now) {
                self.crash_restart(index);
            }
            let moved = self.drain_server() | self.pump_devices();
            if !moved {
                break;
            }
        }
    }

    fn drain_companion(&mut self, index: usize) {
        loop {
            let output = self.companions[index].conn.poll_output();
            match output {
                Output::Transmit(t) => {
                    self.record(
                        Who::Companion(index),
                        Traced::Transmit {
                            transport: t.transport,
                            len: t.payload.len(),
                        },
                    );
                    let id = self.companions[index].conn_id(t.transport);
                    self.send_net(index, id, Direction::Up, t.payload);
                }
                Output::Action(action) => {
                    self.record(Who::Companion(index), Traced::Action(action.clone()));
                    self.on_action(index, action);
                }
                Output::Event(event) => {
                    self.record(Who::Companion(index), Traced::Event(event));
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
    }

    /// The server's transmits and closes, down each companion's network; `true` if any.
    fn drain_server(&mut self) -> bool {
        let mut moved = false;
        let mut segment: Option<(ConnId, Vec<u8>)> = None;
        while let Some((id, bytes)) = self.server.poll_transmit() {
            moved = true;
            match &mut segment {
                Some((current, buf)) if *current == id => buf.extend_from_slice(&bytes),
                _ => {
                    if let Some((prev, buf)) = segment.take() {
                        self.send_down(prev, buf);
                    }
                    segment = Some((id, bytes.to_vec()));
                }
            }
        }
        if let Some((prev, buf)) = segment {
            self.send_down(prev, buf);
        }
        while let Some(id) = self.server.poll_close() {
            moved = true;
            self.record(Who::Server, Traced::ServerClosed(id));
            let Some(index) = Companion::index_of(id).filter(|i| *i < self.companions.len()) else {
                continue;
            };
            match self.companions[index]
                .net
                .close(id, Direction::Down, self.now)
            {
                Some(at) => self.push(at, Input::ClosedByServer(id, "closed by the server")),
                None => self.record(
                    Who::Server,
                    Traced::Net(format!("{id}: close never arrives (link dead)")),
                ),
            }
        }
        moved
    }

    fn send_down(&mut self, id: ConnId, bytes: Vec<u8>) {
        if let Some(index) = Companion::index_of(id).filter(|i| *i < self.companions.len()) {
            self.send_net(index, id, Direction::Down, Bytes::from(bytes));
        }
    }

    /// Local devices exchange stanzas with the server; `true` if anything moved.
    fn pump_devices(&mut self) -> bool {
        let mut moved = false;
        for index in 0..self.devices.len() {
            let slot = &mut self.devices[index];
            if !slot.online {
                continue;
            }
            moved |= slot.device.exchange(&mut self.server, self.now);
            while let Some(event) = self.devices[index].device.poll_event() {
                self.record(Who::Device(index), Traced::Device(event));
            }
        }
        moved
    }

    fn send_net(&mut self, index: usize, id: ConnId, dir: Direction, bytes: Bytes) {
        let sent = self.companions[index].net.send(id, dir, &bytes, self.now);
        match sent {
            Sent::Deliver(pieces) => {
                for (at, piece) in pieces {
                    let input = match dir {
                        Direction::Up => Input::ToServer(id, piece),
                        Direction::Down => Input::ToClient(id, piece),
                    };
                    self.push(at, input);
                }
            }
            Sent::Reset { at, after } => {
                self.record(Who::Harness, Traced::LinkReset { conn: id, after });
                self.push(at, Input::CloseToServer(id));
                self.push(at, Input::ClosedByServer(id, "connection reset by peer"));
            }
            Sent::Lost(loss) => {
                let why = match loss {
                    Loss::Partition => "in a partition",
                    Loss::Reset => "after a reset",
                };
                self.record(
                    Who::Harness,
                    Traced::Net(format!("{id}: {} bytes lost {why}", bytes.len())),
                );
            }
        }
    }

    fn on_action(&mut self, index: usize, action: Action) {
        let now = self.now;
        match action {
            Action::OpenTransport { id, .. } => {
                let companion = &mut self.companions[index];
                companion.open.insert(id);
                if companion.open.len() > 1 {
                    let open = format!("{:?}", companion.open);
                    self.violation(&format!("companion {index}: two transports open: {open}"));
                }
                let cid = self.companions[index].conn_id(id);
                match self.server.connect_outcome() {
                    ConnectOutcome::Accept => match self.companions[index].net.open(cid, now) {
                        Some(at) => self.push(at, Input::Open(cid)),
                        None => {
                            self.record(Who::Harness, Traced::Hung(id));
                        }
                    },
                    ConnectOutcome::Refuse => {
                        self.record(Who::Harness, Traced::Refused(id));
                        self.push(now, Input::Failed(cid));
                    }
                    _ => self.record(Who::Harness, Traced::Hung(id)),
                }
            }
            Action::CloseTransport { id } => {
                let companion = &mut self.companions[index];
                companion.open.remove(&id);
                let cid = companion.conn_id(id);
                if let Some(at) = companion.net.close(cid, Direction::Up, now) {
                    self.push(at, Input::CloseToServer(cid));
                }
            }
            op @ (Action::PersistCredentials { .. }
            | Action::QuarantineCredentials { .. }
            | Action::LoadRecords { .. }) => {
                let companion = &mut self.companions[index];
                if matches!(op, Action::PersistCredentials { .. })
                    && companion.crash_at == Some(CrashPoint::PersistInFlight)
                {
                    // The process dies with this write in flight: it never reaches the store.
                    companion.crash_at = None;
                    self.crash_now.push(index);
                    return;
                }
                let at = now + companion.store_delay;
                self.push(at, Input::StoreOp(index, op));
            }
            Action::FetchVersion { .. } => self.push(now, Input::Version(index)),
            _ => {}
        }
    }

    fn deliver(&mut self, input: Input) {
        let now = self.now;
        match input {
            Input::Open(cid) => {
                let Some((index, t)) = self.transport(cid) else {
                    return;
                };
                self.server.handle_open(cid, now);
                self.record(Who::Server, Traced::ServerOpened(cid));
                self.companions[index]
                    .conn
                    .handle_transport(t, TransportEvent::Opened, now);
            }
            Input::Failed(cid) => {
                if let Some((index, t)) = self.transport(cid) {
                    self.companions[index].open.remove(&t);
                    let failure = TransportFailure::Refused {
                        target: "the simulated server".to_owned(),
                    };
                    self.companions[index].conn.handle_transport(
                        t,
                        TransportEvent::Failed { failure },
                        now,
                    );
                }
            }
            Input::ToServer(cid, bytes) => {
                self.server.handle_bytes(cid, &bytes, now);
                self.after_server_input();
            }
            Input::CloseToServer(cid) => self.server.handle_close(cid, now),
            Input::ToClient(cid, bytes) => {
                if let Some((index, t)) = self.transport(cid) {
                    self.companions[index].conn.handle_bytes(t, &bytes, now);
                }
            }
            Input::ClosedByServer(cid, why) => {
                if let Some((index, t)) = self.transport(cid) {
                    self.companions[index].open.remove(&t);
                    let detail = format!("{why} (simulated)");
                    self.companions[index].conn.handle_transport(
                        t,
                        TransportEvent::Closed { detail },
                        now,
                    );
                }
            }
            Input::StoreOp(index, action) => self.store_op(index, &action),
            Input::Version(index) => {
                self.record(Who::Companion(index), Traced::VersionAnswered);
                let answer: Result<_, VersionError> = Ok(Companion::version());
                self.companions[index].conn.handle_version(answer, now);
            }
        }
    }

    /// The companion and transport behind server-side id `cid`, if its process is current.
    fn transport(&self, cid: ConnId) -> Option<(usize, tether_core::connection::TransportId)> {
        let index = Companion::index_of(cid)?;
        let t = self.companions.get(index)?.transport_of(cid)?;
        Some((index, t))
    }

    fn store_op(&mut self, index: usize, action: &Action) {
        let Some((result, durable)) = self.companions[index].store_op(action) else {
            return;
        };
        if durable && let Action::PersistCredentials { seq, .. } = action {
            self.record(Who::Companion(index), Traced::Durable(*seq));
            if self.companions[index].crash_at == Some(CrashPoint::PersistDurable) {
                // Durable, and the process dies before it hears so.
                self.companions[index].crash_at = None;
                self.crash_now.push(index);
                return;
            }
        }
        self.record(Who::Companion(index), Traced::Store(result.clone()));
        let now = self.now;
        self.companions[index].conn.handle_store(result, now);
    }

    /// Records what the server received; fires `AfterSend` crashes.
    fn after_server_input(&mut self) {
        let (received, total) = self.server.received_since(self.received_seen);
        let received = received.to_vec();
        self.received_seen = total;
        for (id, node) in received {
            let is_message = node.tag == "message";
            self.record(Who::Server, Traced::ServerReceived(id, node));
            if !is_message {
                continue;
            }
            if let Some((index, _)) = self.transport(id)
                && self.companions[index].crash_at == Some(CrashPoint::AfterSend)
            {
                self.companions[index].crash_at = None;
                self.crash_now.push(index);
            }
        }
    }

    fn violation(&self, what: &str) -> ! {
        let tail: String = self
            .trace
            .iter()
            .skip(self.trace.len().saturating_sub(30))
            .map(|r| format!("{:>9}ms {:?} {:?}\n", r.at.as_millis(), r.who, r.what))
            .collect();
        panic!("invariant violated: {what}\n--- trace tail ---\n{tail}");
    }
}
