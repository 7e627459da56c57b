//! [`FaultPlan`]: a seeded list of faults at virtual-time offsets plus the network's shape
//! (`DESIGN.md` §7).
//!
//! `FaultPlan::from_seed(seed)` draws a [`NetConfig`] (latency, jitter, message re-cutting) and
//! 1–5 faults at offsets in `[10 s, 10 s + WINDOW)` after the account is linked (sorted by
//! offset). Most faults are transient (the connection must be up again afterwards); rarely
//! one is terminal (440, 401, 403, device removed, 402, 405 twice) and, rarely, the store
//! fails writes, which stops the connection only if a write actually happens.
//! [`FaultPlan::may_stop`] says whether a stop is legitimate for this plan.
//!
//! The draws are our own bounded integer draws on `ChaCha20Rng::seed_from_u64`, so a seed
//! means the same plan on every platform. The fuzzing form ([`arbitrary`]) builds plans from
//! fuzzer bytes with the same fault constructor ([`PlannedFault::of_kind`]).

pub mod arbitrary;
pub mod messaging;

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::network::NetConfig;

/// The span of virtual time faults are spread over (after a 10 s settling period).
pub const WINDOW: Duration = Duration::from_secs(300);
/// The most faults one seeded plan holds.
pub const MAX_FAULTS: u64 = 5;
/// The settling period after linking before the first fault.
pub const SETTLE: Duration = Duration::from_secs(10);

/// One fault of a plan. Faults that act on "the next connection" also drop the current one
/// (without a word) so that a next connection happens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlannedFault {
    /// Refuse the next `n` connects, then drop the current connection.
    RefuseConnects(u8),
    /// Leave the next `n` connects hanging, then drop the current connection.
    HangConnects(u8),
    /// Close the current transport without a word.
    AbruptClose,
    /// Half-open: the current connection accepts bytes and answers nothing.
    HalfOpen,
    /// The server stops answering pings on the current connection.
    IgnorePings,
    /// `<stream:error code="N"/>` on the current connection (515, 503, 429, 500, …).
    StreamError(u16),
    /// A code-less `<stream:error/>` on the current connection.
    CodelessStreamError,
    /// An ack-shaped `<stream:error><ack/></stream:error>` on the current connection.
    AckShaped,
    /// The next connection's verdict is `<failure reason="N"/>` (500, 503); drop the current.
    Failure(u16),
    /// The next connection reports its server time skewed by this many seconds.
    ClockSkew(i64),
    /// The next `n` store writes fail (terminal `StoreFailure` if a write happens).
    StoreWriteFailures(u8),
    /// A frame that decrypts to no valid node, on the current connection.
    Malformed,
    /// A frame header beyond the client's frame limit, on the current connection.
    Oversized,
    /// The server holds everything it writes on the current connection for this long.
    Stall(Duration),
    /// The next connection's handshake answer comes this late; drop the current.
    DelayedHandshake(Duration),
    /// A server ping on the current connection.
    ServerPing,
    /// A `<notification>` on the current connection (the client must ack it).
    Notification,
    /// The next connection's verdict is `<failure reason="405"/>` once (version refresh).
    OutdatedOnce,
    /// The current link resets after this many more bytes.
    Reset(u32),
    /// The next link resets after this many bytes (mid-handshake, often); drop the current.
    ResetNext(u32),
    /// Nothing is delivered for this long; connects made meanwhile hang.
    Partition(Duration),
    /// The client process crashes and restarts from the store's contents, then connects.
    CrashRestart,
    /// Terminal: `<stream:error><conflict type="replaced"/>` (440).
    Replaced,
    /// Terminal: `<stream:error code="401"><conflict type="device_removed"/>`.
    DeviceRemoved,
    /// Terminal: the next verdict is `<failure reason="401"/>` (logged out).
    LoggedOut,
    /// Terminal: the next verdict is `<failure reason="403"/>`.
    Forbidden,
    /// Terminal: the next verdict is `<failure reason="402" expire="S"/>` (temporary ban).
    Banned(u64),
    /// Terminal: the next two verdicts are `<failure reason="405"/>` (outdated twice).
    OutdatedTwice,
}

