//! Property tests: encrypt/decrypt round trips of arbitrary plaintexts and under arbitrary
//! delivery orders within the skip bound (1:1 and groups), messages that re-parse from their
//! own bytes, conversations with arbitrary turn-taking, records that round-trip
//! through their binary form at every step, and parsers that never panic on arbitrary or
//! mutated bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::Party;
use tether_signal::{
    DecryptError, GroupDecryptError, PreKeySignalMessage, SenderKeyDistributionMessage,
    SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalMessage,
};

/// Two parties with an established session (one round trip done).
fn established(seed: u64) -> (Party, Party, SessionRecord, SessionRecord) {
    let (mut alice, mut bob) = (Party::new(seed), Party::new(seed + 1));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, seed.is_multiple_of(2));
    bob.receive(&mut b, &a.encrypt(b"hi").unwrap()).unwrap();
    alice.receive(&mut a, &b.encrypt(b"hi").unwrap()).unwrap();
    (alice, bob, a, b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any permutation of a batch, with any duplicates mixed in: each message decrypts exactly
    /// once, to its plaintext; every duplicate is a typed error that changes nothing.
    #[test]
    fn any_delivery_order_decrypts_every_message_once(
        seed in 0u64..1000,
        count in 1usize..60,
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..120),
    ) {
        let (_alice, mut bob, mut a, mut b) = established(seed);
        let batch: Vec<_> = (0..count).map(|i| a.encrypt(&[i as u8; 7]).unwrap()).collect();
        let mut done = vec![false; count];
        let deliveries = order.iter().map(|ix| ix.index(count)).chain(0..count);
        for i in deliveries {
            let before = b.clone();
            match bob.receive(&mut b, &batch[i]) {
                Ok(got) => {
                    prop_assert!(!done[i], "message {} decrypted twice", i);
                    prop_assert_eq!(got.plaintext, vec![i as u8; 7]);
                    done[i] = true;
                }
                Err(e) => {
                    prop_assert!(done[i], "message {} failed: {:?}", i, e);
                    prop_assert!(matches!(e, DecryptError::Duplicate { .. }), "{:?}", e);
                    prop_assert_eq!(&b, &before);
                }
            }
        }
        prop_assert!(done.iter().all(|&d| d));
    }

    /// A conversation with arbitrary turn-taking and delivery within a reorder window, the
    /// records stored as bytes and read back between every operation: every message decrypts.
    #[test]
    fn conversations_survive_reordering_and_storage(
        seed in 0u64..1000,
        steps in proptest::collection::vec((any::<bool>(), any::<bool>(), 0usize..3), 1..80),
    ) {
        let (mut alice, mut bob) = (Party::new(seed), Party::new(seed + 1));
        let mut records = [SessionRecord::new().to_bytes(), SessionRecord::new().to_bytes()];
        {
            let mut a = SessionRecord::new();
            alice.start(&mut a, &bob, true);
            records[0] = a.to_bytes();
        }
        let mut can_send = [true, false];
        // (recipient, message, plaintext, deliveries it has waited)
        let mut in_flight: Vec<(usize, tether_signal::Ciphertext, Vec<u8>, u32)> = Vec::new();
        for (n, (from_bob, deliver, pick)) in steps.into_iter().enumerate() {
            let from = usize::from(from_bob && can_send[1]);
            // A message waits at most 3 other deliveries (well inside the 5 receiving chains
            // a state keeps).
            let overdue = in_flight.iter().position(|m| m.3 >= 3);
            if overdue.is_some() || (deliver && !in_flight.is_empty()) {
                let at = overdue.unwrap_or_else(|| pick % in_flight.len().min(3));
                let (to, c, plaintext, _) = in_flight.remove(at);
                for m in &mut in_flight {
                    m.3 += 1;
                }
                let mut record = SessionRecord::from_bytes(&records[to]).unwrap();
                let party = if to == 0 { &mut alice } else { &mut bob };
                let got = party.receive(&mut record, &c).unwrap();
                prop_assert_eq!(got.plaintext, plaintext);
                records[to] = record.to_bytes();
                can_send[to] = true;
            } else {
                let mut record = SessionRecord::from_bytes(&records[from]).unwrap();
                let plaintext = (n as u32).to_le_bytes().to_vec();
                let c = record.encrypt(&plaintext).unwrap();
                records[from] = record.to_bytes();
                in_flight.push((1 - from, c, plaintext, 0));
            }
        }
    }

    /// Group messages in any order within the bound decrypt once each.
    #[test]
    fn group_messages_decrypt_in_any_order(
        seed in any::<u64>(),
        count in 1usize..50,
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..80),
    ) {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut sender = SenderKeyRecord::generate(&mut rng);
        let mut member = SenderKeyRecord::new();
        member.process_distribution(&sender.distribution_message().unwrap());
        let batch: Vec<_> = (0..count).map(|i| sender.encrypt(&[i as u8], &mut rng).unwrap()).collect();
        let mut done = vec![false; count];
        for i in order.iter().map(|ix| ix.index(count)).chain(0..count) {
            let before = member.clone();
            match member.decrypt(&SenderKeyMessage::parse(&batch[i]).unwrap()) {
                Ok(p) => {
                    prop_assert!(!done[i]);
                    prop_assert_eq!(p, vec![i as u8]);
                    done[i] = true;
                }
                Err(e) => {
                    prop_assert!(done[i] && matches!(e, GroupDecryptError::Duplicate { .. }), "{:?}", e);
                    prop_assert_eq!(&member, &before);
                }
            }
        }
        let bytes = member.to_bytes();
        prop_assert_eq!(SenderKeyRecord::from_bytes(&bytes).unwrap(), member);
    }

    /// Plaintexts of every length (padding boundaries included) round-trip 1:1 and in groups,
    /// every message and distribution message re-parses from its own bytes to equal fields, and
    /// the records go through their binary form between operations.
    #[test]
    fn plaintexts_messages_and_records_round_trip(
        seed in 0u64..1000,
        plaintexts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
    ) {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let (_alice, mut bob, mut a, b) = established(seed);
        let mut b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut sender = SenderKeyRecord::generate(&mut rng);
        let mut member = SenderKeyRecord::new();
        for (i, plaintext) in plaintexts.iter().enumerate() {
            let c = a.encrypt(plaintext).unwrap();
            let m = SignalMessage::parse(&c.bytes).unwrap();
            prop_assert_eq!(m.as_bytes(), &c.bytes[..]);
            prop_assert_eq!(SignalMessage::parse(m.as_bytes()).unwrap(), m.clone());
            prop_assert_eq!(m.ciphertext().len(), (plaintext.len() / 16 + 1) * 16);
            prop_assert_eq!(bob.receive(&mut b, &c).unwrap().plaintext, plaintext.clone());
            a = SessionRecord::from_bytes(&a.to_bytes()).unwrap();
            b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();

            let skdm = sender.distribution_message().unwrap();
            let again = SenderKeyDistributionMessage::parse(skdm.as_bytes()).unwrap();
            prop_assert_eq!(&again, &skdm);
            prop_assert_eq!(again.iteration() as usize, i);
            if i == 0 {
                member.process_distribution(&again);
            }
            let g = sender.encrypt(plaintext, &mut rng).unwrap();
            let parsed = SenderKeyMessage::parse(&g).unwrap();
            prop_assert_eq!(parsed.as_bytes(), &g[..]);
            prop_assert_eq!(parsed.iteration() as usize, i);
            prop_assert_eq!(&member.decrypt(&parsed).unwrap(), plaintext);
            sender = SenderKeyRecord::from_bytes(&sender.to_bytes()).unwrap();
            member = SenderKeyRecord::from_bytes(&member.to_bytes()).unwrap();
        }
    }

    /// Parsers never panic on arbitrary bytes, and a record that reads re-encodes exactly.
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SignalMessage::parse(&bytes);
        let _ = PreKeySignalMessage::parse(&bytes);
        let _ = SenderKeyMessage::parse(&bytes);
        let _ = SenderKeyDistributionMessage::parse(&bytes);
        if let Ok(record) = SessionRecord::from_bytes(&bytes) {
            prop_assert_eq!(record.to_bytes(), bytes.clone());
        }
        if let Ok(record) = SenderKeyRecord::from_bytes(&bytes) {
            prop_assert_eq!(record.to_bytes(), bytes);
        }
    }

    /// Mutated real messages and records: parsers return errors or values, never panic; a
    /// mutated message never decrypts to a wrong plaintext and never changes the record.
    #[test]
    fn mutations_of_real_messages_fail_cleanly(
        seed in 0u64..200,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (_alice, mut bob, mut a, mut b) = established(seed);
        let mut mutated = a.encrypt(b"original").unwrap();
        let i = at.index(mutated.bytes.len());
        mutated.bytes[i] ^= flip;
        let before = b.clone();
        match bob.receive(&mut b, &mutated) {
            Ok(got) => prop_assert_eq!(got.plaintext, b"original".to_vec()),
            Err(_) => prop_assert_eq!(&b, &before),
        }
        let mut record = b.to_bytes();
        let j = at.index(record.len());
        record[j] ^= flip;
        let _ = SessionRecord::from_bytes(&record);
    }
}
