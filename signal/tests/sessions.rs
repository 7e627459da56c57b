//! 1:1 sessions through the public API: establishment with and without one-time pre-keys,
//! out-of-order and duplicate delivery, archived states, typed errors that leave the record
//! unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::Party;
use tether_signal::session::MAX_FORWARD_JUMP;
use tether_signal::{
    CiphertextKind, DecryptError, EncryptError, IdentityPolicy, PreKeySignalMessage, SessionRecord,
    SessionSource, SignalMessage,
};

#[test]
fn parties_talk_both_ways_with_and_without_one_time_pre_keys() {
    for one_time in [true, false] {
        let (mut alice, mut bob) = (Party::new(1), Party::new(2));
        let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
        alice.start(&mut a, &bob, one_time);
        let first = a.encrypt(b"hello").unwrap();
        assert_eq!(first.kind, CiphertextKind::PreKeySignalMessage);
        let got = bob.receive(&mut b, &first).unwrap();
        assert_eq!(got.plaintext, b"hello");
        assert_eq!(got.source, SessionSource::New);
        assert_eq!(got.consumed_pre_key.is_some(), one_time);
        assert_eq!(bob.pre_keys.len(), if one_time { 19 } else { 20 });
        for round in 0..5u8 {
            let reply = b.encrypt(&[round; 40]).unwrap();
            assert_eq!(reply.kind, CiphertextKind::SignalMessage);
            assert_eq!(
                alice.receive(&mut a, &reply).unwrap().plaintext,
                [round; 40]
            );
            assert!(!a.has_pending_pre_key());
            let again = a.encrypt(&[round; 3]).unwrap();
            assert_eq!(again.kind, CiphertextKind::SignalMessage);
            assert_eq!(bob.receive(&mut b, &again).unwrap().plaintext, [round; 3]);
        }
    }
}

#[test]
fn pkmsg_repeats_until_the_first_reply_and_needs_no_keys_the_second_time() {
    let (mut alice, mut bob) = (Party::new(3), Party::new(4));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    let messages: Vec<_> = (0..3).map(|i| a.encrypt(&[i]).unwrap()).collect();
    assert!(
        messages
            .iter()
            .all(|m| m.kind == CiphertextKind::PreKeySignalMessage)
    );
    let parsed: Vec<_> = messages
        .iter()
        .map(|m| PreKeySignalMessage::parse(&m.bytes).unwrap())
        .collect();
    assert!(
        parsed
            .windows(2)
            .all(|w| w[0].base_key() == w[1].base_key())
    );
    // Delivered out of order: the third first.
    assert!(b.needs_pre_keys(&parsed[2]));
    assert_eq!(bob.receive(&mut b, &messages[2]).unwrap().plaintext, [2]);
    assert!(!b.needs_pre_keys(&parsed[0]));
    let without_keys = b
        .decrypt_pre_key(&parsed[0], None, IdentityPolicy::AcceptAny, &mut bob.rng)
        .unwrap();
    assert_eq!(without_keys.plaintext, [0]);
    assert_eq!(without_keys.consumed_pre_key, None);
    assert_eq!(bob.receive(&mut b, &messages[1]).unwrap().plaintext, [1]);
}

#[test]
fn out_of_order_and_duplicate_messages_within_the_skip_bound() {
    let (mut alice, mut bob) = (Party::new(5), Party::new(6));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    bob.receive(&mut b, &a.encrypt(b"hi").unwrap()).unwrap();
    alice.receive(&mut a, &b.encrypt(b"ok").unwrap()).unwrap();
    let batch: Vec<_> = (0..50u8).map(|i| a.encrypt(&[i; 17]).unwrap()).collect();
    for i in (0..50).rev().step_by(2).chain((0..50).step_by(2)) {
        assert_eq!(
            bob.receive(&mut b, &batch[i]).unwrap().plaintext,
            [i as u8; 17]
        );
    }
    let before = b.clone();
    let replay = bob.receive(&mut b, &batch[10]).unwrap_err();
    assert!(
        matches!(replay, DecryptError::Duplicate { counter: 10 }),
        "{replay:?}"
    );
    assert_eq!(b, before, "a failed decryption changes nothing");
}

