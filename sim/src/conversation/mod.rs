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
//!
//! Here: the run from login to the final checks. `agenda.rs`: virtual time and what is due
//! (confirmations, phones back, restarts, links); `steps.rs`: the plan's sends, membership
//! changes and faults; `observe.rs`: the trace lines and the checks they feed; `cast.rs`:
//! who takes part; `ledger.rs` and `groups.rs`: the invariants; `secrets.rs`: the log watch.

mod agenda;
mod cast;
mod groups;
mod ledger;
mod observe;
mod secrets;
mod steps;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use tether_core::connection::{Command, State};
use tether_core::messaging::types::InboxPos;

use agenda::Agenda;
use cast::Cast;
use groups::GroupWatch;
use ledger::Ledger;

use crate::fault_plan::messaging::ConversationPlan;
use crate::mesh::Mesh;
use crate::server::{DeviceAddr, PlantedBug};
use crate::world::{Failure, QUIET, TAIL, violated};
use secrets::SecretWatch;

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

impl Stats {
    /// Adds `other`'s counts to these (a sweep's total).
    pub fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.send_failed += other.send_failed;
        self.delivered += other.delivered;
        self.undecryptable += other.undecryptable;
        self.crashes += other.crashes;
        self.retries += other.retries;
        self.group_messages += other.group_messages;
        self.group_changes += other.group_changes;
    }
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
            hash: observe::FNV_OFFSET,
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
}
