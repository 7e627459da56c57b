//! [`World`]: one seeded simulation run (`DESIGN.md` §7).
//!
//! ```text
//!  seed ──► FaultPlan::from_seed (or a fuzzed Schedule) ──┐
//!    │                                                     ▼
//!    └──► Stepper (connection, server, phone, store, network with the plan's shape; seeded)
//!           │  link a fresh account (QR scan)
//!           │  every step: Stepper checks + World checks (model.rs) + trace line → hash
//!           ▼
//!         apply each planned fault at link + offset (apply.rs; a crash-restart rebuilds the
//!         connection from the store and connects again), run to link + last offset + QUIET
//!           ▼
//!         final checks: Connected again unless the plan may stop it (and in any case connected
//!         or stopped); every ack-expecting stanza on the live connection acked; no `error!`
//! ```
//!
//! The run installs its own `tracing` subscriber (log.rs) that counts `warn!` (every injected
//! fault logs one) and fails the run on any `error!`.
//!
//! The trace (every record, without absolute instants, plus a line per applied fault) is
//! hashed with FNV-1a, so the same seed must give the same [`Outcome::trace_hash`]. A panic
//! anywhere (a Stepper invariant, or a bug) is caught and reported as a [`Failure`] with the
//! seed, the invariant, the last 30 trace lines and a replay command.

pub(crate) mod apply;
pub(crate) mod log;
mod model;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use tether_core::backoff::ReconnectConfig;
use tether_core::connection::{Command, Event, State};

use crate::fault_plan::arbitrary::Schedule;
use crate::fault_plan::{FaultPlan, PlannedFault};
use crate::server::ServerConfig;
use crate::stepper::{Options, Stepper};
use crate::trace::{Record, Traced};
use model::Model;

/// Virtual time after the last fault within which the connection must be up again.
pub const QUIET: Duration = Duration::from_secs(600);
/// How long linking may take.
pub const LINK_LIMIT: Duration = Duration::from_secs(600);
/// Trace lines a failure report keeps.
pub const TAIL: usize = 30;
/// How soon the client must ack a stanza that expects one (checked at the end of a run).
pub const ACK_WITHIN: Duration = Duration::from_secs(10);
/// Steps at one virtual instant beyond which a run counts as livelocked.
pub const STILL_STEPS: u64 = 10_000;
/// The client's frame limit in a world (an oversized frame fault announces more).
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// The result of one [`World::run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// FNV-1a hash of the trace lines.
    pub trace_hash: u64,
    /// The trace lines (instant-free).
    pub trace: Vec<String>,
    /// The plan that was applied.
    pub plan: FaultPlan,
    /// The reason the connection stopped, if it did (its log line).
    pub stopped: Option<String>,
    /// Counted retries whose delay was checked against the §4 bounds.
    pub retries_checked: u32,
    /// `warn!` events logged during the run.
    pub warnings: u64,
    /// The first violated invariant, if any.
    pub failure: Option<Failure>,
}

/// A violated invariant.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub invariant: String,
    /// The last [`TAIL`] trace lines.
    pub tail: Vec<String>,
    /// The one-line command that replays this seed verbosely.
    pub replay: String,
}

impl Failure {
    /// The one-line command that replays this seed verbosely.
    pub fn replay(&self) -> String {
        self.replay.clone()
    }
}

/// The one-line command that replays `seed` of the connection sweep verbosely.
pub fn replay_command(seed: u64) -> String {
    format!(
        "TETHER_SIM_SEED={seed} cargo test -p tether-tests --release --test sim_sweep -- --nocapture"
    )
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: invariant violated: {}",
            self.seed, self.invariant
        )?;
        writeln!(f, "--- last {} trace lines ---", self.tail.len())?;
        for line in &self.tail {
            writeln!(f, "{line}")?;
        }
        write!(f, "replay: {}", self.replay())
    }
}

