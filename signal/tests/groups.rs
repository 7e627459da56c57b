//! Sender keys through the public API: distribution, encrypt/decrypt with gaps, reordering and
//! duplicates, the state bound, typed errors that leave the record unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_signal::group::{MAX_SENDER_FORWARD_JUMP, MAX_SENDER_KEY_STATES};
use tether_signal::{
    GroupDecryptError, GroupEncryptError, SenderKeyDistributionMessage, SenderKeyMessage,
    SenderKeyRecord,
};

fn parse(bytes: &[u8]) -> SenderKeyMessage {
    SenderKeyMessage::parse(bytes).unwrap()
}

#[test]
fn members_decrypt_in_any_order_and_refuse_duplicates() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut ours = SenderKeyRecord::generate(&mut rng);
    assert!(ours.is_own());
    let skdm = ours.distribution_message().unwrap();
    let skdm = SenderKeyDistributionMessage::parse(skdm.as_bytes()).unwrap();
    let mut theirs = SenderKeyRecord::new();
    assert!(theirs.process_distribution(&skdm));
    assert!(
        !theirs.process_distribution(&skdm),
        "the same key again changes nothing"
    );
    let messages: Vec<_> = (0..30u8)
        .map(|i| ours.encrypt(&[i; 20], &mut rng).unwrap())
        .collect();
    for i in (0..30).rev() {
        assert_eq!(theirs.decrypt(&parse(&messages[i])).unwrap(), [i as u8; 20]);
    }
    let before = theirs.clone();
    assert_eq!(
        theirs.decrypt(&parse(&messages[3])).unwrap_err(),
        GroupDecryptError::Duplicate { iteration: 3 }
    );
    assert_eq!(theirs, before);
    let round_trip = SenderKeyRecord::from_bytes(&theirs.to_bytes()).unwrap();
    assert_eq!(round_trip, theirs);
    assert_eq!(SenderKeyRecord::from_bytes(&ours.to_bytes()).unwrap(), ours);
}

#[test]
fn forged_unknown_and_too_far_messages_are_typed_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut ours = SenderKeyRecord::generate(&mut rng);
    let mut theirs = SenderKeyRecord::new();
    assert_eq!(
        theirs.encrypt(b"x", &mut rng).unwrap_err(),
        GroupEncryptError::NoSenderKey
    );
    let first = ours.encrypt(b"early", &mut rng).unwrap();
    let unknown = theirs.decrypt(&parse(&first)).unwrap_err();
    assert!(matches!(unknown, GroupDecryptError::NoSenderKey { .. }));
    theirs.process_distribution(&ours.distribution_message().unwrap());
    assert_eq!(
        theirs.encrypt(b"x", &mut rng).unwrap_err(),
        GroupEncryptError::NotOurs
    );
    let mut forged = ours.encrypt(b"hello", &mut rng).unwrap();
    let at = forged.len() - 70;
    forged[at] ^= 1;
    let before = theirs.clone();
    assert_eq!(
        theirs.decrypt(&parse(&forged)).unwrap_err(),
        GroupDecryptError::BadSignature
    );
    assert_eq!(theirs, before);
    let batch: Vec<_> = (0..=MAX_SENDER_FORWARD_JUMP + 1)
        .map(|_| ours.encrypt(b"x", &mut rng).unwrap())
        .collect();
    // The receiver's chain is at 1 (the distribution message came after the first message).
    let far = parse(batch.last().unwrap());
    assert_eq!(far.iteration(), MAX_SENDER_FORWARD_JUMP + 3);
    assert!(matches!(
        theirs.decrypt(&far).unwrap_err(),
        GroupDecryptError::TooFarInFuture { .. }
    ));
    assert_eq!(theirs, before);
    let at_bound = parse(&batch[MAX_SENDER_FORWARD_JUMP as usize - 1]);
    assert_eq!(at_bound.iteration(), MAX_SENDER_FORWARD_JUMP + 1);
    assert!(theirs.decrypt(&at_bound).is_ok());
}

#[test]
fn a_record_keeps_the_newest_five_senders_chains() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut theirs = SenderKeyRecord::new();
    let mut senders: Vec<_> = (0..MAX_SENDER_KEY_STATES + 1)
        .map(|_| SenderKeyRecord::generate(&mut rng))
        .collect();
    for sender in &senders {
        theirs.process_distribution(&sender.distribution_message().unwrap());
    }
    assert_eq!(theirs.key_ids().count(), MAX_SENDER_KEY_STATES);
    let oldest = senders[0].encrypt(b"x", &mut rng).unwrap();
    assert!(matches!(
        theirs.decrypt(&parse(&oldest)).unwrap_err(),
        GroupDecryptError::NoSenderKey { .. }
    ));
    let newest = senders[MAX_SENDER_KEY_STATES]
        .encrypt(b"y", &mut rng)
        .unwrap();
    assert_eq!(theirs.decrypt(&parse(&newest)).unwrap(), b"y");
}

#[test]
fn debug_never_shows_chain_keys() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let ours = SenderKeyRecord::generate(&mut rng);
    let skdm = ours.distribution_message().unwrap();
    let secret = hex::encode(skdm.chain_key());
    for text in [format!("{ours:?}"), format!("{skdm:?}")] {
        assert!(!text.contains(&secret), "{text}");
    }
}
