//! [`FaultPlan`]: a seeded list of faults at virtual-time offsets (`DESIGN.md` §7), drawn only
//! from what the [`FakeServer`](crate::FakeServer), the [`MemStore`](crate::MemStore) and the
//! [`Stepper`](crate::Stepper) can already do.
//!
//! `FaultPlan::from_seed(seed)` draws 1–5 faults at offsets in `[10 s, 10 s + WINDOW)` after the
//! account is linked (sorted by offset). Most are transient (the connection must recover);
//! rarely one is terminal (440, 401, 402, 405 twice) and, rarely, the store fails writes, which
//! stops the connection only if a write actually happens. [`FaultPlan::may_stop`] says whether
//! a stop is legitimate for this plan.
//!
//! The draws are our own bounded integer draws on `ChaCha20Rng::seed_from_u64`, so a seed means
//! the same plan on every platform.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// The span of virtual time faults are spread over (after a 10 s settling period).
pub const WINDOW: Duration = Duration::from_secs(300);
/// The most faults one plan holds.
pub const MAX_FAULTS: u64 = 5;

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
    /// The next connection's verdict is `<failure reason="N"/>` (500, 503); drop the current.
    Failure(u16),
    /// The next connection reports its server time skewed by this many seconds.
    ClockSkew(i64),
    /// The next `n` store writes fail (terminal `StoreFailure` if a write happens).
    StoreWriteFailures(u8),
    /// Terminal: `<stream:error><conflict type="replaced"/>` (440).
    Replaced,
    /// Terminal: the next verdict is `<failure reason="401"/>` (logged out).
    LoggedOut,
    /// Terminal: the next verdict is `<failure reason="402" expire="S"/>` (temporary ban).
    Banned(u64),
    /// Terminal: the next two verdicts are `<failure reason="405"/>` (outdated twice).
    OutdatedTwice,
}

impl PlannedFault {
    /// Whether this fault stops the connection for good.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Replaced | Self::LoggedOut | Self::Banned(_) | Self::OutdatedTwice
        )
    }

    /// Whether this fault may legitimately stop the connection (terminal, or a store failure).
    pub fn may_stop(&self) -> bool {
        self.is_terminal() || matches!(self, Self::StoreWriteFailures(_))
    }
}

/// A seeded fault plan: faults sorted by their offset after linking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// `(offset after linking, fault)`, sorted by offset.
    pub faults: Vec<(Duration, PlannedFault)>,
}

impl FaultPlan {
    /// Draws the plan for `seed` (see the module docs).
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x4641_554c_5453);
        let count = 1 + below(&mut rng, MAX_FAULTS);
        let window_ms = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        let mut faults: Vec<(Duration, PlannedFault)> = (0..count)
            .map(|_| {
                let at = Duration::from_millis(10_000 + below(&mut rng, window_ms));
                (at, draw_fault(&mut rng))
            })
            .collect();
        faults.sort_by_key(|(at, _)| *at);
        Self { faults }
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

/// A uniform draw in `[0, n)` (`n > 0`) without modulo bias.
fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
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

fn pick<T: Copy>(rng: &mut ChaCha20Rng, items: &[T]) -> Option<T> {
    let len = u64::try_from(items.len()).ok()?;
    let index = usize::try_from(below(rng, len)).ok()?;
    items.get(index).copied()
}

fn draw_fault(rng: &mut ChaCha20Rng) -> PlannedFault {
    // Weights out of 100: terminal faults 4 %, store failures 3 %.
    let roll = below(rng, 100);
    match roll {
        0..=11 => PlannedFault::RefuseConnects(1 + small(rng, 4)),
        12..=19 => PlannedFault::HangConnects(1 + small(rng, 2)),
        20..=33 => PlannedFault::AbruptClose,
        34..=43 => PlannedFault::HalfOpen,
        44..=49 => PlannedFault::IgnorePings,
        50..=71 => PlannedFault::StreamError(pick(rng, &[515, 503, 429, 500, 501]).unwrap_or(503)),
        72..=83 => PlannedFault::Failure(pick(rng, &[500, 503]).unwrap_or(500)),
        84..=92 => {
            let secs = i64::try_from(31 + below(rng, 3_600)).unwrap_or(60);
            PlannedFault::ClockSkew(if below(rng, 2) == 0 { secs } else { -secs })
        }
        93..=95 => PlannedFault::StoreWriteFailures(1 + small(rng, 2)),
        96 => PlannedFault::Replaced,
        97 => PlannedFault::LoggedOut,
        98 => PlannedFault::Banned(60 + below(rng, 3_600)),
        _ => PlannedFault::OutdatedTwice,
    }
}

fn small(rng: &mut ChaCha20Rng, n: u8) -> u8 {
    u8::try_from(below(rng, u64::from(n))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan() {
        assert_eq!(FaultPlan::from_seed(42), FaultPlan::from_seed(42));
    }

    #[test]
    fn plans_are_sorted_bounded_and_varied() {
        let mut terminal = 0;
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..500 {
            let plan = FaultPlan::from_seed(seed);
            let n = plan.faults.len();
            assert!((1..=5).contains(&n), "seed {seed}: {n} faults");
            assert!(plan.faults.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(plan.faults.iter().all(|(at, _)| {
                *at >= Duration::from_secs(10) && *at < Duration::from_secs(10) + WINDOW
            }));
            if plan.has_terminal() {
                terminal += 1;
                assert!(plan.may_stop());
            }
            distinct.insert(format!("{:?}", plan.faults[0].1));
        }
        assert!(
            terminal > 0 && terminal < 100,
            "{terminal} terminal plans of 500"
        );
        assert!(
            distinct.len() > 15,
            "only {} distinct faults",
            distinct.len()
        );
    }
}
