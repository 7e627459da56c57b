//! libsignal-node's session JSON (`SessionRecord.serialize()`, what Baileys stores in
//! `session-<address>.json`) → [`SessionRecord`].

use std::collections::VecDeque;

use base64::Engine;
use serde::Deserialize;

use super::{Bytes, ImportError, Ordered, field, parse};
use crate::keys::{IdentityKey, KeyPair, PreKeyId, PublicKey, RegistrationId, SignedPreKeyId};
use crate::session::{
    BaseKeyRole, ChainKey, MAX_ARCHIVED_STATES, MAX_RECEIVER_CHAINS, MessageKeySeed, PendingPreKey,
    ReceiverChain, RootKey, SessionRecord, SessionState,
};

const FORMAT: &str = "libsignal session record";
const SENDING: u8 = 1;
const RECEIVING: u8 = 2;

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "_sessions")]
    sessions: Option<Ordered<Entry>>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    registration_id: Option<u32>,
    current_ratchet: Ratchet,
    index_info: IndexInfo,
    #[serde(rename = "_chains")]
    chains: Ordered<Chain>,
    pending_pre_key: Option<Pending>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ratchet {
    ephemeral_key_pair: EphemeralPair,
    last_remote_ephemeral_key: Bytes,
    previous_counter: i64,
    root_key: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EphemeralPair {
    pub_key: Bytes,
    priv_key: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexInfo {
    base_key: Bytes,
    base_key_type: u8,
    closed: i64,
    remote_identity_key: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chain {
    chain_key: ChainKeyJson,
    chain_type: u8,
    #[serde(default)]
    message_keys: Ordered<Bytes>,
}

impl Default for Ordered<Bytes> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

#[derive(Deserialize)]
struct ChainKeyJson {
    counter: i64,
    key: Option<Bytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pending {
    signed_key_id: u32,
    pre_key_id: Option<u32>,
}

impl SessionRecord {
    /// Imports a session record as npm libsignal serialises it (`SessionRecord.serialize()`;
    /// Baileys' `session-<address>.json` files). libsignal-node does not store our own
    /// identity and registration id in a session, so they are passed in.
    ///
    /// The open session becomes current; closed ones are archived, most recently closed
    /// first, at most [`MAX_ARCHIVED_STATES`]. Each state keeps its newest
    /// [`MAX_RECEIVER_CHAINS`] receiving chains and [`MAX_SKIPPED_KEYS`](crate::session::MAX_SKIPPED_KEYS) skipped keys. A
    /// stored `previousCounter` of -1 (nothing sent on the previous chain) becomes 0.
    pub fn from_libsignal_json(
        json: &[u8],
        local_identity: &IdentityKey,
        local_registration_id: RegistrationId,
    ) -> Result<Self, ImportError> {
        let record: Record = parse(json, FORMAT)?;
        if let Some(version) = &record.version
            && version != "v1"
        {
            return Err(field(
                "version",
                "is not \"v1\" (a record libsignal has not migrated)",
            ));
        }
        let mut current = None;
        let mut closed = Vec::new();
        for (i, (_, entry)) in record
            .sessions
            .map(|s| s.0)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let path = format!("_sessions[{i}]");
            let is_open = entry.index_info.closed == -1;
            let closed_at = entry.index_info.closed;
            let state = import_state(entry, &path, local_identity, local_registration_id)?;
            if is_open && current.is_none() {
                current = Some(state);
            } else {
                closed.push((closed_at, i, state));
            }
        }
        // Most recently closed first; among equal times the later entry is the newer one.
        closed.sort_by_key(|&(closed_at, position, _)| core::cmp::Reverse((closed_at, position)));
        let archived: VecDeque<_> = closed
            .into_iter()
            .take(MAX_ARCHIVED_STATES)
            .map(|(_, _, state)| state)
            .collect();
        Ok(Self { current, archived })
    }
}

fn import_state(
    entry: Entry,
    path: &str,
    local_identity: &IdentityKey,
    local_registration_id: RegistrationId,
) -> Result<SessionState, ImportError> {
    let p = |field_path: &str| format!("{path}.{field_path}");
    let ratchet = &entry.current_ratchet;
    let private = ratchet
        .ephemeral_key_pair
        .priv_key
        .array32(p("currentRatchet.ephemeralKeyPair.privKey"))?;
    let ratchet_key = KeyPair::from_private_bytes(private);
    let ratchet_public = ratchet
        .ephemeral_key_pair
        .pub_key
        .public_key(p("currentRatchet.ephemeralKeyPair.pubKey"))?;
    if PublicKey::from(&ratchet_key) != ratchet_public {
        return Err(field(
            p("currentRatchet.ephemeralKeyPair"),
            "the public key is not the private key's",
        ));
    }
    let last_remote_ratchet = ratchet
        .last_remote_ephemeral_key
        .public_key(p("currentRatchet.lastRemoteEphemeralKey"))?;
    let previous_counter = u32::try_from(ratchet.previous_counter.max(0))
        .map_err(|_| field(p("currentRatchet.previousCounter"), "is out of range"))?;
    let root_key = RootKey::new(ratchet.root_key.array32(p("currentRatchet.rootKey"))?);
    let info = &entry.index_info;
    let base_key = info.base_key.public_key(p("indexInfo.baseKey"))?;
    let base_key_role = match info.base_key_type {
        1 => BaseKeyRole::Ours,
        2 => BaseKeyRole::Theirs,
        _ => {
            return Err(field(
                p("indexInfo.baseKeyType"),
                "is neither 1 (ours) nor 2 (theirs)",
            ));
        }
    };
    let remote_identity = IdentityKey::new(
        info.remote_identity_key
            .public_key(p("indexInfo.remoteIdentityKey"))?,
    );
    let remote_registration_id = RegistrationId::new(
        entry
            .registration_id
            .ok_or_else(|| field(p("registrationId"), "is missing"))?,
    );

    let mut sender_chain = None;
    let mut receiver_chains = Vec::new();
    for (i, (key, chain)) in entry.chains.0.into_iter().enumerate() {
        let chain_path = p(&format!("_chains[{i}]"));
        let ratchet_key = Bytes(
            super::BASE64
                .decode(key.as_bytes())
                .map_err(|_| field(chain_path.clone(), "key is not base64"))?,
        )
        .public_key(chain_path.clone())?;
        let next_index = u32::try_from(chain.chain_key.counter + 1)
            .map_err(|_| field(format!("{chain_path}.chainKey.counter"), "is out of range"))?;
        let chain_key = chain
            .chain_key
            .key
            .as_ref()
            .map(|k| k.array32(format!("{chain_path}.chainKey.key")))
            .transpose()?;
        match chain.chain_type {
            SENDING => {
                if ratchet_key != ratchet_public {
                    return Err(field(chain_path, "a sending chain for another ratchet key"));
                }
                let key = chain_key
                    .ok_or_else(|| field(format!("{chain_path}.chainKey.key"), "is missing"))?;
                sender_chain = Some(ChainKey::new(key, next_index));
            }
            RECEIVING => {
                let mut skipped = Vec::with_capacity(chain.message_keys.0.len());
                for (counter, seed) in &chain.message_keys.0 {
                    let seed_path = format!("{chain_path}.messageKeys.{counter}");
                    let counter: u32 = counter
                        .parse()
                        .map_err(|_| field(seed_path.clone(), "is not a message counter"))?;
                    if counter < next_index {
                        skipped.push((counter, MessageKeySeed::new(seed.array32(seed_path)?)));
                    }
                }
                skipped.sort_by_key(|(counter, _)| *counter);
                skipped.dedup_by_key(|(counter, _)| *counter);
                receiver_chains.push(ReceiverChain {
                    ratchet_key,
                    chain_key,
                    next_index,
                    skipped,
                });
            }
            _ => {
                return Err(field(
                    format!("{chain_path}.chainType"),
                    "is neither 1 nor 2",
                ));
            }
        }
    }
    let sender_chain = sender_chain.ok_or_else(|| field(p("_chains"), "has no sending chain"))?;
    let pending_pre_key = entry.pending_pre_key.map(|pending| PendingPreKey {
        // libsignal-node omits a pre-key id of 0 when it writes, so 0 never names a key.
        pre_key_id: pending.pre_key_id.filter(|&id| id != 0).map(PreKeyId::new),
        signed_pre_key_id: SignedPreKeyId::new(pending.signed_key_id),
    });
    let mut state = SessionState {
        local_identity: *local_identity,
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
    };
    // Keep the chain the peer sends on now, then the newest others.
    if let Some(i) = state.receiver_chain(&state.last_remote_ratchet) {
        let last = state.receiver_chains.remove(i);
        state.receiver_chains.push(last);
    }
    if state.receiver_chains.len() > MAX_RECEIVER_CHAINS {
        let excess = state.receiver_chains.len() - MAX_RECEIVER_CHAINS;
        state.receiver_chains.drain(..excess);
    }
    state.enforce_limits();
    Ok(state)
}