/// One seeded run (see the module docs).
#[derive(Debug)]
pub struct World {
    seed: u64,
    plan: FaultPlan,
    model: Model,
    lines: Vec<String>,
    seen: usize,
    hash: u64,
    /// Steps taken at the current virtual instant (a livelock guard).
    still: u64,
    last_instant: Option<Instant>,
    /// When a deferred fault last actually took effect: a planned link reset fires once its
    /// byte budget is spent (on an idle link, minutes after it was planned), and refused or
    /// hung connects are used up one reconnect attempt at a time (each hung one costs the
    /// connect timeout plus a backoff delay).
    fault_took_effect: Option<Duration>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl World {
    /// Runs `seed`: links, applies `FaultPlan::from_seed(seed)`, checks every invariant.
    pub fn run(seed: u64) -> Outcome {
        Self::run_plan(seed, FaultPlan::from_seed(seed))
    }

    /// Runs a fuzzed [`Schedule`].
    pub fn run_schedule(schedule: &Schedule) -> Outcome {
        Self::run_plan(schedule.seed, schedule.plan.clone())
    }

    /// Runs `plan` with everything else seeded by `seed`.
    pub fn run_plan(seed: u64, plan: FaultPlan) -> Outcome {
        let counter = log::LogCounter::default();
        let mut outcome =
            tracing::subscriber::with_default(counter.clone(), || Self::run_inner(seed, plan));
        let logged = counter.logged();
        outcome.warnings = logged.warnings;
        if outcome.failure.is_none()
            && let Some(first) = logged.first_error
        {
            outcome.failure = Some(Failure {
                seed,
                invariant: format!(
                    "no error! log ({} logged; the first: {first})",
                    logged.errors
                ),
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

    fn run_inner(seed: u64, plan: FaultPlan) -> Outcome {
        let mut world = Self {
            seed,
            model: Model::new(ReconnectConfig::default(), plan.may_stop()),
            plan,
            lines: Vec::new(),
            seen: 0,
            hash: FNV_OFFSET,
            still: 0,
            last_instant: None,
            fault_took_effect: None,
        };
        let result = catch_unwind(AssertUnwindSafe(|| world.drive()));
        let invariant = violated(result);
        let failure = invariant.map(|invariant| Failure {
            seed,
            invariant,
            tail: world.tail(TAIL),
            replay: replay_command(seed),
        });
        Outcome {
            seed,
            trace_hash: world.hash,
            stopped: world.model.stopped.as_ref().map(|r| r.closed_line()),
            retries_checked: world.model.retries_checked,
            warnings: 0,
            trace: world.lines,
            plan: world.plan,
            failure,
        }
    }

    fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }

    fn drive(&mut self) -> Result<(), String> {
        let options = Options {
            seed: self.seed,
            server: ServerConfig {
                seed: self.seed.wrapping_add(1),
                ..ServerConfig::default()
            },
            net: self.plan.net.clone(),
            ..Options::default()
        };
        let mut sim = Stepper::new(options, |config| {
            config.max_frame_len = MAX_FRAME_LEN;
        });
        self.push_line(format!("net {:?}", self.plan.net));
        self.absorb(&sim)?;
        sim.command(Command::Connect)
            .map_err(|e| format!("connect refused: {e}"))?;
        self.absorb(&sim)?;
        let link_limit = sim.now() + LINK_LIMIT;
        while *sim.conn.state() != State::Connected {
            if !sim.step(link_limit) {
                return Err(format!("not linked within {LINK_LIMIT:?}"));
            }
            self.progressed(&sim)?;
            self.absorb(&sim)?;
        }
        let linked = sim.elapsed();
        let faults = self.plan.faults.clone();
        for (offset, fault) in &faults {
            self.advance(&mut sim, linked + *offset)?;
            self.push_line(format!(
                "{:>9}ms FAULT {fault:?}",
                sim.elapsed().as_millis()
            ));
            if *fault == PlannedFault::CrashRestart {
                tracing::warn!("injecting a planned crash-restart");
                sim.crash_restart();
                self.model.on_crash();
                self.absorb(&sim)?;
                sim.command(Command::Connect)
                    .map_err(|e| format!("connect after a restart refused: {e}"))?;
            } else {
                apply::apply(&mut sim, fault);
            }
            self.absorb(&sim)?;
        }
        // The quiet period runs from the last fault, or from a deferred fault (a reset, a
        // refused or hung connect) that took effect later.
        let mut quiet_from = linked + self.plan.last_offset();
        loop {
            self.advance(&mut sim, quiet_from + QUIET)?;
            match self.fault_took_effect.take() {
                Some(at) if at > quiet_from => quiet_from = at,
                _ => break,
            }
        }
        let state = sim.conn.state();
        let settled = matches!(state, State::Connected | State::Stopped(_));
        // A stop the model accepted (a terminal fault, or a second 405 before any login)
        // is a legitimate end; anything else must be up again.
        let may_stop = self.plan.may_stop() || self.model.stopped.is_some();
        if (!may_stop && *state != State::Connected) || !settled {
            // A plan that may stop must still end settled: stopped, or up again.
            return Err(format!(
                "not connected again {QUIET:?} after the last transient fault (state {state:?})"
            ));
        }
        if *state == State::Connected
            && let Some(conn) = sim.server_conn()
            && let Some((stanza, at)) = sim.server.unacked(conn).into_iter().next()
            && sim.now().saturating_duration_since(at) > ACK_WITHIN
        {
            return Err(format!(
                "every ack-expecting stanza is acked: {stanza} on {conn} has none after {:?}",
                sim.now().saturating_duration_since(at)
            ));
        }
        Ok(())
    }

    /// Steps until `offset` (since the start), checking after every step.
    fn advance(&mut self, sim: &mut Stepper, offset: Duration) -> Result<(), String> {
        let deadline = sim.at(offset);
        while sim.step(deadline) {
            self.progressed(sim)?;
            self.absorb(sim)?;
        }
        // Nothing left to do before the deadline: let the clock reach it.
        if sim.now() < deadline {
            sim.run_for(deadline - sim.now());
        }
        self.absorb(sim)
    }

    /// Virtual time must move on: [`STILL_STEPS`] steps at one instant is a livelock (a timer
    /// that fires without being rearmed later, or two parts feeding each other forever).
    fn progressed(&mut self, sim: &Stepper) -> Result<(), String> {
        let now = sim.now();
        if self.last_instant == Some(now) {
            self.still += 1;
            if self.still > STILL_STEPS {
                return Err(format!(
                    "virtual time moves on: {STILL_STEPS} steps at {:?} without it advancing \
                     (a livelock)",
                    sim.elapsed()
                ));
            }
        } else {
            self.last_instant = Some(now);
            self.still = 0;
        }
        Ok(())
    }

    /// Takes the new trace records: a line each (hashed) and the model's checks.
    fn absorb(&mut self, sim: &Stepper) -> Result<(), String> {
        let base = sim.at(Duration::ZERO);
        let new: Vec<Record> = sim.trace().get(self.seen..).unwrap_or_default().to_vec();
        self.seen += new.len();
        for record in new {
            if matches!(
                record.what,
                Traced::LinkReset { .. } | Traced::Refused(_) | Traced::Hung(_)
            ) {
                self.fault_took_effect = Some(record.at);
            }
            self.push_line(line(base, &record));
            self.model.on_record(base, record.at, &record.what)?;
        }
        Ok(())
    }

    fn push_line(&mut self, line: String) {
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.lines.push(line);
    }
}

/// A trace line without absolute instants (each run has its own base `Instant`).
fn line(base: Instant, record: &Record) -> String {
    let ms = record.at.as_millis();
    let now = base + record.at;
    let what = match &record.what {
        Traced::Transmit { transport, len } => format!("tx {transport} {len}"),
        Traced::ServerReceived(id, node) => format!("server<-{id}: {node}"),
        Traced::Event(Event::Disconnected {
            reason,
            reconnect_at,
            attempt,
            max_attempts,
        }) => format!(
            "Disconnected {{ reason: {reason:?}, reconnect_in: {:?}, attempt: {attempt}, max: {max_attempts:?} }}",
            reconnect_at.map(|at| at.saturating_duration_since(now))
        ),
        Traced::Event(Event::QrCode { code, expires_at }) => format!(
            "QrCode {{ code: {code}, expires_in: {:?} }}",
            expires_at.saturating_duration_since(now)
        ),
        other => scrub_instants(&format!("{other:?}")),
    };
    format!("{ms:>9}ms {what}")
}

/// The invariant a run's result violated: its own error, or "no panic" with the first line
/// of a panic's message.
pub(crate) fn violated(result: std::thread::Result<Result<(), String>>) -> Option<String> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(what)) => Some(what),
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let first = text.lines().next().unwrap_or_default().to_owned();
            Some(format!("no panic: {first}"))
        }
    }
}

/// Replaces every `Instant { … }` in a `Debug` text by `Instant`.
pub(crate) fn scrub_instants(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("Instant {") {
        out.push_str(rest.get(..start).unwrap_or_default());
        out.push_str("Instant");
        let after = rest.get(start..).unwrap_or_default();
        match after.find('}') {
            Some(end) => rest = after.get(end + 1..).unwrap_or_default(),
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_instants_from_debug_text() {
        let text = "A { at: Instant { tv_sec: 5, tv_nsec: 7 }, b: 1 } Instant { x }";
        assert_eq!(scrub_instants(text), "A { at: Instant, b: 1 } Instant");
    }
}
