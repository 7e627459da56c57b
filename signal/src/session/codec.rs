//! The binary form of a [`SessionRecord`] (kind `S`, format version 1).
//!
//! ```text
//! record   = 'S' 0x01 ‖ has_current:u8 ‖ [state] ‖ archived:u8 (≤ 40) ‖ state×archived (newest first)
//! state    = local_identity:32 ‖ local_registration_id:u32 ‖ remote_identity:32 ‖
//!            remote_registration_id:u32 ‖ base_key:32 ‖ base_key_role:u8 (1 ours, 2 theirs) ‖
//!            root_key:32 ‖ ratchet_private:32 ‖ ratchet_public:32 ‖ sender_chain_key:32 ‖
//!            sender_index:u32 ‖ previous_counter:u32 ‖ last_remote_ratchet:32 ‖
//!            pending:u8 (0 none, 1 signed only, 2 with one-time) ‖ [pre_key_id:u32] ‖
//!            [signed_pre_key_id:u32] ‖ chains:u8 (≤ 5) ‖ chain×chains (oldest first)
//! chain    = ratchet_key:32 ‖ open:u8 ‖ [chain_key:32] ‖ next_index:u32 ‖ skipped:u16 ‖
//!            (counter:u32 ‖ seed:32)×skipped   (counters ascending, below next_index;
//!                                                at most 2000 skipped keys per state)
//! ```
//!
//! Keys are the 32-byte Montgomery form (the `0x05` prefix is implied); integers little-endian.

use std::collections::VecDeque;

use super::record::{MAX_ARCHIVED_STATES, SessionRecord};
use super::state::{MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS};
use super::{
    BaseKeyRole, ChainKey, MessageKeySeed, PendingPreKey, ReceiverChain, RootKey, SessionState,
};
use crate::codec::{Reader, RecordError, Writer};
use crate::keys::{IdentityKey, KeyPair, PreKeyId, PublicKey, RegistrationId, SignedPreKeyId};

const KIND: u8 = b'S';
const VERSION: u8 = 1;

impl SessionRecord {
    /// The record's binary form (versioned; see the crate docs), for the store to keep as
    /// opaque bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let states = usize::from(self.current.is_some()) + self.archived.len();
        let mut w = Writer::new(KIND, VERSION, 2 + states * 420);
        w.u8(u8::from(self.current.is_some()));
        if let Some(state) = &self.current {
            write_state(&mut w, state);
        }
        // Invariant: `archive` truncates to MAX_ARCHIVED_STATES (40).
        w.u8(u8::try_from(self.archived.len()).unwrap_or(u8::MAX));
        for state in &self.archived {
            write_state(&mut w, state);
        }
        w.out
    }

    /// Reads a record written by [`SessionRecord::to_bytes`], checking every count and value;
    /// never panics. An error means the bytes are not a record: treat the session as absent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let (mut r, _version) = Reader::open(bytes, KIND, "session", VERSION)?;
        let current = if r.flag("current-state flag")? {
            Some(read_state(&mut r)?)
        } else {
            None
        };
        let count = usize::from(r.u8()?);
        if count > MAX_ARCHIVED_STATES {
            return Err(r.invalid("more archived states than a record keeps"));
        }
        let mut archived = VecDeque::with_capacity(count);
        for _ in 0..count {
            archived.push_back(read_state(&mut r)?);
        }
        r.finish()?;
        Ok(Self { current, archived })
    }
}

