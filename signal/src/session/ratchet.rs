//! The Double Ratchet on one [`SessionState`]: encrypting (`messaging.md` §4.6) and
//! decrypting in two phases, so a failed attempt changes nothing:
//!
//! ```text
//! plan(state, msg)      read-only: find or derive the message key
//!   ├─ known chain, counter < next      → the stored skipped key          (Step::Stored)
//!   ├─ known chain, counter ≥ next      → walk the chain to counter       (Step::Advance)
//!   └─ new ratchet key T                → close the previous chain up to previousCounter,
//!                                         RK', CKr = KDF(RK, DH(R, T)), walk to counter
//!                                                                          (Step::Ratchet)
//! open(state, msg, keys) verify the MAC in constant time, then decrypt
//! commit(state, step)   apply the step; for Step::Ratchet also the sending half:
//!                       previousCounter, fresh R', RK'', CKs = KDF(RK', DH(R', T))
//! ```
//!
//! The fresh ratchet key of the sending half is drawn only after the MAC verified, so a forged
//! or misdirected message consumes no randomness and no state.

use rand_core::CryptoRng;

use super::chain_key::ChainKey;
use super::message_key::{MessageKeySeed, MessageKeys};
use super::root_key::RootKey;
use super::state::{MAX_FORWARD_JUMP, ReceiverChain, SessionState};
use crate::cbc;
use crate::keys::{KeyPair, PreparedPublic, PublicKey};
use crate::message::{PreKeySignalMessage, SignalMessage};
use crate::session::{Ciphertext, CiphertextKind, EncryptError};

/// Why one state could not decrypt a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateError {
    /// The counter's key is gone (used already, or never kept).
    Duplicate { counter: u32 },
    /// The counter is [`MAX_FORWARD_JUMP`] or more ahead of its chain.
    TooFarInFuture { counter: u32 },
    /// The MAC does not verify: not this state's message.
    BadMac,
    /// The MAC verified but the ciphertext's padding is wrong.
    InvalidCiphertext,
}

/// The change a decryption makes, applied by [`commit`] once the MAC verified.
pub(crate) enum Step {
    Stored {
        chain: usize,
        position: usize,
    },
    Advance {
        chain: usize,
        next: ChainKey,
        skipped: Vec<(u32, MessageKeySeed)>,
    },
    Ratchet {
        previous: Option<ClosePrevious>,
        root_key: RootKey,
        chain: ReceiverChain,
        /// The peer's new ratchet key, converted once for both halves of the step.
        their_ratchet: PreparedPublic,
    },
}

/// How a ratchet step closes the previous receiving chain: keep the keys of the messages the
/// peer announced (through its `previousCounter`), then drop the chain key.
pub(crate) struct ClosePrevious {
    chain: usize,
    next_index: u32,
    skipped: Vec<(u32, MessageKeySeed)>,
}

/// A walk along a chain to one counter.
struct Walk {
    seed: MessageKeySeed,
    next: ChainKey,
    skipped: Vec<(u32, MessageKeySeed)>,
}

/// A planned decryption: its step and the message keys.
pub(crate) struct Plan {
    pub(crate) step: Step,
    pub(crate) keys: MessageKeys,
}

/// Finds or derives the key of `message` in `state` without changing it.
pub(crate) fn plan(state: &SessionState, message: &SignalMessage) -> Result<Plan, StateError> {
    let counter = message.counter();
    if let Some(i) = state.receiver_chain(message.ratchet_key()) {
        let chain = &state.receiver_chains[i];
        if counter < chain.next_index {
            let position = chain
                .skipped
                .binary_search_by_key(&counter, |(c, _)| *c)
                .map_err(|_| StateError::Duplicate { counter })?;
            return Ok(Plan {
                keys: chain.skipped[position].1.derive(),
                step: Step::Stored { chain: i, position },
            });
        }
        // A closed chain keeps only the keys the peer announced; anything later never existed.
        let ck = chain.chain().ok_or(StateError::Duplicate { counter })?;
        let walk = advance(ck, counter)?;
        return Ok(Plan {
            keys: walk.seed.derive(),
            step: Step::Advance {
                chain: i,
                next: walk.next,
                skipped: walk.skipped,
            },
        });
    }
    // A new ratchet key: the previous receiving chain ends at the sender's previousCounter
    // (libsignal-node's -1, written as 0xFFFFFFFF, means it sent nothing there).
    let previous = match state.receiver_chain(&state.last_remote_ratchet) {
        Some(i) => {
            let chain = &state.receiver_chains[i];
            let (next_index, skipped) = match (message.previous_counter(), chain.chain()) {
                (u32::MAX, _) | (_, None) => (chain.next_index, Vec::new()),
                (through, Some(ck)) => fill_through(ck, through)?,
            };
            Some(ClosePrevious {
                chain: i,
                next_index,
                skipped,
            })
        }
        None => None,
    };
    let their_ratchet = PreparedPublic::new(message.ratchet_key().as_montgomery());
    let (root_key, ck) = state
        .root_key
        .create_chain(&state.ratchet_key, &their_ratchet);
    let walk = advance(ck, counter)?;
    let mut chain = ReceiverChain::open(*message.ratchet_key(), &walk.next);
    chain.skipped = walk.skipped;
    Ok(Plan {
        keys: walk.seed.derive(),
        step: Step::Ratchet {
            previous,
            root_key,
            chain,
            their_ratchet,
        },
    })
}

