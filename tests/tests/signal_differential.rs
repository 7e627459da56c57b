//! Differential suite of `tether-signal` against npm `libsignal` 6.0.0 (Baileys 6.17.16's Signal
//! library, driven through Baileys' own repository by `interop/signal.mjs`).
//!
//! **1:1, in lockstep.** Every scenario is a seeded script (`signal_support`): sessions from
//! bundles with and without one-time pre-keys, simultaneous initiation, hundreds of messages
//! both ways, deliveries reordered within a window, dropped messages, replays, and sessions
//! re-established while old messages are still in flight. Both devices draw their keys from the
//! same deterministic streams whoever runs them, so the script runs four times — Tether ↔
//! Tether, Tether → libsignal, libsignal → Tether, libsignal ↔ libsignal — and every ciphertext
//! byte and every outcome must be identical in all four; every delivered message must decrypt
//! to its plaintext and every replay must fail.
//!
//! **Sender keys, sessions imported from libsignal's JSON, the forward-jump bound** and
//! **libsignal's failed-attempt defect**: see the tests below.
//!
//! Needs Node.js and `(cd interop && npm ci --ignore-scripts)`; run with
//! `cargo test -p tether-tests --test signal_differential -- --ignored`.
//! `TETHER_SIGNAL_SEED`, `TETHER_SIGNAL_SCENARIOS` and `TETHER_SIGNAL_STEPS` override the seed,
//! the number of scenarios and their length.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod signal_support;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use signal_support::{Impl, Script, World, first_difference, run};
use tether_signal::{
    GroupDecryptError, IdentityPolicy, PreKeyId, SenderKeyDistributionMessage, SenderKeyMessage,
    SenderKeyRecord, SessionRecord, SignalMessage,
};
use tether_tests::interop::signal::{DeviceKeys, Libsignal, StreamRng};

const DEFAULT_SEED: u64 = 0x5167_7e7e;
const DEFAULT_SCENARIOS: u64 = 12;
const DEFAULT_STEPS: usize = 400;

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn libsignal() -> Libsignal {
    Libsignal::start().unwrap_or_else(|e| panic!("{e}"))
}

const CONFIGS: [(&str, [Impl; 2]); 4] = [
    ("libsignal-libsignal", [Impl::Libsignal, Impl::Libsignal]),
    ("tether-libsignal", [Impl::Tether, Impl::Libsignal]),
    ("libsignal-tether", [Impl::Libsignal, Impl::Tether]),
    ("tether-tether", [Impl::Tether, Impl::Tether]),
];

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn one_to_one_sessions_match_libsignal_byte_for_byte() {
    let seed = env_num("TETHER_SIGNAL_SEED", DEFAULT_SEED);
    let scenarios = env_num("TETHER_SIGNAL_SCENARIOS", DEFAULT_SCENARIOS);
    let steps = env_num("TETHER_SIGNAL_STEPS", DEFAULT_STEPS);
    let replay = format!(
        "TETHER_SIGNAL_SEED={seed} TETHER_SIGNAL_SCENARIOS={scenarios} \
         TETHER_SIGNAL_STEPS={steps} cargo test -p tether-tests --test signal_differential \
         -- --ignored one_to_one"
    );
    let mut node = libsignal();
    let (mut messages, mut deliveries) = (0, 0);
    for scenario in 0..scenarios {
        let script_seed = seed.wrapping_add(scenario);
        let script = Script::generate(script_seed, steps);
        let label = format!("diff/{script_seed}");
        let mut reference: Option<(&str, Vec<_>)> = None;
        for (config, impls) in CONFIGS {
            let tag = format!("{config}/{script_seed}");
            let mut world = World::new(&mut node, &label, &tag, impls);
            let transcript = run(&mut world, &script).unwrap_or_else(|e| {
                panic!("scenario {scenario} (seed {script_seed}), {config}: {e}\nreplay: {replay}")
            });
            match &reference {
                None => reference = Some((config, transcript)),
                Some((first, expected)) => {
                    if let Some(diff) = first_difference(expected, &transcript) {
                        panic!(
                            "scenario {scenario} (seed {script_seed}): {first} and {config} \
                             differ at {diff}\nreplay: {replay}"
                        );
                    }
                }
            }
        }
        messages += script.messages.len();
        deliveries += script
            .events
            .iter()
            .filter(|e| matches!(e, signal_support::Event::Deliver { .. }))
            .count();
    }
    eprintln!(
        "{scenarios} scenarios (seed {seed}): {messages} messages, {deliveries} deliveries, \
         identical in all four pairings"
    );
    assert!(messages > 0);
}

