//! [`Conversation`]: one seeded run of the messaging world (issue 13 items 9 and 10).
//!
//! ```text
//!  seed ──► ConversationPlan::from_seed (or a fuzzed plan) ──┐
//!    │                                                        ▼
//!    └──► Mesh: accounts A and B (phone + Tether companion), C (phone); one FakeServer
//!           │  companions log in (linked offline), phones register their keys
//!           │  every step: the ledger absorbs the new trace records (ledger.rs invariants),
//!           │  the application confirms what it got (after a delay, or only at the end),
//!           │  a crashed companion is started again from its store and reconnects
//!           ▼
//!         each planned step at its offset: a send (companion or phone → any account, by LID
//!         or phone number) or a fault (fault_plan/messaging.rs)
//!           ▼
//!         the end: every connection dropped once (everything unacknowledged comes again),
//!         a quiet period, the applications confirm the rest, then the final checks: every
//!         companion connected, every server queue empty, every message where it belongs,
//!         in order, with typed outcomes
//! ```
//!
//! The run installs the same `tracing` subscriber as the connection [`World`](crate::World)
//! (an `error!` fails the run). The trace lines are hashed (FNV-1a): the same seed must give
//! the same hash. A failure carries the seed, the invariant, the trace tail and the replay
//! command.

mod cast;
mod groups;
mod ledger;
mod secrets;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use tether_core::connection::{Command, Event, State};
use tether_core::messaging::types::InboxPos;
use tether_core::proto::message::Message;

use cast::Cast;
use groups::GroupWatch;
use ledger::{Ledger, Party};

use crate::device::DeviceEvent;
use crate::fault_plan::messaging::{ConfirmPolicy, ConversationPlan, MessagingFault, Sender, Step};
use crate::mesh::{Mesh, MeshRecord, Who};
use crate::server::{DeviceAddr, PlantedBug};
use crate::trace::Traced;
use crate::world::apply::{FaultTarget, apply_to};
use crate::world::{Failure, QUIET, TAIL, scrub_instants, violated};
use secrets::{SecretWatch, TEXT_MARK};

/// Steps at one virtual instant beyond which a run counts as livelocked.
const STILL_STEPS: u64 = 50_000;
/// How long the companions may take to log in at the start.
const LOGIN_LIMIT: Duration = Duration::from_secs(120);
/// Flushes (everyone reconnects) at the end before a non-empty queue is a failure.
const FLUSHES: usize = 3;

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// FNV-1a hash of the trace lines.
    pub trace_hash: u64,
    /// The trace lines (instant-free).
    pub trace: Vec<String>,
    /// The plan that was run.
    pub plan: ConversationPlan,
    /// What the run did.
    pub stats: Stats,
    /// The first violated invariant, if any.
    pub failure: Option<Failure>,
}

/// Counts of what a run did (for the sweep's "it exercises what it checks").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sends the server acked (`Sent`).
    pub sent: u64,
    /// Sends that failed with a typed event.
    pub send_failed: u64,
    /// First deliveries to applications.
    pub delivered: u64,
    /// Typed undecryptables.
    pub undecryptable: u64,
    /// Companion crash-restarts.
    pub crashes: u64,
    /// Retry receipts sent (any device).
    pub retries: u64,
    /// Group messages the server accepted (retry resends excluded).
    pub group_messages: u64,
    /// Group membership changes the server applied.
    pub group_changes: u64,
}

/// The one-line command that replays `seed` of the messaging sweep verbosely.
pub fn replay_command(seed: u64) -> String {
    format!(
        "TETHER_SIM_CONV_SEED={seed} cargo test -p tether-tests --release --test sim_conversation -- --nocapture"
    )
}

/// The one-line command that replays `seed` of the group sweep verbosely.
pub fn group_replay_command(seed: u64) -> String {
    format!(
        "TETHER_SIM_GROUP_SEED={seed} cargo test -p tether-tests --release --test sim_group_conversation group_sweep_holds_every_invariant -- --include-ignored --nocapture"
    )
}

