//! [`PublicKey`]: a Curve25519 public key in Signal's serialisation, `0x05 ‖ u` (33 bytes).

use core::fmt;

use crate::keys::KeyPair;
use crate::xeddsa;

/// The type byte Signal puts in front of a Curve25519 public key ("DJB" type).
pub const KEY_TYPE_DJB: u8 = 0x05;

/// A Curve25519 (X25519) public key as Signal carries it: serialised as `0x05 ‖ u` (33 bytes,
/// `pub33` in `protocol/messaging.md`), held as the 32-byte Montgomery `u`.
///
/// Every key that travels in a Signal message or bundle has this form: identity keys, signed
/// and one-time pre-keys, base keys, ratchet keys and sender-key signing keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

/// Why bytes are not a serialised [`PublicKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is not 33 bytes long.
    #[error("a public key is 33 bytes (0x05 and 32 key bytes), got {len}")]
    WrongLength {
        /// The length received.
        len: usize,
    },
    /// The first byte is not the Curve25519 type byte `0x05`.
    #[error("a public key starts with the type byte 0x05, got {type_byte:#04x}")]
    WrongType {
        /// The first byte received.
        type_byte: u8,
    },
}

impl PublicKey {
    /// Length of the serialised form.
    pub const SERIALIZED_LEN: usize = 33;

    /// The key with Montgomery coordinate `u` (32 bytes, no type byte).
    pub const fn from_montgomery(u: [u8; 32]) -> Self {
        Self(u)
    }

    /// Parses the 33-byte serialised form `0x05 ‖ u`; anything else is a typed error.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, KeyError> {
        let (&type_byte, u) = bytes
            .split_first()
            .ok_or(KeyError::WrongLength { len: 0 })?;
        let u: [u8; 32] = u
            .try_into()
            .map_err(|_| KeyError::WrongLength { len: bytes.len() })?;
        if type_byte != KEY_TYPE_DJB {
            return Err(KeyError::WrongType { type_byte });
        }
        Ok(Self(u))
    }

    /// The 33-byte serialised form `0x05 ‖ u`.
    pub fn serialize(&self) -> [u8; Self::SERIALIZED_LEN] {
        let mut out = [0u8; Self::SERIALIZED_LEN];
        out[0] = KEY_TYPE_DJB;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The Montgomery coordinate `u` (32 bytes, no type byte).
    pub const fn as_montgomery(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies a libsignal-style signature by this key over `message` ([`xeddsa::verify`]).
    #[must_use]
    pub fn verify_signature(
        &self,
        message: &[u8],
        signature: &[u8; xeddsa::SIGNATURE_LEN],
    ) -> bool {
        xeddsa::verify(&self.0, message, signature)
    }
}

impl From<&KeyPair> for PublicKey {
    fn from(pair: &KeyPair) -> Self {
        Self(pair.public_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(05{})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_33_byte_form() {
        let key = PublicKey::from_montgomery([7; 32]);
        let bytes = key.serialize();
        assert_eq!(bytes[0], 0x05);
        assert_eq!(PublicKey::deserialize(&bytes), Ok(key));
    }

    #[test]
    fn refuses_other_lengths_and_types() {
        assert_eq!(
            PublicKey::deserialize(&[5; 32]),
            Err(KeyError::WrongLength { len: 32 })
        );
        assert_eq!(
            PublicKey::deserialize(&[]),
            Err(KeyError::WrongLength { len: 0 })
        );
        assert_eq!(
            PublicKey::deserialize(&[5; 34]),
            Err(KeyError::WrongLength { len: 34 })
        );
        let mut wrong = [1u8; 33];
        wrong[0] = 0x06;
        assert_eq!(
            PublicKey::deserialize(&wrong),
            Err(KeyError::WrongType { type_byte: 6 })
        );
    }

    #[test]
    fn debug_shows_the_serialised_hex() {
        let key = PublicKey::from_montgomery([0xab; 32]);
        assert_eq!(
            format!("{key:?}"),
            format!("PublicKey(05{})", "ab".repeat(32))
        );
    }
}
