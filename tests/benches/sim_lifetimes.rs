//! Simulated connection lifetimes per second, one thread (DESIGN §8: ≥ 200/s per core; the
//! simulation issue asks for ≥ 10,000/s).
//!
//! `cargo bench -p tether-tests --bench sim_lifetimes`
//!
//! A lifetime is one `World` run of a fixed plan: link a fresh account by QR (registration
//! handshake, pair-device, the phone's pair-success, 515, login handshake), then 5 transient
//! faults (abrupt close, stream error 503, failure 500 on the next login, a refused connect, a
//! reset after 200 bytes), each recovered with a new handshake and login, all invariants
//! checked after every step. Seeds vary per lifetime. To show where the time goes, the bench
//! also times link + login alone and the crypto operations a lifetime repeats (x25519 key
//! generation and agreement, credential generation). `TETHER_BENCH_LIFETIMES` sets the count
//! (default 1 000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::creds::Credentials;
use tether_core::crypto::KeyPair;
use tether_sim::{FaultPlan, NetConfig, PlannedFault, World};

fn five_faults() -> FaultPlan {
    let s = Duration::from_secs;
    FaultPlan::new(
        NetConfig::default(),
        vec![
            (s(20), PlannedFault::AbruptClose),
            (s(60), PlannedFault::StreamError(503)),
            (s(100), PlannedFault::Failure(500)),
            (s(140), PlannedFault::RefuseConnects(1)),
            (s(180), PlannedFault::Reset(200)),
        ],
    )
}

/// Runs `n` lifetimes of `plan`; returns the elapsed time and the trace lines per run.
fn lifetimes(n: u64, plan: &FaultPlan) -> (Duration, usize) {
    let started = Instant::now();
    let mut lines = 0;
    for seed in 0..n {
        let outcome = World::run_plan(seed, plan.clone());
        if let Some(failure) = outcome.failure {
            panic!("{failure}");
        }
        lines += outcome.trace.len();
    }
    let per_run = lines / usize::try_from(n.max(1)).unwrap_or(1);
    (started.elapsed(), per_run)
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn micros(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let n: u64 = std::env::var("TETHER_BENCH_LIFETIMES")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1000);
    let plan = five_faults();
    lifetimes(20, &plan); // warm-up
    let (full, lines) = lifetimes(n, &plan);
    let empty = FaultPlan::new(NetConfig::default(), Vec::new());
    let (link_only, _) = lifetimes(n, &empty);

    let ops = 20_000u64;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let started = Instant::now();
    let keys: Vec<KeyPair> = (0..ops).map(|_| KeyPair::generate(&mut rng)).collect();
    let keygen = started.elapsed();
    let peer = KeyPair::generate(&mut rng).public_bytes();
    let started = Instant::now();
    for key in &keys {
        black_box(key.diffie_hellman(black_box(&peer)));
    }
    let dh = started.elapsed();
    let cred_ops = 2_000u64;
    let started = Instant::now();
    for _ in 0..cred_ops {
        black_box(Credentials::generate(&mut rng));
    }
    let creds = started.elapsed();

    println!("sim lifetimes (link, login, 5 faults, recover), 1 thread, {n} runs:");
    println!(
        "  full lifetime     {:>9.0} µs  {:>8.0} lifetimes/s  ({lines} trace lines per run)",
        micros(full, n),
        per_second(n, full)
    );
    println!(
        "  link + login only {:>9.0} µs  {:>8.0} runs/s",
        micros(link_only, n),
        per_second(n, link_only)
    );
    println!(
        "  x25519 keygen     {:>9.1} µs   x25519 agreement {:>6.1} µs   Credentials::generate {:>7.1} µs",
        micros(keygen, ops),
        micros(dh, ops),
        micros(creds, cred_ops)
    );
    println!(
        "targets: DESIGN §8 ≥ 200/s per core: {}; issue ≥ 10,000/s: {}",
        if per_second(n, full) >= 200.0 {
            "met"
        } else {
            "NOT met"
        },
        if per_second(n, full) >= 10_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
