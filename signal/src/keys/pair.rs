//! X25519 key pairs: the noise static key, the identity key, pre-keys, ratchet keys and Noise
//! ephemerals are all of this one kind (`protocol/session.md` §4).
//!
//! A [`KeyPair`] keeps its private scalar clamped (`k[0] &= 248; k[31] &= 127; k[31] |= 64`),
//! the form WhatsApp clients store and exchange. Clamping changes neither Diffie-Hellman results
//! nor signatures (both clamp again), so keys imported unclamped behave identically. The private
//! bytes are wiped when the pair is dropped and never appear in `Debug` output.

use core::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::xeddsa;

/// An X25519 key pair whose private half is wiped on drop.
#[derive(Clone)]
pub struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// Draws a fresh key pair from `rng` (in the core, a `ChaCha20Rng` derived from the seed).
    ///
    /// Consumes exactly 32 bytes from `rng`, so a seeded RNG always yields the same pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut_slice());
        Self::from_private_bytes(*bytes)
    }

    /// Builds the pair for the 32-byte private key `private`, clamping it first.
    pub fn from_private_bytes(mut private: [u8; 32]) -> Self {
        let secret = StaticSecret::from(clamp_integer(private));
        private.zeroize();
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    /// Rebuilds a pair from a private key and the public key stored beside it, without the
    /// scalar multiplication [`KeyPair::from_private_bytes`] performs.
    ///
    /// Only for records this crate wrote itself (loading a session must stay cheap); a pair
    /// whose halves do not match produces messages the peer rejects, never a panic.
    pub(crate) fn from_stored(mut private: [u8; 32], public: [u8; 32]) -> Self {
        let secret = StaticSecret::from(private);
        private.zeroize();
        Self {
            secret,
            public: PublicKey::from(public),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The raw 32-byte public key (Montgomery u, no `0x05` type prefix).
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// A copy of the clamped private key, for persisting credentials; wiped when dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519 Diffie-Hellman with `their_public` (raw 32 bytes).
    pub fn diffie_hellman(&self, their_public: &[u8; 32]) -> SharedSecret {
        self.secret.diffie_hellman(&PublicKey::from(*their_public))
    }

    /// X25519 with `their_public` (raw 32 bytes): the same 32 bytes as
    /// [`KeyPair::diffie_hellman`], computed about a quarter faster through the Edwards form of
    /// the peer's point (a constant-time variable-base multiplication with the vector backend)
    /// where the point allows it, and by the Montgomery ladder otherwise (points on the twist,
    /// `u = −1`).
    pub fn agree(&self, their_public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        self.agree_prepared(&PreparedPublic::new(their_public))
    }

    /// [`KeyPair::agree`] with a peer key converted once for several agreements.
    pub(crate) fn agree_prepared(&self, their_public: &PreparedPublic) -> Zeroizing<[u8; 32]> {
        let scalar = Zeroizing::new(self.secret.to_bytes());
        let shared = match &their_public.0 {
            Ok(point) => point.mul_clamped(*scalar).to_montgomery(),
            Err(u) => u.mul_clamped(*scalar),
        };
        Zeroizing::new(shared.to_bytes())
    }

    /// Signs `message` with this pair's private key ([`xeddsa::sign`]).
    #[must_use]
    pub fn sign(&self, message: &[u8], random: &[u8; 64]) -> [u8; xeddsa::SIGNATURE_LEN] {
        xeddsa::sign(self.secret.as_bytes(), message, random)
    }

    /// Verifies `signature` over `message` against this pair's public key ([`xeddsa::verify`]).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        xeddsa::verify(self.public.as_bytes(), message, signature)
    }
}

/// Every secret field (`StaticSecret`) wipes itself on drop.
impl ZeroizeOnDrop for KeyPair {}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &hex::encode(self.public.as_bytes()))
            .field("private", &"<redacted>")
            .finish()
    }
}

impl PartialEq for KeyPair {
    /// Two pairs are equal when their public keys are: the public key is a function of the
    /// (clamped) private key, so this never compares secrets.
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for KeyPair {}

/// A peer's X25519 public key made ready for [`KeyPair::agree_prepared`]: its Edwards form
/// when the birational map applies, else the Montgomery `u` itself.
#[derive(Clone, Copy)]
pub(crate) struct PreparedPublic(Result<EdwardsPoint, MontgomeryPoint>);

impl PreparedPublic {
    pub(crate) fn new(u: &[u8; 32]) -> Self {
        let point = MontgomeryPoint(*u);
        // Either sign works: [k]P and [k](−P) share their u-coordinate.
        Self(point.to_edwards(0).ok_or(point))
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;

    /// `agree` equals the RFC 7748 ladder for random points (half of them on the twist, where
    /// the ladder is used), small-order points, `u = 0, 1, −1, p − 1, p`, non-canonical
    /// encodings and a set top bit.
    #[test]
    fn agree_equals_the_ladder_everywhere() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut points: Vec<[u8; 32]> = (0..400)
            .map(|_| {
                let mut u = [0u8; 32];
                rng.fill_bytes(&mut u);
                u
            })
            .collect();
        points.extend(EIGHT_TORSION.iter().map(|p| p.to_montgomery().to_bytes()));
        let p_minus = |k: u8| {
            let mut u = [0xffu8; 32];
            u[0] = 0xed - k;
            u[31] = 0x7f;
            u
        };
        let mut special = vec![[0u8; 32], [1u8; 32], p_minus(1), p_minus(0), [0xff; 32]];
        special[1] = {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        };
        points.extend(special);
        for (i, u) in points.iter().enumerate() {
            let mut private = [0u8; 32];
            rng.fill_bytes(&mut private);
            let pair = KeyPair::from_private_bytes(private);
            assert_eq!(
                *pair.agree(u),
                *pair.diffie_hellman(u).as_bytes(),
                "point {i}: {}",
                hex::encode(u)
            );
        }
    }
}
