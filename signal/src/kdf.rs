//! HMAC-SHA256 and HKDF as Signal uses them (`messaging.md` §4.1): a chain step is an HMAC with
//! a one-byte message, every derivation an RFC 5869 HKDF whose "no salt" is 32 zero bytes.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 instance keyed with `key`, for several messages under one key (clone it).
pub(crate) fn keyed(key: &[u8]) -> HmacSha256 {
    // Invariant: HMAC accepts keys of every length.
    #[allow(clippy::expect_used)]
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// The 32-byte tag of `mac`.
pub(crate) fn finish(mac: HmacSha256) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// `HKDF-SHA256(ikm, salt, info)` with `N` output bytes; `salt = None` is 32 zero bytes.
pub(crate) fn hkdf<const N: usize>(
    ikm: &[u8],
    salt: Option<&[u8; 32]>,
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let mut okm = Zeroizing::new([0u8; N]);
    let hk = Hkdf::<Sha256>::new(salt.map(|s| &s[..]), ikm);
    // Invariant: every N used here is far below HKDF's limit of 255 × 32 bytes.
    #[allow(clippy::expect_used)]
    hk.expand(info, okm.as_mut_slice())
        .expect("HKDF output lengths used here are at most 80 bytes");
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc_5869_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 42];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn no_salt_means_32_zero_bytes() {
        assert_eq!(
            *hkdf::<64>(b"ikm", None, b"info"),
            *hkdf::<64>(b"ikm", Some(&[0; 32]), b"info")
        );
    }
}