/// What to do at an instant.
#[derive(Debug)]
enum Agenda {
    /// The application of a companion confirms a message (if its process is still the one
    /// that emitted it).
    Confirm {
        companion: usize,
        epoch: u64,
        pos: InboxPos,
        key: (DeviceAddr, String),
    },
    /// A phone comes back online.
    PhoneBack(usize),
    /// A crashed companion's new process connects.
    Connect(usize),
    /// A headless companion links to the account.
    Link(u8),
}

/// The messaging world (see the module docs).
#[derive(Debug)]
pub struct Conversation {
    seed: u64,
    plan: ConversationPlan,
    mesh: Mesh,
    cast: Cast,
    ledger: Ledger,
    lines: Vec<String>,
    hash: u64,
    agenda: BTreeMap<(Instant, u64), Agenda>,
    agenda_n: u64,
    /// Per companion: what its current process emitted and the application has not confirmed.
    unconfirmed: Vec<Vec<(InboxPos, (DeviceAddr, String))>>,
    /// Per companion: a confirmation waiting for the write that carries it.
    confirm_waiting: Vec<Option<Vec<(DeviceAddr, String)>>>,
    /// Accounts to link a device to at the next usync that names them.
    link_on_usync: Vec<u8>,
    still: u64,
    last_instant: Option<Instant>,
    texts: u64,
    stats: Stats,
    planted: Option<PlantedBug>,
    reinstalls: u64,
    groups: GroupWatch,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Conversation {
    /// Runs `seed`: `ConversationPlan::from_seed(seed)`, every invariant checked.
    pub fn run(seed: u64) -> Outcome {
        Self::run_plan(seed, ConversationPlan::from_seed(seed), None)
    }

    /// Runs `ConversationPlan::with_groups(seed)` (a group, membership changes), with an
    /// optional planted bug; a failure's replay command is the group sweep's.
    pub fn run_groups(seed: u64, planted: Option<PlantedBug>) -> Outcome {
        let mut outcome = Self::run_plan(seed, ConversationPlan::with_groups(seed), planted);
        if let Some(failure) = &mut outcome.failure {
            failure.replay = group_replay_command(seed);
        }
        outcome
    }

    /// Runs `plan` with everything else seeded by `seed`, with an optional planted server bug.
    pub fn run_plan(seed: u64, plan: ConversationPlan, planted: Option<PlantedBug>) -> Outcome {
        let watch = SecretWatch::default();
        let mut outcome = tracing::subscriber::with_default(watch.clone(), || {
            Self::run_inner(seed, plan, planted)
        });
        let logged = watch
            .counter()
            .logged()
            .first_error
            .map(|first| format!("no error! log (the first: {first})"));
        let leaked = watch
            .leak()
            .map(|line| format!("no message text in logs: a log line carried one: {line}"));
        if outcome.failure.is_none()
            && let Some(invariant) = leaked.or(logged)
        {
            outcome.failure = Some(Failure {
                seed,
                invariant,
                tail: outcome
                    .trace
                    .iter()
                    .skip(outcome.trace.len().saturating_sub(TAIL))
                    .cloned()
                    .collect(),
                replay: replay_command(seed),
            });
        }
        outcome
    }

    fn run_inner(seed: u64, plan: ConversationPlan, planted: Option<PlantedBug>) -> Outcome {
        let (mesh, cast) = Cast::build(seed, &plan, planted);
        let companions = cast.companion.len();
        let mut world = Self {
            seed,
            plan,
            mesh,
            cast,
            ledger: Ledger::default(),
            lines: Vec::new(),
            hash: FNV_OFFSET,
            agenda: BTreeMap::new(),
            agenda_n: 0,
            unconfirmed: vec![Vec::new(); companions],
            confirm_waiting: vec![None; companions],
            link_on_usync: Vec::new(),
            still: 0,
            last_instant: None,
            texts: 0,
            stats: Stats::default(),
            planted,
            reinstalls: 0,
            groups: GroupWatch::default(),
        };
        let result = catch_unwind(AssertUnwindSafe(|| world.drive()));
        let invariant = violated(result);
        let tail = world
            .lines
            .iter()
            .skip(world.lines.len().saturating_sub(TAIL))
            .cloned()
            .collect();
        let mut stats = world.stats;
        stats.sent = world.ledger.sent;
        stats.send_failed = world.ledger.send_failed;
        stats.delivered = world.ledger.delivered;
        stats.undecryptable = world.ledger.undecryptable;
        stats.group_changes = world.groups.changes;
        stats.group_messages = world
            .mesh
            .server
            .accepted()
            .iter()
            .filter(|a| *a.to.server() == tether_core::binary::Server::Group)
            .filter(|a| a.retry_count.is_none())
            .count() as u64;
        Outcome {
            seed,
            trace_hash: world.hash,
            trace: world.lines,
            plan: world.plan,
            stats,
            failure: invariant.map(|invariant| Failure {
                seed,
                invariant,
                tail,
                replay: replay_command(seed),
            }),
        }
    }

    fn drive(&mut self) -> Result<(), String> {
        for index in 0..self.cast.companion.len() {
            self.mesh
                .command(index, Command::Connect)
                .map_err(|e| format!("connect refused: {e}"))?;
        }
        self.absorb()?;
        let login_by = self.mesh.now() + LOGIN_LIMIT;
        while !self.all_connected() {
            if !self.mesh.step(login_by) {
                return Err(format!(
                    "the companions did not log in within {LOGIN_LIMIT:?}"
                ));
            }
            self.absorb()?;
        }
        if self.plan.has_group() {
            let lid = self.seed.is_multiple_of(2);
            self.groups.create(&mut self.mesh, &self.cast, lid)?;
            self.mesh.settle();
            self.absorb()?;
        }
        let start = self.mesh.elapsed();
        let steps = self.plan.steps.clone();
        for (offset, step) in &steps {
            self.advance(self.mesh.at(start + *offset))?;
            self.push_line(format!(
                "{:>9}ms STEP {step:?}",
                self.mesh.elapsed().as_millis()
            ));
            self.apply(step)?;
            self.absorb()?;
        }
        let end = start + self.plan.last_offset() + Cast::SETTLE;
        self.advance(self.mesh.at(end))?;
        // The faults are over: pending delivery faults go, armed crashes are disarmed.
        self.mesh.server.clear_delivery_faults();
        for index in 0..self.mesh.companions.len() {
            self.mesh.companions[index].crash_at = None;
        }
        // Phones still away come back (their sends go out, their queues drain).
        for index in 0..self.mesh.devices.len() {
            if !self.mesh.devices[index].online {
                self.mesh.set_online(index, true);
            }
        }
        // Devices still waiting for a usync to be linked at: link them now.
        for account in std::mem::take(&mut self.link_on_usync) {
            self.cast.link_headless(&mut self.mesh, account);
        }
        self.confirm_everything()?;
        let settle = self.mesh.now() + Cast::SETTLE;
        self.advance(settle)?;
        // Until everything is acknowledged and everyone is up: everyone reconnects (what was
        // not acknowledged comes again), a quiet period, the applications confirm the rest.
        for round in 0..=FLUSHES {
            let waiting = self.waiting_queues();
            if waiting.is_empty() && self.all_connected() {
                break;
            }
            if round == FLUSHES {
                return Err(format!(
                    "every stanza acknowledged: still queued at the end for {waiting:?}"
                ));
            }
            self.flush()?;
            let quiet = self.mesh.now() + QUIET;
            self.advance(quiet)?;
            self.confirm_everything()?;
            let settle = self.mesh.now() + Cast::SETTLE;
            self.advance(settle)?;
        }
        if !self.all_connected() {
            let states: Vec<String> = self
                .mesh
                .companions
                .iter()
                .map(|c| format!("{:?}", c.conn.state()))
                .collect();
            return Err(format!("every companion connected at the end: {states:?}"));
        }
        let parties = self.cast.parties.clone();
        self.ledger
            .finish(&self.mesh.server, &|addr| parties.get(addr).copied())?;
        self.groups.finish(&self.mesh, &self.cast, &self.ledger)
    }

    fn all_connected(&self) -> bool {
        self.mesh
            .companions
            .iter()
            .all(|c| *c.conn.state() == State::Connected)
    }

    fn waiting_queues(&self) -> Vec<String> {
        self.cast
            .all_devices()
            .iter()
            .filter_map(|addr| {
                let jid = tether_core::binary::Jid::device(
                    &addr.user,
                    addr.device,
                    tether_core::binary::Server::WhatsApp,
                );
                let queued = self.mesh.server.queued(&jid);
                (!queued.is_empty()).then(|| format!("{addr}: {queued:?}"))
            })
            .collect()
    }

    /// Everyone reconnects once: what was not acknowledged comes again.
    fn flush(&mut self) -> Result<(), String> {
        self.push_line(format!("{:>9}ms FLUSH", self.mesh.elapsed().as_millis()));
        let now = self.mesh.now();
        for index in 0..self.mesh.companions.len() {
            if let Some(id) = self.mesh.companions[index].server_conn() {
                self.mesh
                    .server
                    .inject(id, crate::server::Fault::AbruptClose, now);
            }
        }
        for index in 0..self.mesh.devices.len() {
            if self.mesh.devices[index].online {
                self.mesh.set_online(index, false);
                self.mesh.set_online(index, true);
            }
        }
        self.mesh.settle();
        self.absorb()
    }

    /// The applications confirm everything their current processes emitted.
    fn confirm_everything(&mut self) -> Result<(), String> {
        for companion in 0..self.unconfirmed.len() {
            let all = std::mem::take(&mut self.unconfirmed[companion]);
            if all.is_empty() {
                continue;
            }
            let (positions, keys): (Vec<InboxPos>, Vec<_>) = all.into_iter().unzip();
            self.confirm(companion, positions, keys)?;
        }
        Ok(())
    }

    fn confirm(
        &mut self,
        companion: usize,
        positions: Vec<InboxPos>,
        keys: Vec<(DeviceAddr, String)>,
    ) -> Result<(), String> {
        self.absorb()?;
        self.confirm_waiting[companion] = Some(keys);
        self.mesh
            .command(companion, Command::Confirm { positions })
            .map_err(|e| format!("confirm refused: {e}"))?;
        self.absorb()?;
        if let Some(keys) = self.confirm_waiting[companion].take() {
            let epoch = self.mesh.companions[companion].epoch();
            self.ledger.confirming(companion, epoch, keys, None);
        }
        Ok(())
    }

    /// Steps until `deadline`, doing what the agenda says on the way.
    fn advance(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            let next = self
                .agenda
                .keys()
                .next()
                .map_or(deadline, |(at, _)| (*at).min(deadline));
            while self.mesh.step(next) {
                self.progressed()?;
                self.absorb()?;
            }
            self.absorb()?;
            self.mesh.run_until_instant(next);
            let now = self.mesh.now();
            let due: Vec<Agenda> = {
                let later = self.agenda.split_off(&(now, u64::MAX));
                std::mem::replace(&mut self.agenda, later)
                    .into_values()
                    .collect()
            };
            for item in due {
                self.on_agenda(item)?;
            }
            if next >= deadline
                && self
                    .agenda
                    .keys()
                    .next()
                    .is_none_or(|(at, _)| *at > deadline)
            {
                return Ok(());
            }
        }
    }

