//! Message keys: the per-message seed a chain step yields (what records keep for skipped
//! messages, as libsignal-node does) and the keys derived from it (`messaging.md` §4.4).

use core::fmt;

use zeroize::Zeroize;

use crate::kdf;

/// HMAC(CK, `0x01`) for one counter: kept for messages that arrive out of order.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MessageKeySeed([u8; 32]);

impl MessageKeySeed {
    pub(crate) const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `cipherKey(32) ‖ macKey(32) ‖ iv(16) = HKDF(seed, no salt, "WhisperMessageKeys", 80)`.
    pub(crate) fn derive(&self) -> MessageKeys {
        let okm = kdf::hkdf::<80>(&self.0, None, b"WhisperMessageKeys");
        let mut keys = MessageKeys {
            cipher: [0; 32],
            mac: [0; 32],
            iv: [0; 16],
        };
        keys.cipher.copy_from_slice(&okm[..32]);
        keys.mac.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        keys
    }
}

impl Drop for MessageKeySeed {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MessageKeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKeySeed(<redacted>)")
    }
}

/// The keys of one message: AES-256-CBC key and IV, HMAC key.
pub(crate) struct MessageKeys {
    pub(crate) cipher: [u8; 32],
    pub(crate) mac: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        self.cipher.zeroize();
        self.mac.zeroize();
        self.iv.zeroize();
    }
}
