//! Curve25519 signatures as libsignal (and curve25519-donna's `curve25519_sign`) make them.
//!
//! WhatsApp signs with X25519 (Montgomery) key pairs: the server certificate chain, ADV pairing
//! signatures and the signed pre-key all use this scheme (`protocol/xeddsa.md`). It is an
//! Ed25519 signature made with the Edwards form of the X25519 private key, with one twist: the
//! Montgomery public key does not carry the sign of the Edwards point, so the signer stores that
//! sign in the top bit of the last signature byte (which is always clear in a canonical `s`).
//!
//! ```text
//! sign(k, M, Z):   k := clamp(k)          A := k·B (Edwards)
//!                  r := SHA-512(0xFE ‖ 0xFF×31 ‖ k ‖ M ‖ Z) mod ℓ        R := r·B
//!                  h := SHA-512(R ‖ A ‖ M) mod ℓ                          s := r + h·k mod ℓ
//!                  signature := R ‖ s,  then byte 63 |= sign bit of A (bit 255 of A's encoding)
//!
//! verify(u, M, R ‖ s'):  bit := s'[63] >> 7;  A := Edwards point of u with sign `bit`
//!                        s := s' with bit 255 cleared, must be canonical (< ℓ)
//!                        accept iff compress(s·B − SHA-512(R ‖ A ‖ M)·A) == R  (constant time)
//! ```
//!
//! This is deliberately not the XEdDSA of the Signal specification as the `xeddsa` crate
//! implements it: that crate ignores the stored sign bit and rejects roughly half of the
//! signatures genuine libsignal clients produce.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Length of a signature in bytes (`R ‖ s`).
pub const SIGNATURE_LEN: usize = 64;

/// Domain separation prefix of the randomized nonce hash: `0xFE` followed by 31 × `0xFF`.
const NONCE_PREFIX: [u8; 32] = {
    let mut prefix = [0xFF; 32];
    prefix[0] = 0xFE;
    prefix
};

/// Signs `message` with the X25519 private key `private` (clamped here) and 64 bytes of fresh
/// randomness `random`, as libsignal does.
///
/// The result is deterministic for a given `random`; callers draw `random` from their seeded
/// RNG. Any libsignal-compatible verifier (including [`verify`]) accepts it.
#[must_use]
pub fn sign(private: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; SIGNATURE_LEN] {
    let k = Zeroizing::new(clamp_integer(*private));
    let nonce = Scalar::from_hash(
        Sha512::new()
            .chain_update(NONCE_PREFIX)
            .chain_update(k.as_slice())
            .chain_update(message)
            .chain_update(random),
    );
    sign_with_nonce(&k, message, nonce)
}

/// Signs `message` without randomness, exactly as curve25519-js (the signer behind Baileys'
/// libsignal) does when no random bytes are given: the nonce is `SHA-512(k ‖ M) mod ℓ`.
///
/// The same key and message always give the same signature. Useful where reproducible output
/// matters more than hiding repeated messages, for example a test server issuing certificate
/// chains; the test chain of `protocol/test-vectors.md` §3.1 was signed this way.
#[must_use]
pub fn sign_deterministic(private: &[u8; 32], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    let k = Zeroizing::new(clamp_integer(*private));
    let nonce = Scalar::from_hash(
        Sha512::new()
            .chain_update(k.as_slice())
            .chain_update(message),
    );
    sign_with_nonce(&k, message, nonce)
}

/// Verifies a libsignal-style signature over `message` with the 32-byte Montgomery public key
/// `public_montgomery` (raw, without the `0x05` type prefix).
///
/// Returns `false` for every malformed input: a public key on the twist, a non-canonical `s`,
/// or a signature that does not match. Bit 255 of the public key is ignored (the Edwards sign
/// comes from the signature), as in libsignal.
#[must_use]
pub fn verify(public_montgomery: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let sign_bit = signature[63] >> 7;
    let Some(a_point) = MontgomeryPoint(*public_montgomery).to_edwards(sign_bit) else {
        return false;
    };

    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };

    let a_compressed = a_point.compress();
    let h = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(a_compressed.as_bytes())
            .chain_update(message),
    );
    let expected_r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-a_point, &s);
    expected_r
        .compress()
        .ct_eq(&CompressedEdwardsY(r_bytes))
        .into()
}

/// The part both signing modes share once the nonce `r` is chosen.
fn sign_with_nonce(k: &[u8; 32], message: &[u8], mut r: Scalar) -> [u8; SIGNATURE_LEN] {
    let mut a = Scalar::from_bytes_mod_order(*k);
    let a_compressed = EdwardsPoint::mul_base(&a).compress();
    let r_compressed = EdwardsPoint::mul_base(&r).compress();
    let h = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_compressed.as_bytes())
            .chain_update(a_compressed.as_bytes())
            .chain_update(message),
    );
    let s = r + h * a;
    r.zeroize();
    a.zeroize();

    let mut signature = [0u8; SIGNATURE_LEN];
    signature[..32].copy_from_slice(r_compressed.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature[63] |= a_compressed.as_bytes()[31] & 0x80;
    signature
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_prefix_is_fe_then_ff() {
        assert_eq!(NONCE_PREFIX[0], 0xFE);
        assert!(NONCE_PREFIX[1..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn rejects_public_key_on_the_twist() {
        // u = p − 1 (that is, −1) is the one u the birational map cannot take; it lies on the
        // twist, so no signature can verify under it.
        let mut minus_one = [0xFF; 32];
        minus_one[0] = 0xEC;
        minus_one[31] = 0x7F;
        let signature = sign(&[7; 32], b"m", &[0; 64]);
        assert!(!verify(&minus_one, b"m", &signature));
    }

    #[test]
    fn rejects_non_canonical_s() {
        let private = [9; 32];
        let public = MontgomeryPoint::mul_base_clamped(private).to_bytes();
        let mut signature = sign(&private, b"message", &[1; 64]);
        assert!(verify(&public, b"message", &signature));
        // s + ℓ encodes the same residue but is not canonical; libsignal refuses it.
        let sign_bit = signature[63] & 0x80;
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature[32..]);
        s_bytes[31] &= 0x7F;
        let ell: [u8; 32] = [
            0xED, 0xD3, 0xF5, 0x5C, 0x1A, 0x63, 0x12, 0x58, 0xD6, 0x9C, 0xF7, 0xA2, 0xDE, 0xF9,
            0xDE, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s, l) in s_bytes.iter_mut().zip(ell) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = (sum & 0xFF) as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(s_bytes[31] & 0x80, 0, "s + ℓ still fits below bit 255");
        signature[32..].copy_from_slice(&s_bytes);
        signature[63] |= sign_bit;
        assert!(!verify(&public, b"message", &signature));
    }
}