fn write_state(w: &mut Writer, s: &SessionState) {
    w.key(s.local_identity.public_key().as_montgomery());
    w.u32(s.local_registration_id.value());
    w.key(s.remote_identity.public_key().as_montgomery());
    w.u32(s.remote_registration_id.value());
    w.key(s.base_key.as_montgomery());
    w.u8(match s.base_key_role {
        BaseKeyRole::Ours => 1,
        BaseKeyRole::Theirs => 2,
    });
    w.key(s.root_key.as_bytes());
    w.key(&s.ratchet_key.private_bytes());
    w.key(&s.ratchet_key.public_bytes());
    w.key(s.sender_chain.key());
    w.u32(s.sender_chain.index());
    w.u32(s.previous_counter);
    w.key(s.last_remote_ratchet.as_montgomery());
    match s.pending_pre_key {
        None => w.u8(0),
        Some(PendingPreKey {
            pre_key_id: None,
            signed_pre_key_id,
        }) => {
            w.u8(1);
            w.u32(signed_pre_key_id.value());
        }
        Some(PendingPreKey {
            pre_key_id: Some(id),
            signed_pre_key_id,
        }) => {
            w.u8(2);
            w.u32(id.value());
            w.u32(signed_pre_key_id.value());
        }
    }
    // Invariant: `enforce_limits` keeps at most 5 chains and 2000 skipped keys per state.
    w.u8(u8::try_from(s.receiver_chains.len()).unwrap_or(u8::MAX));
    for chain in &s.receiver_chains {
        w.key(chain.ratchet_key.as_montgomery());
        match &chain.chain_key {
            Some(key) => {
                w.u8(1);
                w.key(key);
            }
            None => w.u8(0),
        }
        w.u32(chain.next_index);
        w.u16(u16::try_from(chain.skipped.len()).unwrap_or(u16::MAX));
        for (counter, seed) in &chain.skipped {
            w.u32(*counter);
            w.key(seed.as_bytes());
        }
    }
}

fn read_state(r: &mut Reader<'_>) -> Result<SessionState, RecordError> {
    let identity = |k| IdentityKey::new(PublicKey::from_montgomery(k));
    let local_identity = identity(r.key()?);
    let local_registration_id = RegistrationId::new(r.u32()?);
    let remote_identity = identity(r.key()?);
    let remote_registration_id = RegistrationId::new(r.u32()?);
    let base_key = PublicKey::from_montgomery(r.key()?);
    let base_key_role = match r.u8()? {
        1 => BaseKeyRole::Ours,
        2 => BaseKeyRole::Theirs,
        _ => return Err(r.invalid("base key role is neither 1 (ours) nor 2 (theirs)")),
    };
    let root_key = RootKey::new(r.key()?);
    let private = r.key()?;
    let public = r.key()?;
    let ratchet_key = KeyPair::from_stored(private, public);
    let sender_key = r.key()?;
    let sender_chain = ChainKey::new(sender_key, r.u32()?);
    let previous_counter = r.u32()?;
    let last_remote_ratchet = PublicKey::from_montgomery(r.key()?);
    let pending_pre_key = match r.u8()? {
        0 => None,
        1 => Some(PendingPreKey {
            pre_key_id: None,
            signed_pre_key_id: SignedPreKeyId::new(r.u32()?),
        }),
        2 => Some(PendingPreKey {
            pre_key_id: Some(PreKeyId::new(r.u32()?)),
            signed_pre_key_id: SignedPreKeyId::new(r.u32()?),
        }),
        _ => return Err(r.invalid("pending pre-key tag is not 0, 1 or 2")),
    };
    let chains = usize::from(r.u8()?);
    if chains > MAX_RECEIVER_CHAINS {
        return Err(r.invalid("more receiving chains than a state keeps"));
    }
    let mut receiver_chains = Vec::with_capacity(chains);
    let mut skipped_total = 0usize;
    for _ in 0..chains {
        let ratchet_key = PublicKey::from_montgomery(r.key()?);
        let chain_key = if r.flag("chain open flag")? {
            Some(r.key()?)
        } else {
            None
        };
        let next_index = r.u32()?;
        let skipped_count = usize::from(r.u16()?);
        skipped_total += skipped_count;
        if skipped_total > MAX_SKIPPED_KEYS {
            return Err(r.invalid("more skipped message keys than a state keeps"));
        }
        let mut skipped = Vec::with_capacity(skipped_count);
        let mut previous: Option<u32> = None;
        for _ in 0..skipped_count {
            let counter = r.u32()?;
            if counter >= next_index || previous.is_some_and(|p| counter <= p) {
                return Err(r.invalid("skipped message counters out of order"));
            }
            previous = Some(counter);
            skipped.push((counter, MessageKeySeed::new(r.key()?)));
        }
        receiver_chains.push(ReceiverChain {
            ratchet_key,
            chain_key,
            next_index,
            skipped,
        });
    }
    Ok(SessionState {
        local_identity,
        local_registration_id,
        remote_identity,
        remote_registration_id,
        base_key,
        base_key_role,
        root_key,
        ratchet_key,
        sender_chain,
        previous_counter,
        last_remote_ratchet,
        receiver_chains,
        pending_pre_key,
    })
}
