//! [`SenderKeyRecord`]: one group sender's chains, and group encrypt / decrypt.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::{
    MAX_SENDER_FORWARD_JUMP, MAX_SENDER_KEY_STATES, MAX_SENDER_SKIPPED_KEYS, SenderChainKey,
    SenderMessageKeys,
};
use crate::cbc;
use crate::keys::{KeyPair, PublicKey, SenderKeyId};
use crate::message::{MessageError, SenderKeyDistributionMessage, SenderKeyMessage};

/// One sender chain: its id, chain key, signing key (with the private half for our own), and
/// the seeds of skipped iterations, ascending.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SenderKeyState {
    pub(crate) key_id: SenderKeyId,
    pub(crate) chain: SenderChainKey,
    pub(crate) signing_key: PublicKey,
    pub(crate) signing_private: Option<[u8; 32]>,
    pub(crate) skipped: Vec<(u32, [u8; 32])>,
}

impl Drop for SenderKeyState {
    fn drop(&mut self) {
        self.signing_private.zeroize();
        for (_, seed) in &mut self.skipped {
            seed.zeroize();
        }
    }
}

/// A group sender's chains (the states of one sender key name: group and sender device),
/// oldest first, at most [`MAX_SENDER_KEY_STATES`].
///
/// Operations take `&mut self` and, as for sessions, change nothing when they fail.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    pub(crate) states: Vec<SenderKeyState>,
}

/// Why a group message could not be encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupEncryptError {
    /// The record has no state: create our sender key first ([`SenderKeyRecord::generate`]).
    #[error("no sender key for this group: create one and distribute it first")]
    NoSenderKey,
    /// The newest state is another sender's (no private signing key).
    #[error("this sender key record is another member's; only our own can encrypt")]
    NotOurs,
    /// The chain reached 2³² messages: rotate the sender key.
    #[error("the sender chain is exhausted: rotate the group's sender key")]
    ChainExhausted,
}

/// Why a group message did not decrypt. On every error the record is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupDecryptError {
    /// The bytes are not a well-formed `SenderKeyMessage`.
    #[error("malformed group message: {0}")]
    InvalidMessage(MessageError),
    /// The version byte names a message version other than 3.
    #[error("unsupported group message version byte {version:#04x}")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// We have no chain with this id from the sender (no distribution message yet).
    #[error(
        "no sender key {key_id} from this sender: its distribution message has not arrived; \
         ask it to retry, the resend carries the key"
    )]
    NoSenderKey {
        /// The key id the message names.
        key_id: SenderKeyId,
    },
    /// The signature is not the chain's signing key's.
    #[error("the group message's signature does not verify: forged or corrupted")]
    BadSignature,
    /// The iteration's key is gone (a duplicate, or older than the kept keys).
    #[error("group message {iteration} was already decrypted (a duplicate) or is too old")]
    Duplicate {
        /// The message's iteration.
        iteration: u32,
    },
    /// More than 2000 iterations ahead of the chain.
    #[error("group message {iteration} is too far ahead of its chain: ask the sender to retry")]
    TooFarInFuture {
        /// The message's iteration.
        iteration: u32,
    },
    /// The signature verified but the ciphertext's padding is invalid (a faulty sender).
    #[error("the group message's ciphertext padding is invalid: a faulty sender")]
    InvalidCiphertext,
}

