//! The fuzzing form of a [`FaultPlan`]: `arbitrary::Arbitrary`, so a fuzzer's bytes become a
//! schedule the [`World`](crate::World) runs (`fuzz/fuzz_targets/sim_schedule.rs`). Every
//! byte string gives a valid plan: 0–8 faults of any kind at offsets within the window, and a
//! network shape, all through the same bounded constructors the seeded plans use.

use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};

use super::{FaultPlan, KINDS, PlannedFault, SETTLE, WINDOW, net_of};

/// The most faults a fuzzed plan holds.
pub const MAX_FUZZ_FAULTS: usize = 8;

/// A fuzzed run: the seed of everything random in the world, and the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The world's seed (keys, jitter, ids).
    pub seed: u64,
    /// The plan to apply.
    pub plan: FaultPlan,
}

impl<'a> Arbitrary<'a> for FaultPlan {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let net = net_of(u64::arbitrary(u)?, u64::arbitrary(u)?);
        let count = u.int_in_range(0..=MAX_FUZZ_FAULTS)?;
        let window_ms = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        let mut faults = Vec::with_capacity(count);
        for _ in 0..count {
            let at = SETTLE + Duration::from_millis(u.int_in_range(0..=window_ms - 1)?);
            let kind = u.choose_index(KINDS)?;
            faults.push((at, PlannedFault::of_kind(kind, u64::arbitrary(u)?)));
        }
        Ok(Self::new(net, faults))
    }
}

impl<'a> Arbitrary<'a> for Schedule {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self {
            seed: u64::arbitrary(u)?,
            plan: FaultPlan::arbitrary(u)?,
        })
    }
}

impl Schedule {
    /// The schedule for fuzzer bytes (short inputs fill with zeros, as `arbitrary` does).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut u = Unstructured::new(data);
        Self::arbitrary(&mut u).unwrap_or_else(|_| Self {
            seed: 0,
            plan: FaultPlan::new(net_of(0, 1), Vec::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_give_a_bounded_plan() {
        for len in [0usize, 1, 7, 40, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let s = Schedule::from_bytes(&data);
            assert!(s.plan.faults.len() <= MAX_FUZZ_FAULTS);
            assert!(
                s.plan
                    .faults
                    .iter()
                    .all(|(at, _)| *at >= SETTLE && *at < SETTLE + WINDOW)
            );
            assert_eq!(s, Schedule::from_bytes(&data), "same bytes, same schedule");
        }
    }
}