/// The forward-jump bound is libsignal's exactly: with the receiving chain at `n`, counter
/// `n + 1999` decrypts and `n + 2000` does not, in either direction.
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn the_forward_jump_bound_matches_libsignal() {
    let mut node = libsignal();
    for (config, impls) in [
        ("tether-libsignal", [Impl::Tether, Impl::Libsignal]),
        ("libsignal-tether", [Impl::Libsignal, Impl::Tether]),
    ] {
        let mut world = World::new(&mut node, "jump", &format!("jump/{config}"), impls);
        world.bundle(0, 1, Some(PreKeyId::new(1)));
        let (kind, first) = world.encrypt(0, 1, b"first");
        world.decrypt(1, 0, &kind, &first).unwrap();
        let (kind, reply) = world.encrypt(1, 0, b"reply");
        world.decrypt(0, 1, &kind, &reply).unwrap();
        // The receiver's chain for the sender's next ratchet key starts at 0.
        let batch: Vec<_> = (0..2001)
            .map(|i| world.encrypt(0, 1, &[i as u8; 5]))
            .collect();
        let refused = world.decrypt(1, 0, &batch[2000].0, &batch[2000].1);
        assert!(
            refused.is_err(),
            "{config}: counter 2000 on a fresh chain decrypted"
        );
        let accepted = world.decrypt(1, 0, &batch[1999].0, &batch[1999].1);
        assert_eq!(
            accepted.as_deref(),
            Ok(&[207u8; 5][..]),
            "{config}: counter 1999"
        );
        assert!(
            world.decrypt(1, 0, &batch[2000].0, &batch[2000].1).is_ok(),
            "{config}"
        );
        assert!(
            world.decrypt(1, 0, &batch[3].0, &batch[3].1).is_ok(),
            "{config}: a skipped key"
        );
    }
}

