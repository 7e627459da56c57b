//! The binary form of a [`SenderKeyRecord`] (kind `K`, format version 1).
//!
//! ```text
//! record = 'K' 0x01 ‖ states:u8 (≤ 5) ‖ state×states (oldest first)
//! state  = key_id:u32 ‖ iteration:u32 ‖ chain_key:32 ‖ signing_public:32 ‖ own:u8 ‖
//!          [signing_private:32] ‖ skipped:u16 (≤ 2000) ‖ (iteration:u32 ‖ seed:32)×skipped
//!          (iterations ascending, below the chain's)
//! ```

use super::record::{SenderKeyRecord, SenderKeyState};
use super::{MAX_SENDER_KEY_STATES, MAX_SENDER_SKIPPED_KEYS, SenderChainKey};
use crate::codec::{Reader, RecordError, Writer};
use crate::keys::{PublicKey, SenderKeyId};

const KIND: u8 = b'K';
const VERSION: u8 = 1;

impl SenderKeyRecord {
    /// The record's binary form (versioned), for the store to keep as opaque bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(KIND, VERSION, 3 + self.states.len() * 110);
        // Invariant: `process_distribution` keeps at most MAX_SENDER_KEY_STATES (5).
        w.u8(u8::try_from(self.states.len()).unwrap_or(u8::MAX));
        for s in &self.states {
            w.u32(s.key_id.value());
            w.u32(s.chain.iteration);
            w.key(&s.chain.seed);
            w.key(s.signing_key.as_montgomery());
            match &s.signing_private {
                Some(private) => {
                    w.u8(1);
                    w.key(private);
                }
                None => w.u8(0),
            }
            // Invariant: `decrypt` keeps at most MAX_SENDER_SKIPPED_KEYS (2000).
            w.u16(u16::try_from(s.skipped.len()).unwrap_or(u16::MAX));
            for (iteration, seed) in &s.skipped {
                w.u32(*iteration);
                w.key(seed);
            }
        }
        w.out
    }

    /// Reads a record written by [`SenderKeyRecord::to_bytes`], checking every count and
    /// value; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let (mut r, _version) = Reader::open(bytes, KIND, "sender key", VERSION)?;
        let count = usize::from(r.u8()?);
        if count > MAX_SENDER_KEY_STATES {
            return Err(r.invalid("more sender-key states than a record keeps"));
        }
        let mut states = Vec::with_capacity(count);
        for _ in 0..count {
            let key_id = SenderKeyId::new(r.u32()?);
            let iteration = r.u32()?;
            let seed = r.key()?;
            let signing_key = PublicKey::from_montgomery(r.key()?);
            let signing_private = if r.flag("own-key flag")? {
                Some(r.key()?)
            } else {
                None
            };
            let skipped_count = usize::from(r.u16()?);
            if skipped_count > MAX_SENDER_SKIPPED_KEYS {
                return Err(r.invalid("more skipped keys than a sender-key state keeps"));
            }
            let mut skipped = Vec::with_capacity(skipped_count);
            let mut previous: Option<u32> = None;
            for _ in 0..skipped_count {
                let at = r.u32()?;
                if at >= iteration || previous.is_some_and(|p| at <= p) {
                    return Err(r.invalid("skipped iterations out of order"));
                }
                previous = Some(at);
                skipped.push((at, r.key()?));
            }
            if states.iter().any(|s: &SenderKeyState| s.key_id == key_id) {
                return Err(r.invalid("two sender-key states with one key id"));
            }
            states.push(SenderKeyState {
                key_id,
                chain: SenderChainKey { iteration, seed },
                signing_key,
                signing_private,
                skipped,
            });
        }
        r.finish()?;
        Ok(Self { states })
    }
}
