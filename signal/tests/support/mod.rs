//! Two parties with seeded keys, for the session and group tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_signal::{
    Ciphertext, CiphertextKind, DecryptError, Decrypted, IdentityKeyPair, IdentityPolicy, PreKey,
    PreKeyBundle, PreKeyId, PreKeySignalMessage, RegistrationId, ResponderKeys, SessionRecord,
    SignalMessage, SignedPreKey, SignedPreKeyId,
};

/// One device: identity, registration id, signed pre-key, one-time pre-keys, an RNG.
pub struct Party {
    pub identity: IdentityKeyPair,
    pub registration_id: RegistrationId,
    pub signed_pre_key: SignedPreKey,
    pub pre_keys: Vec<PreKey>,
    pub rng: ChaCha20Rng,
}

impl Party {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed_pre_key = SignedPreKey::generate(SignedPreKeyId::new(7), &identity, &mut rng);
        let pre_keys = (1..=20)
            .map(|id| PreKey::generate(PreKeyId::new(id), &mut rng))
            .collect();
        Self {
            identity,
            registration_id: RegistrationId::new(1000 + seed as u32),
            signed_pre_key,
            pre_keys,
            rng,
        }
    }

    /// A bundle, with the first remaining one-time pre-key if `one_time`.
    pub fn bundle(&self, one_time: bool) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 1,
            pre_key: one_time
                .then(|| self.pre_keys.first().map(|k| (k.id(), k.public_key())))
                .flatten(),
            signed_pre_key_id: self.signed_pre_key.id(),
            signed_pre_key: self.signed_pre_key.public_key(),
            signed_pre_key_signature: *self.signed_pre_key.signature(),
            identity_key: *self.identity.identity_key(),
        }
    }

    /// Starts a session with `peer` in `record`.
    pub fn start(&mut self, record: &mut SessionRecord, peer: &Self, one_time: bool) {
        record
            .process_bundle(
                &self.identity,
                self.registration_id,
                &peer.bundle(one_time),
                IdentityPolicy::AcceptAny,
                &mut self.rng,
            )
            .unwrap();
    }

    /// Decrypts `ciphertext` as the receiver would: parse by kind, load exactly the keys a
    /// `pkmsg` names, delete the consumed one-time pre-key.
    pub fn receive(
        &mut self,
        record: &mut SessionRecord,
        ciphertext: &Ciphertext,
    ) -> Result<Decrypted, DecryptError> {
        match ciphertext.kind {
            CiphertextKind::SignalMessage => {
                let message = SignalMessage::parse(&ciphertext.bytes)?;
                record.decrypt(&message, IdentityPolicy::AcceptAny, &mut self.rng)
            }
            CiphertextKind::PreKeySignalMessage => {
                let message = PreKeySignalMessage::parse(&ciphertext.bytes)?;
                let one_time = message
                    .pre_key_id()
                    .and_then(|id| self.pre_keys.iter().find(|k| k.id() == id));
                let keys = record.needs_pre_keys(&message).then_some(ResponderKeys {
                    identity: &self.identity,
                    registration_id: self.registration_id,
                    signed_pre_key: Some(&self.signed_pre_key)
                        .filter(|k| k.id() == message.signed_pre_key_id()),
                    one_time_pre_key: one_time,
                });
                let result = record.decrypt_pre_key(
                    &message,
                    keys,
                    IdentityPolicy::AcceptAny,
                    &mut self.rng,
                )?;
                if let Some(id) = result.consumed_pre_key {
                    self.pre_keys.retain(|k| k.id() != id);
                }
                Ok(result)
            }
        }
    }
}
