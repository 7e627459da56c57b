//! The harness the seeded sweeps share (`tests/sim_conversation.rs`,
//! `tests/sim_group_conversation.rs`): the seed range and the thread count from the
//! environment, every seed checked (every `DETERMINISM_EVERY`-th one twice: the same seed must
//! give the same trace hash), the seeds shared out over the threads in batches, the failing
//! seeds collected with their reports, once-failing seeds kept as named regressions, and one
//! seed replayed verbosely.
//!
//! ```text
//!  TETHER_SIM_THREADS (default: the available parallelism, at most 2)
//!  <seeds_var>=a..b   ─▶ run_all: each thread takes `batch` seeds at a time ─▶ check(seed)
//!                          ─▶ run(seed): a failure is reported (stderr) and its seed kept
//!                          ─▶ seed % DETERMINISM_EVERY == 0: run again, same trace hash
//!                       ─▶ Tally { summed Stats, sorted failing seeds } + a summary line
//!  <replay_var>=n     ─▶ replay: the plan, every trace line, the hash, the failure
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tether_sim::conversation::{Outcome, Stats};

/// Every this many seeds, a seed runs twice (same trace hash).
pub const DETERMINISM_EVERY: u64 = 10;

/// One seeded sweep: how it is configured and how a seed runs.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// What the summary line calls it ("messaging sweep").
    pub name: &'static str,
    /// The environment variable that sets the range swept (`a..b`).
    pub seeds_var: &'static str,
    /// The environment variable that replays one seed verbosely.
    pub replay_var: &'static str,
    /// The seeds swept when `seeds_var` is not set.
    pub default_seeds: Range<u64>,
    /// Seeds a worker takes at a time.
    pub batch: u64,
    /// One run of a seed, every invariant checked.
    pub run: fn(u64) -> Outcome,
    /// The command that replays a seed.
    pub replay_command: fn(u64) -> String,
}

/// What a sweep found.
#[derive(Debug, Default)]
pub struct Tally {
    /// The runs' counts, summed.
    pub stats: Stats,
    /// The failing seeds, in order.
    pub failures: Vec<u64>,
    /// How many seeds ran.
    pub seeds: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// The sweep threads: `TETHER_SIM_THREADS`, or the available parallelism (at most 2).
pub fn threads() -> usize {
    if let Ok(text) = std::env::var("TETHER_SIM_THREADS") {
        return text
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                panic!("TETHER_SIM_THREADS must be a positive number, got {text:?}")
            });
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// The seed range in the environment variable `var` (`a..b`), or `default`.
pub fn seed_range(var: &str, default: Range<u64>) -> Range<u64> {
    let Ok(text) = std::env::var(var) else {
        return default;
    };
    text.split_once("..")
        .and_then(|(a, b)| Some(a.trim().parse().ok()?..b.trim().parse().ok()?))
        .unwrap_or_else(|| panic!("{var} must look like a..b, got {text:?}"))
}

/// The first line where two traces of one seed differ.
pub fn divergence(first: &[String], second: &[String]) -> usize {
    first
        .iter()
        .zip(second)
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| first.len().min(second.len()))
}

impl Sweep {
    /// The seeds to sweep: `seeds_var` (`a..b`), or the default range.
    pub fn seeds(&self) -> Range<u64> {
        seed_range(self.seeds_var, self.default_seeds.clone())
    }

    /// Runs `seed` (twice every `DETERMINISM_EVERY` seeds); the failure report if an
    /// invariant does not hold.
    pub fn check(&self, seed: u64) -> Result<Outcome, String> {
        let first = (self.run)(seed);
        if let Some(failure) = &first.failure {
            return Err(failure.to_string());
        }
        if seed.is_multiple_of(DETERMINISM_EVERY) {
            let second = (self.run)(seed);
            if second.trace_hash != first.trace_hash {
                let at = divergence(&first.trace, &second.trace);
                return Err(format!(
                    "seed {seed}: invariant violated: same seed, same trace hash; the traces \
                     diverge at line {at}\nreplay: {}",
                    (self.replay_command)(seed)
                ));
            }
        }
        Ok(first)
    }

    /// With `replay_var` set: runs that seed verbosely (the plan, the trace, the hash) and
    /// panics with its failure; `true` if it did.
    pub fn replay(&self) -> bool {
        let Ok(seed) = std::env::var(self.replay_var) else {
            return false;
        };
        let seed: u64 = seed
            .parse()
            .unwrap_or_else(|_| panic!("{} is a number, got {seed:?}", self.replay_var));
        let outcome = (self.run)(seed);
        println!("seed {seed}: plan {:#?}", outcome.plan);
        for line in &outcome.trace {
            println!("{line}");
        }
        println!(
            "trace hash {:016x}, {:?}",
            outcome.trace_hash, outcome.stats
        );
        if let Some(failure) = outcome.failure {
            panic!("{failure}");
        }
        true
    }

    /// Runs every seed of `seeds` on the sweep's threads, reporting each failure on stderr,
    /// and prints a summary line.
    pub fn run_all(&self, seeds: Range<u64>) -> Tally {
        let threads = threads();
        let started = Instant::now();
        let next = AtomicU64::new(seeds.start);
        let tally = Mutex::new(Tally::default());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut local = Tally::default();
                    loop {
                        let from = next.fetch_add(self.batch, Ordering::Relaxed);
                        if from >= seeds.end {
                            break;
                        }
                        for seed in from..(from + self.batch).min(seeds.end) {
                            match self.check(seed) {
                                Ok(outcome) => local.stats.add(&outcome.stats),
                                Err(report) => {
                                    eprintln!("{report}\n");
                                    local.failures.push(seed);
                                }
                            }
                        }
                    }
                    let mut tally = tally.lock().unwrap();
                    tally.stats.add(&local.stats);
                    tally.failures.extend(local.failures);
                });
            }
        });
        let mut tally = tally.into_inner().unwrap();
        tally.failures.sort_unstable();
        tally.seeds = seeds.end.saturating_sub(seeds.start);
        tally.elapsed = started.elapsed();
        println!(
            "{}: {} seeds on {threads} threads in {:.1?}: {:?}",
            self.name, tally.seeds, tally.elapsed, tally.stats
        );
        tally
    }

    /// Every seed of `regressions` (seed, what it once caught) holds every invariant.
    pub fn assert_regressions_hold(&self, regressions: &[(u64, &str)]) {
        let failed: Vec<String> = regressions
            .iter()
            .filter_map(|&(seed, what)| {
                self.check(seed)
                    .err()
                    .map(|report| format!("seed {seed} (once: {what}):\n{report}"))
            })
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    }
}
