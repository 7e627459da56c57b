//! Crash test: a child applying a stream of credential updates is killed with SIGKILL at 200
//! random moments (seeded). After each kill the store passes the integrity check, opens, and
//! holds exactly the state after its last committed update — never a torn one, and never less
//! than what the child reported as committed.
//!
//! Replay a failure with `TETHER_CRASH_SEED=<seed> cargo test -p tether-store-redb --test crash`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code)]
#[path = "../src/bin/tether-store-crash/stream.rs"]
mod stream;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::collections::BTreeMap;

use bytes::Bytes;
use tether_core::creds::{CredentialStore, Credentials};
use tether_core::records::{self, RecordData, RecordRead, Table};
use tether_store_redb::{RedbStore, check};

use common::TempDir;

const KILLS: usize = 200;
const DEFAULT_SEED: u64 = 0x7e7e_2026;

/// Every field and family of `a` equals `b`'s (`Credentials` has no `PartialEq` on purpose).
fn differences(a: &Credentials, b: &Credentials) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |same: bool, what| {
        if !same {
            out.push(what);
        }
    };
    check(a.noise_key == b.noise_key, "noise key");
    check(a.identity_key == b.identity_key, "identity key");
    check(a.signed_pre_key.id == b.signed_pre_key.id, "spk id");
    check(
        a.signed_pre_key.key_pair == b.signed_pre_key.key_pair,
        "spk",
    );
    check(
        a.signed_pre_key.signature == b.signed_pre_key.signature,
        "spk signature",
    );
    check(a.registration_id == b.registration_id, "registration id");
    check(a.adv_secret == b.adv_secret, "adv secret");
    check(a.device == b.device, "device identity");
    check(a.confirmed == b.confirmed, "confirmed");
    check(a.push_name == b.push_name, "push name");
    check(a.routing_info == b.routing_info, "routing info");
    check(a.version == b.version, "version");
    check(a.next_pre_key_id == b.next_pre_key_id, "next pre-key id");
    check(
        a.first_unuploaded_pre_key_id == b.first_unuploaded_pre_key_id,
        "first un-uploaded pre-key id",
    );
    check(
        a.app_state_sync_keys == b.app_state_sync_keys,
        "app-state sync keys",
    );
    check(
        a.app_state_versions == b.app_state_versions,
        "app-state versions",
    );
    out
}

#[test]
fn sigkill_at_random_moments_leaves_exactly_a_committed_prefix() {
    let seed = std::env::var("TETHER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let fail = |kill: usize, what: String| -> ! {
        panic!(
            "crash test seed {seed}, kill {kill}: {what}\nreplay: TETHER_CRASH_SEED={seed} cargo \
             test -p tether-store-redb --test crash"
        )
    };
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let tmp = TempDir::new("crash");
    let path = tmp.path().join("tether.redb");
    let mut model: Option<Credentials> = None;
    let mut model_records = BTreeMap::new();
    let mut model_seq = 0u64;
    let (mut ahead, mut empty_runs) = (0usize, 0usize);
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether-store-crash"))
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(u64::from(rng.next_u32() % 40_000)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        if !err.trim().is_empty() {
            fail(kill, format!("the child reported an error: {err}"));
        }
        let printed = out
            .lines()
            .filter_map(|l| l.strip_prefix("committed ")?.parse::<u64>().ok())
            .max();
        if !path.exists() {
            // Killed during the very first open: no store, and nothing may have been committed.
            if model_seq > 0 || printed.is_some() {
                fail(kill, "the store file vanished".into());
            }
            empty_runs += 1;
            continue;
        }
        let report = check(&path);
        if !report.is_healthy() {
            fail(kill, format!("the integrity check failed:\n{report}"));
        }
        let mut store = RedbStore::open(&path).unwrap_or_else(|e| fail(kill, e.to_string()));
        let loaded = store.load().unwrap_or_else(|e| fail(kill, e.to_string()));
        let (creds, seq) = match loaded {
            Some((c, s)) => (Some(c), s.0),
            None => (None, 0),
        };
        if seq < model_seq {
            fail(
                kill,
                format!("the store went back from #{model_seq} to #{seq}"),
            );
        }
        if let Some(p) = printed
            && seq < p
        {
            fail(
                kill,
                format!("the child printed #{p} as committed, the store holds #{seq}"),
            );
        }
        if printed.is_none_or(|p| seq > p) && seq > model_seq {
            ahead += 1; // killed between a commit and its line
        }
        if printed.is_none() {
            empty_runs += 1;
        }
        while model_seq < seq {
            model_seq += 1;
            let delta = stream::delta(model_seq);
            Credentials::apply(&mut model, &delta).unwrap();
            records::write_map(&mut model_records, &delta.records);
        }
        let stored = store
            .read_records(&[RecordRead::Range {
                table: Table::PreKeys,
                start: Bytes::new(),
                end: Bytes::new(),
                limit: u32::MAX,
            }])
            .unwrap_or_else(|e| fail(kill, e.to_string()));
        let wanted: Vec<(Bytes, Bytes)> = model_records
            .iter()
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        if stored != [RecordData::Rows(wanted)] {
            fail(
                kill,
                format!("torn state at #{seq}: the pre-key records differ"),
            );
        }
        match (&model, &creds) {
            (None, None) => {}
            (Some(m), Some(c)) => {
                let diff = differences(c, m);
                if !diff.is_empty() {
                    fail(kill, format!("torn state at #{seq}: {diff:?} differ"));
                }
            }
            _ => fail(kill, format!("identity presence differs at #{seq}")),
        }
        if report.last_seq.unwrap_or(0) > seq {
            fail(kill, "the check saw a later sequence than the open".into());
        }
        drop(store);
    }
    eprintln!(
        "crash test seed {seed}: {KILLS} kills, {model_seq} updates committed, {ahead} kills \
         between a commit and its report, {empty_runs} kills before the first commit of a run"
    );
    assert!(
        model_seq > KILLS as u64 / 4,
        "too few updates were committed to mean anything"
    );
}
