//! [`World`]: one seeded simulation run (`DESIGN.md` §7).
//!
//! ```text
//!  seed ──► FaultPlan::from_seed ──────────────┐
//!    │                                          ▼
//!    └──► Stepper (connection, server, phone, store; seeded) ──► link a fresh account (QR scan)
//!           │ every step: Stepper checks + World checks (model.rs) + trace line → hash
//!           ▼
//!         apply each planned fault at link + offset, run to link + last offset + QUIET
//!           ▼
//!         final check: Connected again, unless the plan may stop the connection
//! ```
//!
//! The trace (every record, without absolute instants, plus a line per applied fault) is
//! hashed with FNV-1a, so the same seed must give the same [`Outcome::trace_hash`]. A panic
//! anywhere (a Stepper invariant, or a bug) is caught and reported as a [`Failure`] with the
//! seed, the invariant, the last 30 trace lines and a replay command.

mod model;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use tether_core::backoff::ReconnectConfig;
use tether_core::connection::{Command, Event, State};

use crate::fault_plan::{FaultPlan, PlannedFault};
use crate::server::{Fault, ServerConfig};
use crate::stepper::{Options, Stepper};
use crate::trace::{Record, Traced};
use model::Model;

/// Virtual time after the last fault within which the connection must be up again.
pub const QUIET: Duration = Duration::from_secs(600);
/// How long linking may take.
pub const LINK_LIMIT: Duration = Duration::from_secs(600);
/// Trace lines a failure report keeps.
pub const TAIL: usize = 30;

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
}

impl Failure {
    /// The one-line command that replays this seed verbosely.
    pub fn replay(&self) -> String {
        replay_command(self.seed)
    }
}

/// The one-line command that replays `seed` verbosely.
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
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl World {
    /// Runs `seed`: links, applies `FaultPlan::from_seed(seed)`, checks every invariant.
    pub fn run(seed: u64) -> Outcome {
        let plan = FaultPlan::from_seed(seed);
        let mut world = Self {
            seed,
            model: Model::new(ReconnectConfig::default(), plan.may_stop()),
            plan,
            lines: Vec::new(),
            seen: 0,
            hash: FNV_OFFSET,
        };
        let result = catch_unwind(AssertUnwindSafe(|| world.drive()));
        let invariant = match result {
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
        };
        let failure = invariant.map(|invariant| Failure {
            seed,
            invariant,
            tail: world.tail(TAIL),
        });
        Outcome {
            seed,
            trace_hash: world.hash,
            stopped: world.model.stopped.as_ref().map(|r| r.closed_line()),
            retries_checked: world.model.retries_checked,
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
            ..Options::default()
        };
        let mut sim = Stepper::new(options, |_| {});
        self.absorb(&sim)?;
        sim.command(Command::Connect)
            .map_err(|e| format!("connect refused: {e}"))?;
        self.absorb(&sim)?;
        let link_limit = sim.now() + LINK_LIMIT;
        while *sim.conn.state() != State::Connected {
            if !sim.step(link_limit) {
                return Err(format!("not linked within {LINK_LIMIT:?}"));
            }
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
            apply(&mut sim, fault);
            self.absorb(&sim)?;
        }
        self.advance(&mut sim, linked + self.plan.last_offset() + QUIET)?;
        if !self.plan.may_stop() && *sim.conn.state() != State::Connected {
            return Err(format!(
                "not connected again {QUIET:?} after the last transient fault (state {:?})",
                sim.conn.state()
            ));
        }
        Ok(())
    }

    /// Steps until `offset` (since the start), checking after every step.
    fn advance(&mut self, sim: &mut Stepper, offset: Duration) -> Result<(), String> {
        let deadline = sim.at(offset);
        while sim.step(deadline) {
            self.absorb(sim)?;
        }
        // Nothing left to do before the deadline: let the clock reach it.
        if sim.now() < deadline {
            sim.run_for(deadline - sim.now());
        }
        self.absorb(sim)
    }

    /// Takes the new trace records: a line each (hashed) and the model's checks.
    fn absorb(&mut self, sim: &Stepper) -> Result<(), String> {
        let base = sim.at(Duration::ZERO);
        let new: Vec<Record> = sim.trace().get(self.seen..).unwrap_or_default().to_vec();
        self.seen += new.len();
        for record in new {
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

fn apply(sim: &mut Stepper, fault: &PlannedFault) {
    let now = sim.now();
    let current = sim.server_conn();
    let inject = |sim: &mut Stepper, fault: Fault| {
        if let Some(id) = current {
            sim.server.inject(id, fault, now);
        }
    };
    match fault {
        PlannedFault::RefuseConnects(n) => {
            sim.server.refuse_next_connects(usize::from(*n));
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::HangConnects(n) => {
            sim.server.hang_next_connects(usize::from(*n));
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::AbruptClose => inject(sim, Fault::AbruptClose),
        PlannedFault::HalfOpen => inject(sim, Fault::Silent),
        PlannedFault::IgnorePings => inject(sim, Fault::IgnorePings(true)),
        PlannedFault::StreamError(code) => inject(sim, Fault::StreamError(*code)),
        PlannedFault::Failure(reason) => {
            sim.server.fault_next(Fault::Failure {
                reason: *reason,
                expire: None,
            });
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::ClockSkew(secs) => {
            sim.server.fault_next(Fault::Skew(*secs));
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::StoreWriteFailures(n) => sim.store.fail_next_writes(u32::from(*n)),
        PlannedFault::Replaced => inject(sim, Fault::Replaced),
        PlannedFault::LoggedOut => {
            sim.server.fault_next(Fault::Failure {
                reason: 401,
                expire: None,
            });
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::Banned(secs) => {
            sim.server.fault_next(Fault::Failure {
                reason: 402,
                expire: Some(*secs),
            });
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::OutdatedTwice => {
            let outdated = Fault::Failure {
                reason: 405,
                expire: None,
            };
            sim.server.fault_connection(0, outdated.clone());
            sim.server.fault_connection(1, outdated);
            inject(sim, Fault::AbruptClose);
        }
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

/// Replaces every `Instant { … }` in a `Debug` text by `Instant`.
fn scrub_instants(text: &str) -> String {
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