/// libsignal-node's session JSON (Baileys' `session-*.json`) imports into Tether, which then
/// continues the conversation libsignal started — current, archived and still-pending states.
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn sessions_libsignal_started_continue_in_tether_after_import() {
    let mut node = libsignal();
    let alice = DeviceKeys::derive("import/alice", 8);
    let bob = DeviceKeys::derive("import/bob", 8);
    node.party("import-alice", "import/alice", &alice);
    node.party("import-bob", "import/bob", &bob);
    let send = |node: &mut Libsignal, from: &str, to: &str, text: &[u8]| {
        let (kind, body) = node.encrypt(from, to, text);
        assert_eq!(node.decrypt(to, from, &kind, &body).unwrap(), text);
    };
    // An old session with messages in flight, then a new one (Bob archives the old state).
    node.init(
        "import-alice",
        "import-bob",
        &bob.bundle(Some(PreKeyId::new(1))),
    );
    send(&mut node, "import-alice", "import-bob", b"old 1");
    send(&mut node, "import-bob", "import-alice", b"old 2");
    let late_old = node.encrypt("import-alice", "import-bob", b"late, old session");
    node.init(
        "import-alice",
        "import-bob",
        &bob.bundle(Some(PreKeyId::new(2))),
    );
    send(&mut node, "import-alice", "import-bob", b"new 1");
    send(&mut node, "import-bob", "import-alice", b"new 2");
    let in_flight: Vec<_> = (0..3)
        .map(|i| node.encrypt("import-alice", "import-bob", &[b'a', i]))
        .collect();

    // Bob's record moves to Tether.
    let json = node.file("import-bob", "session-import-alice.0").unwrap();
    let mut record = SessionRecord::from_libsignal_json(
        json.as_bytes(),
        bob.identity.identity_key(),
        bob.registration_id,
    )
    .unwrap();
    assert_eq!(record.archived_count(), 1);
    assert_eq!(
        record.remote_identity_key(),
        Some(alice.identity.identity_key())
    );
    let mut rng = StreamRng::new("import/bob-after");
    // Out of order, then the late message of the archived session.
    for (i, (kind, body)) in in_flight.iter().enumerate().rev() {
        assert_eq!(kind, "msg");
        let m = SignalMessage::parse(body).unwrap();
        let got = record
            .decrypt(&m, IdentityPolicy::AcceptAny, &mut rng)
            .unwrap();
        assert_eq!(got.plaintext, [b'a', i as u8]);
    }
    let m = SignalMessage::parse(&late_old.1).unwrap();
    let got = record
        .decrypt(&m, IdentityPolicy::AcceptAny, &mut rng)
        .unwrap();
    assert_eq!(got.plaintext, b"late, old session");
    // Tether answers; libsignal (Alice) decrypts, and the conversation goes on.
    for round in 0..5u8 {
        let out = record.encrypt(&[b'b', round]).unwrap();
        assert_eq!(
            node.decrypt(
                "import-alice",
                "import-bob",
                out.kind.enc_type(),
                &out.bytes
            )
            .unwrap(),
            [b'b', round]
        );
        let (kind, body) = node.encrypt("import-alice", "import-bob", &[b'c', round]);
        assert_eq!(kind, "msg");
        let got = record
            .decrypt(
                &SignalMessage::parse(&body).unwrap(),
                IdentityPolicy::AcceptAny,
                &mut rng,
            )
            .unwrap();
        assert_eq!(got.plaintext, [b'c', round]);
    }

    // A pending (unanswered) initiator state: Alice's new session to Bob's second device.
    let carol = DeviceKeys::derive("import/carol", 2);
    node.party("import-carol", "import/carol", &carol);
    node.init(
        "import-alice",
        "import-carol",
        &carol.bundle(Some(PreKeyId::new(1))),
    );
    let json = node.file("import-alice", "session-import-carol.0").unwrap();
    let mut pending = SessionRecord::from_libsignal_json(
        json.as_bytes(),
        alice.identity.identity_key(),
        alice.registration_id,
    )
    .unwrap();
    assert!(pending.has_pending_pre_key());
    let out = pending.encrypt(b"to carol").unwrap();
    assert_eq!(out.kind.enc_type(), "pkmsg");
    assert_eq!(
        node.decrypt("import-carol", "import-alice", "pkmsg", &out.bytes)
            .unwrap(),
        b"to carol"
    );
}

/// libsignal 6.0.0 ratchets a session it only *tries* while looking for the one that decrypts
/// a message, and stores that damage when another session succeeds. Shown here with the
/// harness's rollback turned off: a late message of an archived session breaks libsignal's
/// current session (its next message no longer decrypts anywhere), while Tether, given the
/// same messages, keeps working. This is one source of the "Bad MAC" Baileys users report.
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn a_late_message_breaks_libsignal_sessions_but_not_tether_sessions() {
    let mut node = libsignal();
    let outcome = |impls: [Impl; 2], node: &mut Libsignal, tag: &str| {
        let mut world = World::new(node, "defect", tag, impls);
        world.bundle(0, 1, Some(PreKeyId::new(1)));
        let (k, m) = world.encrypt(0, 1, b"old");
        world.decrypt(1, 0, &k, &m).unwrap();
        let (k, m) = world.encrypt(1, 0, b"old reply");
        world.decrypt(0, 1, &k, &m).unwrap();
        let late = world.encrypt(0, 1, b"late");
        world.bundle(0, 1, Some(PreKeyId::new(2)));
        let (k, m) = world.encrypt(0, 1, b"new");
        world.decrypt(1, 0, &k, &m).unwrap();
        let (k, m) = world.encrypt(1, 0, b"new reply");
        world.decrypt(0, 1, &k, &m).unwrap();
        // Bob is now on the new session; the late message of the old one arrives.
        world.decrypt(1, 0, &late.0, &late.1).unwrap();
        let (k, m) = world.encrypt(1, 0, b"after the late message");
        world.decrypt(0, 1, &k, &m)
    };
    node.set_transactional(false);
    let libsignal_receiver = outcome([Impl::Tether, Impl::Libsignal], &mut node, "defect/raw");
    node.set_transactional(true);
    let tether_receiver = outcome([Impl::Libsignal, Impl::Tether], &mut node, "defect/tether");
    assert_eq!(
        tether_receiver.as_deref(),
        Ok(&b"after the late message"[..])
    );
    assert!(
        libsignal_receiver.is_err(),
        "libsignal 6.0.0 no longer corrupts its current session on a failed attempt; the \
         harness's rollback (and this test) can go"
    );
}

