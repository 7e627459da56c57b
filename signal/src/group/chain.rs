//! The sender chain of a sender key (`messaging.md` §7): message-key seed = HMAC(CK, `0x01`),
//! next chain key = HMAC(CK, `0x02`); `iv ‖ cipherKey = HKDF(seed, no salt, "WhisperGroup", 48)`.

use core::fmt;

use zeroize::Zeroize;

use crate::kdf;

/// The chain key at `iteration`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SenderChainKey {
    pub(crate) iteration: u32,
    pub(crate) seed: [u8; 32],
}

impl SenderChainKey {
    /// The message-key seed for this iteration and the chain key of the next (`None` past
    /// `u32::MAX`).
    pub(crate) fn step(&self) -> Option<([u8; 32], Self)> {
        let iteration = self.iteration.checked_add(1)?;
        let key = kdf::HmacKey::new(&self.seed);
        Some((
            key.mac(&[&[0x01]]),
            Self {
                iteration,
                seed: key.mac(&[&[0x02]]),
            },
        ))
    }
}

impl Drop for SenderChainKey {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl fmt::Debug for SenderChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderChainKey")
            .field("iteration", &self.iteration)
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// The keys of one group message, from its seed.
pub(crate) struct SenderMessageKeys {
    pub(crate) cipher: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl SenderMessageKeys {
    pub(crate) fn derive(seed: &[u8; 32]) -> Self {
        let okm = kdf::hkdf::<48>(seed, None, b"WhisperGroup");
        let mut keys = Self {
            cipher: [0; 32],
            iv: [0; 16],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher.copy_from_slice(&okm[16..48]);
        keys
    }
}

impl Drop for SenderMessageKeys {
    fn drop(&mut self) {
        self.cipher.zeroize();
        self.iv.zeroize();
    }
}