#[test]
fn too_far_in_the_future_is_refused_at_the_bound() {
    let (mut alice, mut bob) = (Party::new(7), Party::new(8));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, false);
    bob.receive(&mut b, &a.encrypt(b"0").unwrap()).unwrap();
    let batch: Vec<_> = (0..=MAX_FORWARD_JUMP + 1)
        .map(|_| a.encrypt(b"x").unwrap())
        .collect();
    // The chain is at 1; counter 1 + 2000 is the first refused.
    let last = batch.last().unwrap();
    assert_eq!(
        PreKeySignalMessage::parse(&last.bytes)
            .unwrap()
            .message()
            .counter(),
        MAX_FORWARD_JUMP + 2
    );
    let before = b.clone();
    let refused = bob
        .receive(&mut b, &batch[MAX_FORWARD_JUMP as usize])
        .unwrap_err();
    assert!(
        matches!(refused, DecryptError::TooFarInFuture { counter } if counter == MAX_FORWARD_JUMP + 1),
        "{refused:?}"
    );
    assert_eq!(b, before);
    assert!(
        bob.receive(&mut b, &batch[MAX_FORWARD_JUMP as usize - 1])
            .is_ok()
    );
}

#[test]
fn a_reestablished_session_and_late_messages_of_the_old_one_both_decrypt() {
    let (mut alice, mut bob) = (Party::new(9), Party::new(10));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    bob.receive(&mut b, &a.encrypt(b"first").unwrap()).unwrap();
    alice
        .receive(&mut a, &b.encrypt(b"reply").unwrap())
        .unwrap();
    let late_from_alice = a.encrypt(b"late a").unwrap();
    let late_from_bob = b.encrypt(b"late b").unwrap();
    // Alice re-installs her session from a new bundle.
    alice.start(&mut a, &bob, true);
    assert_eq!(a.archived_count(), 1);
    let fresh = a.encrypt(b"new session").unwrap();
    assert_eq!(fresh.kind, CiphertextKind::PreKeySignalMessage);
    let got = bob.receive(&mut b, &fresh).unwrap();
    assert_eq!(
        (got.plaintext.as_slice(), got.source),
        (&b"new session"[..], SessionSource::New)
    );
    assert_eq!(b.archived_count(), 1);
    let old = bob.receive(&mut b, &late_from_alice).unwrap();
    assert_eq!(
        (old.plaintext.as_slice(), old.source),
        (&b"late a"[..], SessionSource::Archived)
    );
    let old = alice.receive(&mut a, &late_from_bob).unwrap();
    assert_eq!(
        (old.plaintext.as_slice(), old.source),
        (&b"late b"[..], SessionSource::Archived)
    );
    // Both continue on the new session.
    let reply = b.encrypt(b"on the new one").unwrap();
    assert_eq!(
        alice.receive(&mut a, &reply).unwrap().source,
        SessionSource::Current
    );
}

#[test]
fn simultaneous_initiation_keeps_both_sessions_working() {
    let (mut alice, mut bob) = (Party::new(11), Party::new(12));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    bob.start(&mut b, &alice, true);
    let from_a = a.encrypt(b"a1").unwrap();
    let from_b = b.encrypt(b"b1").unwrap();
    assert_eq!(bob.receive(&mut b, &from_a).unwrap().plaintext, b"a1");
    assert_eq!(alice.receive(&mut a, &from_b).unwrap().plaintext, b"b1");
    for i in 0..10u8 {
        let m = a.encrypt(&[i]).unwrap();
        assert_eq!(bob.receive(&mut b, &m).unwrap().plaintext, [i]);
        let m = b.encrypt(&[i, i]).unwrap();
        assert_eq!(alice.receive(&mut a, &m).unwrap().plaintext, [i, i]);
    }
}

