//! Baileys' sender-key JSON (`SenderKeyRecord.serialize()` of Baileys 6.17.16, what its
//! multi-file store writes to `sender-key-<group>::<user>::<device>.json`) →
//! [`SenderKeyRecord`].

use serde::Deserialize;

use super::{Bytes, ImportError, Lenient, parse};
use crate::group::{
    MAX_SENDER_KEY_STATES, MAX_SENDER_SKIPPED_KEYS, SenderChainKey, SenderKeyRecord, SenderKeyState,
};
use crate::keys::SenderKeyId;

const FORMAT: &str = "Baileys sender-key record";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    sender_key_id: u32,
    sender_chain_key: ChainJson,
    sender_signing_key: SigningJson,
    #[serde(default)]
    sender_message_keys: Option<Lenient<MessageKeyJson>>,
}

#[derive(Deserialize)]
struct ChainJson {
    iteration: u32,
    seed: Bytes,
}

#[derive(Deserialize)]
struct SigningJson {
    public: Bytes,
    private: Option<Bytes>,
}

#[derive(Deserialize)]
struct MessageKeyJson {
    iteration: u32,
    seed: Bytes,
}

impl SenderKeyRecord {
    /// Imports a sender-key record as Baileys 6.17.16 writes it: an array of states, oldest
    /// first, each `{senderKeyId, senderChainKey: {iteration, seed}, senderSigningKey: {public,
    /// private?}, senderMessageKeys: […]}`.
    ///
    /// Baileys' store loses the skipped message keys it serialises (they come out as `{}`);
    /// those entries are skipped. Of several states with one key id the first is kept (the one
    /// Baileys decrypts with); at most the newest [`MAX_SENDER_KEY_STATES`] states and
    /// [`MAX_SENDER_SKIPPED_KEYS`] skipped keys per state are kept.
    pub fn from_baileys_json(json: &[u8]) -> Result<Self, ImportError> {
        let states: Vec<State> = parse(json, FORMAT)?;
        let mut out: Vec<SenderKeyState> = Vec::with_capacity(states.len());
        for (i, state) in states.into_iter().enumerate() {
            let path = format!("[{i}]");
            let key_id = SenderKeyId::new(state.sender_key_id);
            if out.iter().any(|s| s.key_id == key_id) {
                continue;
            }
            let iteration = state.sender_chain_key.iteration;
            let seed = state
                .sender_chain_key
                .seed
                .array32(format!("{path}.senderChainKey.seed"))?;
            let signing_key = state
                .sender_signing_key
                .public
                .public_key(format!("{path}.senderSigningKey.public"))?;
            let signing_private = state
                .sender_signing_key
                .private
                .as_ref()
                .map(|k| k.array32(format!("{path}.senderSigningKey.private")))
                .transpose()?;
            let mut skipped = Vec::new();
            for (j, key) in state
                .sender_message_keys
                .map(|keys| keys.0)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let Some(key) = key else { continue };
                if key.iteration < iteration {
                    let seed = key
                        .seed
                        .array32(format!("{path}.senderMessageKeys[{j}].seed"))?;
                    skipped.push((key.iteration, seed));
                }
            }
            skipped.sort_by_key(|(at, _)| *at);
            skipped.dedup_by_key(|(at, _)| *at);
            if skipped.len() > MAX_SENDER_SKIPPED_KEYS {
                skipped.drain(..skipped.len() - MAX_SENDER_SKIPPED_KEYS);
            }
            out.push(SenderKeyState {
                key_id,
                chain: SenderChainKey { iteration, seed },
                signing_key,
                signing_private,
                skipped,
            });
        }
        if out.len() > MAX_SENDER_KEY_STATES {
            out.drain(..out.len() - MAX_SENDER_KEY_STATES);
        }
        Ok(Self { states: out })
    }
}
