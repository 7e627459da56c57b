//! Signal protocol throughput, Tether (`tether-signal`) vs npm libsignal 6.0.0 under Node.js
//! (with Baileys 6.17.16's group code), side by side in one run.
//!
//! `cargo bench -p tether-tests --bench signal_vs_libsignal`
//!
//! Operations (the same on both sides; plaintext: a 45-byte `Message{conversation}` padded to
//! 48 bytes):
//!
//! - **X3DH initiator**: a new session from a bundle with a one-time pre-key (Tether verifies
//!   the bundle signature; libsignal skips it);
//! - **X3DH responder**: the first `pkmsg` of a new session decrypted by a fresh record (X3DH
//!   and the first ratchet step);
//! - **message, one way**: encrypt + decrypt on an established session (symmetric ratchet);
//! - **message, ping-pong**: encrypt + decrypt with the direction alternating (a DH ratchet step
//!   on every message);
//! - **group message**: sender-key encrypt + decrypt (signature made and verified).
//!
//! Each runs twice per side: with records in memory (Tether: the `SessionRecord` value;
//! libsignal: its record objects kept by the store), and through storage (Tether: the record
//! decoded from and encoded to its bytes around every operation; libsignal: Baileys' repository
//! over its multi-file key store's JSON, as Baileys runs it, without the disk).
//!
//! Each figure is the thread CPU time per call (Linux `/proc/thread-self/schedstat`, the same on
//! both sides; Node's main thread, so V8's concurrent collector threads are not counted against
//! libsignal) over `TETHER_BENCH_SECONDS` of CPU time per measurement (default 1), and the whole
//! comparison runs `TETHER_BENCH_ROUNDS` times (default 3), Tether and libsignal alternating,
//! keeping each figure's best round. CPU time rather than wall time because the machine is
//! shared: time slices spent in other processes count against neither side. `TETHER_BENCH_SECONDS`
//! sets the time per measurement (default 1). Without the npm package
//! (`(cd interop && npm ci --ignore-scripts)`) only Tether's numbers are printed.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value as Json;
use tether_signal::{
    Ciphertext, CiphertextKind, IdentityKeyPair, IdentityPolicy, PreKey, PreKeyBundle, PreKeyId,
    PreKeySignalMessage, RegistrationId, ResponderKeys, SenderKeyDistributionMessage,
    SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalMessage, SignedPreKey, SignedPreKeyId,
};
use tether_tests::bench::env_or;
use tether_tests::interop::Baileys;

const OPERATIONS: [(&str, &str); 5] = [
    ("x3dh_initiator", "X3DH set-up, initiator (from a bundle)"),
    ("x3dh_responder", "X3DH set-up, responder (first pkmsg)"),
    ("message_one_way", "1:1 message encrypt + decrypt, one way"),
    (
        "message_ping_pong",
        "1:1 message encrypt + decrypt, ping-pong",
    ),
    ("group_message", "group message encrypt + decrypt"),
];
const STORES: [(&str, &str); 2] = [("objects", "in memory"), ("baileys", "through storage")];

/// This thread's CPU time in nanoseconds (`/proc/thread-self/schedstat`, Linux), or `None`
/// where it cannot be read (then wall time is used).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Microseconds of this thread's CPU time per call of `f`, over calls totalling about
/// `seconds` of CPU time after a warm-up. `signal-bench.mjs` measures Node's main thread the
/// same way. CPU time rather than wall time, because the machine is shared: time slices spent
/// in other processes do not count against either side.
fn time(seconds: f64, mut f: impl FnMut(usize)) -> f64 {
    let mut n = 0;
    let warm = Instant::now();
    while n < 10 || warm.elapsed() < Duration::from_millis(50) {
        f(n);
        n += 1;
    }
    let cpu = thread_cpu_ns().is_some();
    let clock = || {
        if cpu {
            thread_cpu_ns().unwrap_or(0)
        } else {
            warm.elapsed().as_nanos() as u64
        }
    };
    let start = clock();
    let budget = (seconds * 1e9) as u64;
    let mut calls = 0u64;
    loop {
        for _ in 0..16 {
            f(n);
            n += 1;
        }
        calls += 16;
        let spent = clock().saturating_sub(start);
        if spent >= budget {
            return spent as f64 / calls as f64 / 1000.0;
        }
    }
}

