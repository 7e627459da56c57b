//! How a [`World`](super::World) applies each [`PlannedFault`] to the running
//! [`Stepper`]: through the server's fault hooks, the network or the store. Every applied
//! fault logs at `warn!` (an injected fault is expected trouble, never an `error!`).

use std::time::Instant;

use crate::fault_plan::PlannedFault;
use crate::network::Network;
use crate::server::{ConnId, FakeServer, Fault};
use crate::stepper::Stepper;
use crate::store::MemStore;

/// Beyond the client's frame limit in a [`World`](super::World) (`max_frame_len` 1 MiB).
pub(super) const OVERSIZED_FRAME: u32 = 0x00ff_ffff;

/// What a planned fault acts on: the server, one client's network and store, and that
/// client's current connection.
pub(crate) struct FaultTarget<'a> {
    pub(crate) server: &'a mut FakeServer,
    pub(crate) net: &'a mut Network,
    pub(crate) store: &'a mut MemStore,
    pub(crate) current: Option<ConnId>,
    pub(crate) now: Instant,
}

/// Applies `fault` now. `CrashRestart` is the caller's (it touches the model too).
pub(super) fn apply(sim: &mut Stepper, fault: &PlannedFault) {
    let current = sim.server_conn();
    let now = sim.now();
    apply_to(
        FaultTarget {
            server: &mut sim.server,
            net: &mut sim.net,
            store: &mut sim.store,
            current,
            now,
        },
        fault,
    );
}

/// Applies `fault` to `target` now. `CrashRestart` is the caller's.
pub(crate) fn apply_to(target: FaultTarget<'_>, fault: &PlannedFault) {
    tracing::warn!(?fault, "injecting a planned fault");
    let FaultTarget {
        server,
        net,
        store,
        current,
        now,
    } = target;
    let inject = |server: &mut FakeServer, fault: Fault| {
        if let Some(id) = current {
            server.inject(id, fault, now);
        }
    };
    // Faults of the next connection: plan them, then drop the current one.
    let next = |server: &mut FakeServer, fault: Fault| {
        server.fault_next(fault);
        if let Some(id) = current {
            server.inject(id, Fault::AbruptClose, now);
        }
    };
    let failure = |reason: u16| Fault::Failure {
        reason,
        expire: None,
    };
    match fault {
        PlannedFault::RefuseConnects(n) => {
            server.refuse_next_connects(usize::from(*n));
            inject(server, Fault::AbruptClose);
        }
        PlannedFault::HangConnects(n) => {
            server.hang_next_connects(usize::from(*n));
            inject(server, Fault::AbruptClose);
        }
        PlannedFault::AbruptClose => inject(server, Fault::AbruptClose),
        PlannedFault::HalfOpen => inject(server, Fault::Silent),
        PlannedFault::IgnorePings => inject(server, Fault::IgnorePings(true)),
        PlannedFault::StreamError(code) => inject(server, Fault::StreamError(*code)),
        PlannedFault::CodelessStreamError => inject(server, Fault::CodelessStreamError),
        PlannedFault::AckShaped => inject(server, Fault::AckShaped),
        PlannedFault::Failure(reason) => next(server, failure(*reason)),
        PlannedFault::ClockSkew(secs) => next(server, Fault::Skew(*secs)),
        PlannedFault::StoreWriteFailures(n) => store.fail_next_writes(u32::from(*n)),
        PlannedFault::Malformed => inject(server, Fault::Malformed),
        PlannedFault::Oversized => inject(server, Fault::Oversized(OVERSIZED_FRAME)),
        PlannedFault::Stall(d) => inject(server, Fault::Stall(*d)),
        PlannedFault::DelayedHandshake(d) => next(server, Fault::Stall(*d)),
        PlannedFault::ServerPing => inject(server, Fault::Ping),
        PlannedFault::Notification => inject(server, Fault::Notification),
        PlannedFault::OutdatedOnce => next(server, failure(405)),
        PlannedFault::Reset(bytes) => {
            if let Some(id) = current {
                net.reset_after(id, u64::from(*bytes));
            }
        }
        PlannedFault::ResetNext(bytes) => {
            net.reset_next_after(u64::from(*bytes));
            inject(server, Fault::AbruptClose);
        }
        PlannedFault::Partition(d) => net.partition(now, now + *d),
        PlannedFault::Replaced => inject(server, Fault::Replaced),
        PlannedFault::DeviceRemoved => inject(server, Fault::DeviceRemoved),
        PlannedFault::LoggedOut => next(server, failure(401)),
        PlannedFault::Forbidden => next(server, failure(403)),
        PlannedFault::Banned(secs) => next(
            server,
            Fault::Failure {
                reason: 402,
                expire: Some(*secs),
            },
        ),
        PlannedFault::OutdatedTwice => {
            server.fault_connection(0, failure(405));
            server.fault_connection(1, failure(405));
            inject(server, Fault::AbruptClose);
        }
        PlannedFault::CrashRestart => {}
    }
}