#[test]
fn errors_are_typed_and_leave_the_record_unchanged() {
    let (mut alice, mut bob) = (Party::new(13), Party::new(14));
    let mut empty = SessionRecord::new();
    assert_eq!(empty.encrypt(b"x").unwrap_err(), EncryptError::NoSession);
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    let first = a.encrypt(b"x").unwrap();
    let parsed = PreKeySignalMessage::parse(&first.bytes).unwrap();
    // No keys, missing signed pre-key, missing one-time pre-key.
    let keys_needed = b
        .decrypt_pre_key(&parsed, None, IdentityPolicy::AcceptAny, &mut bob.rng)
        .unwrap_err();
    assert!(
        matches!(keys_needed, DecryptError::PreKeysRequired { .. }),
        "{keys_needed:?}"
    );
    let keys = tether_signal::ResponderKeys {
        identity: &bob.identity,
        registration_id: bob.registration_id,
        signed_pre_key: None,
        one_time_pre_key: None,
    };
    let missing = b
        .decrypt_pre_key(&parsed, Some(keys), IdentityPolicy::AcceptAny, &mut bob.rng)
        .unwrap_err();
    assert_eq!(
        missing,
        DecryptError::MissingSignedPreKey {
            id: parsed.signed_pre_key_id()
        }
    );
    let keys = tether_signal::ResponderKeys {
        signed_pre_key: Some(&bob.signed_pre_key),
        ..keys
    };
    let missing = b
        .decrypt_pre_key(&parsed, Some(keys), IdentityPolicy::AcceptAny, &mut bob.rng)
        .unwrap_err();
    assert_eq!(
        missing,
        DecryptError::InvalidPreKeyId {
            id: parsed.pre_key_id().unwrap()
        }
    );
    // Untrusted identity.
    let other = Party::new(99);
    let untrusted = b
        .decrypt_pre_key(
            &parsed,
            None,
            IdentityPolicy::Require(other.identity.identity_key()),
            &mut bob.rng,
        )
        .unwrap_err();
    assert!(matches!(untrusted, DecryptError::UntrustedIdentity { .. }));
    assert!(b.is_empty());
    // Bad MAC: a flipped ciphertext byte.
    bob.receive(&mut b, &first).unwrap();
    let mut reply = b.encrypt(b"reply").unwrap();
    let before = a.clone();
    let at = reply.bytes.len() - 12;
    reply.bytes[at] ^= 1;
    assert_eq!(
        alice.receive(&mut a, &reply).unwrap_err(),
        DecryptError::BadMac
    );
    assert_eq!(a, before);
    // No session.
    let mut nobody = SessionRecord::new();
    assert_eq!(
        alice.receive(&mut nobody, &reply).unwrap_err(),
        DecryptError::NoSession
    );
    // Malformed bytes and a wrong version byte.
    let mut wrong = reply.bytes.clone();
    wrong[0] = 0x23;
    assert!(matches!(
        SignalMessage::parse(&wrong).map_err(DecryptError::from),
        Err(DecryptError::UnsupportedVersion { version: 0x23 })
    ));
    assert!(matches!(
        SignalMessage::parse(&reply.bytes[..5]).map_err(DecryptError::from),
        Err(DecryptError::InvalidMessage(_))
    ));
}

#[test]
fn a_forged_bundle_signature_is_refused() {
    let (mut alice, bob) = (Party::new(15), Party::new(16));
    let mut bundle = bob.bundle(true);
    bundle.signed_pre_key_signature[0] ^= 1;
    let mut a = SessionRecord::new();
    let error = a
        .process_bundle(
            &alice.identity,
            alice.registration_id,
            &bundle,
            IdentityPolicy::AcceptAny,
            &mut alice.rng,
        )
        .unwrap_err();
    assert_eq!(error, tether_signal::BundleError::InvalidSignature);
    assert!(a.is_empty());
}

#[test]
fn records_round_trip_and_debug_hides_secrets() {
    let (mut alice, mut bob) = (Party::new(17), Party::new(18));
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    alice.start(&mut a, &bob, true);
    bob.receive(&mut b, &a.encrypt(b"x").unwrap()).unwrap();
    let skipped: Vec<_> = (0..5).map(|_| b.encrypt(b"y").unwrap()).collect();
    alice.receive(&mut a, &skipped[4]).unwrap();
    alice.start(&mut a, &bob, false);
    for record in [&a, &b] {
        let bytes = record.to_bytes();
        assert_eq!(&SessionRecord::from_bytes(&bytes).unwrap(), record);
        let debug = format!("{record:?}");
        assert!(!debug.contains("root_key: ["), "{debug}");
        for cut in 0..bytes.len() {
            assert!(SessionRecord::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