    fn schedule(&mut self, at: Instant, item: Agenda) {
        self.agenda_n += 1;
        self.agenda.insert((at, self.agenda_n), item);
    }

    fn on_agenda(&mut self, item: Agenda) -> Result<(), String> {
        match item {
            Agenda::Confirm {
                companion,
                epoch,
                pos,
                key,
            } => {
                if self.mesh.companions[companion].epoch() != epoch {
                    return Ok(());
                }
                self.unconfirmed[companion].retain(|(p, _)| *p != pos);
                self.confirm(companion, vec![pos], vec![key])
            }
            Agenda::PhoneBack(device) => {
                self.mesh.set_online(device, true);
                self.absorb()
            }
            Agenda::Connect(companion) => {
                self.mesh
                    .command(companion, Command::Connect)
                    .map_err(|e| format!("connect after a restart refused: {e}"))?;
                self.absorb()
            }
            Agenda::Link(account) => {
                self.cast.link_headless(&mut self.mesh, account);
                self.absorb()
            }
        }
    }

    fn progressed(&mut self) -> Result<(), String> {
        let now = self.mesh.now();
        if self.last_instant == Some(now) {
            self.still += 1;
            if self.still > STILL_STEPS {
                return Err(format!(
                    "virtual time moves on: {STILL_STEPS} steps at {:?} (a livelock; due: {})",
                    self.mesh.elapsed(),
                    self.mesh.due_now()
                ));
            }
        } else {
            self.last_instant = Some(now);
            self.still = 0;
        }
        Ok(())
    }

