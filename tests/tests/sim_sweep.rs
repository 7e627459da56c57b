//! The seeded simulation sweep (DESIGN §7): every seed of `TETHER_SIM_SEEDS` (a range `a..b`,
//! default `0..DEFAULT_SEEDS`) runs a `World` twice; each run must hold every invariant and
//! both runs must give the same trace hash. `TETHER_SIM_SEED=n` replays one seed verbosely
//! (its fault plan and whole trace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Range;
use std::time::Instant;

use tether_sim::{Outcome, World};

/// Seeds swept by default: 2 000 seeds (4 000 runs) took about 9 s in the default test profile
/// on the 2-core dev machine, well under a minute.
const DEFAULT_SEEDS: u64 = 2000;

fn seeds_from_env() -> Range<u64> {
    let Ok(text) = std::env::var("TETHER_SIM_SEEDS") else {
        return 0..DEFAULT_SEEDS;
    };
    let parsed = text
        .split_once("..")
        .and_then(|(a, b)| Some(a.trim().parse().ok()?..b.trim().parse().ok()?));
    parsed.unwrap_or_else(|| panic!("TETHER_SIM_SEEDS must look like a..b, got {text:?}"))
}

fn check_twice(seed: u64) -> Result<Outcome, String> {
    let first = World::run(seed);
    if let Some(failure) = &first.failure {
        return Err(failure.to_string());
    }
    let second = World::run(seed);
    if second.trace_hash != first.trace_hash {
        let diverged = first
            .trace
            .iter()
            .zip(&second.trace)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| first.trace.len().min(second.trace.len()));
        return Err(format!(
            "seed {seed}: invariant violated: same seed, same trace hash ({:016x} vs {:016x}); \
             the traces diverge at line {diverged}\nreplay: {}",
            first.trace_hash,
            second.trace_hash,
            tether_sim::world::replay_command(seed)
        ));
    }
    Ok(first)
}

#[test]
fn seeded_sweep_holds_every_invariant() {
    if let Ok(seed) = std::env::var("TETHER_SIM_SEED") {
        let seed: u64 = seed.parse().expect("TETHER_SIM_SEED is a number");
        let outcome = World::run(seed);
        println!("seed {seed}: plan {:#?}", outcome.plan);
        for line in &outcome.trace {
            println!("{line}");
        }
        println!(
            "trace hash {:016x}, stopped: {:?}, retries checked: {}",
            outcome.trace_hash, outcome.stopped, outcome.retries_checked
        );
        if let Some(failure) = outcome.failure {
            panic!("{failure}");
        }
        return;
    }
    let seeds = seeds_from_env();
    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut stopped, mut retries) = (0usize, 0u32);
    for seed in seeds.clone() {
        match check_twice(seed) {
            Ok(outcome) => {
                stopped += usize::from(outcome.stopped.is_some());
                retries += outcome.retries_checked;
            }
            Err(report) => {
                eprintln!("{report}\n");
                failures.push(seed);
            }
        }
    }
    let count = seeds.end.saturating_sub(seeds.start);
    println!(
        "sim sweep: {count} seeds (each run twice) in {:.1?}; {stopped} stopped by a planned \
         terminal fault; {retries} counted retries checked against the backoff bounds",
        started.elapsed()
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
    // The sweep must exercise what it checks.
    if count >= 50 {
        assert!(
            u64::from(retries) > count,
            "too few counted retries: {retries}"
        );
        assert!(stopped > 0, "no planned terminal fault stopped a run");
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let a = World::run(1);
    let b = World::run(2);
    assert!(a.failure.is_none() && b.failure.is_none());
    assert_ne!(a.plan, b.plan);
    assert_ne!(a.trace_hash, b.trace_hash);
}