struct Device {
    identity: IdentityKeyPair,
    registration_id: RegistrationId,
    signed: SignedPreKey,
    one_time: PreKey,
}

impl Device {
    fn new(rng: &mut ChaCha20Rng, registration: u32) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let signed = SignedPreKey::generate(SignedPreKeyId::new(1), &identity, rng);
        Self {
            identity,
            registration_id: RegistrationId::new(registration),
            signed,
            one_time: PreKey::generate(PreKeyId::new(7), rng),
        }
    }

    fn bundle(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 1,
            pre_key: Some((self.one_time.id(), self.one_time.public_key())),
            signed_pre_key_id: self.signed.id(),
            signed_pre_key: self.signed.public_key(),
            signed_pre_key_signature: *self.signed.signature(),
            identity_key: *self.identity.identity_key(),
        }
    }

    fn keys(&self) -> ResponderKeys<'_> {
        ResponderKeys {
            identity: &self.identity,
            registration_id: self.registration_id,
            signed_pre_key: Some(&self.signed),
            one_time_pre_key: Some(&self.one_time),
        }
    }

    fn receive(
        &self,
        record: &mut SessionRecord,
        c: &Ciphertext,
        rng: &mut ChaCha20Rng,
    ) -> Vec<u8> {
        let result = match c.kind {
            CiphertextKind::SignalMessage => record.decrypt(
                &SignalMessage::parse(&c.bytes).expect("a message"),
                IdentityPolicy::AcceptAny,
                rng,
            ),
            CiphertextKind::PreKeySignalMessage => {
                let m = PreKeySignalMessage::parse(&c.bytes).expect("a pkmsg");
                let keys = record.needs_pre_keys(&m).then(|| self.keys());
                record.decrypt_pre_key(&m, keys, IdentityPolicy::AcceptAny, rng)
            }
        };
        result.expect("it decrypts").plaintext
    }
}

/// Tether's figures, µs per operation, by store.
fn tether(seconds: f64) -> [[f64; 5]; 2] {
    let text = hex::decode(
        "0a2d48656c6c6f2c20746869732069732061207479706963616c2073686f72742063686174206d6573736167652e030303",
    )
    .expect("hex");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (a, b) = (Device::new(&mut rng, 1), Device::new(&mut rng, 2));
    let mut out = [[0.0; 5]; 2];
    for (s, stored) in [false, true].into_iter().enumerate() {
        let save = |r: &SessionRecord| if stored { Some(r.to_bytes()) } else { None };
        // X3DH initiator.
        out[s][0] = time(seconds, |_| {
            let r = SessionRecord::from_bundle(
                &a.identity,
                a.registration_id,
                &b.bundle(),
                IdentityPolicy::AcceptAny,
                &mut rng,
            )
            .expect("a session");
            black_box(save(&r));
            black_box(r);
        });
        // X3DH responder.
        let firsts: Vec<_> = (0..400)
            .map(|_| {
                let mut r = SessionRecord::from_bundle(
                    &a.identity,
                    a.registration_id,
                    &b.bundle(),
                    IdentityPolicy::AcceptAny,
                    &mut rng,
                )
                .expect("a session");
                PreKeySignalMessage::parse(&r.encrypt(&text).expect("pkmsg").bytes).expect("parse")
            })
            .collect();
        out[s][1] = time(seconds, |i| {
            let mut r = SessionRecord::new();
            let got = r
                .decrypt_pre_key(
                    &firsts[i % firsts.len()],
                    Some(b.keys()),
                    IdentityPolicy::AcceptAny,
                    &mut rng,
                )
                .expect("decrypts");
            black_box(save(&r));
            black_box(got);
        });
        // Established sessions.
        let mut ra = SessionRecord::from_bundle(
            &a.identity,
            a.registration_id,
            &b.bundle(),
            IdentityPolicy::AcceptAny,
            &mut rng,
        )
        .expect("a session");
        let mut rb = SessionRecord::new();
        b.receive(&mut rb, &ra.encrypt(&text).expect("first"), &mut rng);
        a.receive(&mut ra, &rb.encrypt(&text).expect("reply"), &mut rng);
        let mut bytes = [ra.to_bytes(), rb.to_bytes()];
        let mut records = [ra, rb];
        let devices = [&a, &b];
        let mut step = |from: usize, rng: &mut ChaCha20Rng| {
            let to = 1 - from;
            if stored {
                for i in [from, to] {
                    records[i] = SessionRecord::from_bytes(&bytes[i]).expect("a record");
                }
            }
            let c = records[from].encrypt(&text).expect("encrypts");
            let p = devices[to].receive(&mut records[to], &c, rng);
            if stored {
                bytes[from] = records[from].to_bytes();
                bytes[to] = records[to].to_bytes();
            }
            black_box(p);
        };
        out[s][2] = time(seconds, |_| step(0, &mut rng));
        out[s][3] = time(seconds, |i| step(i % 2, &mut rng));
        // Sender keys.
        let mut sender = SenderKeyRecord::generate(&mut rng);
        let mut receiver = SenderKeyRecord::new();
        receiver.process_distribution(
            &SenderKeyDistributionMessage::parse(
                sender.distribution_message().expect("own").as_bytes(),
            )
            .expect("skdm"),
        );
        let mut group_bytes = [sender.to_bytes(), receiver.to_bytes()];
        out[s][4] = time(seconds, |_| {
            if stored {
                sender = SenderKeyRecord::from_bytes(&group_bytes[0]).expect("record");
                receiver = SenderKeyRecord::from_bytes(&group_bytes[1]).expect("record");
            }
            let m = sender.encrypt(&text, &mut rng).expect("encrypts");
            let p = receiver
                .decrypt(&SenderKeyMessage::parse(&m).expect("skmsg"))
                .expect("decrypts");
            if stored {
                group_bytes = [sender.to_bytes(), receiver.to_bytes()];
            }
            black_box(p);
        });
    }
    out
}

