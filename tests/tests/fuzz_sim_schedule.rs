//! Replays the committed `sim_schedule` fuzz corpus (`fuzz/corpus/sim_schedule/`) through the
//! entry point the cargo-fuzz target calls, so every kept schedule is re-run by `cargo test`
//! on stable Rust with every World invariant checked.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

#[test]
fn sim_schedule_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sim_schedule");
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| tether_sim::fuzzing::sim_schedule(&data));
        assert!(
            result.is_ok(),
            "corpus input {} fails; replay: cd fuzz && cargo fuzz run -s none sim_schedule {}",
            path.display(),
            path.display()
        );
    }
    assert!(
        entries.len() >= 8,
        "the sim_schedule corpus has only {} inputs",
        entries.len()
    );
}

#[test]
fn fuzzed_schedules_vary() {
    use tether_sim::Schedule;
    let a = Schedule::from_bytes(&[1; 64]);
    let b = Schedule::from_bytes(&[2; 64]);
    assert_ne!(a, b);
}