/// Fault kinds with their weights for seeded plans (out of [`TOTAL_WEIGHT`]); the index is
/// the `kind` of [`PlannedFault::of_kind`].
const WEIGHTS: [u64; 28] = [
    10, 6, 12, 8, 5, 18, 3, 3, 10, 8, 5, 4, 4, 5, 5, 4, 5, 8, 6, 7, 8, 1, 1, 1, 1, 1, 1, 5,
];
/// The sum of [`WEIGHTS`].
const TOTAL_WEIGHT: u64 = {
    let mut sum = 0;
    let mut i = 0;
    while i < WEIGHTS.len() {
        sum += WEIGHTS[i];
        i += 1;
    }
    sum
};
/// How many fault kinds there are.
pub const KINDS: usize = WEIGHTS.len();

impl PlannedFault {
    /// The fault of kind `kind % KINDS`, its parameters drawn from `p` (any value is valid:
    /// each kind maps `p` into its own bounded range).
    pub fn of_kind(kind: usize, p: u64) -> Self {
        let ms = |lo: u64, span: u64| Duration::from_millis(lo + p % span);
        match kind % KINDS {
            0 => Self::RefuseConnects(1 + (p % 4) as u8),
            1 => Self::HangConnects(1 + (p % 2) as u8),
            2 => Self::AbruptClose,
            3 => Self::HalfOpen,
            4 => Self::IgnorePings,
            5 => Self::StreamError([515, 503, 429, 500, 501][(p % 5) as usize]),
            6 => Self::CodelessStreamError,
            7 => Self::AckShaped,
            8 => Self::Failure(if p.is_multiple_of(2) { 500 } else { 503 }),
            9 => {
                let secs = i64::try_from(31 + (p >> 1) % 3_600).unwrap_or(60);
                Self::ClockSkew(if p.is_multiple_of(2) { secs } else { -secs })
            }
            10 => Self::StoreWriteFailures(1 + (p % 2) as u8),
            11 => Self::Malformed,
            12 => Self::Oversized,
            13 => Self::Stall(ms(500, 40_000)),
            14 => Self::DelayedHandshake(ms(500, 30_000)),
            15 => Self::ServerPing,
            16 => Self::OutdatedOnce,
            17 => Self::Reset((p % 3_000) as u32),
            18 => Self::ResetNext((p % 600) as u32),
            19 => Self::Partition(ms(2_000, 120_000)),
            20 => Self::CrashRestart,
            21 => Self::Replaced,
            22 => Self::DeviceRemoved,
            23 => Self::LoggedOut,
            24 => Self::Forbidden,
            25 => Self::Banned(60 + p % 3_600),
            26 => Self::OutdatedTwice,
            _ => Self::Notification,
        }
    }

    /// Whether this fault stops the connection for good.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Replaced
                | Self::DeviceRemoved
                | Self::LoggedOut
                | Self::Forbidden
                | Self::Banned(_)
                | Self::OutdatedTwice
        )
    }

    /// Whether this fault may legitimately stop the connection (terminal, or a store failure).
    pub fn may_stop(&self) -> bool {
        self.is_terminal() || matches!(self, Self::StoreWriteFailures(_))
    }
}

/// A fault plan: the network's shape and faults sorted by their offset after linking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// The network between the connection and the server for the whole run.
    pub net: NetConfig,
    /// `(offset after linking, fault)`, sorted by offset.
    pub faults: Vec<(Duration, PlannedFault)>,
}

