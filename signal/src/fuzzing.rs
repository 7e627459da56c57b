//! Fuzzing entry points (private feature `__fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` (`signal_parse`, `signal_decrypt`) are one-line calls into
//! this module, and `tests/fuzz_corpus.rs` replays the committed corpus through the same
//! functions under a plain `cargo test`. Every function panics only when a property is
//! violated, never on malformed input.

// A failed property must abort the fuzz run, so `expect` is the point here.
#![allow(clippy::expect_used)]

use std::sync::OnceLock;

use rand_core::{SeedableRng, TryCryptoRng, TryRng};

use crate::SenderKeyRecord;
use crate::keys::{
    IdentityKey, IdentityKeyPair, PreKey, PreKeyId, RegistrationId, SignedPreKey, SignedPreKeyId,
};
use crate::message::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};
use crate::session::{IdentityPolicy, PreKeyBundle, ResponderKeys, SessionRecord};

/// Every parser on `data`: the four wire formats, both record formats, both JSON imports.
/// Properties: no panic; what parses re-serialises to the same bytes (records) or keeps its
/// fields (messages).
pub fn parse(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => {
            if let Ok(m) = SignalMessage::parse(rest) {
                assert_eq!(m.as_bytes(), rest);
                assert_eq!(SignalMessage::parse(m.as_bytes()).as_ref(), Ok(&m));
            }
        }
        1 => {
            if let Ok(m) = PreKeySignalMessage::parse(rest) {
                assert_eq!(m.as_bytes(), rest);
                let again = PreKeySignalMessage::parse(m.as_bytes()).expect("parses again");
                assert_eq!(again.message(), m.message());
            }
        }
        2 => {
            if let Ok(m) = SenderKeyMessage::parse(rest) {
                assert_eq!(m.as_bytes(), rest);
            }
        }
        3 => {
            if let Ok(m) = SenderKeyDistributionMessage::parse(rest) {
                // Our own encoding of the same fields parses to the same fields.
                let ours = SenderKeyDistributionMessage::new(
                    m.key_id(),
                    m.iteration(),
                    m.chain_key(),
                    *m.signing_key(),
                );
                let again = SenderKeyDistributionMessage::parse(ours.as_bytes()).expect("ours");
                assert_eq!(
                    (
                        again.key_id(),
                        again.iteration(),
                        again.chain_key(),
                        again.signing_key()
                    ),
                    (m.key_id(), m.iteration(), m.chain_key(), m.signing_key())
                );
            }
        }
        4 => {
            if let Ok(record) = SessionRecord::from_bytes(rest) {
                assert_eq!(
                    record.to_bytes(),
                    rest,
                    "a session record re-encodes exactly"
                );
            }
        }
        5 => {
            if let Ok(record) = SenderKeyRecord::from_bytes(rest) {
                assert_eq!(
                    record.to_bytes(),
                    rest,
                    "a sender-key record re-encodes exactly"
                );
            }
        }
        6 => {
            let identity = IdentityKey::new(crate::PublicKey::from_montgomery([9; 32]));
            if let Ok(record) =
                SessionRecord::from_libsignal_json(rest, &identity, RegistrationId::new(1))
            {
                let bytes = record.to_bytes();
                assert_eq!(
                    SessionRecord::from_bytes(&bytes).expect("reads back"),
                    record
                );
            }
        }
        _ => {
            if let Ok(record) = SenderKeyRecord::from_baileys_json(rest) {
                let bytes = record.to_bytes();
                assert_eq!(
                    SenderKeyRecord::from_bytes(&bytes).expect("reads back"),
                    record
                );
            }
        }
    }
}

/// Decrypting arbitrary bytes against live sessions. Layout: `[mode, payload…]`:
///
/// - mode 0: `payload` as a `msg` to Bob, whose record holds a current and an archived state
///   with several receiving chains and skipped keys;
/// - mode 1: `payload` as a `pkmsg` to Bob, with his pre-keys;
/// - mode 2: `payload` as an `skmsg` to a group member;
/// - mode 3: a valid `msg` for Bob with the byte at `payload[0..2]` (position) xor-ed with
///   `payload[2]`, so mutations reach the MAC and the ratchet past parsing.
///
/// Properties: no panic; a failed decryption leaves the record byte-for-byte unchanged; a
/// successful one yields a record that still encodes and reads back.
pub fn decrypt(data: &[u8]) {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let live = live();
    let mut rng = Counter(0);
    match mode % 4 {
        0 | 3 => {
            let bytes = if mode % 4 == 3 {
                let (Some(&hi), Some(&lo), Some(&flip)) =
                    (payload.first(), payload.get(1), payload.get(2))
                else {
                    return;
                };
                let mut m = live.valid_msg.clone();
                let at = usize::from(u16::from_be_bytes([hi, lo])) % m.len();
                m[at] ^= flip.max(1);
                m
            } else {
                payload.to_vec()
            };
            let Ok(message) = SignalMessage::parse(&bytes) else {
                return;
            };
            let mut record = SessionRecord::from_bytes(&live.bob).expect("the live record");
            let result = record.decrypt(&message, IdentityPolicy::AcceptAny, &mut rng);
            check(result.is_ok(), &live.bob, &record.to_bytes());
        }
        1 => {
            let Ok(message) = PreKeySignalMessage::parse(payload) else {
                return;
            };
            let mut record = SessionRecord::from_bytes(&live.bob).expect("the live record");
            let keys = ResponderKeys {
                identity: &live.bob_identity,
                registration_id: RegistrationId::new(2),
                signed_pre_key: Some(&live.bob_signed),
                one_time_pre_key: Some(&live.bob_one_time),
            };
            let result =
                record.decrypt_pre_key(&message, Some(keys), IdentityPolicy::AcceptAny, &mut rng);
            check(result.is_ok(), &live.bob, &record.to_bytes());
        }
        _ => {
            let Ok(message) = SenderKeyMessage::parse(payload) else {
                return;
            };
            let mut record = SenderKeyRecord::from_bytes(&live.member).expect("the live record");
            let result = record.decrypt(&message);
            check(result.is_ok(), &live.member, &record.to_bytes());
        }
    }
}