impl From<MessageError> for GroupDecryptError {
    fn from(error: MessageError) -> Self {
        match error {
            MessageError::UnsupportedVersion { version } => Self::UnsupportedVersion { version },
            other => Self::InvalidMessage(other),
        }
    }
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A record holding a fresh sender key of our own: a 31-bit key id, a chain key and a
    /// signing key pair, all from `rng` (4 + 32 + 32 bytes), at iteration 0. Rotating the
    /// group's key (after a member left) is replacing our record with a new one.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let key_id = SenderKeyId::new(rng.next_u32() & 0x7fff_ffff);
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        let signing = KeyPair::generate(rng);
        Self {
            states: vec![SenderKeyState {
                key_id,
                chain: SenderChainKey {
                    iteration: 0,
                    seed: *seed,
                },
                signing_key: PublicKey::from(&signing),
                signing_private: Some(*signing.private_bytes()),
                skipped: Vec::new(),
            }],
        }
    }

    /// The distribution message for our current chain (its current iteration and chain key):
    /// what every member needs to decrypt what we send from now on. `None` for an empty record.
    pub fn distribution_message(&self) -> Option<SenderKeyDistributionMessage> {
        let state = self.states.last()?;
        Some(SenderKeyDistributionMessage::new(
            state.key_id,
            state.chain.iteration,
            &state.chain.seed,
            state.signing_key,
        ))
    }

    /// Takes in a sender's distribution message. Returns whether the record changed:
    ///
    /// - a new key id adds a state (the oldest beyond [`MAX_SENDER_KEY_STATES`] is dropped);
    /// - a key id we hold with the same signing key changes nothing (our state can already
    ///   derive everything the message could give, and re-deriving older keys would let
    ///   replays through);
    /// - a key id we hold with another signing key replaces that state.
    pub fn process_distribution(&mut self, message: &SenderKeyDistributionMessage) -> bool {
        if let Some(i) = self.position(message.key_id()) {
            if self.states[i].signing_key == *message.signing_key() {
                return false;
            }
            self.states.remove(i);
        }
        self.states.push(SenderKeyState {
            key_id: message.key_id(),
            chain: SenderChainKey {
                iteration: message.iteration(),
                seed: *message.chain_key(),
            },
            signing_key: *message.signing_key(),
            signing_private: None,
            skipped: Vec::new(),
        });
        if self.states.len() > MAX_SENDER_KEY_STATES {
            self.states.remove(0);
        }
        true
    }

    /// Encrypts `plaintext` (already padded) with our newest chain and advances it by one;
    /// draws 64 bytes from `rng` for the signature. Returns the `skmsg` bytes.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, GroupEncryptError> {
        let state = self
            .states
            .last_mut()
            .ok_or(GroupEncryptError::NoSenderKey)?;
        let private = state.signing_private.ok_or(GroupEncryptError::NotOurs)?;
        let private = Zeroizing::new(private);
        let (seed, next) = state
            .chain
            .step()
            .ok_or(GroupEncryptError::ChainExhausted)?;
        let keys = SenderMessageKeys::derive(&seed);
        let ciphertext = cbc::encrypt(&keys.cipher, &keys.iv, plaintext);
        let message = SenderKeyMessage::new(
            state.key_id,
            state.chain.iteration,
            &ciphertext,
            &private,
            rng,
        );
        state.chain = next;
        Ok(message.into_bytes())
    }

    /// Decrypts an `skmsg`: finds the chain its key id names, verifies the signature, then
    /// takes the iteration's key (a kept skipped key, or by walking the chain forward and
    /// keeping the keys in between).
    pub fn decrypt(&mut self, message: &SenderKeyMessage) -> Result<Vec<u8>, GroupDecryptError> {
        let key_id = message.key_id();
        let index = self
            .position(key_id)
            .ok_or(GroupDecryptError::NoSenderKey { key_id })?;
        let state = &self.states[index];
        if !message.verify_signature(&state.signing_key) {
            return Err(GroupDecryptError::BadSignature);
        }
        let iteration = message.iteration();
        if iteration < state.chain.iteration {
            let position = state
                .skipped
                .binary_search_by_key(&iteration, |(i, _)| *i)
                .map_err(|_| GroupDecryptError::Duplicate { iteration })?;
            let keys = SenderMessageKeys::derive(&state.skipped[position].1);
            let plaintext = cbc::decrypt(&keys.cipher, &keys.iv, message.ciphertext())
                .map_err(|_| GroupDecryptError::InvalidCiphertext)?;
            let mut removed = self.states[index].skipped.remove(position);
            removed.1.zeroize();
            return Ok(plaintext);
        }
        if iteration - state.chain.iteration > MAX_SENDER_FORWARD_JUMP {
            return Err(GroupDecryptError::TooFarInFuture { iteration });
        }
        let mut chain = state.chain.clone();
        let mut skipped = Vec::new();
        let (seed, next) = loop {
            let (seed, next) = chain
                .step()
                .ok_or(GroupDecryptError::TooFarInFuture { iteration })?;
            if chain.iteration == iteration {
                break (seed, next);
            }
            skipped.push((chain.iteration, seed));
            chain = next;
        };
        let keys = SenderMessageKeys::derive(&seed);
        let plaintext = cbc::decrypt(&keys.cipher, &keys.iv, message.ciphertext())
            .map_err(|_| GroupDecryptError::InvalidCiphertext)?;
        let state = &mut self.states[index];
        state.skipped.extend(skipped);
        if state.skipped.len() > MAX_SENDER_SKIPPED_KEYS {
            let excess = state.skipped.len() - MAX_SENDER_SKIPPED_KEYS;
            state.skipped.drain(..excess);
        }
        state.chain = next;
        Ok(plaintext)
    }

    /// Whether the record holds no chain.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The key ids of the chains held, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = SenderKeyId> + '_ {
        self.states.iter().map(|s| s.key_id)
    }

    /// Whether the newest chain is our own (we can encrypt with it).
    pub fn is_own(&self) -> bool {
        self.states
            .last()
            .is_some_and(|s| s.signing_private.is_some())
    }

    fn position(&self, key_id: SenderKeyId) -> Option<usize> {
        self.states.iter().position(|s| s.key_id == key_id)
    }
}

impl fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.states.iter().map(|s| {
                format!(
                    "SenderKeyState {{ key_id: {}, iteration: {}, signing_key: {:?}, own: {}, skipped: {} }}",
                    s.key_id,
                    s.chain.iteration,
                    s.signing_key,
                    s.signing_private.is_some(),
                    s.skipped.len()
                )
            }))
            .finish()
    }
}
