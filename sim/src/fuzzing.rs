//! Fuzzing entry points of the simulator, called by `fuzz/fuzz_targets/sim_schedule.rs` and
//! replayed on the committed corpus by `tests/tests/fuzz_sim_schedule.rs`.

use crate::fault_plan::arbitrary::Schedule;
use crate::world::World;

/// Runs the [`Schedule`] the fuzzer's bytes describe, twice: panics (with the failure report
/// and the schedule) when an invariant is violated or the two runs' trace hashes differ.
pub fn sim_schedule(data: &[u8]) {
    let schedule = Schedule::from_bytes(data);
    let first = World::run_schedule(&schedule);
    if let Some(failure) = &first.failure {
        panic!(
            "seed {}: invariant violated: {}\n--- last {} trace lines ---\n{}\nschedule: {schedule:?}\n\
             replay: cargo fuzz run -s none sim_schedule <this input>",
            failure.seed,
            failure.invariant,
            failure.tail.len(),
            failure.tail.join("\n"),
        );
    }
    let second = World::run_schedule(&schedule);
    assert_eq!(
        first.trace_hash, second.trace_hash,
        "same schedule, different trace hash: {schedule:?}"
    );
}