fn check(decrypted: bool, before: &[u8], after: &[u8]) {
    if decrypted {
        assert!(!after.is_empty());
    } else {
        assert_eq!(before, after, "a failed decryption changed the record");
    }
}

/// Live records, built once per process from fixed keys.
struct Live {
    bob: Vec<u8>,
    bob_identity: IdentityKeyPair,
    bob_signed: SignedPreKey,
    bob_one_time: PreKey,
    valid_msg: Vec<u8>,
    member: Vec<u8>,
}

fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let mut rng = rand_chacha_free::Stream::seed_from_u64(7);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob_identity = IdentityKeyPair::generate(&mut rng);
        let bob_signed = SignedPreKey::generate(SignedPreKeyId::new(1), &bob_identity, &mut rng);
        let bob_one_time = PreKey::generate(PreKeyId::new(5), &mut rng);
        let bundle = |one_time: bool| PreKeyBundle {
            registration_id: RegistrationId::new(2),
            device_id: 1,
            pre_key: one_time.then(|| (bob_one_time.id(), bob_one_time.public_key())),
            signed_pre_key_id: bob_signed.id(),
            signed_pre_key: bob_signed.public_key(),
            signed_pre_key_signature: *bob_signed.signature(),
            identity_key: *bob_identity.identity_key(),
        };
        let keys = ResponderKeys {
            identity: &bob_identity,
            registration_id: RegistrationId::new(2),
            signed_pre_key: Some(&bob_signed),
            one_time_pre_key: Some(&bob_one_time),
        };
        let any = IdentityPolicy::AcceptAny;
        let mut a = SessionRecord::new();
        let mut b = SessionRecord::new();
        let mut valid_msg = Vec::new();
        // Two sessions (the first archived), each with a few ratchet turns and skipped keys.
        for one_time in [false, true] {
            a.process_bundle(
                &alice,
                RegistrationId::new(1),
                &bundle(one_time),
                any,
                &mut rng,
            )
            .expect("bundle");
            let first = PreKeySignalMessage::parse(&a.encrypt(b"first").expect("pkmsg").bytes)
                .expect("pkmsg");
            let keys = b.needs_pre_keys(&first).then_some(keys);
            b.decrypt_pre_key(&first, keys, any, &mut rng)
                .expect("first");
            for turn in 0..4u8 {
                let reply = b.encrypt(&[turn]).expect("reply");
                a.decrypt(
                    &SignalMessage::parse(&reply.bytes).expect("msg"),
                    any,
                    &mut rng,
                )
                .expect("reply");
                let batch: Vec<_> = (0..3)
                    .map(|i| a.encrypt(&[turn, i]).expect("msg"))
                    .collect();
                // The middle one is skipped (kept for later); the last is fuzzed in mode 3.
                for m in [&batch[0], &batch[2]] {
                    b.decrypt(&SignalMessage::parse(&m.bytes).expect("msg"), any, &mut rng)
                        .expect("msg");
                }
                valid_msg.clone_from(&batch[1].bytes);
            }
        }
        let mut sender = SenderKeyRecord::generate(&mut rng);
        let mut member = SenderKeyRecord::new();
        member.process_distribution(&sender.distribution_message().expect("own"));
        for i in 0..5u8 {
            let m = sender.encrypt(&[i], &mut rng).expect("skmsg");
            if i % 2 == 0 {
                member
                    .decrypt(&SenderKeyMessage::parse(&m).expect("skmsg"))
                    .expect("decrypts");
            }
        }
        Live {
            bob: b.to_bytes(),
            bob_identity,
            bob_signed,
            bob_one_time,
            valid_msg,
            member: member.to_bytes(),
        }
    })
}

/// A counter "RNG" for the ratchet steps of fuzzed decryptions (their keys need no secrecy).
struct Counter(u64);

impl TryRng for Counter {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.0 += 1;
        Ok(self.0 as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 += 1;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            self.0 += 1;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for Counter {}

/// A seedable generator without another dependency: SHA-256 of a seed and a counter.
mod rand_chacha_free {
    use rand_core::{SeedableRng, TryCryptoRng, TryRng};
    use sha2::{Digest, Sha256};

    pub(super) struct Stream {
        seed: [u8; 32],
        block: u64,
        buffer: Vec<u8>,
    }

    impl SeedableRng for Stream {
        type Seed = [u8; 32];
        fn from_seed(seed: [u8; 32]) -> Self {
            Self {
                seed,
                block: 0,
                buffer: Vec::new(),
            }
        }
    }

    impl TryRng for Stream {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            while self.buffer.len() < dst.len() {
                let block = Sha256::new()
                    .chain_update(self.seed)
                    .chain_update(self.block.to_le_bytes())
                    .finalize();
                self.block += 1;
                self.buffer.extend_from_slice(&block);
            }
            dst.copy_from_slice(&self.buffer[..dst.len()]);
            self.buffer.drain(..dst.len());
            Ok(())
        }
    }

    impl TryCryptoRng for Stream {}
}
