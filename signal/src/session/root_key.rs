//! The root key `RK`: each DH ratchet step mixes a fresh Diffie-Hellman output into it and
//! splits off a new chain key (`messaging.md` §4.5).

use core::fmt;

use zeroize::Zeroize;

use super::chain_key::ChainKey;
use crate::kdf;
use crate::keys::{KeyPair, PreparedPublic};

/// `RK_i`: 32 secret bytes, wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// One ratchet half-step: `RK' ‖ CK = HKDF(DH(ours, theirs), salt = RK, "WhisperRatchet", 64)`.
    /// The new chain starts at index 0.
    pub(crate) fn create_chain(&self, ours: &KeyPair, theirs: &PreparedPublic) -> (Self, ChainKey) {
        let shared = ours.agree_prepared(theirs);
        let okm = kdf::hkdf::<64>(shared.as_slice(), Some(&self.0), b"WhisperRatchet");
        let (root, chain) = split(&okm);
        (Self(root), ChainKey::new(chain, 0))
    }
}

/// Splits 64 bytes of key material into its two 32-byte halves.
pub(crate) fn split(okm: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

impl Drop for RootKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}
