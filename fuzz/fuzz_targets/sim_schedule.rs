#![no_main]

// Fuzzer bytes become a `Schedule` (a seed and a FaultPlan, through `arbitrary`) that a
// simulated World runs with every DESIGN §7 invariant checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_sim::fuzzing::sim_schedule(data));
