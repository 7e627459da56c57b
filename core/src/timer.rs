//! Named timers as data: one optional deadline per [`Timer`], no clock inside.
//!
//! Every deadline the connection owns (connect, handshake, pairing refs, keepalive, dead socket,
//! partial frame, backoff, stable connection) is a variant of [`Timer`] with one slot in a [`TimerTable`]. The
//! table answers "when is the next wakeup, and why" ([`TimerTable::next`]) and hands back the
//! timers that are due at a given `now` ([`TimerTable::expired`]), disarming them. Order is
//! deterministic: earlier deadline first, and on equal deadlines the order of [`Timer::ALL`].
//!
//! ```text
//!             set(t, at)                     expired(now), at ≤ now
//!   Disarmed ───────────► Armed(at) ─────────────────────────────────► Disarmed (t yielded)
//!      ▲                   │   ▲ │
//!      └──── clear(t) ─────┘   └─┘ set(t, at')  (re-arming replaces the deadline)
//! ```

use std::fmt;
use std::time::Instant;

/// One named deadline of the connection state machine.
///
/// The variant order is the tie-break order when two timers share a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Timer {
    /// The transport did not open in time (→ `ConnectionLost { cause: ConnectTimeout }`).
    Connect,
    /// The Noise handshake did not finish in time (→ `ConnectionLost { cause: HandshakeTimeout }`).
    Handshake,
    /// The current QR ref expires; show the next one, or stop when the refs ran out.
    PairingRef,
    /// A pending pair code expires.
    PairingCode,
    /// Nothing was sent for the keepalive interval: send a ping.
    KeepAlive,
    /// A ping went unanswered for the ping deadline (→ `KeepAliveTimeout`).
    PingDeadline,
    /// No whole frame arrived within the dead-socket timeout of the first unanswered send.
    DeadSocket,
    /// A frame the server started did not complete within the frame timeout (a peer that
    /// trickles bytes; → `ConnectionLost { cause: FrameTimeout }`).
    PartialFrame,
    /// The backoff delay is over: open the next transport.
    Reconnect,
    /// The connection has stayed up long enough for the retry counter to reset.
    StableConnection,
}

impl Timer {
    /// Every timer, in tie-break order.
    pub const ALL: [Self; 10] = [
        Self::Connect,
        Self::Handshake,
        Self::PairingRef,
        Self::PairingCode,
        Self::KeepAlive,
        Self::PingDeadline,
        Self::DeadSocket,
        Self::PartialFrame,
        Self::Reconnect,
        Self::StableConnection,
    ];

    /// A short stable name for logs (`"keepalive"`, `"dead-socket"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Handshake => "handshake",
            Self::PairingRef => "pairing-ref",
            Self::PairingCode => "pairing-code",
            Self::KeepAlive => "keepalive",
            Self::PingDeadline => "ping-deadline",
            Self::DeadSocket => "dead-socket",
            Self::PartialFrame => "partial-frame",
            Self::Reconnect => "reconnect",
            Self::StableConnection => "stable-connection",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Connect => 0,
            Self::Handshake => 1,
            Self::PairingRef => 2,
            Self::PairingCode => 3,
            Self::KeepAlive => 4,
            Self::PingDeadline => 5,
            Self::DeadSocket => 6,
            Self::PartialFrame => 7,
            Self::Reconnect => 8,
            Self::StableConnection => 9,
        }
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const COUNT: usize = Timer::ALL.len();

/// One optional deadline per [`Timer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    slots: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// A table with every timer disarmed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `timer` to fire at `at`, replacing any earlier deadline it had.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.slots[timer.index()] = Some(at);
    }

    /// Disarms `timer` (a no-op when it is not armed).
    pub fn clear(&mut self, timer: Timer) {
        self.slots[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.slots = [None; COUNT];
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots[timer.index()]
    }

    /// Whether `timer` is armed.
    pub fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Whether `timer` is armed and due at `now` (deadline ≤ `now`).
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed timer and its deadline; ties go to the earlier variant of
    /// [`Timer::ALL`]. `None` when nothing is armed.
    pub fn next(&self) -> Option<(Timer, Instant)> {
        self.armed()
            .min_by(|(ta, a), (tb, b)| a.cmp(b).then(ta.cmp(tb)))
    }

    /// The earliest deadline, if any timer is armed (what `poll_timeout` reports).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next().map(|(_, at)| at)
    }

    /// Disarms every timer that is due at `now` and returns them, earliest deadline first (ties
    /// in [`Timer::ALL`] order). Calling it with no timer due is a harmless no-op.
    pub fn expired(&mut self, now: Instant) -> Expired {
        let mut due: Vec<(Timer, Instant)> = self.armed().filter(|&(_, at)| at <= now).collect();
        due.sort_by(|(ta, a), (tb, b)| a.cmp(b).then(ta.cmp(tb)));
        for &(timer, _) in &due {
            self.clear(timer);
        }
        Expired {
            due: due.into_iter(),
        }
    }

    fn armed(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        Timer::ALL
            .iter()
            .filter_map(|&timer| self.get(timer).map(|at| (timer, at)))
    }
}

/// The timers [`TimerTable::expired`] disarmed, earliest deadline first.
#[derive(Debug)]
pub struct Expired {
    due: std::vec::IntoIter<(Timer, Instant)>,
}

impl Iterator for Expired {
    type Item = Timer;

    fn next(&mut self) -> Option<Timer> {
        self.due.next().map(|(timer, _)| timer)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.due.size_hint()
    }
}

impl ExactSizeIterator for Expired {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_in_all() {
        for (i, timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(timer.index(), i, "{timer}");
        }
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = Timer::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Timer::ALL.len());
    }
}
