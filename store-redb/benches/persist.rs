//! Persist latency of the redb store: how long `apply` takes until the change is durable
//! (`Durability::Immediate`), for a typical pairing delta and for a batch of 100 pre-keys.
//!
//! `cargo bench -p tether-store-redb --bench persist` prints p50/p99 for both (and a markdown
//! table for `docs/PERFORMANCE.md`). The store lives under Cargo's target temp directory, i.e.
//! on the same disk as the build, not on a tmpfs; `TETHER_BENCH_DIR` points it elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, DeviceIdentity, PersistSeq,
};
use tether_core::crypto::KeyPair;
use tether_store_redb::RedbStore;

const WARMUP: usize = 20;
const RUNS: usize = 400;

fn pairing(i: u64) -> CredentialsDelta {
    // What the core persists at `pair-success`: the identity on the account (jid, lid, the
    // ~200-byte signed device identity, platform), as one change.
    CredentialsDelta::one(CredentialChange::Paired(DeviceIdentity {
        jid: Jid::device("15551234567", (i % 60) as u16 + 1, Server::WhatsApp),
        lid: Some(Jid::device(
            "123456789012345",
            (i % 60) as u16 + 1,
            Server::Lid,
        )),
        account: Bytes::from(vec![(i % 251) as u8; 210]),
        platform: Some("android".into()),
        business_name: None,
    }))
}

fn pre_keys(i: u64) -> CredentialsDelta {
    let from = u32::try_from(i).unwrap() * 100 + 1;
    let keys: Vec<(u32, KeyPair)> = (from..from + 100)
        .map(|id| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&id.to_le_bytes());
            (id, KeyPair::from_private_bytes(b))
        })
        .collect();
    CredentialsDelta::pre_keys_generated(&keys, from + 100)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn run(
    name: &str,
    dir: &std::path::Path,
    make: impl Fn(u64) -> CredentialsDelta,
) -> (Duration, Duration) {
    let path = dir.join(format!("{name}.redb"));
    let _ = std::fs::remove_file(&path);
    let mut store = RedbStore::open(&path).unwrap();
    let creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(1));
    store
        .apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(creds))),
        )
        .unwrap();
    let deltas: Vec<_> = (0..(WARMUP + RUNS) as u64).map(&make).collect();
    let mut times = Vec::with_capacity(RUNS);
    for (i, delta) in deltas.iter().enumerate() {
        let start = Instant::now();
        store.apply(PersistSeq(i as u64 + 2), delta).unwrap();
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.50), percentile(&times, 0.99));
    println!(
        "{name:<22} p50 {:>8.1} µs   p99 {:>8.1} µs   ({RUNS} runs)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    drop(store);
    let _ = std::fs::remove_file(&path);
    (p50, p99)
}

/// The floor: a bare redb write transaction of one 32-byte row, committed `Immediate`.
fn bare_commit(dir: &std::path::Path) -> (Duration, Duration) {
    let path = dir.join("bare.redb");
    let _ = std::fs::remove_file(&path);
    let db = redb::Database::create(&path).unwrap();
    let table: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("t");
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..(WARMUP + RUNS) as u64 {
        let start = Instant::now();
        let txn = db.begin_write().unwrap();
        txn.open_table(table)
            .unwrap()
            .insert(i, &[7u8; 32][..])
            .unwrap();
        txn.commit().unwrap();
        if i >= WARMUP as u64 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.50), percentile(&times, 0.99));
    println!(
        "{:<22} p50 {:>8.1} µs   p99 {:>8.1} µs   ({RUNS} runs)",
        "bare redb commit",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    drop(db);
    let _ = std::fs::remove_file(&path);
    (p50, p99)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("persist: bench");
        return;
    }
    // `TETHER_BENCH_DIR=/dev/shm/x` measures on a tmpfs, where fsync is free: the store's own
    // CPU cost without the disk.
    let dir = std::env::var_os("TETHER_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("persist-bench"),
        PathBuf::from,
    );
    println!("store directory: {}", dir.display());
    std::fs::create_dir_all(&dir).unwrap();
    let pairing = run("pairing delta", &dir, pairing);
    let batch = run("100 pre-keys", &dir, pre_keys);
    let bare = bare_commit(&dir);
    println!("\n| delta | p50 | p99 |\n|---|---|---|");
    for (name, (p50, p99)) in [
        ("typical pairing delta", pairing),
        ("100-pre-key batch", batch),
        ("floor: bare redb commit of one row", bare),
    ] {
        println!(
            "| {name} | {:.0} µs | {:.0} µs |",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    }
}