impl FaultPlan {
    /// Draws the plan for `seed` (see the module docs).
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x4641_554c_5453);
        let count = 1 + below(&mut rng, MAX_FAULTS);
        let window_ms = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        let settle_ms = u64::try_from(SETTLE.as_millis()).unwrap_or(0);
        let faults = (0..count)
            .map(|_| {
                let at = Duration::from_millis(settle_ms + below(&mut rng, window_ms));
                (at, draw_fault(&mut rng))
            })
            .collect();
        let net = net_of(rng.next_u64(), rng.next_u64());
        Self::new(net, faults)
    }

    /// A plan from parts; the faults are sorted by offset (stable for equal offsets).
    pub fn new(net: NetConfig, mut faults: Vec<(Duration, PlannedFault)>) -> Self {
        faults.sort_by_key(|(at, _)| *at);
        Self { net, faults }
    }

    /// Whether the plan holds a terminal fault.
    pub fn has_terminal(&self) -> bool {
        self.faults.iter().any(|(_, f)| f.is_terminal())
    }

    /// Whether the plan holds a fault that may legitimately stop the connection.
    pub fn may_stop(&self) -> bool {
        self.faults.iter().any(|(_, f)| f.may_stop())
    }

    /// The offset of the last fault (zero for an empty plan).
    pub fn last_offset(&self) -> Duration {
        self.faults.last().map_or(Duration::ZERO, |(at, _)| *at)
    }
}

/// The network for two draws: latency 0–149 ms, jitter 0–99 ms, and in half the plans
/// messages re-cut into pieces of at most 1, 7, 64, 300 or 4 096 bytes.
pub fn net_of(a: u64, b: u64) -> NetConfig {
    let pieces = [1usize, 7, 64, 300, 4_096];
    let max_piece = b.is_multiple_of(2).then(|| pieces[((b >> 1) % 5) as usize]);
    NetConfig {
        latency: Duration::from_millis(a % 150),
        jitter: Duration::from_millis((a >> 16) % 100),
        max_piece,
    }
}

/// A uniform draw in `[0, n)` (`n > 0`) without modulo bias.
pub(crate) fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

fn draw_fault(rng: &mut ChaCha20Rng) -> PlannedFault {
    let mut roll = below(rng, TOTAL_WEIGHT);
    let p = rng.next_u64();
    for (kind, weight) in WEIGHTS.iter().enumerate() {
        if roll < *weight {
            return PlannedFault::of_kind(kind, p);
        }
        roll -= weight;
    }
    PlannedFault::of_kind(KINDS - 1, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up() {
        assert_eq!(WEIGHTS.iter().sum::<u64>(), TOTAL_WEIGHT);
        assert!(WEIGHTS.iter().all(|w| *w > 0), "every kind can be drawn");
    }

    #[test]
    fn same_seed_same_plan() {
        assert_eq!(FaultPlan::from_seed(42), FaultPlan::from_seed(42));
    }

    #[test]
    fn plans_are_sorted_bounded_and_varied() {
        let mut terminal = 0;
        let mut distinct = std::collections::BTreeSet::new();
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..2000 {
            let plan = FaultPlan::from_seed(seed);
            let n = plan.faults.len();
            assert!((1..=5).contains(&n), "seed {seed}: {n} faults");
            assert!(plan.faults.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(
                plan.faults
                    .iter()
                    .all(|(at, _)| *at >= SETTLE && *at < SETTLE + WINDOW)
            );
            if plan.has_terminal() {
                terminal += 1;
                assert!(plan.may_stop());
            }
            distinct.insert(format!("{:?}", plan.faults[0].1));
            for (_, fault) in &plan.faults {
                let name = format!("{fault:?}");
                kinds.insert(name.split('(').next().unwrap_or_default().to_owned());
            }
        }
        assert!(
            terminal > 0 && terminal < 400,
            "{terminal} terminal plans of 2000"
        );
        assert!(
            distinct.len() > 30,
            "only {} distinct faults",
            distinct.len()
        );
        assert_eq!(kinds.len(), KINDS, "every kind is drawn: {kinds:?}");
    }
}
