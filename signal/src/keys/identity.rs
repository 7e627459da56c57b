//! Identity keys: [`IdentityKey`] (a peer's long-term public key) and [`IdentityKeyPair`] (ours).

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::keys::{KeyError, KeyPair, PublicKey};
use crate::xeddsa;

/// A long-term identity public key (`IK` in X3DH): what a user's safety number is made of and
/// what every Signal MAC binds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey(PublicKey);

impl IdentityKey {
    /// The identity key with this public key.
    pub const fn new(key: PublicKey) -> Self {
        Self(key)
    }

    /// Parses the 33-byte serialised form (`0x05 ‖ u`).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, KeyError> {
        PublicKey::deserialize(bytes).map(Self)
    }

    /// The 33-byte serialised form.
    pub fn serialize(&self) -> [u8; PublicKey::SERIALIZED_LEN] {
        self.0.serialize()
    }

    /// The public key.
    pub const fn public_key(&self) -> &PublicKey {
        &self.0
    }

    /// Verifies a signature made with this identity (e.g. over a signed pre-key).
    #[must_use]
    pub fn verify_signature(
        &self,
        message: &[u8],
        signature: &[u8; xeddsa::SIGNATURE_LEN],
    ) -> bool {
        self.0.verify_signature(message, signature)
    }
}

impl From<PublicKey> for IdentityKey {
    fn from(key: PublicKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(05{})", hex::encode(self.0.as_montgomery()))
    }
}

/// Our own identity: the key pair behind [`IdentityKey`]. The private half is wiped on drop and
/// never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityKeyPair {
    pair: KeyPair,
    public: IdentityKey,
}

impl IdentityKeyPair {
    /// Draws a fresh identity from `rng` (32 bytes).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from(KeyPair::generate(rng))
    }

    /// The identity with this private key (clamped first).
    pub fn from_private_bytes(private: [u8; 32]) -> Self {
        Self::from(KeyPair::from_private_bytes(private))
    }

    /// The public identity key.
    pub const fn identity_key(&self) -> &IdentityKey {
        &self.public
    }

    /// The underlying X25519 key pair.
    pub const fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// A copy of the clamped private key, for persisting; wiped when dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.pair.private_bytes()
    }

    /// Signs `message` as libsignal does, with 64 bytes of randomness drawn from `rng`.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> [u8; xeddsa::SIGNATURE_LEN] {
        let mut random = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(random.as_mut_slice());
        self.pair.sign(message, &random)
    }
}

impl From<KeyPair> for IdentityKeyPair {
    fn from(pair: KeyPair) -> Self {
        let public = IdentityKey(PublicKey::from(&pair));
        Self { pair, public }
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}
