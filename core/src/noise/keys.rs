//! A minimal X25519 key pair for the handshake.
//!
//! The private half is an `x25519_dalek::StaticSecret`, which is wiped on drop; `Debug` prints
//! only the public half. Keys come from raw bytes (stored credentials, test vectors) or from a
//! caller-supplied seeded RNG — never from the operating system.

use std::fmt;

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// An X25519 key pair: the client's long-term noise key, a server static key, or a
/// per-connection ephemeral key.
#[derive(Clone)]
pub struct KeyPair {
    secret: StaticSecret,
    public: [u8; 32],
}

impl KeyPair {
    /// Builds a key pair from a 32-byte private key (clamping happens inside X25519).
    #[must_use]
    pub fn from_private_bytes(private: [u8; 32]) -> Self {
        let secret = StaticSecret::from(private);
        let public = PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// Draws a fresh key pair from `rng` (the caller's seeded generator).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let secret = StaticSecret::random_from_rng(rng);
        let public = PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// The public key: the raw 32-byte u-coordinate sent on the wire.
    #[must_use]
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// X25519 with a peer public key; `None` when the result is all zero (the peer key is a
    /// low-order point and contributes nothing).
    pub(crate) fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        shared
            .was_contributory()
            .then(|| Zeroizing::new(shared.to_bytes()))
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &hex::encode(self.public))
            .field("private", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_transcript_public_key() {
        let private =
            hex::decode("31939c5adddec942290b637530898a70f2d32453e5241f30a0550780e7586b07")
                .unwrap();
        let pair = KeyPair::from_private_bytes(private.try_into().unwrap());
        assert_eq!(
            hex::encode(pair.public_key()),
            "f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e"
        );
    }

    #[test]
    fn generated_keys_follow_the_seed() {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let a = KeyPair::generate(&mut ChaCha20Rng::from_seed([5; 32]));
        let b = KeyPair::generate(&mut ChaCha20Rng::from_seed([5; 32]));
        let c = KeyPair::generate(&mut ChaCha20Rng::from_seed([6; 32]));
        assert_eq!(a.public_key(), b.public_key());
        assert_ne!(a.public_key(), c.public_key());
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let pair = KeyPair::from_private_bytes([0x42; 32]);
        let debug = format!("{pair:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains(&hex::encode([0x42u8; 32])));
        assert!(debug.contains(&hex::encode(pair.public_key())));
    }

    #[test]
    fn both_sides_agree_and_low_order_points_are_refused() {
        let a = KeyPair::from_private_bytes([1; 32]);
        let b = KeyPair::from_private_bytes([2; 32]);
        let ab = a.diffie_hellman(b.public_key()).unwrap();
        let ba = b.diffie_hellman(a.public_key()).unwrap();
        assert_eq!(*ab, *ba);
        assert!(a.diffie_hellman(&[0; 32]).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(a.diffie_hellman(&one).is_none());
    }
}
