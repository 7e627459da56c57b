//! One session state: the Double Ratchet between us and one peer device, started by one X3DH.

use core::fmt;

use zeroize::Zeroize;

use super::chain_key::ChainKey;
use super::message_key::MessageKeySeed;
use super::root_key::RootKey;
use crate::keys::{IdentityKey, KeyPair, PreKeyId, PublicKey, RegistrationId, SignedPreKeyId};

/// Most messages a receiving chain may skip at once, and most a message may be ahead of its
/// chain: libsignal-node's "Over 2000 messages into the future!", whatsapp-rust's
/// `MAX_FORWARD_JUMPS`.
pub const MAX_FORWARD_JUMP: u32 = 2000;
/// Most skipped message keys one session state keeps (the oldest go first).
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Most receiving chains one session state keeps (the oldest go first).
pub const MAX_RECEIVER_CHAINS: usize = 5;

/// Who generated a state's base key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BaseKeyRole {
    /// We did: we built the state from the peer's bundle (X3DH initiator).
    Ours,
    /// The peer did: we built the state from its `PreKeySignalMessage` (responder).
    Theirs,
}

/// What an initiator repeats in every message until the peer answers: the pre-keys it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<PreKeyId>,
    pub(crate) signed_pre_key_id: SignedPreKeyId,
}

/// A receiving chain: the peer's ratchet key `T`, the chain key for the next counter (`None`
/// once the peer has moved to a newer ratchet key and libsignal closes the chain), and the keys
/// of messages skipped on it, by counter, ascending.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: Option<[u8; 32]>,
    pub(crate) next_index: u32,
    pub(crate) skipped: Vec<(u32, MessageKeySeed)>,
}

impl ReceiverChain {
    pub(crate) fn open(ratchet_key: PublicKey, chain: &ChainKey) -> Self {
        Self {
            ratchet_key,
            chain_key: Some(*chain.key()),
            next_index: chain.index(),
            skipped: Vec::new(),
        }
    }

    /// The chain key for [`ReceiverChain::next_index`], unless the chain is closed.
    pub(crate) fn chain(&self) -> Option<ChainKey> {
        self.chain_key
            .map(|key| ChainKey::new(key, self.next_index))
    }
}

impl Drop for ReceiverChain {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

/// One Double Ratchet state (`messaging.md` §4.2–4.6).
///
/// Every stored state can send: its sending chain belongs to our current ratchet key. Receiving
/// chains are added by DH ratchet steps; the pending pre-key is set while an initiator has heard
/// nothing back.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub(crate) local_identity: IdentityKey,
    pub(crate) local_registration_id: RegistrationId,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) remote_registration_id: RegistrationId,
    pub(crate) base_key: PublicKey,
    pub(crate) base_key_role: BaseKeyRole,
    pub(crate) root_key: RootKey,
    /// Our current ratchet key pair `R`; its public half names the sending chain.
    pub(crate) ratchet_key: KeyPair,
    pub(crate) sender_chain: ChainKey,
    /// The index of the last message on our previous sending chain (0 when there was none).
    pub(crate) previous_counter: u32,
    /// The peer's ratchet key we last stepped with (for a new responder state, its base key).
    pub(crate) last_remote_ratchet: PublicKey,
    /// Oldest first, at most [`MAX_RECEIVER_CHAINS`].
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
}

impl SessionState {
    pub(crate) fn receiver_chain(&self, ratchet_key: &PublicKey) -> Option<usize> {
        self.receiver_chains
            .iter()
            .rposition(|c| c.ratchet_key == *ratchet_key)
    }

    pub(crate) fn skipped_key_count(&self) -> usize {
        self.receiver_chains.iter().map(|c| c.skipped.len()).sum()
    }

    /// Drops the oldest skipped keys (oldest chain first, lowest counter first) beyond
    /// [`MAX_SKIPPED_KEYS`], and the oldest chains beyond [`MAX_RECEIVER_CHAINS`].
    pub(crate) fn enforce_limits(&mut self) {
        if self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            let excess = self.receiver_chains.len() - MAX_RECEIVER_CHAINS;
            self.receiver_chains.drain(..excess);
        }
        let mut excess = self.skipped_key_count().saturating_sub(MAX_SKIPPED_KEYS);
        for chain in &mut self.receiver_chains {
            if excess == 0 {
                break;
            }
            let n = excess.min(chain.skipped.len());
            chain.skipped.drain(..n);
            excess -= n;
        }
    }
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("base_key", &self.base_key)
            .field("base_key_role", &self.base_key_role)
            .field("remote_identity", &self.remote_identity)
            .field("remote_registration_id", &self.remote_registration_id)
            .field("ratchet_key", &PublicKey::from(&self.ratchet_key))
            .field("sender_index", &self.sender_chain.index())
            .field("previous_counter", &self.previous_counter)
            .field("receiver_chains", &self.receiver_chains.len())
            .field("skipped_keys", &self.skipped_key_count())
            .field("pending_pre_key", &self.pending_pre_key)
            .finish_non_exhaustive()
    }
}
