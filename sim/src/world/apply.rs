//! How a [`World`](super::World) applies each [`PlannedFault`] to the running
//! [`Stepper`]: through the server's fault hooks, the network or the store. Every applied
//! fault logs at `warn!` (an injected fault is expected trouble, never an `error!`).

use crate::fault_plan::PlannedFault;
use crate::server::Fault;
use crate::stepper::Stepper;

/// Beyond the client's frame limit in a [`World`](super::World) (`max_frame_len` 1 MiB).
pub(super) const OVERSIZED_FRAME: u32 = 0x00ff_ffff;

/// Applies `fault` now. `CrashRestart` is the caller's (it touches the model too).
pub(super) fn apply(sim: &mut Stepper, fault: &PlannedFault) {
    tracing::warn!(?fault, "injecting a planned fault");
    let now = sim.now();
    let current = sim.server_conn();
    let inject = |sim: &mut Stepper, fault: Fault| {
        if let Some(id) = current {
            sim.server.inject(id, fault, now);
        }
    };
    // Faults of the next connection: plan them, then drop the current one.
    let next = |sim: &mut Stepper, fault: Fault| {
        sim.server.fault_next(fault);
        if let Some(id) = current {
            sim.server.inject(id, Fault::AbruptClose, now);
        }
    };
    let failure = |reason: u16| Fault::Failure {
        reason,
        expire: None,
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
        PlannedFault::CodelessStreamError => inject(sim, Fault::CodelessStreamError),
        PlannedFault::AckShaped => inject(sim, Fault::AckShaped),
        PlannedFault::Failure(reason) => next(sim, failure(*reason)),
        PlannedFault::ClockSkew(secs) => next(sim, Fault::Skew(*secs)),
        PlannedFault::StoreWriteFailures(n) => sim.store.fail_next_writes(u32::from(*n)),
        PlannedFault::Malformed => inject(sim, Fault::Malformed),
        PlannedFault::Oversized => inject(sim, Fault::Oversized(OVERSIZED_FRAME)),
        PlannedFault::Stall(d) => inject(sim, Fault::Stall(*d)),
        PlannedFault::DelayedHandshake(d) => next(sim, Fault::Stall(*d)),
        PlannedFault::ServerPing => inject(sim, Fault::Ping),
        PlannedFault::Notification => inject(sim, Fault::Notification),
        PlannedFault::OutdatedOnce => next(sim, failure(405)),
        PlannedFault::Reset(bytes) => {
            if let Some(id) = current {
                sim.net.reset_after(id, u64::from(*bytes));
            }
        }
        PlannedFault::ResetNext(bytes) => {
            sim.net.reset_next_after(u64::from(*bytes));
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::Partition(d) => sim.net.partition(now, now + *d),
        PlannedFault::Replaced => inject(sim, Fault::Replaced),
        PlannedFault::DeviceRemoved => inject(sim, Fault::DeviceRemoved),
        PlannedFault::LoggedOut => next(sim, failure(401)),
        PlannedFault::Forbidden => next(sim, failure(403)),
        PlannedFault::Banned(secs) => next(
            sim,
            Fault::Failure {
                reason: 402,
                expire: Some(*secs),
            },
        ),
        PlannedFault::OutdatedTwice => {
            sim.server.fault_connection(0, failure(405));
            sim.server.fault_connection(1, failure(405));
            inject(sim, Fault::AbruptClose);
        }
        PlannedFault::CrashRestart => {}
    }
}