/// The signed part of a `SenderKeyMessage` (everything but the 64-byte signature, which
/// libsignal-node makes deterministically and Tether with fresh randomness).
fn signed_part(skmsg: &[u8]) -> &[u8] {
    &skmsg[..skmsg.len() - 64]
}

fn iteration(skmsg: &[u8]) -> u32 {
    SenderKeyMessage::parse(skmsg).unwrap().iteration()
}

/// Sender keys against Baileys' group code (its `WASignalGroup` over libsignal's crypto):
/// the same generated key gives byte-identical distribution messages and, at every iteration,
/// byte-identical message bodies (signatures verify both ways); Baileys' messages (iterations
/// 0, 2, 4, …) decrypt in Tether in any order, Tether's in Baileys in order; duplicates fail on
/// both; and Baileys' sender-key JSON imports into Tether, which continues both as a receiver
/// and as the sender.
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn sender_keys_match_baileys_byte_for_byte() {
    let seed = env_num("TETHER_SIGNAL_SEED", DEFAULT_SEED);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut node = libsignal();
    let group = "120363000000000001@g.us";
    for name in ["g-sender", "g-baileys-1", "g-baileys-2"] {
        node.party(name, &format!("group/{name}"), &DeviceKeys::derive(name, 0));
    }
    let plaintext = |rng: &mut ChaCha20Rng| {
        let mut p = vec![0u8; 1 + (rng.next_u32() % 300) as usize];
        rng.fill_bytes(&mut p);
        p
    };

    // The same key on both sides: Baileys creates it on its first message.
    let mut ours = SenderKeyRecord::generate(&mut StreamRng::new("group/g-sender"));
    let first = plaintext(&mut rng);
    let (baileys_first, skdm) = node.group_encrypt("g-sender", group, &first);
    let distribution = ours.distribution_message().unwrap();
    assert_eq!(
        hex::encode(&skdm),
        hex::encode(distribution.as_bytes()),
        "SKDM bytes"
    );
    let ours_first = ours.encrypt(&first, &mut rng).unwrap();
    assert_eq!(
        signed_part(&ours_first),
        signed_part(&baileys_first),
        "iteration 0"
    );
    let signing_key = *distribution.signing_key();
    assert!(
        SenderKeyMessage::parse(&baileys_first)
            .unwrap()
            .verify_signature(&signing_key)
    );

    // Receivers of Baileys' chain (1) and of Tether's chain (2), one of each kind.
    let mut tether_1 = SenderKeyRecord::new();
    let mut tether_2 = SenderKeyRecord::new();
    let skdm_parsed = SenderKeyDistributionMessage::parse(&skdm).unwrap();
    tether_1.process_distribution(&skdm_parsed);
    tether_2.process_distribution(&skdm_parsed);
    node.group_process("g-baileys-1", group, "g-sender", &skdm);
    node.group_process("g-baileys-2", group, "g-sender", distribution.as_bytes());

    let mut from_baileys = vec![(first.clone(), baileys_first)];
    let mut from_tether = vec![(first, ours_first)];
    let mut shadow = ours.clone();
    for _ in 0..150 {
        let p = plaintext(&mut rng);
        let (bytes, _) = node.group_encrypt("g-sender", group, &p);
        let at = iteration(&bytes);
        // Tether's twin, advanced to the same iteration, writes the same body.
        while shadow.distribution_message().unwrap().iteration() < at {
            shadow.encrypt(b"skipped", &mut rng).unwrap();
        }
        let twin = shadow.encrypt(&p, &mut rng).unwrap();
        assert_eq!(iteration(&twin), at);
        assert_eq!(signed_part(&twin), signed_part(&bytes), "iteration {at}");
        from_baileys.push((p, bytes));
        let p = plaintext(&mut rng);
        let bytes = ours.encrypt(&p, &mut rng).unwrap();
        from_tether.push((p, bytes));
    }
    assert_eq!(
        iteration(&from_baileys.last().unwrap().1),
        300,
        "Baileys advances by two"
    );

    // Tether receivers: any order within a window, every message once, replays refused.
    for (record, messages) in [
        (&mut tether_1, &from_baileys),
        (&mut tether_2, &from_tether),
    ] {
        let mut order: Vec<usize> = (0..messages.len()).collect();
        for i in (1..order.len()).rev() {
            let j = i.saturating_sub((rng.next_u32() % 4) as usize);
            order.swap(i, j);
        }
        for (n, &i) in order.iter().enumerate() {
            let message = SenderKeyMessage::parse(&messages[i].1).unwrap();
            assert_eq!(
                record.decrypt(&message).unwrap(),
                messages[i].0,
                "message {i}"
            );
            if n % 7 == 0 {
                let again = record.decrypt(&message).unwrap_err();
                assert!(
                    matches!(again, GroupDecryptError::Duplicate { .. }),
                    "{again:?}"
                );
            }
        }
    }
    // Baileys receivers: in order (Baileys' store loses the skipped keys it serialises, so it
    // cannot decrypt a message older than one it already has), with gaps and replays.
    for (name, messages) in [
        ("g-baileys-1", &from_baileys),
        ("g-baileys-2", &from_tether),
    ] {
        let mut newest = None;
        for (i, (p, bytes)) in messages.iter().enumerate() {
            if i % 5 == 3 {
                continue; // dropped
            }
            assert_eq!(
                &node.group_decrypt(name, group, "g-sender", bytes).unwrap(),
                p,
                "{name} #{i}"
            );
            if i % 9 == 0 {
                assert!(
                    node.group_decrypt(name, group, "g-sender", bytes).is_err(),
                    "{name} replay"
                );
            }
            newest = Some(i);
        }
        // The defect: a skipped (dropped) message arriving late fails in Baileys.
        let late = &messages[newest.unwrap() - 2].1;
        assert!(node.group_decrypt(name, group, "g-sender", late).is_err());
    }

    // Baileys' receiver state (sender-key-*.json) continues in Tether.
    let file = format!("sender-key-{group}::g-sender::0");
    let json = node.file("g-baileys-1", &file).unwrap();
    let mut imported = SenderKeyRecord::from_baileys_json(json.as_bytes()).unwrap();
    assert!(!imported.is_own());
    let p = plaintext(&mut rng);
    let (bytes, _) = node.group_encrypt("g-sender", group, &p);
    assert_eq!(
        imported
            .decrypt(&SenderKeyMessage::parse(&bytes).unwrap())
            .unwrap(),
        p
    );
    // Baileys' own sender state continues in Tether as the sender.
    let json = node.file("g-sender", &file).unwrap();
    let mut own = SenderKeyRecord::from_baileys_json(json.as_bytes()).unwrap();
    assert!(own.is_own());
    let p = plaintext(&mut rng);
    let bytes = own.encrypt(&p, &mut rng).unwrap();
    assert_eq!(
        node.group_decrypt("g-baileys-1", group, "g-sender", &bytes)
            .unwrap(),
        p
    );
    assert_eq!(
        imported
            .decrypt(&SenderKeyMessage::parse(&bytes).unwrap())
            .unwrap(),
        p
    );
}