/// libsignal's figures, µs per operation, by store, from `node interop/signal.mjs bench`.
fn libsignal(harness: &Baileys, seconds: f64) -> Result<[[f64; 5]; 2], String> {
    let out = Command::new(harness.node())
        .arg(harness.root().join("interop/signal.mjs"))
        .args(["bench", "--seconds", &seconds.to_string()])
        .current_dir(harness.root())
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "signal.mjs bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json: Json =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bench output: {e}"))?;
    let mut figures = [[0.0; 5]; 2];
    for (s, (store, _)) in STORES.iter().enumerate() {
        for (o, (op, _)) in OPERATIONS.iter().enumerate() {
            figures[s][o] = json[store][op]
                .as_f64()
                .ok_or_else(|| format!("bench output lacks {store}.{op}"))?;
        }
    }
    Ok(figures)
}

fn best(into: &mut [[f64; 5]; 2], round: [[f64; 5]; 2]) {
    for (row, new) in into.iter_mut().zip(round) {
        for (cell, value) in row.iter_mut().zip(new) {
            if *cell == 0.0 || value < *cell {
                *cell = value;
            }
        }
    }
}

fn main() {
    let rounds = env_or::<usize>("TETHER_BENCH_ROUNDS", 3);
    let seconds = env_or::<f64>("TETHER_BENCH_SECONDS", 1.0);
    let harness = Baileys::locate();
    if let Err(e) = &harness {
        eprintln!("libsignal not available ({e}); Tether's figures only");
    }
    let mut ours = [[0.0; 5]; 2];
    let mut theirs = [[0.0; 5]; 2];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        best(&mut ours, tether(seconds));
        if let Ok(h) = &harness {
            match libsignal(h, seconds) {
                Ok(figures) => best(&mut theirs, figures),
                Err(e) => eprintln!("{e}"),
            }
        }
    }
    println!("| operation | records | Tether µs/op | libsignal µs/op | ratio |");
    println!("|---|---|---:|---:|---:|");
    for (s, (_, store)) in STORES.iter().enumerate() {
        for (o, (_, name)) in OPERATIONS.iter().enumerate() {
            let (t, l) = (ours[s][o], theirs[s][o]);
            let ratio = if l > 0.0 {
                format!("{:.1}×", l / t)
            } else {
                "—".to_owned()
            };
            let l = if l > 0.0 {
                format!("{l:.1}")
            } else {
                "—".to_owned()
            };
            println!("| {name} | {store} | {t:.2} | {l} | {ratio} |");
        }
    }
}