    fn apply(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send { from, to, lid } => {
                let jid = self.cast.user(*to, *lid);
                self.send(*from, jid)
            }
            Step::GroupSend { from } => match self.groups.group().cloned() {
                Some(group) => self.send(*from, group),
                None => Ok(()),
            },
            Step::GroupChange { add, account } => {
                self.groups
                    .change(&mut self.mesh, &self.cast, &self.ledger, *add, *account)?;
                self.mesh.settle();
                Ok(())
            }
            Step::Fault(fault) => {
                tracing::warn!(?fault, "injecting a planned messaging fault");
                self.fault(fault);
                Ok(())
            }
        }
    }

    fn send(&mut self, from: Sender, jid: tether_core::binary::Jid) -> Result<(), String> {
        self.texts += 1;
        let text = format!("message {} of seed {}", self.texts, self.seed);
        let to_group = *jid.server() == tether_core::binary::Server::Group;
        match from {
            Sender::Companion(account) => {
                let index = self.cast.companion[usize::from(account)];
                let epoch = self.mesh.companions[index].epoch();
                let id = self
                    .mesh
                    .send_message(index, jid, Message::text(text.clone()))
                    .map_err(|e| format!("send refused: {e}"))?;
                self.ledger
                    .send_started(Party::Companion(index), epoch, id.as_str(), &text);
                if to_group {
                    self.groups.send_started(index, id.as_str());
                }
            }
            Sender::Phone(account) => {
                let index = self.cast.phone_device[usize::from(account)];
                let unix = self.mesh.server.unix_at(self.mesh.now());
                let id = self.mesh.devices[index].device.send_text(&jid, &text, unix);
                self.ledger
                    .send_started(Party::Device(index), 0, &id, &text);
                self.mesh.settle();
            }
        }
        Ok(())
    }

    fn fault(&mut self, fault: &MessagingFault) {
        let now = self.mesh.now();
        match fault {
            MessagingFault::Connection { companion, fault } => {
                let index = self.cast.companion[usize::from(*companion)];
                let companion = &mut self.mesh.companions[index];
                let current = companion.server_conn();
                apply_to(
                    FaultTarget {
                        server: &mut self.mesh.server,
                        net: &mut companion.net,
                        store: &mut companion.store,
                        current,
                        now,
                    },
                    fault,
                );
            }
            MessagingFault::Crash { companion } => {
                let index = self.cast.companion[usize::from(*companion)];
                self.mesh.crash_restart(index);
            }
            MessagingFault::CrashAt { companion, point } => {
                let index = self.cast.companion[usize::from(*companion)];
                self.mesh.crash_at(index, *point);
            }
            MessagingFault::PhoneAway { account, secs } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.set_online(device, false);
                self.schedule(
                    now + Duration::from_secs(u64::from(*secs)),
                    Agenda::PhoneBack(device),
                );
            }
            MessagingFault::DuplicateDeliveries { companion, n } => {
                let jid = self.companion_jid(*companion);
                self.mesh
                    .server
                    .duplicate_next_deliveries(&jid, u32::from(*n));
            }
            MessagingFault::LoseAcks { companion, n } => {
                let jid = self.companion_jid(*companion);
                self.mesh.server.lose_next_acks(&jid, u32::from(*n));
            }
            MessagingFault::DrainPreKeys { account } => {
                self.cast.drain_pre_keys(&mut self.mesh, *account)
            }
            MessagingFault::RotateSignedPreKey { account } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device].device.rotate_signed_pre_key();
            }
            MessagingFault::Reinstall => {
                let device = self.cast.phone_device[2];
                // Each reinstall makes a new identity (a repeat of one would reissue its
                // pre-key ids under the same identity).
                self.reinstalls += 1;
                let mut private = [0u8; 32];
                private[..8].copy_from_slice(&self.seed.to_le_bytes());
                private[8] = 0x77;
                private[9..17].copy_from_slice(&self.reinstalls.to_le_bytes());
                let identity = tether_signal::IdentityKeyPair::from_private_bytes(private);
                self.mesh.devices[device].device.reinstall(identity);
            }
            MessagingFault::LinkDevice { account } => self.link_on_usync.push(*account),
            MessagingFault::ForgetSessions { account } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device].device.forget_sessions();
            }
            MessagingFault::CorruptSends { account, n } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device]
                    .device
                    .corrupt_next_encs(u32::from(*n));
            }
            MessagingFault::FailDecrypts { account, n } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device]
                    .device
                    .fail_next_decrypts(u32::from(*n));
            }
        }
        self.mesh.settle();
    }

    fn companion_jid(&self, companion: u8) -> tether_core::binary::Jid {
        let addr = &self.cast.companion_addr[usize::from(companion)];
        tether_core::binary::Jid::device(
            &addr.user,
            addr.device,
            tether_core::binary::Server::WhatsApp,
        )
    }

    fn push_line(&mut self, line: String) {
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.lines.push(line);
    }

    /// Takes the new trace records: a hashed line each, and the ledger's checks.
    fn absorb(&mut self) -> Result<(), String> {
        let new = self.mesh.take_trace();
        for record in new {
            let text = line(&record);
            if matches!(record.who, Who::Companion(_)) && text.contains(TEXT_MARK) {
                return Err(format!(
                    "no message text in Debug output: a companion's record carried one: {text}"
                ));
            }
            self.push_line(text);
            self.on_record(&record)?;
        }
        self.ledger.check_wire(&self.mesh.server)?;
        self.ledger.check_handouts(&self.mesh.server)?;
        if let Some(complaint) = self.mesh.server.complaints().first() {
            return Err(format!(
                "no protocol violation: the server complained: {} ({:?})",
                complaint.what, complaint.device
            ));
        }
        Ok(())
    }

    fn sender_addr(&self, jid: &tether_core::binary::Jid) -> Result<DeviceAddr, String> {
        self.mesh
            .server
            .device_of(jid)
            .ok_or_else(|| format!("a message from {jid}, which names no device"))
    }

    fn on_record(&mut self, record: &MeshRecord) -> Result<(), String> {
        let now = self.mesh.now();
        match (&record.who, &record.what) {
            (Who::Companion(i), Traced::Event(event)) => {
                let i = *i;
                let epoch = self.mesh.companions[i].epoch();
                match event {
                    Event::Message(m) => {
                        if self.planted == Some(PlantedBug::PlaintextLogged) {
                            tracing::debug!(
                                target: "tether_core::messaging::inbox",
                                id = %m.id.as_str(),
                                text = ?m.text(),
                                "message received"
                            );
                        }
                        let sender = self.sender_addr(&m.sender)?;
                        self.ledger.delivered(
                            Party::Companion(i),
                            epoch,
                            sender.clone(),
                            m.id.as_str(),
                            m.text(),
                            false,
                        )?;
                        self.emitted(i, epoch, m.inbox, (sender, m.id.as_str().to_owned()), now);
                    }
                    Event::Undecryptable(u) => {
                        let sender = self.sender_addr(&u.sender)?;
                        self.ledger.delivered(
                            Party::Companion(i),
                            epoch,
                            sender.clone(),
                            u.id.as_str(),
                            None,
                            true,
                        )?;
                        self.emitted(i, epoch, u.inbox, (sender, u.id.as_str().to_owned()), now);
                    }
                    Event::Sent { id, .. } => self.ledger.send_finished(id.as_str(), true),
                    Event::SendFailed { id, reason } => {
                        if let tether_core::messaging::types::SendError::DeviceUnreachable {
                            device,
                            ..
                        } = reason
                            && let Some(addr) = device
                                .parse()
                                .ok()
                                .and_then(|jid| self.mesh.server.device_of(&jid))
                        {
                            self.ledger.unreachable(addr, id.as_str());
                        }
                        self.ledger.send_finished(id.as_str(), false);
                    }
                    _ => {}
                }
            }
            (Who::Companion(i), Traced::Crashed { .. }) => {
                let i = *i;
                self.stats.crashes += 1;
                self.ledger.crashed(i, &self.mesh.companions[i].store);
                self.ledger.forget_confirming(i);
                self.unconfirmed[i].clear();
                self.confirm_waiting[i] = None;
                self.schedule(now, Agenda::Connect(i));
            }
            (Who::Companion(i), Traced::Durable(seq)) => self.ledger.durable(*i, seq.0),
            (
                Who::Companion(i),
                Traced::Action(tether_core::connection::Action::PersistCredentials { seq, .. }),
            ) => {
                if let Some(keys) = self.confirm_waiting[*i].take() {
                    let epoch = self.mesh.companions[*i].epoch();
                    self.ledger.confirming(*i, epoch, keys, Some(seq.0));
                }
            }
            (Who::Device(j), Traced::Device(event)) => self.on_device_event(*j, event)?,
            (Who::Server, Traced::ServerReceived(conn, node)) => {
                if node.tag == "receipt" && node.attr_str("type") == Some("retry") {
                    self.stats.retries += 1;
                }
                if let Some(i) = crate::mesh::Companion::index_of(*conn)
                    && i < self.mesh.companions.len()
                {
                    self.groups.companion_sent(i, node);
                    let own = self.cast.companion_addr[i].clone();
                    self.ledger.companion_sent(
                        i,
                        &own,
                        node,
                        &self.mesh.companions[i].store,
                        &self.mesh.server,
                    )?;
                }
                if node.attr_str("xmlns") == Some("usync") && !self.link_on_usync.is_empty() {
                    self.link_if_named(node, now);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_device_event(&mut self, j: usize, event: &DeviceEvent) -> Result<(), String> {
        match event {
            DeviceEvent::Received(r) => {
                let sender = self.sender_addr(&r.sender)?;
                self.ledger.delivered(
                    Party::Device(j),
                    0,
                    sender,
                    &r.id,
                    r.text.as_deref(),
                    false,
                )?;
            }
            DeviceEvent::Undecryptable { id, from, .. } => {
                let sender = self.sender_addr(from)?;
                self.ledger
                    .delivered(Party::Device(j), 0, sender, id, None, true)?;
            }
            DeviceEvent::RetryRequested { id, .. } => {
                self.stats.retries += 1;
                let own = self.mesh.devices[j].device.jid();
                if let Some(addr) = self.mesh.server.device_of(&own) {
                    self.ledger.retried(addr, id);
                }
            }
            DeviceEvent::Sent { id, .. } => self.ledger.send_finished(id, true),
            DeviceEvent::SendFailed { id, .. } => self.ledger.send_finished(id, false),
            _ => {}
        }
        Ok(())
    }

    /// A companion's message came out: confirm it as the application's policy says.
    fn emitted(
        &mut self,
        companion: usize,
        epoch: u64,
        pos: InboxPos,
        key: (DeviceAddr, String),
        now: Instant,
    ) {
        let account = self
            .cast
            .companion
            .iter()
            .position(|c| *c == companion)
            .unwrap_or(0);
        match self.plan.confirm[account] {
            ConfirmPolicy::After(delay) => self.schedule(
                now + delay,
                Agenda::Confirm {
                    companion,
                    epoch,
                    pos,
                    key: key.clone(),
                },
            ),
            ConfirmPolicy::AtTheEnd => {}
        }
        self.unconfirmed[companion].push((pos, key));
    }

    /// An armed device link fires when a usync names its account.
    fn link_if_named(&mut self, iq: &tether_core::binary::Node, now: Instant) {
        let users: Vec<String> = iq
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(|l| {
                l.child_nodes()
                    .iter()
                    .filter_map(|u| crate::server::jid_attr_of(u, "jid"))
                    .filter_map(|j| self.mesh.server.phone_number_of(&j))
                    .collect()
            })
            .unwrap_or_default();
        let armed = std::mem::take(&mut self.link_on_usync);
        for account in armed {
            let pn = self.cast.phones[usize::from(account)]
                .phone_number()
                .to_owned();
            if users.contains(&pn) {
                self.schedule(now, Agenda::Link(account));
            } else {
                self.link_on_usync.push(account);
            }
        }
    }
}

/// A trace line without absolute instants.
fn line(record: &MeshRecord) -> String {
    let ms = record.at.as_millis();
    let what = match &record.what {
        Traced::Transmit { transport, len } => format!("tx {transport} {len}"),
        Traced::ServerReceived(id, node) => format!("server<-{id}: {node}"),
        other => scrub_instants(&format!("{other:?}")),
    };
    format!("{ms:>9}ms {:?} {what}", record.who)
}