/// Verifies the MAC of `message` with `keys` (sender = the peer) and decrypts it.
pub(crate) fn open(
    state: &SessionState,
    message: &SignalMessage,
    keys: &MessageKeys,
) -> Result<Vec<u8>, StateError> {
    if !message.verify_mac(&keys.mac, &state.remote_identity, &state.local_identity) {
        return Err(StateError::BadMac);
    }
    cbc::decrypt(&keys.cipher, &keys.iv, message.ciphertext())
        .map_err(|_| StateError::InvalidCiphertext)
}

/// Applies a planned step after its message verified; a ratchet step also draws our next
/// ratchet key (32 bytes) from `rng`. Any successful decryption acknowledges the session.
pub(crate) fn commit<R: CryptoRng + ?Sized>(state: &mut SessionState, step: Step, rng: &mut R) {
    match step {
        Step::Stored { chain, position } => {
            state.receiver_chains[chain].skipped.remove(position);
        }
        Step::Advance {
            chain,
            next,
            skipped,
        } => {
            let chain = &mut state.receiver_chains[chain];
            chain.skipped.extend(skipped);
            chain.chain_key = Some(*next.key());
            chain.next_index = next.index();
        }
        Step::Ratchet {
            previous,
            root_key,
            chain,
            their_ratchet,
        } => {
            if let Some(close) = previous {
                let previous = &mut state.receiver_chains[close.chain];
                previous.skipped.extend(close.skipped);
                previous.next_index = close.next_index;
                previous.chain_key = None;
            }
            let their_ratchet_key = chain.ratchet_key;
            state.receiver_chains.push(chain);
            state.previous_counter = state.sender_chain.index().saturating_sub(1);
            let ratchet = KeyPair::generate(rng);
            let (root_key, sender_chain) = root_key.create_chain(&ratchet, &their_ratchet);
            state.root_key = root_key;
            state.ratchet_key = ratchet;
            state.sender_chain = sender_chain;
            state.last_remote_ratchet = their_ratchet_key;
        }
    }
    state.pending_pre_key = None;
    state.enforce_limits();
}

/// Encrypts `plaintext` on the sending chain: a `pkmsg` while the pre-key is pending.
pub(crate) fn encrypt(
    state: &mut SessionState,
    plaintext: &[u8],
) -> Result<Ciphertext, EncryptError> {
    let (seed, next) = state
        .sender_chain
        .step()
        .ok_or(EncryptError::ChainExhausted)?;
    let keys = seed.derive();
    let message = SignalMessage::seal(
        PublicKey::from(&state.ratchet_key),
        state.sender_chain.index(),
        state.previous_counter,
        plaintext,
        &keys,
        &state.local_identity,
        &state.remote_identity,
    );
    state.sender_chain = next;
    Ok(match state.pending_pre_key {
        Some(pending) => Ciphertext {
            kind: CiphertextKind::PreKeySignalMessage,
            bytes: PreKeySignalMessage::new(
                pending.pre_key_id,
                pending.signed_pre_key_id,
                state.base_key,
                state.local_identity,
                state.local_registration_id,
                message,
            )
            .into_bytes(),
        },
        None => Ciphertext {
            kind: CiphertextKind::SignalMessage,
            bytes: message.into_bytes(),
        },
    })
}

/// Walks `chain` to `counter` (≥ its index): the seed for `counter`, the chain after it, and
/// the seeds skipped on the way.
fn advance(mut chain: ChainKey, counter: u32) -> Result<Walk, StateError> {
    debug_assert!(counter >= chain.index());
    if counter - chain.index() >= MAX_FORWARD_JUMP {
        return Err(StateError::TooFarInFuture { counter });
    }
    let mut skipped = Vec::new();
    loop {
        let index = chain.index();
        let (seed, next) = chain.step().ok_or(StateError::TooFarInFuture { counter })?;
        if index == counter {
            return Ok(Walk {
                seed,
                next,
                skipped,
            });
        }
        skipped.push((index, seed));
        chain = next;
    }
}

/// Derives the seeds of `chain` from its index through `through` (the keys of messages the
/// peer sent there and we have not seen): the index after them and the seeds.
fn fill_through(
    mut chain: ChainKey,
    through: u32,
) -> Result<(u32, Vec<(u32, MessageKeySeed)>), StateError> {
    if through < chain.index() {
        return Ok((chain.index(), Vec::new()));
    }
    if through - chain.index() >= MAX_FORWARD_JUMP {
        return Err(StateError::TooFarInFuture { counter: through });
    }
    let mut skipped = Vec::new();
    while chain.index() <= through {
        let index = chain.index();
        let Some((seed, next)) = chain.step() else {
            break;
        };
        skipped.push((index, seed));
        chain = next;
    }
    Ok((chain.index(), skipped))
}
