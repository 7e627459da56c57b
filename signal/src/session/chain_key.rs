//! Chain keys `CK` and the symmetric ratchet (`messaging.md` §4.4): message-key seed =
//! HMAC(CK, `0x01`), next chain key = HMAC(CK, `0x02`).

use core::fmt;

use zeroize::Zeroize;

use super::message_key::MessageKeySeed;
use crate::kdf;

/// A chain key `CK` at `index`: the key of the message with counter `index` comes from it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ChainKey {
    key: [u8; 32],
    index: u32,
}

impl ChainKey {
    pub(crate) const fn new(key: [u8; 32], index: u32) -> Self {
        Self { key, index }
    }

    pub(crate) const fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The counter of the next message this chain encrypts or decrypts.
    pub(crate) const fn index(&self) -> u32 {
        self.index
    }

    /// The message-key seed for `index` and the chain key for `index + 1` (`None` past
    /// `u32::MAX`, where a chain ends).
    pub(crate) fn step(&self) -> Option<(MessageKeySeed, Self)> {
        let index = self.index.checked_add(1)?;
        let key = kdf::HmacKey::new(&self.key);
        Some((
            MessageKeySeed::new(key.mac(&[&[0x01]])),
            Self::new(key.mac(&[&[0x02]]), index),
        ))
    }
}

impl Drop for ChainKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("index", &self.index)
            .field("key", &"<redacted>")
            .finish()
    }
}
