//! One-time pre-keys ([`PreKey`]) and signed pre-keys ([`SignedPreKey`]).

use core::fmt;

use rand_core::CryptoRng;

use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PreKeyId, PublicKey, SignedPreKeyId};
use crate::xeddsa::SIGNATURE_LEN;

/// A one-time pre-key: an id and an X25519 pair; its public half goes into bundles, its private
/// half answers the one `PreKeySignalMessage` that names it, then it is deleted.
#[derive(Clone, PartialEq, Eq)]
pub struct PreKey {
    id: PreKeyId,
    pair: KeyPair,
}

impl PreKey {
    /// The pre-key `id` with this pair.
    pub const fn new(id: PreKeyId, pair: KeyPair) -> Self {
        Self { id, pair }
    }

    /// A fresh pre-key `id` drawn from `rng` (32 bytes).
    pub fn generate<R: CryptoRng + ?Sized>(id: PreKeyId, rng: &mut R) -> Self {
        Self::new(id, KeyPair::generate(rng))
    }

    /// The id.
    pub const fn id(&self) -> PreKeyId {
        self.id
    }

    /// The key pair.
    pub const fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The public key, as bundles carry it.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from(&self.pair)
    }
}

impl fmt::Debug for PreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKey")
            .field("id", &self.id.value())
            .field("public", &self.public_key())
            .field("private", &"<redacted>")
            .finish()
    }
}

/// A signed pre-key: an id, an X25519 pair and the identity's signature over the serialised
/// public key (`0x05 ‖ u`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    id: SignedPreKeyId,
    pair: KeyPair,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedPreKey {
    /// The signed pre-key `id` with this pair and signature (not checked here; see
    /// [`SignedPreKey::verify`]).
    pub const fn new(id: SignedPreKeyId, pair: KeyPair, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self {
            id,
            pair,
            signature,
        }
    }

    /// A fresh signed pre-key `id`, signed by `identity`: draws 32 bytes for the key and 64
    /// for the signature from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: SignedPreKeyId,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let pair = KeyPair::generate(rng);
        let signature = identity.sign(&PublicKey::from(&pair).serialize(), rng);
        Self::new(id, pair, signature)
    }

    /// The id.
    pub const fn id(&self) -> SignedPreKeyId {
        self.id
    }

    /// The key pair.
    pub const fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The public key, as bundles carry it.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from(&self.pair)
    }

    /// The identity's signature over the serialised public key.
    pub const fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Whether the signature is `identity`'s over this key's serialised public key.
    #[must_use]
    pub fn verify(&self, identity: &IdentityKey) -> bool {
        identity.verify_signature(&self.public_key().serialize(), &self.signature)
    }
}

impl fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("id", &self.id.value())
            .field("public", &self.public_key())
            .field("signature", &hex::encode(self.signature))
            .field("private", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn a_generated_signed_pre_key_verifies_under_its_identity_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let identity = IdentityKeyPair::generate(&mut rng);
        let other = IdentityKeyPair::generate(&mut rng);
        let spk = SignedPreKey::generate(SignedPreKeyId::new(1), &identity, &mut rng);
        assert!(spk.verify(identity.identity_key()));
        assert!(!spk.verify(other.identity_key()));
        let mut forged = *spk.signature();
        forged[3] ^= 1;
        let forged = SignedPreKey::new(spk.id(), spk.key_pair().clone(), forged);
        assert!(!forged.verify(identity.identity_key()));
    }

    #[test]
    fn debug_never_shows_private_keys() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let identity = IdentityKeyPair::generate(&mut rng);
        let pre_key = PreKey::generate(PreKeyId::new(5), &mut rng);
        let spk = SignedPreKey::generate(SignedPreKeyId::new(1), &identity, &mut rng);
        for (text, private) in [
            (format!("{identity:?}"), identity.private_bytes()),
            (format!("{pre_key:?}"), pre_key.key_pair().private_bytes()),
            (format!("{spk:?}"), spk.key_pair().private_bytes()),
        ] {
            assert!(text.contains("<redacted>"), "{text}");
            assert!(!text.contains(&hex::encode(*private)), "{text}");
        }
    }
}
